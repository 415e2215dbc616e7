//! Finds where each `{{ }}` of a template lands and appends the filter that escapes it there.
//!
//! The lexer mirrors the `liquid` crate's grammar (`{{ }}` outputs, `{% %}` tags, string literals
//! that may hold `}}`, `-` whitespace control). The walker then follows the literal text around the
//! tags: in a custom JSON body it tracks whether the text is inside a string literal, so that an output
//! there is JSON-escaped and one outside is written as a JSON literal. Every `{% %}` block must leave
//! that state as it found it, so the answer never depends on which branch runs. In a URL every output
//! is percent-encoded, and the scheme and host must be literal text.

use std::ops::Range;

use super::budget::LOOP_TAG;
use super::escape::Escape;

/// Where a template's output goes; decides how its values are escaped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Position {
    /// Plain text (a header value, a key/value body value): values are written as they render.
    Text,
    /// A URL: values are percent-encoded; scheme and host are literal.
    Url,
    /// A custom JSON body: values JSON-escaped inside string literals, JSON literals outside.
    Json,
}

/// A template error at a byte offset of the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanError {
    pub offset: usize,
    pub message: String,
}

fn err<T>(offset: usize, message: impl Into<String>) -> Result<T, ScanError> {
    Err(ScanError {
        offset,
        message: message.into(),
    })
}

#[derive(Debug, Clone)]
enum Token {
    /// Literal text, already trimmed by neighbouring whitespace control.
    Text(Range<usize>),
    /// `{{ markup }}`; `inner` is the markup, `span` the whole tag.
    Output {
        span: Range<usize>,
        inner: Range<usize>,
    },
    /// `{% name args %}`.
    Tag {
        span: Range<usize>,
        name: Range<usize>,
    },
}

/// Liquid's whitespace (the grammar's `WHITESPACE`: space and newlines, not tabs).
fn is_liquid_space(b: u8) -> bool {
    matches!(b, b' ' | b'\n' | b'\r')
}

fn lex(src: &str) -> Result<Vec<Token>, ScanError> {
    let bytes = src.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    let mut trim_next = false;
    let push_text = |tokens: &mut Vec<Token>,
                     mut start: usize,
                     mut end: usize,
                     trim_start: bool,
                     trim_end: bool| {
        if trim_start {
            while start < end && is_liquid_space(bytes[start]) {
                start += 1;
            }
        }
        if trim_end {
            while end > start && is_liquid_space(bytes[end - 1]) {
                end -= 1;
            }
        }
        if start < end {
            tokens.push(Token::Text(start..end));
        }
    };
    while i < bytes.len() {
        let Some(open) = find_open(bytes, i) else {
            push_text(&mut tokens, i, bytes.len(), trim_next, false);
            break;
        };
        let is_output = bytes[open + 1] == b'{';
        let mut k = open + 2;
        let trim_left = bytes.get(k) == Some(&b'-');
        if trim_left {
            k += 1;
        }
        push_text(&mut tokens, i, open, trim_next, trim_left);
        let inner_start = k;
        let close = loop {
            match bytes.get(k) {
                None => {
                    return err(
                        open,
                        if is_output {
                            "`{{` is not closed by `}}`"
                        } else {
                            "`{%` is not closed by `%}`"
                        },
                    );
                }
                Some(&q @ (b'"' | b'\'')) => match bytes[k + 1..].iter().position(|&b| b == q) {
                    Some(n) => k += n + 2,
                    None => return err(k, "this quoted string is not closed"),
                },
                Some(b'}') if is_output && bytes.get(k + 1) == Some(&b'}') => break k,
                Some(b'%') if !is_output && bytes.get(k + 1) == Some(&b'}') => break k,
                Some(_) => k += 1,
            }
        };
        let trim_right = close > inner_start && bytes[close - 1] == b'-';
        let inner = inner_start..if trim_right { close - 1 } else { close };
        let span = open..close + 2;
        if is_output {
            tokens.push(Token::Output { span, inner });
        } else {
            let mut n = inner.start;
            while n < inner.end && is_liquid_space(bytes[n]) {
                n += 1;
            }
            let name_start = n;
            while n < inner.end && (bytes[n].is_ascii_alphanumeric() || bytes[n] == b'_') {
                n += 1;
            }
            tokens.push(Token::Tag {
                span,
                name: name_start..n,
            });
        }
        trim_next = trim_right;
        i = close + 2;
    }
    Ok(tokens)
}

/// The next `{{` or `{%` at or after `from`.
fn find_open(bytes: &[u8], mut from: usize) -> Option<usize> {
    while let Some(n) = bytes[from..].iter().position(|&b| b == b'{') {
        let at = from + n;
        match bytes.get(at + 1) {
            Some(b'{' | b'%') => return Some(at),
            Some(_) => from = at + 1,
            None => return None,
        }
    }
    None
}

/// The markup of an output split at its top-level `|`: the value, then each filter.
fn split_filters(src: &str, inner: Range<usize>) -> Vec<Range<usize>> {
    let bytes = src.as_bytes();
    let mut parts = Vec::new();
    let mut start = inner.start;
    let mut k = inner.start;
    while k < inner.end {
        match bytes[k] {
            q @ (b'"' | b'\'') => {
                k += 1;
                while k < inner.end && bytes[k] != q {
                    k += 1;
                }
                k += 1;
            }
            b'|' => {
                parts.push(start..k);
                k += 1;
                start = k;
            }
            _ => k += 1,
        }
    }
    parts.push(start..inner.end.max(start));
    parts
}

fn trim_liquid(src: &str, r: Range<usize>) -> &str {
    src[r].trim_matches(|c: char| c == ' ' || c == '\n' || c == '\r')
}

/// A dotted variable path (`event.id`), the only output the fast renderer handles.
fn simple_path(markup: &str) -> Option<Vec<String>> {
    let mut parts = Vec::new();
    for part in markup.split('.') {
        let mut chars = part.chars();
        let first = chars.next()?;
        if !(first.is_ascii_alphabetic() || first == '_')
            || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return None;
        }
        parts.push(part.to_owned());
    }
    let first = parts.first()?;
    if matches!(
        first.as_str(),
        "nil" | "null" | "empty" | "blank" | "true" | "false"
    ) {
        return None;
    }
    Some(parts)
}

/// One piece of a template the fast renderer writes.
#[derive(Debug, Clone, PartialEq)]
pub enum Piece {
    Literal(String),
    Value {
        path: Vec<String>,
        escape: Escape,
    },
    /// Any other output, as the source of a template holding just it (escaping filter included).
    Output(String),
}

/// The result of scanning: the source to hand to `liquid`, and the fast form when there is one.
#[derive(Debug)]
pub struct Scanned {
    pub rewritten: String,
    /// Present when the template has no tags: literal text and outputs only.
    pub pieces: Option<Vec<Piece>>,
    /// Where each `{{ }}` is in the source, to place errors liquid reports without a position.
    pub outputs: Vec<Range<usize>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum JsonState {
    Outside,
    InString,
    AfterBackslash,
}

#[derive(Debug)]
struct Block {
    /// The tag that opened it (`if`, `for`, …).
    name: String,
    opened_at: usize,
    state: JsonState,
}

const BLOCKS: &[(&str, &str)] = &[
    ("if", "endif"),
    ("unless", "endunless"),
    ("case", "endcase"),
    ("for", "endfor"),
    ("ifchanged", "endifchanged"),
    ("capture", "endcapture"),
];
const BRANCHES: &[&str] = &["elsif", "else", "when"];
const PLAIN_TAGS: &[&str] = &["assign", "increment", "decrement", "break", "continue"];

/// Scans `src` for `position`: checks where its outputs land and rewrites them to escape there.
pub fn scan(src: &str, position: Position) -> Result<Scanned, ScanError> {
    let tokens = lex(src)?;
    if position == Position::Url {
        check_url_prefix(src, &tokens)?;
    }
    let mut rewritten = String::with_capacity(src.len() + 32);
    let mut copied = 0;
    let mut pieces = Some(Vec::new());
    let mut outputs = Vec::new();
    let mut state = JsonState::Outside;
    let mut last_quote = 0;
    let mut blocks: Vec<Block> = Vec::new();
    let mut t = 0;
    while t < tokens.len() {
        match &tokens[t] {
            Token::Text(r) => {
                literal(
                    src,
                    r.clone(),
                    position,
                    &mut state,
                    &mut last_quote,
                    in_capture(&blocks),
                )?;
                if let Some(p) = pieces.as_mut() {
                    p.push(Piece::Literal(src[r.clone()].to_owned()));
                }
            }
            Token::Output { span, inner } => {
                outputs.push(span.clone());
                let parts = split_filters(src, inner.clone());
                let last = parts.last().cloned().unwrap_or(inner.clone());
                let last_name = if parts.len() > 1 {
                    trim_liquid(src, last.clone())
                } else {
                    ""
                };
                let capture = in_capture(&blocks);
                // What to append (or which trailing filter to replace), and the fast form's escape.
                let (append, replace, escape): (Option<Escape>, bool, Option<Escape>) =
                    match position {
                        _ if capture => (Some(Escape::Text), false, Some(Escape::Text)),
                        Position::Text => (Some(Escape::Text), false, Some(Escape::Text)),
                        Position::Url if last_name == "url_encode" => {
                            (Some(Escape::Url), true, Some(Escape::Url))
                        }
                        Position::Url => (Some(Escape::Url), false, Some(Escape::Url)),
                        Position::Json => match state {
                            JsonState::Outside if last_name == "json" => {
                                (None, false, Some(Escape::JsonLiteral))
                            }
                            JsonState::Outside => {
                                (Some(Escape::JsonLiteral), false, Some(Escape::JsonLiteral))
                            }
                            JsonState::InString => {
                                (Some(Escape::JsonString), false, Some(Escape::JsonString))
                            }
                            JsonState::AfterBackslash => {
                                return err(
                                    span.start,
                                    "a value cannot follow a backslash inside a JSON string",
                                );
                            }
                        },
                    };
                if let Some(escape) = append {
                    if replace {
                        rewritten.push_str(&src[copied..last.start]);
                        rewritten.push(' ');
                        rewritten.push_str(escape.name());
                        rewritten.push(' ');
                        copied = last.end;
                    } else {
                        rewritten.push_str(&src[copied..inner.end]);
                        rewritten.push_str(" | ");
                        rewritten.push_str(escape.name());
                        rewritten.push(' ');
                        copied = inner.end;
                    }
                }
                if let Some(p) = pieces.as_mut() {
                    let value = trim_liquid(src, parts[0].clone());
                    // A bare path (or `path | json` where that is the whole escaping) is looked up
                    // directly; any other output is a one-output Liquid template of its own.
                    let bare = parts.len() == 1
                        || (parts.len() == 2 && last_name == "json" && append.is_none());
                    match (bare, escape, simple_path(value)) {
                        (true, Some(escape), Some(path)) => p.push(Piece::Value { path, escape }),
                        _ => {
                            let mut mini = String::from("{{");
                            match append {
                                Some(escape) if replace => {
                                    mini.push_str(&src[inner.start..last.start]);
                                    mini.push(' ');
                                    mini.push_str(escape.name());
                                    mini.push(' ');
                                }
                                Some(escape) => {
                                    mini.push_str(&src[inner.clone()]);
                                    mini.push_str(" | ");
                                    mini.push_str(escape.name());
                                    mini.push(' ');
                                }
                                None => mini.push_str(&src[inner.clone()]),
                            }
                            mini.push_str("}}");
                            p.push(Piece::Output(mini));
                        }
                    }
                }
            }
            Token::Tag { span, name } => {
                pieces = None;
                let name = &src[name.clone()];
                match name {
                    "comment" => {
                        t = skip_comment(src, &tokens, t)?;
                    }
                    "raw" => {
                        // Everything up to `{% endraw %}` is written as it is: literal text.
                        let mut n = t + 1;
                        loop {
                            match tokens.get(n) {
                                None => {
                                    return err(
                                        span.start,
                                        "`{% raw %}` is not closed by `{% endraw %}`",
                                    );
                                }
                                Some(Token::Tag { name, .. }) if &src[name.clone()] == "endraw" => {
                                    break;
                                }
                                Some(
                                    Token::Text(r)
                                    | Token::Output { span: r, .. }
                                    | Token::Tag { span: r, .. },
                                ) => {
                                    literal(
                                        src,
                                        r.clone(),
                                        position,
                                        &mut state,
                                        &mut last_quote,
                                        in_capture(&blocks),
                                    )?;
                                }
                            }
                            n += 1;
                        }
                        t = n;
                    }
                    "for" => {
                        check_for_range(src, span.clone())?;
                        // Each iteration starts by counting itself against the render budget.
                        // The tag trims the whitespace after it when the `for` tag does.
                        rewritten.push_str(&src[copied..span.end]);
                        copied = span.end;
                        let trims = src.as_bytes()[span.end - 3] == b'-';
                        rewritten.push_str("{% ");
                        rewritten.push_str(LOOP_TAG);
                        rewritten.push_str(if trims { " -%}" } else { " %}" });
                        blocks.push(Block {
                            name: name.to_owned(),
                            opened_at: span.start,
                            state,
                        });
                    }
                    _ if BLOCKS.iter().any(|(open, _)| *open == name) => blocks.push(Block {
                        name: name.to_owned(),
                        opened_at: span.start,
                        state,
                    }),
                    _ if BLOCKS.iter().any(|(_, close)| *close == name) => {
                        let Some(block) = blocks.pop() else {
                            return err(span.start, format!("`{{% {name} %}}` has no opening tag"));
                        };
                        let open = BLOCKS
                            .iter()
                            .find(|(_, close)| *close == name)
                            .map_or("", |(o, _)| *o);
                        if block.name != open {
                            return err(
                                span.start,
                                format!("`{{% {name} %}}` closes `{{% {} %}}`", block.name),
                            );
                        }
                        if block.name == "capture" {
                            state = block.state;
                        } else {
                            check_state(&block, state, span.start, name)?;
                        }
                    }
                    _ if BRANCHES.contains(&name) => {
                        let Some(block) = blocks.last() else {
                            return err(
                                span.start,
                                format!("`{{% {name} %}}` is outside any block"),
                            );
                        };
                        check_state(block, state, span.start, name)?;
                    }
                    "break" | "continue" => {
                        let Some(block) = blocks.iter().rev().find(|b| b.name == "for") else {
                            return err(
                                span.start,
                                format!("`{{% {name} %}}` is outside a `{{% for %}}` loop"),
                            );
                        };
                        check_state(block, state, span.start, name)?;
                    }
                    _ if PLAIN_TAGS.contains(&name) => {}
                    "" => return err(span.start, "a tag needs a name, like `{% if %}`"),
                    _ => {
                        return err(
                            span.start,
                            format!(
                                "the tag `{{% {name} %}}` is not supported in webhook templates"
                            ),
                        );
                    }
                }
            }
        }
        t += 1;
    }
    if let Some(block) = blocks.last() {
        return err(
            block.opened_at,
            format!("`{{% {} %}}` is not closed", block.name),
        );
    }
    if position == Position::Json && state != JsonState::Outside {
        return err(last_quote, "this JSON string is never closed");
    }
    rewritten.push_str(&src[copied..]);
    Ok(Scanned {
        rewritten,
        pieces,
        outputs,
    })
}

/// The widest `{% for %}` range allowed: Liquid builds the whole range in memory before looping.
pub const MAX_RANGE: i64 = 10_000;

/// A `(start..stop)` range in a `{% for %}` tag must have literal bounds at most [`MAX_RANGE`]
/// apart, so neither an author nor an event's values can make a render loop for ever or exhaust
/// memory.
fn check_for_range(src: &str, span: Range<usize>) -> Result<(), ScanError> {
    let bytes = src.as_bytes();
    let mut k = span.start + 2;
    let end = span.end - 2;
    while k < end {
        match bytes[k] {
            q @ (b'"' | b'\'') => {
                k += 1;
                while k < end && bytes[k] != q {
                    k += 1;
                }
            }
            b'(' => {
                let close = src[k..end].find(')').map_or(end, |n| k + n);
                let inner = &src[k + 1..close];
                let bounds = inner.split_once("..").and_then(|(a, b)| {
                    Some((a.trim().parse::<i64>().ok()?, b.trim().parse::<i64>().ok()?))
                });
                return match bounds {
                    Some((start, stop)) if stop.saturating_sub(start) < MAX_RANGE => Ok(()),
                    _ => err(
                        k,
                        format!(
                            "a range in `{{% for %}}` needs whole-number bounds at most {MAX_RANGE} apart, like (1..10)"
                        ),
                    ),
                };
            }
            _ => {}
        }
        k += 1;
    }
    Ok(())
}

fn in_capture(blocks: &[Block]) -> bool {
    blocks.iter().any(|b| b.name == "capture")
}

fn check_state(block: &Block, state: JsonState, at: usize, tag: &str) -> Result<(), ScanError> {
    if block.state == state {
        return Ok(());
    }
    let what = if state == JsonState::Outside {
        "closes a JSON string opened before it"
    } else {
        "is inside a JSON string opened after"
    };
    err(
        at,
        format!(
            "`{{% {tag} %}}` {what} `{{% {} %}}`; open and close each string in the same branch",
            block.name
        ),
    )
}

/// Feeds literal text to the position's checks and the JSON string state.
fn literal(
    src: &str,
    r: Range<usize>,
    position: Position,
    state: &mut JsonState,
    last_quote: &mut usize,
    in_capture: bool,
) -> Result<(), ScanError> {
    let bytes = src.as_bytes();
    match position {
        Position::Json if !in_capture => {
            for k in r {
                *state = match (*state, bytes[k]) {
                    (JsonState::Outside, b'"') => {
                        *last_quote = k;
                        JsonState::InString
                    }
                    (JsonState::Outside, _) => JsonState::Outside,
                    (JsonState::InString, b'"') => JsonState::Outside,
                    (JsonState::InString, b'\\') => JsonState::AfterBackslash,
                    (JsonState::InString, _) | (JsonState::AfterBackslash, _) => {
                        JsonState::InString
                    }
                };
            }
        }
        Position::Url if !in_capture => {
            for (k, c) in src[r.clone()].char_indices() {
                let at = r.start + k;
                let bad = match c {
                    '%' => {
                        let hex = |n: usize| bytes.get(at + n).is_some_and(u8::is_ascii_hexdigit);
                        if hex(1) && hex(2) {
                            None
                        } else {
                            Some("`%` must start a percent-escape like `%20`".to_owned())
                        }
                    }
                    c if c.is_ascii_graphic() && !"\"<>\\^`{|}".contains(c) => None,
                    ' ' => Some("a URL cannot contain a space (write `%20`)".to_owned()),
                    c => Some(format!("a URL cannot contain {c:?} (percent-encode it)")),
                };
                if let Some(message) = bad {
                    return err(at, message);
                }
            }
        }
        Position::Text | Position::Json | Position::Url => {}
    }
    Ok(())
}

/// Skips a `{% comment %}` block (nested comments and `{% raw %}` inside it included); returns the
/// index of its `{% endcomment %}`.
fn skip_comment(src: &str, tokens: &[Token], start: usize) -> Result<usize, ScanError> {
    let mut depth = 0usize;
    let mut in_raw = false;
    for (n, token) in tokens.iter().enumerate().skip(start) {
        if let Token::Tag { name, .. } = token {
            match (&src[name.clone()], in_raw) {
                ("endraw", true) => in_raw = false,
                (_, true) => {}
                ("raw", false) => in_raw = true,
                ("comment", false) => depth += 1,
                ("endcomment", false) => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(n);
                    }
                }
                _ => {}
            }
        }
    }
    let at = match &tokens[start] {
        Token::Tag { span, .. } => span.start,
        _ => 0,
    };
    err(at, "`{% comment %}` is not closed by `{% endcomment %}`")
}

/// A URL's scheme and host must be literal: a value can never choose where the request goes.
fn check_url_prefix(src: &str, tokens: &[Token]) -> Result<(), ScanError> {
    let (text, start) = match tokens.first() {
        Some(Token::Text(r)) => (&src[r.clone()], r.start),
        Some(Token::Output { span, .. } | Token::Tag { span, .. }) => {
            return err(
                span.start,
                "the URL must start with literal `https://` or `http://` and a host",
            );
        }
        None => return err(0, "the URL is empty"),
    };
    let lower = text.get(..8).unwrap_or(text).to_ascii_lowercase();
    let rest_at = if lower.starts_with("https://") {
        8
    } else if lower.starts_with("http://") {
        7
    } else {
        return err(start, "the URL must start with `https://` or `http://`");
    };
    let rest = &text[rest_at..];
    let host_end = rest.find(['/', '?', '#']);
    let authority = &rest[..host_end.unwrap_or(rest.len())];
    let ends_in_text = host_end.is_some() || tokens.len() == 1;
    if !ends_in_text {
        return err(
            start + rest_at + rest.len(),
            "the host must be literal text: put values in the path, query or fragment",
        );
    }
    let at = start + rest_at;
    if authority.contains('@') {
        return err(
            at,
            "credentials in the URL are not supported: use an `Authorization` header",
        );
    }
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((addr, port)) => {
                if addr.is_empty()
                    || !addr
                        .chars()
                        .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
                {
                    return err(at, "the IPv6 address in brackets is not valid");
                }
                (addr, port)
            }
            None => return err(at, "`[` opens an IPv6 address that is not closed by `]`"),
        },
        None => match authority.find(':') {
            Some(colon) => (&authority[..colon], &authority[colon..]),
            None => (authority, ""),
        },
    };
    if host.is_empty() {
        return err(at, "the URL has no host");
    }
    if !authority.starts_with('[')
        && !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_')
    {
        return err(at, format!("`{host}` is not a valid host name"));
    }
    if !port.is_empty() {
        let digits = port.strip_prefix(':').unwrap_or("x");
        if digits.is_empty()
            || !digits.chars().all(|c| c.is_ascii_digit())
            || digits.parse::<u16>().is_err()
        {
            return err(
                at + authority.len() - port.len(),
                "the port must be a number from 0 to 65535",
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewrite(src: &str, position: Position) -> String {
        scan(src, position)
            .map(|s| s.rewritten)
            .unwrap_or_else(|e| format!("error at {}: {}", e.offset, e.message))
    }

    #[test]
    fn json_outputs_escape_by_string_state() {
        assert_eq!(
            rewrite(
                r#"{"a": "{{ x }}", "b": {{ y }}, "c": {{ z | json }}}"#,
                Position::Json
            ),
            r#"{"a": "{{ x  | __hl_json_string }}", "b": {{ y  | json }}, "c": {{ z | json }}}"#
        );
    }

    #[test]
    fn quotes_inside_tag_strings_do_not_count() {
        assert_eq!(
            rewrite(r#"{"a": "{{ x | append: '"}}' }}"}"#, Position::Json),
            r#"{"a": "{{ x | append: '"}}'  | __hl_json_string }}"}"#
        );
    }

    #[test]
    fn branches_must_keep_the_string_state() {
        assert_eq!(
            rewrite(r#"{"a": {% if x %}"{% endif %}1}"#, Position::Json),
            "error at 17: `{% endif %}` is inside a JSON string opened after `{% if %}`; open and close each string in the same branch"
        );
    }

    #[test]
    fn every_loop_body_starts_by_counting_its_iteration() {
        assert_eq!(
            rewrite("{% for i in (1..2) %}a{% endfor %}", Position::Text),
            "{% for i in (1..2) %}{% __hl_loop %}a{% endfor %}"
        );
        // The whitespace the `for` tag trims after it stays trimmed.
        assert_eq!(
            rewrite("{%- for i in x -%} a {%- endfor %}", Position::Text),
            "{%- for i in x -%}{% __hl_loop -%} a {%- endfor %}"
        );
        assert_eq!(
            rewrite("{% __hl_loop %}", Position::Text),
            "error at 0: the tag `{% __hl_loop %}` is not supported in webhook templates"
        );
    }

    #[test]
    fn url_host_must_be_literal() {
        assert_eq!(
            rewrite("https://{{ host }}/x", Position::Url),
            "error at 8: the host must be literal text: put values in the path, query or fragment"
        );
        assert_eq!(
            rewrite(
                "https://h.example/{{ a | url_encode }}?q={{ b }}",
                Position::Url
            ),
            "https://h.example/{{ a | __hl_url }}?q={{ b  | __hl_url }}"
        );
    }
}
