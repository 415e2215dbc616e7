//! Events read straight from a request body's JSON text: the ingest path. The event and message
//! objects are split into known fields and others as they are read, without a JSON tree (and its
//! hashed maps) built first and taken apart after.
//!
//! Only the plain shapes are read here: one event object (without an `events` key), or
//! `{"events": [objects]}` and nothing else. For anything else, and on any error, the caller reads
//! the body the general way (`serde_json::Value`, then `Event::from_props`), which accepts the
//! same events and names what is wrong: the two ways give equal events (tested).

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::{EVENT_FIELDS, Event, MESSAGE_FIELD, MESSAGE_FIELDS, MessageKnown};

/// The events of a request body (`default_app_id` for those without `app_id`), or `None` when
/// the body is not plainly one event or a non-empty batch of valid events.
pub fn events_from_slice(bytes: &[u8], default_app_id: &str) -> Option<Vec<Event>> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let events = Body(default_app_id).deserialize(&mut de).ok()?;
    de.end().ok()?;
    (!events.is_empty()).then_some(events)
}

/// Any error: the general path will name it.
fn refuse<E: de::Error>() -> E {
    E::custom("not read on the fast path")
}

struct Body<'a>(&'a str);

impl<'de> DeserializeSeed<'de> for Body<'_> {
    type Value = Vec<Event>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Vec<Event>, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Body<'_> {
    type Value = Vec<Event>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an event or {\"events\": [...]}")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<Event>, A::Error> {
        let Some(first) = map.next_key::<String>()? else {
            return Err(refuse());
        };
        if first == "events" {
            let events = map.next_value_seed(Batch(self.0))?;
            if map.next_key::<IgnoredAny>()?.is_some() {
                return Err(refuse());
            }
            return Ok(events);
        }
        let mut props = Props::default();
        props.add(first, &mut map)?;
        props.read_rest(&mut map)?;
        Ok(vec![props.into_event(self.0)?])
    }
}

struct Batch<'a>(&'a str);

impl<'de> DeserializeSeed<'de> for Batch<'_> {
    type Value = Vec<Event>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Vec<Event>, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Batch<'_> {
    type Value = Vec<Event>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of events")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Event>, A::Error> {
        let mut events = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(event) = seq.next_element_seed(OneEvent(self.0))? {
            events.push(event);
        }
        Ok(events)
    }
}

struct OneEvent<'a>(&'a str);

impl<'de> DeserializeSeed<'de> for OneEvent<'_> {
    type Value = Event;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Event, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for OneEvent<'_> {
    type Value = Event;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an event object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Event, A::Error> {
        let mut props = Props::default();
        props.read_rest(&mut map)?;
        props.into_event(self.0)
    }
}

/// An event's properties as they are read.
#[derive(Default)]
struct Props {
    known: [Option<Value>; EVENT_FIELDS.len()],
    message: Option<(MessageKnown, Map<String, Value>)>,
    extra: Map<String, Value>,
}

impl Props {
    /// Reads the value of `key` (a later duplicate wins, as in a JSON object).
    fn add<'de, A: MapAccess<'de>>(&mut self, key: String, map: &mut A) -> Result<(), A::Error> {
        match EVENT_FIELDS.iter().position(|f| *f == key) {
            Some(MESSAGE_FIELD) => {
                self.message = map.next_value_seed(MessageSeed)?;
                self.known[MESSAGE_FIELD] = None;
            }
            Some(i) => self.known[i] = Some(map.next_value()?),
            // Left to the general path, which decides whether the body is a batch.
            None if key == "events" => return Err(refuse()),
            None => {
                let value = map.next_value()?;
                self.extra.insert(key, value);
            }
        }
        Ok(())
    }

    fn read_rest<'de, A: MapAccess<'de>>(&mut self, map: &mut A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            self.add(key, map)?;
        }
        Ok(())
    }

    fn into_event<E: de::Error>(self, default_app_id: &str) -> Result<Event, E> {
        Event::from_parts(self.known, self.message, self.extra, Some(default_app_id))
            .map_err(|_| refuse())
    }
}

/// `message`: `null` (none) or an object, split as it is read.
struct MessageSeed;

impl<'de> DeserializeSeed<'de> for MessageSeed {
    type Value = Option<(MessageKnown, Map<String, Value>)>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for MessageSeed {
    type Value = Option<(MessageKnown, Map<String, Value>)>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a message object")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut known: MessageKnown = Default::default();
        let mut extra = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            match MESSAGE_FIELDS.iter().position(|f| *f == key) {
                Some(i) => known[i] = Some(map.next_value()?),
                None => {
                    let value = map.next_value()?;
                    extra.insert(key, value);
                }
            }
        }
        Ok(Some((known, extra)))
    }
}
