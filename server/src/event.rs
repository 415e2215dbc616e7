//! The `event` and `message` objects a webhook's templates are rendered over.
// CONTRACT STUB written by the lead: the core helper owns this file and fills it in; keep the
// public names below (the server is written against them).

use serde_json::Value;

/// One event, as a producer posts it and as templates see it.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    // fields are the core's to choose
}

/// Why a producer's JSON is not an event; names the field.
#[derive(Debug, thiserror::Error)]
#[error("{field}: {message}")]
pub struct EventError {
    pub field: String,
    pub message: String,
}

impl Event {
    /// Parses an event from its JSON form (the event's fields at the top level, `message` nested).
    /// A missing `id` is generated (UUID v4); a missing `timestamp` is now.
    pub fn from_json(_value: &Value) -> Result<Event, EventError> {
        todo!()
    }
    /// The event's id (stable: the idempotency key).
    pub fn id(&self) -> &str {
        todo!()
    }
    /// The event's kind, e.g. `message.push.sent`.
    pub fn kind(&self) -> &str {
        todo!()
    }
    /// The JSON form, as stored and as `from_json` reads it back (round-trips).
    pub fn to_json(&self) -> Value {
        todo!()
    }
}
