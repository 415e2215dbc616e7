//! Render throughput of the seed's example body: parsed once, rendered many times. Then how long
//! a render with loops takes: a loop over an event's array of 300 items, and the worst case the
//! default render budget lets through.
//!
//! Plain timing (no harness): several rounds, the median printed as renders per second. Run with
//! `scripts/bench-render.sh`, which also runs LiquidJS on the same template and data and prints the
//! ratio. When `HOOKLINE_BENCH_OUT` names a directory, the template and the exact template data are
//! written there for the LiquidJS side.

use std::hint::black_box;
use std::time::{Duration, Instant};

use hookline::event::Event;
use hookline::template::{Position, Template, json_literal_into};
use hookline::webhook::Webhook;

const ROUNDS: usize = 9;
const ROUND_TIME: Duration = Duration::from_millis(300);

/// Median renders per second over `ROUNDS` rounds of about `ROUND_TIME` each.
fn measure(mut render: impl FnMut() -> usize) -> f64 {
    // Warm up and size a round.
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < Duration::from_millis(100) {
        black_box(render());
        n += 1;
    }
    let per_round =
        ((n as f64) * ROUND_TIME.as_secs_f64() / start.elapsed().as_secs_f64()).max(1.0) as u64;
    let mut rates: Vec<f64> = (0..ROUNDS)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..per_round {
                black_box(render());
            }
            per_round as f64 / start.elapsed().as_secs_f64()
        })
        .collect();
    rates.sort_by(f64::total_cmp);
    rates[ROUNDS / 2]
}

fn main() {
    let webhook_json: serde_json::Value =
        serde_json::from_str(include_str!("../tests/fixtures/seed-webhook.json"))
            .expect("fixture is JSON");
    let event_json: serde_json::Value =
        serde_json::from_str(include_str!("../tests/fixtures/seed-event.json"))
            .expect("fixture is JSON");
    let body = webhook_json["body"]["custom"]
        .as_str()
        .expect("the fixture has a custom body");
    let event = Event::from_json(&event_json).expect("fixture event is valid");
    let webhook = Webhook::from_json(&webhook_json).expect("fixture webhook is valid");
    let template = Template::parse(body, Position::Json).expect("the seed body parses");
    let data = event.template_data();

    if let Ok(dir) = std::env::var("HOOKLINE_BENCH_OUT") {
        let mut data_json = String::new();
        json_literal_into(&mut data_json, data);
        let dir = std::path::Path::new(&dir);
        std::fs::write(dir.join("template.liquid"), body).expect("write the template");
        std::fs::write(dir.join("data.json"), data_json).expect("write the data");
        let expected = template.render(data).expect("renders");
        std::fs::write(dir.join("expected.txt"), expected).expect("write the expected output");
    }

    let mut out = String::with_capacity(1024);
    let fast = measure(|| {
        out.clear();
        template.render_to(&mut out, data).expect("renders");
        out.len()
    });
    // The same body with a filter on every value.
    let filtered_source = body.replace(" }}", " | default: '' }}");
    let filtered = Template::parse(&filtered_source, Position::Json).expect("parses");
    let with_filters = measure(|| {
        out.clear();
        filtered.render_to(&mut out, data).expect("renders");
        out.len()
    });
    let full = measure(|| {
        webhook
            .render(&event)
            .map(|r| r.url.len())
            .expect("renders")
    });
    // A JSON body looping over an event's 300 items (and their tags: 1,200 iterations).
    let order = order_event(300);
    let items = Template::parse(ITEMS_BODY, Position::Json).expect("parses");
    let items_rate = measure(|| {
        out.clear();
        items
            .render_to(&mut out, order.template_data())
            .expect("renders");
        out.len()
    });
    // The worst case the default budget lets through (tests/core_budget.rs checks that it is at
    // every limit): 10,000 iterations, nearly all copying a 256 KiB variable, 256 KiB written.
    let worst = Template::parse(
        include_str!("../tests/fixtures/worst-case-template.liquid"),
        Position::Text,
    )
    .expect("parses");
    let worst_rate = measure(|| {
        out.clear();
        worst.render_to(&mut out, data).expect("within the budget");
        out.len()
    });

    println!("hookline body template:                          {fast:>12.0} renders/s");
    println!("hookline body template, a filter on every value: {with_filters:>12.0} renders/s");
    println!("hookline whole request (url, headers, body, JSON check): {full:>12.0} renders/s");
    println!(
        "a loop over an event's 300 items (JSON body):           {:>12.1} µs per render",
        1e6 / items_rate
    );
    println!(
        "the worst case within the default render budget:        {:>12.1} ms per render",
        1e3 / worst_rate
    );
    println!("HOOKLINE_RENDERS_PER_SEC={fast:.0}");
    println!("HOOKLINE_FILTERED_RENDERS_PER_SEC={with_filters:.0}");
    println!("HOOKLINE_REQUEST_RENDERS_PER_SEC={full:.0}");
    println!("HOOKLINE_ITEMS_RENDER_US={:.1}", 1e6 / items_rate);
    println!("HOOKLINE_WORST_CASE_RENDER_MS={:.1}", 1e3 / worst_rate);
}

/// A body that lists an order's items, with their tags.
const ITEMS_BODY: &str = r#"{"order": "{{ event.id }}", "count": {{ event.items.size }}, "items": [
{%- for item in event.items %}
  {"sku": "{{ item.sku }}", "name": "{{ item.name | upcase }}", "cents": {{ item.price | times: 100 }},
   "tags": [{% for tag in item.tags %}"{{ tag }}"{% unless forloop.last %},{% endunless %}{% endfor %}]}
  {%- unless forloop.last %},{% endunless %}
{%- endfor %}
]}"#;

/// An event with `n` items, each with a name, a price and three tags.
fn order_event(n: usize) -> Event {
    let items: Vec<serde_json::Value> = (0..n)
        .map(|i| {
            serde_json::json!({
                "sku": format!("sku-{i}"),
                "name": format!("Item {i}"),
                "price": i,
                "tags": ["a", "b", "c"],
            })
        })
        .collect();
    Event::from_json(&serde_json::json!({"kind": "order.placed", "id": "o1", "items": items}))
        .expect("a valid event")
}
