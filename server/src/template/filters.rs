//! The filters, with Shopify's semantics (its documentation first, the Ruby implementation where
//! the documentation is silent), and one rule of hookline's: a filter never fails because of the
//! data. A missing, null or unexpected value is read the way Liquid reads it (nil as `""` for text
//! and `0` for numbers, a string as a one-item list for the array filters), and what Ruby would
//! raise on for the data's sake (dividing by zero, undecodable base64, values that cannot be
//! sorted together) gives nil or a defined order instead. Arguments are checked when a template is
//! parsed.

use std::borrow::Cow;
use std::cmp::Ordering;

use super::Data;
use super::escape::{json_literal_into, url_component_into};

/// A filter's result would be larger than a value may be (the render budget's `max_value_bytes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLarge;

macro_rules! filters {
    ($($variant:ident = $name:literal ($min:literal, $max:literal $(, $kw:literal)*)),* $(,)?) => {
        /// A filter hookline supports.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Filter { $($variant),* }

        /// Every filter's name, for the documentation and error messages.
        pub const NAMES: &[&str] = &[$($name),*];

        /// The filter called `name`.
        pub fn by_name(name: &str) -> Option<Filter> {
            match name {
                $($name => Some(Filter::$variant),)*
                "h" => Some(Filter::Escape),
                _ => None,
            }
        }

        impl Filter {
            pub fn name(self) -> &'static str {
                match self { $(Filter::$variant => $name),* }
            }

            /// The fewest and most positional arguments, and the keywords it takes.
            fn arity(self) -> (usize, usize, &'static [&'static str]) {
                match self { $(Filter::$variant => ($min, $max, &[$($kw),*])),* }
            }
        }
    };
}

filters! {
    Abs = "abs" (0, 0),
    Append = "append" (1, 1),
    AtLeast = "at_least" (1, 1),
    AtMost = "at_most" (1, 1),
    Base64Decode = "base64_decode" (0, 0),
    Base64Encode = "base64_encode" (0, 0),
    Base64UrlSafeDecode = "base64_url_safe_decode" (0, 0),
    Base64UrlSafeEncode = "base64_url_safe_encode" (0, 0),
    Capitalize = "capitalize" (0, 0),
    Ceil = "ceil" (0, 0),
    Compact = "compact" (0, 1),
    Concat = "concat" (1, 1),
    Date = "date" (0, 1),
    Default = "default" (0, 1, "allow_false"),
    DividedBy = "divided_by" (1, 1),
    Downcase = "downcase" (0, 0),
    Escape = "escape" (0, 0),
    EscapeOnce = "escape_once" (0, 0),
    Find = "find" (1, 2),
    FindIndex = "find_index" (1, 2),
    First = "first" (0, 0),
    Floor = "floor" (0, 0),
    Has = "has" (1, 2),
    Join = "join" (0, 1),
    Json = "json" (0, 0),
    Last = "last" (0, 0),
    Lstrip = "lstrip" (0, 0),
    Map = "map" (1, 1),
    Minus = "minus" (1, 1),
    Modulo = "modulo" (1, 1),
    NewlineToBr = "newline_to_br" (0, 0),
    Plus = "plus" (1, 1),
    Prepend = "prepend" (1, 1),
    Reject = "reject" (1, 2),
    Remove = "remove" (1, 1),
    RemoveFirst = "remove_first" (1, 1),
    RemoveLast = "remove_last" (1, 1),
    Replace = "replace" (1, 2),
    ReplaceFirst = "replace_first" (1, 2),
    ReplaceLast = "replace_last" (1, 2),
    Reverse = "reverse" (0, 0),
    Round = "round" (0, 1),
    Rstrip = "rstrip" (0, 0),
    Size = "size" (0, 0),
    Slice = "slice" (1, 2),
    Sort = "sort" (0, 1),
    SortNatural = "sort_natural" (0, 1),
    Split = "split" (1, 1),
    Strip = "strip" (0, 0),
    StripHtml = "strip_html" (0, 0),
    StripNewlines = "strip_newlines" (0, 0),
    Sum = "sum" (0, 1),
    Times = "times" (1, 1),
    Truncate = "truncate" (0, 2),
    Truncatewords = "truncatewords" (0, 2),
    Uniq = "uniq" (0, 1),
    Upcase = "upcase" (0, 0),
    UrlDecode = "url_decode" (0, 0),
    UrlEncode = "url_encode" (0, 0),
    Where = "where" (1, 2),
}

/// The message for a filter hookline does not have.
pub fn unknown(name: &str) -> String {
    format!("unknown filter `{name}`")
}

/// Checks a filter's arguments when the template is parsed.
pub fn check_arguments(
    filter: Filter,
    given: usize,
    keywords: &[(String, super::syntax::Expr)],
) -> Result<(), String> {
    let (min, max, allowed) = filter.arity();
    let name = filter.name();
    if given < min {
        return Err(match min {
            1 => format!("the `{name}` filter needs an argument, like `{name}: value`"),
            n => format!("the `{name}` filter needs {n} arguments"),
        });
    }
    if given > max {
        return Err(match max {
            0 => format!("the `{name}` filter takes no arguments"),
            1 => format!("the `{name}` filter takes one argument (given {given})"),
            n => format!("the `{name}` filter takes at most {n} arguments (given {given})"),
        });
    }
    if let Some((key, _)) = keywords
        .iter()
        .find(|(k, _)| !allowed.contains(&k.as_str()))
    {
        return Err(format!("the `{name}` filter has no `{key}:` option"));
    }
    Ok(())
}

/// A number as Liquid reads one: whole or fractional.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Num {
    Int(i64),
    Float(f64),
}

impl Num {
    fn float(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Float(f) => f,
        }
    }

    fn data(self) -> Data {
        match self {
            Num::Int(i) => Data::Int(i),
            Num::Float(f) => Data::Float(f),
        }
    }
}

/// Ruby's `String#to_i`: optional spaces and sign, then the digits up to the first other character.
fn leading_int(s: &str) -> i64 {
    let t = s.trim_start();
    let (sign, digits) = match t.as_bytes().first() {
        Some(b'-') => (-1i64, &t[1..]),
        Some(b'+') => (1, &t[1..]),
        _ => (1, t),
    };
    let mut n: i64 = 0;
    for b in digits.bytes() {
        match b {
            b'0'..=b'9' => n = n.saturating_mul(10).saturating_add(i64::from(b - b'0')),
            b'_' => {}
            _ => break,
        }
    }
    sign * n
}

/// Whether `s` is a decimal like `-3.25` (what Liquid reads as a fractional number).
fn is_decimal(s: &str) -> bool {
    let s = s.strip_prefix('-').unwrap_or(s);
    match s.split_once('.') {
        Some((a, b)) => {
            !a.is_empty()
                && !b.is_empty()
                && a.bytes().all(|c| c.is_ascii_digit())
                && b.bytes().all(|c| c.is_ascii_digit())
        }
        None => false,
    }
}

/// A value as a number, as Liquid's math filters read it: a decimal string is fractional, any
/// other string its leading whole number (`"12abc"` is 12, `"abc"` is 0), anything else 0.
pub fn to_number(value: &Data) -> Num {
    match value {
        Data::Int(i) => Num::Int(*i),
        Data::Float(f) => Num::Float(*f),
        Data::Str(s) => {
            let t = s.trim();
            if is_decimal(t) {
                Num::Float(t.parse().unwrap_or(0.0))
            } else {
                Num::Int(leading_int(t))
            }
        }
        _ => Num::Int(0),
    }
}

/// A string that reads as a number as a whole (`"10"`, `" 3.5 "`), for comparisons.
pub fn numeric_string(s: &str) -> Option<Num> {
    let t = s.trim();
    let digits = t.strip_prefix('-').unwrap_or(t);
    if !digits.is_empty() && digits.bytes().all(|c| c.is_ascii_digit()) {
        return t.parse().ok().map(Num::Int);
    }
    if is_decimal(t) {
        return t.parse().ok().map(Num::Float);
    }
    None
}

/// A whole-number argument (a length, an offset): fractions are cut, anything else is read as
/// [`to_number`] reads it.
pub fn to_int(value: &Data) -> i64 {
    match to_number(value) {
        Num::Int(i) => i,
        Num::Float(f) => f as i64,
    }
}

fn arith(a: Num, b: Num, int: fn(i64, i64) -> Option<i64>, float: fn(f64, f64) -> f64) -> Data {
    match (a, b) {
        (Num::Int(x), Num::Int(y)) => match int(x, y) {
            Some(r) => Data::Int(r),
            None => Data::Float(float(x as f64, y as f64)),
        },
        _ => Data::Float(float(a.float(), b.float())),
    }
}

/// Ruby's floored division and modulo: the remainder takes the divisor's sign.
fn floor_div(x: i64, y: i64) -> Option<i64> {
    let q = x.checked_div(y)?;
    Some(if (x % y != 0) && ((x < 0) != (y < 0)) {
        q - 1
    } else {
        q
    })
}

fn floor_mod(x: i64, y: i64) -> Option<i64> {
    let r = x.checked_rem(y)?;
    Some(if r != 0 && ((r < 0) != (y < 0)) {
        r + y
    } else {
        r
    })
}

/// Rounds to `places` decimals, half away from zero, on the number's decimal digits (as Ruby's
/// BigDecimal does: `1.005` rounds to `1.01`).
fn round_float(f: f64, places: i64) -> f64 {
    if !f.is_finite() {
        return f;
    }
    if places <= 0 {
        let p = 10f64.powi(places.saturating_neg().min(300) as i32);
        return (f / p).round() * p;
    }
    let text = format!("{f}");
    let Some((int, frac)) = text.split_once('.') else {
        return f;
    };
    let places = places as usize;
    if frac.len() <= places {
        return f;
    }
    let mut digits: Vec<u8> = int
        .trim_start_matches('-')
        .bytes()
        .chain(frac.bytes().take(places))
        .collect();
    if frac.as_bytes()[places] >= b'5' {
        let mut i = digits.len();
        loop {
            if i == 0 {
                digits.insert(0, b'1');
                break;
            }
            i -= 1;
            if digits[i] == b'9' {
                digits[i] = b'0';
            } else {
                digits[i] += 1;
                break;
            }
        }
    }
    let split = digits.len() - places;
    let s = format!(
        "{}{}.{}",
        if f < 0.0 { "-" } else { "" },
        std::str::from_utf8(&digits[..split]).unwrap_or("0"),
        std::str::from_utf8(&digits[split..]).unwrap_or("0")
    );
    s.parse().unwrap_or(f)
}

/// The items the array filters work on: an array's items with nested arrays flattened, nothing
/// for nil, and any other value as a list of itself.
fn items(value: &Data) -> Vec<&Data> {
    fn flatten<'a>(items: &'a [Data], out: &mut Vec<&'a Data>) {
        for item in items {
            match item {
                Data::Array(inner) => flatten(inner, out),
                other => out.push(other),
            }
        }
    }
    match value {
        Data::Nil => Vec::new(),
        Data::Array(list) => {
            let mut out = Vec::with_capacity(list.len());
            flatten(list, &mut out);
            out
        }
        other => vec![other],
    }
}

/// An item's property, for `map`, `where`, `sort` and friends: nil on anything but an object.
fn property<'a>(item: &'a Data, key: &str) -> &'a Data {
    item.get(key)
}

/// Liquid's `==`: numbers by value (`1 == 1.0`), everything else by kind and content.
pub fn equal(a: &Data, b: &Data) -> bool {
    match (a, b) {
        (Data::Int(x), Data::Float(y)) | (Data::Float(y), Data::Int(x)) => (*x as f64) == *y,
        (Data::Array(x), Data::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| equal(a, b))
        }
        _ => a == b,
    }
}

/// Liquid's `<`: numbers with numbers, strings with strings; `None` for values that do not compare.
pub fn compare(a: &Data, b: &Data) -> Option<Ordering> {
    match (a, b) {
        (Data::Int(x), Data::Int(y)) => Some(x.cmp(y)),
        (Data::Int(_) | Data::Float(_), Data::Int(_) | Data::Float(_)) => {
            to_number(a).float().partial_cmp(&to_number(b).float())
        }
        (Data::Str(x), Data::Str(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

/// Two numbers in exact order (a whole number and a float compared without rounding), NaN last:
/// a total order, as sorting needs.
fn number_order(a: Num, b: Num) -> Ordering {
    match (a, b) {
        (Num::Int(x), Num::Int(y)) => x.cmp(&y),
        (Num::Float(x), Num::Float(y)) => match (x.is_nan(), y.is_nan()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            _ => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
        },
        (Num::Int(x), Num::Float(y)) => int_float_order(x, y),
        (Num::Float(x), Num::Int(y)) => int_float_order(y, x).reverse(),
    }
}

/// `i` against `f`, exactly.
fn int_float_order(i: i64, f: f64) -> Ordering {
    if f.is_nan() {
        return Ordering::Less;
    }
    // 2^63: beyond it every i64 is smaller (and below -2^63, larger).
    if f >= 9_223_372_036_854_775_808.0 {
        return Ordering::Less;
    }
    if f < -9_223_372_036_854_775_808.0 {
        return Ordering::Greater;
    }
    let floor = f.floor();
    // Exact: |floor| < 2^63, and a float that large has no fraction.
    match i.cmp(&(floor as i64)) {
        Ordering::Equal if f > floor => Ordering::Less,
        other => other,
    }
}

/// `sort`'s order, total: numbers in exact order, then strings, booleans, arrays and objects,
/// nil last (Ruby refuses to compare values of different kinds; a delivery must not fail on it).
fn sort_order(a: &Data, b: &Data) -> Ordering {
    let rank = |v: &Data| match v {
        Data::Int(_) | Data::Float(_) => 0,
        Data::Str(_) => 1,
        Data::Bool(_) => 2,
        Data::Array(_) | Data::Object(_) => 3,
        Data::Nil => 4,
    };
    match (a, b) {
        (Data::Int(_) | Data::Float(_), Data::Int(_) | Data::Float(_)) => {
            number_order(to_number(a), to_number(b))
        }
        (Data::Str(x), Data::Str(y)) => x.cmp(y),
        (Data::Bool(x), Data::Bool(y)) => x.cmp(y),
        _ => rank(a).cmp(&rank(b)),
    }
}

fn natural_order(a: &Data, b: &Data) -> Ordering {
    match (a.is_nil(), b.is_nil()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ => a.to_text().to_lowercase().cmp(&b.to_text().to_lowercase()),
    }
}

/// Ruby's `String#split(" ")`: runs of whitespace separate, leading whitespace is ignored; with a
/// `limit`, the last piece is the rest of the text.
fn split_words(s: &str, limit: Option<usize>) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = s.trim_start_matches(is_ruby_space);
    while !rest.is_empty() {
        if limit.is_some_and(|l| out.len() + 1 == l) {
            out.push(rest);
            break;
        }
        let end = rest.find(is_ruby_space).unwrap_or(rest.len());
        out.push(&rest[..end]);
        rest = rest[end..].trim_start_matches(is_ruby_space);
    }
    out
}

fn is_ruby_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r')
}

/// Ruby's `String#split(pattern)` for a string pattern.
fn split(s: &str, pattern: &str) -> Vec<String> {
    if pattern == " " {
        return split_words(s, None)
            .into_iter()
            .map(str::to_owned)
            .collect();
    }
    let mut parts: Vec<String> = if pattern.is_empty() {
        s.chars().map(String::from).collect()
    } else {
        s.split(pattern).map(str::to_owned).collect()
    };
    while parts.last().is_some_and(String::is_empty) {
        parts.pop();
    }
    parts
}

fn html_escape(s: &str, once: bool) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for (i, c) in s.char_indices() {
        match c {
            '&' if once && is_entity(&s[i + 1..]) => out.push('&'),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Whether text after `&` completes an entity (`amp;`, `#39;`).
fn is_entity(rest: &str) -> bool {
    // Entity names are short: look no further than this for the `;`.
    let window = &rest.as_bytes()[..rest.len().min(32)];
    let Some(end) = window.iter().position(|&b| b == b';') else {
        return false;
    };
    let name = &rest[..end];
    match name.strip_prefix('#') {
        Some(digits) => !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()),
        None => !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphabetic()),
    }
}

/// Removes `<script…</script>`, `<!--…-->` and `<style…</style>` with what they hold (whichever
/// starts first, as Ruby's one regular expression does; case-sensitive like it), then every other
/// `<…>`.
fn strip_html(s: &str) -> String {
    const BLOCKS: [(&str, &str); 3] = [
        ("<script", "</script>"),
        ("<!--", "-->"),
        ("<style", "</style>"),
    ];
    let mut text = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find('<') {
        let tail = &rest[start..];
        let block = BLOCKS
            .iter()
            .find(|(open, _)| tail.starts_with(open))
            .and_then(|(open, close)| {
                tail[open.len()..]
                    .find(close)
                    .map(|n| open.len() + n + close.len())
            });
        match block {
            Some(len) => {
                text.push_str(&rest[..start]);
                rest = &tail[len..];
            }
            None => {
                text.push_str(&rest[..start + 1]);
                rest = &tail[1..];
            }
        }
    }
    text.push_str(rest);
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(start) = rest.find('<') {
        match rest[start..].find('>') {
            Some(n) => {
                out.push_str(&rest[..start]);
                rest = &rest[start + n + 1..];
            }
            None => break,
        }
    }
    out.push_str(rest);
    out
}

fn url_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len()
                && bytes[i + 1].is_ascii_hexdigit()
                && bytes[i + 2].is_ascii_hexdigit() =>
            {
                let hex = |b: u8| (b as char).to_digit(16).unwrap_or(0) as u8;
                out.push(hex(bytes[i + 1]) * 16 + hex(bytes[i + 2]));
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Ruby's `strict_encode64` / `strict_decode64`, and `urlsafe_*64`, whose decoding takes the text
/// with or without its `=` padding.
fn base64_engine(url_safe: bool) -> base64::engine::GeneralPurpose {
    use base64::engine::{
        DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig, general_purpose,
    };
    if url_safe {
        GeneralPurpose::new(
            &base64::alphabet::URL_SAFE,
            GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
        )
    } else {
        general_purpose::STANDARD
    }
}

/// Ruby's `capitalize`: the first character in title case, the rest lower case.
fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    let Some(first) = chars.next() else {
        return String::new();
    };
    let mut out = String::with_capacity(s.len());
    match title_case(first) {
        Some(title) => out.push_str(title),
        None => out.extend(first.to_uppercase()),
    }
    out.push_str(&chars.as_str().to_lowercase());
    out
}

/// The characters whose title case is not their upper case (Unicode's SpecialCasing and the
/// digraphs): `ß` is `Ss`, `ǆ` is `ǅ`, `ﬁ` is `Fi`.
fn title_case(c: char) -> Option<&'static str> {
    Some(match c {
        'ß' => "Ss",
        'Ǆ' | 'ǅ' | 'ǆ' => "ǅ",
        'Ǉ' | 'ǈ' | 'ǉ' => "ǈ",
        'Ǌ' | 'ǋ' | 'ǌ' => "ǋ",
        'Ǳ' | 'ǲ' | 'ǳ' => "ǲ",
        'ﬀ' => "Ff",
        'ﬁ' => "Fi",
        'ﬂ' => "Fl",
        'ﬃ' => "Ffi",
        'ﬄ' => "Ffl",
        'ﬅ' | 'ﬆ' => "St",
        'և' => "Եւ",
        _ => return None,
    })
}

/// A string filter's text: nil is `""`.
fn text(value: &Data) -> Cow<'_, str> {
    match value {
        Data::Str(s) => Cow::Borrowed(s),
        other => Cow::Owned(other.to_text()),
    }
}

fn string(s: String) -> Cow<'static, Data> {
    Cow::Owned(Data::Str(s))
}

/// Checks that replacing `search` by `with` in `input` stays within `max` bytes, before building it.
fn replaced_size(input: &str, search: &str, with: &str, max: usize) -> Result<(), TooLarge> {
    let count = if search.is_empty() {
        input.chars().count() + 1
    } else {
        input.matches(search).count()
    };
    let size = input.len() - count * search.len() + count.saturating_mul(with.len());
    if size > max { Err(TooLarge) } else { Ok(()) }
}

/// Whether `item` matches `where`'s test: its property truthy, or equal to `target`.
fn matches(item: &Data, key: &str, target: Option<&Data>) -> bool {
    let value = property(item, key);
    match target {
        None | Some(Data::Nil) => value.is_truthy(),
        Some(target) => equal(value, target),
    }
}

/// Applies `filter` to `input`. `max` is the most bytes a result may hold: the filters that can
/// multiply their input check before they build.
pub fn apply<'a>(
    filter: Filter,
    input: Cow<'a, Data>,
    args: &[Cow<'_, Data>],
    keywords: &[(&str, Cow<'_, Data>)],
    max: usize,
) -> Result<Cow<'a, Data>, TooLarge> {
    let arg = |n: usize| args.get(n).map(|a| a.as_ref());
    let arg_text = |n: usize| arg(n).map_or(Cow::Borrowed(""), text);
    let num = |n: usize| arg(n).map_or(Num::Int(0), to_number);
    let input_num = || to_number(&input);
    Ok(match filter {
        // ---- math ----
        Filter::Abs => Cow::Owned(match input_num() {
            Num::Int(i) => i
                .checked_abs()
                .map_or(Data::Float((i as f64).abs()), Data::Int),
            Num::Float(f) => Data::Float(f.abs()),
        }),
        Filter::Plus => Cow::Owned(arith(input_num(), num(0), i64::checked_add, |a, b| a + b)),
        Filter::Minus => Cow::Owned(arith(input_num(), num(0), i64::checked_sub, |a, b| a - b)),
        Filter::Times => Cow::Owned(arith(input_num(), num(0), i64::checked_mul, |a, b| a * b)),
        Filter::DividedBy => Cow::Owned(match (input_num(), num(0)) {
            (_, b) if b.float() == 0.0 => Data::Nil,
            (a, b) => arith(a, b, floor_div, |a, b| a / b),
        }),
        Filter::Modulo => Cow::Owned(match (input_num(), num(0)) {
            (_, b) if b.float() == 0.0 => Data::Nil,
            (a, b) => arith(a, b, floor_mod, |a, b| {
                let r = a % b;
                if r != 0.0 && ((r < 0.0) != (b < 0.0)) {
                    r + b
                } else {
                    r
                }
            }),
        }),
        Filter::Round => {
            let places = arg(0).map_or(0, to_int);
            Cow::Owned(match input_num() {
                Num::Int(i) if places >= 0 => Data::Int(i),
                Num::Int(i) => Data::Int(round_float(i as f64, places) as i64),
                // Ruby makes a whole number only for `round` without places (or 0).
                Num::Float(f) if places == 0 => {
                    let r = round_float(f, places);
                    if r.abs() < 9.2e18 {
                        Data::Int(r as i64)
                    } else {
                        Data::Float(r)
                    }
                }
                Num::Float(f) => Data::Float(round_float(f, places)),
            })
        }
        Filter::Ceil | Filter::Floor => Cow::Owned(match input_num() {
            Num::Int(i) => Data::Int(i),
            Num::Float(f) => {
                let r = if filter == Filter::Ceil {
                    f.ceil()
                } else {
                    f.floor()
                };
                if r.abs() < 9.2e18 {
                    Data::Int(r as i64)
                } else {
                    Data::Float(r)
                }
            }
        }),
        Filter::AtLeast | Filter::AtMost => {
            let (a, b) = (input_num(), num(0));
            let a_wins = match a.float().partial_cmp(&b.float()) {
                Some(Ordering::Less) => filter == Filter::AtMost,
                Some(Ordering::Greater) => filter == Filter::AtLeast,
                _ => true,
            };
            Cow::Owned(if a_wins { a.data() } else { b.data() })
        }

        // ---- strings ----
        Filter::Append => {
            let (a, b) = (text(&input), arg_text(0));
            if a.len() + b.len() > max {
                return Err(TooLarge);
            }
            string(format!("{a}{b}"))
        }
        Filter::Prepend => {
            let (a, b) = (text(&input), arg_text(0));
            if a.len() + b.len() > max {
                return Err(TooLarge);
            }
            string(format!("{b}{a}"))
        }
        Filter::Capitalize => string(capitalize(&text(&input))),
        Filter::Downcase => string(text(&input).to_lowercase()),
        Filter::Upcase => string(text(&input).to_uppercase()),
        Filter::Escape | Filter::EscapeOnce if input.is_nil() => Cow::Owned(Data::Nil),
        Filter::Escape => string(html_escape(&text(&input), false)),
        Filter::EscapeOnce => string(html_escape(&text(&input), true)),
        Filter::Lstrip => string(text(&input).trim_start_matches(is_ruby_space).to_owned()),
        Filter::Rstrip => string(
            text(&input)
                .trim_end_matches(|c| is_ruby_space(c) || c == '\0')
                .to_owned(),
        ),
        Filter::Strip => string(
            text(&input)
                .trim_start_matches(is_ruby_space)
                .trim_end_matches(|c| is_ruby_space(c) || c == '\0')
                .to_owned(),
        ),
        Filter::NewlineToBr => {
            let t = text(&input);
            replaced_size(&t, "\n", "<br />\n", max)?;
            string(t.replace("\r\n", "\n").replace('\n', "<br />\n"))
        }
        Filter::StripNewlines => string(text(&input).replace("\r\n", "").replace('\n', "")),
        Filter::StripHtml => string(strip_html(&text(&input))),
        Filter::Remove => string(text(&input).replace(arg_text(0).as_ref(), "")),
        Filter::RemoveFirst => string(text(&input).replacen(arg_text(0).as_ref(), "", 1)),
        Filter::RemoveLast | Filter::ReplaceLast => {
            let (t, search) = (text(&input), arg_text(0));
            let with = if filter == Filter::ReplaceLast {
                arg_text(1)
            } else {
                Cow::Borrowed("")
            };
            match t.rfind(search.as_ref()) {
                Some(at) => string(format!("{}{with}{}", &t[..at], &t[at + search.len()..])),
                None => string(t.into_owned()),
            }
        }
        Filter::Replace => {
            let (t, search, with) = (text(&input), arg_text(0), arg_text(1));
            replaced_size(&t, &search, &with, max)?;
            string(t.replace(search.as_ref(), &with))
        }
        Filter::ReplaceFirst => {
            let (t, search, with) = (text(&input), arg_text(0), arg_text(1));
            string(t.replacen(search.as_ref(), &with, 1))
        }
        Filter::Size => Cow::Owned(Data::Int(match input.as_ref() {
            Data::Str(s) => s.chars().count() as i64,
            Data::Array(items) => items.len() as i64,
            Data::Object(entries) => entries.len() as i64,
            // Ruby's `Integer#size`: the bytes of a machine word.
            Data::Int(_) => 8,
            _ => 0,
        })),
        Filter::Slice => {
            let offset = to_int(arg(0).unwrap_or(&Data::Nil));
            let length = arg(1).map_or(1, to_int);
            match input.as_ref() {
                Data::Array(list) => {
                    let items: Vec<Data> = slice_range(list.len(), offset, length)
                        .map(|r| list[r].to_vec())
                        .unwrap_or_default();
                    Cow::Owned(Data::Array(items))
                }
                other => {
                    let t = text(other);
                    let chars: Vec<char> = t.chars().collect();
                    string(
                        slice_range(chars.len(), offset, length)
                            .map(|r| chars[r].iter().collect())
                            .unwrap_or_default(),
                    )
                }
            }
        }
        Filter::Split => Cow::Owned(Data::Array(
            split(&text(&input), &arg_text(0))
                .into_iter()
                .map(Data::Str)
                .collect(),
        )),
        Filter::Truncate => {
            if input.is_nil() {
                return Ok(Cow::Owned(Data::Nil));
            }
            let t = text(&input);
            let length = arg(0).map_or(50, to_int);
            let ellipsis = arg(1).map_or(Cow::Borrowed("..."), text);
            let count = t.chars().count() as i64;
            if count <= length {
                string(t.into_owned())
            } else {
                let keep = length
                    .saturating_sub(ellipsis.chars().count() as i64)
                    .max(0) as usize;
                string(t.chars().take(keep).chain(ellipsis.chars()).collect())
            }
        }
        Filter::Truncatewords => {
            if input.is_nil() {
                return Ok(Cow::Owned(Data::Nil));
            }
            let t = text(&input);
            let words = arg(0).map_or(15, to_int).max(1) as usize;
            let list = split_words(&t, Some(words.saturating_add(1)));
            if list.len() <= words {
                string(t.into_owned())
            } else {
                let ellipsis = arg(1).map_or(Cow::Borrowed("..."), text);
                string(format!("{}{ellipsis}", list[..words].join(" ")))
            }
        }
        Filter::UrlEncode if input.is_nil() => Cow::Owned(Data::Nil),
        Filter::UrlEncode => {
            let mut out = String::new();
            url_component_into(&mut out, &text(&input));
            string(out)
        }
        Filter::UrlDecode if input.is_nil() => Cow::Owned(Data::Nil),
        Filter::UrlDecode => string(url_decode(&text(&input))),
        Filter::Base64Encode | Filter::Base64UrlSafeEncode => {
            use base64::Engine;
            let engine = base64_engine(filter == Filter::Base64UrlSafeEncode);
            string(engine.encode(text(&input).as_bytes()))
        }
        Filter::Base64Decode | Filter::Base64UrlSafeDecode => {
            use base64::Engine;
            let engine = base64_engine(filter == Filter::Base64UrlSafeDecode);
            match engine.decode(text(&input).as_bytes()) {
                Ok(bytes) => string(String::from_utf8_lossy(&bytes).into_owned()),
                Err(_) => Cow::Owned(Data::Nil),
            }
        }
        Filter::Json => {
            let mut out = String::new();
            json_literal_into(&mut out, &input);
            string(out)
        }
        Filter::Date => {
            let format = arg(0).map(text);
            super::date::filter(input, format.as_deref())
        }
        Filter::Default => {
            let allow_false = keywords
                .iter()
                .any(|(k, v)| *k == "allow_false" && v.is_truthy());
            let falsy = match input.as_ref() {
                Data::Bool(false) => !allow_false,
                other => !other.is_truthy() || other.is_empty_value(),
            };
            if falsy {
                Cow::Owned(arg(0).cloned().unwrap_or(Data::Str(String::new())))
            } else {
                input
            }
        }

        // ---- arrays ----
        Filter::First | Filter::Last => match input {
            Cow::Borrowed(Data::Array(list)) => Cow::Borrowed(
                if filter == Filter::First {
                    list.first()
                } else {
                    list.last()
                }
                .unwrap_or(&super::data::NIL),
            ),
            Cow::Owned(Data::Array(mut list)) => Cow::Owned(
                if filter == Filter::First {
                    list.drain(..).next()
                } else {
                    list.pop()
                }
                .unwrap_or_default(),
            ),
            // Shopify's Liquid (5.12 on): a string's first and last characters.
            other => Cow::Owned(match other.as_ref() {
                Data::Str(s) => {
                    let c = if filter == Filter::First {
                        s.chars().next()
                    } else {
                        s.chars().last()
                    };
                    c.map_or(Data::Nil, |c| Data::Str(c.into()))
                }
                _ => Data::Nil,
            }),
        },
        Filter::Join => {
            let glue = arg(0).map_or(Cow::Borrowed(" "), text);
            let list = items(&input);
            let mut size = glue.len() * list.len().saturating_sub(1);
            let texts: Vec<Cow<'_, str>> = list.iter().map(|v| text(v)).collect();
            size += texts.iter().map(|t| t.len()).sum::<usize>();
            if size > max {
                return Err(TooLarge);
            }
            string(texts.join(glue.as_ref()))
        }
        Filter::Map => {
            let key = arg_text(0);
            Cow::Owned(Data::Array(
                items(&input)
                    .into_iter()
                    .map(|item| property(item, &key).clone())
                    .collect(),
            ))
        }
        Filter::Compact => {
            let key = arg(0).map(text);
            Cow::Owned(Data::Array(
                items(&input)
                    .into_iter()
                    .filter(|item| match &key {
                        None => !item.is_nil(),
                        Some(k) => !property(item, k).is_nil(),
                    })
                    .cloned()
                    .collect(),
            ))
        }
        Filter::Concat => {
            let mut list: Vec<Data> = items(&input).into_iter().cloned().collect();
            match arg(0) {
                Some(Data::Array(more)) => list.extend(more.iter().cloned()),
                Some(Data::Nil) | None => {}
                Some(other) => list.push(other.clone()),
            }
            Cow::Owned(Data::Array(list))
        }
        Filter::Reverse => {
            let mut list: Vec<Data> = items(&input).into_iter().cloned().collect();
            list.reverse();
            Cow::Owned(Data::Array(list))
        }
        Filter::Sort | Filter::SortNatural => {
            let mut list: Vec<Data> = items(&input).into_iter().cloned().collect();
            let order = if filter == Filter::Sort {
                sort_order
            } else {
                natural_order
            };
            match arg(0).map(text) {
                None => list.sort_by(order),
                Some(key) => list.sort_by(|a, b| order(property(a, &key), property(b, &key))),
            }
            Cow::Owned(Data::Array(list))
        }
        Filter::Uniq => {
            // Told apart by kind and value, as Ruby's `uniq` (`1` and `1.0` are two).
            let key = arg(0).map(text);
            let mut seen = std::collections::HashSet::new();
            let mut out = Vec::new();
            for item in items(&input) {
                let probe = match &key {
                    None => item,
                    Some(k) => property(item, k),
                };
                if seen.insert(format!("{probe:?}")) {
                    out.push(item.clone());
                }
            }
            Cow::Owned(Data::Array(out))
        }
        Filter::Where | Filter::Reject => {
            let key = arg_text(0);
            let keep = filter == Filter::Where;
            Cow::Owned(Data::Array(
                items(&input)
                    .into_iter()
                    .filter(|item| matches(item, &key, arg(1)) == keep)
                    .cloned()
                    .collect(),
            ))
        }
        Filter::Find => {
            let key = arg_text(0);
            let found = items(&input)
                .into_iter()
                .find(|item| matches(item, &key, arg(1)));
            Cow::Owned(found.cloned().unwrap_or_default())
        }
        Filter::FindIndex => {
            let key = arg_text(0);
            let found = items(&input)
                .into_iter()
                .position(|item| matches(item, &key, arg(1)));
            Cow::Owned(found.map_or(Data::Nil, |i| Data::Int(i as i64)))
        }
        Filter::Has => {
            let key = arg_text(0);
            Cow::Owned(Data::Bool(
                items(&input)
                    .into_iter()
                    .any(|item| matches(item, &key, arg(1))),
            ))
        }
        Filter::Sum => {
            let key = arg(0).map(text);
            let mut total = Num::Int(0);
            for item in items(&input) {
                let value = match &key {
                    None => item,
                    Some(k) => property(item, k),
                };
                total = match arith(total, to_number(value), i64::checked_add, |a, b| a + b) {
                    Data::Int(i) => Num::Int(i),
                    Data::Float(f) => Num::Float(f),
                    _ => total,
                };
            }
            Cow::Owned(total.data())
        }
    })
}

/// Ruby's `slice(offset, length)` on a sequence of `len` items: a negative offset counts from the
/// end; `None` when the offset is outside (or the length negative).
fn slice_range(len: usize, offset: i64, length: i64) -> Option<std::ops::Range<usize>> {
    let len = len as i64;
    let start = if offset < 0 { len + offset } else { offset };
    if start < 0 || start > len || length < 0 {
        return None;
    }
    let end = start.saturating_add(length).min(len);
    Some(start as usize..end as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_is_decimal_half_away_from_zero() {
        assert_eq!(round_float(1.005, 2), 1.01);
        assert_eq!(round_float(2.5, 0), 3.0);
        assert_eq!(round_float(-2.5, 0), -3.0);
        assert_eq!(round_float(1234.0, -2), 1200.0);
        assert_eq!(round_float(0.125, 2), 0.13);
    }

    #[test]
    fn ruby_division_and_modulo_floor() {
        assert_eq!(floor_div(-7, 2), Some(-4));
        assert_eq!(floor_mod(-7, 3), Some(2));
        assert_eq!(floor_mod(7, -3), Some(-2));
        assert_eq!(floor_div(i64::MIN, -1), None);
    }

    #[test]
    fn capitalize_title_cases_the_first_letter() {
        assert_eq!(capitalize("ǆemo"), "ǅemo");
        assert_eq!(capitalize("ßa"), "Ssa");
        assert_eq!(capitalize("éLAN"), "Élan");
        assert_eq!(capitalize(""), "");
    }

    #[test]
    fn ruby_split() {
        assert_eq!(split("a,b,,", ","), ["a", "b"]);
        assert_eq!(split(",a", ","), ["", "a"]);
        assert_eq!(split("abc", ""), ["a", "b", "c"]);
        assert_eq!(split("  a  b ", " "), ["a", "b"]);
        assert!(split("", ",").is_empty());
        assert_eq!(
            split_words(" one two  three four", Some(3)),
            ["one", "two", "three four"]
        );
    }
}
