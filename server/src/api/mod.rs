//! The HTTP API: one file per resource, each with its own router, and the one error type every
//! handler answers with (`{"error": {"code", "message"}}`).

pub mod apps;
pub mod bridge;
pub mod doc;
pub mod events;
pub mod keys;
pub mod system;
pub mod webhooks;

use std::sync::{Arc, RwLock};

use axum::Router;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::config::Config;
use crate::queue::Queue;
use crate::store::{Store, StoreError};

/// What every handler shares.
pub struct AppState {
    pub config: Config,
    pub store: Arc<dyn Store>,
    pub queue: Arc<Queue>,
    /// The keys that open apps (hashes), loaded at start and kept up to date.
    pub keys: RwLock<keys::Keys>,
    /// The browser bridge's origins and rate limits.
    pub bridge: bridge::Bridge,
    /// Seals secret header values for the store and opens them again.
    pub sealer: crate::secrets::Sealer,
    /// sha256(admin key).
    pub admin_hash: String,
}

pub type State = axum::extract::State<Arc<AppState>>;

/// The API's error: a status, a stable code and a message for people. Never carries internals.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Seconds for a `Retry-After` header (with `429`).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }
    pub fn retry_after(self, seconds: u64) -> ApiError {
        ApiError {
            retry_after: Some(seconds),
            ..self
        }
    }
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }
    pub fn not_found(what: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no such {what}"),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = doc::ErrorBody {
            error: doc::ErrorDetail {
                code: self.code,
                message: self.message,
            },
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(seconds),
            );
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        tracing::error!(error = %e, "store error");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "storage_unavailable",
            "the store failed; try again",
        )
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// An extractor of axum's whose rejection answers in the API's JSON error shape, with `code` and
/// the rejection's text (axum's own answer is plain text).
macro_rules! json_rejection {
    ($(#[$doc:meta])* $name:ident, $code:literal, $message:expr) => {
        $(#[$doc])*
        pub struct $name<T>(pub T);

        impl<T, S> FromRequestParts<S> for $name<T>
        where
            T: serde::de::DeserializeOwned + Send,
            S: Send + Sync,
        {
            type Rejection = ApiError;

            async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<$name<T>, ApiError> {
                match axum::extract::$name::<T>::from_request_parts(parts, state).await {
                    Ok(axum::extract::$name(value)) => Ok($name(value)),
                    Err(e) => Err(ApiError::bad_request($code, $message(e.body_text()))),
                }
            }
        }
    };
}

json_rejection!(
    /// Path parameters; `400 invalid_path` when they cannot be read.
    Path,
    "invalid_path",
    |text: String| text
);
json_rejection!(
    /// A query string; `400 invalid_query`, naming the parameter, when it does not fit.
    Query,
    "invalid_query",
    |text: String| text.replace("Failed to deserialize query string: ", "the query string: ")
);

/// A whole-number query parameter's value within `range`, or `400 invalid_query` naming it.
pub fn in_range(
    name: &str,
    value: Option<i64>,
    default: i64,
    range: std::ops::RangeInclusive<i64>,
) -> ApiResult<i64> {
    let value = value.unwrap_or(default);
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(ApiError::bad_request(
            "invalid_query",
            format!(
                "{name}: must be from {} to {} (got {value})",
                range.start(),
                range.end()
            ),
        ))
    }
}

/// How long a replaced key keeps working unless a rotation says (`grace`).
pub const DEFAULT_GRACE: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// When a key a rotation replaces stops working (unix milliseconds): `now` plus the body's
/// `{"grace": "24h"}` ([`DEFAULT_GRACE`] when the body is empty or has none). Anything else in
/// the body is refused as `400 code`.
pub fn grace_end(body: &Value, now: i64, code: &'static str) -> ApiResult<i64> {
    let refuse = |m: String| ApiError::bad_request(code, m);
    if let Some(unknown) = body
        .as_object()
        .and_then(|o| o.keys().find(|k| *k != "grace"))
    {
        return Err(refuse(format!("{unknown}: unknown field (only grace)")));
    }
    let grace = match body.get("grace") {
        None => DEFAULT_GRACE,
        Some(Value::String(text)) => {
            crate::config::parse_duration(text).map_err(|m| refuse(format!("grace: {m}")))?
        }
        Some(_) => {
            return Err(refuse(
                "grace: expected a duration like \"24h\" or \"0s\"".into(),
            ));
        }
    };
    Ok(now.saturating_add(grace.as_millis().min(i64::MAX as u128) as i64))
}

/// A JSON request body, refused with a JSON error that says what is wrong (too large, not
/// JSON and where).
pub struct JsonBody(pub Value);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<JsonBody, ApiError> {
        let RawBody(bytes) = RawBody::from_request(req, state).await?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// A request body as bytes, within the size limit (`413` above it).
pub struct RawBody(pub axum::body::Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<RawBody, ApiError> {
        read_body(req, state).await.map(RawBody)
    }
}

/// The body of `req`, within the size limit (`413`) and, when the request came through
/// [`crate::http::serve`], within `limits.body_timeout` (`408`: a slow client cannot hold a
/// connection and a buffer for ever).
async fn read_body<S: Send + Sync>(
    req: axum::extract::Request,
    state: &S,
) -> ApiResult<axum::body::Bytes> {
    let deadline = req
        .extensions()
        .get::<crate::http::Deadlines>()
        .map(|d| d.body);
    let read = axum::body::Bytes::from_request(req, state);
    let Some(deadline) = deadline else {
        return read.await.map_err(body_rejection);
    };
    match tokio::time::timeout(deadline, read).await {
        Ok(read) => read.map_err(body_rejection),
        Err(_) => Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "body_timeout",
            format!(
                "the body did not arrive within {} ms (limits.body_timeout)",
                deadline.as_millis()
            ),
        )),
    }
}

/// An optional JSON object: an empty body is `null`; anything but an object (`null` written out
/// included) is refused (`400 invalid_body`).
pub struct OptionalJsonBody(pub Value);

impl<S: Send + Sync> FromRequest<S> for OptionalJsonBody {
    type Rejection = ApiError;

    async fn from_request(
        req: axum::extract::Request,
        state: &S,
    ) -> Result<OptionalJsonBody, ApiError> {
        let bytes = read_body(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJsonBody(Value::Null));
        }
        match parse_json(&bytes)? {
            body @ Value::Object(_) => Ok(OptionalJsonBody(body)),
            other => Err(ApiError::bad_request(
                "invalid_body",
                format!(
                    "the body must be a JSON object (or empty), not {}",
                    json_kind(&other)
                ),
            )),
        }
    }
}

pub fn parse_json(bytes: &[u8]) -> ApiResult<Value> {
    serde_json::from_slice(bytes).map_err(|e| {
        ApiError::bad_request("invalid_json", format!("the body is not valid JSON: {e}"))
    })
}

/// "an array", "a string"…: what a JSON value is, for messages.
pub use crate::event::kind_of as json_kind;

pub fn body_rejection(e: BytesRejection) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "the body is larger than the limit (max_body_bytes)",
        )
    } else {
        ApiError::bad_request("invalid_body", e.body_text())
    }
}

pub fn hash_key(key: &str) -> String {
    sha256_hex(key.as_bytes())
}

/// sha256 of `bytes`, in lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    crate::secrets::to_hex(&sha2::Sha256::digest(bytes))
}

/// A new secret: `prefix` and 64 hex digits from the OS's random source.
pub fn new_key(prefix: &str) -> String {
    let a = uuid::Uuid::new_v4().simple().to_string();
    let b = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}{a}{b}")
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

impl AppState {
    pub fn keys(&self) -> std::sync::RwLockReadGuard<'_, keys::Keys> {
        self.keys.read().unwrap_or_else(|p| p.into_inner())
    }

    pub fn keys_mut(&self) -> std::sync::RwLockWriteGuard<'_, keys::Keys> {
        self.keys.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Checks the admin key.
    pub fn authorize_admin(&self, headers: &HeaderMap) -> ApiResult<()> {
        match bearer(headers) {
            Some(key) if keys::same(hash_key(key).as_bytes(), self.admin_hash.as_bytes()) => Ok(()),
            Some(_) => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "invalid admin key",
            )),
            None => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "missing `Authorization: Bearer <admin key>`",
            )),
        }
    }

    /// What the request's key opens: everything (the admin key), or one app. `401` for a
    /// missing or unknown key.
    pub fn key_owner(&self, headers: &HeaderMap) -> ApiResult<Option<String>> {
        let Some(key) = bearer(headers) else {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "missing `Authorization: Bearer <key>`",
            ));
        };
        let hash = hash_key(key);
        if keys::same(hash.as_bytes(), self.admin_hash.as_bytes()) {
            return Ok(None);
        }
        match self.keys().app_of(&hash, crate::store::now_ms()) {
            Some(app) => Ok(Some(app.to_owned())),
            None => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "this key opens nothing: neither the admin key nor an app's",
            )),
        }
    }

    /// Checks that the request carries `app_id`'s key (or the admin key).
    pub fn authorize_app(&self, headers: &HeaderMap, app_id: &str) -> ApiResult<()> {
        match self.key_owner(headers)? {
            None if self.keys().has_app(app_id) => Ok(()),
            None => Err(ApiError::not_found("app")),
            Some(owner) if owner == app_id => Ok(()),
            Some(_) => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "this key belongs to another app",
            )),
        }
    }
}

/// A resource's routes with their documentation: a route can only be added through
/// [`Routes::routes`], from handlers that carry `#[utoipa::path]`, so none goes undocumented.
pub struct Routes(utoipa_axum::router::OpenApiRouter<Arc<AppState>>);

impl Routes {
    pub fn new() -> Routes {
        Routes(utoipa_axum::router::OpenApiRouter::new())
    }

    /// The handlers of one path (`utoipa_axum::routes!(create, list)`).
    pub fn routes(
        self,
        handlers: utoipa_axum::router::UtoipaMethodRouter<Arc<AppState>>,
    ) -> Routes {
        Routes(self.0.routes(handlers))
    }

    /// Bodies of the routes so far may be at most `bytes` long (`413` above).
    pub fn body_limit(self, bytes: usize) -> Routes {
        Routes(self.0.layer(axum::extract::DefaultBodyLimit::max(bytes)))
    }

    fn merge(self, other: Routes) -> Routes {
        Routes(self.0.merge(other.0))
    }
}

impl Default for Routes {
    fn default() -> Routes {
        Routes::new()
    }
}

fn all_routes() -> Routes {
    Routes(utoipa_axum::router::OpenApiRouter::with_openapi(
        <doc::Root as utoipa::OpenApi>::openapi(),
    ))
    .merge(system::router())
    .merge(apps::router())
    .merge(webhooks::router())
    .merge(events::router())
    .merge(bridge::router())
}

/// The OpenAPI document of every route, as JSON (made once).
pub fn openapi_json() -> &'static str {
    static DOC: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DOC.get_or_init(|| {
        let (_, doc) = all_routes().0.split_for_parts();
        doc.to_pretty_json().expect("the document serializes")
    })
}

/// Every route of the API; an unknown path is `404 not_found` and a known path with another
/// method `405 method_not_allowed`, in the API's error shape.
pub fn router(state: Arc<AppState>) -> Router {
    let (router, _) = all_routes().0.split_for_parts();
    router
        .fallback(no_route)
        .method_not_allowed_fallback(wrong_method)
        .with_state(state)
}

/// `404` for a path no route has.
pub async fn no_route(uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no route for {}", uri.path()),
    )
}

async fn wrong_method(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{} is not a method of {}", method, uri.path()),
    )
}

#[cfg(test)]
mod tests {
    /// Each `/v1` operation documents the errors every one can answer, in the one shape: bad
    /// input, no such app, the store failing; a key's refusal unless it needs none (the
    /// bridge); a body too large when it reads one.
    #[test]
    fn every_operation_documents_its_errors() {
        let doc: serde_json::Value =
            serde_json::from_str(super::openapi_json()).expect("the document is JSON");
        let paths = doc["paths"].as_object().expect("paths");
        assert!(paths.len() > 20, "{} paths", paths.len());
        for (path, item) in paths.iter().filter(|(p, _)| p.starts_with("/v1/")) {
            for (method, op) in item.as_object().expect("a path item") {
                let at = format!("{method} {path}");
                let responses = op["responses"].as_object().expect("responses");
                for (code, response) in responses.iter().filter(|(c, _)| c.as_str() >= "400") {
                    assert_eq!(
                        response["content"]["application/json"]["schema"]["$ref"],
                        "#/components/schemas/Error",
                        "{at}: {code} is not the error shape"
                    );
                }
                let keyless = path.ends_with("/browser-events");
                let mut needed = vec!["400", "404", "503"];
                if !keyless {
                    needed.push("401");
                    assert!(
                        op["security"].as_array().is_some_and(|s| !s.is_empty()),
                        "{at}: no key"
                    );
                }
                if op.get("requestBody").is_some() {
                    needed.push("413");
                }
                for code in needed {
                    assert!(responses.contains_key(code), "{at}: {code} undocumented");
                }
            }
        }
    }

    #[test]
    fn hash_key_is_lower_case_hex_sha256() {
        // FIPS 180-2's example: SHA-256("abc").
        assert_eq!(
            super::hash_key("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
