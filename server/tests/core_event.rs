//! The event model: fields, the `external_user_id` alias, derived `datetime`, clipped contents,
//! extra properties, and the JSON form round-tripping.

use hookline::event::Event;
use hookline::samples::{KINDS, sample_event};
use hookline::template::{Position, Template};
use serde_json::json;

fn render(event: &Event, template: &str) -> String {
    Template::parse(template, Position::Text)
        .expect("parses")
        .render(event.template_data())
        .expect("renders")
}

#[test]
fn fields_alias_and_datetime() {
    let event = Event::from_json(&json!({
        "id": "6f24fcf2-0467-4d4f-9d62-567f8ed0deb9",
        "kind": "message.push.received",
        "app_id": "3beb3078-e0f1-4629-af17-fde833b9f716",
        "subscription_device_type": "Android",
        "timestamp": 1708559115.228,
        "datetime": "ignored: always derived",
        "subscription_id": "d1eec82d-453a-4a6d-8d26-622cf18584e6",
        "onesignal_id": "0e2ba5b4-4ac8-4c5e-bf3e-6e3bd1f7d0a5",
        "external_user_id": "user-1"
    }))
    .expect("valid");
    assert_eq!(event.id(), "6f24fcf2-0467-4d4f-9d62-567f8ed0deb9");
    assert_eq!(event.kind(), "message.push.received");
    assert_eq!(event.timestamp(), 1_708_559_115);
    assert_eq!(event.timestamp_ms(), 1_708_559_115_228);
    assert_eq!(event.datetime(), "2024-02-21T23:45:15.228Z");
    assert_eq!(event.external_id(), Some("user-1"));
    assert_eq!(
        render(
            &event,
            "{{ event.external_id }}|{{ event.external_user_id }}|{{ event.timestamp }}|{{ event.datetime }}|{{ event.subscription_device_type }}|{{ event.onesignal_id }}"
        ),
        "user-1|user-1|1708559115|2024-02-21T23:45:15.228Z|Android|0e2ba5b4-4ac8-4c5e-bf3e-6e3bd1f7d0a5"
    );
    // Both names with the same value are fine.
    let both = Event::from_json(&json!({"kind": "k", "external_id": "a", "external_user_id": "a"}))
        .expect("valid");
    assert_eq!(both.external_id(), Some("a"));
}

#[test]
fn generated_id_and_timestamp_when_absent() {
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let event = Event::from_json(&json!({"kind": "message.push.sent"})).expect("valid");
    let a = Event::from_json(&json!({"kind": "message.push.sent"})).expect("valid");
    assert_eq!(event.id().len(), 36);
    assert_eq!(event.id().matches('-').count(), 4);
    assert_ne!(event.id(), a.id());
    assert!(event.timestamp() >= before && event.timestamp() <= before + 5);
    assert!(event.datetime().ends_with('Z'));
}

#[test]
fn contents_are_clipped_to_50_characters() {
    let table = [
        ("short", "short"),
        (
            "12345678901234567890123456789012345678901234567890",
            "12345678901234567890123456789012345678901234567890",
        ),
        (
            "12345678901234567890123456789012345678901234567890X",
            "12345678901234567890123456789012345678901234567890",
        ),
        (
            "ééééééééééééééééééééééééééééééééééééééééééééééééééé",
            "éééééééééééééééééééééééééééééééééééééééééééééééééé",
        ),
        (
            "😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀",
            "😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀",
        ),
    ];
    for (contents, clipped) in table {
        let event = Event::from_json(&json!({"kind": "k", "message": {"contents": contents}}))
            .expect("valid");
        assert_eq!(
            event.message().and_then(|m| m.contents.as_deref()),
            Some(clipped)
        );
        assert_eq!(clipped.chars().count().min(50), clipped.chars().count());
        assert_eq!(render(&event, "{{ message.contents }}"), clipped);
    }
}

#[test]
fn extra_properties_stay_available() {
    let event = Event::from_json(&json!({
        "kind": "k",
        "country": "FR",
        "tags": {"plan": "pro"},
        "message": {"title": "T", "campaign": "spring", "buttons": [{"id": "b1"}]}
    }))
    .expect("valid");
    assert_eq!(
        render(
            &event,
            "{{ event.country }} {{ event.tags.plan }} {{ message.campaign }} {{ message.buttons.first.id }} {{ message.title }}"
        ),
        "FR pro spring b1 T"
    );
    assert_eq!(event.extra()["country"], json!("FR"));
}

#[test]
fn json_form_round_trips() {
    let input = json!({
        "id": "e-1",
        "kind": "message.push.clicked",
        "app_id": "app",
        "subscription_device_type": "iOS",
        "timestamp": 1708559115.228,
        "subscription_id": "s",
        "onesignal_id": "o",
        "external_user_id": "x",
        "country": "FR",
        "message": {"id": "m", "name": "n", "title": "t", "contents": "c", "template_id": "tpl", "campaign": "spring"}
    });
    let event = Event::from_json(&input).expect("valid");
    let stored = event.to_json();
    assert_eq!(
        stored,
        json!({
            "id": "e-1",
            "kind": "message.push.clicked",
            "app_id": "app",
            "subscription_device_type": "iOS",
            "timestamp": 1708559115.228,
            "datetime": "2024-02-21T23:45:15.228Z",
            "subscription_id": "s",
            "onesignal_id": "o",
            "external_id": "x",
            "message": {"id": "m", "name": "n", "title": "t", "contents": "c", "template_id": "tpl", "campaign": "spring"},
            "country": "FR"
        })
    );
    assert_eq!(Event::from_json(&stored).expect("reads back"), event);
    assert_eq!(event.to_json_string(), stored.to_string());
    // Escapes, Unicode, nested extras, no message, a whole-second timestamp: the stored text is
    // the JSON form's, character for character.
    let odd = Event::from_json(
        &json!({"id": "q\"\\\n\t\u{1}\u{7f}é😀", "kind": "k", "timestamp": 7,
        "z": {"b": [1, 2.5, null, true], "a": "\u{8}"}, "a": -1}),
    )
    .expect("valid");
    assert_eq!(odd.to_json_string(), odd.to_json().to_string());
    let whole = Event::from_json(&json!({"id": "i", "kind": "k", "timestamp": 5})).expect("valid");
    assert_eq!(
        whole.to_json(),
        json!({"id": "i", "kind": "k", "timestamp": 5, "datetime": "1970-01-01T00:00:05.000Z"})
    );
}

#[test]
fn samples_for_every_kind_render_the_seed_body() {
    let template = Template::parse(
        r#"{"kind": "{{ event.kind }}", "external_user_id": "{{ event.external_user_id }}", "timestamp": {{ event.timestamp }}, "title": "{{ message.title }}"}"#,
        Position::Json,
    )
    .expect("parses");
    for kind in KINDS {
        let body = template
            .render(sample_event(kind).template_data())
            .expect("renders");
        assert_eq!(
            body,
            format!(
                r#"{{"kind": "{kind}", "external_user_id": "THE EXTERNAL ID", "timestamp": 1708559416, "title": "Claim 50% Off Today"}}"#
            )
        );
    }
    assert_eq!(sample_event("custom.kind").kind(), "custom.kind");
}

/// The ingest path reads events straight from the body's text; it must give the same events as
/// the general path (a JSON value, then `from_json_in`), and leave every other shape to it.
#[test]
fn events_read_from_text_equal_the_general_path() {
    use hookline::event::events_from_slice;
    let one = json!({"id": "e1", "kind": "message.push.sent", "timestamp": 1708559115.228,
        "external_user_id": "u", "subscription_device_type": "Chrome", "zeta": [1, {"b": null}],
        "alpha": "x", "message": {"title": "Hi", "contents": "é".repeat(60), "extra": {"k": 1},
        "id": null}});
    let dup = r#"{"id": "e2", "kind": "k.a", "timestamp": 1, "x": 1, "kind": "k.b", "x": 2,
        "message": {"title": "a"}, "message": null}"#;
    let bodies = vec![
        one.to_string(),
        json!({"events": [one, {"id": "e3", "kind": "k", "timestamp": 2, "app_id": "other",
            "message": null}]})
        .to_string(),
        dup.to_string(),
        format!("{{\"events\": [{dup}]}}"),
    ];
    for body in &bodies {
        let fast = events_from_slice(body.as_bytes(), "app").expect("read on the fast path");
        let value: serde_json::Value = serde_json::from_str(body).unwrap();
        let items = match value.get("events") {
            Some(serde_json::Value::Array(items)) => items.clone(),
            _ => vec![value],
        };
        let general: Vec<Event> = items
            .iter()
            .map(|v| Event::from_json_in(v, Some("app")).unwrap())
            .collect();
        assert_eq!(fast, general, "{body}");
        assert_eq!(
            fast.iter().map(Event::to_json_string).collect::<Vec<_>>(),
            general
                .iter()
                .map(Event::to_json_string)
                .collect::<Vec<_>>()
        );
    }
    // Every other shape, and every error, is left to the general path.
    for body in [
        r#"{"events": [], "x": 1}"#,
        r#"{"events": []}"#,
        r#"{"kind": "k", "events": 1}"#,
        r#"{"events": [{"kind": "k"}], "kind": "k"}"#,
        r#"{"events": [1]}"#,
        r#"{"id": "e", "timestamp": 1}"#,
        r#"{"id": "e", "kind": "k", "timestamp": "soon"}"#,
        r#"{"id": "e", "kind": "k", "message": "hi"}"#,
        r#"{"id": "e", "kind": "k"} x"#,
        r#"{"id": "e", "kind": "k""#,
        r#"[{"id": "e", "kind": "k"}]"#,
        "{}",
    ] {
        assert!(
            events_from_slice(body.as_bytes(), "app").is_none(),
            "{body}"
        );
    }
}
