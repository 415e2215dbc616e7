//! Renders a parsed template over the data, within the render budget.
//!
//! Values are looked up in place (a loop over `event.items` copies each item once, as the loop
//! variable); a missing value is nil wherever it is read. Conditions follow Shopify: only nil and
//! `false` are false, `==` compares by kind (`1 == 1.0`, but `"1" != 1`), `contains` looks into a
//! string, an array or an object's keys. One addition: `<`, `>`, `<=`, `>=` read a string that is a
//! number as that number, since OneSignal's data tags are strings (`event.tags.count > 9`).

use std::borrow::Cow;
use std::cmp::Ordering;

use super::Data;
use super::budget::{Budget, Exceeded, Limits, value_size};
use super::data::NIL;
use super::filters::{self, Num, TooLarge, to_int};
use super::syntax::{Chain, Cond, Expr, Loop, Node, Offset, Op, Step};

/// How a block ended: normally, or at a `break` or `continue` on its way to the loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Normal,
    Break,
    Continue,
}

/// Where a render writes and how much it may: the output (limited by `max_output_bytes`) or a
/// `capture` or `ifchanged` buffer (limited by `max_value_bytes`).
#[derive(Debug, Clone, Copy)]
struct Sink {
    end: usize,
    over: Exceeded,
}

/// A loop under way, for `forloop` and `tablerowloop`.
#[derive(Debug, Clone, Copy)]
struct LoopState {
    table: bool,
    index0: usize,
    length: usize,
    cols: usize,
}

impl LoopState {
    /// One field of the loop object (`parentloop` aside).
    fn field(&self, name: &str) -> Data {
        let i = self.index0 as i64;
        let n = self.length as i64;
        let cols = self.cols as i64;
        let col0 = if cols == 0 { i } else { i % cols };
        match name {
            "index" => Data::Int(i + 1),
            "index0" => Data::Int(i),
            "rindex" => Data::Int(n - i),
            "rindex0" => Data::Int(n - i - 1),
            "first" => Data::Bool(i == 0),
            "last" => Data::Bool(i == n - 1),
            "length" => Data::Int(n),
            "col" if self.table => Data::Int(col0 + 1),
            "col0" if self.table => Data::Int(col0),
            "col_first" if self.table => Data::Bool(col0 == 0),
            "col_last" if self.table => Data::Bool(cols != 0 && col0 + 1 == cols),
            "row" if self.table => Data::Int(if cols == 0 { 1 } else { i / cols + 1 }),
            _ => Data::Nil,
        }
    }

    fn object(&self, parent: Option<Data>) -> Data {
        let names: &[&str] = if self.table {
            &[
                "index",
                "index0",
                "rindex",
                "rindex0",
                "first",
                "last",
                "length",
                "col",
                "col0",
                "col_first",
                "col_last",
                "row",
            ]
        } else {
            &[
                "index", "index0", "rindex", "rindex0", "first", "last", "length",
            ]
        };
        let mut entries: Vec<(String, Data)> = names
            .iter()
            .map(|n| ((*n).to_owned(), self.field(n)))
            .collect();
        if !self.table {
            entries.push(("parentloop".to_owned(), parent.unwrap_or_default()));
        }
        Data::Object(entries)
    }
}

/// The variables of one render.
struct Scope<'d> {
    data: &'d Data,
    limits: Limits,
    /// Loop variables, innermost last.
    loop_vars: Vec<(String, Data)>,
    /// `assign` and `capture`.
    assigns: Vec<(String, Data)>,
    /// `increment` and `decrement`, which Liquid keeps apart from `assign`.
    counters: Vec<(String, i64)>,
    loops: Vec<LoopState>,
}

/// What a render remembers besides variables.
struct State<'b> {
    budget: &'b mut Budget,
    cycles: std::collections::HashMap<String, usize>,
    ifchanged: Option<String>,
    /// Where each loop stopped, for `offset: continue`.
    continues: Vec<(String, usize)>,
}

/// Renders `nodes` over `data`, appending to `out`, within `budget`.
/// Renders a template made of literal text and bare values (no tags, no filters, [`is_plain`]):
/// each value is looked up straight in the data, since no variable can shadow it.
pub fn render_plain(
    nodes: &[Node],
    data: &Data,
    out: &mut String,
    budget: &mut Budget,
) -> Result<(), String> {
    let mark = out.len();
    let end = mark + budget.output_room();
    for node in nodes {
        match node {
            Node::Text(text) => out.push_str(text),
            Node::Output { chain, escape } => {
                let Expr::Path(root, steps) = &chain.value else {
                    unreachable!("a plain template's outputs are paths");
                };
                let mut value = Cow::Borrowed(data.get(root));
                for step in steps {
                    value = match (value, step) {
                        (Cow::Borrowed(v), Step::Key(k)) => step_key(v, k),
                        (Cow::Borrowed(v), Step::Index(Expr::Literal(key))) => step_index(v, key),
                        _ => Cow::Borrowed(&NIL),
                    };
                }
                escape.apply_into(out, &value);
            }
            _ => unreachable!("a plain template has no tags"),
        }
        if out.len() > end {
            return Err(budget.fail(Exceeded::OutputBytes));
        }
    }
    budget.wrote(out.len() - mark);
    Ok(())
}

/// Whether `nodes` are literal text and bare values whose steps are names or literal indexes:
/// what [`render_plain`] renders.
pub fn is_plain(nodes: &[Node]) -> bool {
    nodes.iter().all(|node| match node {
        Node::Text(_) => true,
        Node::Output { chain, .. } => {
            chain.filters.is_empty()
                && matches!(&chain.value, Expr::Path(root, steps)
                    if !root.is_empty()
                        && !matches!(root.as_str(), "forloop" | "tablerowloop")
                        && steps.iter().all(|s| matches!(s, Step::Key(_) | Step::Index(Expr::Literal(_)))))
        }
        _ => false,
    })
}

pub fn render(
    nodes: &[Node],
    data: &Data,
    out: &mut String,
    budget: &mut Budget,
) -> Result<(), String> {
    let mut template_budget = budget.for_template();
    let mark = out.len();
    let sink = Sink {
        end: mark + template_budget.output_room(),
        over: Exceeded::OutputBytes,
    };
    let mut scope = Scope {
        data,
        limits: *template_budget.limits(),
        loop_vars: Vec::new(),
        assigns: Vec::new(),
        counters: Vec::new(),
        loops: Vec::new(),
    };
    let mut state = State {
        budget: &mut template_budget,
        cycles: std::collections::HashMap::new(),
        ifchanged: None,
        continues: Vec::new(),
    };
    let result = render_nodes(nodes, &mut scope, &mut state, out, sink);
    template_budget.wrote(
        out.len()
            .saturating_sub(mark)
            .min(template_budget.output_room()),
    );
    *budget = template_budget;
    result.map(|_| ())
}

fn render_nodes(
    nodes: &[Node],
    scope: &mut Scope<'_>,
    state: &mut State<'_>,
    out: &mut String,
    sink: Sink,
) -> Result<Flow, String> {
    for node in nodes {
        let flow = render_node(node, scope, state, out, sink)?;
        if out.len() > sink.end {
            return Err(state.budget.fail(sink.over));
        }
        if flow != Flow::Normal {
            return Ok(flow);
        }
    }
    Ok(Flow::Normal)
}

fn render_node(
    node: &Node,
    scope: &mut Scope<'_>,
    state: &mut State<'_>,
    out: &mut String,
    sink: Sink,
) -> Result<Flow, String> {
    match node {
        Node::Text(text) => out.push_str(text),
        Node::Output { chain, escape } => {
            let value = scope.chain(chain, state.budget)?;
            escape.apply_into(out, &value);
        }
        Node::If {
            branches,
            otherwise,
        } => {
            for (cond, body) in branches {
                if scope.test(cond)? {
                    return render_nodes(body, scope, state, out, sink);
                }
            }
            return render_nodes(otherwise, scope, state, out, sink);
        }
        Node::Case { subject, clauses } => {
            let subject = scope.eval(subject)?.into_owned();
            let mut matched = false;
            for (values, body) in clauses {
                let hit = match values {
                    Some(values) => {
                        let mut hit = false;
                        for value in values {
                            if scope.equals(&subject, value)? {
                                hit = true;
                                break;
                            }
                        }
                        matched |= hit;
                        hit
                    }
                    None => !matched,
                };
                if hit {
                    let flow = render_nodes(body, scope, state, out, sink)?;
                    if flow != Flow::Normal {
                        return Ok(flow);
                    }
                }
            }
        }
        Node::For(l) => render_loop(l, false, scope, state, out, sink)?,
        Node::Tablerow(l) => render_loop(l, true, scope, state, out, sink)?,
        Node::Break => return Ok(Flow::Break),
        Node::Continue => return Ok(Flow::Continue),
        Node::Assign { name, chain } => {
            let value = scope.chain(chain, state.budget)?.into_owned();
            scope.set(name, value, state.budget)?;
        }
        Node::Capture { name, body } => {
            let mut text = String::new();
            let inner = Sink {
                end: state.budget.max_value_bytes(),
                over: Exceeded::ValueBytes,
            };
            // A `break` or `continue` inside stops the capture (what it holds so far is kept) and
            // then the loop.
            let flow = render_nodes(body, scope, state, &mut text, inner)?;
            scope.set(name, Data::Str(text), state.budget)?;
            return Ok(flow);
        }
        Node::Increment(name) | Node::Decrement(name) => {
            let up = matches!(node, Node::Increment(_));
            let at = match scope.counters.iter().position(|(k, _)| k == name) {
                Some(at) => at,
                None => {
                    scope.counters.push((name.clone(), 0));
                    scope.counters.len() - 1
                }
            };
            let counter = &mut scope.counters[at].1;
            if up {
                out.push_str(&counter.to_string());
                *counter = counter.saturating_add(1);
            } else {
                *counter = counter.saturating_sub(1);
                out.push_str(&counter.to_string());
            }
        }
        Node::Cycle {
            group,
            key,
            values,
            escape,
        } => {
            // Groups are told apart by value and kind (`1` is not `'1'`); without a name, by
            // the values. Each new group's name counts against what variables may hold.
            let key = match group {
                Some(group) => format!("{:?}", scope.eval(group)?),
                None => key.clone(),
            };
            let n = match state.cycles.get_mut(&key) {
                Some(n) => n,
                None => {
                    state.budget.hold(key.len(), 0)?;
                    state.cycles.entry(key).or_insert(0)
                }
            };
            let turn = *n;
            *n += 1;
            let n = turn;
            if let Some(value) = values.get(n % values.len().max(1)) {
                let value = scope.eval(value)?;
                escape.apply_into(out, &value);
            }
        }
        Node::IfChanged(body) => {
            let mut text = String::new();
            let inner = Sink {
                end: state.budget.max_value_bytes(),
                over: Exceeded::ValueBytes,
            };
            let flow = render_nodes(body, scope, state, &mut text, inner)?;
            if state.ifchanged.as_deref() != Some(text.as_str()) {
                out.push_str(&text);
                state.ifchanged = Some(text);
            }
            return Ok(flow);
        }
    }
    Ok(Flow::Normal)
}

/// What a loop runs over: values, or a range of whole numbers (never built in memory).
enum Items {
    List(Vec<Data>),
    Range(i64, i64),
}

impl Items {
    fn len(&self) -> usize {
        match self {
            Items::List(list) => list.len(),
            Items::Range(a, b) if b >= a => {
                usize::try_from(b.saturating_sub(*a).saturating_add(1)).unwrap_or(usize::MAX)
            }
            Items::Range(..) => 0,
        }
    }

    /// The item at `i`, taken out (a loop visits each index once).
    fn take(&mut self, i: usize) -> Data {
        match self {
            Items::List(list) => std::mem::take(&mut list[i]),
            Items::Range(a, _) => Data::Int(*a + i as i64),
        }
    }
}

fn render_loop(
    l: &Loop,
    table: bool,
    scope: &mut Scope<'_>,
    state: &mut State<'_>,
    out: &mut String,
    sink: Sink,
) -> Result<(), String> {
    // Nothing to loop over (nil, a number): a `tablerow` writes nothing at all.
    let mut iterable = true;
    let mut items = match &l.collection {
        Expr::Range(a, b) => Items::Range(to_int(&*scope.eval(a)?), to_int(&*scope.eval(b)?)),
        other => Items::List(match scope.eval(other)?.into_owned() {
            Data::Array(list) => list,
            Data::Object(entries) => entries
                .into_iter()
                .map(|(k, v)| Data::Array(vec![Data::Str(k), v]))
                .collect(),
            Data::Str(s) if !s.is_empty() => vec![Data::Str(s)],
            Data::Str(_) => Vec::new(),
            _ => {
                iterable = false;
                Vec::new()
            }
        }),
    };
    if table && !iterable {
        return Ok(());
    }
    let total = items.len() as i64;
    // Ruby's slice: the items from `offset` (which may be negative) up to `offset + limit`.
    let offset = match &l.offset {
        None => 0,
        Some(Offset::At(e)) => to_int(&*scope.eval(e)?),
        Some(Offset::Continue) => state
            .continues
            .iter()
            .find(|(k, _)| *k == l.key)
            .map_or(0, |(_, n)| *n as i64),
    };
    let end = match &l.limit {
        Some(e) => offset.saturating_add(to_int(&*scope.eval(e)?).max(0)),
        None => total,
    };
    let from = offset.clamp(0, total) as usize;
    let to = end.clamp(from as i64, total) as usize;
    let cols = match &l.cols {
        Some(e) => to_int(&*scope.eval(e)?).max(0) as usize,
        // Without `cols`, one row of every cell.
        None => to - from,
    };
    if !table {
        match state.continues.iter_mut().find(|(k, _)| *k == l.key) {
            Some(entry) => entry.1 = to,
            None => state.continues.push((l.key.clone(), to)),
        }
    }
    let length = to - from;
    if length == 0 && !table {
        return render_nodes(&l.otherwise, scope, state, out, sink).map(|_| ());
    }
    if table {
        out.push_str("<tr class=\"row1\">\n");
    }
    let depth = scope.loop_vars.len();
    scope.loops.push(LoopState {
        table,
        index0: 0,
        length,
        cols,
    });
    let mut result = Ok(());
    for i in 0..length {
        if let Err(e) = state.budget.loop_iteration() {
            result = Err(e);
            break;
        }
        let index = if l.reversed { to - 1 - i } else { from + i };
        scope.loop_vars.truncate(depth);
        scope.loop_vars.push((l.var.clone(), items.take(index)));
        if let Some(state) = scope.loops.last_mut() {
            state.index0 = i;
        }
        if table {
            let col = if cols == 0 { i } else { i % cols };
            out.push_str(&format!("<td class=\"col{}\">", col + 1));
        }
        let flow = match render_nodes(&l.body, scope, state, out, sink) {
            Ok(flow) => flow,
            Err(e) => {
                result = Err(e);
                break;
            }
        };
        if table {
            out.push_str("</td>");
            let col_last = cols != 0 && (i % cols) + 1 == cols;
            if col_last && i + 1 < length && flow != Flow::Break {
                out.push_str(&format!("</tr>\n<tr class=\"row{}\">", i / cols + 2));
            }
        }
        if out.len() > sink.end {
            result = Err(state.budget.fail(sink.over));
            break;
        }
        if flow == Flow::Break {
            break;
        }
    }
    scope.loops.pop();
    scope.loop_vars.truncate(depth);
    if table && result.is_ok() {
        out.push_str("</tr>\n");
    }
    result
}

impl<'d> Scope<'d> {
    /// Sets an `assign` or `capture` variable, counting what it holds against the budget.
    fn set(&mut self, name: &str, value: Data, budget: &mut Budget) -> Result<(), String> {
        let added = value_size(&value);
        match self.assigns.iter_mut().find(|(k, _)| k == name) {
            Some(entry) => {
                let released = value_size(&entry.1);
                entry.1 = value;
                budget.hold(added, released)
            }
            None => {
                self.assigns.push((name.to_owned(), value));
                budget.hold(added, 0)
            }
        }
    }

    fn eval<'a>(&'a self, expr: &'a Expr) -> Result<Cow<'a, Data>, String> {
        Ok(match expr {
            Expr::Literal(value) => Cow::Borrowed(value),
            Expr::Path(root, steps) => self.lookup(root, steps)?,
            Expr::Range(a, b) => {
                let (a, b) = (to_int(&*self.eval(a)?), to_int(&*self.eval(b)?));
                // Held as an array: 9 bytes a number, as the budget counts them.
                let items = b.saturating_sub(a).saturating_add(1).max(0);
                if items.saturating_mul(9) > self.limits.max_value_bytes as i64 {
                    return Err(Exceeded::ValueBytes.message(&self.limits));
                }
                Cow::Owned(Data::Array((a..=b).map(Data::Int).collect()))
            }
            // `empty` and `blank` only mean something in a comparison; printed, they are nothing.
            Expr::Empty | Expr::Blank => Cow::Borrowed(&NIL),
        })
    }

    /// The variable `root` (or, for `["name"]`, the first step's value) and the steps into it.
    fn lookup<'a>(&'a self, root: &'a str, steps: &'a [Step]) -> Result<Cow<'a, Data>, String> {
        let (name, steps): (Cow<'a, str>, &'a [Step]) = if root.is_empty() {
            match steps.first() {
                Some(Step::Index(e)) => (Cow::Owned(self.eval(e)?.to_text()), &steps[1..]),
                _ => (Cow::Borrowed(""), steps),
            }
        } else {
            (Cow::Borrowed(root), steps)
        };
        let (mut value, steps) = match self.loop_field(&name, steps) {
            Some((value, rest)) => (Cow::Owned(value), rest),
            None => (self.root(&name), steps),
        };
        for step in steps {
            value = match step {
                Step::Key(k) => match value {
                    Cow::Borrowed(v) => step_key(v, k),
                    Cow::Owned(v) => Cow::Owned(step_key(&v, k).into_owned()),
                },
                Step::Index(e) => {
                    let key = self.eval(e)?;
                    match value {
                        Cow::Borrowed(v) => step_index(v, &key),
                        Cow::Owned(v) => Cow::Owned(step_index(&v, &key).into_owned()),
                    }
                }
            };
        }
        Ok(value)
    }

    /// `forloop.index`, `forloop.parentloop.first`, `tablerowloop.col`…, read from the loop's
    /// state without building the whole object; the steps after it are returned.
    fn loop_field<'s>(&self, name: &str, steps: &'s [Step]) -> Option<(Data, &'s [Step])> {
        let table = match name {
            "forloop" => false,
            "tablerowloop" => true,
            _ => return None,
        };
        if self.loop_vars.iter().any(|(k, _)| k == name) {
            return None;
        }
        let mut level = 0;
        let mut rest = steps;
        while let [Step::Key(k), more @ ..] = rest {
            if k != "parentloop" || table {
                break;
            }
            level += 1;
            rest = more;
        }
        let [Step::Key(field), more @ ..] = rest else {
            return None;
        };
        let state = self
            .loops
            .iter()
            .rev()
            .filter(|l| l.table == table)
            .nth(level);
        let value = match state {
            Some(state) => state.field(field),
            None => Data::Nil,
        };
        Some((value, more))
    }

    fn root(&self, name: &str) -> Cow<'_, Data> {
        if let Some((_, v)) = self.loop_vars.iter().rev().find(|(k, _)| k == name) {
            return Cow::Borrowed(v);
        }
        if name == "forloop" || name == "tablerowloop" {
            let table = name == "tablerowloop";
            let loops: Vec<&LoopState> = self.loops.iter().filter(|l| l.table == table).collect();
            let mut object: Option<Data> = None;
            for l in loops {
                object = Some(l.object(object));
            }
            return Cow::Owned(object.unwrap_or_default());
        }
        if let Some((_, v)) = self.assigns.iter().find(|(k, _)| k == name) {
            return Cow::Borrowed(v);
        }
        if let Some((_, n)) = self.counters.iter().find(|(k, _)| k == name) {
            return Cow::Owned(Data::Int(*n));
        }
        Cow::Borrowed(self.data.get(name))
    }

    fn chain<'a>(&'a self, chain: &'a Chain, budget: &mut Budget) -> Result<Cow<'a, Data>, String> {
        let mut value = self.eval(&chain.value)?;
        let mut size = if chain.filters.is_empty() {
            0
        } else {
            value_size(&value)
        };
        for call in &chain.filters {
            let mut args = Vec::with_capacity(call.args.len());
            for arg in &call.args {
                args.push(self.eval(arg)?);
            }
            let mut keywords = Vec::with_capacity(call.keywords.len());
            for (key, arg) in &call.keywords {
                keywords.push((key.as_str(), self.eval(arg)?));
            }
            let max = budget.max_value_bytes();
            value = match filters::apply(call.filter, value, &args, &keywords, max) {
                Ok(v) => v,
                Err(TooLarge) => return Err(budget.fail(Exceeded::ValueBytes)),
            };
            let wrote = value_size(&value);
            budget.filtered(size, wrote, call.filter == filters::Filter::Json)?;
            size = wrote;
        }
        Ok(value)
    }

    fn test(&self, cond: &Cond) -> Result<bool, String> {
        Ok(match cond {
            Cond::Test(e) => match e {
                Expr::Empty | Expr::Blank => true,
                e => self.eval(e)?.is_truthy(),
            },
            Cond::Compare(a, op, b) => self.compare(a, *op, b)?,
            Cond::Chain(tests, joins) => {
                let mut value = match tests.last() {
                    Some(last) => self.test(last)?,
                    None => false,
                };
                for (test, and) in tests.iter().rev().skip(1).zip(joins.iter().rev()) {
                    value = if *and {
                        value && self.test(test)?
                    } else {
                        value || self.test(test)?
                    };
                }
                value
            }
            Cond::Not(c) => !self.test(c)?,
        })
    }

    /// A `when` value: `value == subject`.
    fn equals(&self, subject: &Data, value: &Expr) -> Result<bool, String> {
        Ok(match value {
            Expr::Empty => subject.is_empty_value(),
            Expr::Blank => subject.is_blank(),
            value => filters::equal(subject, &*self.eval(value)?),
        })
    }

    fn compare(&self, a: &Expr, op: Op, b: &Expr) -> Result<bool, String> {
        // `x == empty`, `blank != x`.
        let special = |e: &Expr| matches!(e, Expr::Empty | Expr::Blank);
        if special(a) || special(b) {
            let (literal, other) = if special(a) { (a, b) } else { (b, a) };
            let is = self.equals(&*self.eval(other)?, literal)?;
            return Ok(match op {
                Op::Eq => is,
                Op::Ne => !is,
                _ => false,
            });
        }
        let (a, b) = (self.eval(a)?, self.eval(b)?);
        Ok(match op {
            Op::Eq => filters::equal(&a, &b),
            Op::Ne => !filters::equal(&a, &b),
            Op::Contains => contains(&a, &b),
            Op::Lt | Op::Gt | Op::Le | Op::Ge => match order(&a, &b) {
                Some(o) => match op {
                    Op::Lt => o == Ordering::Less,
                    Op::Gt => o == Ordering::Greater,
                    Op::Le => o != Ordering::Greater,
                    _ => o != Ordering::Less,
                },
                None => false,
            },
        })
    }
}

/// A dotted step (`.key`): an object's key, and the `size`, `first` and `last` that arrays and
/// strings (and `size` that objects without such a key) answer.
fn step_key<'a>(value: &'a Data, key: &str) -> Cow<'a, Data> {
    match value {
        Data::Object(entries) => match entries.iter().find(|(name, _)| name == key) {
            Some((_, v)) => Cow::Borrowed(v),
            None if key == "size" => Cow::Owned(Data::Int(entries.len() as i64)),
            None => Cow::Borrowed(&NIL),
        },
        Data::Array(items) => match key {
            "size" => Cow::Owned(Data::Int(items.len() as i64)),
            "first" => Cow::Borrowed(items.first().unwrap_or(&NIL)),
            "last" => Cow::Borrowed(items.last().unwrap_or(&NIL)),
            _ => Cow::Borrowed(&NIL),
        },
        Data::Str(s) => match key {
            "size" => Cow::Owned(Data::Int(s.chars().count() as i64)),
            "first" => Cow::Owned(s.chars().next().map_or(Data::Nil, |c| Data::Str(c.into()))),
            "last" => Cow::Owned(s.chars().last().map_or(Data::Nil, |c| Data::Str(c.into()))),
            _ => Cow::Borrowed(&NIL),
        },
        _ => Cow::Borrowed(&NIL),
    }
}

/// A bracketed step (`[0]`, `[-1]`, `["key"]`): an array's index, counted from the end when
/// negative, or an object's key.
fn step_index<'a>(value: &'a Data, key: &Data) -> Cow<'a, Data> {
    match (value, key) {
        (Data::Object(entries), Data::Str(k)) => Cow::Borrowed(
            entries
                .iter()
                .find(|(name, _)| name == k)
                .map_or(&NIL, |(_, v)| v),
        ),
        (Data::Array(items), Data::Int(i)) => {
            let i = if *i < 0 { items.len() as i64 + i } else { *i };
            Cow::Borrowed(
                usize::try_from(i)
                    .ok()
                    .and_then(|i| items.get(i))
                    .unwrap_or(&NIL),
            )
        }
        _ => Cow::Borrowed(&NIL),
    }
}

/// `<` and friends: Liquid's order, and a string that is a whole number compared with a number
/// as that number.
fn order(a: &Data, b: &Data) -> Option<Ordering> {
    let as_number = |v: &Data| match v {
        Data::Str(s) => filters::numeric_string(s).map(|n| match n {
            Num::Int(i) => Data::Int(i),
            Num::Float(f) => Data::Float(f),
        }),
        _ => None,
    };
    match (a, b) {
        (Data::Str(_), Data::Int(_) | Data::Float(_)) => filters::compare(&as_number(a)?, b),
        (Data::Int(_) | Data::Float(_), Data::Str(_)) => filters::compare(a, &as_number(b)?),
        _ => filters::compare(a, b),
    }
}

/// `contains`: a substring of a string, an item of an array, a key of an object; false for nil
/// and `false` on either side.
fn contains(a: &Data, b: &Data) -> bool {
    // Ruby's `left && right`: nothing contains nil or false.
    if !b.is_truthy() {
        return false;
    }
    match a {
        Data::Str(s) => s.contains(b.to_text().as_str()),
        Data::Array(items) => items.iter().any(|item| filters::equal(item, b)),
        Data::Object(entries) => b
            .as_str()
            .is_some_and(|k| entries.iter().any(|(name, _)| name == k)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::{Position, Template};

    /// The plain renderer writes what the general one writes.
    #[test]
    fn plain_templates_render_as_the_general_renderer_does() {
        let data = Data::from_json(&serde_json::json!({
            "event": {"id": "e\"1", "list": ["a", "b"], "n": 2.5, "o": {"k": [1, {"x": "y"}]}},
            "message": null
        }));
        for (source, position) in [
            (
                "{{ event.id }} {{ event.list }} {{ event.list.size }} {{ event.list.first }}",
                Position::Text,
            ),
            (
                "{{ event.list[1] }}{{ event.list[-1] }}{{ event.o.k[1].x }}{{ event.o['k'] }}",
                Position::Text,
            ),
            (
                r#"{"a": "{{ event.id }}", "b": {{ event.n }}, "c": {{ event.o }}, "d": {{ message.x }}}"#,
                Position::Json,
            ),
            (
                "https://h.example/{{ event.id }}?q={{ event.list.last }}",
                Position::Url,
            ),
            (
                "{{ event.id.size }}{{ event.nope.deeper }}{{ nope }}",
                Position::Text,
            ),
        ] {
            let template = Template::parse(source, position).expect("parses");
            assert!(template.is_plain(), "{source}");
            let mut general = String::new();
            render(&template.nodes, &data, &mut general, &mut Budget::default()).expect("renders");
            assert_eq!(
                template.render(&data).as_deref(),
                Ok(general.as_str()),
                "{source}"
            );
        }
    }
}
