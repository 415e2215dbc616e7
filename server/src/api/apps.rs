//! `/v1/apps`: creating and listing apps, with the admin key.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::{Value, json};

use super::{ApiError, ApiResult, AppState, JsonBody, State, hash_key, new_key};
use crate::store::{AppRecord, now_ms};

pub fn router() -> Router<Arc<AppState>> {
    Router::new().route("/v1/apps", post(create).get(list))
}

/// `POST /v1/apps {"name"}` → `201 {id, name, api_key, created_at}`; the key is shown only here.
async fn create(
    state: State,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> ApiResult<(StatusCode, Json<Value>)> {
    state.authorize_admin(&headers)?;
    let name = match body.get("name") {
        Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= 200 => s.trim().to_string(),
        Some(Value::String(_)) => {
            return Err(ApiError::bad_request(
                "invalid_app",
                "name: must be 1 to 200 characters",
            ));
        }
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid_app",
                "name: expected a string",
            ));
        }
        None => return Err(ApiError::bad_request("invalid_app", "name: missing")),
    };
    let app = AppRecord {
        id: format!("app_{}", uuid::Uuid::new_v4().simple()),
        name,
        created_at: now_ms(),
    };
    let key = new_key("hk_");
    let hash = hash_key(&key);
    state.store.create_app(app.clone(), hash.clone()).await?;
    state
        .keys
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .insert(hash, app.id.clone());
    tracing::info!(app = %app.id, "app created");
    Ok((
        StatusCode::CREATED,
        Json(json!({"id": app.id, "name": app.name, "api_key": key, "created_at": app.created_at})),
    ))
}

/// `GET /v1/apps` → `{"apps": [{id, name, created_at}]}`.
async fn list(state: State, headers: HeaderMap) -> ApiResult<Json<Value>> {
    state.authorize_admin(&headers)?;
    let apps = state.store.list_apps().await?;
    Ok(Json(json!({ "apps": apps })))
}
