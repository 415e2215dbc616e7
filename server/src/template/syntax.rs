//! Liquid's syntax: the markup inside `{{ }}` and `{% %}` (values, filters, conditions) and the
//! tree of tags the scanner's tokens make.
//!
//! The grammar is Shopify's: `and` and `or` bind right to left without precedence, a `when`
//! lists values with `,` or `or`, ranges are `(start..end)` with numbers or variables, and a
//! `liquid` tag holds one tag per line. Every error names the offset in the author's source.

use std::ops::Range;

use super::Data;
use super::escape::Escape;
use super::filters::{self, Filter};
use super::scan::{ScanError, Token, is_liquid_space};

fn err<T>(offset: usize, message: impl Into<String>) -> Result<T, ScanError> {
    Err(ScanError {
        offset,
        message: message.into(),
    })
}

/// A value in the markup.
#[derive(Debug, Clone)]
pub enum Expr {
    Literal(Data),
    /// A variable and the steps into it: `event.tags["vip"]`, `list[0]`, `list.size`.
    Path(String, Vec<Step>),
    /// `(start..end)`, both ends included.
    Range(Box<Expr>, Box<Expr>),
    /// The `empty` literal, equal to an empty string, array or object.
    Empty,
    /// The `blank` literal, equal to nil, false, whitespace or anything empty.
    Blank,
}

/// One step into a value.
#[derive(Debug, Clone)]
pub enum Step {
    Key(String),
    Index(Expr),
}

/// A filter with its arguments.
#[derive(Debug, Clone)]
pub struct FilterCall {
    pub filter: Filter,
    pub args: Vec<Expr>,
    pub keywords: Vec<(String, Expr)>,
}

/// A value and its filters: an output, an `echo`, the right side of an `assign`.
#[derive(Debug, Clone)]
pub struct Chain {
    pub value: Expr,
    pub filters: Vec<FilterCall>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
    Contains,
}

/// An `if`, `elsif` or `unless` condition.
#[derive(Debug, Clone)]
pub enum Cond {
    Test(Expr),
    Compare(Expr, Op, Expr),
    /// `t1 and t2 or t3 …`: the tests, and whether each joint is `and` (else `or`); evaluated
    /// right to left, `t1 and (t2 or t3)`, without recursion however long the chain.
    Chain(Vec<Cond>, Vec<bool>),
    /// `unless`.
    Not(Box<Cond>),
}

/// Where a `for` or `tablerow` loop starts.
#[derive(Debug, Clone)]
pub enum Offset {
    At(Expr),
    /// `offset: continue`: where the last loop over the same variable and collection stopped.
    Continue,
}

#[derive(Debug, Clone)]
pub struct Loop {
    pub var: String,
    pub collection: Expr,
    pub limit: Option<Expr>,
    pub offset: Option<Offset>,
    pub reversed: bool,
    /// `tablerow`'s `cols`.
    pub cols: Option<Expr>,
    /// `var` and the collection's markup: which earlier loop `offset: continue` continues.
    pub key: String,
    pub body: Vec<Node>,
    pub otherwise: Vec<Node>,
}

/// An `if`'s conditions and bodies, in order.
pub type Branches = Vec<(Cond, Vec<Node>)>;

/// One node of a parsed template.
#[derive(Debug, Clone)]
pub enum Node {
    Text(String),
    Output {
        chain: Chain,
        escape: Escape,
    },
    If {
        branches: Branches,
        otherwise: Vec<Node>,
    },
    /// `when` clauses (`Some` values) and `else` clauses (`None`), in order.
    Case {
        subject: Expr,
        clauses: Vec<(Option<Vec<Expr>>, Vec<Node>)>,
    },
    For(Box<Loop>),
    Tablerow(Box<Loop>),
    Break,
    Continue,
    Assign {
        name: String,
        chain: Chain,
    },
    Capture {
        name: String,
        body: Vec<Node>,
    },
    Increment(String),
    Decrement(String),
    Cycle {
        group: Option<Expr>,
        key: String,
        values: Vec<Expr>,
        escape: Escape,
    },
    IfChanged(Vec<Node>),
}

// ---- the markup's tokens ----

#[derive(Debug, Clone, PartialEq)]
enum Tk {
    Ident(String),
    Str(String),
    Int(i64),
    Float(f64),
    Dot,
    DotDot,
    LBracket,
    RBracket,
    LParen,
    RParen,
    Pipe,
    Colon,
    Comma,
    Compare(Op),
    Assign,
    End,
}

/// Splits markup (at `base` in the source) into tokens, each with its source offset.
fn tokenize(src: &str, range: Range<usize>) -> Result<Vec<(Tk, usize)>, ScanError> {
    let bytes = src.as_bytes();
    let mut out = Vec::new();
    let mut k = range.start;
    let end = range.end;
    while k < end {
        let b = bytes[k];
        let at = k;
        if is_liquid_space(b) {
            k += 1;
            continue;
        }
        let tk = match b {
            b'"' | b'\'' => {
                let close = bytes[k + 1..end]
                    .iter()
                    .position(|&c| c == b)
                    .map(|n| k + 1 + n);
                let Some(close) = close else {
                    return err(at, "this quoted string is not closed");
                };
                k = close + 1;
                Tk::Str(src[at + 1..close].to_owned())
            }
            b'0'..=b'9' | b'-' if b != b'-' || bytes.get(k + 1).is_some_and(u8::is_ascii_digit) => {
                k += 1;
                while k < end && bytes[k].is_ascii_digit() {
                    k += 1;
                }
                let fraction = k + 1 < end && bytes[k] == b'.' && bytes[k + 1].is_ascii_digit();
                if fraction {
                    k += 1;
                    while k < end && bytes[k].is_ascii_digit() {
                        k += 1;
                    }
                    match src[at..k].parse() {
                        Ok(f) => Tk::Float(f),
                        Err(_) => return err(at, "this number cannot be read"),
                    }
                } else {
                    match src[at..k].parse() {
                        Ok(i) => Tk::Int(i),
                        // Too large for a whole number: Liquid keeps it as a float.
                        Err(_) => match src[at..k].parse() {
                            Ok(f) => Tk::Float(f),
                            Err(_) => return err(at, "this number cannot be read"),
                        },
                    }
                }
            }
            b'a'..=b'z' | b'A'..=b'Z' | b'_' => {
                k += 1;
                while k < end
                    && (bytes[k].is_ascii_alphanumeric() || matches!(bytes[k], b'_' | b'-'))
                {
                    k += 1;
                }
                if k < end && bytes[k] == b'?' {
                    k += 1;
                }
                Tk::Ident(src[at..k].to_owned())
            }
            b'.' if bytes.get(k + 1) == Some(&b'.') => {
                k += 2;
                Tk::DotDot
            }
            b'=' | b'!' | b'<' | b'>' => {
                let two = src.get(k..k + 2).unwrap_or("");
                let (tk, n) = match two {
                    "==" => (Tk::Compare(Op::Eq), 2),
                    "!=" | "<>" => (Tk::Compare(Op::Ne), 2),
                    "<=" => (Tk::Compare(Op::Le), 2),
                    ">=" => (Tk::Compare(Op::Ge), 2),
                    _ => match b {
                        b'<' => (Tk::Compare(Op::Lt), 1),
                        b'>' => (Tk::Compare(Op::Gt), 1),
                        b'=' => (Tk::Assign, 1),
                        _ => return err(at, "`!` must be part of `!=`"),
                    },
                };
                k += n;
                tk
            }
            _ => {
                k += 1;
                match b {
                    b'.' => Tk::Dot,
                    b'[' => Tk::LBracket,
                    b']' => Tk::RBracket,
                    b'(' => Tk::LParen,
                    b')' => Tk::RParen,
                    b'|' => Tk::Pipe,
                    b':' => Tk::Colon,
                    b',' => Tk::Comma,
                    _ => {
                        let c = src[at..].chars().next().unwrap_or('?');
                        return err(at, format!("unexpected character {c:?}"));
                    }
                }
            }
        };
        out.push((tk, at));
    }
    out.push((Tk::End, end));
    Ok(out)
}

/// A cursor over one markup's tokens.
struct Markup {
    tokens: Vec<(Tk, usize)>,
    at: usize,
    /// Ranges and brackets open around the value being read.
    depth: usize,
}

/// The deepest nesting of blocks, and of ranges and brackets in a value, a template may have (as
/// Shopify's Liquid: "Nesting too deep"); parsing and rendering recurse that deep.
pub const MAX_NESTING: usize = 100;

fn too_deep<T>(at: usize) -> Result<T, ScanError> {
    err(
        at,
        format!("nesting too deep: more than {MAX_NESTING} levels of blocks, ranges or brackets"),
    )
}

impl Markup {
    fn new(src: &str, range: Range<usize>) -> Result<Markup, ScanError> {
        Ok(Markup {
            tokens: tokenize(src, range)?,
            at: 0,
            depth: 0,
        })
    }

    fn peek(&self) -> &Tk {
        &self.tokens[self.at].0
    }

    fn offset(&self) -> usize {
        self.tokens[self.at].1
    }

    fn next(&mut self) -> Tk {
        let tk = self.tokens[self.at].0.clone();
        if self.at + 1 < self.tokens.len() {
            self.at += 1;
        }
        tk
    }

    fn eat(&mut self, tk: &Tk) -> bool {
        if self.peek() == tk {
            self.next();
            true
        } else {
            false
        }
    }

    fn is_word(&self, word: &str) -> bool {
        matches!(self.peek(), Tk::Ident(w) if w == word)
    }

    fn expect(&mut self, tk: Tk, what: &str) -> Result<(), ScanError> {
        if self.eat(&tk) {
            Ok(())
        } else {
            err(self.offset(), format!("expected {what}"))
        }
    }

    fn end(&self, what: &str) -> Result<(), ScanError> {
        match self.peek() {
            Tk::End => Ok(()),
            // `event..id` (outside a range).
            Tk::DotDot => err(self.offset() + 1, "expected a property name after `.`"),
            _ => err(self.offset(), format!("unexpected text after {what}")),
        }
    }

    fn ident(&mut self, what: &str) -> Result<String, ScanError> {
        match self.next() {
            Tk::Ident(name) => Ok(name),
            _ => err(
                self.tokens[self.at.saturating_sub(1)].1,
                format!("expected {what}"),
            ),
        }
    }

    /// A value: a literal, a variable path or a range.
    fn expr(&mut self) -> Result<Expr, ScanError> {
        let at = self.offset();
        if self.depth >= MAX_NESTING {
            return too_deep(at);
        }
        self.depth += 1;
        let value = self.expr_within();
        self.depth -= 1;
        value
    }

    fn expr_within(&mut self) -> Result<Expr, ScanError> {
        let at = self.offset();
        Ok(match self.next() {
            Tk::Str(s) => Expr::Literal(Data::Str(s)),
            Tk::Int(i) => Expr::Literal(Data::Int(i)),
            Tk::Float(f) => Expr::Literal(Data::Float(f)),
            Tk::LParen => {
                let start = self.expr()?;
                self.expect(Tk::DotDot, "`..` in a range like (1..5)")?;
                let end = self.expr()?;
                self.expect(Tk::RParen, "`)` to close the range")?;
                Expr::Range(Box::new(start), Box::new(end))
            }
            Tk::LBracket => {
                // `["key"]` at the root: a variable whose name is a value.
                let key = self.expr()?;
                self.expect(Tk::RBracket, "`]`")?;
                let steps = self.steps()?;
                let mut all = vec![Step::Index(key)];
                all.extend(steps);
                Expr::Path(String::new(), all)
            }
            Tk::Ident(name) => {
                let steps = self.steps()?;
                match (name.as_str(), steps.is_empty()) {
                    ("nil" | "null", true) => Expr::Literal(Data::Nil),
                    ("true", true) => Expr::Literal(Data::Bool(true)),
                    ("false", true) => Expr::Literal(Data::Bool(false)),
                    ("empty", true) => Expr::Empty,
                    ("blank", true) => Expr::Blank,
                    _ => Expr::Path(name, steps),
                }
            }
            _ => {
                return err(
                    at,
                    "expected a value (a variable, a quoted string or a number)",
                );
            }
        })
    }

    fn steps(&mut self) -> Result<Vec<Step>, ScanError> {
        let mut steps = Vec::new();
        loop {
            match self.peek() {
                Tk::Dot => {
                    self.next();
                    let name = self.ident("a property name after `.`")?;
                    steps.push(Step::Key(name));
                }
                Tk::LBracket => {
                    self.next();
                    let index = self.expr()?;
                    self.expect(Tk::RBracket, "`]`")?;
                    steps.push(Step::Index(index));
                }
                _ => return Ok(steps),
            }
        }
    }

    /// `value | filter: arg, key: arg | …`
    fn chain(&mut self) -> Result<Chain, ScanError> {
        let value = self.expr()?;
        let mut filters = Vec::new();
        while self.eat(&Tk::Pipe) {
            filters.push(self.filter()?);
        }
        Ok(Chain { value, filters })
    }

    fn filter(&mut self) -> Result<FilterCall, ScanError> {
        let at = self.offset();
        let name = self.ident("a filter name after `|`")?;
        let Some(filter) = filters::by_name(&name) else {
            return err(at, filters::unknown(&name));
        };
        let mut args = Vec::new();
        let mut keywords = Vec::new();
        if self.eat(&Tk::Colon) {
            loop {
                let is_keyword = matches!(self.peek(), Tk::Ident(_))
                    && self.tokens.get(self.at + 1).map(|t| &t.0) == Some(&Tk::Colon);
                if is_keyword {
                    let key = self.ident("a keyword")?;
                    self.next();
                    keywords.push((key, self.expr()?));
                } else {
                    args.push(self.expr()?);
                }
                if !self.eat(&Tk::Comma) {
                    break;
                }
            }
        }
        filters::check_arguments(filter, args.len(), &keywords).or_else(|m| err(at, m))?;
        Ok(FilterCall {
            filter,
            args,
            keywords,
        })
    }

    /// `a == b and c or d`: Shopify binds right to left, `a and (c or d)`.
    fn condition(&mut self) -> Result<Cond, ScanError> {
        let mut tests = vec![self.comparison()?];
        let mut joins = Vec::new();
        loop {
            if self.is_word("and") || self.is_word("or") {
                joins.push(self.is_word("and"));
                self.next();
                tests.push(self.comparison()?);
            } else {
                self.end("the condition")?;
                break;
            }
        }
        let cond = if joins.is_empty() {
            tests.pop().expect("one test at least")
        } else {
            Cond::Chain(tests, joins)
        };
        Ok(cond)
    }

    /// `a`, `a == b`, `a contains b`.
    fn comparison(&mut self) -> Result<Cond, ScanError> {
        let left = self.expr()?;
        Ok(match self.peek().clone() {
            Tk::Compare(op) => {
                self.next();
                Cond::Compare(left, op, self.expr()?)
            }
            Tk::Ident(w) if w == "contains" => {
                self.next();
                Cond::Compare(left, Op::Contains, self.expr()?)
            }
            _ => Cond::Test(left),
        })
    }
}

// ---- the tag tree ----

/// A tag ending a block body (`else`, `endif`, …), with its arguments.
struct Stop {
    name: String,
    args: Range<usize>,
    at: usize,
}

/// Builds the node tree from the scanner's tokens.
pub struct Parser<'s> {
    src: &'s str,
    tokens: Vec<Token>,
    at: usize,
    /// Blocks open around the tag being parsed.
    depth: usize,
    /// `for` and `tablerow` loops open (for `break` and `continue`).
    loops: usize,
    /// `capture` blocks open: what is written there is text, escaped where the variable lands.
    captures: usize,
}

/// Parses a scanned template into nodes.
pub fn parse(src: &str, tokens: Vec<Token>) -> Result<Vec<Node>, ScanError> {
    let mut parser = Parser {
        src,
        tokens,
        at: 0,
        depth: 0,
        loops: 0,
        captures: 0,
    };
    let (nodes, stop) = parser.body(&[])?;
    if let Some(stop) = stop {
        return err(
            stop.at,
            format!("`{{% {} %}}` has no opening tag", stop.name),
        );
    }
    Ok(nodes)
}

impl Parser<'_> {
    /// Nodes up to one of the `stops` tags (returned) or the end.
    fn body(&mut self, stops: &[&str]) -> Result<(Vec<Node>, Option<Stop>), ScanError> {
        let mut nodes = Vec::new();
        while self.at < self.tokens.len() {
            let token = self.tokens[self.at].clone();
            self.at += 1;
            match token {
                Token::Text(r) => nodes.push(Node::Text(self.src[r].to_owned())),
                Token::Output {
                    inner,
                    escape,
                    drop_last,
                    ..
                } => {
                    let mut markup = Markup::new(self.src, inner)?;
                    let mut chain = markup.chain()?;
                    markup.end("the value")?;
                    if drop_last {
                        chain.filters.pop();
                    }
                    nodes.push(Node::Output { chain, escape });
                }
                Token::Tag {
                    span,
                    name,
                    args,
                    escape,
                } => {
                    let name = &self.src[name];
                    if stops.contains(&name) {
                        return Ok((
                            nodes,
                            Some(Stop {
                                name: name.to_owned(),
                                args,
                                at: span.start,
                            }),
                        ));
                    }
                    nodes.extend(self.tag(name, args, span.start, escape)?);
                }
            }
        }
        Ok((nodes, None))
    }

    /// A body that must end with `end`; the branch tags in `branches` also stop it.
    fn block(
        &mut self,
        open: &str,
        at: usize,
        stops: &[&str],
    ) -> Result<(Vec<Node>, Stop), ScanError> {
        if self.depth >= MAX_NESTING {
            return too_deep(at);
        }
        self.depth += 1;
        let (loops, captures) = (self.loops, self.captures);
        match open {
            "for" | "tablerow" => self.loops += 1,
            "capture" => self.captures += 1,
            _ => {}
        }
        let body = self.body(stops);
        self.depth -= 1;
        (self.loops, self.captures) = (loops, captures);
        match body? {
            (nodes, Some(stop)) => Ok((nodes, stop)),
            (_, None) => err(at, format!("`{{% {open} %}}` is not closed")),
        }
    }

    fn markup(&self, args: Range<usize>) -> Result<Markup, ScanError> {
        Markup::new(self.src, args)
    }

    fn tag(
        &mut self,
        name: &str,
        args: Range<usize>,
        at: usize,
        escape: Escape,
    ) -> Result<Vec<Node>, ScanError> {
        // Inside a capture a value is text: it is escaped where the captured variable lands.
        let escape = if self.captures > 0 {
            Escape::Text
        } else {
            escape
        };
        let node = match name {
            "#" | "comment" => return Ok(Vec::new()),
            "echo" => {
                let mut m = self.markup(args)?;
                let mut chain = m.chain()?;
                m.end("the value")?;
                // As for `{{ }}`: a last filter the escape does already is not applied twice.
                if chain
                    .filters
                    .last()
                    .is_some_and(|f| escape.covers(f.filter.name()))
                {
                    chain.filters.pop();
                }
                Node::Output { chain, escape }
            }
            "liquid" => return self.liquid(args, escape),
            "assign" => {
                let mut m = self.markup(args)?;
                let name = m.ident("a variable name, like `assign name = value`")?;
                m.expect(Tk::Assign, "`=` after the variable name")?;
                let chain = m.chain()?;
                m.end("the value")?;
                Node::Assign { name, chain }
            }
            "capture" => {
                let mut m = self.markup(args)?;
                let name = match m.next() {
                    Tk::Ident(n) | Tk::Str(n) => n,
                    _ => return err(at, "`capture` needs a variable name"),
                };
                m.end("the variable name")?;
                let (body, _) = self.block("capture", at, &["endcapture"])?;
                Node::Capture { name, body }
            }
            "increment" | "decrement" => {
                let mut m = self.markup(args)?;
                let var = m.ident("a counter name")?;
                m.end("the counter name")?;
                if name == "increment" {
                    Node::Increment(var)
                } else {
                    Node::Decrement(var)
                }
            }
            "cycle" => {
                let mut m = self.markup(args.clone())?;
                let first = m.expr()?;
                let (group, mut values) = if m.eat(&Tk::Colon) {
                    (Some(first), vec![m.expr()?])
                } else {
                    (None, vec![first])
                };
                while m.eat(&Tk::Comma) {
                    values.push(m.expr()?);
                }
                m.end("the values")?;
                // Without a name, cycles over the same values share their turn.
                Node::Cycle {
                    group,
                    key: format!("{values:?}"),
                    values,
                    escape,
                }
            }
            "break" | "continue" => {
                self.markup(args)?.end(name)?;
                if self.loops == 0 {
                    return err(
                        at,
                        format!("`{{% {name} %}}` is outside a `{{% for %}}` loop"),
                    );
                }
                if name == "break" {
                    Node::Break
                } else {
                    Node::Continue
                }
            }
            "if" | "unless" => {
                let mut cond = self.markup(args)?.condition()?;
                if name == "unless" {
                    cond = Cond::Not(Box::new(cond));
                }
                let end = if name == "if" { "endif" } else { "endunless" };
                let (body, stop) = self.block(name, at, &["elsif", "else", end])?;
                let (mut branches, otherwise) = self.if_rest(stop, name)?;
                branches.insert(0, (cond, body));
                Node::If {
                    branches,
                    otherwise,
                }
            }
            "case" => {
                let mut m = self.markup(args)?;
                let subject = m.expr()?;
                m.end("the value")?;
                let (_, mut stop) = self.block("case", at, &["when", "else", "endcase"])?;
                // In order: a `when` renders when it matches, an `else` when nothing before it
                // did (Ruby accepts a `when` after the `else`).
                let mut clauses = Vec::new();
                loop {
                    let values = match stop.name.as_str() {
                        "when" => {
                            let mut m = self.markup(stop.args.clone())?;
                            let mut values = vec![m.expr()?];
                            while m.eat(&Tk::Comma)
                                || (m.is_word("or") && {
                                    m.next();
                                    true
                                })
                            {
                                values.push(m.expr()?);
                            }
                            m.end("the values")?;
                            Some(values)
                        }
                        "else" => None,
                        _ => break,
                    };
                    let (body, next) = self.block("case", at, &["when", "else", "endcase"])?;
                    clauses.push((values, body));
                    stop = next;
                }
                Node::Case { subject, clauses }
            }
            "tablerow" if escape != Escape::Text => {
                return err(
                    at,
                    "`tablerow` writes HTML: use it in a text field, or in a `capture` whose variable \
                     is then written where it lands",
                );
            }
            "for" | "tablerow" => {
                let end = if name == "for" {
                    "endfor"
                } else {
                    "endtablerow"
                };
                let l = self.loop_head(name, args)?;
                let stops: &[&str] = if name == "for" {
                    &["else", "endfor"]
                } else {
                    &["endtablerow"]
                };
                let (body, stop) = self.block(name, at, stops)?;
                let otherwise = if stop.name == "else" {
                    self.block(name, at, &[end])?.0
                } else {
                    Vec::new()
                };
                let l = Box::new(Loop {
                    body,
                    otherwise,
                    ..l
                });
                if name == "for" {
                    Node::For(l)
                } else {
                    Node::Tablerow(l)
                }
            }
            "ifchanged" => {
                self.markup(args)?.end("`ifchanged`")?;
                let (body, _) = self.block(name, at, &["endifchanged"])?;
                Node::IfChanged(body)
            }
            "raw" => return err(at, "`{% raw %}` cannot be used inside a `liquid` tag"),
            "" => return err(at, "a tag needs a name, like `{% if %}`"),
            _ if name.starts_with("end") || matches!(name, "else" | "elsif" | "when") => {
                return err(at, format!("`{{% {name} %}}` has no opening tag"));
            }
            _ => {
                return err(
                    at,
                    format!("the tag `{{% {name} %}}` is not supported in webhook templates"),
                );
            }
        };
        Ok(vec![strip_blank(node)])
    }

    /// The `elsif` and `else` branches after an `if` body, up to its end tag.
    fn if_rest(&mut self, mut stop: Stop, open: &str) -> Result<(Branches, Vec<Node>), ScanError> {
        let end = if open == "if" { "endif" } else { "endunless" };
        let mut branches = Vec::new();
        loop {
            match stop.name.as_str() {
                "elsif" => {
                    let cond = self.markup(stop.args.clone())?.condition()?;
                    let (body, next) = self.block(open, stop.at, &["elsif", "else", end])?;
                    branches.push((cond, body));
                    stop = next;
                }
                "else" => {
                    // Branches after an `else` are accepted, as in Ruby, and never reached.
                    let (body, next) = self.block(open, stop.at, &["elsif", "else", end])?;
                    branches.push((Cond::Test(Expr::Literal(Data::Bool(true))), body));
                    stop = next;
                }
                _ => return Ok((branches, Vec::new())),
            }
        }
    }

    fn loop_head(&self, name: &str, args: Range<usize>) -> Result<Loop, ScanError> {
        let key_text = self.src[args.clone()].trim().to_owned();
        let mut m = self.markup(args)?;
        let var = m.ident(&format!("a variable name, like `{name} item in list`"))?;
        if !m.is_word("in") {
            return err(
                m.offset(),
                format!("expected `in`, like `{name} item in list`"),
            );
        }
        m.next();
        let collection = m.expr()?;
        let mut l = Loop {
            var,
            collection,
            limit: None,
            offset: None,
            reversed: false,
            cols: None,
            key: key_text
                .split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" "),
            body: Vec::new(),
            otherwise: Vec::new(),
        };
        loop {
            m.eat(&Tk::Comma);
            let word_at = m.offset();
            match m.next() {
                Tk::End => break,
                Tk::Ident(w) if w == "reversed" && name == "for" => l.reversed = true,
                Tk::Ident(w) if matches!(w.as_str(), "limit" | "offset" | "cols") => {
                    m.expect(Tk::Colon, &format!("`:` after `{w}`"))?;
                    match w.as_str() {
                        "offset" if m.is_word("continue") && name == "for" => {
                            m.next();
                            l.offset = Some(Offset::Continue);
                        }
                        "offset" => l.offset = Some(Offset::At(m.expr()?)),
                        "limit" => l.limit = Some(m.expr()?),
                        _ if name == "tablerow" => l.cols = Some(m.expr()?),
                        _ => return err(word_at, "`cols` is for `tablerow`"),
                    }
                }
                Tk::Pipe => {
                    return err(
                        word_at,
                        format!(
                            "filters cannot be used in a `{name}` tag: assign the result first, like `{{% assign words = text | split: \" \" %}}`"
                        ),
                    );
                }
                _ => {
                    return err(
                        word_at,
                        format!(
                            "expected `limit:`, `offset:`{} after the collection",
                            if name == "for" {
                                " or `reversed`"
                            } else {
                                " or `cols:`"
                            }
                        ),
                    );
                }
            }
        }
        Ok(l)
    }

    /// `{% liquid %}`: one tag per line, parsed like the tags of a template.
    fn liquid(&mut self, args: Range<usize>, escape: Escape) -> Result<Vec<Node>, ScanError> {
        if self.depth >= MAX_NESTING {
            return too_deep(args.start);
        }
        self.depth += 1;
        let nodes = self.liquid_lines(args, escape);
        self.depth -= 1;
        nodes
    }

    fn liquid_lines(&mut self, args: Range<usize>, escape: Escape) -> Result<Vec<Node>, ScanError> {
        let mut lines = Vec::new();
        let mut start = args.start;
        let text = &self.src[args.clone()];
        for line in text.split('\n') {
            let end = start + line.len();
            let trimmed_start = start + (line.len() - line.trim_start().len());
            let trimmed_end = start + line.trim_end().len();
            if trimmed_start < trimmed_end {
                let bytes = self.src.as_bytes();
                let mut n = trimmed_start;
                if bytes[n] == b'#' {
                    n += 1;
                } else {
                    while n < trimmed_end && (bytes[n].is_ascii_alphanumeric() || bytes[n] == b'_')
                    {
                        n += 1;
                    }
                }
                lines.push(Token::Tag {
                    span: trimmed_start..trimmed_end,
                    name: trimmed_start..n,
                    args: n..trimmed_end,
                    escape,
                });
            }
            start = end + 1;
        }
        // Comments inside: drop the lines from `comment` to `endcomment`.
        let mut kept = Vec::with_capacity(lines.len());
        let mut depth = 0usize;
        for line in lines {
            let Token::Tag { name, .. } = &line else {
                continue;
            };
            match &self.src[name.clone()] {
                "comment" => depth += 1,
                "endcomment" if depth > 0 => depth -= 1,
                _ if depth > 0 => {}
                _ => kept.push(line),
            }
        }
        let outer = std::mem::replace(&mut self.tokens, kept);
        let outer_at = std::mem::replace(&mut self.at, 0);
        let result = self.body(&[]);
        self.tokens = outer;
        self.at = outer_at;
        match result? {
            (nodes, None) => Ok(nodes),
            (_, Some(stop)) => err(
                stop.at,
                format!("`{{% {} %}}` has no opening tag", stop.name),
            ),
        }
    }
}

/// Whether a node renders nothing but whitespace whatever the data, as Ruby's `blank?` says:
/// whitespace, `assign`, `capture`, and blocks made only of those.
fn is_blank(node: &Node) -> bool {
    let all = |nodes: &[Node]| nodes.iter().all(is_blank);
    match node {
        Node::Text(text) => text
            .bytes()
            .all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)),
        Node::Assign { .. } | Node::Capture { .. } => true,
        Node::If {
            branches,
            otherwise,
        } => branches.iter().all(|(_, body)| all(body)) && all(otherwise),
        Node::Case { clauses, .. } => clauses.iter().all(|(_, body)| all(body)),
        Node::For(l) => all(&l.body) && all(&l.otherwise),
        _ => false,
    }
}

/// Shopify's Liquid drops the whitespace of an `if`, `unless`, `case` or `for` whose bodies are
/// all blank (only whitespace, `assign` and `capture`): such a block writes nothing.
fn strip_blank(mut node: Node) -> Node {
    if !matches!(node, Node::If { .. } | Node::Case { .. } | Node::For(_)) || !is_blank(&node) {
        return node;
    }
    let strip = |body: &mut Vec<Node>| body.retain(|n| !matches!(n, Node::Text(_)));
    match &mut node {
        Node::If {
            branches,
            otherwise,
        } => {
            branches.iter_mut().for_each(|(_, body)| strip(body));
            strip(otherwise);
        }
        Node::Case { clauses, .. } => clauses.iter_mut().for_each(|(_, body)| strip(body)),
        Node::For(l) => {
            strip(&mut l.body);
            strip(&mut l.otherwise);
        }
        _ => {}
    }
    node
}
