//! `/v1/apps/{app_id}/webhooks`: definitions (create, list, get, update, delete, enable,
//! disable), preview and test send, stats, logs, and deliveries with replay.

use std::sync::Arc;

use super::{Path, Query};
use axum::Json;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, ApiResult, AppState, JsonBody, OptionalJsonBody, State};
use crate::config::LimitsConfig;
use crate::delivery::{redact_headers, request_log};
use crate::event::Event;
use crate::request::RenderedRequest;
use crate::store::{DeliveryIds, DeliveryState, Leftovers, WebhookRecord, now_ms};
use crate::webhook::{BodySpec, Webhook, WebhookSpec};

pub fn router() -> super::Routes {
    let base = "/v1/apps/{app_id}/webhooks";
    super::Routes::new()
        .route(base, post(create).get(list))
        .route(&format!("{base}/preview"), post(preview_unsaved))
        .route(
            &format!("{base}/{{id}}"),
            get(read).put(update).patch(update).delete(remove),
        )
        .route(&format!("{base}/{{id}}/enable"), post(enable))
        .route(&format!("{base}/{{id}}/disable"), post(disable))
        .route(
            &format!("{base}/{{id}}/preview"),
            post(preview).get(preview_get),
        )
        .route(&format!("{base}/{{id}}/test"), post(test_send))
        .route(&format!("{base}/{{id}}/stats"), get(stats))
        .route(&format!("{base}/{{id}}/logs"), get(logs))
        .route(&format!("{base}/{{id}}/deliveries"), get(deliveries))
        .route(
            &format!("{base}/{{id}}/deliveries/replay"),
            post(replay_all),
        )
        .route(
            &format!("{base}/{{id}}/deliveries/{{delivery_id}}/replay"),
            post(replay_one),
        )
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

/// The stored definition of `record`, its secrets opened.
fn stored_spec(state: &AppState, record: &WebhookRecord) -> ApiResult<WebhookSpec> {
    let fail = |e: String| {
        tracing::error!(webhook = %record.id, error = %e, "a stored webhook cannot be read");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "stored_webhook_unreadable",
            "the stored definition of this webhook cannot be read; save it again",
        )
    };
    let spec = WebhookSpec::from_json(&record.spec).map_err(|e| fail(e.to_string()))?;
    state
        .sealer
        .open_spec(&spec)
        .map_err(|e| fail(e.to_string()))
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
fn view(record: &WebhookRecord) -> Value {
    let mut out = json!({"id": record.id, "app_id": record.app_id});
    let shown = WebhookSpec::from_json(&record.spec)
        .ok()
        .and_then(|spec| serde_json::to_value(crate::secrets::masked_spec(&spec)).ok())
        .unwrap_or(Value::Null);
    if let (Some(o), Some(spec)) = (out.as_object_mut(), shown.as_object()) {
        for (k, v) in spec {
            o.insert(k.clone(), v.clone());
        }
        o.insert("enabled".into(), record.enabled.into());
        o.insert("status".into(), status(record));
        o.insert("created_at".into(), record.created_at.into());
        o.insert("updated_at".into(), record.updated_at.into());
    }
    out
}

fn status(record: &WebhookRecord) -> Value {
    if record.enabled {
        json!({"state": "enabled", "reason": null, "disabled_at": null})
    } else {
        json!({"state": "disabled", "reason": record.disabled_reason, "disabled_at": record.disabled_at})
    }
}

async fn find(state: &AppState, app_id: &str, id: &str) -> ApiResult<WebhookRecord> {
    state
        .store
        .get_webhook(app_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("webhook"))
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

async fn create(
    state: State,
    Path(app_id): Path<String>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> ApiResult<(StatusCode, Json<Value>)> {
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
    };
    record.seq = state.store.create_webhook(record.clone()).await?;
    state.queue.upsert(&record, webhook);
    Ok((StatusCode::CREATED, Json(view(&record))))
}

async fn list(
    state: State,
    Path(app_id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    state.authorize_app(&headers, &app_id)?;
    let records = state.store.list_webhooks(&app_id).await?;
    Ok(Json(
        json!({"webhooks": records.iter().map(view).collect::<Vec<_>>()}),
    ))
}

async fn read(
    state: State,
    Path((app_id, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    Ok(Json(view(
        &authorized(&state, &headers, &app_id, &id).await?,
    )))
}

/// `PUT`/`PATCH`: the whole definition again (a missing `enabled` keeps the current state).
async fn update(
    state: State,
    Path((app_id, id)): Path<(String, String)>,
    headers: HeaderMap,
    JsonBody(mut body): JsonBody,
) -> ApiResult<Json<Value>> {
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
    state.queue.upsert(&record, webhook);
    Ok(Json(view(&record)))
}

async fn remove(
    state: State,
    Path((app_id, id)): Path<(String, String)>,
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
) -> ApiResult<Json<Value>> {
    let reason = (!enabled).then(|| "disabled by a user".to_string());
    if !state
        .store
        .set_webhook_enabled(app_id, id, enabled, reason, now_ms())
        .await?
    {
        return Err(ApiError::not_found("webhook"));
    }
    state.queue.set_enabled(id, enabled);
    Ok(Json(view(&find(state, app_id, id).await?)))
}

/// Enables the webhook: held deliveries resume.
async fn enable(
    state: State,
    Path((app_id, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    state.authorize_app(&headers, &app_id)?;
    set_enabled(&state, &app_id, &id, true).await
}

/// Disables the webhook: pending deliveries are held, new events are recorded as skipped.
async fn disable(
    state: State,
    Path((app_id, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
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

async fn preview_of(
    app_id: &str,
    body: &Value,
    webhook: Arc<Webhook>,
    limits: &LimitsConfig,
) -> ApiResult<Json<Value>> {
    let (event, request) = render_for(app_id, body, &webhook, limits).await?;
    let shown = request.masked(|n| webhook.is_secret_header(n));
    Ok(Json(json!({
        "event": event.to_json(),
        "request": shown.to_json(),
        "curl": shown_curl(&request, &shown),
    })))
}

/// `POST …/{id}/preview [{"event"} | {"kind"}]` → `{event, request, curl}`.
async fn preview(
    state: State,
    Path((app_id, id)): Path<(String, String)>,
    headers: HeaderMap,
    OptionalJsonBody(body): OptionalJsonBody,
) -> ApiResult<Json<Value>> {
    authorized(&state, &headers, &app_id, &id).await?;
    let handle = state
        .queue
        .handle(&id)
        .ok_or_else(|| ApiError::not_found("webhook"))?;
    preview_of(&app_id, &body, handle.webhook(), &state.config.limits).await
}

#[derive(Deserialize)]
struct KindQuery {
    kind: Option<String>,
}

async fn preview_get(
    state: State,
    Path((app_id, id)): Path<(String, String)>,
    Query(q): Query<KindQuery>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    authorized(&state, &headers, &app_id, &id).await?;
    let handle = state
        .queue
        .handle(&id)
        .ok_or_else(|| ApiError::not_found("webhook"))?;
    let body = match q.kind {
        Some(k) => json!({"kind": k}),
        None => Value::Null,
    };
    preview_of(&app_id, &body, handle.webhook(), &state.config.limits).await
}

/// `POST …/webhooks/preview {"webhook": definition, "event"? | "kind"?}`: a definition not saved
/// yet (the dashboard's live preview).
async fn preview_unsaved(
    state: State,
    Path(app_id): Path<String>,
    headers: HeaderMap,
    JsonBody(mut body): JsonBody,
) -> ApiResult<Json<Value>> {
    state.authorize_app(&headers, &app_id)?;
    // The definition comes out of the body; what is left chooses the event.
    let definition = body
        .as_object_mut()
        .and_then(|o| o.remove("webhook"))
        .ok_or_else(|| ApiError::bad_request("invalid_webhook", "webhook: missing"))?;
    let webhook = compile(&state, parse(&state.config.limits, &definition)?).await?;
    preview_of(&app_id, &body, Arc::new(webhook), &state.config.limits).await
}

/// `POST …/{id}/test [{"event"} | {"kind"}]`: sends the request now (outside the queue, not
/// counted in stats) → `{event, request, response | null, outcome, error_code, error, duration_ms}`.
async fn test_send(
    state: State,
    Path((app_id, id)): Path<(String, String)>,
    headers: HeaderMap,
    OptionalJsonBody(body): OptionalJsonBody,
) -> ApiResult<Json<Value>> {
    authorized(&state, &headers, &app_id, &id).await?;
    let handle = state
        .queue
        .handle(&id)
        .ok_or_else(|| ApiError::not_found("webhook"))?;
    let webhook = handle.webhook();
    let (event, request) = render_for(&app_id, &body, &webhook, &state.config.limits).await?;
    let test_id = format!("test_{}", uuid::Uuid::new_v4().simple());
    let result = state.queue.sender.send(&request, &test_id).await;
    let response = result.response.as_ref().map(|r| {
        json!({"status": r.status, "headers": redact_headers(&r.header_pairs()), "body": r.body, "body_truncated": r.body_truncated})
    });
    // Secrets are write-only: a test send shows them masked, like a preview.
    let shown = request.masked(|n| webhook.is_secret_header(n));
    let mut shown_request = request_log(&shown, &test_id, usize::MAX);
    if let Some(o) = shown_request.as_object_mut() {
        o.insert("curl".into(), shown_curl(&request, &shown).into());
    }
    Ok(Json(json!({
        "event": event.to_json(),
        "request": shown_request,
        "response": response,
        "outcome": result.outcome.as_str(),
        "success": result.is_success(),
        "error_code": result.error_code,
        "error": result.message,
        "duration_ms": result.duration.as_secs_f64() * 1000.0,
    })))
}

#[derive(Deserialize)]
struct StatsQuery {
    /// `15m`, `1h`, `6h`, `24h`, `7d`, `30d`… (any duration): the range ending now.
    range: Option<String>,
    /// Unix seconds; with `to`, an explicit range.
    from: Option<i64>,
    to: Option<i64>,
    /// Seconds per point, a multiple of 60.
    step: Option<i64>,
}

/// `GET …/{id}/stats?range=1h` (or `from`, `to`, `step`) → all-time counts, status with reason,
/// deliveries by state, and the series.
async fn stats(
    state: State,
    Path((app_id, id)): Path<(String, String)>,
    Query(q): Query<StatsQuery>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
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
    Ok(Json(json!({
        "webhook_id": id,
        "status": status(&record),
        "all_time": {"attempts": totals.total(), "counts": totals, "latency_ms": latency},
        "deliveries": deliveries,
        "series": {"from": from, "to": to, "step": step, "points": points},
    })))
}

/// 9999-12-31T23:59:59Z: the latest time a stats range may name.
const MAX_UNIX_SECONDS: i64 = 253_402_300_799;

#[derive(Deserialize)]
struct LogsQuery {
    /// 1 to 500; 50 when absent.
    limit: Option<i64>,
    /// A log id: only older ones.
    before: Option<i64>,
}

/// `GET …/{id}/logs?limit=50&before=ID` → `{"logs": [...]}`, newest first.
async fn logs(
    state: State,
    Path((app_id, id)): Path<(String, String)>,
    Query(q): Query<LogsQuery>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    authorized(&state, &headers, &app_id, &id).await?;
    let limit = super::in_range("limit", q.limit, 50, 1..=500)? as usize;
    if let Some(before) = q.before {
        super::in_range("before", Some(before), 0, 0..=i64::MAX)?;
    }
    let logs = state.store.logs(&id, limit, q.before).await?;
    Ok(Json(json!({ "logs": logs })))
}

#[derive(Deserialize)]
struct DeliveriesQuery {
    /// `pending`, `succeeded`, `failed`, `skipped` or `all` (the default).
    state: Option<String>,
    /// 1 to 1000; 100 when absent.
    limit: Option<i64>,
}

/// `GET …/{id}/deliveries?state=failed&limit=100` → `{"deliveries": [...]}`, newest first.
async fn deliveries(
    state: State,
    Path((app_id, id)): Path<(String, String)>,
    Query(q): Query<DeliveriesQuery>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    authorized(&state, &headers, &app_id, &id).await?;
    let limit = super::in_range("limit", q.limit, 100, 1..=1000)? as usize;
    let filter = match q.state.as_deref() {
        None | Some("all") => None,
        Some(s) => Some(DeliveryState::parse(s).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_state",
                "state: one of pending, succeeded, failed, skipped, all",
            )
        })?),
    };
    let rows = state.store.deliveries(&app_id, &id, filter, limit).await?;
    Ok(Json(json!({ "deliveries": rows })))
}

/// `POST …/{id}/deliveries/replay` → every failed and skipped delivery is pending again.
async fn replay_all(
    state: State,
    Path((app_id, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<(StatusCode, Json<Value>)> {
    authorized(&state, &headers, &app_id, &id).await?;
    let n = crate::retention::replay_all(state.store.as_ref(), &app_id, &id).await?;
    state.queue.mark_backlog(&id);
    Ok((StatusCode::ACCEPTED, Json(json!({"replayed": n}))))
}

/// `POST …/{id}/deliveries/{delivery_id}/replay` → that delivery is pending again (404 unless
/// it is failed or skipped).
async fn replay_one(
    state: State,
    Path((app_id, id, delivery_id)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> ApiResult<(StatusCode, Json<Value>)> {
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
    Ok((StatusCode::ACCEPTED, Json(json!({"replayed": n}))))
}
