//! Rendering: the seed's example webhook, escaping by position with hostile values, missing values,
//! the `json` filter, the cURL preview, and Shopify details of the Liquid engine.

use hookline::event::Event;
use hookline::request::{Method, RenderedRequest};
use hookline::template::{Position, Template};
use hookline::webhook::{RenderError, Webhook};
use serde_json::{Value, json};

mod common;
use common::{SEED_BODY, percent_decode};

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn seed_event() -> Event {
    Event::from_json(&fixture("seed-event.json")).expect("the seed event is valid")
}

fn event_with_external_id(value: &str) -> Event {
    let mut json = fixture("seed-event.json");
    json["external_user_id"] = json!(value);
    Event::from_json(&json).expect("valid event")
}

#[test]
fn seed_example_renders_exactly() {
    let webhook = Webhook::from_json(&fixture("seed-webhook.json")).expect("valid webhook");
    let request = webhook.render(&seed_event()).expect("renders");
    assert_eq!(
        request,
        RenderedRequest {
            method: Method::Post,
            url: "https://example.com/webhook/user/THE%20EXTERNAL%20ID".into(),
            headers: vec![
                (
                    "Authorization".into(),
                    "Bearer 3beb3078-e0f1-4629-af17-fde833b9f716".into()
                ),
                ("Content-Type".into(), "application/json".into()),
            ],
            body: Some(SEED_BODY.into()),
        }
    );
    assert_eq!(
        request.to_curl(),
        format!(
            "curl --globoff -X POST 'https://example.com/webhook/user/THE%20EXTERNAL%20ID' \\\n  \
             -H 'Authorization: Bearer 3beb3078-e0f1-4629-af17-fde833b9f716' \\\n  \
             -H 'Content-Type: application/json' \\\n  --data-raw '{SEED_BODY}'"
        )
    );
    assert_eq!(
        request.to_json(),
        json!({
            "method": "POST",
            "url": "https://example.com/webhook/user/THE%20EXTERNAL%20ID",
            "headers": [
                ["Authorization", "Bearer 3beb3078-e0f1-4629-af17-fde833b9f716"],
                ["Content-Type", "application/json"]
            ],
            "body": SEED_BODY,
        })
    );
}

/// A webhook that puts `event.external_id` in every position.
fn everywhere() -> Webhook {
    Webhook::from_json(&json!({
        "name": "everywhere",
        "events": ["message.push.*"],
        "url": "https://example.com/webhook/user/{{event.external_id}}?q={{ event.external_id }}&k=1#{{ event.external_id }}",
        "headers": {"X-User": "id={{ event.external_id }}"},
        "body": {"custom": "{\"in_string\": \"<{{ event.external_user_id }}>\", \"as_value\": {{ event.external_id }}, \"as_json\": {{ event.external_id | json }}}"}
    }))
    .expect("valid webhook")
}

fn pairs() -> Webhook {
    Webhook::from_json(&json!({
        "name": "pairs",
        "events": ["message.push.sent"],
        "method": "PUT",
        "url": "https://example.com/hook",
        "body": {"pairs": {"user": "u:{{ event.external_id }}", "title": "{{ message.title }}"}}
    }))
    .expect("valid webhook")
}

#[test]
fn hostile_values_are_escaped_where_they_land() {
    let ten_kb: String = "x\"y\\z\n".repeat(10 * 1024 / 6 + 1);
    // (value, its percent-encoded form)
    let table: &[(&str, &str)] = &[
        ("plain", "plain"),
        ("a\"b'c", "a%22b%27c"),
        ("back\\slash", "back%5Cslash"),
        ("line1\nline2", "line1%0Aline2"),
        ("{{ event.id }}", "%7B%7B%20event.id%20%7D%7D"),
        (
            "{% if true %}x{% endif %}",
            "%7B%25%20if%20true%20%25%7Dx%7B%25%20endif%20%25%7D",
        ),
        ("../../admin", "..%2F..%2Fadmin"),
        ("?x=1", "%3Fx%3D1"),
        ("&k=2", "%26k%3D2"),
        ("#top", "%23top"),
        ("100%", "100%25"),
        ("%2F", "%252F"),
        ("a+b c", "a%2Bb%20c"),
        ("@evil.example:80", "%40evil.example%3A80"),
        ("😀 é 中文", "%F0%9F%98%80%20%C3%A9%20%E4%B8%AD%E6%96%87"),
        ("tab\there", "tab%09here"),
        ("nul\u{0}byte", "nul%00byte"),
        ("\u{2028}", "%E2%80%A8"),
    ];
    let webhook = everywhere();
    for &(value, encoded) in table {
        let event = event_with_external_id(value);
        let header_ok = !value.chars().any(|c| c.is_ascii_control() && c != '\t');
        match webhook.render(&event) {
            Ok(request) => {
                assert!(
                    header_ok,
                    "{value:?}: a header with a control character was accepted"
                );
                assert_eq!(
                    request.url,
                    format!("https://example.com/webhook/user/{encoded}?q={encoded}&k=1#{encoded}"),
                    "{value:?}"
                );
                let path = request.url.split(['?', '#']).next().unwrap_or("");
                assert_eq!(
                    path.matches('/').count(),
                    5,
                    "{value:?} added a path segment"
                );
                assert_eq!(percent_decode(encoded), value.as_bytes());
                assert_eq!(
                    request.header("X-User"),
                    Some(format!("id={value}").as_str())
                );
                let body: Value = serde_json::from_str(request.body.as_deref().unwrap_or(""))
                    .unwrap_or_else(|e| panic!("{value:?}: body is not JSON: {e}"));
                assert_eq!(
                    body,
                    json!({"in_string": format!("<{value}>"), "as_value": value, "as_json": value}),
                    "{value:?}"
                );
            }
            Err(e) => {
                assert!(!header_ok, "{value:?}: {e}");
                assert_eq!(e.field, "headers.X-User", "{value:?}");
            }
        }
        // Key/value bodies are always valid JSON.
        let request = pairs().render(&event).expect("pairs render");
        let body: Value =
            serde_json::from_str(request.body.as_deref().unwrap_or("")).expect("JSON");
        assert_eq!(
            body,
            json!({"user": format!("u:{value}"), "title": "Claim 50% Off Today"})
        );
    }
    // A 10 kB value full of quotes, backslashes and newlines.
    let request = pairs()
        .render(&event_with_external_id(&ten_kb))
        .expect("renders");
    let body: Value = serde_json::from_str(request.body.as_deref().unwrap_or("")).expect("JSON");
    assert_eq!(body["user"], json!(format!("u:{ten_kb}")));
    let err = everywhere()
        .render(&event_with_external_id(&ten_kb))
        .unwrap_err();
    assert_eq!(err.field, "headers.X-User");
    let long = "é".repeat(5000);
    let request = everywhere()
        .render(&event_with_external_id(&long))
        .expect("renders");
    assert_eq!(
        request.url.len(),
        "https://example.com/webhook/user/?q=&k=1#".len() + 3 * 6 * 5000
    );
    let body: Value = serde_json::from_str(request.body.as_deref().unwrap_or("")).expect("JSON");
    assert_eq!(body["as_value"], json!(long));
}

#[test]
fn header_injection_is_refused() {
    for (value, what) in [
        ("x\r\nX-Admin: 1", "a carriage return (CR)"),
        ("x\nX-Admin: 1", "a line feed (LF)"),
        ("x\u{0}", "the control character '\\0'"),
    ] {
        let err = everywhere()
            .render(&event_with_external_id(value))
            .unwrap_err();
        assert_eq!(
            err,
            RenderError {
                field: "headers.X-User".into(),
                message: format!(
                    "the rendered value contains {what}, which could inject a header; refused"
                ),
            }
        );
    }
}

#[test]
fn dot_segments_from_values_are_refused() {
    for value in ["..", ".", "%2e%2e"] {
        let event = event_with_external_id(value);
        let result = everywhere().render(&event);
        if value == "%2e%2e" {
            // `%` is encoded, so this is the literal text `%2e%2e`, not a dot segment.
            assert_eq!(
                result.expect("renders").url,
                "https://example.com/webhook/user/%252e%252e?q=%252e%252e&k=1#%252e%252e"
            );
        } else {
            let err = result.unwrap_err();
            assert_eq!(err.field, "url");
            assert_eq!(
                err.message,
                format!(
                    "the rendered path has a {value:?} segment, which would change the path; refused"
                )
            );
        }
    }
}

#[test]
fn missing_values_render_empty_or_null() {
    let event =
        Event::from_json(&json!({"kind": "message.push.sent", "timestamp": 1})).expect("valid");
    let webhook = Webhook::from_json(&json!({
        "name": "missing",
        "events": ["*"],
        "url": "https://example.com/u/{{ event.external_id }}/{{ nothing.at.all }}x",
        "headers": {"X-Id": "[{{ event.external_user_id }}][{{ message.title }}][{{ event.no.such.path }}]"},
        "body": {"custom": "{\"s\": \"{{ event.app_id }}\", \"v\": {{ message.contents }}, \"d\": {{ event.nope | default: 7 }}}"}
    }))
    .expect("valid");
    let request = webhook.render(&event).expect("renders");
    assert_eq!(request.url, "https://example.com/u//x");
    assert_eq!(request.header("X-Id"), Some("[][][]"));
    assert_eq!(
        request.body.as_deref(),
        Some(r#"{"s": "", "v": null, "d": 7}"#)
    );
}

#[test]
fn json_filter_and_extra_properties() {
    let event = Event::from_json(&json!({
        "id": "e1",
        "kind": "message.push.clicked",
        "timestamp": 1708559115.228,
        "external_id": "u\"1",
        "plan": {"tier": "gold", "seats": 3, "tags": ["a", "b"], "trial": false, "none": null},
        "message": {"title": "Hi \"there\"", "contents": "c", "campaign": "spring"}
    }))
    .expect("valid");
    let render = |template: &str| {
        Template::parse(template, Position::Json)
            .expect("parses")
            .render(event.template_data())
            .expect("renders")
    };
    assert_eq!(
        render("{{ event.plan | json }}"),
        // Keys in the order the event gave them.
        r#"{"tier":"gold","seats":3,"tags":["a","b"],"trial":false,"none":null}"#
    );
    assert_eq!(
        render("{{ event.plan }}"),
        render("{{ event.plan | json }}")
    );
    assert_eq!(
        render(r#"{"t": {{ message.title | json }}}"#),
        r#"{"t": "Hi \"there\""}"#
    );
    assert_eq!(
        render(r#"["{{ message.campaign }}", {{ event.plan.seats }}, {{ event.plan.trial }}]"#),
        r#"["spring", 3, false]"#
    );
    assert_eq!(render(r#""{{ event.plan.tags | join: '/' }}""#), r#""a/b""#);
    assert_eq!(render("{{ event.timestamp }}"), "1708559115");
    assert_eq!(
        render(r#""{{ event.datetime }}""#),
        r#""2024-02-21T23:45:15.228Z""#
    );
    let whole: Value = serde_json::from_str(&render("{{ event }}")).expect("JSON");
    assert_eq!(
        whole,
        json!({
            "id": "e1",
            "kind": "message.push.clicked",
            "app_id": null,
            "subscription_device_type": null,
            "timestamp": 1708559115,
            "datetime": "2024-02-21T23:45:15.228Z",
            "subscription_id": null,
            "onesignal_id": null,
            "external_id": "u\"1",
            "external_user_id": "u\"1",
            "plan": {"tier": "gold", "seats": 3, "tags": ["a", "b"], "trial": false, "none": null}
        })
    );
    let quoted: Value = serde_json::from_str(&render(r#""{{ event | json }}""#)).expect("JSON");
    let inner: Value =
        serde_json::from_str(quoted.as_str().expect("a string")).expect("holding JSON");
    assert_eq!(inner, whole);
    // Inside a string, `json` output is itself escaped: a string holding JSON.
    assert_eq!(
        render(r#"{"s": "{{ event.plan.tags | json }}"}"#),
        r#"{"s": "[\"a\",\"b\"]"}"#
    );
}

#[test]
fn tags_filters_and_capture_escape_at_output() {
    let event = event_with_external_id("O'Neil \"x\"");
    let render = |template: &str| {
        let t = Template::parse(template, Position::Json).expect("parses");
        t.render(event.template_data()).expect("renders")
    };
    assert_eq!(
        render(
            r#"{"a": "{% if event.external_id %}{{ event.external_id | upcase }}{% else %}none{% endif %}"}"#
        ),
        r#"{"a": "O'NEIL \"X\""}"#
    );
    assert_eq!(
        render(
            r#"{% capture who %}<{{ event.external_id }}>{% endcapture %}{"who": "{{ who }}", "v": {{ who }}}"#
        ),
        r#"{"who": "<O'Neil \"x\">", "v": "<O'Neil \"x\">"}"#
    );
    assert_eq!(
        render(
            r#"[{% for t in event.missing %}"{{ t }}",{% endfor %}{% assign n = 2 %}{{ n | plus: 1 }}]"#
        ),
        "[3]"
    );
    assert_eq!(
        render(r#"{"r": "{% raw %}{{ not rendered }}{% endraw %}"}"#),
        r#"{"r": "{{ not rendered }}"}"#
    );
    assert_eq!(
        render(r#"{"t": "{{ event.external_id | truncate: 5 }}"}{% comment %}"{% endcomment %}"#),
        r#"{"t": "O'..."}"#
    );
}

#[test]
fn url_encode_filter_is_not_applied_twice() {
    let event = event_with_external_id("a b&c");
    let t = Template::parse(
        "https://example.com/{{ event.external_id | url_encode }}?q={{ event.external_id | downcase }}",
        Position::Url,
    )
    .expect("parses");
    assert_eq!(
        t.render(event.template_data()).expect("renders"),
        "https://example.com/a%20b%26c?q=a%20b%26c"
    );
}

#[test]
fn invalid_custom_body_says_where() {
    // Without tags: refused when saved, quoting the line as rendered for a sample event.
    let err = Webhook::from_json(&json!({
        "name": "broken",
        "events": ["message.push.sent"],
        "url": "https://example.com/",
        "body": {"custom": "{\n  \"a\": {{ event.id }}\n  \"b\": 1\n}"}
    }))
    .unwrap_err();
    assert_eq!(err.field, "body.custom");
    assert_eq!(
        err.message,
        "the rendered body is not valid JSON: expected `,` or `}` at line 3 column 3 \
         (the line reads: \"b\": 1) (rendered for a sample message.push.sent event)"
    );
    // With tags the structure may depend on the event: saved, and the attempt says where.
    let webhook = Webhook::from_json(&json!({
        "name": "broken",
        "events": ["message.push.sent"],
        "url": "https://example.com/",
        "body": {"custom": "{\n  \"a\": {% if event.id %}1{% endif %}\n  \"b\": 1\n}"}
    }))
    .expect("saved: with tags, only a render tells");
    let err = webhook.render(&seed_event()).unwrap_err();
    assert_eq!(
        err,
        RenderError {
            field: "body".into(),
            message: "the rendered body is not valid JSON: expected `,` or `}` at line 3 column 3 \
                      (the line reads: \"b\": 1)"
                .into()
        }
    );
}

#[test]
fn webhooks_without_body_and_methods() {
    for method in ["GET", "POST", "PUT", "PATCH", "DELETE", "get"] {
        let webhook = Webhook::from_json(&json!({
            "name": "n", "events": ["x"], "method": method,
            "url": "http://127.0.0.1:8080/hook?id={{ event.id }}",
            "headers": {"X-Empty": "{{ event.nope }}"}
        }))
        .expect("valid");
        let request = webhook.render(&seed_event()).expect("renders");
        assert_eq!(request.method.as_str(), method.to_ascii_uppercase());
        assert_eq!(request.body, None);
        assert_eq!(
            request.to_curl(),
            format!(
                "curl --globoff -X {} 'http://127.0.0.1:8080/hook?id=6f24fcf2-0467-4d4f-9d62-567f8ed0deb9' \\\n  -H 'X-Empty;'",
                method.to_ascii_uppercase()
            )
        );
    }
}

#[test]
fn curl_quotes_anything() {
    let request = RenderedRequest {
        method: Method::Post,
        url: "https://example.com/a'b".into(),
        headers: vec![("X-Q".into(), "it's $(rm -rf /) `x` \"y\" \\".into())],
        body: Some("{\"a\": \"'; echo pwned; '\"}".into()),
    };
    assert_eq!(
        request.to_curl(),
        "curl --globoff -X POST 'https://example.com/a'\\''b' \\\n  \
         -H 'X-Q: it'\\''s $(rm -rf /) `x` \"y\" \\' \\\n  \
         --data-raw '{\"a\": \"'\\''; echo pwned; '\\''\"}'"
    );
}

#[test]
fn curl_preview_runs_in_a_shell_as_the_exact_request() {
    // `sh` must see exactly the request's words: replace curl by printf and compare.
    let event = event_with_external_id("it's \"$HOME\" `id` \\n\u{1F600}");
    let request = pairs().render(&event).expect("renders");
    let script = request
        .to_curl()
        .replacen("curl --globoff", "printf '%s\\n'", 1);
    let output = std::process::Command::new("sh")
        .arg("-c")
        .arg(&script)
        .output()
        .expect("sh runs");
    let words = String::from_utf8(output.stdout).expect("utf-8");
    let body = request.body.clone().unwrap_or_default();
    assert_eq!(
        words,
        format!(
            "-X\nPUT\nhttps://example.com/hook\n-H\nContent-Type: application/json\n--data-raw\n{body}\n"
        )
    );
}

#[test]
fn matches_triggers() {
    let webhook = Webhook::from_json(&json!({
        "name": "t", "events": ["message.push.*", "message.email.opened"],
        "url": "https://example.com/"
    }))
    .expect("valid");
    for (kind, expected) in [
        ("message.push.sent", true),
        ("message.push.clicked", true),
        ("message.push.a.b", true),
        ("message.push", false),
        ("message.pushy.sent", false),
        ("message.email.opened", true),
        ("message.email.clicked", false),
        ("message.sms.sent", false),
    ] {
        assert_eq!(webhook.matches(kind), expected, "{kind}");
    }
    let all =
        Webhook::from_json(&json!({"name": "t", "events": ["*"], "url": "https://example.com/"}))
            .expect("valid");
    assert!(all.matches("anything.at.all"));
    assert!(all.enabled());
}

#[test]
fn compiled_webhooks_and_events_are_shareable() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Webhook>();
    send_sync::<Event>();
    send_sync::<Template>();
    send_sync::<RenderedRequest>();
}

#[test]
fn date_filter_reads_event_times() {
    let event = Event::from_json(
        &json!({"kind": "k", "timestamp": 1708559115.228, "when": "2024-02-21T23:50:16+01:00"}),
    )
    .expect("valid");
    for (template, expected) in [
        (
            "{{ event.timestamp | date: '%Y-%m-%d %H:%M:%S' }}",
            "2024-02-21 23:45:15",
        ),
        (
            "{{ event.datetime | date: '%d/%m/%Y %H:%M' }}",
            "21/02/2024 23:45",
        ),
        ("{{ event.when | date: '%H:%M %z' }}", "23:50 +0100"),
        ("{{ '1708559416' | date: '%s' }}", "1708559416"),
        (
            "{{ '2016-06-13 02:30:00 +0300' | date: '%Y-%m-%d' }}",
            "2016-06-13",
        ),
        ("{{ 'not a date' | date: '%Y' }}", "not a date"),
        ("{{ event.nope | date: '%Y' }}", ""),
    ] {
        let t = Template::parse(template, Position::Text).expect("parses");
        assert_eq!(
            t.render(event.template_data()).as_deref(),
            Ok(expected),
            "{template}"
        );
    }
    // Without a format, LiquidJS's default (Ruby's Liquid has none).
    assert_eq!(
        Template::parse("{{ 1708559115 | date }}", Position::Text)
            .expect("parses")
            .render(event.template_data())
            .as_deref(),
        Ok("Wednesday, February 21, 2024 at 11:45 pm +0000")
    );
}

#[test]
fn renders_are_bounded() {
    // Ranges are never built in memory: any bounds parse, and the loop budget stops the render.
    let n = Event::from_json(&json!({"kind": "k", "n": "3"})).expect("valid");
    for (source, expected) in [
        ("{% for i in (1..10000) %}{% endfor %}|", Ok("|")),
        ("{% for i in (1..event.n) %}{{ i }}{% endfor %}", Ok("123")),
        ("{% for i in (event.n..1) %}{{ i }}{% endfor %}|", Ok("|")),
        (
            "{% for i in (1..10001) %}{% endfor %}",
            Err("the template ran more than 10000 loop iterations (the render budget)"),
        ),
        (
            "{% for i in (-9223372036854775808..9223372036854775807) %}{% endfor %}",
            Err("the template ran more than 10000 loop iterations (the render budget)"),
        ),
    ] {
        let template = Template::parse(source, Position::Text).expect("parses");
        assert_eq!(
            template.render(n.template_data()),
            expected.map(str::to_owned).map_err(str::to_owned),
            "{source}"
        );
    }
    // Output is capped: nested loops over an event's array stop at the render budget's 256 KiB
    // (tests/core_budget.rs tests every limit).
    let event = Event::from_json(&json!({"kind": "k", "list": vec!["x".repeat(100); 1000]}))
        .expect("valid");
    let template = Template::parse(
        "{% for a in event.list %}{% for b in event.list %}{{ b }}{% endfor %}{% endfor %}",
        Position::Text,
    )
    .expect("parses");
    assert_eq!(
        template.render(event.template_data()),
        Err("the template produced more than 262144 bytes (the render budget)".to_owned())
    );
}

#[test]
fn missing_values_inside_loops_assigns_and_counters() {
    let event = Event::from_json(
        &json!({"kind": "k", "list": [{"a": 1}, {"b": 2}], "o": {"x": 1}, "s": "abc"}),
    )
    .expect("valid");
    for (template, expected) in [
        ("{% for x in event.list %}[{{ x.a }}]{% endfor %}", "[1][]"),
        (
            "{% for x in event.list %}{{ forloop.index }}:{{ x.z.c }};{% endfor %}",
            "1:;2:;",
        ),
        (
            "{% for x in event.nope %}x{% else %}none{% endfor %}",
            "none",
        ),
        ("{% assign o = event.o %}[{{ o.x }}]", "[1]"),
        (
            "{{ event.list.size }} {{ event.list[1].b }} {{ event.list[-1].b }} {{ event.list[9].b }}|",
            "2 2 2 |",
        ),
        (
            "{{ event.s.size }} {{ event.s.nope }}|{{ event.o.x.y }}|",
            "3 ||",
        ),
        (
            "{% increment n %}{% increment n %} {{ n }} {% decrement m %}",
            "01 2 -1",
        ),
        ("{{ undefined }}{{ undefined.deep[0] }}|", "|"),
        (
            "{% if event.nope == nil and event.nope != empty and event.nope == blank %}missing{% endif %}",
            "missing",
        ),
        ("{{ event.list | map: 'a' | join: ',' }}", "1,"),
    ] {
        let t = Template::parse(template, Position::Text).expect("parses");
        assert_eq!(
            t.render(event.template_data()).as_deref(),
            Ok(expected),
            "{template}"
        );
    }
}

/// Found by reading the engine against Shopify's Liquid (Ruby 5.13): each case is what Ruby
/// renders, or, where hookline refuses at save, the refusal.
#[test]
fn shopify_details_a_review_found() {
    let event = Event::from_json(&json!({
        "kind": "k",
        "list": [1, 2, 3],
        "name": "say \"hi\"",
        "sp": "a b",
        "nums": [9007199254740993_i64, 9007199254740992.0, 9007199254740992_i64, 1.5, 1, "x", null],
        "ts": i64::MIN,
        "when": 1708559115.5,
    }))
    .expect("valid");
    let render = |source: &str, position: Position| match Template::parse(source, position) {
        Ok(t) => t
            .render(event.template_data())
            .unwrap_or_else(|e| format!("render error: {e}")),
        Err(e) => format!("refused: {e}"),
    };
    let text = |source: &str| render(source, Position::Text);
    // `break` and `continue` inside a capture stop the loop too.
    assert_eq!(
        text(
            "[{% for x in (1..3) %}{% capture c %}{{x}}{% break %}{% endcapture %}{{c}}{% endfor %}]"
        ),
        "[]"
    );
    // tablerow: nothing for a missing collection; without cols one row whose last cell is col_last.
    assert_eq!(
        text("{% tablerow x in event.nope %}{{ x }}{% endtablerow %}"),
        ""
    );
    assert_eq!(
        text("{% tablerow x in event.list %}{{ tablerowloop.col_last }}{% endtablerow %}"),
        "<tr class=\"row1\">\n<td class=\"col1\">false</td><td class=\"col2\">false</td><td class=\"col3\">true</td></tr>\n"
    );
    // A negative offset counts in the limit.
    assert_eq!(
        text("{% for x in (1..5) offset: -2 limit: 3 %}{{ x }}{% endfor %}"),
        "1"
    );
    // cycle: the same values share a turn however they are written; group names keep their kind.
    assert_eq!(
        text("{% cycle 'a', 'b' %}{% cycle 'a','b' %}{% cycle \"a\", \"b\" %}"),
        "aba"
    );
    assert_eq!(text("{% cycle 1: 'a','b' %}{% cycle '1': 'a','b' %}"), "aa");
    // A string's first and last characters (Shopify's Liquid 5.12 on).
    assert_eq!(
        text("{{ 'abc' | first }}{{ 'abc' | last }}{{ event.sp.first }}{{ event.sp.last }}"),
        "acab"
    );
    // round with negative places keeps a float; strip_newlines leaves a lone \r.
    assert_eq!(
        text("{{ 1234.5 | round: -2 }} {{ 1234.5 | round }}"),
        "1200.0 1235"
    );
    assert_eq!(text("{{ 'a\rb\nc' | strip_newlines }}"), "a\rbc");
    // strip_html is case-sensitive and takes the block that starts first.
    assert_eq!(text("{{ '<SCRIPT>x</SCRIPT>y' | strip_html }}"), "xy");
    assert_eq!(
        text("{{ '<!-- <script> -->x</script>' | strip_html }}"),
        "x"
    );
    // Nothing contains false; a float is not a date.
    assert_eq!(
        text("{% if 'is false' contains false %}T{% else %}F{% endif %}"),
        "F"
    );
    assert_eq!(text("{{ event.when | date: '%Y' }}"), "1708559115.5");
    // Event data cannot panic `sort` or `date`.
    assert_eq!(
        text("{{ event.nums | sort | join: ',' }}"),
        "1,1.5,9007199254740992.0,9007199254740992,9007199254740993,x,"
    );
    assert_eq!(text("{{ event.ts | date: '%Y' }}"), i64::MIN.to_string());
    // uniq tells 1 from 1.0, like Ruby's.
    assert_eq!(
        text("{{ '1' | split: ',' | concat: event.list | uniq | size }}"),
        "4"
    );
    // Escaping: a capture's text is escaped once, wherever the capture is written.
    let json = |source: &str| render(source, Position::Json);
    assert_eq!(
        json("{\"a\": \"{% liquid capture x\necho event.name\nendcapture\necho x %}\"}"),
        r#"{"a": "say \"hi\""}"#
    );
    assert_eq!(
        render(
            "https://h.example/{% echo event.sp | url_encode %}",
            Position::Url
        ),
        "https://h.example/a%20b"
    );
    assert_eq!(
        json("{\"a\": {% echo event.sp | json %}}"),
        r#"{"a": "a b"}"#
    );
    // tablerow writes HTML: refused in a URL or a JSON body unless captured.
    assert!(
        json("{\"a\": \"{% tablerow x in event.list %}{% endtablerow %}\"}")
            .starts_with("refused: ")
    );
    assert!(
        render(
            "https://h.example/{% tablerow x in event.list %}{% endtablerow %}",
            Position::Url
        )
        .starts_with("refused: ")
    );
    assert_eq!(
        json(
            "{% capture t %}{% tablerow x in event.list cols: 9 limit: 1 %}{{ x }}{% endtablerow %}{% endcapture %}{\"t\": {{ t }}}"
        ),
        r#"{"t": "<tr class=\"row1\">\n<td class=\"col1\">1</td></tr>\n"}"#
    );
    // A break inside a liquid tag leaves its loop: it must not leave a JSON string open.
    assert!(
        json(r#"{"a": {% for x in event.list %}"{% liquid break %}"{% endfor %}1}"#)
            .starts_with("refused: ")
    );
    assert!(text("a{% liquid break %}b").starts_with("refused: "));
}

/// Nesting is bounded as in Shopify's Liquid ("Nesting too deep", 100 levels): a saved template
/// cannot make parsing or rendering recurse deep enough to overflow a thread's stack; a long
/// `and` chain is not nesting.
#[test]
fn nesting_is_bounded() {
    let deep_ifs = "{% if 1 %}".repeat(150) + &"{% endif %}".repeat(150);
    let deep_parens = format!("{{{{ {} }}}}", "(".repeat(10_000));
    let deep_brackets = format!("{{{{ a{} }}}}", "[".repeat(10_000));
    let deep_liquid = format!("{{% {} echo 1 %}}", "liquid ".repeat(1_000));
    for source in [&deep_ifs, &deep_parens, &deep_brackets, &deep_liquid] {
        let e = Template::parse(source, Position::Text).expect_err("refused");
        assert!(e.message.starts_with("nesting too deep"), "{}", e.message);
    }
    let fine = "{% if 1 %}".repeat(100) + "x" + &"{% endif %}".repeat(100);
    assert_eq!(
        Template::parse(&fine, Position::Text)
            .unwrap()
            .render(&hookline::template::Data::Nil)
            .as_deref(),
        Ok("x")
    );
    let long_chain = format!(
        "{{% if {} true %}}yes{{% endif %}}",
        "false or ".repeat(10_000)
    );
    assert_eq!(
        Template::parse(&long_chain, Position::Text)
            .unwrap()
            .render(&hookline::template::Data::Nil)
            .as_deref(),
        Ok("yes")
    );
}
