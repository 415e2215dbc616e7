//! `/v1/apps/{app_id}/webhooks`: definitions (create, list, get, update, delete, enable,
//! disable), preview and test send, stats, logs, and deliveries with replay.

use std::sync::Arc;

use super::{Path, Query};
use axum::Json;
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::routes;

use super::doc::{AppErrors, AppPath, BodyErrors, DeliveryPath, ErrorBody, WebhookPath};
use super::events::EventShape;
use super::{ApiError, ApiResult, AppState, JsonBody, OptionalJsonBody, State};
use crate::config::LimitsConfig;
use crate::delivery::{LoggedAnswer, LoggedRequest, redact_headers, request_log};
use crate::event::Event;
use crate::request::RenderedRequest;
use crate::signing::Signer;
use crate::stats::{Counts, Percentiles, Point};
use crate::store::{
    DeliveryCounts, DeliveryIds, DeliveryRecord, DeliveryState, Leftovers, LogRecord,
    WebhookRecord, now_ms,
};
use crate::webhook::{BodySpec, Webhook, WebhookSpec};

pub fn router() -> super::Routes {
    super::Routes::new()
        .routes(routes!(create, list))
        .routes(routes!(preview_unsaved))
        .routes(routes!(read, update, remove))
        .routes(routes!(enable))
        .routes(routes!(disable))
        .routes(routes!(preview, preview_get))
        .routes(routes!(test_send))
        .routes(routes!(secret))
        .routes(routes!(rotate_secret))
        .routes(routes!(stats))
        .routes(routes!(logs))
        .routes(routes!(deliveries))
        .routes(routes!(replay_all))
        .routes(routes!(replay_one))
}

/// A webhook as the API shows it: its definition (secret values shown as `********`), id,
/// status and times. Sent back to `PUT`, it keeps every value as it was.
#[derive(Serialize, ToSchema)]
#[schema(as = Webhook)]
pub struct WebhookView {
    id: String,
    app_id: String,
    name: String,
    events: Vec<String>,
    method: crate::request::Method,
    url: String,
    headers: indexmap::IndexMap<String, String>,
    body: Option<BodySpec>,
    enabled: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    secret_headers: Vec<String>,
    signing: crate::signing::Scheme,
    rate_limit: Option<crate::webhook::RateLimit>,
    max_in_flight: Option<u32>,
    ordering: crate::webhook::Ordering,
    status: Status,
    /// Unix milliseconds
    created_at: i64,
    /// Unix milliseconds
    updated_at: i64,
}

/// Whether a webhook sends, and if not, why and since when.
#[derive(Serialize, ToSchema)]
pub struct Status {
    #[schema(inline)]
    state: StatusState,
    /// Why it was disabled (`disabled by a user`, or the failures that disabled it)
    reason: Option<String>,
    /// Unix milliseconds
    disabled_at: Option<i64>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
enum StatusState {
    Enabled,
    Disabled,
}

#[derive(Serialize, ToSchema)]
struct WebhookList {
    webhooks: Vec<WebhookView>,
}

/// The event of a preview or a test send: a given one, a sample of a kind, or (empty body) a
/// sample of the webhook's first trigger.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct EventChoice {
    event: Option<EventShape>,
    /// A sample event of this kind
    kind: Option<String>,
}

/// An unsaved definition and the event to preview it with.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct UnsavedPreview {
    webhook: WebhookSpec,
    event: Option<EventShape>,
    /// A sample event of this kind
    kind: Option<String>,
}

/// A request as a preview shows it (secrets masked).
#[derive(Serialize, ToSchema)]
#[schema(as = Request)]
struct ShownRequest {
    method: &'static str,
    url: String,
    /// `[name, value]` pairs, in order
    #[schema(value_type = Vec<Vec<String>>)]
    headers: Vec<[String; 2]>,
    body: Option<String>,
}

impl From<&RenderedRequest> for ShownRequest {
    fn from(r: &RenderedRequest) -> ShownRequest {
        ShownRequest {
            method: r.method.as_str(),
            url: r.url.clone(),
            headers: r
                .headers
                .iter()
                .map(|(n, v)| [n.clone(), v.clone()])
                .collect(),
            body: r.body.clone(),
        }
    }
}

/// The exact request a webhook makes for an event, and its cURL form.
#[derive(Serialize, ToSchema)]
struct Preview {
    #[schema(value_type = EventShape)]
    event: Value,
    request: ShownRequest,
    /// The request as a cURL command (secret values masked, with a note saying so)
    curl: String,
}

/// What a test send did (also when the receiver failed).
#[derive(Serialize, ToSchema)]
struct TestResult {
    #[schema(value_type = EventShape)]
    event: Value,
    request: TestRequest,
    /// Null when nothing came back
    response: Option<LoggedAnswer>,
    /// `2xx`, `4xx`, `5xx`, `timeout`, `network_error`, `render_error`
    outcome: &'static str,
    success: bool,
    /// As in logs: ok, http_status, timeout, connect_error, blocked_address...
    error_code: &'static str,
    error: Option<String>,
    duration_ms: f64,
}

#[derive(Serialize, ToSchema)]
struct TestRequest {
    #[serde(flatten)]
    request: LoggedRequest,
    curl: String,
}

#[derive(Serialize, ToSchema)]
struct Stats {
    webhook_id: String,
    status: Status,
    all_time: AllTime,
    deliveries: DeliveryCounts,
    /// Its queue now (null while the server does not deliver it)
    queue: Option<crate::queue::QueueState>,
    series: Series,
}

#[derive(Serialize, ToSchema)]
struct AllTime {
    attempts: u64,
    counts: Counts,
    latency_ms: Percentiles,
}

/// Points `step` seconds apart over `[from, to)` (unix seconds), empty steps included.
#[derive(Serialize, ToSchema)]
struct Series {
    from: i64,
    to: i64,
    step: i64,
    points: Vec<Point>,
}

#[derive(Serialize, ToSchema)]
struct LogList {
    logs: Vec<LogRecord>,
}

#[derive(Serialize, ToSchema)]
struct DeliveryList {
    deliveries: Vec<DeliveryRecord>,
}

#[derive(Serialize, ToSchema)]
struct Replayed {
    /// Deliveries pending again
    replayed: u64,
}

/// The key a receiver verifies signatures with.
#[derive(Serialize, ToSchema)]
struct SigningSecret {
    /// `whsec_` and base64 (symmetric: the HMAC-SHA256 key is the base64-decoded part), or
    /// `whpk_` and base64 (ed25519: the raw 32-byte public key)
    key: String,
    /// When the key it replaced stops signing (unix milliseconds); null when none does
    previous_key_expires_at: Option<i64>,
}

/// `POST …/secret/rotate`'s body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct SecretRotation {
    /// How long the replaced secret keeps signing too: a duration (250ms, 5s, 5m, 2h, 1d); `0s`
    /// stops it at once. 24h when absent.
    grace: Option<String>,
}

/// A definition the server will not save: `422` (too many webhooks, a blocked address, a
/// template that does not render).
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
enum Unprocessable {
    /// `too_many_webhooks`, `blocked_address` or `render_error`
    #[response(status = 422)]
    Refused(ErrorBody),
}

fn invalid(e: crate::webhook::ValidationError) -> ApiError {
    ApiError::bad_request("invalid_webhook", e.to_string())
}

/// A webhook definition as sent, parsed and within the limits, or a 400 naming the field.
fn parse(limits: &LimitsConfig, body: &Value) -> ApiResult<WebhookSpec> {
    let spec = WebhookSpec::from_json(body).map_err(invalid)?;
    check_template_sizes(&spec, limits.max_template_bytes)?;
    Ok(spec)
}

/// A definition checked and compiled under the server's render budget, or a 400 naming the
/// field.
async fn compile(state: &AppState, spec: WebhookSpec) -> ApiResult<Webhook> {
    Webhook::compile(spec)
        .map_err(invalid)?
        .with_limits(state.config.templates)
        .checked_async()
        .await
        .map_err(invalid)
}

/// `500`: the stored definition of `record` cannot be read (and why, in the server's log).
fn unreadable(record: &WebhookRecord, why: String) -> ApiError {
    tracing::error!(webhook = %record.id, error = %why, "a stored webhook cannot be read");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "stored_webhook_unreadable",
        "the stored definition of this webhook cannot be read; save it again",
    )
}

/// The signing keys of `record`, opened (one of `scheme` made when it has none).
async fn stored_signer(
    state: &AppState,
    record: &WebhookRecord,
    scheme: crate::signing::Scheme,
) -> ApiResult<Signer> {
    crate::signing::signer_of(state.store.as_ref(), &state.sealer, record, scheme)
        .await
        .map_err(|e| unreadable(record, e))
}

/// The stored definition of `record`, its secrets opened.
fn stored_spec(state: &AppState, record: &WebhookRecord) -> ApiResult<WebhookSpec> {
    let spec =
        WebhookSpec::from_json(&record.spec).map_err(|e| unreadable(record, e.to_string()))?;
    state
        .sealer
        .open_spec(&spec)
        .map_err(|e| unreadable(record, e.to_string()))
}

/// Refuses a template (the URL, a header's value, the body) larger than `max` bytes, naming it.
fn check_template_sizes(spec: &WebhookSpec, max: usize) -> ApiResult<()> {
    let body = match &spec.body {
        None => 0,
        Some(BodySpec::Custom(text)) => text.len(),
        Some(BodySpec::Pairs(pairs)) => pairs.iter().map(|(k, v)| k.len() + v.len()).sum(),
    };
    let sizes = [
        ("url".to_string(), spec.url.len()),
        ("body".to_string(), body),
    ]
    .into_iter()
    .chain(
        spec.headers
            .iter()
            .map(|(name, value)| (format!("headers.{name}"), value.len())),
    );
    for (field, size) in sizes {
        if size > max {
            return Err(ApiError::bad_request(
                "invalid_webhook",
                format!(
                    "{field}: the template is {size} bytes, more than {max} (limits.max_template_bytes)"
                ),
            ));
        }
    }
    Ok(())
}

/// The cURL form of `shown` (a request with its secrets masked), with a note first when something
/// was masked.
fn shown_curl(request: &RenderedRequest, shown: &RenderedRequest) -> String {
    let curl = shown.to_curl();
    if shown == request {
        return curl;
    }
    format!(
        "# secret values are shown as {}: put yours in their place\n{curl}",
        crate::secrets::MASK
    )
}

/// A URL whose host is an address the server may not deliver to is refused when saved: `422
/// blocked_address`, naming `url`. (A host name is checked at each attempt, once resolved.)
fn check_target(state: &AppState, webhook: &Webhook) -> ApiResult<()> {
    state
        .queue
        .sender
        .policy()
        .check_url(&webhook.spec().url)
        .map_err(|blocked| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "blocked_address",
                format!("url: {blocked}"),
            )
        })
}

/// A webhook as the API shows it: its secrets masked (see `secrets`).
fn view(record: &WebhookRecord) -> ApiResult<WebhookView> {
    let spec = crate::secrets::masked_spec(
        &WebhookSpec::from_json(&record.spec).map_err(|e| unreadable(record, e.to_string()))?,
    );
    Ok(WebhookView {
        id: record.id.clone(),
        app_id: record.app_id.clone(),
        name: spec.name,
        events: spec.events,
        method: spec.method,
        url: spec.url,
        headers: spec.headers,
        body: spec.body,
        enabled: record.enabled,
        secret_headers: spec.secret_headers,
        signing: spec.signing,
        rate_limit: spec.rate_limit,
        max_in_flight: spec.max_in_flight,
        ordering: spec.ordering,
        status: status(record),
        created_at: record.created_at,
        updated_at: record.updated_at,
    })
}

fn status(record: &WebhookRecord) -> Status {
    if record.enabled {
        Status {
            state: StatusState::Enabled,
            reason: None,
            disabled_at: None,
        }
    } else {
        Status {
            state: StatusState::Disabled,
            reason: record.disabled_reason.clone(),
            disabled_at: record.disabled_at,
        }
    }
}

async fn find(state: &AppState, app_id: &str, id: &str) -> ApiResult<WebhookRecord> {
    state
        .store
        .get_webhook(app_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("webhook"))
}

/// [`authorized`], and the webhook as the queue delivers it (`404` when it does not: deleted
/// meanwhile, or a stored definition that no longer compiles).
async fn delivered(
    state: &AppState,
    headers: &HeaderMap,
    app_id: &str,
    id: &str,
) -> ApiResult<(WebhookRecord, Arc<crate::queue::WebhookHandle>)> {
    let record = authorized(state, headers, app_id, id).await?;
    let handle = state
        .queue
        .handle(id)
        .ok_or_else(|| ApiError::not_found("webhook"))?;
    Ok((record, handle))
}

/// The app's key checked, then its webhook `id` (a webhook of another app does not exist: `404`).
async fn authorized(
    state: &AppState,
    headers: &HeaderMap,
    app_id: &str,
    id: &str,
) -> ApiResult<WebhookRecord> {
    state.authorize_app(headers, app_id)?;
    find(state, app_id, id).await
}

/// Create a webhook
///
/// Every template is parsed and checked; an error names the field (and line and column).
#[utoipa::path(post, path = "/v1/apps/{app_id}/webhooks", tag = "webhooks", params(AppPath),
    security(("appKey" = [])), request_body = WebhookSpec,
    responses((status = 201, description = "The webhook", body = WebhookView), AppErrors,
        BodyErrors, Unprocessable))]
async fn create(
    state: State,
    Path(AppPath { app_id }): Path<AppPath>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> ApiResult<(StatusCode, Json<WebhookView>)> {
    state.authorize_app(&headers, &app_id)?;
    let spec = parse(&state.config.limits, &body)?;
    if let Some((name, _)) = spec
        .headers
        .iter()
        .find(|(_, v)| *v == crate::secrets::MASK)
    {
        return Err(ApiError::bad_request(
            "invalid_webhook",
            format!(
                "headers.{name}: {} stands for a stored secret, and a new webhook has none",
                crate::secrets::MASK
            ),
        ));
    }
    let webhook = compile(&state, spec).await?;
    check_target(&state, &webhook)?;
    let max = state.config.limits.max_webhooks_per_app;
    let has = state.store.list_webhooks(&app_id).await?.len();
    if has >= max {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "too_many_webhooks",
            format!(
                "the app has {has} webhooks, the most it may have (limits.max_webhooks_per_app); delete one first"
            ),
        ));
    }
    let now = now_ms();
    let spec = serde_json::to_value(state.sealer.seal_spec(webhook.spec())).unwrap_or(body);
    let signer = Signer::with_secret(&crate::signing::new_key(webhook.spec().signing))
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "signing_failed", e))?;
    let mut record = WebhookRecord {
        id: format!("wh_{}", uuid::Uuid::new_v4().simple()),
        seq: 0,
        app_id: app_id.clone(),
        spec,
        enabled: webhook.enabled(),
        disabled_reason: (!webhook.enabled()).then(|| "disabled by a user".to_string()),
        disabled_at: (!webhook.enabled()).then_some(now),
        created_at: now,
        updated_at: now,
        signing: signer.to_stored(&state.sealer),
    };
    record.seq = state.store.create_webhook(record.clone()).await?;
    state.queue.upsert(&record, webhook, signer);
    Ok((StatusCode::CREATED, Json(view(&record)?)))
}

/// List the app's webhooks
#[utoipa::path(get, path = "/v1/apps/{app_id}/webhooks", tag = "webhooks", params(AppPath),
    security(("appKey" = [])),
    responses((status = 200, description = "Every webhook of the app", body = WebhookList), AppErrors))]
async fn list(
    state: State,
    Path(AppPath { app_id }): Path<AppPath>,
    headers: HeaderMap,
) -> ApiResult<Json<WebhookList>> {
    state.authorize_app(&headers, &app_id)?;
    let records = state.store.list_webhooks(&app_id).await?;
    let webhooks = records.iter().map(view).collect::<ApiResult<_>>()?;
    Ok(Json(WebhookList { webhooks }))
}

/// Read a webhook
#[utoipa::path(get, path = "/v1/apps/{app_id}/webhooks/{id}", tag = "webhooks",
    params(WebhookPath), security(("appKey" = [])),
    responses((status = 200, description = "The webhook", body = WebhookView), AppErrors))]
async fn read(
    state: State,
    Path(WebhookPath { app_id, id }): Path<WebhookPath>,
    headers: HeaderMap,
) -> ApiResult<Json<WebhookView>> {
    Ok(Json(view(
        &authorized(&state, &headers, &app_id, &id).await?,
    )?))
}

/// Replace a webhook's definition
///
/// The whole definition again; a missing `enabled` keeps the current state, and a secret value
/// sent back as `********` keeps the stored one. `PATCH` does the same as `PUT`.
#[utoipa::path(method(put, patch), path = "/v1/apps/{app_id}/webhooks/{id}", tag = "webhooks",
    params(WebhookPath), security(("appKey" = [])), request_body = WebhookSpec,
    responses((status = 200, description = "The webhook", body = WebhookView), AppErrors,
        BodyErrors, Unprocessable))]
async fn update(
    state: State,
    Path(WebhookPath { app_id, id }): Path<WebhookPath>,
    headers: HeaderMap,
    JsonBody(mut body): JsonBody,
) -> ApiResult<Json<WebhookView>> {
    let current = authorized(&state, &headers, &app_id, &id).await?;
    if let Some(o) = body.as_object_mut() {
        o.entry("enabled").or_insert(current.enabled.into());
    }
    let mut spec = parse(&state.config.limits, &body)?;
    // A definition read from the API comes back with its secrets masked: they stay as stored.
    crate::secrets::unmask(&mut spec, &stored_spec(&state, &current)?)
        .map_err(|(field, m)| ApiError::bad_request("invalid_webhook", format!("{field}: {m}")))?;
    let webhook = compile(&state, spec).await?;
    check_target(&state, &webhook)?;
    let spec = serde_json::to_value(state.sealer.seal_spec(webhook.spec())).unwrap_or(body);
    let enabled = webhook.enabled();
    if !state
        .store
        .update_webhook(&app_id, &id, spec, enabled, now_ms())
        .await?
    {
        return Err(ApiError::not_found("webhook"));
    }
    let record = find(&state, &app_id, &id).await?;
    let scheme = webhook.spec().signing;
    let mut signer = stored_signer(&state, &record, scheme).await?;
    if signer.scheme() != Some(scheme) {
        // A new scheme: a key of it, the old key signing too for the usual grace.
        let now = now_ms();
        let until = now.saturating_add(super::DEFAULT_GRACE.as_millis() as i64);
        signer = signer
            .rotated(&crate::signing::new_key(scheme), until, now)
            .map_err(|e| unreadable(&record, e))?;
        state
            .store
            .set_webhook_signing(&app_id, &id, signer.to_stored(&state.sealer))
            .await?;
    }
    state.queue.upsert(&record, webhook, signer);
    Ok(Json(view(&record)?))
}

/// Delete a webhook with its deliveries, stats and logs
///
/// Its attempts under way are abandoned.
#[utoipa::path(delete, path = "/v1/apps/{app_id}/webhooks/{id}", tag = "webhooks",
    params(WebhookPath), security(("appKey" = [])),
    responses((status = 204, description = "Deleted"), AppErrors))]
async fn remove(
    state: State,
    Path(WebhookPath { app_id, id }): Path<WebhookPath>,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    state.authorize_app(&headers, &app_id)?;
    let Some(seq) = state.store.delete_webhook(&app_id, &id).await? else {
        return Err(ApiError::not_found("webhook"));
    };
    state.queue.remove(&id).await;
    // Its deliveries, stats and logs, in chunks that let ingest through.
    let leftovers = Leftovers {
        app_id: None,
        webhooks: vec![(id, seq)],
    };
    crate::retention::purge_deleted(state.store.as_ref(), leftovers).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn set_enabled(
    state: &AppState,
    app_id: &str,
    id: &str,
    enabled: bool,
) -> ApiResult<Json<WebhookView>> {
    let reason = (!enabled).then(|| "disabled by a user".to_string());
    if !state
        .store
        .set_webhook_enabled(app_id, id, enabled, reason, now_ms())
        .await?
    {
        return Err(ApiError::not_found("webhook"));
    }
    state.queue.set_enabled(id, enabled);
    Ok(Json(view(&find(state, app_id, id).await?)?))
}

/// Enable a webhook
///
/// Held deliveries resume.
#[utoipa::path(post, path = "/v1/apps/{app_id}/webhooks/{id}/enable", tag = "webhooks",
    params(WebhookPath), security(("appKey" = [])),
    responses((status = 200, description = "The webhook", body = WebhookView), AppErrors))]
async fn enable(
    state: State,
    Path(WebhookPath { app_id, id }): Path<WebhookPath>,
    headers: HeaderMap,
) -> ApiResult<Json<WebhookView>> {
    state.authorize_app(&headers, &app_id)?;
    set_enabled(&state, &app_id, &id, true).await
}

/// Disable a webhook
///
/// Pending deliveries are held; new events are recorded as skipped (they can be replayed).
#[utoipa::path(post, path = "/v1/apps/{app_id}/webhooks/{id}/disable", tag = "webhooks",
    params(WebhookPath), security(("appKey" = [])),
    responses((status = 200, description = "The webhook", body = WebhookView), AppErrors))]
async fn disable(
    state: State,
    Path(WebhookPath { app_id, id }): Path<WebhookPath>,
    headers: HeaderMap,
) -> ApiResult<Json<WebhookView>> {
    state.authorize_app(&headers, &app_id)?;
    set_enabled(&state, &app_id, &id, false).await
}

/// The event of a preview or test: `{"event": {...}}`, or `{"kind": "..."}` for a sample, or the
/// sample of the webhook's first trigger when nothing is given.
fn chosen_event(
    app_id: &str,
    body: &Value,
    webhook: &Webhook,
    limits: &LimitsConfig,
) -> ApiResult<Event> {
    let event = chosen_event_unchecked(app_id, body, webhook)?;
    // The event must be one ingest would take: an id or kind over the limits is refused here too.
    super::events::check_limits(std::slice::from_ref(&event), limits)?;
    Ok(event)
}

fn chosen_event_unchecked(app_id: &str, body: &Value, webhook: &Webhook) -> ApiResult<Event> {
    if let Some(unknown) = body
        .as_object()
        .and_then(|o| o.keys().find(|k| !matches!(k.as_str(), "event" | "kind")))
    {
        return Err(ApiError::bad_request(
            "invalid_body",
            format!("{unknown}: unknown field (expected event or kind)"),
        ));
    }
    let kind = match body.get("kind") {
        None => None,
        Some(Value::String(k)) => Some(k.as_str()),
        Some(other) => {
            return Err(ApiError::bad_request(
                "invalid_event",
                format!("kind: expected a string, found {}", super::json_kind(other)),
            ));
        }
    };
    if let Some(event) = body.get("event") {
        return super::events::parse_event(app_id, event.clone())
            .map_err(|m| ApiError::bad_request("invalid_event", format!("event.{m}")));
    }
    // No kind given: a sample of the webhook's first trigger (`message.push.*` → `message.push`).
    let kind = match kind {
        Some(k) => k.to_owned(),
        None => webhook
            .spec()
            .events
            .first()
            .map(|k| k.trim_end_matches('*').trim_end_matches('.').to_owned())
            .filter(|k| !k.is_empty())
            .unwrap_or_else(|| "message.push.sent".to_owned()),
    };
    Ok(crate::samples::sample_event(&kind))
}

/// The event a preview or test send asks for (see `chosen_event`) and the request `webhook`
/// renders for it; `422 render_error` when it does not render.
async fn render_for(
    app_id: &str,
    body: &Value,
    webhook: &Arc<Webhook>,
    limits: &LimitsConfig,
) -> ApiResult<(Arc<Event>, RenderedRequest)> {
    let event = Arc::new(chosen_event(app_id, body, webhook, limits)?);
    let request = webhook
        .clone()
        .render_async(event.clone())
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "render_error",
                e.to_string(),
            )
        })?;
    Ok((event, request))
}

/// `request` as previews and test sends show it: secret values masked. Its signature is no
/// secret: it is shown.
fn shown_of(webhook: &Webhook, request: &RenderedRequest) -> RenderedRequest {
    request.masked(|n| webhook.is_secret_header(n) && !n.eq_ignore_ascii_case("webhook-signature"))
}

/// The headers a delivery adds, for a preview: `webhook-id`, and the signature headers computed
/// with the webhook's keys (`signer`), or, for a definition not saved yet (no keys yet), what
/// they will hold.
fn preview_headers(
    request: &mut RenderedRequest,
    scheme: crate::signing::Scheme,
    signer: Option<&Signer>,
) {
    let id = format!("preview_{}", uuid::Uuid::new_v4().simple());
    let now = now_ms().div_euclid(1000);
    match signer {
        Some(signer) => signer.sign_request(request, &id, now),
        None => {
            request
                .headers
                .push(("webhook-timestamp".into(), now.to_string()));
            let version = match scheme {
                crate::signing::Scheme::Symmetric => "v1",
                crate::signing::Scheme::Ed25519 => "v1a",
            };
            request.headers.push((
                "webhook-signature".into(),
                format!("{version},<computed with the webhook's key once saved>"),
            ));
        }
    }
    request.headers.push(("webhook-id".into(), id));
}

async fn preview_of(
    app_id: &str,
    body: &Value,
    webhook: Arc<Webhook>,
    signer: Option<&Signer>,
    limits: &LimitsConfig,
) -> ApiResult<Json<Preview>> {
    let (event, mut request) = render_for(app_id, body, &webhook, limits).await?;
    preview_headers(&mut request, webhook.spec().signing, signer);
    let shown = shown_of(&webhook, &request);
    Ok(Json(Preview {
        event: event.to_json(),
        request: ShownRequest::from(&shown),
        curl: shown_curl(&request, &shown),
    }))
}

/// [`preview_of`] a saved webhook, signed with its keys.
async fn preview_saved(
    app_id: &str,
    body: &Value,
    handle: &crate::queue::WebhookHandle,
    limits: &LimitsConfig,
) -> ApiResult<Json<Preview>> {
    let signer = handle.signer();
    preview_of(app_id, body, handle.webhook(), Some(&signer), limits).await
}

/// Preview the exact request and its cURL form
///
/// For a given event, a sample of a kind, or (empty body) a sample of the webhook's first
/// trigger. Secret values are masked.
#[utoipa::path(post, path = "/v1/apps/{app_id}/webhooks/{id}/preview", tag = "webhooks",
    params(WebhookPath), security(("appKey" = [])),
    request_body(content = Option<EventChoice>, description = "Optional"),
    responses((status = 200, description = "The exact request", body = Preview), AppErrors,
        BodyErrors, Unprocessable))]
async fn preview(
    state: State,
    Path(WebhookPath { app_id, id }): Path<WebhookPath>,
    headers: HeaderMap,
    OptionalJsonBody(body): OptionalJsonBody,
) -> ApiResult<Json<Preview>> {
    let (_, handle) = delivered(&state, &headers, &app_id, &id).await?;
    preview_saved(&app_id, &body, &handle, &state.config.limits).await
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct KindQuery {
    /// A sample event of this kind (the webhook's first trigger when absent)
    kind: Option<String>,
}

/// Preview the request for a sample event
#[utoipa::path(get, path = "/v1/apps/{app_id}/webhooks/{id}/preview", tag = "webhooks",
    params(WebhookPath, KindQuery), security(("appKey" = [])),
    responses((status = 200, description = "The exact request", body = Preview), AppErrors,
        Unprocessable))]
async fn preview_get(
    state: State,
    Path(WebhookPath { app_id, id }): Path<WebhookPath>,
    Query(q): Query<KindQuery>,
    headers: HeaderMap,
) -> ApiResult<Json<Preview>> {
    let (_, handle) = delivered(&state, &headers, &app_id, &id).await?;
    let body = match q.kind {
        Some(k) => json!({"kind": k}),
        None => Value::Null,
    };
    preview_saved(&app_id, &body, &handle, &state.config.limits).await
}

/// Preview an unsaved definition
///
/// The request a definition not saved yet makes (the dashboard's live preview).
#[utoipa::path(post, path = "/v1/apps/{app_id}/webhooks/preview", tag = "webhooks",
    params(AppPath), security(("appKey" = [])), request_body = UnsavedPreview,
    responses((status = 200, description = "The exact request", body = Preview), AppErrors,
        BodyErrors, Unprocessable))]
async fn preview_unsaved(
    state: State,
    Path(AppPath { app_id }): Path<AppPath>,
    headers: HeaderMap,
    JsonBody(mut body): JsonBody,
) -> ApiResult<Json<Preview>> {
    state.authorize_app(&headers, &app_id)?;
    // The definition comes out of the body; what is left chooses the event.
    let definition = body
        .as_object_mut()
        .and_then(|o| o.remove("webhook"))
        .ok_or_else(|| ApiError::bad_request("invalid_webhook", "webhook: missing"))?;
    let webhook = compile(&state, parse(&state.config.limits, &definition)?).await?;
    preview_of(
        &app_id,
        &body,
        Arc::new(webhook),
        None,
        &state.config.limits,
    )
    .await
}

/// Send the request now and return request and response
///
/// Outside the queue: no retry, not counted in stats or logs. The request carries
/// `webhook-id: test_...`.
#[utoipa::path(post, path = "/v1/apps/{app_id}/webhooks/{id}/test", tag = "webhooks",
    params(WebhookPath), security(("appKey" = [])),
    request_body(content = Option<EventChoice>, description = "Optional"),
    responses((status = 200, description = "What happened (also when the receiver failed)",
        body = TestResult), AppErrors, BodyErrors, Unprocessable))]
async fn test_send(
    state: State,
    Path(WebhookPath { app_id, id }): Path<WebhookPath>,
    headers: HeaderMap,
    OptionalJsonBody(body): OptionalJsonBody,
) -> ApiResult<Json<TestResult>> {
    let (_, handle) = delivered(&state, &headers, &app_id, &id).await?;
    let webhook = handle.webhook();
    let (event, mut request) = render_for(&app_id, &body, &webhook, &state.config.limits).await?;
    let test_id = format!("test_{}", uuid::Uuid::new_v4().simple());
    handle
        .signer()
        .sign_request(&mut request, &test_id, now_ms().div_euclid(1000));
    let result = state.queue.sender.send(&request, &test_id).await;
    let response = result.response.as_ref().map(|r| LoggedAnswer {
        status: r.status,
        headers: redact_headers(&r.header_pairs()),
        body: r.body.clone(),
        body_truncated: r.body_truncated,
    });
    // Secrets are write-only: a test send shows them masked, like a preview.
    let shown = shown_of(&webhook, &request);
    Ok(Json(TestResult {
        event: event.to_json(),
        request: TestRequest {
            request: request_log(&shown, &test_id, usize::MAX),
            curl: shown_curl(&request, &shown),
        },
        response,
        outcome: result.outcome.as_str(),
        success: result.is_success(),
        error_code: result.error_code,
        error: result.message.clone(),
        duration_ms: result.duration.as_secs_f64() * 1000.0,
    }))
}

/// The webhook's signing secret
///
/// Every request carries `webhook-id`, `webhook-timestamp` and `webhook-signature` (Standard
/// Webhooks): `v1,` and the base64 HMAC-SHA256, keyed with this secret's decoded bytes, of
/// `{webhook-id}.{webhook-timestamp}.{body}`. During a rotation's grace period the header holds
/// a signature by each secret, space-separated.
#[utoipa::path(get, path = "/v1/apps/{app_id}/webhooks/{id}/secret", tag = "webhooks",
    params(WebhookPath), security(("appKey" = [])),
    responses((status = 200, description = "The current secret", body = SigningSecret), AppErrors))]
async fn secret(
    state: State,
    Path(WebhookPath { app_id, id }): Path<WebhookPath>,
    headers: HeaderMap,
) -> ApiResult<Json<SigningSecret>> {
    let (_, handle) = delivered(&state, &headers, &app_id, &id).await?;
    let signer = handle.signer();
    Ok(Json(SigningSecret {
        key: signer.current().unwrap_or_default().to_owned(),
        previous_key_expires_at: signer.previous_expires_at(now_ms()),
    }))
}

/// Give the webhook a new signing secret
///
/// The secret it replaces keeps signing too, beside the new one, for `grace` (24 h by default;
/// `"0s"` stops it at once), so a receiver can switch without refusing a request.
#[utoipa::path(post, path = "/v1/apps/{app_id}/webhooks/{id}/secret/rotate", tag = "webhooks",
    params(WebhookPath), security(("appKey" = [])),
    request_body(content = Option<SecretRotation>, description = "Optional"),
    responses((status = 200, description = "The new secret", body = SigningSecret), AppErrors,
        BodyErrors))]
async fn rotate_secret(
    state: State,
    Path(WebhookPath { app_id, id }): Path<WebhookPath>,
    headers: HeaderMap,
    OptionalJsonBody(body): OptionalJsonBody,
) -> ApiResult<Json<SigningSecret>> {
    let (record, handle) = delivered(&state, &headers, &app_id, &id).await?;
    let now = now_ms();
    let old_until = super::grace_end(&body, now, "invalid_rotation")?;
    let current = handle.signer();
    let scheme = current.scheme().unwrap_or_default();
    let signer = current
        .rotated(&crate::signing::new_key(scheme), old_until, now)
        .map_err(|e| unreadable(&record, e))?;
    if !state
        .store
        .set_webhook_signing(&app_id, &id, signer.to_stored(&state.sealer))
        .await?
    {
        return Err(ApiError::not_found("webhook"));
    }
    tracing::info!(webhook = %id, grace_s = (old_until - now).max(0) / 1000, "signing secret rotated");
    let answer = SigningSecret {
        key: signer.current().unwrap_or_default().to_owned(),
        previous_key_expires_at: signer.previous_expires_at(now),
    };
    handle.set_signer(signer);
    Ok(Json(answer))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct StatsQuery {
    /// The range ending now, like 15m, 1h, 24h, 7d (1m to 400d; 1h when nothing is given); not
    /// with `from` or `to`
    #[param(pattern = "^[0-9]+(ms|s|m|h|d)$")]
    range: Option<String>,
    /// Unix seconds; the range's start (with `to`; alone, until now)
    #[param(minimum = 0, maximum = 253_402_300_799_i64)]
    from: Option<i64>,
    /// Unix seconds; the range's end (with `from`; alone, the hour before it)
    #[param(minimum = 0, maximum = 253_402_300_799_i64)]
    to: Option<i64>,
    /// Seconds per point, a multiple of 60 (default: 1 minute up to 6 h, coarser beyond, at most
    /// 360 points)
    #[param(minimum = 60, multiple_of = 60)]
    step: Option<i64>,
}

/// Stats: all-time counts, status with reason, deliveries by state, time series
#[utoipa::path(get, path = "/v1/apps/{app_id}/webhooks/{id}/stats", tag = "webhooks",
    params(WebhookPath, StatsQuery), security(("appKey" = [])),
    responses((status = 200, description = "The webhook's stats", body = Stats), AppErrors))]
async fn stats(
    state: State,
    Path(WebhookPath { app_id, id }): Path<WebhookPath>,
    Query(q): Query<StatsQuery>,
    headers: HeaderMap,
) -> ApiResult<Json<Stats>> {
    let record = authorized(&state, &headers, &app_id, &id).await?;
    let now = now_ms() / 1000;
    // Unix seconds from 1970 to the year 9999.
    for (name, value) in [("from", q.from), ("to", q.to)] {
        if value.is_some() {
            super::in_range(name, value, 0, 0..=MAX_UNIX_SECONDS)?;
        }
    }
    if q.range.is_some() && (q.from.is_some() || q.to.is_some()) {
        return Err(ApiError::bad_request(
            "invalid_range",
            "range: give either range or from and to",
        ));
    }
    let (from, to) = match (q.from, q.to) {
        // One end alone: until now, or the hour before `to`.
        (Some(f), None) => (f, now.max(f + 60)),
        (None, Some(t)) => ((t - 3600).max(0), t.max(60)),
        (Some(f), Some(t)) if f < t => (f, t),
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "invalid_range",
                "from: must be before to",
            ));
        }
        (None, None) => {
            let range = q.range.as_deref().unwrap_or("1h");
            let d = crate::config::parse_duration(range)
                .map_err(|m| ApiError::bad_request("invalid_range", format!("range: {m}")))?;
            if d.as_secs() < 60 || d.as_secs() > 400 * 86_400 {
                return Err(ApiError::bad_request(
                    "invalid_range",
                    "range: between 1m and 400d",
                ));
            }
            (now - d.as_secs() as i64, now)
        }
    };
    let step = match q.step {
        Some(s) if s >= 60 && s % 60 == 0 => s,
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid_range",
                "step: a multiple of 60 seconds",
            ));
        }
        None => crate::stats::default_step(to - from),
    };
    if (to - from) / step > 10_000 {
        return Err(ApiError::bad_request(
            "invalid_range",
            "step: too many points (at most 10000)",
        ));
    }
    // Align to the step so points are stable across refreshes; the last point is the current one.
    let from = from.div_euclid(step) * step;
    let to = (to.div_euclid(step) + 1) * step;
    let all_time = state.store.stats(&id, -1, 0).await?;
    let (totals, latency) = crate::stats::totals(&all_time);
    let in_range = state
        .store
        .stats(&id, from.div_euclid(60), to.div_euclid(60))
        .await?;
    let points = crate::stats::series(&in_range, from, to, step);
    let deliveries = state.store.delivery_counts(&app_id, &id).await?;
    let queue = state.queue.handle(&id).map(|h| h.queue_state());
    Ok(Json(Stats {
        webhook_id: id,
        status: status(&record),
        all_time: AllTime {
            attempts: totals.total(),
            counts: totals,
            latency_ms: latency,
        },
        deliveries,
        queue,
        series: Series {
            from,
            to,
            step,
            points,
        },
    }))
}

/// 9999-12-31T23:59:59Z: the latest time a stats range may name.
const MAX_UNIX_SECONDS: i64 = 253_402_300_799;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct LogsQuery {
    /// How many logs at most
    #[param(minimum = 1, maximum = 500, default = 50)]
    limit: Option<i64>,
    /// Only logs with a smaller id (paging)
    #[param(minimum = 0)]
    before: Option<i64>,
}

/// Sampled recent attempts, newest first
#[utoipa::path(get, path = "/v1/apps/{app_id}/webhooks/{id}/logs", tag = "webhooks",
    params(WebhookPath, LogsQuery), security(("appKey" = [])),
    responses((status = 200, description = "Logs", body = LogList), AppErrors))]
async fn logs(
    state: State,
    Path(WebhookPath { app_id, id }): Path<WebhookPath>,
    Query(q): Query<LogsQuery>,
    headers: HeaderMap,
) -> ApiResult<Json<LogList>> {
    authorized(&state, &headers, &app_id, &id).await?;
    let limit = super::in_range("limit", q.limit, 50, 1..=500)? as usize;
    if let Some(before) = q.before {
        super::in_range("before", Some(before), 0, 0..=i64::MAX)?;
    }
    let logs = state.store.logs(&id, limit, q.before).await?;
    Ok(Json(LogList { logs }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct DeliveriesQuery {
    /// Only deliveries in this state (`all` when absent)
    #[param(inline)]
    state: Option<StateFilter>,
    /// How many deliveries at most
    #[param(minimum = 1, maximum = 1000, default = 100)]
    limit: Option<i64>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
enum StateFilter {
    All,
    Pending,
    Succeeded,
    Failed,
    Skipped,
}

/// Deliveries, newest first
#[utoipa::path(get, path = "/v1/apps/{app_id}/webhooks/{id}/deliveries", tag = "webhooks",
    params(WebhookPath, DeliveriesQuery), security(("appKey" = [])),
    responses((status = 200, description = "Deliveries", body = DeliveryList), AppErrors))]
async fn deliveries(
    state: State,
    Path(WebhookPath { app_id, id }): Path<WebhookPath>,
    Query(q): Query<DeliveriesQuery>,
    headers: HeaderMap,
) -> ApiResult<Json<DeliveryList>> {
    authorized(&state, &headers, &app_id, &id).await?;
    let limit = super::in_range("limit", q.limit, 100, 1..=1000)? as usize;
    let filter = match q.state {
        None | Some(StateFilter::All) => None,
        Some(StateFilter::Pending) => Some(DeliveryState::Pending),
        Some(StateFilter::Succeeded) => Some(DeliveryState::Succeeded),
        Some(StateFilter::Failed) => Some(DeliveryState::Failed),
        Some(StateFilter::Skipped) => Some(DeliveryState::Skipped),
    };
    let deliveries = state.store.deliveries(&app_id, &id, filter, limit).await?;
    Ok(Json(DeliveryList { deliveries }))
}

/// Replay every failed and skipped delivery
///
/// Each is pending again, with a fresh retry schedule.
#[utoipa::path(post, path = "/v1/apps/{app_id}/webhooks/{id}/deliveries/replay",
    tag = "webhooks", params(WebhookPath), security(("appKey" = [])),
    responses((status = 202, description = "Pending again", body = Replayed), AppErrors))]
async fn replay_all(
    state: State,
    Path(WebhookPath { app_id, id }): Path<WebhookPath>,
    headers: HeaderMap,
) -> ApiResult<(StatusCode, Json<Replayed>)> {
    authorized(&state, &headers, &app_id, &id).await?;
    let replayed = crate::retention::replay_all(state.store.as_ref(), &app_id, &id).await?;
    state.queue.mark_backlog(&id);
    Ok((StatusCode::ACCEPTED, Json(Replayed { replayed })))
}

/// Replay one failed or skipped delivery
///
/// It is pending again, with a fresh retry schedule (`404` unless it is failed or skipped).
#[utoipa::path(post,
    path = "/v1/apps/{app_id}/webhooks/{id}/deliveries/{delivery_id}/replay",
    tag = "webhooks", params(DeliveryPath), security(("appKey" = [])),
    responses((status = 202, description = "Pending again", body = Replayed), AppErrors))]
async fn replay_one(
    state: State,
    Path(DeliveryPath {
        app_id,
        id,
        delivery_id,
    }): Path<DeliveryPath>,
    headers: HeaderMap,
) -> ApiResult<(StatusCode, Json<Replayed>)> {
    authorized(&state, &headers, &app_id, &id).await?;
    let event_seq = DeliveryIds::new(&id).event_seq(&delivery_id);
    let n = match event_seq {
        Some(seq) => {
            state
                .store
                .replay(&app_id, &id, Some(seq), now_ms(), 1)
                .await?
        }
        None => 0,
    };
    if n == 0 {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no failed or skipped delivery with this id",
        ));
    }
    state.queue.mark_backlog(&id);
    Ok((StatusCode::ACCEPTED, Json(Replayed { replayed: n })))
}
