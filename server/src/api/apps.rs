//! `/v1/apps`: apps (created and listed with the admin key; read, changed and given new keys
//! with their own key too), deleted and erased.

use super::Path;
use axum::Json;
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::routes;

use super::doc::{AppErrors, AppPath, BodyErrors};
use super::{ApiError, ApiResult, JsonBody, OptionalJsonBody, State, hash_key, new_key};
use crate::store::{AppKey, AppRecord, PurgeStep, now_ms};

pub fn router() -> super::Routes {
    super::Routes::new()
        .routes(routes!(create, list))
        .routes(routes!(read, update, remove))
        .routes(routes!(rotate_key))
        .routes(routes!(erase))
        .routes(routes!(key_info))
}

/// What a key opens.
#[derive(Serialize, ToSchema)]
struct KeyInfo {
    /// The admin key: every app
    admin: bool,
    /// An app's key: that app (null for the admin key)
    app_id: Option<String>,
}

/// What the request's key opens
///
/// The admin key, or an app's key and which app: a client (the dashboard) signs in with a key
/// alone.
#[utoipa::path(get, path = "/v1/key", tag = "apps", security(("appKey" = []), ("adminKey" = [])),
    responses((status = 200, description = "What the key opens", body = KeyInfo), AppErrors))]
async fn key_info(state: State, headers: HeaderMap) -> ApiResult<Json<KeyInfo>> {
    let app_id = state.key_owner(&headers)?;
    Ok(Json(KeyInfo {
        admin: app_id.is_none(),
        app_id,
    }))
}

/// `POST /v1/apps`'s body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct NewAppInput {
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    name: String,
    #[schema(max_items = 50)]
    bridge_origins: Option<Vec<Origin>>,
}

/// `PATCH /v1/apps/{app_id}`'s body: what it names changes.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct AppChanges {
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    name: Option<String>,
    #[schema(max_items = 50)]
    bridge_origins: Option<Vec<Origin>>,
}

/// An origin as browsers send it in `Origin`: `scheme://host[:port]`, http or https, nothing
/// after.
#[derive(Deserialize, ToSchema)]
#[schema(value_type = String, pattern = "^[Hh][Tt][Tt][Pp][Ss]?://[^/?#@]+/?$")]
#[allow(dead_code)]
struct Origin(String);

/// An app, with its key: shown only when it is created.
#[derive(Serialize, ToSchema)]
struct NewApp {
    #[serde(flatten)]
    app: AppRecord,
    /// Shown once; only its SHA-256 is stored
    api_key: String,
}

#[derive(Serialize, ToSchema)]
struct AppList {
    apps: Vec<AppRecord>,
}

/// `POST /v1/apps/{app_id}/keys`'s body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct KeyRotation {
    /// How long the replaced key keeps working: a duration (250ms, 5s, 5m, 2h, 1d); `0s` revokes
    /// it at once. 24h when absent.
    grace: Option<String>,
}

#[derive(Serialize, ToSchema)]
struct NewKey {
    /// Shown once; only its SHA-256 is stored
    api_key: String,
    /// Unix milliseconds; null when the replaced key was revoked at once
    previous_key_expires_at: Option<i64>,
}

/// `POST /v1/apps/{app_id}/erase`'s body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct EraseInput {
    /// The user whose events go
    #[schema(min_length = 1)]
    external_id: String,
}

#[derive(Serialize, ToSchema)]
struct Erased {
    erased: PurgeStep,
}

/// Origins an app's bridge may list, at most.
const MAX_BRIDGE_ORIGINS: usize = 50;

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("invalid_app", message)
}

/// Refuses a field the body may not have (`allowed` lists those it may).
fn known_fields(body: &Value, allowed: &[&str]) -> ApiResult<()> {
    let Some(map) = body.as_object() else {
        return Err(invalid("expected a JSON object"));
    };
    match map.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(invalid(format!(
            "{k}: unknown field (only {})",
            allowed.join(", ")
        ))),
        None => Ok(()),
    }
}

fn parse_name(value: &Value) -> ApiResult<String> {
    match value {
        Value::String(s) if !s.trim().is_empty() && s.len() <= 200 => Ok(s.trim().to_string()),
        Value::String(_) => Err(invalid("name: must be 1 to 200 characters")),
        _ => Err(invalid("name: expected a string")),
    }
}

/// `bridge_origins`: origins (`https://example.com`, `http://localhost:3000`) written as
/// browsers send them in `Origin`; kept in that form.
fn parse_origins(value: &Value) -> ApiResult<Vec<String>> {
    let Value::Array(items) = value else {
        return Err(invalid("bridge_origins: expected a list of origins"));
    };
    if items.len() > MAX_BRIDGE_ORIGINS {
        return Err(invalid(format!(
            "bridge_origins: at most {MAX_BRIDGE_ORIGINS} origins"
        )));
    }
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let at = format!("bridge_origins[{i}]");
        let text = item
            .as_str()
            .ok_or_else(|| invalid(format!("{at}: expected a string")))?;
        let url = url::Url::parse(text)
            .map_err(|e| invalid(format!("{at}: {text:?} is not an origin: {e}")))?;
        let origin = url.origin().ascii_serialization();
        let bare = url.path() == "/" && url.query().is_none() && url.fragment().is_none();
        if !matches!(url.scheme(), "http" | "https") || !bare || url.username() != "" {
            return Err(invalid(format!(
                "{at}: {text:?} is not an origin (scheme://host[:port], http or https, nothing after)"
            )));
        }
        if !out.contains(&origin) {
            out.push(origin);
        }
    }
    Ok(out)
}

/// Create an app
///
/// With the admin key. The answer holds the app's key, shown only here.
#[utoipa::path(post, path = "/v1/apps", tag = "apps", security(("adminKey" = [])),
    request_body = NewAppInput,
    responses((status = 201, description = "The app, with its key", body = NewApp), AppErrors, BodyErrors))]
async fn create(
    state: State,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> ApiResult<(StatusCode, Json<NewApp>)> {
    state.authorize_admin(&headers)?;
    known_fields(&body, &["name", "bridge_origins"])?;
    let name = parse_name(body.get("name").ok_or_else(|| invalid("name: missing"))?)?;
    let bridge_origins = match body.get("bridge_origins") {
        Some(v) => parse_origins(v)?,
        None => Vec::new(),
    };
    let app = AppRecord {
        id: format!("app_{}", uuid::Uuid::new_v4().simple()),
        name,
        created_at: now_ms(),
        bridge_origins,
    };
    let key = new_key("hk_");
    let hash = hash_key(&key);
    state.store.create_app(app.clone(), hash.clone()).await?;
    state.keys_mut().insert(AppKey {
        hash,
        app_id: app.id.clone(),
        expires_at: None,
    });
    state
        .bridge
        .set_origins(&app.id, app.bridge_origins.clone());
    tracing::info!(app = %app.id, "app created");
    Ok((StatusCode::CREATED, Json(NewApp { app, api_key: key })))
}

/// List the apps
///
/// With the admin key.
#[utoipa::path(get, path = "/v1/apps", tag = "apps", security(("adminKey" = [])),
    responses((status = 200, description = "Every app", body = AppList), AppErrors))]
async fn list(state: State, headers: HeaderMap) -> ApiResult<Json<AppList>> {
    state.authorize_admin(&headers)?;
    let apps = state.store.list_apps().await?;
    Ok(Json(AppList { apps }))
}

/// Read an app
///
/// With its key or the admin key.
#[utoipa::path(get, path = "/v1/apps/{app_id}", tag = "apps", params(AppPath),
    security(("appKey" = []), ("adminKey" = [])),
    responses((status = 200, description = "The app", body = AppRecord), AppErrors))]
async fn read(
    state: State,
    Path(AppPath { app_id }): Path<AppPath>,
    headers: HeaderMap,
) -> ApiResult<Json<AppRecord>> {
    state.authorize_app(&headers, &app_id)?;
    let app = state
        .store
        .get_app(&app_id)
        .await?
        .ok_or_else(|| ApiError::not_found("app"))?;
    Ok(Json(app))
}

/// Change an app's name or bridge origins
///
/// With its key or the admin key; sets what the body names.
#[utoipa::path(patch, path = "/v1/apps/{app_id}", tag = "apps", params(AppPath),
    security(("appKey" = []), ("adminKey" = [])), request_body = AppChanges,
    responses((status = 200, description = "The app", body = AppRecord), AppErrors, BodyErrors))]
async fn update(
    state: State,
    Path(AppPath { app_id }): Path<AppPath>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<AppRecord>> {
    state.authorize_app(&headers, &app_id)?;
    known_fields(&body, &["name", "bridge_origins"])?;
    let name = body.get("name").map(parse_name).transpose()?;
    let origins = body.get("bridge_origins").map(parse_origins).transpose()?;
    let app = state
        .store
        .update_app(&app_id, name, origins)
        .await?
        .ok_or_else(|| ApiError::not_found("app"))?;
    state
        .bridge
        .set_origins(&app.id, app.bridge_origins.clone());
    Ok(Json(app))
}

/// Give an app a new key
///
/// With its key or the admin key. The new key is shown only here; the one it replaces keeps
/// working for `grace` (24 h by default; `"0s"` revokes it at once).
#[utoipa::path(post, path = "/v1/apps/{app_id}/keys", tag = "apps", params(AppPath),
    security(("appKey" = []), ("adminKey" = [])),
    request_body(content = Option<KeyRotation>, description = "Optional: an empty body keeps the default grace"),
    responses((status = 201, description = "The new key", body = NewKey), AppErrors, BodyErrors))]
async fn rotate_key(
    state: State,
    Path(AppPath { app_id }): Path<AppPath>,
    headers: HeaderMap,
    OptionalJsonBody(body): OptionalJsonBody,
) -> ApiResult<(StatusCode, Json<NewKey>)> {
    state.authorize_app(&headers, &app_id)?;
    let now = now_ms();
    let old_until = super::grace_end(&body, now, "invalid_key_rotation")?;
    let key = new_key("hk_");
    let hash = hash_key(&key);
    if !state
        .store
        .rotate_app_key(&app_id, hash.clone(), old_until)
        .await?
    {
        return Err(ApiError::not_found("app"));
    }
    state.keys_mut().rotate(&app_id, hash, old_until, now);
    tracing::info!(app = %app_id, grace_s = (old_until - now) / 1000, "app key rotated");
    let previous_key_expires_at = (old_until > now).then_some(old_until);
    Ok((
        StatusCode::CREATED,
        Json(NewKey {
            api_key: key,
            previous_key_expires_at,
        }),
    ))
}

/// Delete an app and everything it holds
///
/// With the admin key: the app, its key, its webhooks (their deliveries in flight abandoned),
/// events, deliveries, stats and logs. The key stops working and nothing is sent for the app once
/// the first step is stored; the rest goes in chunks before the answer.
#[utoipa::path(delete, path = "/v1/apps/{app_id}", tag = "apps", params(AppPath),
    security(("adminKey" = [])),
    responses((status = 204, description = "Deleted"), AppErrors))]
async fn remove(
    state: State,
    Path(AppPath { app_id }): Path<AppPath>,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    state.authorize_admin(&headers)?;
    let Some(leftovers) = state.store.delete_app(&app_id).await? else {
        return Err(ApiError::not_found("app"));
    };
    state.keys_mut().remove_app(&app_id);
    state.bridge.set_origins(&app_id, Vec::new());
    for (webhook_id, _) in &leftovers.webhooks {
        state.queue.remove(webhook_id).await;
    }
    let purged = crate::retention::purge_deleted(state.store.as_ref(), leftovers).await?;
    tracing::info!(app = %app_id, events = purged.events, deliveries = purged.deliveries, "app deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// Erase one user's events
///
/// That user's stored events (by `external_id`), their deliveries and the logs that show them are
/// deleted: a data-protection request. Attempts already under way may still be sent.
#[utoipa::path(post, path = "/v1/apps/{app_id}/erase", tag = "apps", params(AppPath),
    security(("appKey" = [])), request_body = EraseInput,
    responses((status = 200, description = "What was deleted", body = Erased), AppErrors, BodyErrors))]
async fn erase(
    state: State,
    Path(AppPath { app_id }): Path<AppPath>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Erased>> {
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
    Ok(Json(Erased { erased }))
}
