//! `/v1/apps/{app_id}/events`: ingesting events, one or a batch; `202` only once they are stored.

use super::Path;
use axum::Json;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::{Value, json};

use super::{ApiError, ApiResult, RawBody, State, parse_json};
use crate::config::LimitsConfig;
use crate::event::Event;

pub fn router() -> super::Routes {
    super::Routes::new().route("/v1/apps/{app_id}/events", post(ingest))
}

/// `POST /v1/apps/{app_id}/events` with one event or `{"events": [...]}` →
/// `202 {"accepted", "duplicates", "deliveries"}`. All events are checked before any is stored:
/// one bad event refuses the whole request, naming it.
async fn ingest(
    state: State,
    Path(app_id): Path<String>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> ApiResult<(StatusCode, Json<Value>)> {
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
    Ok((StatusCode::ACCEPTED, Json(json!(summary))))
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
