//! `/healthz`, `/metrics` (Prometheus) and `/openapi.json` (the API described).

use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use super::State;

/// The OpenAPI 3.1 document of the API.
pub const OPENAPI: &str = include_str!("../openapi.json");

pub fn router() -> super::Routes {
    super::Routes::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
}

/// `200 {"status": "ok"}` while the store answers; `503` otherwise.
async fn healthz(state: State) -> impl IntoResponse {
    match state.store.get_meta("schema").await {
        Ok(_) => (
            StatusCode::OK,
            axum::Json(serde_json::json!({"status": "ok"})),
        ),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({"status": "store unavailable"})),
        ),
    }
}

async fn metrics() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::metrics::render(),
    )
}

async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}
