//! The render budget: a template that loops too long, builds too large a value or writes too much
//! stops at the limit with an error naming it, whatever the event; one that loops over an event's
//! array of a few hundred items still renders. Each render runs on a thread with a deadline, so a
//! render that would run for hours fails its test instead of hanging the suite.

use std::time::Duration;

use hookline::event::Event;
use hookline::template::{Budget, Limits, Position, Template};
use hookline::webhook::{RenderError, Webhook};
use serde_json::{Value, json};

mod common;
use common::within;

const LOOPS: &str = "the template ran more than 10000 loop iterations (the render budget)";
const OUTPUT: &str = "the template produced more than 262144 bytes (the render budget)";
const VALUES: &str = "the template's variables and filter results took more than 262144 bytes \
                      (the render budget)";

/// How long a render that the budget stops may take here (debug build, a shared machine).
const DEADLINE: Duration = Duration::from_secs(20);

fn event(extra: Value) -> Event {
    let mut json = json!({"kind": "message.push.sent", "id": "e1"});
    if let (Some(o), Value::Object(extra)) = (json.as_object_mut(), extra) {
        o.extend(extra);
    }
    Event::from_json(&json).expect("valid event")
}

/// Renders `source` at `position` over `event` on a thread with a deadline. A long output is cut
/// (its size kept), so that a failing assertion stays readable.
fn render(source: &str, position: Position, event: Event) -> Result<String, String> {
    let template = Template::parse(source, position).unwrap_or_else(|e| panic!("{source}: {e}"));
    within(DEADLINE, move || template.render(event.template_data())).map(|text| {
        if text.len() <= 200 {
            text
        } else {
            format!(
                "{}… ({} bytes)",
                text.chars().take(200).collect::<String>(),
                text.len()
            )
        }
    })
}

fn render_text(source: &str) -> Result<String, String> {
    render(source, Position::Text, event(json!({})))
}

#[test]
fn nested_loops_stop_at_the_iteration_limit() {
    let ranges = "{% for a in (1..10000) %}{% for b in (1..10000) %}{% for c in (1..10000) %}\
                  {% endfor %}{% endfor %}{% endfor %}";
    assert_eq!(render_text(ranges), Err(LOOPS.to_owned()));
    // The same bomb over an event's array, and with output in the innermost loop.
    let list = event(json!({"list": vec![1; 1000]}));
    let over_event = "{% for a in event.list %}{% for b in event.list %}{% for c in event.list %}\
                      {{ c }}{% endfor %}{% endfor %}{% endfor %}";
    assert_eq!(
        render(over_event, Position::Text, list),
        Err(LOOPS.to_owned())
    );
    // Iterations count across all the loops of a render: 10000 pass, one more does not.
    let two = |n: u32| {
        format!("{{% for i in (1..5000) %}}{{% endfor %}}{{% for i in (1..{n}) %}}{{% endfor %}}|")
    };
    assert_eq!(render_text(&two(5000)), Ok("|".to_owned()));
    assert_eq!(render_text(&two(5001)), Err(LOOPS.to_owned()));
    // `break` and `continue` do not reset the count.
    let skipping = "{% for a in (1..200) %}{% for b in (1..200) %}{% if b > 1 %}{% continue %}\
                    {% endif %}{% endfor %}{% endfor %}";
    assert_eq!(render_text(skipping), Err(LOOPS.to_owned()));
}

#[test]
fn loops_keep_their_whitespace_control() {
    assert_eq!(
        render_text("[{%- for i in (1..3) -%}\n  {{ i }}\n{%- endfor -%}]"),
        Ok("[123]".to_owned())
    );
    assert_eq!(
        render_text("[{% for i in (1..2) %} {{ i }} {% endfor %}]"),
        Ok("[ 1  2 ]".to_owned())
    );
}

#[test]
fn an_append_doubling_loop_stops_at_the_value_limit() {
    let doubling =
        r#"{% assign s = "x" %}{% for i in (1..64) %}{% assign s = s | append: s %}{% endfor %}"#;
    assert_eq!(render_text(doubling), Err(VALUES.to_owned()));
    // Under the limit the same loop is fine: 2^17 bytes.
    let fine = r#"{% assign s = "x" %}{% for i in (1..17) %}{% assign s = s | append: s %}{% endfor %}{{ s.size }}"#;
    assert_eq!(render_text(fine), Ok("131072".to_owned()));
    // Many variables together count too: 40 copies of 8 KiB.
    let mut many =
        r#"{% assign s = "x" %}{% for i in (1..13) %}{% assign s = s | append: s %}{% endfor %}"#
            .to_owned();
    for n in 0..40 {
        many.push_str(&format!("{{% assign v{n} = s | append: '' %}}"));
    }
    assert_eq!(render_text(&many), Err(VALUES.to_owned()));
}

#[test]
fn a_huge_capture_stops_at_the_value_limit() {
    let kilobyte = "x".repeat(1000);
    // A value written again and again into one capture.
    let repeated = format!(
        r#"{{% assign s = "{kilobyte}" %}}{{% capture c %}}{{% for i in (1..5000) %}}{{{{ s }}}}{{% endfor %}}{{% endcapture %}}{{{{ c.size }}}}"#
    );
    assert_eq!(render_text(&repeated), Err(VALUES.to_owned()));
    // Literal text in a loop, inside a capture.
    let literal = format!(
        "{{% capture c %}}{{% for i in (1..10000) %}}{}{{% endfor %}}{{% endcapture %}}{{{{ c.size }}}}",
        "y".repeat(100)
    );
    assert_eq!(render_text(&literal), Err(VALUES.to_owned()));
    // A capture under the limit is fine.
    let fine = format!(
        "{{% capture c %}}{{% for i in (1..1000) %}}{}{{% endfor %}}{{% endcapture %}}{{{{ c.size }}}}",
        "y".repeat(100)
    );
    assert_eq!(render_text(&fine), Ok("100000".to_owned()));
}

#[test]
fn huge_output_without_loops_stops_at_a_limit() {
    // A value built without a loop, written three times: 384 kB of output.
    let mut source = format!(r#"{{% assign s = "{}" %}}"#, "x".repeat(1000));
    for _ in 0..7 {
        source.push_str("{% assign s = s | append: s %}");
    }
    source.push_str("{{ s }}{{ s }}{{ s }}");
    assert_eq!(render_text(&source), Err(OUTPUT.to_owned()));
    // A template without tags that writes a 100 kB event value three times.
    let big = event(json!({"big": "b".repeat(100_000)}));
    assert_eq!(
        render(
            "{{ event.big }}{{ event.big }}{{ event.big }}",
            Position::Text,
            big.clone()
        ),
        Err(OUTPUT.to_owned())
    );
    // In a JSON body too, where every value is escaped.
    assert_eq!(
        render(
            r#"["{{ event.big }}", "{{ event.big }}", "{{ event.big }}"]"#,
            Position::Json,
            big
        ),
        Err(OUTPUT.to_owned())
    );
    // Filters that grow a value: `replace` with an empty search inserts between every character,
    // `join` repeats its separator; `json`, which escapes a value for the output, doubles a quote
    // each time and is held to the output's limit.
    let wide = event(json!({
        "quotes": "\"".repeat(10),
        "s": "s".repeat(60_000),
        "chars": vec!["c"; 60_000],
    }));
    for source in [
        "{{ event.s | replace: '', event.s }}",
        "{{ event.chars | join: event.s }}",
        "{% assign t = event.s | split: '' | join: event.s %}",
    ] {
        assert_eq!(
            render(source, Position::Text, wide.clone()),
            Err(VALUES.to_owned()),
            "{source}"
        );
    }
    let chain = format!("{{{{ event.quotes{} }}}}", " | json".repeat(24));
    assert_eq!(render(&chain, Position::Text, wide), Err(OUTPUT.to_owned()));
}

#[test]
fn a_value_too_large_to_write_fails_alike_with_and_without_tags() {
    // Without tags the value is written directly; with tags it goes through the filter that
    // escapes it: either way the output's limit is named.
    let big = event(json!({"big": "b".repeat(300_000)}));
    for (source, position) in [
        ("{{ event.big }}", Position::Text),
        ("{% if true %}{{ event.big }}{% endif %}", Position::Text),
        (r#"{"a": "{{ event.big }}"}"#, Position::Json),
        (
            r#"{"a": {% if true %}"{{ event.big }}"{% endif %}}"#,
            Position::Json,
        ),
        (
            r#"{"a": {% if true %}{{ event.big | json }}{% endif %}}"#,
            Position::Json,
        ),
    ] {
        assert_eq!(
            render(source, position, big.clone()),
            Err(OUTPUT.to_owned()),
            "{source}"
        );
    }
}

#[test]
fn ifchanged_is_bounded_like_any_output() {
    let source = format!(
        r#"{{% assign s = "{}" %}}{{% for i in (1..10000) %}}{{% ifchanged %}}{{{{ s }}}}{{{{ i }}}}{{% endifchanged %}}{{% endfor %}}"#,
        "z".repeat(1000)
    );
    assert_eq!(render_text(&source), Err(OUTPUT.to_owned()));
}

#[test]
fn a_loop_over_an_event_array_of_a_few_hundred_items_renders() {
    let items: Vec<Value> = (0..300)
        .map(|i| {
            json!({
                "sku": format!("sku-{i}"),
                "name": format!("Item \"{i}\""),
                "price": i,
                "tags": ["a", "b", "c"],
            })
        })
        .collect();
    let order = event(json!({"items": items}));
    let body = r#"{
  "count": {{ event.items.size }},
  "skus": "{{ event.items | map: 'sku' | join: ',' }}",
  "items": [{% for item in event.items %}
    {"sku": "{{ item.sku }}", "name": "{{ item.name | upcase }}", "price": {{ item.price | times: 100 }},
     "tags": [{% for tag in item.tags %}"{{ tag }}{{ forloop.index }}"{% unless forloop.last %},{% endunless %}{% endfor %}]}{% unless forloop.last %},{% endunless %}{% endfor %}
  ],
  {% assign names = "" %}{% for item in event.items %}{% assign names = names | append: item.sku | append: ";" %}{% endfor %}
  "names": "{{ names }}"
}"#;
    let template = Template::parse(body, Position::Json).expect("parses");
    let rendered =
        within(DEADLINE, move || template.render(order.template_data())).expect("renders");
    let parsed: Value = serde_json::from_str(&rendered).expect("the body is JSON");
    assert_eq!(parsed["count"], 300);
    assert_eq!(parsed["items"].as_array().map(Vec::len), Some(300));
    assert_eq!(parsed["items"][299]["name"], "ITEM \"299\"");
    assert_eq!(parsed["items"][299]["price"], 29900);
    assert_eq!(parsed["items"][7]["tags"], json!(["a1", "b2", "c3"]));
    assert!(parsed["skus"].as_str().unwrap().ends_with(",sku-299"));
    assert!(
        parsed["names"]
            .as_str()
            .unwrap()
            .ends_with("sku-298;sku-299;")
    );
}

/// A webhook whose custom body is `body`, triggered by `message.push.sent`.
fn webhook_json(body: &str) -> Value {
    json!({
        "name": "budget",
        "events": ["message.push.sent"],
        "url": "https://example.com/hook",
        "body": {"custom": body},
    })
}

const BOMB: &str = "{% for a in (1..10000) %}{% for b in (1..10000) %}{% for c in (1..10000) %}\
                    {% endfor %}{% endfor %}{% endfor %}{}";

#[test]
fn a_webhook_over_the_budget_for_the_sample_event_is_refused_when_saved() {
    let refused = |spec: Value| {
        within(DEADLINE, move || match Webhook::from_json(&spec) {
            Ok(_) => "accepted".to_owned(),
            Err(e) => e.to_string(),
        })
    };
    assert_eq!(refused(webhook_json(BOMB)), format!("body.custom: {LOOPS}"));
    let mut in_header = webhook_json("{}");
    in_header["headers"] = json!({"X-Loop": BOMB.trim_end_matches("{}")});
    assert_eq!(refused(in_header), format!("headers.X-Loop: {LOOPS}"));
    let mut in_pair = webhook_json("{}");
    in_pair["body"] = json!({"pairs": {"doubled": r#"{% assign s = "x" %}{% for i in (1..64) %}{% assign s = s | append: s %}{% endfor %}"#}});
    assert_eq!(refused(in_pair), format!("body.pairs.doubled: {VALUES}"));
    // Within the budget for the sample event, over it when a property is missing: also refused,
    // since an event without that property would fail every delivery.
    let when_missing = webhook_json(
        "{% unless event.external_id %}{% for i in (1..20000) %}{% endfor %}{% endunless %}{}",
    );
    assert_eq!(
        refused(when_missing),
        format!("body.custom: {LOOPS} (rendered with every property missing)")
    );
}

#[test]
fn a_webhook_over_the_budget_for_one_event_fails_that_render() {
    // The sample event has no `list`: saved. An event with a long one blows the budget.
    let webhook = Webhook::from_json(&webhook_json(
        "{\"n\": {{ event.list.size }}}{% for a in event.list %}{% for b in event.list %}\
         {% for c in event.list %}{% endfor %}{% endfor %}{% endfor %}",
    ))
    .expect("within the budget for the sample event");
    let long = event(json!({"list": vec![1; 1000]}));
    let short = event(json!({"list": vec![1; 20]}));
    let (long, short) = within(DEADLINE, move || {
        (
            webhook.render(&long),
            webhook.render(&short).map(|r| r.body),
        )
    });
    assert_eq!(
        long,
        Err(RenderError {
            field: "body.custom".into(),
            message: LOOPS.into()
        })
    );
    assert_eq!(short, Ok(Some("{\"n\": 20}".to_owned())));
}

#[test]
fn one_budget_covers_the_url_headers_and_body_of_a_render() {
    let webhook = Webhook::from_json(&json!({
        "name": "shared",
        "events": ["message.push.sent"],
        "url": "https://example.com/{% for i in (1..6) %}{{ i }}{% endfor %}",
        "headers": {"X-N": "{% for i in (1..3) %}{{ i }}{% endfor %}"},
        "body": {"pairs": {"n": "{% for i in (1..3) %}{{ i }}{% endfor %}"}},
    }))
    .expect("valid")
    .with_limits(Limits {
        max_loop_iterations: 10,
        ..Limits::default()
    });
    assert_eq!(
        webhook.render(&event(json!({}))),
        Err(RenderError {
            field: "body.pairs.n".into(),
            message: "the template ran more than 10 loop iterations (the render budget)".into()
        })
    );
    let roomier = webhook.with_limits(Limits {
        max_loop_iterations: 12,
        ..Limits::default()
    });
    assert_eq!(
        roomier.render(&event(json!({}))).map(|r| r.url),
        Ok("https://example.com/123456".to_owned())
    );
}

/// The template `benches/render.rs` times as the worst case: it uses every limit of the default
/// budget to the last unit (iterations, bytes written, bytes held).
#[test]
fn the_benchmarks_worst_case_is_at_every_limit() {
    let source = include_str!("fixtures/worst-case-template.liquid");
    let template = Template::parse(source, Position::Text).expect("parses");
    let data = event(json!({}));
    let render = |limits: Limits| {
        let mut out = String::new();
        template
            .render_within(&mut out, data.template_data(), &mut Budget::new(limits))
            .map(|()| out.len())
    };
    let full = Limits::default();
    assert_eq!(render(full), Ok(full.max_output_bytes));
    let one_less = [
        Limits {
            max_loop_iterations: full.max_loop_iterations - 1,
            ..full
        },
        Limits {
            max_output_bytes: full.max_output_bytes - 1,
            ..full
        },
        Limits {
            max_value_bytes: full.max_value_bytes - 1,
            ..full
        },
    ];
    let failures: Vec<Result<usize, String>> = one_less.into_iter().map(render).collect();
    assert_eq!(
        failures,
        [
            Err("the template ran more than 9999 loop iterations (the render budget)".to_owned()),
            Err("the template produced more than 262143 bytes (the render budget)".to_owned()),
            Err(
                "the template's variables and filter results took more than 262143 bytes (the render budget)"
                    .to_owned()
            ),
        ]
    );
}

/// A render that takes long runs on the blocking pool: the async runtime's only thread keeps
/// running other tasks meanwhile.
#[test]
fn a_long_render_leaves_the_async_runtime_free() {
    let webhook = std::sync::Arc::new(
        Webhook::from_json(&webhook_json(
            "{% for i in (1..9000) %}{% assign t = i | append: '' | prepend: '' %}{% endfor %}{}",
        ))
        .expect("within the budget"),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime");
    let (ticks, rendered) = runtime.block_on(async move {
        let ticks = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let ticker = tokio::spawn({
            let ticks = ticks.clone();
            async move {
                loop {
                    ticks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
        });
        let started = std::time::Instant::now();
        let rendered = webhook
            .render_async(std::sync::Arc::new(event(json!({}))))
            .await;
        assert!(
            started.elapsed() > Duration::from_millis(5),
            "too quick to tell"
        );
        ticker.abort();
        (ticks.load(std::sync::atomic::Ordering::Relaxed), rendered)
    });
    assert_eq!(rendered.map(|r| r.body), Ok(Some("{}".to_owned())));
    assert!(ticks >= 3, "the runtime was blocked: {ticks} ticks");
}

/// Filters in a loop body count their work (bytes read and written): a body of many filters over
/// a large value stops at 2 × `max_loop_iterations` × `max_value_bytes`, however few iterations
/// it runs.
#[test]
fn many_filters_in_a_loop_stop_at_the_work_limit() {
    let limits = Limits {
        max_loop_iterations: 100,
        max_output_bytes: 65_536,
        max_value_bytes: 65_536,
    };
    let appends = "| append: '' ".repeat(20);
    let source = format!(
        "{{% assign t = 'x' %}}{{% for i in (1..15) %}}{{% assign t = t | append: t %}}{{% endfor %}}\
         {{% for i in (1..80) %}}{{% assign u = t {appends}%}}{{% endfor %}}{{{{ u.size }}}}"
    );
    let template = Template::parse(&source, Position::Text).expect("parses");
    let data = event(json!({}));
    let render = |limits: Limits| {
        let mut out = String::new();
        template
            .render_within(&mut out, data.template_data(), &mut Budget::new(limits))
            .map(|()| out)
    };
    assert_eq!(
        render(limits),
        Err(format!(
            "the template's filters read and wrote more than {} bytes (the render budget: 2 × max_loop_iterations × max_value_bytes)",
            limits.max_filter_work()
        ))
    );
    // Fewer filters an iteration fit: 95 iterations, each reading and writing 32 KiB once.
    let fine = "{% assign t = 'x' %}{% for i in (1..15) %}{% assign t = t | append: t %}{% endfor %}\
                {% for i in (1..80) %}{% assign u = t | append: '' %}{% endfor %}{{ u.size }}";
    let mut out = String::new();
    Template::parse(fine, Position::Text)
        .expect("parses")
        .render_within(&mut out, data.template_data(), &mut Budget::new(limits))
        .expect("within the budget");
    assert_eq!(out, "32768");
}
