//! Every way a webhook definition or an event is refused, with the exact message a user sees.

use hookline::event::Event;
use hookline::webhook::{ValidationError, Webhook, WebhookSpec};
use serde_json::{Value, json};

/// A valid webhook with `field` replaced (or removed when `value` is `None`).
fn webhook_with(field: &str, value: Option<Value>) -> Value {
    let mut spec = json!({
        "name": "orders",
        "events": ["message.push.sent"],
        "method": "POST",
        "url": "https://example.com/hook/{{ event.id }}",
        "headers": {"Authorization": "Bearer {{ event.app_id }}"},
        "body": {"pairs": {"id": "{{ event.id }}"}},
        "enabled": true
    });
    match value {
        Some(v) => spec[field] = v,
        None => {
            spec.as_object_mut().map(|o| o.remove(field));
        }
    }
    spec
}

fn refused(spec: &Value) -> String {
    match Webhook::from_json(spec) {
        Ok(_) => "accepted".to_owned(),
        Err(e) => e.to_string(),
    }
}

#[test]
fn the_base_webhook_is_valid_and_round_trips() {
    let spec = WebhookSpec::from_json(&webhook_with("enabled", Some(json!(false)))).expect("valid");
    assert!(!spec.enabled);
    let again = WebhookSpec::from_json(&spec.to_json()).expect("round-trips");
    assert_eq!(again, spec);
    assert_eq!(
        spec.to_json(),
        json!({
            "name": "orders",
            "events": ["message.push.sent"],
            "method": "POST",
            "url": "https://example.com/hook/{{ event.id }}",
            "headers": {"Authorization": "Bearer {{ event.app_id }}"},
            "body": {"pairs": {"id": "{{ event.id }}"}},
            "enabled": false
        })
    );
    // Defaults: POST, no headers, no body, enabled.
    let spec = WebhookSpec::from_json(
        &json!({"name": "n", "events": ["a.b"], "url": "https://h.example/"}),
    )
    .expect("valid");
    assert_eq!(spec.method.as_str(), "POST");
    assert!(spec.headers.is_empty() && spec.body.is_none() && spec.enabled);
}

#[test]
fn every_webhook_error_names_its_field() {
    let table: Vec<(&str, Option<Value>, &str)> = vec![
        // name
        ("name", None, "name: is required"),
        ("name", Some(json!("  ")), "name: must not be empty"),
        (
            "name",
            Some(json!(7)),
            "name: expected a string, found a number",
        ),
        // events
        (
            "events",
            None,
            "events: is required: a list of event kinds, like [\"message.push.sent\"]",
        ),
        (
            "events",
            Some(json!("message.push.sent")),
            "events: expected an array of event kinds, found a string",
        ),
        (
            "events",
            Some(json!([])),
            "events: needs at least one event kind, like \"message.push.sent\"",
        ),
        (
            "events",
            Some(json!(["a", 3])),
            "events[1]: expected a string, found a number",
        ),
        ("events", Some(json!([""])), "events[0]: must not be empty"),
        (
            "events",
            Some(json!(["message.*.sent"])),
            "events[0]: \"message.*.sent\": `*` may only end a trigger, as in \"message.push.*\"",
        ),
        (
            "events",
            Some(json!(["message.push*"])),
            "events[0]: \"message.push*\": `*` may only end a trigger, as in \"message.push.*\"",
        ),
        (
            "events",
            Some(json!([".*"])),
            "events[0]: must not be empty",
        ),
        (
            "events",
            Some(json!(["message push"])),
            "events[0]: \"message push\" must not contain ' '",
        ),
        // method
        (
            "method",
            Some(json!("FETCH")),
            "method: expected one of GET, POST, PUT, PATCH, DELETE, found \"FETCH\"",
        ),
        (
            "method",
            Some(json!(1)),
            "method: expected a string, found a number",
        ),
        // url
        ("url", None, "url: is required"),
        (
            "url",
            Some(json!(["https://x"])),
            "url: expected a string, found an array",
        ),
        (
            "url",
            Some(json!("")),
            "url: line 1, column 1: the URL is empty",
        ),
        (
            "url",
            Some(json!("ftp://example.com/")),
            "url: line 1, column 1: the URL must start with `https://` or `http://`",
        ),
        (
            "url",
            Some(json!("example.com/hook")),
            "url: line 1, column 1: the URL must start with `https://` or `http://`",
        ),
        (
            "url",
            Some(json!("https:///hook")),
            "url: line 1, column 9: the URL has no host",
        ),
        (
            "url",
            Some(json!("https://")),
            "url: line 1, column 9: the URL has no host",
        ),
        (
            "url",
            Some(json!("{{ event.url }}")),
            "url: line 1, column 1: the URL must start with literal `https://` or `http://` and a host",
        ),
        (
            "url",
            Some(json!("https://{{ event.app_id }}.example.com/")),
            "url: line 1, column 9: the host must be literal text: put values in the path, query or fragment",
        ),
        (
            "url",
            Some(json!("https://api.{% if x %}a{% endif %}.example.com/")),
            "url: line 1, column 13: the host must be literal text: put values in the path, query or fragment",
        ),
        (
            "url",
            Some(json!("https://user:pw@example.com/")),
            "url: line 1, column 9: credentials in the URL are not supported: use an `Authorization` header",
        ),
        (
            "url",
            Some(json!("https://exa mple.com/")),
            "url: line 1, column 9: `exa mple.com` is not a valid host name",
        ),
        (
            "url",
            Some(json!("https://example.com:99999/")),
            "url: line 1, column 20: the port must be a number from 0 to 65535",
        ),
        (
            "url",
            Some(json!("https://example.com:/")),
            "url: line 1, column 20: the port must be a number from 0 to 65535",
        ),
        (
            "url",
            Some(json!("https://[::1/")),
            "url: line 1, column 9: `[` opens an IPv6 address that is not closed by `]`",
        ),
        (
            "url",
            Some(json!("https://example.com/a b")),
            "url: line 1, column 22: a URL cannot contain a space (write `%20`)",
        ),
        (
            "url",
            Some(json!("https://example.com/100%")),
            "url: line 1, column 24: `%` must start a percent-escape like `%20`",
        ),
        (
            "url",
            Some(json!("https://example.com/é")),
            "url: line 1, column 21: a URL cannot contain 'é' (percent-encode it)",
        ),
        (
            "url",
            Some(json!("https://example.com/\n")),
            "url: line 1, column 21: a URL cannot contain '\\n' (percent-encode it)",
        ),
        (
            "url",
            Some(json!("https://example.com/{{ event.id | nope }}")),
            "url: line 1, column 35: unknown filter `nope`",
        ),
        (
            "url",
            Some(json!("https://example.com/{{ event.id")),
            "url: line 1, column 21: `{{` is not closed by `}}`",
        ),
        (
            "url",
            Some(json!("https://example.com/{{ event..id }}")),
            "url: line 1, column 30: expected a property name after `.`",
        ),
        // headers
        (
            "headers",
            Some(json!(["Authorization"])),
            "headers: expected an object of strings, found an array",
        ),
        (
            "headers",
            Some(json!({"X-Num": 3})),
            "headers.X-Num: expected a string, found a number",
        ),
        (
            "headers",
            Some(json!({"X Bad": "v"})),
            "headers.X Bad: is not a valid header name (letters, digits and !#$%&'*+-.^_`|~ only)",
        ),
        (
            "headers",
            Some(json!({"": "v"})),
            "headers.: is not a valid header name (letters, digits and !#$%&'*+-.^_`|~ only)",
        ),
        (
            "headers",
            Some(json!({"X-Ünicode": "v"})),
            "headers.X-Ünicode: is not a valid header name (letters, digits and !#$%&'*+-.^_`|~ only)",
        ),
        (
            "headers",
            Some(json!({"Host": "evil.example"})),
            "headers.Host: is set by the HTTP client and cannot be templated",
        ),
        (
            "headers",
            Some(json!({"content-length": "1"})),
            "headers.content-length: is set by the HTTP client and cannot be templated",
        ),
        (
            "headers",
            Some(json!({"Transfer-Encoding": "chunked"})),
            "headers.Transfer-Encoding: is set by the HTTP client and cannot be templated",
        ),
        (
            "headers",
            Some(json!({"Connection": "close"})),
            "headers.Connection: is set by the HTTP client and cannot be templated",
        ),
        (
            "headers",
            Some(json!({"X-A": "1", "x-a": "2"})),
            "headers.x-a: is given twice (header names are case-insensitive)",
        ),
        (
            "headers",
            Some(json!({"X-A": "line\nbreak"})),
            "headers.X-A: line 1, column 5: a header value cannot contain a line break",
        ),
        (
            "headers",
            Some(json!({"X-A": "{{ event.id | upcase: 1 }}"})),
            "headers.X-A: line 1, column 15: the `upcase` filter takes no arguments",
        ),
        (
            "headers",
            Some(json!({"X-A": "{% if event.id %}x"})),
            "headers.X-A: line 1, column 1: `{% if %}` is not closed",
        ),
        // body
        (
            "body",
            Some(json!("{}")),
            "body: expected an object, found a string",
        ),
        (
            "body",
            Some(json!({})),
            "body: expected {\"pairs\": {key: template}} or {\"custom\": \"template\"}",
        ),
        (
            "body",
            Some(json!({"pairs": {}, "custom": "{}"})),
            "body: expected {\"pairs\": {key: template}} or {\"custom\": \"template\"}",
        ),
        (
            "body",
            Some(json!({"raw": "x"})),
            "body: expected {\"pairs\": {key: template}} or {\"custom\": \"template\"}",
        ),
        (
            "body",
            Some(json!({"pairs": ["a"]})),
            "body.pairs: expected an object of strings, found an array",
        ),
        (
            "body",
            Some(json!({"pairs": {"n": 1}})),
            "body.pairs.n: expected a string, found a number",
        ),
        (
            "body",
            Some(json!({"pairs": {"n": "{{ event.id | nope }}"}})),
            "body.pairs.n: line 1, column 15: unknown filter `nope`",
        ),
        (
            "body",
            Some(json!({"custom": {"a": 1}})),
            "body.custom: expected a string (the template), found an object",
        ),
        (
            "body",
            Some(json!({"custom": "  "})),
            "body.custom: is empty: write a JSON document, or leave the body out",
        ),
        (
            "body",
            Some(json!({"custom": "{\n  \"a\": \"{{ event.id }}\n}"})),
            "body.custom: line 2, column 8: this JSON string is never closed",
        ),
        (
            "body",
            Some(json!({"custom": "{\"a\": \"x\\{{ event.id }}\"}"})),
            "body.custom: line 1, column 10: a value cannot follow a backslash inside a JSON string",
        ),
        (
            "body",
            Some(
                json!({"custom": "{\"a\": {% if event.id %}\"{{ event.id }}\"{% else %}\"none{% endif %}\"}"}),
            ),
            "body.custom: line 1, column 55: `{% endif %}` is inside a JSON string opened after `{% if %}`; open and close each string in the same branch",
        ),
        (
            "body",
            Some(json!({"custom": "[{% for x in event.list %}\"{% break %}\"{% endfor %}]"})),
            "body.custom: line 1, column 28: `{% break %}` is inside a JSON string opened after `{% for %}`; open and close each string in the same branch",
        ),
        (
            "body",
            Some(json!({"custom": "{% include 'x' %}"})),
            "body.custom: line 1, column 1: the tag `{% include %}` is not supported in webhook templates",
        ),
        (
            "body",
            Some(json!({"custom": "{\"a\": 1}{% endfor %}"})),
            "body.custom: line 1, column 9: `{% endfor %}` has no opening tag",
        ),
        (
            "body",
            Some(json!({"custom": "{% if a %}{% endfor %}"})),
            "body.custom: line 1, column 11: `{% endfor %}` closes `{% if %}`",
        ),
        (
            "body",
            Some(json!({"custom": "{% else %}"})),
            "body.custom: line 1, column 1: `{% else %}` is outside any block",
        ),
        (
            "body",
            Some(json!({"custom": "{% comment %}"})),
            "body.custom: line 1, column 1: `{% comment %}` is not closed by `{% endcomment %}`",
        ),
        (
            "body",
            Some(json!({"custom": "{% raw %}"})),
            "body.custom: line 1, column 1: `{% raw %}` is not closed by `{% endraw %}`",
        ),
        (
            "body",
            Some(json!({"custom": "{\"a\": {{ event.id | json: 2 }}}"})),
            "body.custom: line 1, column 21: the `json` filter takes no arguments",
        ),
        (
            "body",
            Some(json!({"custom": "{\"a\": \"{{ 'x }}\"}"})),
            "body.custom: line 1, column 11: this quoted string is not closed",
        ),
        // enabled
        (
            "enabled",
            Some(json!("yes")),
            "enabled: expected true or false, found a string",
        ),
        // unknown fields
        (
            "header",
            Some(json!({})),
            "header: unknown field (expected one of: name, events, method, url, headers, body, enabled, secret_headers, signing, rate_limit, max_in_flight, ordering)",
        ),
    ];
    let mut failures = Vec::new();
    for (field, value, expected) in &table {
        let got = refused(&webhook_with(field, value.clone()));
        if got != *expected {
            failures.push(format!(
                "{field} = {value:?}\n   expected: {expected}\n        got: {got}"
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    assert_eq!(
        refused(&json!([1])),
        "webhook: expected a JSON object, found an array"
    );
}

#[test]
fn template_errors_carry_line_and_column() {
    let err = Webhook::from_json(&webhook_with(
        "body",
        Some(
            json!({"custom": "{\n  \"a\": \"{{ event.id }}\",\n  \"b\": {{ event.id | nope }}\n}"}),
        ),
    ))
    .unwrap_err();
    assert_eq!(
        err,
        ValidationError {
            field: "body.custom".into(),
            message: "unknown filter `nope`".into(),
            line: Some(3),
            column: Some(22),
        }
    );
}

#[test]
fn accepted_edge_cases() {
    for (field, value) in [
        ("url", json!("http://localhost:8080/x?a={{ event.id }}#f")),
        ("url", json!("https://[::1]:8443/{{ event.id }}")),
        ("url", json!("HTTPS://Example.COM")),
        ("url", json!("https://example.com?q={{ event.id }}")),
        (
            "url",
            json!("https://example.com/a%20b/{{ event.id | url_encode }}"),
        ),
        (
            "headers",
            json!({"X-Signature": "{{ event.id | append: '/' }}", "Content-Type": "application/vnd.x+json"}),
        ),
        ("events", json!(["*", "message.push.*", "custom.kind"])),
        ("method", json!("patch")),
        ("body", json!(null)),
        ("id", json!("wh_1")),
        ("status", json!({"state": "enabled"})),
        ("created_at", json!(1)),
        (
            "body",
            json!({"custom": "{% comment %}a {{ note }}\"{% endcomment %}{\"a\": {% if event.id %}\"{{ event.id }}\"{% else %}null{% endif %}}"}),
        ),
    ] {
        assert_eq!(
            refused(&webhook_with(field, Some(value.clone()))),
            "accepted",
            "{field} = {value}"
        );
    }
}

fn event_error(value: Value) -> String {
    match Event::from_json(&value) {
        Ok(_) => "accepted".into(),
        Err(e) => e.to_string(),
    }
}

#[test]
fn every_event_error_names_its_field() {
    let table = [
        (
            json!("message.push.sent"),
            ": expected a JSON object, found a string",
        ),
        (json!({}), "kind: is required (e.g. \"message.push.sent\")"),
        (
            json!({"kind": null}),
            "kind: is required (e.g. \"message.push.sent\")",
        ),
        (
            json!({"kind": 3}),
            "kind: expected a string, found a number",
        ),
        (json!({"kind": ""}), "kind: must not be empty"),
        (
            json!({"kind": "message push"}),
            "kind: must not contain ' ' (kinds look like \"message.push.sent\")",
        ),
        (
            json!({"kind": "message.*"}),
            "kind: must not contain '*' (kinds look like \"message.push.sent\")",
        ),
        (
            json!({"kind": "k", "id": 5}),
            "id: expected a string, found a number",
        ),
        (json!({"kind": "k", "id": " "}), "id: must not be empty"),
        (
            json!({"kind": "k", "app_id": true}),
            "app_id: expected a string, found a boolean",
        ),
        (
            json!({"kind": "k", "subscription_device_type": []}),
            "subscription_device_type: expected a string, found an array",
        ),
        (
            json!({"kind": "k", "subscription_id": {}}),
            "subscription_id: expected a string, found an object",
        ),
        (
            json!({"kind": "k", "onesignal_id": 1}),
            "onesignal_id: expected a string, found a number",
        ),
        (
            json!({"kind": "k", "external_id": 42}),
            "external_id: expected a string, found a number",
        ),
        (
            json!({"kind": "k", "external_user_id": 42}),
            "external_user_id: expected a string, found a number",
        ),
        (
            json!({"kind": "k", "external_id": "a", "external_user_id": "b"}),
            "external_user_id: differs from external_id (it is an alias: send one of them)",
        ),
        (
            json!({"kind": "k", "timestamp": "1708559416"}),
            "timestamp: expected unix time in seconds (a number), found a string",
        ),
        (
            json!({"kind": "k", "timestamp": -1}),
            "timestamp: must not be before 1970",
        ),
        (
            json!({"kind": "k", "timestamp": 1_708_559_416_000_i64}),
            "timestamp: expected unix time in seconds; this is after the year 9999 (milliseconds?)",
        ),
        (
            json!({"kind": "k", "timestamp": 1e300}),
            "timestamp: expected unix time in seconds; this is after the year 9999 (milliseconds?)",
        ),
        (
            json!({"kind": "k", "message": "hi"}),
            "message: expected an object, found a string",
        ),
        (
            json!({"kind": "k", "message": {"title": 3}}),
            "message.title: expected a string, found a number",
        ),
        (
            json!({"kind": "k", "message": {"id": 3}}),
            "message.id: expected a string, found a number",
        ),
        (
            json!({"kind": "k", "message": {"name": false}}),
            "message.name: expected a string, found a boolean",
        ),
        (
            json!({"kind": "k", "message": {"contents": ["a"]}}),
            "message.contents: expected a string, found an array",
        ),
        (
            json!({"kind": "k", "message": {"template_id": {}}}),
            "message.template_id: expected a string, found an object",
        ),
    ];
    let mut failures = Vec::new();
    for (value, expected) in &table {
        let got = event_error(value.clone());
        if got != *expected {
            failures.push(format!(
                "{value}\n   expected: {expected}\n        got: {got}"
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}
