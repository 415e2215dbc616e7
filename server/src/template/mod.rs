//! Liquid templates for webhooks: parsed once when a webhook is saved, rendered with every value
//! escaped for where it lands.
//!
//! hookline runs its own Liquid, with Shopify's semantics for every tag and filter it accepts (the
//! differential suite in `tests/core_liquid_differential.rs` checks it against LiquidJS, and lists
//! each intended difference with its reason). A template is parsed for a [`Position`] (plain text,
//! URL or JSON body): [`scan`] finds where each `{{ }}` lands and decides how its value is escaped
//! there, [`syntax`] builds the tree of tags and values, and [`render`] runs it over the data,
//! where a missing value is nil, within the render [`budget`].
//!
//! Layout: [`scan`] (lexer, escaping by position, save-time checks), [`syntax`] (values, filters,
//! conditions, tags), [`render`] (the evaluator), [`filters`], [`date`] (the `date` filter),
//! [`escape`] (JSON and URL escaping), [`data`] (the values), [`budget`] (what one render may do,
//! counted as it runs).

mod budget;
mod data;
mod date;
mod escape;
pub mod filters;
mod render;
mod scan;
mod syntax;

use std::fmt;

pub use budget::{Budget, Exceeded, Limits};
pub use data::Data;
pub use escape::{
    Escape, json_literal_into, json_quoted_into, json_string_into, url_component_into,
};
pub use scan::Position;
use syntax::Node;

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
    nodes: Vec<Node>,
    /// Literal text and bare values only: rendered by [`render::render_plain`].
    plain: bool,
}

impl fmt::Debug for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Template")
            .field("source", &self.source)
            .field("position", &self.position)
            .finish()
    }
}

impl Template {
    /// Parses `source` for `position`; errors say where.
    pub fn parse(source: &str, position: Position) -> Result<Template, TemplateError> {
        let at = |e: scan::ScanError| TemplateError::at(source, e.offset, e.message);
        let scanned = scan::scan(source, position).map_err(at)?;
        let nodes = syntax::parse(source, scanned.tokens).map_err(at)?;
        Ok(Template {
            source: source.to_owned(),
            position,
            plain: render::is_plain(&nodes),
            nodes,
        })
    }

    /// The text the template was parsed from.
    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn position(&self) -> Position {
        self.position
    }

    /// Whether the template has no tags (literal text and outputs only): where its outputs land
    /// is then the same for every event.
    pub fn is_tag_free(&self) -> bool {
        self.nodes
            .iter()
            .all(|node| matches!(node, Node::Text(_) | Node::Output { .. }))
    }

    /// Whether this template is literal text and bare values only (no tags, no filters): its
    /// render takes microseconds whatever the event, since the budget caps what it writes.
    pub fn is_plain(&self) -> bool {
        self.plain
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
        if self.plain {
            render::render_plain(&self.nodes, data, out, budget)
        } else {
            render::render(&self.nodes, data, out, budget)
        }
    }

    /// Renders into a new string, within the default [`Limits`].
    pub fn render(&self, data: &Data) -> Result<String, String> {
        let mut out = String::with_capacity(self.source.len() + 64);
        self.render_to(&mut out, data)?;
        Ok(out)
    }
}
