//! The OpenAPI document served at `/openapi.json`, generated from the code: each handler's
//! `#[utoipa::path]` (its route, parameters, body and answers) and the types it reads and answers
//! with. A route is added only through [`super::Routes::routes`], which documents it, so the
//! document lists every route there is.
//!
//! What every resource shares lives here: the error answer, the path parameters and the keys.

use serde::{Deserialize, Serialize};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoParams, IntoResponses, ToSchema};

/// The root of the document; the paths come from the routes.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "hookline",
        description = "Event webhooks: apps and keys, webhook definitions with Liquid templates, \
            durable ingest, delivery with retries and auto-disable, stats, logs, and the bridge \
            from the browser half. Errors are `{\"error\": {\"code\", \"message\"}}`. Times are \
            unix milliseconds unless said otherwise."
    ),
    components(schemas(ErrorBody)),
    modifiers(&Keys)
)]
pub struct Root;

/// The two bearer keys: `adminKey` and `appKey`.
struct Keys;

impl utoipa::Modify for Keys {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        let bearer = |description: &str| {
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(description))
                    .build(),
            )
        };
        components.add_security_scheme(
            "adminKey",
            bearer("HOOKLINE_ADMIN_KEY, or the key printed on first start"),
        );
        components.add_security_scheme(
            "appKey",
            bearer("The app's api_key (the admin key also works)"),
        );
    }
}

/// Every error: `{"error": {"code", "message"}}`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable: invalid_json, invalid_event, invalid_webhook, payload_too_large, unauthorized,
    /// forbidden, not_found, render_error, blocked_address, ...
    pub code: &'static str,
    /// For people; may change.
    pub message: String,
}

/// The errors of a route opened by an app's key (or the admin key).
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum AppErrors {
    /// Invalid input: the message names what is wrong
    #[response(status = 400)]
    BadRequest(ErrorBody),
    /// Missing or invalid key
    #[response(status = 401)]
    Unauthorized(ErrorBody),
    /// The key belongs to another app
    #[response(status = 403)]
    Forbidden(ErrorBody),
    /// No such app, webhook or delivery
    #[response(status = 404)]
    NotFound(ErrorBody),
    /// The store failed; try again
    #[response(status = 503)]
    Unavailable(ErrorBody),
}

/// The errors of a route that reads a body: too large, or too slow to arrive.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum BodyErrors {
    /// The body did not arrive within `limits.body_timeout`
    #[response(status = 408)]
    Timeout(ErrorBody),
    /// The body is larger than `max_body_bytes`
    #[response(status = 413)]
    TooLarge(ErrorBody),
}

/// An app.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct AppPath {
    /// The app's id
    pub app_id: String,
}

/// A webhook of an app.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct WebhookPath {
    /// The app's id
    pub app_id: String,
    /// The webhook's id
    pub id: String,
}

/// A delivery of a webhook.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct DeliveryPath {
    /// The app's id
    pub app_id: String,
    /// The webhook's id
    pub id: String,
    /// The delivery's id
    pub delivery_id: String,
}
