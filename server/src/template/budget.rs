//! The render budget: how much one render may do. Templates are user input that the server renders
//! for every delivery, so the work is counted while the template runs (loop iterations, bytes
//! written, bytes held in values) and the render stops, with an error naming the limit, as soon
//! as one is passed: a template that would loop 10^12 times stops after the limit.
//!
//! The counters live in the Liquid runtime's registers, where the pieces below find them:
//! - every `{% for %}` body starts with the [`LOOP_TAG`] that [`super::scan`] adds, which counts
//!   one iteration;
//! - `capture` and `ifchanged` render into buffers that refuse to grow past their limit;
//! - every filter's result is measured ([`Bounded`]), and `replace` and `join`, which can multiply
//!   their input, check the size of their result before building it;
//! - [`BudgetFrame`] counts what variables hold (`assign`, `capture`, `increment`), and the tags
//!   that set them stop the render once that is too much ([`StopsOverBudget`]);
//! - what reaches the output goes through a [`Limited`] writer.

use std::cell::RefMut;
use std::collections::BTreeSet;
use std::fmt;
use std::io::Write;

use liquid_core::model::{KString, KStringCow, KStringRef, ScalarCow, Value, ValueCow, ValueView};
use liquid_core::parser::{FilterArguments, FilterReflection, ParameterReflection, ParseFilter};
use liquid_core::runtime::{PartialStore, Registers, Renderable, Runtime};
use liquid_core::{
    BlockReflection, Error, Expression, Filter, Language, ParseBlock, ParseTag, Result, TagBlock,
    TagReflection, TagTokenIter, Template,
};

/// The limits of one render of a webhook (its URL, headers and body together); the `[templates]`
/// section of the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Iterations of all `{% for %}` loops together.
    pub max_loop_iterations: u64,
    /// Bytes of rendered text (URL, headers and body together).
    pub max_output_bytes: usize,
    /// Bytes that a template's variables may hold at once (`assign`, `capture`, counters), which
    /// is also the most one filter may return (but for the filters that escape a value for the
    /// output, held to `max_output_bytes`).
    pub max_value_bytes: usize,
}

impl Default for Limits {
    /// A loop over an event's array of a few hundred items, even nested once, fits; so does a body
    /// a hundred times larger than a usual one of a few kB.
    fn default() -> Limits {
        Limits {
            max_loop_iterations: 10_000,
            max_output_bytes: 256 * 1024,
            max_value_bytes: 256 * 1024,
        }
    }
}

/// Which limit a render passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exceeded {
    /// `max_loop_iterations`.
    LoopIterations,
    /// `max_output_bytes`.
    OutputBytes,
    /// `max_value_bytes`.
    ValueBytes,
}

/// What one render has used of its [`Limits`]. The templates of one webhook render share one, so
/// that a webhook's fields together stay within the limits.
#[derive(Debug, Clone, Default)]
pub struct Budget {
    limits: Limits,
    iterations: u64,
    output: usize,
    /// Held by the variables of the template being rendered (each template has its own).
    values: usize,
    exceeded: Option<Exceeded>,
}

impl Budget {
    pub fn new(limits: Limits) -> Budget {
        Budget {
            limits,
            ..Budget::default()
        }
    }

    /// The limit this render passed, if it did.
    pub fn exceeded(&self) -> Option<Exceeded> {
        self.exceeded
    }

    /// The error a render over the budget fails with, naming the limit.
    pub fn message(&self) -> Option<String> {
        let limits = &self.limits;
        Some(match self.exceeded? {
            Exceeded::LoopIterations => format!(
                "the template ran more than {} loop iterations (the render budget)",
                limits.max_loop_iterations
            ),
            Exceeded::OutputBytes => format!(
                "the template produced more than {} bytes (the render budget)",
                limits.max_output_bytes
            ),
            Exceeded::ValueBytes => format!(
                "the template's variables and filter results took more than {} bytes (the render budget)",
                limits.max_value_bytes
            ),
        })
    }

    /// Records that `limit` was passed (the first one passed stays the one named).
    pub(super) fn fail(&mut self, limit: Exceeded) -> Error {
        self.exceeded.get_or_insert(limit);
        Error::with_msg(self.message().unwrap_or_default())
    }

    /// An error once any limit was passed: the render stops at the next check.
    fn check(&self) -> Result<()> {
        match self.message() {
            Some(message) => Err(Error::with_msg(message)),
            None => Ok(()),
        }
    }

    /// Bytes the render may still write.
    pub(super) fn output_room(&self) -> usize {
        self.limits.max_output_bytes.saturating_sub(self.output)
    }

    /// Counts `n` bytes written (the writer checked them against [`Budget::output_room`]).
    pub(super) fn wrote(&mut self, n: usize) {
        self.output += n;
    }

    /// Prepares the budget for one template: its variables start empty.
    pub(super) fn for_template(&self) -> Budget {
        Budget {
            values: 0,
            ..self.clone()
        }
    }

    fn loop_iteration(&mut self) -> Result<()> {
        self.check()?;
        self.iterations += 1;
        if self.iterations > self.limits.max_loop_iterations {
            return Err(self.fail(Exceeded::LoopIterations));
        }
        Ok(())
    }

    /// A filter's result: no larger than a variable may hold or, for the filters that escape a
    /// value for the output, than the output may be.
    fn computed(&mut self, size: usize, kind: Measure) -> Result<()> {
        self.check()?;
        let (max, limit) = match kind {
            Measure::Value => (self.limits.max_value_bytes, Exceeded::ValueBytes),
            Measure::Output => (self.limits.max_output_bytes, Exceeded::OutputBytes),
        };
        if size > max {
            return Err(self.fail(limit));
        }
        Ok(())
    }

    /// A variable set: it now holds `added` bytes instead of `released`.
    fn hold(&mut self, added: usize, released: usize) {
        self.values = self.values.saturating_sub(released) + added;
        if self.values > self.limits.max_value_bytes {
            self.fail(Exceeded::ValueBytes);
        }
    }
}

/// The budget of the render under way, in the runtime's registers. Borrow it briefly: the
/// registers are one `RefCell`.
fn budget(runtime: &dyn Runtime) -> RefMut<'_, Budget> {
    runtime.registers().get_mut::<Budget>()
}

/// The bytes a value holds as the budget counts them: a string's length, 8 for a number or a
/// boolean, and for an array or an object the sum of its items (and keys) plus one per item.
fn value_size(value: &dyn ValueView) -> usize {
    if let Some(scalar) = value.as_scalar() {
        return match scalar.type_name() {
            "string" => scalar.to_kstr().len(),
            _ => 8,
        };
    }
    if let Some(array) = value.as_array() {
        return array.values().map(|item| value_size(item) + 1).sum();
    }
    if let Some(object) = value.as_object() {
        return object
            .iter()
            .map(|(key, item)| key.len() + value_size(item) + 1)
            .sum();
    }
    0
}

/// A buffer that refuses to grow past `limit`: the write that would pass it fails, which stops
/// Liquid mid-render, and `over` says why.
pub(super) struct Limited {
    pub bytes: Vec<u8>,
    limit: usize,
    pub over: bool,
}

impl Limited {
    pub fn new(limit: usize, capacity: usize) -> Limited {
        Limited {
            bytes: Vec::with_capacity(capacity.min(limit)),
            limit,
            over: false,
        }
    }

    /// Empties the buffer (keeping its memory) for a new `limit`.
    pub fn restart(&mut self, limit: usize) {
        self.bytes.clear();
        self.limit = limit;
        self.over = false;
    }
}

impl Write for Limited {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if self.bytes.len() + data.len() > self.limit {
            self.over = true;
            return Err(std::io::Error::other("over the render budget"));
        }
        self.bytes.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The tag [`super::scan`] puts at the start of every `{% for %}` body; authors cannot write it.
pub const LOOP_TAG: &str = "__hl_loop";

/// [`LOOP_TAG`]: counts one loop iteration.
#[derive(Clone, Copy, Debug)]
pub struct LoopIteration;

impl TagReflection for LoopIteration {
    fn tag(&self) -> &str {
        LOOP_TAG
    }

    fn description(&self) -> &str {
        "Counts one loop iteration against the render budget."
    }
}

impl ParseTag for LoopIteration {
    fn parse(&self, mut arguments: TagTokenIter<'_>, _: &Language) -> Result<Box<dyn Renderable>> {
        arguments.expect_nothing()?;
        Ok(Box::new(CountIteration))
    }

    fn reflection(&self) -> &dyn TagReflection {
        self
    }
}

#[derive(Debug)]
struct CountIteration;

impl Renderable for CountIteration {
    fn render_to(&self, _: &mut dyn Write, runtime: &dyn Runtime) -> Result<()> {
        budget(runtime).loop_iteration()
    }
}

/// A tag that sets a variable (`assign`, `increment`, `decrement`), made to stop the render when
/// the variables then hold more than the budget allows.
#[derive(Clone, Debug)]
pub struct StopsOverBudget<T>(pub T);

impl<T: ParseTag + Clone + 'static> ParseTag for StopsOverBudget<T> {
    fn parse(
        &self,
        arguments: TagTokenIter<'_>,
        options: &Language,
    ) -> Result<Box<dyn Renderable>> {
        let tag = self.0.parse(arguments, options)?;
        Ok(Box::new(Checked(tag)))
    }

    fn reflection(&self) -> &dyn TagReflection {
        self.0.reflection()
    }
}

#[derive(Debug)]
struct Checked(Box<dyn Renderable>);

impl Renderable for Checked {
    fn render_to(&self, writer: &mut dyn Write, runtime: &dyn Runtime) -> Result<()> {
        self.0.render_to(writer, runtime)?;
        budget(runtime).check()
    }
}

/// Which limit a filter's result is held to.
#[derive(Clone, Copy, Debug)]
enum Measure {
    Value,
    /// The filters that escape a value for where it lands (`json` and those [`super::scan`]
    /// appends): their result is text for the output, as the fast renderer writes it.
    Output,
}

/// A filter whose result is measured, since some grow their input without a loop: a chain of
/// `json` doubles a quote each time.
#[derive(Clone, Debug)]
pub struct Bounded<F> {
    filter: F,
    kind: Measure,
}

impl<F> Bounded<F> {
    /// A filter whose result may be as large as a variable may hold.
    pub fn value(filter: F) -> Bounded<F> {
        Bounded {
            filter,
            kind: Measure::Value,
        }
    }

    /// An escaping filter, whose result may be as large as the output may be.
    pub fn output(filter: F) -> Bounded<F> {
        Bounded {
            filter,
            kind: Measure::Output,
        }
    }
}

impl<F: ParseFilter + Clone + 'static> ParseFilter for Bounded<F> {
    fn parse(&self, arguments: FilterArguments<'_>) -> Result<Box<dyn Filter>> {
        Ok(Box::new(BoundedFilter {
            filter: self.filter.parse(arguments)?,
            kind: self.kind,
        }))
    }

    fn reflection(&self) -> &dyn FilterReflection {
        self.filter.reflection()
    }
}

#[derive(Debug)]
struct BoundedFilter {
    filter: Box<dyn Filter>,
    kind: Measure,
}

impl fmt::Display for BoundedFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.filter, f)
    }
}

impl Filter for BoundedFilter {
    fn evaluate(&self, input: &dyn ValueView, runtime: &dyn Runtime) -> Result<Value> {
        let value = self.filter.evaluate(input, runtime)?;
        budget(runtime).computed(value_size(&value), self.kind)?;
        Ok(value)
    }
}

fn invalid_arguments(cause: &'static str) -> Error {
    Error::with_msg("Invalid number of arguments").context("cause", cause)
}

/// The text of a filter's argument (what the standard library's string arguments take).
fn text_of(argument: &Expression, runtime: &dyn Runtime) -> Result<String> {
    Ok(argument.evaluate(runtime)?.to_kstr().as_str().to_owned())
}

/// `replace: search, replacement`, as in the standard library, but its result's size is known
/// before it is built: one short search replaced by a long text (or an empty search, which
/// matches between every character) multiplies the input.
#[derive(Clone, Copy, Debug)]
pub struct Replace;

const REPLACE_PARAMETERS: &[ParameterReflection] = &[
    ParameterReflection {
        name: "search",
        description: "The text to search.",
        is_optional: false,
    },
    ParameterReflection {
        name: "replace",
        description: "The text to replace it with (nothing when not given).",
        is_optional: true,
    },
];

impl FilterReflection for Replace {
    fn name(&self) -> &str {
        "replace"
    }

    fn description(&self) -> &str {
        "Replaces every occurrence of `search` with `replace`."
    }

    fn positional_parameters(&self) -> &'static [ParameterReflection] {
        REPLACE_PARAMETERS
    }

    fn keyword_parameters(&self) -> &'static [ParameterReflection] {
        &[]
    }
}

impl ParseFilter for Replace {
    fn parse(&self, mut arguments: FilterArguments<'_>) -> Result<Box<dyn Filter>> {
        let search = arguments
            .positional
            .next()
            .ok_or_else(|| invalid_arguments("expected at least 1 positional argument"))?;
        let replacement = arguments.positional.next();
        if arguments.positional.next().is_some() {
            return Err(Error::with_msg("Invalid number of positional arguments")
                .context("cause", "expected at most 2 positional arguments"));
        }
        if let Some((name, _)) = arguments.keyword.next() {
            return Err(Error::with_msg(format!(
                "Unexpected named argument `{name}`"
            )));
        }
        Ok(Box::new(ReplaceFilter {
            search,
            replacement,
        }))
    }

    fn reflection(&self) -> &dyn FilterReflection {
        self
    }
}

#[derive(Debug)]
struct ReplaceFilter {
    search: Expression,
    replacement: Option<Expression>,
}

impl fmt::Display for ReplaceFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "replace: {}", self.search)?;
        match &self.replacement {
            Some(replacement) => write!(f, ", {replacement}"),
            None => Ok(()),
        }
    }
}

impl Filter for ReplaceFilter {
    fn evaluate(&self, input: &dyn ValueView, runtime: &dyn Runtime) -> Result<Value> {
        let search = text_of(&self.search, runtime)?;
        let replacement = match &self.replacement {
            Some(expression) => text_of(expression, runtime)?,
            None => String::new(),
        };
        let input = input.to_kstr();
        let found = input.matches(search.as_str()).count();
        let size = (input.len() - found * search.len())
            .saturating_add(found.saturating_mul(replacement.len()));
        budget(runtime).computed(size, Measure::Value)?;
        Ok(Value::scalar(input.replace(search.as_str(), &replacement)))
    }
}

/// `join: separator`, as in the standard library, but it stops building as soon as the result is
/// larger than a value may be (a long separator between many items multiplies it).
#[derive(Clone, Copy, Debug)]
pub struct Join;

const JOIN_PARAMETERS: &[ParameterReflection] = &[ParameterReflection {
    name: "separator",
    description: "The text between two items (a space when not given).",
    is_optional: true,
}];

impl FilterReflection for Join {
    fn name(&self) -> &str {
        "join"
    }

    fn description(&self) -> &str {
        "Joins the items of an array into one text, with a separator between them."
    }

    fn positional_parameters(&self) -> &'static [ParameterReflection] {
        JOIN_PARAMETERS
    }

    fn keyword_parameters(&self) -> &'static [ParameterReflection] {
        &[]
    }
}

impl ParseFilter for Join {
    fn parse(&self, mut arguments: FilterArguments<'_>) -> Result<Box<dyn Filter>> {
        let separator = arguments.positional.next();
        if arguments.positional.next().is_some() {
            return Err(Error::with_msg("Invalid number of positional arguments")
                .context("cause", "expected at most 1 positional argument"));
        }
        if let Some((name, _)) = arguments.keyword.next() {
            return Err(Error::with_msg(format!(
                "Unexpected named argument `{name}`"
            )));
        }
        Ok(Box::new(JoinFilter { separator }))
    }

    fn reflection(&self) -> &dyn FilterReflection {
        self
    }
}

#[derive(Debug)]
struct JoinFilter {
    separator: Option<Expression>,
}

impl fmt::Display for JoinFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.separator {
            Some(separator) => write!(f, "join: {separator}"),
            None => f.write_str("join"),
        }
    }
}

impl Filter for JoinFilter {
    fn evaluate(&self, input: &dyn ValueView, runtime: &dyn Runtime) -> Result<Value> {
        let separator = match &self.separator {
            Some(expression) => text_of(expression, runtime)?,
            None => " ".to_owned(),
        };
        let items = input.as_array().ok_or_else(|| {
            Error::with_msg("Invalid input").context("cause", "Array of strings expected")
        })?;
        let limit = budget(runtime).limits.max_value_bytes;
        let mut joined = String::new();
        for (i, item) in items.values().enumerate() {
            if i > 0 {
                joined.push_str(&separator);
            }
            joined.push_str(&item.to_kstr());
            if joined.len() > limit {
                return Err(budget(runtime).fail(Exceeded::ValueBytes));
            }
        }
        Ok(Value::scalar(joined))
    }
}

/// `{% capture name %}…{% endcapture %}`, as in the standard library, but the text captured may
/// not grow past what a variable may hold.
#[derive(Clone, Copy, Debug)]
pub struct CaptureBlock;

impl BlockReflection for CaptureBlock {
    fn start_tag(&self) -> &str {
        "capture"
    }

    fn end_tag(&self) -> &str {
        "endcapture"
    }

    fn description(&self) -> &str {
        "Renders its content into a variable."
    }
}

impl ParseBlock for CaptureBlock {
    fn parse(
        &self,
        mut arguments: TagTokenIter<'_>,
        mut block: TagBlock<'_, '_>,
        options: &Language,
    ) -> Result<Box<dyn Renderable>> {
        let name = arguments
            .expect_next("Identifier expected")?
            .expect_identifier()
            .into_result()?;
        arguments.expect_nothing()?;
        let content = Template::new(block.parse_all(options)?);
        block.assert_empty();
        Ok(Box::new(Capture {
            name: KString::from_ref(name),
            content,
        }))
    }

    fn reflection(&self) -> &dyn BlockReflection {
        self
    }
}

#[derive(Debug)]
struct Capture {
    name: KString,
    content: Template,
}

impl Renderable for Capture {
    fn render_to(&self, _: &mut dyn Write, runtime: &dyn Runtime) -> Result<()> {
        let limit = budget(runtime).limits.max_value_bytes;
        let mut captured = Limited::new(limit, 64);
        let rendered = self.content.render_to(&mut captured, runtime);
        if captured.over {
            return Err(budget(runtime).fail(Exceeded::ValueBytes));
        }
        rendered?;
        let text = String::from_utf8(captured.bytes)
            .map_err(|_| Error::with_msg("the captured text is not UTF-8"))?;
        runtime.set_global(self.name.clone(), Value::scalar(text));
        budget(runtime).check()
    }
}

/// `{% ifchanged %}…{% endifchanged %}`, as in the standard library (its content is written only
/// when it differs from the last time), but the content, rendered aside to compare, may not grow
/// past the output the render may still write.
#[derive(Clone, Copy, Debug)]
pub struct IfChangedBlock;

impl BlockReflection for IfChangedBlock {
    fn start_tag(&self) -> &str {
        "ifchanged"
    }

    fn end_tag(&self) -> &str {
        "endifchanged"
    }

    fn description(&self) -> &str {
        "Writes its content when it differs from the last time it was rendered."
    }
}

impl ParseBlock for IfChangedBlock {
    fn parse(
        &self,
        mut arguments: TagTokenIter<'_>,
        mut block: TagBlock<'_, '_>,
        options: &Language,
    ) -> Result<Box<dyn Renderable>> {
        arguments.expect_nothing()?;
        let content = Template::new(block.parse_all(options)?);
        block.assert_empty();
        Ok(Box::new(IfChanged { content }))
    }

    fn reflection(&self) -> &dyn BlockReflection {
        self
    }
}

#[derive(Debug)]
struct IfChanged {
    content: Template,
}

/// The content of the last `ifchanged` rendered.
#[derive(Default)]
struct LastChanged(Option<Vec<u8>>);

impl Renderable for IfChanged {
    fn render_to(&self, writer: &mut dyn Write, runtime: &dyn Runtime) -> Result<()> {
        let room = budget(runtime).output_room();
        let mut content = Limited::new(room, 64);
        let rendered = self.content.render_to(&mut content, runtime);
        if content.over {
            return Err(budget(runtime).fail(Exceeded::OutputBytes));
        }
        rendered?;
        let changed = {
            let mut last = runtime.registers().get_mut::<LastChanged>();
            let changed = last.0.as_deref() != Some(content.bytes.as_slice());
            if changed {
                last.0 = Some(content.bytes.clone());
            }
            changed
        };
        if changed {
            writer
                .write_all(&content.bytes)
                .map_err(|_| Error::with_msg("Failed to render"))?;
        }
        Ok(())
    }
}

/// The frame on top of a render's runtime: counts what `assign`, `capture`, `increment` and
/// `decrement` leave in variables (a value replaced no longer counts), and delegates the rest.
pub(super) struct BudgetFrame<P>(pub P);

impl<P: Runtime> Runtime for BudgetFrame<P> {
    fn partials(&self) -> &dyn PartialStore {
        self.0.partials()
    }

    fn name(&self) -> Option<KStringRef<'_>> {
        self.0.name()
    }

    fn roots(&self) -> BTreeSet<KStringCow<'_>> {
        self.0.roots()
    }

    fn try_get(&self, path: &[ScalarCow<'_>]) -> Option<ValueCow<'_>> {
        self.0.try_get(path)
    }

    fn get(&self, path: &[ScalarCow<'_>]) -> Result<ValueCow<'_>> {
        self.0.get(path)
    }

    fn set_global(&self, name: KString, value: Value) -> Option<Value> {
        let added = value_size(&value);
        let old = self.0.set_global(name, value);
        let released = old.as_ref().map_or(0, |v| value_size(v));
        budget(self).hold(added, released);
        old
    }

    fn set_index(&self, name: KString, value: Value) -> Option<Value> {
        let added = value_size(&value);
        let old = self.0.set_index(name, value);
        let released = old.as_ref().map_or(0, |v| value_size(v));
        budget(self).hold(added, released);
        old
    }

    fn get_index<'a>(&'a self, name: &str) -> Option<ValueCow<'a>> {
        self.0.get_index(name)
    }

    fn registers(&self) -> &Registers {
        self.0.registers()
    }
}
