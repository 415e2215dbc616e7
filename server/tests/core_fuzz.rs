//! Random templates from Liquid-ish pieces: parsing and rendering never panic, and a template that
//! parses renders for an event whatever it holds (missing means empty).

use hookline::event::Event;
use hookline::template::{Position, Template};
use serde_json::json;

mod common;
use common::percent_decode;

/// xorshift64*: deterministic, so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
}

const PIECES: &[&str] = &[
    "https://example.com/",
    "/",
    "?",
    "#",
    "&",
    "=",
    "\"",
    "\\",
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    " ",
    "\n",
    "\t",
    "-",
    "a",
    "é",
    "😀",
    "%20",
    "%",
    "{{ event.id }}",
    "{{event.external_id}}",
    "{{ message.title }}",
    "{{ event.timestamp }}",
    "{{ event.plan }}",
    "{{ event.plan.tags }}",
    "{{ event.plan.tags.first }}",
    "{{ event.nope.deeper }}",
    "{{ event | json }}",
    "{{ message.contents | upcase }}",
    "{{- event.kind -}}",
    "{{ event.id.size }}",
    "{{ 'x}}' }}",
    "{% if event.id %}",
    "{% else %}",
    "{% endif %}",
    "{% for t in event.plan.tags %}",
    "{% endfor %}",
    "{% raw %}",
    "{% endraw %}",
    "{% comment %}",
    "{% endcomment %}",
    "{% capture c %}",
    "{% endcapture %}",
    "{{ c }}",
    "{% assign n = 3 %}",
    "{{ n }}",
    "{{",
    "}}",
    "{%",
    "%}",
    "{{ event..id }}",
    "{{ event.id | nope }}",
    "{% cycle 'a' %}",
    "{{ event.id | url_encode }}",
];

#[test]
fn random_templates_never_panic_and_render_unless_over_budget() {
    let event = Event::from_json(&json!({
        "kind": "message.push.sent",
        "id": "e\"1/..?#",
        "external_id": "x\ny{{z}}%",
        "plan": {"tags": ["a", "b\"c"], "seats": 2},
        "message": {"title": "T \\ \"q\"", "contents": "😀 é"}
    }))
    .expect("valid");
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let (mut parsed, mut tagged) = (0, 0);
    for _ in 0..6000 {
        let len = 1 + rng.next() % 8;
        let source: String = (0..len).map(|_| rng.pick(PIECES)).collect();
        for position in [Position::Text, Position::Url, Position::Json] {
            let Ok(template) = Template::parse(&source, position) else {
                continue;
            };
            parsed += 1;
            if !template.is_tag_free() {
                tagged += 1;
            }
            // Missing means empty: a template that parses renders, whatever the event holds.
            if let Err(e) = template.render(event.template_data()) {
                panic!("{position:?} {source:?}: {e}");
            }
        }
    }
    assert!(
        parsed > 1000 && tagged > 300,
        "too few accepted templates: {parsed} parsed, {tagged} with tags"
    );
}

#[test]
fn random_hostile_values_never_escape_their_place() {
    let webhook = hookline::webhook::Webhook::from_json(&json!({
        "name": "everywhere",
        "events": ["*"],
        "url": "https://example.com/u/{{ event.external_id }}/x?q={{ event.external_id }}&k=1#{{ event.external_id }}",
        "body": {"custom": "{\"s\": \"<{{ event.external_id }}>\", \"v\": {{ event.external_id }}, \"m\": {{ message.title }}}"}
    }))
    .expect("valid");
    const ALPHABET: &[&str] = &[
        "a", "Z", "0", " ", "\"", "'", "\\", "/", ".", "..", "?", "&", "=", "#", "%", "+", ":",
        "@", "{{", "}}", "{%", "\n", "\r", "\t", "\u{0}", "\u{7f}", "\u{2028}", "é", "😀", "中",
        "[", "]", "{", "}", ",",
    ];
    let mut rng = Rng(0xDEAD_BEEF_CAFE_F00D);
    for _ in 0..3000 {
        let len = rng.next() % 12;
        let value: String = (0..len).map(|_| rng.pick(ALPHABET)).collect();
        let event = Event::from_json(
            &json!({"kind": "k", "external_id": value, "message": {"title": value}}),
        )
        .expect("valid");
        let request = match webhook.render(&event) {
            Ok(request) => request,
            Err(e) => {
                // Only a value that is a whole `.` or `..` path segment is refused.
                assert!(value == "." || value == "..", "{value:?}: {e}");
                continue;
            }
        };
        let rest = request
            .url
            .strip_prefix("https://example.com/u/")
            .expect("host and path kept");
        let (path, rest) = rest
            .split_once("/x?q=")
            .expect("one path segment, then the query");
        let (query, fragment) = rest
            .split_once("&k=1#")
            .expect("one query value, then the fragment");
        for part in [path, query, fragment] {
            assert!(
                part.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)),
                "{part}"
            );
            assert_eq!(percent_decode(part), value.as_bytes());
        }
        let body: serde_json::Value =
            serde_json::from_str(request.body.as_deref().unwrap_or("")).expect("valid JSON");
        assert_eq!(
            body,
            json!({"s": format!("<{value}>"), "v": value, "m": value}),
            "{value:?}"
        );
    }
}

/// Every seed of the fuzz targets and every input they once found failing (`fuzz/seeds/`,
/// `fuzz/regressions/`, a folder per target) still satisfies its target's property.
#[test]
fn the_fuzz_targets_seeds_and_past_findings_pass() {
    let fuzz = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut replayed = 0;
    for (target, property) in hookline::fuzz::TARGETS {
        for kind in ["seeds", "regressions"] {
            let Ok(entries) = std::fs::read_dir(fuzz.join(kind).join(target)) else {
                continue;
            };
            for entry in entries {
                let path = entry.unwrap().path();
                let data = std::fs::read(&path).unwrap();
                let outcome = std::panic::catch_unwind(|| property(&data));
                assert!(outcome.is_ok(), "{target}: {} fails", path.display());
                replayed += 1;
            }
        }
    }
    assert!(
        replayed >= hookline::fuzz::TARGETS.len(),
        "{replayed} inputs"
    );
}

/// The targets' properties hold on many inputs made of the pieces above (the fuzzer goes
/// further; this runs with every test).
#[test]
fn the_fuzz_properties_hold_on_generated_inputs() {
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    for _ in 0..1000 {
        let len = 1 + rng.next() % 10;
        let text: String = (0..len).map(|_| rng.pick(PIECES)).collect();
        let bytes: Vec<u8> = (0..(rng.next() % 24)).map(|_| rng.next() as u8).collect();
        for (_, property) in hookline::fuzz::TARGETS {
            property(text.as_bytes());
            property(&bytes);
        }
    }
}
