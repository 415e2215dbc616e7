//! `/v1/apps`: creating and listing apps, with the admin key.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{delete, post};
use serde_json::{Value, json};

use super::{ApiError, ApiResult, AppState, JsonBody, State, hash_key, new_key};
use crate::store::{AppRecord, now_ms};

pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/v1/apps", post(create).get(list))
        .route("/v1/apps/{app_id}", delete(remove))
        .route("/v1/apps/{app_id}/erase", post(erase))
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

/// `DELETE /v1/apps/{app}` (admin key) → `204`: the app, its key, its webhooks (their deliveries
/// in flight abandoned), events, deliveries, stats and logs. The key stops working and nothing is
/// sent for the app once the first step is stored; the rest goes in chunks before the answer.
async fn remove(
    state: State,
    Path(app_id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    state.authorize_admin(&headers)?;
    let Some(leftovers) = state.store.delete_app(&app_id).await? else {
        return Err(ApiError::not_found("app"));
    };
    state
        .keys
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .retain(|_, owner| *owner != app_id);
    for (webhook_id, _) in &leftovers.webhooks {
        state.queue.remove(webhook_id).await;
    }
    let purged = crate::retention::purge_deleted(state.store.as_ref(), leftovers).await?;
    tracing::info!(app = %app_id, events = purged.events, deliveries = purged.deliveries, "app deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/apps/{app}/erase {"external_id"}` → `200 {"erased": {events, deliveries, logs}}`:
/// that user's stored events, their deliveries and the logs that show them are deleted (a
/// data-protection request). Attempts already under way may still be sent.
async fn erase(
    state: State,
    Path(app_id): Path<String>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    state.authorize_app(&headers, &app_id)?;
    let external_id = match body.get("external_id") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::String(_)) => {
            return Err(ApiError::bad_request(
                "invalid_erase",
                "external_id: must not be empty",
            ));
        }
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid_erase",
                "external_id: expected a string",
            ));
        }
        None => {
            return Err(ApiError::bad_request(
                "invalid_erase",
                "external_id: missing",
            ));
        }
    };
    if let Some(key) = body
        .as_object()
        .and_then(|o| o.keys().find(|k| *k != "external_id"))
    {
        return Err(ApiError::bad_request(
            "invalid_erase",
            format!("{key}: unknown field (only external_id)"),
        ));
    }
    let erased = crate::retention::erase(state.store.as_ref(), &app_id, &external_id).await?;
    tracing::info!(app = %app_id, events = erased.events, logs = erased.logs, "erased one user's events");
    Ok(Json(json!({ "erased": erased })))
}
