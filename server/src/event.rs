//! The `event` and `message` objects a webhook's templates are rendered over.
//!
//! An event's JSON form has the event's fields at the top level and `message` as a nested object.
//! Properties hookline does not know stay on the event (or the message) and templates can read
//! them. Decisions a producer should know:
//! - `timestamp` is unix time in seconds. A fractional number (`1708559115.228`) is accepted: templates
//!   see whole seconds in `event.timestamp` and the milliseconds in `event.datetime`.
//! - `datetime` is always derived from `timestamp` (ISO 8601, UTC, milliseconds:
//!   `2024-02-21T23:45:15.228Z`); a `datetime` sent by a producer is ignored.
//! - `external_user_id` is an alias of `external_id`: templates see both, with the same value.
//! - `message.contents` is clipped to its first 50 characters (Unicode scalar values).
//! - A property set to `null` is the same as a missing one; both render empty.

use serde_json::{Map, Value};

use crate::template::Data;

/// How many characters of `message.contents` templates see.
pub const CONTENTS_MAX_CHARS: usize = 50;

/// The latest instant an event may carry: 9999-12-31T23:59:59.999Z (in milliseconds).
const MAX_TIMESTAMP_MS: i64 = 253_402_300_799_999;

/// One event, as a producer posts it and as templates see it.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    id: String,
    kind: String,
    app_id: Option<String>,
    subscription_device_type: Option<String>,
    /// Milliseconds since the unix epoch.
    timestamp_ms: i64,
    subscription_id: Option<String>,
    onesignal_id: Option<String>,
    external_id: Option<String>,
    message: Option<Message>,
    /// Properties of the event hookline does not know, in the order they came.
    extra: Map<String, Value>,
    /// What templates see: `{"event": {..}, "message": {..}}`, built once.
    data: Data,
}

/// The message an event is about.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Message {
    pub id: Option<String>,
    pub name: Option<String>,
    pub title: Option<String>,
    /// Already clipped to [`CONTENTS_MAX_CHARS`] characters.
    pub contents: Option<String>,
    pub template_id: Option<String>,
    /// Properties of the message hookline does not know, in the order they came.
    pub extra: Map<String, Value>,
}

/// Why a producer's JSON is not an event; names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct EventError {
    /// The field's path, e.g. `message.title` (empty for the event as a whole).
    pub field: String,
    pub message: String,
}

fn error(field: &str, message: impl Into<String>) -> EventError {
    EventError {
        field: field.to_owned(),
        message: message.into(),
    }
}

const EVENT_FIELDS: &[&str; 11] = &[
    "id",
    "kind",
    "app_id",
    "subscription_device_type",
    "timestamp",
    "datetime",
    "subscription_id",
    "onesignal_id",
    "external_id",
    "external_user_id",
    "message",
];
const MESSAGE_FIELDS: &[&str; 5] = &["id", "name", "title", "contents", "template_id"];
/// The place of `message` in `EVENT_FIELDS`.
const MESSAGE_FIELD: usize = 10;

/// A message's known properties, by their place in `MESSAGE_FIELDS`.
type MessageKnown = [Option<Value>; MESSAGE_FIELDS.len()];

mod stream;
pub use stream::events_from_slice;

/// An object's properties in one pass: the values of the `names` hookline knows (by position in
/// `names`), and the others in order. No lookup by name: each would hash the name.
/// A later duplicate of a name wins, as in a parsed JSON object.
fn split_known<const N: usize>(
    props: impl IntoIterator<Item = (String, Value)>,
    names: &[&str; N],
) -> ([Option<Value>; N], Map<String, Value>) {
    let mut known = [const { None }; N];
    let mut extra = Map::new();
    for (k, v) in props {
        match names.iter().position(|f| *f == k) {
            Some(i) => known[i] = Some(v),
            None => {
                extra.insert(k, v);
            }
        }
    }
    (known, extra)
}

/// A string field: absent and `null` are `None`.
fn opt_string(value: Option<Value>, field: &str) -> Result<Option<String>, EventError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(error(
            field,
            format!("expected a string, found {}", kind_of(&other)),
        )),
    }
}

/// How a JSON value's type reads in an error: "a string", "null"…
pub fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The first `max` characters of `s` (never splitting a character).
pub fn clip_chars(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((end, _)) => &s[..end],
        None => s,
    }
}

impl Event {
    /// Parses an event from its JSON form (the event's fields at the top level, `message` nested).
    /// A missing `id` is generated (UUID v4); a missing `timestamp` is now.
    pub fn from_json(value: &Value) -> Result<Event, EventError> {
        Event::from_json_in(value, None)
    }

    /// Like [`Event::from_json`]; an event without `app_id` gets `default_app_id`.
    pub fn from_json_in(value: &Value, default_app_id: Option<&str>) -> Result<Event, EventError> {
        let Value::Object(obj) = value else {
            return Err(error(
                "",
                format!("expected a JSON object, found {}", kind_of(value)),
            ));
        };
        Event::from_props(obj.clone(), default_app_id)
    }

    /// An event from its JSON object's properties, taken (not copied); an event without `app_id`
    /// gets `default_app_id`.
    pub fn from_props(
        props: impl IntoIterator<Item = (String, Value)>,
        default_app_id: Option<&str>,
    ) -> Result<Event, EventError> {
        let (known, extra) = split_known(props, EVENT_FIELDS);
        Event::from_parts(known, None, extra, default_app_id)
    }

    /// An event from its properties already split: known ones by their place in `EVENT_FIELDS`,
    /// the others in order; `message` as a JSON value there, or split itself (`split_message`).
    fn from_parts(
        known: [Option<Value>; EVENT_FIELDS.len()],
        split_message: Option<(MessageKnown, Map<String, Value>)>,
        extra: Map<String, Value>,
        default_app_id: Option<&str>,
    ) -> Result<Event, EventError> {
        let [
            id,
            kind,
            app_id,
            subscription_device_type,
            timestamp,
            _datetime,
            subscription_id,
            onesignal_id,
            external_id,
            external_user_id,
            message,
        ] = known;
        let id = match opt_string(id, "id")? {
            Some(id) if id.trim().is_empty() => return Err(error("id", "must not be empty")),
            Some(id) => id,
            None => uuid::Uuid::new_v4().to_string(),
        };
        let kind = match opt_string(kind, "kind")? {
            None => return Err(error("kind", "is required (e.g. \"message.push.sent\")")),
            Some(kind) => {
                check_kind(&kind).map_err(|m| error("kind", m))?;
                kind
            }
        };
        let timestamp_ms = match timestamp {
            None | Some(Value::Null) => now_ms(),
            Some(Value::Number(n)) => timestamp_ms(&n).map_err(|m| error("timestamp", m))?,
            Some(other) => {
                return Err(error(
                    "timestamp",
                    format!(
                        "expected unix time in seconds (a number), found {}",
                        kind_of(&other)
                    ),
                ));
            }
        };
        let external_id = opt_string(external_id, "external_id")?;
        let external_user_id = opt_string(external_user_id, "external_user_id")?;
        let external_id = match (external_id, external_user_id) {
            (Some(a), Some(b)) if a != b => {
                return Err(error(
                    "external_user_id",
                    "differs from external_id (it is an alias: send one of them)",
                ));
            }
            (a, b) => a.or(b),
        };
        let message = match (split_message, message) {
            (Some((known, extra)), _) => Some(Message::from_split(known, extra)?),
            (None, None | Some(Value::Null)) => None,
            (None, Some(Value::Object(m))) => Some(Message::from_json(m)?),
            (None, Some(other)) => {
                return Err(error(
                    "message",
                    format!("expected an object, found {}", kind_of(&other)),
                ));
            }
        };
        let mut event = Event {
            id,
            kind,
            app_id: opt_string(app_id, "app_id")?.or_else(|| default_app_id.map(String::from)),
            subscription_device_type: opt_string(
                subscription_device_type,
                "subscription_device_type",
            )?,
            timestamp_ms,
            subscription_id: opt_string(subscription_id, "subscription_id")?,
            onesignal_id: opt_string(onesignal_id, "onesignal_id")?,
            external_id,
            message,
            extra,
            data: Data::Nil,
        };
        event.data = event.build_data();
        Ok(event)
    }

    /// The event's id (stable: the idempotency key).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The event's kind, e.g. `message.push.sent`.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    pub fn app_id(&self) -> Option<&str> {
        self.app_id.as_deref()
    }

    pub fn subscription_device_type(&self) -> Option<&str> {
        self.subscription_device_type.as_deref()
    }

    /// Unix time in whole seconds (what `event.timestamp` renders).
    pub fn timestamp(&self) -> i64 {
        self.timestamp_ms.div_euclid(1000)
    }

    /// Unix time in milliseconds.
    pub fn timestamp_ms(&self) -> i64 {
        self.timestamp_ms
    }

    /// ISO 8601 in UTC with milliseconds, e.g. `2024-02-21T23:45:15.228Z`.
    pub fn datetime(&self) -> String {
        iso8601_ms(self.timestamp_ms)
    }

    pub fn subscription_id(&self) -> Option<&str> {
        self.subscription_id.as_deref()
    }

    pub fn onesignal_id(&self) -> Option<&str> {
        self.onesignal_id.as_deref()
    }

    /// The External ID (also `external_user_id` in templates).
    pub fn external_id(&self) -> Option<&str> {
        self.external_id.as_deref()
    }

    pub fn message(&self) -> Option<&Message> {
        self.message.as_ref()
    }

    /// Properties hookline does not know, as sent.
    pub fn extra(&self) -> &Map<String, Value> {
        &self.extra
    }

    /// What templates read: `{"event": {..}, "message": {..}}`.
    pub fn template_data(&self) -> &Data {
        &self.data
    }

    /// The JSON form, as stored and as `from_json` reads it back (round-trips). Absent fields are
    /// left out; `datetime` is included for readers and ignored when read back.
    pub fn to_json(&self) -> Value {
        let mut obj = Map::new();
        obj.insert("id".into(), self.id.clone().into());
        obj.insert("kind".into(), self.kind.clone().into());
        put(&mut obj, "app_id", &self.app_id);
        put(
            &mut obj,
            "subscription_device_type",
            &self.subscription_device_type,
        );
        obj.insert("timestamp".into(), timestamp_json(self.timestamp_ms));
        obj.insert("datetime".into(), self.datetime().into());
        put(&mut obj, "subscription_id", &self.subscription_id);
        put(&mut obj, "onesignal_id", &self.onesignal_id);
        put(&mut obj, "external_id", &self.external_id);
        if let Some(message) = &self.message {
            obj.insert("message".into(), message.to_json());
        }
        for (k, v) in &self.extra {
            obj.insert(k.clone(), v.clone());
        }
        Value::Object(obj)
    }

    /// `to_json()` as JSON text, written straight from the event (no `Value` built on the way):
    /// the form the store keeps. The same text as `to_json().to_string()`, key for key.
    pub fn to_json_string(&self) -> String {
        serde_json::to_string(&Stored(self)).unwrap_or_else(|_| self.to_json().to_string())
    }

    fn build_data(&self) -> Data {
        let s = |v: &Option<String>| Data::opt_string(v.as_deref());
        let mut event = vec![
            ("id".into(), Data::string(&self.id)),
            ("kind".into(), Data::string(&self.kind)),
            ("app_id".into(), s(&self.app_id)),
            (
                "subscription_device_type".into(),
                s(&self.subscription_device_type),
            ),
            ("timestamp".into(), Data::Int(self.timestamp())),
            ("datetime".into(), Data::string(&self.datetime())),
            ("subscription_id".into(), s(&self.subscription_id)),
            ("onesignal_id".into(), s(&self.onesignal_id)),
            ("external_id".into(), s(&self.external_id)),
            ("external_user_id".into(), s(&self.external_id)),
        ];
        for (k, v) in &self.extra {
            event.push((k.clone(), Data::from_json(v)));
        }
        let message = match &self.message {
            Some(m) => m.build_data(),
            None => Data::Nil,
        };
        Data::Object(vec![
            ("event".into(), Data::Object(event)),
            ("message".into(), message),
        ])
    }
}

impl Message {
    fn from_json(obj: Map<String, Value>) -> Result<Message, EventError> {
        let (known, extra) = split_known(obj, MESSAGE_FIELDS);
        Message::from_split(known, extra)
    }

    fn from_split(
        mut known: MessageKnown,
        extra: Map<String, Value>,
    ) -> Result<Message, EventError> {
        // The field's path is only spelled out for an error.
        let mut field = |i: usize| {
            opt_string(known[i].take(), MESSAGE_FIELDS[i]).map_err(|e| EventError {
                field: format!("message.{}", e.field),
                ..e
            })
        };
        Ok(Message {
            id: field(0)?,
            name: field(1)?,
            title: field(2)?,
            contents: field(3)?.map(|c| clip_chars(&c, CONTENTS_MAX_CHARS).to_owned()),
            template_id: field(4)?,
            extra,
        })
    }

    fn to_json(&self) -> Value {
        let mut obj = Map::new();
        put(&mut obj, "id", &self.id);
        put(&mut obj, "name", &self.name);
        put(&mut obj, "title", &self.title);
        put(&mut obj, "contents", &self.contents);
        put(&mut obj, "template_id", &self.template_id);
        for (k, v) in &self.extra {
            obj.insert(k.clone(), v.clone());
        }
        Value::Object(obj)
    }

    fn build_data(&self) -> Data {
        let s = |v: &Option<String>| Data::opt_string(v.as_deref());
        let mut message = vec![
            ("id".into(), s(&self.id)),
            ("name".into(), s(&self.name)),
            ("title".into(), s(&self.title)),
            ("contents".into(), s(&self.contents)),
            ("template_id".into(), s(&self.template_id)),
        ];
        for (k, v) in &self.extra {
            message.push((k.clone(), Data::from_json(v)));
        }
        Data::Object(message)
    }
}

/// An event serialized in `to_json`'s order: known fields (absent ones left out), then extras.
struct Stored<'a>(&'a Event);

impl serde::Serialize for Stored<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let e = self.0;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("id", &e.id)?;
        map.serialize_entry("kind", &e.kind)?;
        put_entry(&mut map, "app_id", &e.app_id)?;
        put_entry(
            &mut map,
            "subscription_device_type",
            &e.subscription_device_type,
        )?;
        map.serialize_entry("timestamp", &timestamp_json(e.timestamp_ms))?;
        map.serialize_entry("datetime", &e.datetime())?;
        put_entry(&mut map, "subscription_id", &e.subscription_id)?;
        put_entry(&mut map, "onesignal_id", &e.onesignal_id)?;
        put_entry(&mut map, "external_id", &e.external_id)?;
        if let Some(m) = &e.message {
            map.serialize_entry("message", &StoredMessage(m))?;
        }
        for (k, v) in &e.extra {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

struct StoredMessage<'a>(&'a Message);

impl serde::Serialize for StoredMessage<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let m = self.0;
        let mut map = serializer.serialize_map(None)?;
        put_entry(&mut map, "id", &m.id)?;
        put_entry(&mut map, "name", &m.name)?;
        put_entry(&mut map, "title", &m.title)?;
        put_entry(&mut map, "contents", &m.contents)?;
        put_entry(&mut map, "template_id", &m.template_id)?;
        for (k, v) in &m.extra {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

fn put_entry<M: serde::ser::SerializeMap>(
    map: &mut M,
    key: &str,
    value: &Option<String>,
) -> Result<(), M::Error> {
    match value {
        Some(v) => map.serialize_entry(key, v),
        None => Ok(()),
    }
}

fn put(obj: &mut Map<String, Value>, key: &str, value: &Option<String>) {
    if let Some(v) = value {
        obj.insert(key.to_owned(), Value::String(v.clone()));
    }
}

/// An event kind: non-empty, printable, no spaces, no `*` (that is for webhook triggers).
fn check_kind(kind: &str) -> Result<(), String> {
    if kind.is_empty() {
        return Err("must not be empty".into());
    }
    if let Some(c) = kind
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || *c == '*')
    {
        return Err(format!(
            "must not contain {c:?} (kinds look like \"message.push.sent\")"
        ));
    }
    Ok(())
}

/// Seconds (whole or fractional) to milliseconds, checked.
fn timestamp_ms(n: &serde_json::Number) -> Result<i64, String> {
    let ms = if let Some(secs) = n.as_i64() {
        secs.checked_mul(1000)
    } else if let Some(secs) = n.as_f64() {
        let ms = (secs * 1000.0).round();
        (ms.is_finite() && ms.abs() < 9.0e15).then_some(ms as i64)
    } else {
        None
    };
    match ms {
        Some(ms) if ms < 0 => Err("must not be before 1970".into()),
        Some(ms) if ms <= MAX_TIMESTAMP_MS => Ok(ms),
        _ => {
            Err("expected unix time in seconds; this is after the year 9999 (milliseconds?)".into())
        }
    }
}

fn timestamp_json(ms: i64) -> Value {
    if ms % 1000 == 0 {
        Value::from(ms / 1000)
    } else {
        serde_json::Number::from_f64(ms as f64 / 1000.0)
            .map_or(Value::from(ms / 1000), Value::Number)
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// `2024-02-21T23:45:15.228Z` for milliseconds since 1970 (0 ≤ ms ≤ year 9999).
pub fn iso8601_ms(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    if !(0..=9999).contains(&y) {
        return format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
            sod / 3600,
            sod % 3600 / 60,
            sod % 60
        );
    }
    // Digit by digit: this runs for every event ingested, and `format!` costs ~30× more.
    let mut out = [0u8; 24];
    let two = |out: &mut [u8], at: usize, n: i64| {
        out[at] = b'0' + (n / 10) as u8;
        out[at + 1] = b'0' + (n % 10) as u8;
    };
    two(&mut out, 0, y / 100);
    two(&mut out, 2, y % 100);
    two(&mut out, 5, m);
    two(&mut out, 8, d);
    two(&mut out, 11, sod / 3600);
    two(&mut out, 14, sod % 3600 / 60);
    two(&mut out, 17, sod % 60);
    out[20] = b'0' + (millis / 100) as u8;
    two(&mut out, 21, millis % 100);
    for (at, c) in [
        (4, b'-'),
        (7, b'-'),
        (10, b'T'),
        (13, b':'),
        (16, b':'),
        (19, b'.'),
        (23, b'Z'),
    ] {
        out[at] = c;
    }
    // All ASCII digits and separators.
    std::str::from_utf8(&out).unwrap_or_default().to_owned()
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetime_is_iso_utc_with_millis() {
        assert_eq!(iso8601_ms(1_708_559_115_228), "2024-02-21T23:45:15.228Z");
        assert_eq!(iso8601_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601_ms(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(iso8601_ms(MAX_TIMESTAMP_MS), "9999-12-31T23:59:59.999Z");
        assert_eq!(iso8601_ms(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(iso8601_ms(1_000_000_000_001), "2001-09-09T01:46:40.001Z");
    }

    #[test]
    fn stored_text_is_the_json_form() {
        for text in [
            r#"{"id":"e1","kind":"message.push.sent"}"#,
            r#"{"id":"e\"2\u0001","kind":"k","app_id":"a","subscription_device_type":"Chrome",
                "timestamp":1708559115.228,"subscription_id":"s","onesignal_id":"o",
                "external_user_id":"u\u00e9","datetime":"ignored","zeta":[1,2.5,null,{"b":1,"a":true}],
                "alpha":{"y":"z"},"message":{"title":"T\n","contents":"héllo","template_id":"t",
                "z":1,"a":"x","name":"n","id":"m"}}"#,
            r#"{"id":"e3","kind":"k","timestamp":0,"message":{},"n":-3,"big":18446744073709551615}"#,
        ] {
            let value: Value = serde_json::from_str(text).unwrap();
            let event = Event::from_json(&value).unwrap();
            assert_eq!(event.to_json_string(), event.to_json().to_string());
        }
    }

    #[test]
    fn app_id_defaults_to_the_owning_app_when_missing_or_null() {
        let app = |v: Value| {
            Event::from_json_in(&v, Some("app-1"))
                .unwrap()
                .app_id()
                .map(String::from)
        };
        assert_eq!(
            app(serde_json::json!({"kind": "k"})).as_deref(),
            Some("app-1")
        );
        assert_eq!(
            app(serde_json::json!({"kind": "k", "app_id": null})).as_deref(),
            Some("app-1")
        );
        assert_eq!(
            app(serde_json::json!({"kind": "k", "app_id": "own"})).as_deref(),
            Some("own")
        );
        let e = Event::from_json_in(&serde_json::json!({"kind": "k", "app_id": 3}), Some("a"));
        assert_eq!(e.unwrap_err().field, "app_id");
    }

    #[test]
    fn clip_counts_characters() {
        assert_eq!(clip_chars("héllo", 2), "hé");
        assert_eq!(clip_chars("😀😀😀", 2), "😀😀");
        assert_eq!(clip_chars("ab", 5), "ab");
    }
}
