//! Hostile push payloads, many of them, inside a real service worker (headless Chromium and
//! Firefox, see `scripts/test-browser.sh`): every payload is read or refused with a reason, never
//! a thrown exception or a panic, and what a notification keeps is within its bounds and gives a
//! webhook body that parses. The payloads are made by a seeded generator (a failure names its
//! seed and case) from both formats' fields, given values of every JSON type and size, nested,
//! escaped and cut.
#![cfg(target_arch = "wasm32")]

use hookline_worker::js;
use hookline_worker::notification::Notification;
use hookline_worker::webhook::{self, Event};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_service_worker);

/// xorshift64*: deterministic, so a failing case can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

/// Keys of hookline's format and of OneSignal's, and a few others.
const KEYS: &[&str] = &[
    "id",
    "heading",
    "content",
    "url",
    "icon",
    "data",
    "buttons",
    "text",
    "custom",
    "i",
    "u",
    "a",
    "title",
    "alert",
    "o",
    "n",
    "p",
    "__proto__",
    "constructor",
    "",
];

/// Pieces of text: escapes, characters of every UTF-8 length, lone surrogate escapes, quotes.
const TEXT: &[&str] = &[
    "a",
    "é",
    "😀",
    "\\\"",
    "\\\\",
    "\\n",
    "\\u0000",
    "\\ud800",
    "\\udfff",
    "<",
    "{{x}}",
    "%",
    "https://a.test/",
    " ",
];

fn text(rng: &mut Rng) -> String {
    // Mostly short, sometimes past every field's bound.
    let len = match rng.below(10) {
        0 => 2_000 + rng.below(6_000),
        1 => 200 + rng.below(400),
        _ => rng.below(12),
    };
    let mut s = String::from("\"");
    for _ in 0..len {
        s.push_str(rng.pick(TEXT));
    }
    s.push('"');
    s
}

fn value(rng: &mut Rng, depth: u32) -> String {
    let kinds = if depth > 3 { 6 } else { 9 };
    match rng.below(kinds) {
        0 => "null".into(),
        1 => ["true", "false"][rng.below(2) as usize].into(),
        2 => ["0", "-1", "1e308", "3.5", "18446744073709551617"][rng.below(5) as usize].into(),
        3..=5 => text(rng),
        6 => object(rng, depth + 1),
        7 => {
            let items: Vec<String> = (0..rng.below(4)).map(|_| value(rng, depth + 1)).collect();
            format!("[{}]", items.join(","))
        }
        _ => {
            // A JSON document as a string (OneSignal's `custom` may come so).
            let inner = object(rng, depth + 1)
                .replace('\\', "\\\\")
                .replace('"', "\\\"");
            format!("\"{inner}\"")
        }
    }
}

fn object(rng: &mut Rng, depth: u32) -> String {
    let fields: Vec<String> = (0..rng.below(7))
        .map(|_| format!("\"{}\":{}", rng.pick(KEYS), value(rng, depth)))
        .collect();
    format!("{{{}}}", fields.join(","))
}

/// A payload: mostly an object of known keys, sometimes cut short, sometimes not an object.
fn payload(rng: &mut Rng) -> String {
    let mut p = match rng.below(12) {
        0 => value(rng, 0),
        _ => object(rng, 0),
    };
    if rng.below(15) == 0 && p.len() > 1 {
        let at = rng.below(p.len() as u64) as usize;
        while !p.is_char_boundary(at.min(p.len())) {
            p.pop();
        }
        p.truncate(at.min(p.len()));
    }
    p
}

#[wasm_bindgen_test]
fn hostile_payloads_are_read_within_bounds_or_refused_never_thrown() {
    const SEED: u64 = 0x9E37_79B9_7F4A_7C15;
    const CASES: usize = 3_000;
    let mut rng = Rng(SEED);
    let (mut read, mut refused) = (0, 0);
    for case in 0..CASES {
        let p = payload(&mut rng);
        let at = || format!("seed {SEED:#x}, case {case}: {p}");
        match Notification::from_push(p.as_str()) {
            Err(reason) => {
                assert!(!reason.is_empty(), "{}", at());
                refused += 1;
            }
            Ok(n) => {
                read += 1;
                for (field, max) in [
                    ("id", 256),
                    ("heading", 2048),
                    ("content", 4096),
                    ("url", 4096),
                    ("icon", 4096),
                ] {
                    if let Some(t) = n.text(field) {
                        assert!(t.len() <= max, "{field} of {} bytes: {}", t.len(), at());
                    }
                }
                let kept = js::stringify(n.to_kept());
                assert!(
                    kept.len() < 24 * 1024,
                    "kept {} bytes: {}",
                    kept.len(),
                    at()
                );
                // The kept copy reads back, and its webhook body is JSON.
                let again = Notification::from_kept(n.to_kept()).expect("the kept copy reads back");
                let body = webhook::body(Event::Clicked, &again, &"u".into(), Some(&"".into()));
                assert!(js::parse(&body).is_some(), "body does not parse: {}", at());
            }
        }
    }
    // Both outcomes are exercised (the generator is not degenerate).
    assert!(
        read > CASES / 10 && refused > CASES / 20,
        "{read} read, {refused} refused"
    );
}
