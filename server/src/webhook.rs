//! A webhook definition: triggers, method, URL, headers and body templates; checked and compiled once.
// CONTRACT STUB written by the lead: the core helper owns this file and fills it in; keep the
// public names below (the server is written against them).

use crate::event::Event;
use crate::request::RenderedRequest;

/// The JSON form of a webhook, as the API and the CLI read and write it:
/// `{"name", "events", "method", "url", "headers", "body": {"pairs": {..}} | {"custom": ".."}, "enabled"}`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WebhookSpec {
    // fields are the core's to choose
}

/// A checked webhook with its templates parsed. Cheap to share (`Send + Sync`).
#[derive(Debug)]
pub struct Webhook {}

/// Why a webhook definition is refused; names the field and, for templates, the line and column.
#[derive(Debug, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    pub field: String,
    pub message: String,
}

/// Why rendering a webhook for one event failed (e.g. a custom body that is not JSON).
#[derive(Debug, thiserror::Error)]
#[error("{field}: {message}")]
pub struct RenderError {
    pub field: String,
    pub message: String,
}

impl WebhookSpec {
    /// Parses and checks the JSON form; errors name the field.
    pub fn from_json(_value: &serde_json::Value) -> Result<WebhookSpec, ValidationError> {
        todo!()
    }
}

impl Webhook {
    /// Checks the definition and parses every template.
    pub fn compile(_spec: WebhookSpec) -> Result<Webhook, ValidationError> {
        todo!()
    }
    pub fn spec(&self) -> &WebhookSpec {
        todo!()
    }
    pub fn enabled(&self) -> bool {
        todo!()
    }
    /// Whether an event of this kind triggers the webhook.
    pub fn matches(&self, _kind: &str) -> bool {
        todo!()
    }
    /// The exact request this webhook sends for `event`.
    pub fn render(&self, _event: &Event) -> Result<RenderedRequest, RenderError> {
        todo!()
    }
}
