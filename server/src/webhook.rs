//! A webhook definition: triggers, method, URL, headers and body templates; checked and compiled once.
//!
//! Decisions a user should know:
//! - **Triggers** (`events`) are event kinds (`message.push.sent`), a prefix ending in `.*`
//!   (`message.push.*` matches `message.push.sent` and any kind under `message.push.`), or `*` alone
//!   (every kind).
//! - **URL**: the scheme (`http`/`https`) and host are literal text; every `{{ }}` value is
//!   percent-encoded (all but `A-Z a-z 0-9 - . _ ~`), so a value can never add a path segment, a
//!   query parameter or a fragment, nor change the host. A value that makes a whole path segment `.` or
//!   `..` is refused when rendering. A trailing `| url_encode` is replaced by that encoding.
//! - **Headers**: names are HTTP tokens, and the ones the HTTP client owns (`Host`,
//!   `Content-Length`, `Transfer-Encoding`, `Connection`, …) are refused. A rendered value holding CR,
//!   LF or another control character is refused. With a body, `Content-Type: application/json` is
//!   added unless the webhook sets its own.
//! - **Body**: `{"pairs": {key: template}}` renders to a JSON object of strings (always valid JSON);
//!   `{"custom": "template"}` is a JSON document in which a value inside a string literal is
//!   JSON-escaped and a value outside one is written as a JSON literal (`null` when missing, numbers as
//!   numbers, strings quoted); `{{ x | json }}` is the explicit form. A custom body without tags
//!   that is not JSON (a stray comma, a missing quote) is refused when saved: it is rendered once for
//!   a sample event of its first trigger, and the error quotes the line. With tags, whose output may
//!   depend on the event, a rendered body that is not valid JSON fails its attempt with the same
//!   error.
//! - A missing value renders empty (or `null` as a JSON value), never an error; this holds for
//!   `event`, `message` and loop items. Two Liquid rules remain: a property of a number or string
//!   (`{{ event.timestamp.x }}` inside a loop) and a missing property of an `assign`ed copy of an
//!   object are errors, and `.size` of an event object reads as a missing property.
//! - An object or array written as text (a header, a pair, inside a JSON string) is written as JSON,
//!   with object keys sorted so the text never changes between renders.
//! - Filters: the Liquid standard library, `json`, and `date` extended to unix seconds
//!   (`event.timestamp`) and ISO 8601 (`event.datetime`). Tags: `if`, `unless`, `case`, `for`,
//!   `assign`, `capture`, `raw`, `comment`, `ifchanged`, `increment`, `decrement`, `break`,
//!   `continue`; `include`, `render`, `cycle` and `tablerow` are refused.
//! - **Render budget** ([`Limits`], the `[templates]` configuration): one render (URL, headers and
//!   body together) may run so many loop iterations, write so many bytes and hold so many bytes in
//!   variables and filter results; past a limit it stops with an error naming it. A webhook over
//!   the budget for a sample event of its first trigger is refused when saved; one over it only
//!   for some event fails that event's attempts with a render error. Rendering one that uses tags
//!   or filters may take up to the whole budget, so the server does it off the async runtime
//!   ([`Webhook::render_async`]).
//!
//! ```
//! use hookline::{samples::sample_event, webhook::Webhook};
//!
//! let webhook = Webhook::from_json(&serde_json::json!({
//!     "name": "users",
//!     "events": ["message.push.*"],
//!     "url": "https://example.com/webhook/user/{{ event.external_id }}",
//!     "body": {"custom": "{\"title\": \"{{ message.title }}\", \"at\": {{ event.timestamp }}}"}
//! }))?;
//! let request = webhook.render(&sample_event("message.push.sent"))?;
//! assert_eq!(request.url, "https://example.com/webhook/user/THE%20EXTERNAL%20ID");
//! assert_eq!(request.body.as_deref(), Some(r#"{"title": "Claim 50% Off Today", "at": 1708559416}"#));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::sync::Arc;

use indexmap::IndexMap;
use serde_json::Value;

use crate::event::{Event, kind_of};
use crate::request::{Method, RenderedRequest};
use crate::signing::Scheme;
use crate::template::{Budget, Data, Limits, Position, Template, TemplateError, json_quoted_into};

/// A webhook's body: key/value pairs, or a custom JSON template.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BodySpec {
    /// `{"pairs": {key: template}}`: key: Liquid template (text); sent as a JSON object of strings
    Pairs(IndexMap<String, String>),
    /// `{"custom": "template"}`: a Liquid template of a JSON body
    Custom(String),
}

impl utoipa::ToSchema for BodySpec {}

/// `{"pairs": {..}}` or `{"custom": ".."}`, each with that one key.
impl utoipa::PartialSchema for BodySpec {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::{ObjectBuilder, OneOfBuilder, Type};
        let variant = |key: &str, value: ObjectBuilder, description: &str| {
            ObjectBuilder::new()
                .property(key, value)
                .required(key)
                .additional_properties(Some(
                    utoipa::openapi::schema::AdditionalProperties::FreeForm(false),
                ))
                .description(Some(description))
        };
        let string = || ObjectBuilder::new().schema_type(Type::String);
        OneOfBuilder::new()
            .item(variant(
                "pairs",
                ObjectBuilder::new()
                    .schema_type(Type::Object)
                    .additional_properties(Some(string())),
                "key: Liquid template (text); sent as a JSON object of strings",
            ))
            .item(variant(
                "custom",
                string(),
                "A Liquid template of a JSON body",
            ))
            .description(Some("Key/value pairs, or a custom JSON template"))
            .into()
    }
}

/// The JSON form of a webhook, as the API and the CLI read and write it:
/// `{"name", "events", "method", "url", "headers", "body": {"pairs": {..}} | {"custom": ".."}, "enabled"}`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookSpec {
    #[schema(min_length = 1, pattern = r"\S")]
    pub name: String,
    /// Triggers: event kinds, `prefix.*`, or `*`.
    #[schema(min_items = 1, value_type = Vec<Trigger>)]
    pub events: Vec<String>,
    /// `POST` when absent or null
    #[schema(required = false, nullable)]
    pub method: Method,
    /// A Liquid template of an http(s) URL whose scheme and host are literal
    #[schema(pattern = "^[Hh][Tt][Tt][Pp][Ss]?://")]
    pub url: String,
    /// Header name (an HTTP token) → Liquid template of the value, in order. Secret values are
    /// shown as `********`.
    #[serde(default)]
    #[schema(schema_with = header_templates)]
    pub headers: IndexMap<String, String>,
    /// No body when null or absent.
    #[serde(default)]
    pub body: Option<BodySpec>,
    /// `true` when absent or null (on an update: the current state)
    #[serde(default = "enabled_default")]
    #[schema(required = false, nullable)]
    pub enabled: bool,
    /// Headers (of `headers`) whose values are secrets besides those named like credentials
    /// (Authorization, Cookie, *token*, *key*, ...). Secret values are write-only: answers show
    /// them as `********`, and a definition sent back with `********` keeps the stored value;
    /// they are sealed at rest.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(nullable)]
    pub secret_headers: Vec<String>,
    /// How requests are signed (`symmetric` when absent or null): see `GET …/secret`. A change
    /// makes a key of the new scheme; the old key keeps signing too for 24 hours.
    #[serde(default, skip_serializing_if = "is_default")]
    #[schema(required = false, nullable)]
    pub signing: Scheme,
    /// At most this many requests a second or a minute, evenly spaced, across all of the
    /// webhook's work; what exceeds waits its turn in order. None when absent or null.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    /// At most this many requests under way at once (and never more than
    /// `delivery.concurrency_per_webhook`). None when absent or null.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 1000)]
    pub max_in_flight: Option<u32>,
    /// `fifo`: one request at a time, in the order the events were accepted; a delivery that
    /// fails holds the ones behind it until it succeeds or fails permanently. `unordered` (the
    /// default when absent or null): concurrent.
    #[serde(default, skip_serializing_if = "is_default")]
    #[schema(required = false, nullable)]
    pub ordering: Ordering,
}

/// The order deliveries go out in.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Ordering {
    #[default]
    Unordered,
    Fifo,
}

/// Whether an option is at its default (left out of the JSON form then).
fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

/// `{"requests": N, "per": "1s" | "1m"}`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    #[schema(minimum = 1, maximum = 100_000)]
    pub requests: u32,
    pub per: Per,
}

/// The period of a rate limit.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
pub enum Per {
    #[serde(rename = "1s")]
    Second,
    #[serde(rename = "1m")]
    Minute,
}

/// Requests a rate limit allows at most.
const MAX_RATE_REQUESTS: u64 = 100_000;
/// `max_in_flight` at most.
const MAX_IN_FLIGHT: u64 = 1000;

impl RateLimit {
    /// The least time between two requests' starts.
    pub fn interval(&self) -> std::time::Duration {
        let per = match self.per {
            Per::Second => std::time::Duration::from_secs(1),
            Per::Minute => std::time::Duration::from_secs(60),
        };
        per / self.requests.max(1)
    }

    fn from_json(value: &Value) -> Result<RateLimit, ValidationError> {
        let Value::Object(obj) = value else {
            return Err(expected(
                "rate_limit",
                "an object like {\"requests\": 100, \"per\": \"1s\"}",
                value,
            ));
        };
        if let Some(unknown) = obj
            .keys()
            .find(|k| !matches!(k.as_str(), "requests" | "per"))
        {
            return Err(ValidationError::new(
                format!("rate_limit.{unknown}"),
                "unknown field (expected requests, per)",
            ));
        }
        let requests = match obj.get("requests") {
            Some(Value::Number(n)) => n
                .as_u64()
                .filter(|n| (1..=MAX_RATE_REQUESTS).contains(n))
                .ok_or_else(|| {
                    ValidationError::new(
                        "rate_limit.requests",
                        format!("a whole number from 1 to {MAX_RATE_REQUESTS}, not {n}"),
                    )
                })?,
            None | Some(Value::Null) => {
                return Err(ValidationError::new("rate_limit.requests", "is required"));
            }
            Some(other) => return Err(expected("rate_limit.requests", "a whole number", other)),
        };
        let per = match obj.get("per") {
            Some(Value::String(s)) if s == "1s" => Per::Second,
            Some(Value::String(s)) if s == "1m" => Per::Minute,
            None | Some(Value::Null) => {
                return Err(ValidationError::new(
                    "rate_limit.per",
                    "is required: \"1s\" or \"1m\"",
                ));
            }
            Some(other) => return Err(expected("rate_limit.per", "\"1s\" or \"1m\"", other)),
        };
        Ok(RateLimit {
            requests: requests as u32,
            per,
        })
    }
}

impl WebhookSpec {
    /// The limits its requests are sent under, `concurrency` (the server's per-webhook
    /// concurrency) bounding `max_in_flight`.
    pub fn limits(&self, concurrency: usize) -> crate::pacing::Limits {
        crate::pacing::Limits {
            interval: self.rate_limit.map(|r| r.interval()),
            max_in_flight: self
                .max_in_flight
                .map_or(concurrency, |m| (m as usize).min(concurrency)),
        }
    }
}

/// The schema of `headers`: names are HTTP tokens, values templates; null is none.
fn header_templates() -> utoipa::openapi::Object {
    use utoipa::openapi::{ObjectBuilder, Type, schema::SchemaType};
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Object, Type::Null]))
        .property_names(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some("^[!#$%&'*+\\-.^_`|~0-9A-Za-z]+$")),
        ))
        .additional_properties(Some(ObjectBuilder::new().schema_type(Type::String)))
        .description(Some(
            "Header name (an HTTP token) → Liquid template of the value, in order. Secret \
             values are shown as `********`.",
        ))
        .build()
}

/// A trigger: an exact event kind, `prefix.*`, or `*`.
#[derive(utoipa::ToSchema)]
#[schema(value_type = String, pattern = r"^(\*|[^\s*\u0000-\u001f\u007f-\u009f]+(\.\*)?)$")]
#[allow(dead_code)]
pub struct Trigger(String);

fn enabled_default() -> bool {
    true
}

/// A checked webhook with its templates parsed. Cheap to share (`Send + Sync`).
#[derive(Debug)]
pub struct Webhook {
    spec: WebhookSpec,
    url: Template,
    headers: Vec<(String, Template)>,
    body: Option<Body>,
    /// Whether the webhook sets its own `Content-Type`.
    has_content_type: bool,
    /// The render budget of each render.
    limits: Limits,
}

#[derive(Debug)]
enum Body {
    Pairs(Vec<(String, Template)>),
    Custom(Template),
}

/// Why a webhook definition is refused; names the field and, for templates, the line and column.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ValidationError {
    /// The field's path: `url`, `headers.Authorization`, `body.custom`, `events[1]`…
    pub field: String,
    pub message: String,
    /// 1-based line in the field's template, for template errors.
    pub line: Option<usize>,
    /// 1-based column (in characters) in the field's template, for template errors.
    pub column: Option<usize>,
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(line), Some(column)) => write!(
                f,
                "{}: line {line}, column {column}: {}",
                self.field, self.message
            ),
            _ => write!(f, "{}: {}", self.field, self.message),
        }
    }
}

impl ValidationError {
    fn new(field: impl Into<String>, message: impl Into<String>) -> ValidationError {
        ValidationError {
            field: field.into(),
            message: message.into(),
            line: None,
            column: None,
        }
    }

    fn template(field: impl Into<String>, e: TemplateError) -> ValidationError {
        ValidationError {
            field: field.into(),
            message: e.message,
            line: Some(e.line),
            column: Some(e.column),
        }
    }
}

/// Why rendering a webhook for one event failed (e.g. a custom body that is not JSON).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct RenderError {
    pub field: String,
    pub message: String,
}

fn render_error(field: impl Into<String>, message: impl Into<String>) -> RenderError {
    RenderError {
        field: field.into(),
        message: message.into(),
    }
}

/// Headers the HTTP client sets itself; a webhook may not.
pub const FORBIDDEN_HEADERS: &[&str] = &[
    "connection",
    "content-length",
    "expect",
    "host",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Fields an API view of a webhook carries besides its definition. `from_json` skips them, so what
/// a GET returned can be sent back in a PUT.
pub const READ_ONLY_FIELDS: &[&str] = &["id", "app_id", "status", "created_at", "updated_at"];

const SPEC_FIELDS: &[&str] = &[
    "name",
    "events",
    "method",
    "url",
    "headers",
    "body",
    "enabled",
    "secret_headers",
    "signing",
    "rate_limit",
    "max_in_flight",
    "ordering",
];

fn expected(field: &str, what: &str, found: &Value) -> ValidationError {
    ValidationError::new(field, format!("expected {what}, found {}", kind_of(found)))
}

fn string_map(field: &str, value: &Value) -> Result<IndexMap<String, String>, ValidationError> {
    let Value::Object(obj) = value else {
        return Err(expected(field, "an object of strings", value));
    };
    obj.iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k.clone(), s.clone())),
            other => Err(expected(&format!("{field}.{k}"), "a string", other)),
        })
        .collect()
}

impl WebhookSpec {
    /// Parses and checks the JSON form; errors name the field. Unknown fields are refused, so a
    /// typo (`"header"`) is not silently ignored; the [`READ_ONLY_FIELDS`] of an API view are skipped.
    pub fn from_json(value: &Value) -> Result<WebhookSpec, ValidationError> {
        let Value::Object(obj) = value else {
            return Err(expected("webhook", "a JSON object", value));
        };
        if let Some(unknown) = obj
            .keys()
            .find(|k| !SPEC_FIELDS.contains(&k.as_str()) && !READ_ONLY_FIELDS.contains(&k.as_str()))
        {
            return Err(ValidationError::new(
                unknown.as_str(),
                format!(
                    "unknown field (expected one of: {})",
                    SPEC_FIELDS.join(", ")
                ),
            ));
        }
        let name = match obj.get("name") {
            Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
            Some(Value::String(_)) => {
                return Err(ValidationError::new("name", "must not be empty"));
            }
            None | Some(Value::Null) => return Err(ValidationError::new("name", "is required")),
            Some(other) => return Err(expected("name", "a string", other)),
        };
        let events = match obj.get("events") {
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, v)| match v {
                    Value::String(s) => Ok(s.clone()),
                    other => Err(expected(&format!("events[{i}]"), "a string", other)),
                })
                .collect::<Result<Vec<_>, _>>()?,
            None | Some(Value::Null) => {
                return Err(ValidationError::new(
                    "events",
                    "is required: a list of event kinds, like [\"message.push.sent\"]",
                ));
            }
            Some(other) => return Err(expected("events", "an array of event kinds", other)),
        };
        let method = match obj.get("method") {
            None | Some(Value::Null) => Method::Post,
            Some(Value::String(s)) => {
                Method::parse(&s.to_ascii_uppercase()).ok_or_else(|| method_error(s))?
            }
            Some(other) => return Err(expected("method", "a string", other)),
        };
        let url = match obj.get("url") {
            Some(Value::String(s)) => s.clone(),
            None | Some(Value::Null) => return Err(ValidationError::new("url", "is required")),
            Some(other) => return Err(expected("url", "a string", other)),
        };
        let headers = match obj.get("headers") {
            None | Some(Value::Null) => IndexMap::new(),
            Some(v) => string_map("headers", v)?,
        };
        let body = match obj.get("body") {
            None | Some(Value::Null) => None,
            Some(Value::Object(b)) => {
                let mut keys = b.keys();
                match (keys.next().map(String::as_str), keys.next()) {
                    (Some("pairs"), None) => {
                        Some(BodySpec::Pairs(string_map("body.pairs", &b["pairs"])?))
                    }
                    (Some("custom"), None) => match &b["custom"] {
                        Value::String(s) => Some(BodySpec::Custom(s.clone())),
                        other => {
                            return Err(expected("body.custom", "a string (the template)", other));
                        }
                    },
                    _ => {
                        return Err(ValidationError::new(
                            "body",
                            "expected {\"pairs\": {key: template}} or {\"custom\": \"template\"}",
                        ));
                    }
                }
            }
            Some(other) => return Err(expected("body", "an object", other)),
        };
        let enabled = match obj.get("enabled") {
            None | Some(Value::Null) => true,
            Some(Value::Bool(b)) => *b,
            Some(other) => return Err(expected("enabled", "true or false", other)),
        };
        let secret_headers = match obj.get("secret_headers") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => {
                let mut names = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    let field = format!("secret_headers[{i}]");
                    let Value::String(name) = item else {
                        return Err(expected(&field, "a header name", item));
                    };
                    if !headers.keys().any(|h| h.eq_ignore_ascii_case(name)) {
                        return Err(ValidationError::new(
                            field,
                            format!("{name:?} is not one of the webhook's headers"),
                        ));
                    }
                    names.push(name.clone());
                }
                names
            }
            Some(other) => return Err(expected("secret_headers", "a list of header names", other)),
        };
        let signing = match obj.get("signing") {
            None | Some(Value::Null) => Scheme::default(),
            Some(Value::String(s)) => Scheme::parse(s).ok_or_else(|| {
                ValidationError::new(
                    "signing",
                    format!("expected symmetric or ed25519, found {s:?}"),
                )
            })?,
            Some(other) => return Err(expected("signing", "symmetric or ed25519", other)),
        };
        let rate_limit = match obj.get("rate_limit") {
            None | Some(Value::Null) => None,
            Some(v) => Some(RateLimit::from_json(v)?),
        };
        let max_in_flight = match obj.get("max_in_flight") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => Some(
                n.as_u64()
                    .filter(|n| (1..=MAX_IN_FLIGHT).contains(n))
                    .ok_or_else(|| {
                        ValidationError::new(
                            "max_in_flight",
                            format!("a whole number from 1 to {MAX_IN_FLIGHT}, not {n}"),
                        )
                    })? as u32,
            ),
            Some(other) => return Err(expected("max_in_flight", "a whole number", other)),
        };
        let ordering = match obj.get("ordering") {
            None | Some(Value::Null) => Ordering::Unordered,
            Some(Value::String(s)) if s == "unordered" => Ordering::Unordered,
            Some(Value::String(s)) if s == "fifo" => Ordering::Fifo,
            Some(Value::String(s)) => {
                return Err(ValidationError::new(
                    "ordering",
                    format!("expected \"fifo\" or \"unordered\", found {s:?}"),
                ));
            }
            Some(other) => return Err(expected("ordering", "\"fifo\" or \"unordered\"", other)),
        };
        let spec = WebhookSpec {
            name,
            events,
            method,
            url,
            headers,
            body,
            enabled,
            secret_headers,
            signing,
            rate_limit,
            max_in_flight,
            ordering,
        };
        spec.check_events()?;
        Ok(spec)
    }

    /// The JSON form (what `from_json` reads).
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    fn check_events(&self) -> Result<(), ValidationError> {
        if self.events.is_empty() {
            return Err(ValidationError::new(
                "events",
                "needs at least one event kind, like \"message.push.sent\"",
            ));
        }
        for (i, trigger) in self.events.iter().enumerate() {
            check_trigger(trigger).map_err(|m| ValidationError::new(format!("events[{i}]"), m))?;
        }
        Ok(())
    }
}

fn method_error(found: &str) -> ValidationError {
    ValidationError::new(
        "method",
        format!("expected one of GET, POST, PUT, PATCH, DELETE, found {found:?}"),
    )
}

/// A trigger: a kind, `prefix.*`, or `*`.
fn check_trigger(trigger: &str) -> Result<(), String> {
    if trigger == "*" {
        return Ok(());
    }
    let kind = trigger.strip_suffix(".*").unwrap_or(trigger);
    if kind.is_empty() {
        return Err("must not be empty".into());
    }
    if kind.contains('*') {
        return Err(format!(
            "{trigger:?}: `*` may only end a trigger, as in \"message.push.*\""
        ));
    }
    if let Some(c) = kind.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("{trigger:?} must not contain {c:?}"));
    }
    Ok(())
}

/// Whether `name` is an HTTP header name (an RFC 9110 token).
fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

impl Webhook {
    /// Checks the definition and parses every template.
    pub fn compile(spec: WebhookSpec) -> Result<Webhook, ValidationError> {
        if spec.name.trim().is_empty() {
            return Err(ValidationError::new("name", "must not be empty"));
        }
        spec.check_events()?;
        let url = Template::parse(&spec.url, Position::Url)
            .map_err(|e| ValidationError::template("url", e))?;
        let mut headers = Vec::with_capacity(spec.headers.len());
        let mut has_content_type = false;
        for (name, value) in &spec.headers {
            let field = format!("headers.{name}");
            if !is_header_name(name) {
                return Err(ValidationError::new(
                    field,
                    "is not a valid header name (letters, digits and !#$%&'*+-.^_`|~ only)",
                ));
            }
            let lower = name.to_ascii_lowercase();
            if FORBIDDEN_HEADERS.contains(&lower.as_str()) {
                return Err(ValidationError::new(
                    field,
                    "is set by the HTTP client and cannot be templated",
                ));
            }
            if headers
                .iter()
                .any(|(n, _): &(String, Template)| n.eq_ignore_ascii_case(name))
            {
                return Err(ValidationError::new(
                    field,
                    "is given twice (header names are case-insensitive)",
                ));
            }
            has_content_type |= lower == "content-type";
            if let Some(at) = value.find(['\r', '\n']) {
                let (line, column) = crate::template::line_column(value, at);
                return Err(ValidationError {
                    field,
                    message: "a header value cannot contain a line break".into(),
                    line: Some(line),
                    column: Some(column),
                });
            }
            let template = Template::parse(value, Position::Text)
                .map_err(|e| ValidationError::template(field.clone(), e))?;
            headers.push((name.clone(), template));
        }
        let body = match &spec.body {
            None => None,
            Some(BodySpec::Pairs(pairs)) => Some(Body::Pairs(
                pairs
                    .iter()
                    .map(|(key, value)| {
                        Template::parse(value, Position::Text)
                            .map(|t| (key.clone(), t))
                            .map_err(|e| ValidationError::template(format!("body.pairs.{key}"), e))
                    })
                    .collect::<Result<_, _>>()?,
            )),
            Some(BodySpec::Custom(text)) => {
                if text.trim().is_empty() {
                    return Err(ValidationError::new(
                        "body.custom",
                        "is empty: write a JSON document, or leave the body out",
                    ));
                }
                Some(Body::Custom(
                    Template::parse(text, Position::Json)
                        .map_err(|e| ValidationError::template("body.custom", e))?,
                ))
            }
        };
        Ok(Webhook {
            spec,
            url,
            headers,
            body,
            has_content_type,
            limits: Limits::default(),
        })
    }

    /// Renders within `limits` instead of the default ones (the server's `[templates]`).
    pub fn with_limits(mut self, limits: Limits) -> Webhook {
        self.limits = limits;
        self
    }

    /// Every template with the field it renders, in the order a render takes them.
    fn templates(&self) -> impl Iterator<Item = (String, &Template)> {
        let headers = self
            .headers
            .iter()
            .map(|(name, template)| (format!("headers.{name}"), template));
        let body: Vec<(String, &Template)> = match &self.body {
            None => Vec::new(),
            Some(Body::Pairs(pairs)) => pairs
                .iter()
                .map(|(key, template)| (format!("body.pairs.{key}"), template))
                .collect(),
            Some(Body::Custom(template)) => vec![("body.custom".to_owned(), template)],
        };
        std::iter::once(("url".to_owned(), &self.url))
            .chain(headers)
            .chain(body)
    }

    /// Whether every template is literal text and bare values: such a webhook renders in
    /// microseconds whatever the event, while one with tags or filters may take up to its whole
    /// budget (see [`Webhook::render_async`]).
    pub fn renders_quickly(&self) -> bool {
        self.templates().all(|(_, template)| template.is_plain())
    }

    /// Parses, checks and compiles the JSON form in one step, as a save does (see [`Webhook::checked`]).
    pub fn from_json(value: &Value) -> Result<Webhook, ValidationError> {
        Webhook::compile(WebhookSpec::from_json(value)?)?.checked()
    }

    /// The checks a save makes beyond compiling: a render for a sample event of its first trigger,
    /// and one with every property missing. Missing means empty, so a render can only fail on the
    /// render budget; a webhook over it for either is refused, naming the field where the budget
    /// ran out. A tag-free custom body has the same JSON structure for every event (each value
    /// lands as a JSON literal or inside a string), so the sample's render tells whether it is
    /// JSON at all, and a stray comma is refused when saved rather than failing every attempt.
    /// Not made for webhooks already stored, so one saved before a check keeps being attempted,
    /// each attempt saying why it fails. Takes up to the whole budget: see
    /// [`Webhook::checked_async`].
    pub fn checked(self) -> Result<Webhook, ValidationError> {
        let sample = crate::samples::sample_event(self.spec.events.first().map_or("", |k| k));
        let bare = Data::Object(vec![
            ("event".to_owned(), Data::Object(Vec::new())),
            ("message".to_owned(), Data::Nil),
        ]);
        let samples = [
            (sample.template_data(), ""),
            (&bare, " (rendered with every property missing)"),
        ];
        let mut custom_body = None;
        for (data, described) in &samples {
            let mut budget = Budget::new(self.limits);
            for (field, template) in self.templates() {
                let mut out = String::new();
                match template.render_within(&mut out, data, &mut budget) {
                    Ok(()) if field == "body.custom" && template.is_tag_free() => {
                        custom_body.get_or_insert(out);
                    }
                    Ok(()) => {}
                    Err(message) => {
                        return Err(ValidationError::new(field, format!("{message}{described}")));
                    }
                }
            }
        }
        if let Some(text) = custom_body
            && let Err(e) = check_json(&text)
        {
            return Err(ValidationError::new(
                "body.custom",
                format!(
                    "{} (rendered for a sample {} event)",
                    e.message,
                    sample.kind()
                ),
            ));
        }
        Ok(self)
    }

    pub fn spec(&self) -> &WebhookSpec {
        &self.spec
    }

    pub fn enabled(&self) -> bool {
        self.spec.enabled
    }

    /// Whether header `name`'s value is a secret: named like a credential, or marked in
    /// `secret_headers`.
    pub fn is_secret_header(&self, name: &str) -> bool {
        crate::secrets::is_secret(&self.spec, name)
    }

    /// Whether an event of this kind triggers the webhook.
    pub fn matches(&self, kind: &str) -> bool {
        self.spec.events.iter().any(|t| trigger_matches(t, kind))
    }

    /// The exact request this webhook sends for `event`. Takes up to the whole render budget when
    /// the webhook uses tags or filters: on an async runtime, see [`Webhook::render_async`].
    pub fn render(&self, event: &Event) -> Result<RenderedRequest, RenderError> {
        let data = event.template_data();
        let mut budget = Budget::new(self.limits);
        let render = |template: &Template, budget: &mut Budget| {
            let mut out = String::with_capacity(template.source().len() + 64);
            template.render_within(&mut out, data, budget).map(|()| out)
        };
        let url = render(&self.url, &mut budget).map_err(|m| render_error("url", m))?;
        check_rendered_url(&url)?;
        let mut headers = Vec::with_capacity(self.headers.len() + 1);
        for (name, template) in &self.headers {
            let value = render(template, &mut budget)
                .map_err(|m| render_error(format!("headers.{name}"), m))?;
            if let Some(c) = value.chars().find(|&c| c.is_ascii_control() && c != '\t') {
                let what = match c {
                    '\r' => "a carriage return (CR)".to_owned(),
                    '\n' => "a line feed (LF)".to_owned(),
                    c => format!("the control character {c:?}"),
                };
                return Err(render_error(
                    format!("headers.{name}"),
                    format!(
                        "the rendered value contains {what}, which could inject a header; refused"
                    ),
                ));
            }
            headers.push((name.clone(), value));
        }
        let body = match &self.body {
            None => None,
            Some(Body::Pairs(pairs)) => {
                let mut out = String::with_capacity(64 * pairs.len() + 2);
                let mut value = String::new();
                out.push('{');
                for (i, (key, template)) in pairs.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    json_quoted_into(&mut out, key);
                    out.push(':');
                    value.clear();
                    template
                        .render_within(&mut value, data, &mut budget)
                        .map_err(|m| render_error(format!("body.pairs.{key}"), m))?;
                    json_quoted_into(&mut out, &value);
                }
                out.push('}');
                Some(out)
            }
            Some(Body::Custom(template)) => {
                let text =
                    render(template, &mut budget).map_err(|m| render_error("body.custom", m))?;
                check_json(&text)?;
                Some(text)
            }
        };
        if body.is_some() && !self.has_content_type {
            headers.push(("Content-Type".to_owned(), "application/json".to_owned()));
        }
        Ok(RenderedRequest {
            method: self.spec.method,
            url,
            headers,
            body,
        })
    }
}

impl Webhook {
    /// [`Webhook::render`] for a caller on the async runtime: a webhook that
    /// [renders quickly](Webhook::renders_quickly) renders in place, any other on tokio's blocking
    /// pool, so that a render using its whole budget never holds a runtime thread.
    pub async fn render_async(
        self: Arc<Self>,
        event: Arc<Event>,
    ) -> Result<RenderedRequest, RenderError> {
        if self.renders_quickly() {
            return self.render(&event);
        }
        match tokio::task::spawn_blocking(move || self.render(&event)).await {
            Ok(rendered) => rendered,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Err(render_error("webhook", STOPPING)),
        }
    }

    /// [`Webhook::checked`] on tokio's blocking pool, for a caller on the async runtime.
    pub async fn checked_async(self) -> Result<Webhook, ValidationError> {
        match tokio::task::spawn_blocking(move || self.checked()).await {
            Ok(checked) => checked,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Err(ValidationError::new("webhook", STOPPING)),
        }
    }
}

/// A blocking task is cancelled only when the runtime shuts down.
const STOPPING: &str = "not rendered: the server is stopping";

/// A kind matches a trigger equal to it, a `prefix.*` it starts with, or `*`.
pub fn trigger_matches(trigger: &str, kind: &str) -> bool {
    if trigger == "*" {
        return true;
    }
    match trigger.strip_suffix('*') {
        Some(prefix) => kind.len() > prefix.len() && kind.starts_with(prefix),
        None => trigger == kind,
    }
}

/// Refuses a rendered URL whose path has a `.` or `..` segment (HTTP clients would resolve it).
fn check_rendered_url(url: &str) -> Result<(), RenderError> {
    let after_scheme = url.find("://").map_or(0, |n| n + 3);
    let rest = &url[after_scheme..];
    let Some(path_start) = rest.find('/') else {
        return Ok(());
    };
    let path = &rest[path_start..];
    let path = &path[..path.find(['?', '#']).unwrap_or(path.len())];
    for segment in path.split('/') {
        // Only a segment of at most six bytes (`%2e%2e`) can be a dot segment once decoded.
        if segment.len() > 6 {
            continue;
        }
        let decoded = segment.to_ascii_lowercase().replace("%2e", ".");
        if decoded == "." || decoded == ".." {
            return Err(render_error(
                "url",
                format!(
                    "the rendered path has a {segment:?} segment, which would change the path; refused"
                ),
            ));
        }
    }
    Ok(())
}

/// Checks that a rendered custom body is JSON; the error quotes the line.
fn check_json(text: &str) -> Result<(), RenderError> {
    let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(text) else {
        return Ok(());
    };
    let line_text = text.lines().nth(e.line().saturating_sub(1)).unwrap_or("");
    let shown: String = line_text.trim().chars().take(80).collect();
    Err(render_error(
        "body",
        format!("the rendered body is not valid JSON: {e} (the line reads: {shown})"),
    ))
}
