//! Liquid, differentially: hookline's templates render what LiquidJS renders.
//!
//! What this proves. Every case of `tests/fixtures/liquid/cases.json` is rendered twice over the same
//! data (the case's own `data`, or `tests/fixtures/liquid/data.json`): by hookline
//! (`Template::parse(template, Position::Text)` then `render`) and by LiquidJS, the JavaScript
//! implementation of Shopify's Liquid pinned in the repository's `package.json` (through
//! `tests/liquid/render-liquidjs.mjs`). Then:
//!
//! - a case not listed in `tests/fixtures/liquid/differences.json` must come out the same on both
//!   sides: the same text, or an error on both sides (error messages are not compared);
//! - a case listed there must render exactly the entry's `hookline` text (or, for
//!   `{"error": true}`, fail to parse or render) and must still differ from LiquidJS: an entry that
//!   LiquidJS now agrees with is stale and fails the test, so the list only holds live differences,
//!   each with its `reason`;
//! - case names are unique kebab-case, and every entry of `differences.json` names a case.
//!
//! Every problem is printed at once, one block per case (template, hookline's outcome, LiquidJS's),
//! then their count, and the test panics.
//!
//! Adding a case: append `{"name": "what-it-tests", "template": "..."}` to `cases.json` (add
//! `"data": {"event": {...}, "message": {...}}` to render over other data than `data.json`), run
//! `cargo test -p hookline-server --test core_liquid_differential`, and if hookline is meant to differ
//! from LiquidJS there, add `{"name", "hookline", "reason"}` to `differences.json`, the reason saying
//! why (a LiquidJS quirk, what Shopify's Liquid does, a limit of hookline's).
//!
//! This test needs node and the repository's node packages: the repository's test command,
//! `scripts/test.sh`, installs both (or install node and run `npm ci` at the repository root).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::{self, Write as _};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::process::Command;

use hookline::template::{Data, Position, Template};
use serde::Deserialize;
use serde_json::Value;

/// One template to render on both sides.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    template: String,
    /// Replaces `data.json` for this case.
    #[serde(default)]
    data: Option<Value>,
}

/// A case where hookline is meant to differ from LiquidJS.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Difference {
    name: String,
    hookline: Expected,
    reason: String,
}

/// What hookline renders on a listed difference: this text, or `{"error": true}`.
#[derive(Deserialize)]
#[serde(untagged)]
enum Expected {
    Text(String),
    Error { error: bool },
}

/// How one side rendered one case. LiquidJS's script prints `{"ok": text}` or `{"error": message}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Outcome {
    Ok(String),
    Error(String),
    /// hookline panicked (never agrees with anything).
    #[serde(skip)]
    Panicked(String),
}

impl Outcome {
    /// Both rendered the same text, or both refused.
    fn agrees_with(&self, other: &Outcome) -> bool {
        match (self, other) {
            (Outcome::Ok(a), Outcome::Ok(b)) => a == b,
            (Outcome::Error(_), Outcome::Error(_)) => true,
            _ => false,
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Ok(text) => write!(f, "{text:?}"),
            Outcome::Error(message) => write!(f, "error: {message}"),
            Outcome::Panicked(message) => write!(f, "PANIC: {message}"),
        }
    }
}

impl Expected {
    fn matches(&self, outcome: &Outcome) -> bool {
        match (self, outcome) {
            (Expected::Text(want), Outcome::Ok(got)) => want == got,
            (Expected::Error { error: true }, Outcome::Error(_)) => true,
            _ => false,
        }
    }
}

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expected::Text(text) => write!(f, "{text:?}"),
            Expected::Error { .. } => write!(f, "an error"),
        }
    }
}

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/liquid")
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> T {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not valid: {e}", path.display()))
}

/// Renders every case with LiquidJS: one outcome per case name.
fn render_with_liquidjs(cases: &Path, data: &Path) -> HashMap<String, Outcome> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = manifest
        .parent()
        .expect("the server crate sits in the repository");
    let script = manifest.join("tests/liquid/render-liquidjs.mjs");
    let output = Command::new("node")
        .arg(&script)
        .arg(cases)
        .arg(data)
        .current_dir(root)
        .env("TZ", "UTC")
        .output();
    let output = match output {
        Ok(output) => output,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "node is not installed, and this test compares hookline with LiquidJS run by node. \
             Run the repository's test command, scripts/test.sh, which installs node and the node \
             packages (or install node and run `npm ci` at the repository root)."
        ),
        Err(e) => panic!("cannot run node: {e}"),
    };
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        let hint = if stderr.contains("liquidjs") {
            "\nThe node packages are missing: run the repository's test command, scripts/test.sh \
             (or `npm ci` at the repository root)."
        } else {
            ""
        };
        panic!(
            "{} failed ({}):\n{stderr}{hint}",
            script.display(),
            output.status
        );
    }
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "{} printed no JSON object of outcomes: {e}\n{stderr}",
            script.display()
        )
    })
}

/// Renders one case with hookline; a parse error, a render error and a panic are outcomes too.
fn render_with_hookline(template: &str, data: &Value) -> Outcome {
    let data = Data::from_json(data);
    let rendered = catch_unwind(AssertUnwindSafe(|| {
        Template::parse(template, Position::Text)
            .map_err(|e| e.to_string())
            .and_then(|parsed| parsed.render(&data))
    }));
    match rendered {
        Ok(Ok(text)) => Outcome::Ok(text),
        Ok(Err(message)) => Outcome::Error(message),
        Err(panic) => Outcome::Panicked(
            panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "(no message)".to_owned()),
        ),
    }
}

fn is_kebab_case(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--")
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[test]
fn hookline_renders_what_liquidjs_renders() {
    let dir = fixture_dir();
    let cases_path = dir.join("cases.json");
    let data_path = dir.join("data.json");
    let cases: Vec<Case> = read_json(&cases_path);
    let default_data: Value = read_json(&data_path);
    let differences: Vec<Difference> = read_json(&dir.join("differences.json"));

    // The files themselves: names unique and kebab-case, every difference naming a case once.
    let mut problems: Vec<String> = Vec::new();
    let mut names = HashSet::new();
    for case in &cases {
        if !is_kebab_case(&case.name) {
            problems.push(format!(
                "cases.json: `{}` is not a kebab-case name",
                case.name
            ));
        }
        if !names.insert(case.name.as_str()) {
            problems.push(format!("cases.json: `{}` is there twice", case.name));
        }
    }
    let mut expected: BTreeMap<&str, &Difference> = BTreeMap::new();
    for difference in &differences {
        if !names.contains(difference.name.as_str()) {
            problems.push(format!(
                "differences.json: `{}` names no case of cases.json",
                difference.name
            ));
        }
        if expected.insert(&difference.name, difference).is_some() {
            problems.push(format!(
                "differences.json: `{}` is there twice",
                difference.name
            ));
        }
        if difference.reason.trim().is_empty() {
            problems.push(format!(
                "differences.json: `{}` gives no reason",
                difference.name
            ));
        }
        if let Expected::Error { error: false } = difference.hookline {
            problems.push(format!(
                "differences.json: `{}`: write the text hookline renders, or {{\"error\": true}}",
                difference.name
            ));
        }
    }
    if !problems.is_empty() {
        panic!("{}", problems.join("\n"));
    }

    let liquidjs = render_with_liquidjs(&cases_path, &data_path);

    let mut report = String::new();
    let mut mismatches = 0;
    for case in &cases {
        let hookline =
            render_with_hookline(&case.template, case.data.as_ref().unwrap_or(&default_data));
        let Some(theirs) = liquidjs.get(&case.name) else {
            mismatches += 1;
            let _ = writeln!(report, "--- {}: LiquidJS gave no outcome\n", case.name);
            continue;
        };
        let verdict = match expected.get(case.name.as_str()) {
            None if hookline.agrees_with(theirs) => continue,
            None => "differs from LiquidJS".to_owned(),
            Some(listed) if !listed.hookline.matches(&hookline) => format!(
                "differences.json expects hookline to render {}",
                listed.hookline
            ),
            Some(_) if hookline.agrees_with(theirs) => {
                "listed in differences.json, but hookline now agrees with LiquidJS: remove the entry"
                    .to_owned()
            }
            Some(_) => continue,
        };
        mismatches += 1;
        let _ = writeln!(
            report,
            "--- {}: {verdict}\ntemplate: {:?}\nhookline: {hookline}\nLiquidJS: {theirs}\n",
            case.name, case.template
        );
    }

    if mismatches > 0 {
        eprintln!("{report}");
        panic!(
            "{mismatches} of {} Liquid cases do not come out as expected (listed above)",
            cases.len()
        );
    }
}
