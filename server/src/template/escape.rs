//! Escaping for where a value lands (JSON string, JSON value, URL), and the filters that apply it.
//!
//! The filters whose names start with `__hl_` are appended by [`super::scan`] to output tags; `json`
//! is for template authors.

use std::fmt;

use liquid_core::model::{Value, ValueView};
use liquid_core::parser::{FilterArguments, FilterReflection, ParameterReflection, ParseFilter};
use liquid_core::runtime::Runtime;
use liquid_core::{Error, Filter, Result};

/// Appends `s` escaped for the inside of a JSON string literal (no surrounding quotes).
pub fn json_string_into(out: &mut String, s: &str) {
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &str = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0x00..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if escape.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.push_str("\\u00");
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 0xf) as usize] as char);
        } else {
            out.push_str(escape);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
}

/// Appends `s` as a JSON string literal, quotes included.
pub fn json_quoted_into(out: &mut String, s: &str) {
    out.push('"');
    json_string_into(out, s);
    out.push('"');
}

/// Appends the JSON literal of a template value: nil is `null`, numbers and booleans stay what they
/// are, strings are quoted, arrays and objects are JSON arrays and objects.
pub fn json_literal_into(out: &mut String, value: &dyn ValueView) {
    if let Some(array) = value.as_array() {
        out.push('[');
        for (i, item) in array.values().enumerate() {
            if i > 0 {
                out.push(',');
            }
            json_literal_into(out, item);
        }
        out.push(']');
    } else if let Some(scalar) = value.as_scalar() {
        match scalar.type_name() {
            "whole number" | "boolean" => out.push_str(&scalar.to_kstr()),
            "fractional number" => match scalar.to_float().and_then(serde_json::Number::from_f64) {
                Some(n) => out.push_str(&n.to_string()),
                None => out.push_str("null"),
            },
            _ => json_quoted_into(out, &scalar.to_kstr()),
        }
    } else if value.is_nil() || value.is_state() {
        out.push_str("null");
    } else if let Some(object) = value.as_object() {
        // Keys sorted: Liquid keeps objects in hash maps, and a body must not change from one
        // render to the next.
        let mut entries: Vec<_> = object.iter().collect();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        out.push('{');
        for (i, (key, item)) in entries.into_iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            json_quoted_into(out, &key);
            out.push(':');
            json_literal_into(out, item);
        }
        out.push('}');
    } else {
        json_quoted_into(out, &value.to_kstr());
    }
}

/// Whether a byte is kept as-is in a URL value: RFC 3986 "unreserved" characters.
fn url_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Appends `s` percent-encoded so it stays one value wherever it lands in a URL: every byte but
/// the RFC 3986 unreserved characters is encoded, so `/`, `?`, `#`, `&`, `=`, `%` and `+` cannot add
/// a path segment, a query parameter or a fragment.
pub fn url_component_into(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s.as_bytes() {
        if url_unreserved(b) {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 0xf) as usize] as char);
        }
    }
}

/// Appends a value as text: a string, number or boolean as Liquid writes it, nil as nothing, an
/// array or object as JSON (Liquid's own rendering of those has no stable order).
pub fn text_into(out: &mut String, value: &dyn ValueView) {
    if let Some(scalar) = value.as_scalar() {
        out.push_str(&scalar.to_kstr());
    } else if value.is_nil() || value.is_state() {
    } else {
        json_literal_into(out, value);
    }
}

/// Calls `f` with the text of a value (see [`text_into`]), borrowing when it can.
fn with_text(value: &dyn ValueView, f: impl FnOnce(&str)) {
    if let Some(scalar) = value.as_scalar() {
        f(&scalar.to_kstr());
    } else if value.is_nil() || value.is_state() {
        f("");
    } else {
        let mut text = String::new();
        json_literal_into(&mut text, value);
        f(&text);
    }
}

/// How a filter transforms its input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Escape {
    /// The value as text, unescaped (header values, key/value body values, captures).
    Text,
    /// `json`: the value as a JSON literal.
    JsonLiteral,
    /// The value's text escaped for the inside of a JSON string literal.
    JsonString,
    /// The value's text percent-encoded as a URL component.
    Url,
}

impl Escape {
    pub fn name(self) -> &'static str {
        match self {
            Escape::JsonLiteral => "json",
            Escape::Text => "__hl_text",
            Escape::JsonString => "__hl_json_string",
            Escape::Url => "__hl_url",
        }
    }

    fn description(self) -> &'static str {
        match self {
            Escape::JsonLiteral => "The value as a JSON literal: `{{ event | json }}`.",
            Escape::Text => "Internal: a value as text (arrays and objects as JSON).",
            Escape::JsonString => "Internal: escapes a value inside a JSON string literal.",
            Escape::Url => "Internal: percent-encodes a value in a URL.",
        }
    }

    /// Appends the escaped form of `value` to `out`.
    pub fn apply_into(self, out: &mut String, value: &dyn ValueView) {
        match self {
            Escape::JsonLiteral => json_literal_into(out, value),
            Escape::Text => text_into(out, value),
            Escape::JsonString => with_text(value, |s| json_string_into(out, s)),
            Escape::Url => with_text(value, |s| url_component_into(out, s)),
        }
    }
}

/// The parse-time half of an escaping filter (registered with the parser).
#[derive(Clone, Copy, Debug)]
pub struct EscapeFilter(pub Escape);

impl FilterReflection for EscapeFilter {
    fn name(&self) -> &str {
        self.0.name()
    }

    fn description(&self) -> &str {
        self.0.description()
    }

    fn positional_parameters(&self) -> &'static [ParameterReflection] {
        &[]
    }

    fn keyword_parameters(&self) -> &'static [ParameterReflection] {
        &[]
    }
}

impl ParseFilter for EscapeFilter {
    fn parse(&self, mut arguments: FilterArguments<'_>) -> Result<Box<dyn Filter>> {
        if arguments.positional.next().is_some() || arguments.keyword.next().is_some() {
            return Err(Error::with_msg(format!(
                "the `{}` filter takes no arguments",
                self.0.name()
            )));
        }
        Ok(Box::new(*self))
    }

    fn reflection(&self) -> &dyn FilterReflection {
        self
    }
}

impl fmt::Display for EscapeFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.name())
    }
}

impl Filter for EscapeFilter {
    fn evaluate(&self, input: &dyn ValueView, _runtime: &dyn Runtime) -> Result<Value> {
        let mut out = String::new();
        self.0.apply_into(&mut out, input);
        Ok(Value::scalar(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_string_escapes_quotes_backslashes_and_controls() {
        let mut out = String::new();
        json_string_into(&mut out, "a\"b\\c\nd\u{1}e\u{7f}é😀");
        assert_eq!(out, "a\\\"b\\\\c\\nd\\u0001e\u{7f}é😀");
    }

    #[test]
    fn url_component_keeps_only_unreserved() {
        let mut out = String::new();
        url_component_into(&mut out, "a b/../?x=1&y#z%+é");
        assert_eq!(out, "a%20b%2F..%2F%3Fx%3D1%26y%23z%25%2B%C3%A9");
    }
}
