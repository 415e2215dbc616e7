//! Liquid templates for webhooks: parsed once when a webhook is saved, rendered with every value
//! escaped for where it lands.
//!
//! A template is parsed for a [`Position`] (plain text, URL or JSON body). [`scan`] finds each
//! `{{ }}` output and appends the filter that escapes its value there, and starts each
//! `{% for %}` body with a tag that counts the iteration against the render [`budget`]; the
//! rewritten source is then parsed by Liquid (the `liquid` crate's engine and standard library)
//! and rendered on [`runtime`]'s lax globals, where a missing value is nil. Templates made only of
//! literal text and `{{ a.b.c }}` outputs (like the seed's example body) are also kept as a list of
//! pieces that render without the Liquid runtime; the result is the same, byte for byte, and the
//! tests check both ways.
//!
//! Layout: [`scan`] (lexer, escaping by position, save-time checks), [`escape`] (JSON and URL
//! escaping, the filters), [`data`] (the lax value tree), [`date`] (the `date` filter),
//! [`runtime`] (the tags and filters allowed, the lax globals frame), [`budget`] (the render
//! budget: what one render may do, counted as it runs).

mod budget;
mod data;
mod date;
mod escape;
mod runtime;
mod scan;

use std::fmt;

use budget::Limited;
pub use budget::{Budget, Exceeded, Limits};
pub use data::Data;
pub use escape::{
    Escape, json_literal_into, json_quoted_into, json_string_into, url_component_into,
};
use scan::Piece;
pub use scan::Position;

/// Why a template does not parse, at a 1-based line and column (columns count characters).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct TemplateError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl TemplateError {
    fn at(source: &str, offset: usize, message: impl Into<String>) -> TemplateError {
        let (line, column) = line_column(source, offset);
        TemplateError {
            line,
            column,
            message: message.into(),
        }
    }
}

/// The 1-based line and column (in characters) of a byte offset.
pub fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(source.len());
    while !source.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |n| n + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// A parsed template, ready to render many times. `Send + Sync`.
pub struct Template {
    source: String,
    position: Position,
    liquid: liquid_core::runtime::Template,
    pieces: Option<Vec<Fast>>,
}

/// A piece of a tag-free template, rendered without walking a Liquid template.
enum Fast {
    Literal(String),
    /// A bare path, looked up directly.
    Value {
        path: Vec<String>,
        escape: Escape,
    },
    /// An output with filters: a template of its own (outputs without tags share no state).
    Output(liquid_core::runtime::Template),
}

impl fmt::Debug for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Template")
            .field("source", &self.source)
            .field("position", &self.position)
            .field("fast", &self.pieces.is_some())
            .finish()
    }
}

impl Template {
    /// Parses `source` for `position`; errors say where.
    pub fn parse(source: &str, position: Position) -> Result<Template, TemplateError> {
        let scanned = scan::scan(source, position)
            .map_err(|e| TemplateError::at(source, e.offset, e.message))?;
        // Parse the author's text first, so that liquid's own errors point into what they wrote.
        runtime::parse(source).map_err(|e| liquid_error(source, &scanned.outputs, &e))?;
        let liquid = runtime::parse(&scanned.rewritten)
            .map_err(|e| liquid_error(source, &scanned.outputs, &e))?;
        let pieces = scanned.pieces.and_then(|pieces| {
            pieces
                .into_iter()
                .map(|piece| match piece {
                    Piece::Literal(text) => Some(Fast::Literal(text)),
                    Piece::Value { path, escape } => Some(Fast::Value { path, escape }),
                    Piece::Output(source) => runtime::parse(&source).ok().map(Fast::Output),
                })
                .collect()
        });
        Ok(Template {
            source: source.to_owned(),
            position,
            liquid,
            pieces,
        })
    }

    /// The text the template was parsed from.
    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn position(&self) -> Position {
        self.position
    }

    /// Whether this template renders without the Liquid runtime.
    pub fn is_fast(&self) -> bool {
        self.pieces.is_some()
    }

    /// Whether this template is literal text and bare values only (no tags, no filters): its
    /// render takes microseconds whatever the event, since the budget caps what it writes.
    pub fn is_plain(&self) -> bool {
        self.pieces.as_ref().is_some_and(|pieces| {
            pieces
                .iter()
                .all(|piece| matches!(piece, Fast::Literal(_) | Fast::Value { .. }))
        })
    }

    /// Renders over `data` (an object with `event` and `message`), appending to `out`, within the
    /// default [`Limits`].
    pub fn render_to(&self, out: &mut String, data: &Data) -> Result<(), String> {
        self.render_within(out, data, &mut Budget::default())
    }

    /// Renders over `data`, appending to `out`, counting against `budget`; a render over it fails
    /// with the budget's message, naming the limit.
    pub fn render_within(
        &self,
        out: &mut String,
        data: &Data,
        budget: &mut Budget,
    ) -> Result<(), String> {
        if let Some(pieces) = &self.pieces {
            let mark = out.len();
            if render_pieces(pieces, out, data, budget)?.is_some() {
                return Ok(());
            }
            // A path the fast renderer does not follow (e.g. `.size`): let Liquid decide.
            out.truncate(mark);
        }
        self.render_liquid_within(out, data, budget)
    }

    /// Renders with the Liquid runtime even when a fast form exists (tests compare both).
    pub fn render_liquid_to(&self, out: &mut String, data: &Data) -> Result<(), String> {
        self.render_liquid_within(out, data, &mut Budget::default())
    }

    fn render_liquid_within(
        &self,
        out: &mut String,
        data: &Data,
        budget: &mut Budget,
    ) -> Result<(), String> {
        let mut buf = Limited::new(budget.output_room(), self.source.len() + 64);
        let rendered = runtime::render_to(&self.liquid, &mut buf, data, budget);
        if buf.over {
            budget.fail(Exceeded::OutputBytes);
        }
        if let Some(message) = budget.message() {
            return Err(message);
        }
        rendered.map_err(|e| liquid_message(&e))?;
        budget.wrote(buf.bytes.len());
        match String::from_utf8(buf.bytes) {
            Ok(s) => {
                out.push_str(&s);
                Ok(())
            }
            Err(_) => Err("the template rendered text that is not UTF-8".to_owned()),
        }
    }

    /// Renders into a new string, within the default [`Limits`].
    pub fn render(&self, data: &Data) -> Result<String, String> {
        let mut out = String::with_capacity(self.source.len() + 64);
        self.render_to(&mut out, data)?;
        Ok(out)
    }
}

/// The fast renderer; `Ok(None)` when a bare path needs Liquid's rules (array `size`, indexing a
/// string…) and the whole template should render on the Liquid runtime instead.
fn render_pieces(
    pieces: &[Fast],
    out: &mut String,
    data: &Data,
    budget: &mut Budget,
) -> Result<Option<()>, String> {
    let mark = out.len();
    let end = mark + budget.output_room();
    // One runtime and one buffer for all the outputs with filters of this render.
    let mut runtime_pieces = pieces.iter().filter(|p| matches!(p, Fast::Output(_)));
    let ended = if runtime_pieces.next().is_none() {
        render_pieces_on(pieces, out, end, data, None)
    } else {
        runtime::with_runtime(data, budget, |runtime| {
            render_pieces_on(pieces, out, end, data, Some(runtime))
        })
    };
    if let Ok(FastEnd::OverOutput) = ended {
        budget.fail(Exceeded::OutputBytes);
    }
    if let Some(message) = budget.message() {
        return Err(message);
    }
    match ended? {
        FastEnd::Rendered => {
            budget.wrote(out.len() - mark);
            Ok(Some(()))
        }
        FastEnd::NeedsLiquid | FastEnd::OverOutput => Ok(None),
    }
}

/// How the fast renderer ended.
enum FastEnd {
    Rendered,
    /// A bare path needs Liquid's rules.
    NeedsLiquid,
    /// The text is longer than the render may still write.
    OverOutput,
}

/// Renders the pieces into `out`, up to `end` bytes.
fn render_pieces_on(
    pieces: &[Fast],
    out: &mut String,
    end: usize,
    data: &Data,
    runtime: Option<&dyn liquid_core::Runtime>,
) -> Result<FastEnd, String> {
    let mut buf = Limited::new(0, 0);
    for piece in pieces {
        match piece {
            Fast::Literal(text) => out.push_str(text),
            Fast::Value { path, escape } => match lookup(data, path) {
                Some(value) => escape.apply_into(out, value),
                None => return Ok(FastEnd::NeedsLiquid),
            },
            Fast::Output(template) => {
                let Some(runtime) = runtime else {
                    return Ok(FastEnd::NeedsLiquid);
                };
                buf.restart(end.saturating_sub(out.len()));
                let rendered = liquid_core::Renderable::render_to(template, &mut buf, runtime);
                if buf.over {
                    return Ok(FastEnd::OverOutput);
                }
                rendered.map_err(|e| liquid_message(&e))?;
                match std::str::from_utf8(&buf.bytes) {
                    Ok(text) => out.push_str(text),
                    Err(_) => return Err("the template rendered text that is not UTF-8".into()),
                }
            }
        }
        if out.len() > end {
            return Ok(FastEnd::OverOutput);
        }
    }
    Ok(FastEnd::Rendered)
}

fn lookup<'d>(data: &'d Data, path: &[String]) -> Option<&'d Data> {
    let mut value = data;
    for key in path {
        value = match value {
            Data::Object(_) | Data::Nil => value.get(key),
            Data::Array(items) => match key.as_str() {
                "first" => items.first()?,
                "last" => items.last()?,
                _ => return None,
            },
            Data::Scalar(_) => return None,
        };
    }
    Some(value)
}

/// A liquid error as one line: its message and context, without long lists or the input value.
fn liquid_message(e: &liquid_core::Error) -> String {
    let text = e.to_string();
    let mut lines = text.lines();
    let first = lines.next().unwrap_or("");
    let first = first.strip_prefix("liquid:").unwrap_or(first).trim();
    if first.starts_with("-->") {
        // A pest error: the reason is on the `= ...` line.
        return text
            .lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix("= "))
            .unwrap_or("syntax error")
            .trim_end_matches('.')
            .to_owned();
    }
    let mut message = first.to_owned();
    if first == "Unknown filter"
        && let Some(name) = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("requested filter="))
    {
        return format!("unknown filter `{name}`");
    }
    for line in lines.map(str::trim) {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        if key.starts_with("available") || key == "input" {
            continue;
        }
        let value: String = value.chars().take(120).collect();
        message.push_str(&format!("; {key}: {value}"));
    }
    message
}

/// A liquid parse error, placed where liquid says or, failing that, at the first output that does not
/// parse on its own (liquid reports unknown filters and bad filter arguments without a position).
fn liquid_error(
    source: &str,
    outputs: &[std::ops::Range<usize>],
    e: &liquid_core::Error,
) -> TemplateError {
    let text = e.to_string();
    let position = text.lines().find_map(|line| {
        let rest = line.split_once("-->")?.1.trim();
        let (line, column) = rest.split_once(':')?;
        Some((line.trim().parse().ok()?, column.trim().parse().ok()?))
    });
    let message = liquid_message(e);
    if let Some((line, column)) = position {
        return TemplateError {
            line,
            column,
            message,
        };
    }
    for span in outputs {
        if let Err(e) = runtime::parse(&source[span.clone()]) {
            return TemplateError::at(source, span.start, liquid_message(&e));
        }
    }
    TemplateError {
        line: 1,
        column: 1,
        message,
    }
}
