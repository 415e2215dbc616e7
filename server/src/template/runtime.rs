//! The Liquid runtime hookline renders with: the standard library's tags and filters plus
//! hookline's, bounded by the render budget ([`super::budget`]), and a globals frame in which a
//! missing value reads as nil.
//!
//! `liquid::Template` copies every value it looks up and fails on a missing one; here `event` and
//! `message` are looked up in place, so a loop over `event.items` sees the same lax values and
//! `{{ item.missing }}` renders empty there too.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use liquid_core::model::{
    KStringCow, KStringRef, Object, ObjectView, ScalarCow, Value, ValueCow, ValueView,
};
use liquid_core::parser::Language;
use liquid_core::runtime::{
    GlobalFrame, PartialStore, Registers, Renderable, Runtime, RuntimeCore,
};
use liquid_core::{Error, Result};
use liquid_lib::stdlib;

use super::Data;
use super::budget::{
    Bounded, Budget, BudgetFrame, CaptureBlock, IfChangedBlock, Join, LoopIteration, Replace,
    StopsOverBudget,
};
use super::date::DateParser;
use super::escape::{Escape, EscapeFilter};

/// The tags, blocks and filters templates may use. The scanner refuses the tags hookline does not
/// support (`include`, `render`, `cycle`, `tablerow`) before this parser sees them. Every filter's
/// result is measured, the tags that set variables stop a render over the budget, and `capture`,
/// `ifchanged`, `replace` and `join` are the budget's own versions of the standard library's.
pub static LANGUAGE: LazyLock<Language> = LazyLock::new(|| {
    let mut lang = Language::default();
    macro_rules! filters {
        ($bounded:path: $($plugin:expr),* $(,)?) => {
            $(
                let plugin = $plugin;
                let name = liquid_core::parser::FilterReflection::name(&plugin).to_owned();
                lang.filters.register(name, Box::new($bounded(plugin)));
            )*
        };
    }
    macro_rules! blocks {
        ($($block:expr),* $(,)?) => {
            $(
                let block = $block;
                let name = liquid_core::parser::ParseBlock::reflection(&block).start_tag().to_owned();
                lang.blocks.register(name, Box::new(block));
            )*
        };
    }
    macro_rules! tags {
        ($($tag:expr),* $(,)?) => {
            $(
                let tag = $tag;
                let name = liquid_core::parser::ParseTag::reflection(&tag).tag().to_owned();
                lang.tags.register(name, Box::new(tag));
            )*
        };
    }
    tags!(
        StopsOverBudget(stdlib::AssignTag),
        stdlib::BreakTag,
        stdlib::ContinueTag,
        StopsOverBudget(stdlib::IncrementTag),
        StopsOverBudget(stdlib::DecrementTag),
        LoopIteration,
    );
    blocks!(
        stdlib::RawBlock,
        stdlib::IfBlock,
        stdlib::UnlessBlock,
        IfChangedBlock,
        stdlib::ForBlock,
        stdlib::CommentBlock,
        CaptureBlock,
        stdlib::CaseBlock,
    );
    filters!(Bounded::value:
        stdlib::Abs, stdlib::Append, stdlib::AtLeast, stdlib::AtMost, stdlib::Capitalize,
        stdlib::Ceil, stdlib::Compact, stdlib::Concat, stdlib::Default, stdlib::DividedBy,
        stdlib::Downcase, stdlib::Escape, stdlib::EscapeOnce, stdlib::First, stdlib::Floor,
        Join, stdlib::Last, stdlib::Lstrip, stdlib::Map, stdlib::Minus, stdlib::Modulo,
        stdlib::NewlineToBr, stdlib::Plus, stdlib::Prepend, stdlib::Remove, stdlib::RemoveFirst,
        Replace, stdlib::ReplaceFirst, stdlib::Reverse, stdlib::Round, stdlib::Rstrip,
        stdlib::Size, stdlib::Slice, stdlib::Sort, stdlib::SortNatural, stdlib::Split,
        stdlib::Strip, stdlib::StripHtml, stdlib::StripNewlines, stdlib::Times, stdlib::Truncate,
        stdlib::TruncateWords, stdlib::Uniq, stdlib::Upcase, stdlib::UrlDecode,
        stdlib::UrlEncode, stdlib::Where,
        DateParser,
    );
    filters!(Bounded::output:
        EscapeFilter(Escape::JsonLiteral), EscapeFilter(Escape::JsonString),
        EscapeFilter(Escape::Text), EscapeFilter(Escape::Url),
    );
    lang
});

/// Parses `text` with [`LANGUAGE`].
pub fn parse(text: &str) -> Result<liquid_core::runtime::Template> {
    liquid_core::parser::parse(text, &LANGUAGE).map(liquid_core::runtime::Template::new)
}

/// Renders `template` over `data` (an object with `event` and `message`) within `budget`.
pub fn render_to(
    template: &liquid_core::runtime::Template,
    writer: &mut dyn std::io::Write,
    data: &Data,
    budget: &mut Budget,
) -> Result<()> {
    with_runtime(data, budget, |runtime| template.render_to(writer, runtime))
}

/// Calls `f` with a runtime over `data` that counts against `budget`, so several templates can
/// render on one.
pub fn with_runtime<T>(data: &Data, budget: &mut Budget, f: impl FnOnce(&dyn Runtime) -> T) -> T {
    let runtime = BudgetFrame(GlobalFrame::new(LaxFrame {
        parent: RuntimeCore::default(),
        data,
        indexes: Default::default(),
    }));
    *runtime.registers().get_mut::<Budget>() = budget.for_template();
    let result = f(&runtime);
    *budget = std::mem::take(&mut *runtime.registers().get_mut::<Budget>());
    result
}

/// Looks a path up in the data without copying, with Liquid's own rules (arrays answer `first`,
/// `last`, `size` and indexes; strings `size`); since objects here answer a missing key with nil,
/// only a path through a number or a string can fail, and that reads as nil too.
fn lax_find<'d>(data: &'d Data, path: &[ScalarCow<'_>]) -> ValueCow<'d> {
    liquid_core::model::try_find(data, path).unwrap_or(ValueCow::Owned(Value::Nil))
}

/// The globals frame: `event`, `message`, the counters of `increment` and `decrement`, and nil for
/// any other name (`assign`ed names live in the frame above).
struct LaxFrame<'d, P> {
    parent: P,
    data: &'d Data,
    indexes: std::cell::RefCell<Object>,
}

impl<P: Runtime> LaxFrame<'_, P> {
    /// A counter's value (copied: the counters sit behind a `RefCell`), or nil.
    fn index_value(&self, path: &[ScalarCow<'_>]) -> ValueCow<'static> {
        let indexes = self.indexes.borrow();
        liquid_core::model::try_find(indexes.as_value(), path)
            .map_or(ValueCow::Owned(Value::Nil), |v| {
                ValueCow::Owned(v.into_owned())
            })
    }

    fn is_global(&self, path: &[ScalarCow<'_>]) -> bool {
        let Some(key) = path.first() else {
            return false;
        };
        let key = key.to_kstr();
        matches!(self.data, Data::Object(entries) if entries.iter().any(|(k, _)| k.as_str() == key.as_str()))
    }
}

impl<P: Runtime> Runtime for LaxFrame<'_, P> {
    fn partials(&self) -> &dyn PartialStore {
        self.parent.partials()
    }

    fn name(&self) -> Option<KStringRef<'_>> {
        self.parent.name()
    }

    fn roots(&self) -> BTreeSet<KStringCow<'_>> {
        let mut roots = self.parent.roots();
        if let Data::Object(entries) = self.data {
            roots.extend(entries.iter().map(|(k, _)| KStringCow::from(k.as_ref())));
        }
        roots
    }

    fn try_get(&self, path: &[ScalarCow<'_>]) -> Option<ValueCow<'_>> {
        if self.is_global(path) {
            return Some(lax_find(self.data, path));
        }
        Some(self.index_value(path))
    }

    fn get(&self, path: &[ScalarCow<'_>]) -> Result<ValueCow<'_>> {
        if path.is_empty() {
            return Err(Error::with_msg("Unknown variable"));
        }
        if self.is_global(path) {
            return Ok(lax_find(self.data, path));
        }
        Ok(self.index_value(path))
    }

    fn set_global(&self, name: liquid_core::model::KString, val: Value) -> Option<Value> {
        self.parent.set_global(name, val)
    }

    fn set_index(&self, name: liquid_core::model::KString, val: Value) -> Option<Value> {
        self.indexes.borrow_mut().insert(name, val)
    }

    fn get_index<'a>(&'a self, name: &str) -> Option<ValueCow<'a>> {
        self.indexes
            .borrow()
            .get(name)
            .map(|v| ValueCow::Owned(v.clone()))
    }

    fn registers(&self) -> &Registers {
        self.parent.registers()
    }
}
