//! `/healthz`, `/metrics` (Prometheus) and `/openapi.json` (the API described).

use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::routes;

use super::State;

pub fn router() -> super::Routes {
    super::Routes::new()
        .routes(routes!(healthz))
        .routes(routes!(metrics))
        .routes(routes!(openapi))
}

#[derive(Serialize, ToSchema)]
struct Health {
    /// `ok`, or `store unavailable`
    status: &'static str,
}

/// Whether the server and its store answer
#[utoipa::path(get, path = "/healthz", tag = "system", responses(
    (status = 200, description = "The store answers", body = Health),
    (status = 503, description = "The store does not answer", body = Health),
))]
async fn healthz(state: State) -> impl IntoResponse {
    match state.store.get_meta("schema").await {
        Ok(_) => (StatusCode::OK, axum::Json(Health { status: "ok" })),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(Health {
                status: "store unavailable",
            }),
        ),
    }
}

/// Prometheus metrics
#[utoipa::path(get, path = "/metrics", tag = "system", responses(
    (status = 200, description = "The metrics, in Prometheus' text format", body = String,
        content_type = "text/plain"),
))]
async fn metrics() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::metrics::render(),
    )
}

/// This document
#[utoipa::path(get, path = "/openapi.json", tag = "system", responses(
    (status = 200, description = "The OpenAPI 3.1 document of the API", body = Object),
))]
async fn openapi() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        super::openapi_json(),
    )
}
