//! The values templates read and compute: a JSON-like tree in which a missing property reads as nil.
//!
//! Every object answers a lookup of an absent key with nil, and nil answers any further lookup with
//! nil, so `{{ event.nope.deeper }}` renders `""`. Numbers keep Liquid's two kinds: whole numbers
//! (`i64`) and fractional ones (`f64`, printed the way Ruby prints a float: `2.0`, `1.0e+20`).

use std::fmt;

/// One value of the template data.
#[derive(Clone, PartialEq, Default)]
pub enum Data {
    /// `null` in JSON, and what every missing key reads as.
    #[default]
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Array(Vec<Data>),
    /// Keys in the order they were given (small objects: a linear scan beats hashing).
    Object(Vec<(String, Data)>),
}

pub(super) static NIL: Data = Data::Nil;

impl Data {
    /// Converts a JSON value (numbers that fit `i64` stay whole numbers).
    pub fn from_json(value: &serde_json::Value) -> Data {
        match value {
            serde_json::Value::Null => Data::Nil,
            serde_json::Value::Bool(b) => Data::Bool(*b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Data::Int(i),
                None => Data::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            serde_json::Value::String(s) => Data::Str(s.clone()),
            serde_json::Value::Array(items) => {
                Data::Array(items.iter().map(Data::from_json).collect())
            }
            serde_json::Value::Object(map) => Data::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), Data::from_json(v)))
                    .collect(),
            ),
        }
    }

    pub fn string(s: &str) -> Data {
        Data::Str(s.to_owned())
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
                .find(|(k, _)| k == key)
                .map_or(&NIL, |(_, v)| v),
            _ => &NIL,
        }
    }

    pub fn is_nil(&self) -> bool {
        matches!(self, Data::Nil)
    }

    /// Liquid's truth: everything but nil and `false` is true (`0` and `""` included).
    pub fn is_truthy(&self) -> bool {
        !matches!(self, Data::Nil | Data::Bool(false))
    }

    /// The string inside, when this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Data::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Whether this is `empty`: an empty string, array or object (nil is not).
    pub fn is_empty_value(&self) -> bool {
        match self {
            Data::Str(s) => s.is_empty(),
            Data::Array(items) => items.is_empty(),
            Data::Object(entries) => entries.is_empty(),
            _ => false,
        }
    }

    /// Whether this is `blank`: nil, `false`, a string of whitespace only, or empty.
    pub fn is_blank(&self) -> bool {
        match self {
            Data::Nil | Data::Bool(false) => true,
            Data::Str(s) => s.trim().is_empty(),
            other => other.is_empty_value(),
        }
    }

    /// Appends the value as Liquid writes it: nil as nothing, a float as Ruby prints it, and an
    /// array or object as JSON (Liquid's own rendering of those runs the items together).
    pub fn write_text(&self, out: &mut String) {
        match self {
            Data::Nil => {}
            Data::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Data::Int(i) => {
                use fmt::Write;
                let _ = write!(out, "{i}");
            }
            Data::Float(f) => write_float(out, *f),
            Data::Str(s) => out.push_str(s),
            Data::Array(_) | Data::Object(_) => super::escape::json_literal_into(out, self),
        }
    }

    /// The value as text (see [`Data::write_text`]).
    pub fn to_text(&self) -> String {
        match self {
            Data::Str(s) => s.clone(),
            other => {
                let mut out = String::new();
                other.write_text(&mut out);
                out
            }
        }
    }
}

/// Writes a float as Ruby's `Float#to_s` does: the shortest digits that read back the same, always
/// with a fraction (`2.0`), in exponent form below 1e-4 and from 1e16 (`1.0e+20`).
pub fn write_float(out: &mut String, f: f64) {
    if f.is_nan() {
        out.push_str("NaN");
        return;
    }
    if f.is_infinite() {
        out.push_str(if f < 0.0 { "-Infinity" } else { "Infinity" });
        return;
    }
    // `{:e}` gives the shortest round-trip digits: `1.5e-5`, `-2e20`, `0e0`.
    let sci = format!("{f:e}");
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let (negative, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if negative {
        out.push('-');
    }
    if f == 0.0 || (-4..16).contains(&exponent) {
        if exponent < 0 {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-exponent - 1) as usize));
            out.push_str(&digits);
        } else {
            let int_len = exponent as usize + 1;
            if digits.len() <= int_len {
                out.push_str(&digits);
                out.extend(std::iter::repeat_n('0', int_len - digits.len()));
                out.push_str(".0");
            } else {
                out.push_str(&digits[..int_len]);
                out.push('.');
                out.push_str(&digits[int_len..]);
            }
        }
    } else {
        out.push_str(&digits[..1]);
        out.push('.');
        out.push_str(if digits.len() > 1 { &digits[1..] } else { "0" });
        out.push_str(&format!(
            "e{}{:02}",
            if exponent < 0 { '-' } else { '+' },
            exponent.abs()
        ));
    }
}

impl fmt::Debug for Data {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Data::Nil => f.write_str("nil"),
            Data::Bool(b) => fmt::Debug::fmt(b, f),
            Data::Int(i) => fmt::Debug::fmt(i, f),
            Data::Float(x) => fmt::Debug::fmt(x, f),
            Data::Str(s) => fmt::Debug::fmt(s, f),
            Data::Array(items) => f.debug_list().entries(items).finish(),
            Data::Object(entries) => f
                .debug_map()
                .entries(entries.iter().map(|(k, v)| (k.as_str(), v)))
                .finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn float(f: f64) -> String {
        let mut out = String::new();
        write_float(&mut out, f);
        out
    }

    #[test]
    fn floats_print_as_ruby_prints_them() {
        assert_eq!(float(2.0), "2.0");
        assert_eq!(float(-2.5), "-2.5");
        assert_eq!(float(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(float(1e20), "1.0e+20");
        assert_eq!(float(1.5e-5), "1.5e-05");
        assert_eq!(float(0.0001), "0.0001");
        assert_eq!(float(123456.789), "123456.789");
        assert_eq!(float(0.0), "0.0");
        assert_eq!(float(1e15), "1000000000000000.0");
        assert_eq!(float(1e16), "1.0e+16");
    }
}
