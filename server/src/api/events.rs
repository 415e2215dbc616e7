//! `/v1/apps/{app_id}/events`: ingesting events, one or a batch; `202` only once they are stored.

use super::Path;
use axum::Json;
use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::routes;

use super::doc::{AppErrors, AppPath, BodyErrors};
use super::{ApiError, ApiResult, RawBody, State, parse_json};
use crate::config::LimitsConfig;
use crate::event::Event;
use crate::queue::IngestSummary;

pub fn router() -> super::Routes {
    super::Routes::new().routes(routes!(ingest))
}

/// The seed's event, as sent and as templates see it (`crate::event` reads it). Extra
/// properties stay available to templates.
#[derive(serde::Deserialize, ToSchema)]
#[schema(as = Event)]
#[allow(dead_code)]
pub struct EventShape {
    /// Generated (a UUID) when absent or null; at most `limits.max_id_chars` (256) characters
    #[schema(min_length = 1, max_length = 256, pattern = r"\S")]
    id: Option<String>,
    /// Printable, no spaces, no `*`, like `message.push.sent`; at most `limits.max_kind_chars`
    /// (256) characters
    #[schema(
        min_length = 1,
        max_length = 256,
        pattern = r"^[^\s*\u0000-\u001f\u007f-\u009f]+$"
    )]
    kind: String,
    /// The path's app when absent
    app_id: Option<String>,
    subscription_device_type: Option<String>,
    /// Unix seconds, whole or fractional (milliseconds kept); now when absent
    #[schema(minimum = 0, maximum = 253_402_300_799_i64)]
    timestamp: Option<f64>,
    subscription_id: Option<String>,
    onesignal_id: Option<String>,
    /// The user; `external_user_id` is an alias (the two must agree when both are given)
    external_id: Option<String>,
    message: Option<MessageShape>,
    /// ISO 8601 in UTC with milliseconds, derived from `timestamp`
    #[schema(read_only)]
    datetime: Option<String>,
}

/// The message an event is about.
#[derive(serde::Deserialize, ToSchema)]
#[schema(as = Message)]
#[allow(dead_code)]
pub struct MessageShape {
    id: Option<String>,
    name: Option<String>,
    title: Option<String>,
    contents: Option<String>,
    template_id: Option<String>,
}

/// `POST /v1/apps/{app_id}/events`'s body: one event, or a batch.
#[derive(serde::Deserialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum EventsInput {
    One(Box<EventShape>),
    Batch {
        #[schema(min_items = 1)]
        events: Vec<EventShape>,
    },
}

/// Ingest events
///
/// One event or a batch. Idempotent on the event id (per app): an id already stored counts as a
/// duplicate and creates nothing. All events are checked first; one bad event refuses the whole
/// request, naming it (`events[3].kind: ...`). Answers only once the events are on disk.
#[utoipa::path(post, path = "/v1/apps/{app_id}/events", tag = "events", params(AppPath),
    security(("appKey" = [])), request_body = EventsInput,
    responses((status = 202, description = "Stored durably; deliveries created", body = IngestSummary),
        AppErrors, BodyErrors))]
async fn ingest(
    state: State,
    Path(AppPath { app_id }): Path<AppPath>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> ApiResult<(StatusCode, Json<IngestSummary>)> {
    state.authorize_app(&headers, &app_id)?;
    // The plain shapes straight from the text; anything else (and every error) the general way.
    let events = match crate::event::events_from_slice(&body, &app_id) {
        Some(events) => events,
        None => parse_json(&body)
            .and_then(|body| parse_events(&app_id, body))
            .inspect_err(|_| crate::metrics::EVENTS_REJECTED.add(1))?,
    };
    check_limits(&events, &state.config.limits)
        .inspect_err(|_| crate::metrics::EVENTS_REJECTED.add(1))?;
    let summary = state.queue.ingest(&app_id, events).await?;
    Ok((StatusCode::ACCEPTED, Json(summary)))
}

/// Refuses events past `[limits]` (how many in one request, how long an id or a kind), naming
/// the first one that is and the key.
pub fn check_limits(events: &[Event], limits: &LimitsConfig) -> ApiResult<()> {
    if events.len() > limits.max_batch_events {
        return Err(ApiError::bad_request(
            "too_many_events",
            format!(
                "events: {} events, more than the {} one request may hold (limits.max_batch_events)",
                events.len(),
                limits.max_batch_events
            ),
        ));
    }
    let at = |i: usize| {
        if events.len() > 1 {
            format!("events[{i}].")
        } else {
            String::new()
        }
    };
    for (i, e) in events.iter().enumerate() {
        for (field, value, max, key) in [
            ("id", e.id(), limits.max_id_chars, "limits.max_id_chars"),
            (
                "kind",
                e.kind(),
                limits.max_kind_chars,
                "limits.max_kind_chars",
            ),
        ] {
            let length = value.chars().count();
            if length > max {
                return Err(ApiError::bad_request(
                    "invalid_event",
                    format!(
                        "{}{field}: {length} characters, longer than {max} ({key})",
                        at(i)
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// The events of a request body: one event object, or `{"events": [objects]}`.
pub fn parse_events(app_id: &str, body: Value) -> ApiResult<Vec<Event>> {
    let (items, batch) = match body {
        Value::Object(mut map) if map.contains_key("events") && !map.contains_key("kind") => {
            match map.remove("events") {
                Some(Value::Array(items)) => (items, true),
                _ => {
                    return Err(ApiError::bad_request(
                        "invalid_event",
                        "events: expected a list of events",
                    ));
                }
            }
        }
        Value::Object(map) => (vec![Value::Object(map)], false),
        _ => {
            return Err(ApiError::bad_request(
                "invalid_event",
                "expected an event object or {\"events\": [...]}",
            ));
        }
    };
    if items.is_empty() {
        return Err(ApiError::bad_request(
            "invalid_event",
            "events: the list is empty",
        ));
    }
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        out.push(parse_event(app_id, item).map_err(|m| {
            let message = if batch { format!("events[{i}].{m}") } else { m };
            ApiError::bad_request("invalid_event", message)
        })?);
    }
    Ok(out)
}

/// One event; an event without `app_id` gets the app's id.
pub fn parse_event(app_id: &str, item: Value) -> Result<Event, String> {
    let Value::Object(props) = item else {
        return Err("expected an object".to_string());
    };
    Event::from_props(props, Some(app_id)).map_err(|e| e.to_string())
}
