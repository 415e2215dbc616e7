//! Properties that hold for any input, one function per fuzz target (`fuzz/`, run by
//! `scripts/fuzz.sh`), each taking arbitrary bytes. The same functions replay every input the
//! fuzzer ever found failing (`fuzz/regressions/`) in the ordinary tests
//! (`tests/core_fuzz.rs`), so a fixed finding stays fixed. A property that does not hold
//! panics, which is what the fuzzer reports.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde_json::{Map, Value};

use crate::delivery::guard::AddressPolicy;
use crate::event::Event;
use crate::template::{Position, Template};
use crate::webhook::{Webhook, WebhookSpec};

/// A property of arbitrary bytes: panics when it does not hold.
pub type Property = fn(&[u8]);

/// The targets, by name (the fuzz binaries' and the regression folders').
pub const TARGETS: [(&str, Property); 5] = [
    ("events", events),
    ("template", template),
    ("webhook", webhook),
    ("address", address),
    ("bridge", bridge),
];

/// An ingest body: the fast reader (`events_from_slice`) either leaves a body to the general
/// one or reads exactly the events the general one reads.
pub fn events(data: &[u8]) {
    let Some(fast) = crate::event::events_from_slice(data, "app") else {
        return;
    };
    let general = serde_json::from_slice::<Value>(data)
        .ok()
        .and_then(|body| crate::api::events::parse_events("app", body).ok())
        .unwrap_or_else(|| panic!("the fast reader took a body the general one refuses"));
    assert_eq!(fast.len(), general.len());
    for (fast, general) in fast.iter().zip(&general) {
        let (mut fast, mut general) = (fast.to_json(), general.to_json());
        // What each read makes up for an event without it may differ: the time it is read (a
        // moment apart) and a random id.
        let (a, b) = (&fast["timestamp"], &general["timestamp"]);
        if a != b {
            let gap = (a.as_f64().unwrap_or(0.0) - b.as_f64().unwrap_or(f64::MAX)).abs();
            assert!(gap < 1.0, "timestamps {a} and {b}");
            forget(&mut fast, &mut general, &["timestamp", "datetime"]);
        }
        let (a, b) = (&fast["id"], &general["id"]);
        if a != b {
            let made_up = |id: &Value| {
                id.as_str()
                    .is_some_and(|t| uuid::Uuid::parse_str(t).is_ok())
            };
            assert!(made_up(a) && made_up(b), "ids {a} and {b}");
            forget(&mut fast, &mut general, &["id"]);
        }
        assert_eq!(fast, general);
    }
}

fn forget(a: &mut Value, b: &mut Value, keys: &[&str]) {
    for e in [a, b] {
        if let Some(o) = e.as_object_mut() {
            for k in keys {
                o.remove(*k);
            }
        }
    }
}

/// A template (the first line) and an event (the rest, as JSON, when it is one): parsing and
/// rendering never panic, in every position, and a render that fails names the render budget.
pub fn template(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (source, event) = text.split_once('\n').unwrap_or((&text, ""));
    let event = event_of(event);
    for position in [Position::Text, Position::Url, Position::Json] {
        let Ok(template) = Template::parse(source, position) else {
            continue;
        };
        if let Err(e) = template.render(event.template_data()) {
            assert!(
                e.contains("(the render budget)"),
                "{position:?} {source:?}: a render failed for a reason other than the budget: {e}"
            );
        }
    }
}

/// A webhook definition (the first line, JSON) and an event (the rest): checking it never
/// panics, and a webhook that compiles renders any event to a request or a render error.
pub fn webhook(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (definition, event) = text.split_once('\n').unwrap_or((&text, ""));
    let Ok(definition) = serde_json::from_str::<Value>(definition) else {
        return;
    };
    let Ok(webhook) = WebhookSpec::from_json(&definition).and_then(Webhook::compile) else {
        return;
    };
    if let Ok(request) = webhook.render(&event_of(event)) {
        let _ = request.to_curl();
        let shown = request.masked(|name| webhook.is_secret_header(name));
        for (name, value) in &shown.headers {
            assert!(
                !webhook.is_secret_header(name) || value == crate::secrets::MASK,
                "{name} shown"
            );
        }
    }
}

/// The address guard: any URL text is checked without panicking, and every spelling of an IPv4
/// address (dotted, one number, hexadecimal, IPv4-mapped IPv6) is judged as that address.
pub fn address(data: &[u8]) {
    let policy = AddressPolicy::new(Vec::new());
    let _ = policy.check_url(&String::from_utf8_lossy(data));
    let Some(octets) = data.first_chunk::<4>() else {
        return;
    };
    let v4 = Ipv4Addr::from(*octets);
    let blocked = policy.check(IpAddr::V4(v4)).is_err();
    assert_eq!(
        policy.check(IpAddr::V6(v4.to_ipv6_mapped())).is_err(),
        blocked,
        "{v4} as IPv4-mapped"
    );
    let number = u32::from(v4);
    for url in [
        format!("http://{v4}/"),
        format!("http://{number}/"),
        format!("http://0x{number:x}/"),
        format!("http://[{}]/", v4.to_ipv6_mapped()),
    ] {
        assert_eq!(policy.check_url(&url).is_err(), blocked, "{url}");
    }
    if let Some(octets) = data.first_chunk::<16>() {
        let v6 = Ipv6Addr::from(*octets);
        let _ = policy.check(IpAddr::V6(v6));
        let _ = policy.check_url(&format!("https://[{v6}]:8443/x"));
    }
}

/// The browser bridge: whatever payload it maps to an event is an event ingest takes.
pub fn bridge(data: &[u8]) {
    let Ok(payload) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    if let Ok(event) = crate::api::bridge::to_event(&payload, data) {
        crate::api::events::parse_event("app", event)
            .unwrap_or_else(|e| panic!("the bridge made an event ingest refuses: {e}"));
    }
}

/// The event of a target's input: the JSON given when it is an event, else a fixed one with
/// awkward values.
fn event_of(text: &str) -> Event {
    serde_json::from_str::<Map<String, Value>>(text)
        .ok()
        .and_then(|props| Event::from_props(props, Some("app")).ok())
        .unwrap_or_else(|| {
            Event::from_json(&serde_json::json!({
                "kind": "message.push.sent", "id": "e\"1/..?#", "external_id": "x\ny{{z}}%",
                "plan": {"tags": ["a", "b\"c"], "seats": 2},
                "message": {"title": "T \\ \"q\"", "contents": "😀 é"},
            }))
            .expect("a valid event")
        })
}
