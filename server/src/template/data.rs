//! The values templates read: a JSON-like tree in which a missing property reads as nil.
//!
//! The `liquid` crate fails on an unknown variable or index; the seed wants a missing value to render
//! empty. Every object here answers a lookup of an absent key with nil, and nil answers any further
//! lookup with nil, so `{{ event.nope.deeper }}` renders `""` instead of failing.

use std::fmt;

use liquid_core::model::{
    ArrayView, DisplayCow, KString, KStringCow, ObjectView, Scalar, ScalarCow, State, Value,
    ValueView,
};

/// One value of the template data.
#[derive(Clone, PartialEq)]
pub enum Data {
    /// `null` in JSON, and what every missing key reads as.
    Nil,
    /// A string, number or boolean.
    Scalar(Scalar),
    Array(Vec<Data>),
    /// Keys in the order they were given (small objects: a linear scan beats hashing).
    Object(Vec<(KString, Data)>),
}

static NIL: Data = Data::Nil;

impl Data {
    /// Converts a JSON value (numbers that fit `i64` stay whole numbers).
    pub fn from_json(value: &serde_json::Value) -> Data {
        match value {
            serde_json::Value::Null => Data::Nil,
            serde_json::Value::Bool(b) => Data::Scalar(Scalar::new(*b)),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Data::Scalar(Scalar::new(i)),
                None => Data::Scalar(Scalar::new(n.as_f64().unwrap_or(f64::NAN))),
            },
            serde_json::Value::String(s) => Data::string(s.as_str()),
            serde_json::Value::Array(items) => {
                Data::Array(items.iter().map(Data::from_json).collect())
            }
            serde_json::Value::Object(map) => Data::Object(
                map.iter()
                    .map(|(k, v)| (KString::from_ref(k), Data::from_json(v)))
                    .collect(),
            ),
        }
    }

    pub fn string(s: &str) -> Data {
        Data::Scalar(Scalar::new(KString::from_ref(s)))
    }

    /// A string, or nil when absent.
    pub fn opt_string(s: Option<&str>) -> Data {
        s.map_or(Data::Nil, Data::string)
    }

    /// The value at `key` of an object; nil for anything else.
    pub fn get(&self, key: &str) -> &Data {
        match self {
            Data::Object(entries) => entries
                .iter()
                .find(|(k, _)| k.as_str() == key)
                .map_or(&NIL, |(_, v)| v),
            _ => &NIL,
        }
    }
}

impl fmt::Debug for Data {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Data::Nil => f.write_str("nil"),
            Data::Scalar(s) => fmt::Debug::fmt(s, f),
            Data::Array(items) => f.debug_list().entries(items).finish(),
            Data::Object(entries) => f
                .debug_map()
                .entries(entries.iter().map(|(k, v)| (k.as_str(), v)))
                .finish(),
        }
    }
}

impl ValueView for Data {
    fn as_debug(&self) -> &dyn fmt::Debug {
        self
    }

    fn render(&self) -> DisplayCow<'_> {
        match self {
            Data::Nil => DisplayCow::Borrowed(&""),
            Data::Scalar(s) => s.render(),
            _ => DisplayCow::Owned(Box::new(self.to_value().render().to_string())),
        }
    }

    fn source(&self) -> DisplayCow<'_> {
        match self {
            Data::Nil => DisplayCow::Borrowed(&"nil"),
            Data::Scalar(s) => s.source(),
            _ => DisplayCow::Owned(Box::new(self.to_value().source().to_string())),
        }
    }

    fn type_name(&self) -> &'static str {
        match self {
            Data::Nil => "nil",
            Data::Scalar(s) => s.type_name(),
            Data::Array(_) => "array",
            Data::Object(_) => "object",
        }
    }

    fn query_state(&self, state: State) -> bool {
        match self {
            Data::Nil => !matches!(state, State::Truthy),
            Data::Scalar(s) => s.query_state(state),
            Data::Array(items) => match state {
                State::Truthy => true,
                State::DefaultValue | State::Empty | State::Blank => items.is_empty(),
            },
            Data::Object(entries) => match state {
                State::Truthy => true,
                State::DefaultValue | State::Empty | State::Blank => entries.is_empty(),
            },
        }
    }

    fn to_kstr(&self) -> KStringCow<'_> {
        match self {
            Data::Nil => KStringCow::from_static(""),
            Data::Scalar(s) => s.to_kstr(),
            _ => KStringCow::from_string(self.render().to_string()),
        }
    }

    fn to_value(&self) -> Value {
        match self {
            Data::Nil => Value::Nil,
            Data::Scalar(s) => Value::Scalar(s.clone()),
            Data::Array(items) => Value::Array(items.iter().map(Data::to_value).collect()),
            Data::Object(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_value()))
                    .collect(),
            ),
        }
    }

    fn as_scalar(&self) -> Option<ScalarCow<'_>> {
        match self {
            Data::Scalar(s) => Some(s.as_ref()),
            _ => None,
        }
    }

    fn as_array(&self) -> Option<&dyn ArrayView> {
        match self {
            Data::Array(_) => Some(self),
            _ => None,
        }
    }

    /// Nil is looked into as an empty object, which is what makes a missing path read as nil.
    fn as_object(&self) -> Option<&dyn ObjectView> {
        match self {
            Data::Object(_) | Data::Nil => Some(self),
            _ => None,
        }
    }

    fn is_nil(&self) -> bool {
        matches!(self, Data::Nil)
    }
}

impl ArrayView for Data {
    fn as_value(&self) -> &dyn ValueView {
        self
    }

    fn size(&self) -> i64 {
        match self {
            Data::Array(items) => items.len() as i64,
            _ => 0,
        }
    }

    fn values<'k>(&'k self) -> Box<dyn Iterator<Item = &'k dyn ValueView> + 'k> {
        match self {
            Data::Array(items) => Box::new(items.iter().map(|v| v as &dyn ValueView)),
            _ => Box::new(std::iter::empty()),
        }
    }

    fn contains_key(&self, index: i64) -> bool {
        ArrayView::get(self, index).is_some()
    }

    fn get(&self, index: i64) -> Option<&dyn ValueView> {
        let Data::Array(items) = self else {
            return None;
        };
        let len = items.len() as i64;
        let index = if index < 0 { index + len } else { index };
        if (0..len).contains(&index) {
            items
                .as_slice()
                .get(index as usize)
                .map(|v| v as &dyn ValueView)
        } else {
            None
        }
    }
}

impl ObjectView for Data {
    fn as_value(&self) -> &dyn ValueView {
        self
    }

    fn size(&self) -> i64 {
        match self {
            Data::Object(entries) => entries.len() as i64,
            _ => 0,
        }
    }

    fn keys<'k>(&'k self) -> Box<dyn Iterator<Item = KStringCow<'k>> + 'k> {
        match self {
            Data::Object(entries) => Box::new(entries.iter().map(|(k, _)| k.as_ref().into())),
            _ => Box::new(std::iter::empty()),
        }
    }

    fn values<'k>(&'k self) -> Box<dyn Iterator<Item = &'k dyn ValueView> + 'k> {
        match self {
            Data::Object(entries) => Box::new(entries.iter().map(|(_, v)| v as &dyn ValueView)),
            _ => Box::new(std::iter::empty()),
        }
    }

    fn iter<'k>(&'k self) -> Box<dyn Iterator<Item = (KStringCow<'k>, &'k dyn ValueView)> + 'k> {
        match self {
            Data::Object(entries) => Box::new(
                entries
                    .iter()
                    .map(|(k, v)| (k.as_ref().into(), v as &dyn ValueView)),
            ),
            _ => Box::new(std::iter::empty()),
        }
    }

    /// Every key "exists": an absent one reads as nil.
    fn contains_key(&self, _index: &str) -> bool {
        true
    }

    fn get<'s>(&'s self, index: &str) -> Option<&'s dyn ValueView> {
        Some(Data::get(self, index))
    }
}
