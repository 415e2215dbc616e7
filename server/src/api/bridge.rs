//! `/v1/apps/{app_id}/browser-events`: the bridge from the browser half. Browsers post their
//! notification webhooks here (text/plain with `cors: false`, JSON after a CORS preflight with
//! `cors: true`); each becomes an event `message.push.displayed|clicked|dismissed` that flows to
//! the app's webhooks. No app key: browsers cannot hold one. The path's app must exist.
//!
//! Any page on the web can post here, so the bridge takes only what the browser half sends (the
//! three kinds, known fields of known types and sizes), reads at most
//! [`MAX_BROWSER_EVENT_BYTES`] of a body, limits the rate per client address and per app
//! (`[bridge]`), and, for an app with `bridge_origins`, takes posts from those origins only.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use super::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};
use utoipa::{IntoResponses, ToSchema};
use utoipa_axum::routes;

use super::doc::{AppPath, ErrorBody};
use super::{ApiError, AppState, RawBody, State, parse_json};
use crate::config::BridgeConfig;
use crate::http::Peer;
use crate::queue::IngestSummary;

/// The largest browser payload accepted: a body is not read past it. Room for every field at its
/// bound (about 23 kB, as the browser half keeps them) and their JSON escapes.
pub const MAX_BROWSER_EVENT_BYTES: usize = 64 * 1024;

/// The largest `data` of a browser payload, as JSON.
const MAX_DATA_BYTES: usize = 8 * 1024;

/// Rate-limit buckets kept at most per kind; past it, full ones are dropped (and, when all are in
/// use, all: a flood from that many addresses meets the per-app limit still).
const MAX_BUCKETS: usize = 100_000;

/// The browser's webhook events and the event kinds they become.
const KINDS: [(&str, &str); 3] = [
    ("notification.displayed", "message.push.displayed"),
    ("notification.clicked", "message.push.clicked"),
    ("notification.dismissed", "message.push.dismissed"),
];

pub fn router() -> super::Routes {
    super::Routes::new()
        .routes(routes!(receive, preflight, recent))
        .body_limit(MAX_BROWSER_EVENT_BYTES)
}

/// `GET …/browser-events`'s query.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct RecentQuery {
    /// How many events at most
    #[param(minimum = 1, maximum = 200, default = 50)]
    limit: Option<i64>,
}

/// What the bridge received lately.
#[derive(serde::Serialize, ToSchema)]
struct RecentBrowserEvents {
    /// Newest first
    events: Vec<ReceivedEvent>,
}

#[derive(serde::Serialize, ToSchema)]
struct ReceivedEvent {
    /// Unix milliseconds
    received_at: i64,
    #[schema(value_type = super::events::EventShape)]
    event: Value,
}

/// The events the bridge received lately
///
/// With the app's key: the newest `message.push.displayed|clicked|dismissed` events (what the
/// bridge makes of browser webhooks), among the last 100,000 events stored.
#[utoipa::path(get, path = "/v1/apps/{app_id}/browser-events", tag = "bridge", params(AppPath, RecentQuery),
    security(("appKey" = [])),
    responses((status = 200, description = "The newest browser events", body = RecentBrowserEvents),
        super::doc::AppErrors))]
async fn recent(
    state: State,
    Path(AppPath { app_id }): Path<AppPath>,
    super::Query(q): super::Query<RecentQuery>,
    headers: HeaderMap,
) -> Result<axum::Json<RecentBrowserEvents>, ApiError> {
    state.authorize_app(&headers, &app_id)?;
    let limit = super::in_range("limit", q.limit, 50, 1..=200)? as usize;
    let kinds = KINDS.map(|(_, kind)| kind.to_string()).to_vec();
    let stored = state.store.recent_events(&app_id, kinds, limit).await?;
    let events = stored
        .into_iter()
        .map(|e| ReceivedEvent {
            received_at: e.received_at,
            event: serde_json::from_str(&e.body).unwrap_or(Value::Null),
        })
        .collect();
    Ok(axum::Json(RecentBrowserEvents { events }))
}

/// A notification webhook of the browser half, as it posts it.
#[derive(serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = BrowserEvent)]
#[allow(dead_code, non_snake_case)]
struct BrowserEventShape {
    #[schema(inline)]
    event: BrowserKind,
    /// The notification's id
    #[schema(max_length = 256)]
    id: Option<String>,
    #[schema(max_length = 256)]
    userId: Option<String>,
    #[schema(max_length = 2048)]
    heading: Option<String>,
    #[schema(max_length = 4096)]
    content: Option<String>,
    #[schema(max_length = 4096)]
    url: Option<String>,
    #[schema(max_length = 4096)]
    icon: Option<String>,
    /// Any JSON, at most 8 kB as JSON
    data: Option<serde_json::Value>,
    /// The button clicked
    #[schema(max_length = 256)]
    action: Option<String>,
}

#[derive(serde::Deserialize, ToSchema)]
#[allow(dead_code)]
enum BrowserKind {
    #[serde(rename = "notification.displayed")]
    Displayed,
    #[serde(rename = "notification.clicked")]
    Clicked,
    #[serde(rename = "notification.dismissed")]
    Dismissed,
}

/// What the bridge refuses.
#[derive(IntoResponses)]
#[allow(dead_code)]
enum BridgeErrors {
    /// Not JSON, or not a browser event: the message names what is wrong
    #[response(status = 400)]
    BadRequest(ErrorBody),
    /// The app has `bridge_origins` and the request's `Origin` is not one of them
    #[response(status = 403)]
    Forbidden(ErrorBody),
    /// No such app
    #[response(status = 404)]
    NotFound(ErrorBody),
    /// The body did not arrive within `limits.body_timeout`
    #[response(status = 408)]
    Timeout(ErrorBody),
    /// Over 64 kB
    #[response(status = 413)]
    TooLarge(ErrorBody),
    /// Neither text/plain nor application/json
    #[response(status = 415)]
    UnsupportedType(ErrorBody),
    /// Too many browser events from this address or for this app (`bridge.rate_*`);
    /// `Retry-After` says when to try again
    #[response(status = 429)]
    TooMany(ErrorBody),
    /// The store failed; try again
    #[response(status = 503)]
    Unavailable(ErrorBody),
}

/// The bridge's own state: each app's allowed origins, and the rate limits.
pub struct Bridge {
    origins: RwLock<HashMap<String, Vec<String>>>,
    clients: Mutex<Buckets<IpAddr>>,
    apps: Mutex<Buckets<String>>,
}

impl Bridge {
    pub fn new(config: &BridgeConfig, apps: &[crate::store::AppRecord]) -> Bridge {
        Bridge {
            origins: RwLock::new(
                apps.iter()
                    .filter(|a| !a.bridge_origins.is_empty())
                    .map(|a| (a.id.clone(), a.bridge_origins.clone()))
                    .collect(),
            ),
            clients: Mutex::new(Buckets::new(
                config.rate_per_client,
                config.burst_per_client,
            )),
            apps: Mutex::new(Buckets::new(config.rate_per_app, config.burst_per_app)),
        }
    }

    /// The origins app `app_id`'s bridge takes posts from (empty: any).
    pub fn set_origins(&self, app_id: &str, origins: Vec<String>) {
        let mut all = self.origins.write().unwrap_or_else(|p| p.into_inner());
        if origins.is_empty() {
            all.remove(app_id);
        } else {
            all.insert(app_id.to_string(), origins);
        }
    }

    /// The `Access-Control-Allow-Origin` answer for a request from `origin` to `app_id`'s bridge:
    /// `*` when the app allows any, the origin itself when it is one of the app's; an error
    /// otherwise.
    fn allow_origin(&self, app_id: &str, origin: Option<&str>) -> Result<HeaderValue, ApiError> {
        let all = self.origins.read().unwrap_or_else(|p| p.into_inner());
        let Some(allowed) = all.get(app_id) else {
            return Ok(HeaderValue::from_static("*"));
        };
        let refused = |why: String| ApiError::new(StatusCode::FORBIDDEN, "origin_not_allowed", why);
        let Some(origin) = origin else {
            return Err(refused(
                "Origin: missing; this app's bridge takes events from its bridge_origins only"
                    .into(),
            ));
        };
        if !allowed.iter().any(|a| a == origin) {
            return Err(refused(format!(
                "Origin: {origin:?} is not one of this app's bridge_origins"
            )));
        }
        HeaderValue::from_str(origin)
            .map_err(|_| refused("Origin: not a valid header value".into()))
    }

    /// Takes one event from the client's and the app's buckets, or says how long to wait.
    fn admit(&self, client: Option<IpAddr>, app_id: &str) -> Result<(), ApiError> {
        let now = Instant::now();
        let limited = |wait: Duration, what: &str, key: &str| {
            let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("too many browser events {what} ({key}); retry in {seconds} s"),
            )
            .retry_after(seconds)
        };
        if let Some(client) = client {
            let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
            clients
                .take(client_net(client), now)
                .map_err(|wait| limited(wait, "from this address", "bridge.rate_per_client"))?;
        }
        let mut apps = self.apps.lock().unwrap_or_else(|p| p.into_inner());
        apps.take(app_id.to_string(), now)
            .map_err(|wait| limited(wait, "to this app", "bridge.rate_per_app"))
    }
}

/// A client by its address; an IPv6 one by its /64 (a host usually has a whole /64).
fn client_net(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4,
    }
}

/// The tokens a bucket left at `at` with `tokens` holds at `now`, refilled at `rate` a second up
/// to `burst`.
fn level((tokens, at): (f64, Instant), now: Instant, rate: f64, burst: f64) -> f64 {
    (tokens + now.saturating_duration_since(at).as_secs_f64() * rate).min(burst)
}

/// Token buckets: `rate` a second, up to `burst`, per key; a rate of 0 admits everything.
struct Buckets<K> {
    buckets: HashMap<K, (f64, Instant)>,
    rate: f64,
    burst: f64,
}

impl<K: Hash + Eq> Buckets<K> {
    fn new(rate: u32, burst: u32) -> Buckets<K> {
        Buckets {
            buckets: HashMap::new(),
            rate: f64::from(rate),
            burst: f64::from(burst.max(1)),
        }
    }

    /// Takes a token of `key`'s bucket, or says how long until there is one.
    fn take(&mut self, key: K, now: Instant) -> Result<(), Duration> {
        if self.rate == 0.0 {
            return Ok(());
        }
        if self.buckets.len() >= MAX_BUCKETS && !self.buckets.contains_key(&key) {
            // Full buckets are as good as none.
            let (rate, burst) = (self.rate, self.burst);
            self.buckets
                .retain(|_, b| level(*b, now, rate, burst) < burst);
            if self.buckets.len() >= MAX_BUCKETS {
                self.buckets.clear();
            }
        }
        let bucket = self.buckets.get(&key).copied();
        let tokens = bucket.map_or(self.burst, |b| level(b, now, self.rate, self.burst));
        if tokens >= 1.0 {
            self.buckets.insert(key, (tokens - 1.0, now));
            Ok(())
        } else {
            self.buckets.insert(key, (tokens, now));
            Err(Duration::from_secs_f64((1.0 - tokens) / self.rate))
        }
    }
}

/// The CORS headers of every bridge answer, allowing `origin`.
fn cors(mut response: Response, origin: HeaderValue) -> Response {
    let h = response.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    h.insert(header::VARY, HeaderValue::from_static("Origin"));
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

fn origin_of(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::ORIGIN).and_then(|v| v.to_str().ok())
}

/// CORS preflight
///
/// Allows the app's origins (`*` when it lists none), `POST`, and the headers `Content-Type`
/// and `X-OneSignal-Event`.
#[utoipa::path(options, path = "/v1/apps/{app_id}/browser-events", tag = "bridge",
    params(AppPath),
    responses((status = 204, description = "Allowed"), BridgeErrors))]
async fn preflight(
    state: State,
    Path(AppPath { app_id }): Path<AppPath>,
    headers: HeaderMap,
) -> Response {
    match state.bridge.allow_origin(&app_id, origin_of(&headers)) {
        Ok(origin) => cors(StatusCode::NO_CONTENT.into_response(), origin),
        // No CORS headers: the browser does not send the post.
        Err(e) => e.into_response(),
    }
}

/// Receive a browser-half webhook (the bridge)
///
/// No key: called by browsers. `notification.displayed|clicked|dismissed` become
/// `message.push.displayed|clicked|dismissed` with external_id = userId, message.id = id,
/// message.title = heading, message.contents = content; url, icon, data and action are kept as
/// extra properties. The same (event, id, userId, action) makes the same event id, so a browser's
/// resend is a duplicate. CORS: the app's `bridge_origins`, or any origin when it lists none.
#[utoipa::path(post, path = "/v1/apps/{app_id}/browser-events", tag = "bridge",
    params(AppPath),
    request_body(content((BrowserEventShape = "text/plain"), (BrowserEventShape = "application/json"))),
    responses((status = 202, description = "Turned into an event", body = IngestSummary),
        BridgeErrors))]
async fn receive(
    state: State,
    Path(AppPath { app_id }): Path<AppPath>,
    headers: HeaderMap,
    Peer(client): Peer,
    body: Result<RawBody, ApiError>,
) -> Response {
    let origin = match state.bridge.allow_origin(&app_id, origin_of(&headers)) {
        Ok(origin) => origin,
        Err(e) => return e.into_response(),
    };
    let answer = async {
        let known = state.keys().has_app(&app_id);
        if !known {
            return Err(ApiError::not_found("app"));
        }
        state.bridge.admit(client, &app_id)?;
        let body = match body {
            Ok(RawBody(body)) => body,
            Err(e) if e.status == StatusCode::PAYLOAD_TOO_LARGE => {
                return Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    format!("a browser event is at most {MAX_BROWSER_EVENT_BYTES} bytes"),
                ));
            }
            Err(e) => return Err(e),
        };
        handle(&state, &app_id, &headers, &body).await
    };
    cors(
        match answer.await {
            Ok(summary) => (StatusCode::ACCEPTED, axum::Json(summary)).into_response(),
            Err(e) => e.into_response(),
        },
        origin,
    )
}

async fn handle(
    state: &AppState,
    app_id: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<IngestSummary, ApiError> {
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
        to_event(&payload, body).map_err(|m| ApiError::bad_request("invalid_browser_event", m))?;
    let event = super::events::parse_event(app_id, event)
        .map_err(|m| ApiError::bad_request("invalid_browser_event", m))?;
    crate::metrics::BROWSER_EVENTS.add(1);
    Ok(state.queue.ingest(app_id, vec![event]).await?)
}

/// The browser payload `{event, id, userId, heading, content, url, icon, data, action}` as an
/// event: `kind` from `event`, `external_id` = `userId`, `message.id` = `id`, `message.title` =
/// `heading`, `message.contents` = `content`; `url`, `icon`, `data`, `action` are kept as extra
/// properties. The event id is derived from (event, notification id, user, action) and a hash of
/// the body as sent (`raw`), so a browser that sends the same webhook twice (the browser half
/// retries, byte for byte) creates one event, while a forged post sent first with the same ids
/// and other content cannot make the real one a duplicate. Fields the browser half does not send
/// are refused.
pub fn to_event(payload: &Value, raw: &[u8]) -> Result<Value, String> {
    let Some(p) = payload.as_object() else {
        return Err("expected a JSON object".to_string());
    };
    if let Some(unknown) = p.keys().find(|k| !PAYLOAD_FIELDS.contains(&k.as_str())) {
        return Err(format!(
            "{unknown}: unknown field (a browser event has {})",
            PAYLOAD_FIELDS.join(", ")
        ));
    }
    let kind = match p.get("event").and_then(Value::as_str) {
        Some(event) => KINDS
            .iter()
            .find(|(webhook, _)| *webhook == event)
            .map(|(_, kind)| *kind)
            .ok_or_else(|| {
                format!(
                    "event: {event:?} is not notification.displayed, notification.clicked or notification.dismissed"
                )
            })?,
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
    let body_hash = super::sha256_hex(raw);
    let key = format!(
        "{kind}\n{}\n{}\n{}\n{body_hash}",
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
    // Whatever JSON the push carried (the browser half passes it through), within its size.
    if let Some(d) = p.get("data").filter(|d| !d.is_null()) {
        let size = serde_json::to_string(d).map_or(usize::MAX, |t| t.len());
        if size > MAX_DATA_BYTES {
            return Err(format!("data: longer than {MAX_DATA_BYTES} bytes"));
        }
        event.insert("data".into(), d.clone());
    }
    // A notification without an id cannot be deduplicated: give its event a fresh id.
    if id.is_none() {
        event.insert("id".into(), uuid::Uuid::new_v4().to_string().into());
    }
    Ok(Value::Object(event))
}

/// The fields of the browser half's payload.
const PAYLOAD_FIELDS: [&str; 9] = [
    "event", "id", "userId", "heading", "content", "url", "icon", "data", "action",
];

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
    use serde_json::json;

    #[test]
    fn maps_the_browser_payload() {
        let payload = json!({
            "event": "notification.clicked", "id": "n1", "userId": "u1", "heading": "Hi",
            "content": "Body", "url": "https://x.test/", "icon": "i.png", "data": {"a": 1}, "action": "open"
        });
        let raw = payload.to_string();
        let e = to_event(&payload, raw.as_bytes()).unwrap();
        assert_eq!(e["kind"], "message.push.clicked");
        assert_eq!(e["external_id"], "u1");
        assert_eq!(e["message"]["id"], "n1");
        assert_eq!(e["message"]["title"], "Hi");
        assert_eq!(e["message"]["contents"], "Body");
        assert_eq!(e["url"], "https://x.test/");
        assert_eq!(e["data"]["a"], 1);
        assert_eq!(e["action"], "open");
        // The same body again (a browser's resend): the same event id. The same ids with other
        // content (a forgery sent first): another one.
        assert_eq!(e["id"], to_event(&payload, raw.as_bytes()).unwrap()["id"]);
        let forged =
            json!({"event": "notification.clicked", "id": "n1", "userId": "u1", "action": "open"});
        let forged = to_event(&forged, forged.to_string().as_bytes()).unwrap();
        assert_ne!(e["id"], forged["id"]);
    }

    #[test]
    fn refuses_bad_shapes() {
        let to_event = |v: Value| super::to_event(&v, v.to_string().as_bytes());
        assert!(to_event(json!([])).is_err());
        assert!(
            to_event(json!({"event": "notification.displayed", "extra": 1}))
                .unwrap_err()
                .contains("extra: unknown field")
        );
        assert!(to_event(json!({"event": "notification.displayed", "data": "x"})).is_ok());
        assert!(
            to_event(json!({"event": "notification.displayed", "data": {"x": "y".repeat(9000)}}))
                .unwrap_err()
                .contains("data: longer than")
        );
        assert!(
            to_event(json!({"event": "push"}))
                .unwrap_err()
                .contains("event")
        );
        assert!(
            to_event(json!({"event": "notification.displayed", "id": 5}))
                .unwrap_err()
                .contains("id")
        );
        assert!(
            to_event(json!({"event": "notification.displayed", "heading": "x".repeat(3000)}))
                .unwrap_err()
                .contains("heading")
        );
    }
}
