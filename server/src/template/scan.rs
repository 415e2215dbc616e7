//! Finds where each `{{ }}` of a template lands and appends the filter that escapes it there.
//!
//! The lexer mirrors the `liquid` crate's grammar (`{{ }}` outputs, `{% %}` tags, string literals
//! that may hold `}}`, `-` whitespace control). The walker then follows the literal text around the
//! tags: in a custom JSON body it tracks whether the text is inside a string literal, so that an output
//! there is JSON-escaped and one outside is written as a JSON literal. Every `{% %}` block must leave
//! that state as it found it, so the answer never depends on which branch runs. In a URL every output
//! is percent-encoded, and the scheme and host must be literal text.

use std::ops::Range;

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

/// One token of a template, as the parser reads it.
#[derive(Debug, Clone)]
pub enum Token {
    /// Literal text, already trimmed by neighbouring whitespace control.
    Text(Range<usize>),
    /// `{{ markup }}`; `inner` is the markup, `span` the whole tag. `escape` is how its value is
    /// written where it lands; `drop_last` says that its last filter (`url_encode` in a URL) is
    /// what the escape does already.
    Output {
        span: Range<usize>,
        inner: Range<usize>,
        escape: Escape,
        drop_last: bool,
    },
    /// `{% name args %}`; `args` is the markup after the name. `escape` is how an `echo` (or an
    /// `echo` inside a `liquid` tag) writes its value there.
    Tag {
        span: Range<usize>,
        name: Range<usize>,
        args: Range<usize>,
        escape: Escape,
    },
}

impl Token {
    /// The same tag, with `escape` for what it writes.
    fn escaped(&self, escape: Escape) -> Token {
        let mut token = self.clone();
        if let Token::Tag { escape: e, .. } = &mut token {
            *e = escape;
        }
        token
    }
}

/// Whitespace as Liquid trims it around `{%-` and `-%}`: Ruby's `strip` set.
pub fn is_liquid_space(b: u8) -> bool {
    matches!(b, b' ' | b'\n' | b'\r' | b'\t' | 0x0b | 0x0c)
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
            tokens.push(Token::Output {
                span,
                inner,
                escape: Escape::Text,
                drop_last: false,
            });
        } else {
            let mut n = inner.start;
            while n < inner.end && is_liquid_space(bytes[n]) {
                n += 1;
            }
            let name_start = n;
            if bytes.get(n) == Some(&b'#') {
                n += 1;
            } else {
                while n < inner.end && (bytes[n].is_ascii_alphanumeric() || bytes[n] == b'_') {
                    n += 1;
                }
            }
            tokens.push(Token::Tag {
                span,
                name: name_start..n,
                args: n..inner.end,
                escape: Escape::Text,
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

/// The tokens of a template, with each output's escaping decided.
#[derive(Debug)]
pub struct Scanned {
    /// Text, outputs and tags, in order; comments are gone and `raw` blocks are text.
    pub tokens: Vec<Token>,
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
    ("tablerow", "endtablerow"),
    ("ifchanged", "endifchanged"),
    ("capture", "endcapture"),
];
const BRANCHES: &[&str] = &["elsif", "else", "when"];
const PLAIN_TAGS: &[&str] = &["assign", "increment", "decrement", "break", "continue"];

/// Scans `src` for `position`: checks where its outputs land and decides how each is escaped.
pub fn scan(src: &str, position: Position) -> Result<Scanned, ScanError> {
    let lexed = lex(src)?;
    if position == Position::Url {
        check_url_prefix(src, &lexed)?;
    }
    let mut tokens = Vec::with_capacity(lexed.len());
    let mut state = JsonState::Outside;
    let mut last_quote = 0;
    let mut blocks: Vec<Block> = Vec::new();
    // How a value written here is escaped, by position and (in JSON) the string state.
    let escape_here = |state: JsonState, capture: bool, at: usize| -> Result<Escape, ScanError> {
        Ok(match position {
            _ if capture => Escape::Text,
            Position::Text => Escape::Text,
            Position::Url => Escape::Url,
            Position::Json => match state {
                JsonState::Outside => Escape::JsonLiteral,
                JsonState::InString => Escape::JsonString,
                JsonState::AfterBackslash => {
                    return err(at, "a value cannot follow a backslash inside a JSON string");
                }
            },
        })
    };
    let mut t = 0;
    while t < lexed.len() {
        match &lexed[t] {
            Token::Text(r) => {
                literal(
                    src,
                    r.clone(),
                    position,
                    &mut state,
                    &mut last_quote,
                    in_capture(&blocks),
                )?;
                tokens.push(lexed[t].clone());
            }
            Token::Output { span, inner, .. } => {
                let parts = split_filters(src, inner.clone());
                let last_name = if parts.len() > 1 {
                    parts.last().map_or("", |r| trim_liquid(src, r.clone()))
                } else {
                    ""
                };
                let escape = escape_here(state, in_capture(&blocks), span.start)?;
                tokens.push(Token::Output {
                    span: span.clone(),
                    inner: inner.clone(),
                    escape,
                    drop_last: escape.covers(last_name),
                });
            }
            Token::Tag {
                span, name, args, ..
            } => {
                let name = &src[name.clone()];
                match name {
                    "comment" => {
                        t = skip_comment(src, &lexed, t)?;
                    }
                    "#" => {}
                    "raw" => {
                        // Everything up to `{% endraw %}` is written as it is: literal text.
                        let mut n = t + 1;
                        loop {
                            match lexed.get(n) {
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
                                    tokens.push(Token::Text(r.clone()));
                                }
                            }
                            n += 1;
                        }
                        t = n;
                    }
                    "echo" | "liquid" | "cycle" => {
                        // An `echo` or a `cycle` writes a value like an output; a `liquid` tag
                        // holds no literal text, so the string state is the same for every `echo`
                        // in it.
                        let escape = escape_here(state, in_capture(&blocks), span.start)?;
                        // A `break` or `continue` in it leaves the loop here: the string state
                        // must be the loop's, as for those tags written alone.
                        if name == "liquid"
                            && breaks_out(&src[args.clone()])
                            && let Some(block) = blocks
                                .iter()
                                .rev()
                                .find(|b| b.name == "for" || b.name == "tablerow")
                        {
                            check_state(block, state, span.start, "break")?;
                        }
                        tokens.push(lexed[t].escaped(escape));
                    }
                    _ if BLOCKS.iter().any(|(open, _)| *open == name) => {
                        // How a value written here would be escaped (`tablerow` writes HTML:
                        // the parser refuses it where that is not plain text).
                        let escape = escape_here(state, in_capture(&blocks), span.start)
                            .unwrap_or(Escape::JsonString);
                        blocks.push(Block {
                            name: name.to_owned(),
                            opened_at: span.start,
                            state,
                        });
                        tokens.push(lexed[t].escaped(escape));
                    }
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
                        tokens.push(lexed[t].clone());
                    }
                    _ if BRANCHES.contains(&name) => {
                        let Some(block) = blocks.last() else {
                            return err(
                                span.start,
                                format!("`{{% {name} %}}` is outside any block"),
                            );
                        };
                        check_state(block, state, span.start, name)?;
                        tokens.push(lexed[t].clone());
                    }
                    "break" | "continue" => {
                        let Some(block) = blocks
                            .iter()
                            .rev()
                            .find(|b| b.name == "for" || b.name == "tablerow")
                        else {
                            return err(
                                span.start,
                                format!("`{{% {name} %}}` is outside a `{{% for %}}` loop"),
                            );
                        };
                        check_state(block, state, span.start, name)?;
                        tokens.push(lexed[t].clone());
                    }
                    _ if PLAIN_TAGS.contains(&name) => tokens.push(lexed[t].clone()),
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
    Ok(Scanned { tokens })
}

/// Whether a `liquid` tag's lines hold a `break` or `continue` outside any loop they open.
fn breaks_out(lines: &str) -> bool {
    let mut depth = 0usize;
    for line in lines.lines() {
        let mut words = line.split_whitespace();
        let mut word = words.next().unwrap_or("");
        // `liquid break`: a `liquid` tag on a line of its own.
        while word == "liquid" {
            word = words.next().unwrap_or("");
        }
        match word {
            "for" | "tablerow" => depth += 1,
            "endfor" | "endtablerow" => depth = depth.saturating_sub(1),
            "break" | "continue" if depth == 0 => return true,
            _ => {}
        }
    }
    false
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

    /// Each output's escape (and whether its last filter is dropped), or the error.
    fn escapes(src: &str, position: Position) -> String {
        match scan(src, position) {
            Ok(scanned) => scanned
                .tokens
                .iter()
                .filter_map(|t| match t {
                    Token::Output {
                        escape, drop_last, ..
                    } => Some(format!("{escape:?}{}", if *drop_last { "-" } else { "" })),
                    _ => None,
                })
                .collect::<Vec<_>>()
                .join(" "),
            Err(e) => format!("error at {}: {}", e.offset, e.message),
        }
    }

    #[test]
    fn json_outputs_escape_by_string_state() {
        assert_eq!(
            escapes(
                r#"{"a": "{{ x }}", "b": {{ y }}, "c": {{ z | json }}}"#,
                Position::Json
            ),
            "JsonString JsonLiteral JsonLiteral-"
        );
    }

    #[test]
    fn quotes_inside_tag_strings_do_not_count() {
        assert_eq!(
            escapes(r#"{"a": "{{ x | append: '"}}' }}"}"#, Position::Json),
            "JsonString"
        );
    }

    #[test]
    fn branches_must_keep_the_string_state() {
        assert_eq!(
            escapes(r#"{"a": {% if x %}"{% endif %}1}"#, Position::Json),
            "error at 17: `{% endif %}` is inside a JSON string opened after `{% if %}`; open and close each string in the same branch"
        );
    }

    #[test]
    fn comments_go_and_raw_is_text() {
        let scanned = scan(
            "a{% # note %}{% comment %}{{ x }}{% endcomment %}{% raw %}{{ y }}{% endraw %}",
            Position::Text,
        )
        .unwrap();
        assert!(scanned.tokens.iter().all(|t| matches!(t, Token::Text(_))));
    }

    #[test]
    fn url_host_must_be_literal() {
        assert_eq!(
            escapes("https://{{ host }}/x", Position::Url),
            "error at 8: the host must be literal text: put values in the path, query or fragment"
        );
        assert_eq!(
            escapes(
                "https://h.example/{{ a | url_encode }}?q={{ b }}",
                Position::Url
            ),
            "Url- Url"
        );
    }
}
