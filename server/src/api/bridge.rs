//! `/v1/apps/{app_id}/browser-events`: the bridge from the browser half. Browsers post their
//! notification webhooks here (text/plain with `cors: false`, JSON after a CORS preflight with
//! `cors: true`); each becomes an event `message.push.displayed|clicked|dismissed` that flows to
//! the app's webhooks. No app key: browsers cannot hold one. The path's app must exist.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Map, Value, json};

use super::{ApiError, AppState, State, parse_json};

/// The largest browser payload accepted.
pub const MAX_BROWSER_EVENT_BYTES: usize = 16 * 1024;

pub fn router() -> Router<Arc<AppState>> {
    Router::new().route(
        "/v1/apps/{app_id}/browser-events",
        post(receive).options(preflight),
    )
}

fn cors(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("POST"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("Content-Type, X-OneSignal-Event"),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("86400"),
    );
    response
}

async fn preflight() -> Response {
    cors(StatusCode::NO_CONTENT.into_response())
}

async fn receive(
    state: State,
    Path(app_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    cors(match handle(&state, &app_id, &headers, &body).await {
        Ok(summary) => (StatusCode::ACCEPTED, axum::Json(summary)).into_response(),
        Err(e) => e.into_response(),
    })
}

async fn handle(
    state: &AppState,
    app_id: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Value, ApiError> {
    let known = state
        .keys
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .values()
        .any(|id| id == app_id);
    if !known {
        return Err(ApiError::not_found("app"));
    }
    if body.len() > MAX_BROWSER_EVENT_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("a browser event is at most {MAX_BROWSER_EVENT_BYTES} bytes"),
        ));
    }
    // text/plain (a "simple" request, `cors: false`) and application/json carry the same JSON.
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if !mime.is_empty() && mime != "text/plain" && mime != "application/json" {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send text/plain or application/json",
        ));
    }
    let payload = parse_json(body)?;
    let event =
        to_event(&payload).map_err(|m| ApiError::bad_request("invalid_browser_event", m))?;
    let event = super::events::parse_event(app_id, event)
        .map_err(|m| ApiError::bad_request("invalid_browser_event", m))?;
    crate::metrics::BROWSER_EVENTS.add(1);
    let summary = state.queue.ingest(app_id, vec![event]).await?;
    Ok(json!(summary))
}

/// The browser payload `{event, id, userId, heading, content, url, icon, data, action}` as an
/// event: `kind` from `event`, `external_id` = `userId`, `message.id` = `id`, `message.title` =
/// `heading`, `message.contents` = `content`; `url`, `icon`, `data`, `action` are kept as extra
/// properties. The event id is derived from (event, notification id, user, action), so a browser
/// that sends the same webhook twice (the browser half retries) creates one event.
pub fn to_event(payload: &Value) -> Result<Value, String> {
    let Some(p) = payload.as_object() else {
        return Err("expected a JSON object".to_string());
    };
    let kind = match p.get("event").and_then(Value::as_str) {
        Some("notification.displayed") => "message.push.displayed",
        Some("notification.clicked") => "message.push.clicked",
        Some("notification.dismissed") => "message.push.dismissed",
        Some(other) => {
            return Err(format!(
                "event: {other:?} is not notification.displayed, notification.clicked or notification.dismissed"
            ));
        }
        None => return Err("event: missing (a string)".to_string()),
    };
    let text = |name: &str, max: usize| -> Result<Option<String>, String> {
        match p.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.len() <= max => Ok(Some(s.clone())),
            Some(Value::String(_)) => Err(format!("{name}: longer than {max} bytes")),
            Some(_) => Err(format!("{name}: expected a string")),
        }
    };
    let id = text("id", 256)?;
    let user = text("userId", 256)?;
    let heading = text("heading", 2048)?;
    let content = text("content", 4096)?;
    let url = text("url", 4096)?;
    let icon = text("icon", 4096)?;
    let action = text("action", 256)?;
    let mut message = Map::new();
    if let Some(id) = &id {
        message.insert("id".into(), id.clone().into());
    }
    if let Some(h) = heading {
        message.insert("title".into(), h.into());
    }
    if let Some(c) = content {
        message.insert("contents".into(), c.into());
    }
    let mut event = Map::new();
    let key = format!(
        "{kind}\n{}\n{}\n{}",
        id.as_deref().unwrap_or(""),
        user.as_deref().unwrap_or(""),
        action.as_deref().unwrap_or("")
    );
    event.insert("id".into(), stable_uuid(&key).into());
    event.insert("kind".into(), kind.into());
    event.insert("subscription_device_type".into(), "Browser".into());
    if let Some(u) = user {
        event.insert("external_id".into(), u.into());
    }
    event.insert("message".into(), Value::Object(message));
    if let Some(u) = url {
        event.insert("url".into(), u.into());
    }
    if let Some(i) = icon {
        event.insert("icon".into(), i.into());
    }
    if let Some(a) = action {
        event.insert("action".into(), a.into());
    }
    if let Some(d) = p.get("data")
        && !d.is_null()
    {
        event.insert("data".into(), d.clone());
    }
    // A notification without an id cannot be deduplicated: give its event a fresh id.
    if id.is_none() {
        event.insert("id".into(), uuid::Uuid::new_v4().to_string().into());
    }
    Ok(Value::Object(event))
}

/// A UUID (version 8 layout) from sha256 of `key`: the same key, the same id.
fn stable_uuid(key: &str) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(key.as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    uuid::Uuid::from_bytes(b).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_the_browser_payload() {
        let e = to_event(&json!({
            "event": "notification.clicked", "id": "n1", "userId": "u1", "heading": "Hi",
            "content": "Body", "url": "https://x.test/", "icon": "i.png", "data": {"a": 1}, "action": "open"
        }))
        .unwrap();
        assert_eq!(e["kind"], "message.push.clicked");
        assert_eq!(e["external_id"], "u1");
        assert_eq!(e["message"]["id"], "n1");
        assert_eq!(e["message"]["title"], "Hi");
        assert_eq!(e["message"]["contents"], "Body");
        assert_eq!(e["url"], "https://x.test/");
        assert_eq!(e["data"]["a"], 1);
        assert_eq!(e["action"], "open");
        let again = to_event(
            &json!({"event": "notification.clicked", "id": "n1", "userId": "u1", "action": "open"}),
        )
        .unwrap();
        assert_eq!(e["id"], again["id"]);
    }

    #[test]
    fn refuses_bad_shapes() {
        assert!(to_event(&json!([])).is_err());
        assert!(
            to_event(&json!({"event": "push"}))
                .unwrap_err()
                .contains("event")
        );
        assert!(
            to_event(&json!({"event": "notification.displayed", "id": 5}))
                .unwrap_err()
                .contains("id")
        );
        assert!(
            to_event(&json!({"event": "notification.displayed", "heading": "x".repeat(3000)}))
                .unwrap_err()
                .contains("heading")
        );
    }
}
