//! Escaping for where a value lands (JSON string, JSON value, URL), and the filters that apply it.
//!
//! [`super::scan`] decides each output's [`Escape`] from where it lands; `json` is also a filter
//! for template authors.

use super::Data;

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
/// are (a number JSON cannot hold, like NaN, is `null`), strings are quoted, arrays and objects are
/// JSON arrays and objects with their keys in the order they came.
pub fn json_literal_into(out: &mut String, value: &Data) {
    match value {
        Data::Nil => out.push_str("null"),
        Data::Bool(_) | Data::Int(_) => value.write_text(out),
        Data::Float(f) => match serde_json::Number::from_f64(*f) {
            Some(n) => out.push_str(&n.to_string()),
            None => out.push_str("null"),
        },
        Data::Str(s) => json_quoted_into(out, s),
        Data::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_literal_into(out, item);
            }
            out.push(']');
        }
        Data::Object(entries) => {
            out.push('{');
            for (i, (key, item)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_quoted_into(out, key);
                out.push(':');
                json_literal_into(out, item);
            }
            out.push('}');
        }
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

/// Calls `f` with the text of a value (see [`Data::write_text`]), borrowing when it can.
fn with_text(value: &Data, f: impl FnOnce(&str)) {
    match value {
        Data::Str(s) => f(s),
        other => f(&other.to_text()),
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

    /// Whether a last filter named `filter` is what this escape does already, so it is not applied
    /// twice: `url_encode` in a URL, `json` outside a JSON string.
    pub fn covers(self, filter: &str) -> bool {
        matches!(
            (self, filter),
            (Escape::Url, "url_encode") | (Escape::JsonLiteral, "json")
        )
    }

    /// Appends the escaped form of `value` to `out`.
    pub fn apply_into(self, out: &mut String, value: &Data) {
        match self {
            Escape::JsonLiteral => json_literal_into(out, value),
            Escape::Text => value.write_text(out),
            Escape::JsonString => with_text(value, |s| json_string_into(out, s)),
            Escape::Url => with_text(value, |s| url_component_into(out, s)),
        }
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
