//! `hookline render WEBHOOK.json EVENT.json [--format curl|json]`, and `hookline serve`'s checks before
//! it starts, run as a user runs them.

use std::path::PathBuf;
use std::process::{Command, Output};

mod common;
use common::SEED_BODY;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn render(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hookline"))
        .arg("render")
        .args(args)
        .output()
        .expect("the hookline binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn prints_the_seed_request_as_curl_and_json() {
    let webhook = fixture("seed-webhook.json");
    let event = fixture("seed-event.json");
    let out = render(&[webhook.as_os_str(), event.as_os_str()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        format!(
            "curl --globoff -X POST 'https://example.com/webhook/user/THE%20EXTERNAL%20ID' \\\n  \
             -H 'Authorization: Bearer 3beb3078-e0f1-4629-af17-fde833b9f716' \\\n  \
             -H 'Content-Type: application/json' \\\n  --data-raw '{SEED_BODY}'\n"
        )
    );
    let out = render(&[
        webhook.as_os_str(),
        event.as_os_str(),
        "--format".as_ref(),
        "json".as_ref(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(
        printed,
        serde_json::json!({
            "method": "POST",
            "url": "https://example.com/webhook/user/THE%20EXTERNAL%20ID",
            "headers": [
                ["Authorization", "Bearer 3beb3078-e0f1-4629-af17-fde833b9f716"],
                ["Content-Type", "application/json"]
            ],
            "body": SEED_BODY
        })
    );
}

#[test]
fn bad_files_exit_2_naming_the_field() {
    let dir = std::env::temp_dir().join(format!("hookline-core-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let write = |name: &str, body: &str| {
        let path = dir.join(name);
        std::fs::write(&path, body).expect("write");
        path
    };
    let good_webhook = fixture("seed-webhook.json");
    let good_event = fixture("seed-event.json");
    let bad_event = write(
        "bad-event.json",
        r#"{"kind": "message.push.sent", "message": {"title": 7}}"#,
    );
    let bad_webhook = write(
        "bad-webhook.json",
        r#"{"name": "x", "events": ["message.push.sent"], "url": "https://example.com/{{ event.id | nope }}"}"#,
    );
    let not_json = write("not-json.json", "{\"name\": ");
    let breaking = write(
        "breaking.json",
        r#"{"name": "x", "events": ["*"], "url": "https://example.com/", "headers": {"X-Id": "{{ event.external_id }}"}}"#,
    );
    let newline_event = write(
        "newline-event.json",
        r#"{"kind": "k", "external_id": "a\r\nX-Admin: 1"}"#,
    );
    let missing = dir.join("missing.json");
    let cases: Vec<(Vec<&std::ffi::OsStr>, String)> = vec![
        (
            vec![good_webhook.as_os_str(), bad_event.as_os_str()],
            format!("hookline render: {}: message.title: expected a string, found a number\n", bad_event.display()),
        ),
        (
            vec![bad_webhook.as_os_str(), good_event.as_os_str()],
            format!("hookline render: {}: url: line 1, column 35: unknown filter `nope`\n", bad_webhook.display()),
        ),
        (
            vec![not_json.as_os_str(), good_event.as_os_str()],
            format!("hookline render: {}: not valid JSON: EOF while parsing a value at line 1 column 9\n", not_json.display()),
        ),
        (
            vec![breaking.as_os_str(), newline_event.as_os_str()],
            "hookline render: rendering for this event: headers.X-Id: the rendered value contains a carriage return (CR), which could inject a header; refused\n".to_owned(),
        ),
    ];
    for (args, expected) in cases {
        let out = render(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert_eq!(text(&out.stdout), "", "{args:?}");
        assert_eq!(text(&out.stderr), expected, "{args:?}");
    }
    let out = render(&[missing.as_os_str(), good_event.as_os_str()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).starts_with(&format!(
        "hookline render: {}: cannot read: ",
        missing.display()
    )));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_event_can_come_from_standard_input() {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_hookline"))
        .args(["render", "--format", "json"])
        .arg(fixture("seed-webhook.json"))
        .arg("-")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(br#"{"kind": "message.push.sent", "external_id": "a/b"}"#)
        .expect("write");
    let out = child.wait_with_output().expect("exits");
    assert_eq!(out.status.code(), Some(0));
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(printed["url"], "https://example.com/webhook/user/a%2Fb");
}

/// `render` with a deadline: the child is killed and the test fails if it runs longer.
fn render_within(args: &[&std::ffi::OsStr], deadline: std::time::Duration) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hookline"))
        .arg("render")
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the hookline binary runs");
    let start = std::time::Instant::now();
    while child.try_wait().expect("waits").is_none() {
        if start.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("hookline render {args:?} did not finish within {deadline:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.wait_with_output().expect("exits")
}

#[test]
fn a_template_over_the_render_budget_exits_2_naming_the_limit() {
    let dir = std::env::temp_dir().join(format!("hookline-core-cli-budget-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let write = |name: &str, body: &serde_json::Value| {
        let path = dir.join(name);
        std::fs::write(&path, body.to_string()).expect("write");
        path
    };
    let loops = |over: &str| {
        format!(
            "{{% for a in {over} %}}{{% for b in {over} %}}{{% for c in {over} %}}{{% endfor %}}{{% endfor %}}{{% endfor %}}{{}}"
        )
    };
    // Over the budget for any event: refused like a definition error.
    let bomb = write(
        "bomb.json",
        &serde_json::json!({"name": "x", "events": ["*"], "url": "https://example.com/",
            "body": {"custom": loops("(1..10000)")}}),
    );
    // Over the budget only for an event with a long list: the render for it fails.
    let by_event = write(
        "by-event.json",
        &serde_json::json!({"name": "x", "events": ["*"], "url": "https://example.com/",
            "body": {"custom": loops("event.list")}}),
    );
    let long_list = write(
        "long-list.json",
        &serde_json::json!({"kind": "k", "list": vec![1; 1000]}),
    );
    let limit = "the template ran more than 10000 loop iterations (the render budget)";
    for (args, expected) in [
        (
            vec![bomb.as_os_str(), long_list.as_os_str()],
            format!(
                "hookline render: {}: body.custom: {limit}\n",
                bomb.display()
            ),
        ),
        (
            vec![by_event.as_os_str(), long_list.as_os_str()],
            format!("hookline render: rendering for this event: body.custom: {limit}\n"),
        ),
    ] {
        let out = render_within(&args, std::time::Duration::from_secs(20));
        assert_eq!(text(&out.stderr), expected, "{args:?}");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert_eq!(text(&out.stdout), "", "{args:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `hookline serve` with a misspelt `HOOKLINE_*` variable does not start (and touches nothing: the
/// database it would have created is not there).
#[test]
fn serve_refuses_a_misspelt_variable() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let database = dir.path().join("hookline.db");
    let out = Command::new(env!("CARGO_BIN_EXE_hookline"))
        .arg("serve")
        .env(
            "HOOKLINE_DATABASE",
            format!("sqlite://{}", database.display()),
        )
        .env("HOOKLINE_LISTEN", "127.0.0.1:0")
        .env("HOOKLINE_DELIVERY_REQUEST_TIMOUT", "5s")
        .output()
        .expect("the hookline binary runs");
    assert_ne!(out.status.code(), Some(0));
    assert!(
        text(&out.stderr).contains(
            "unknown environment variable `HOOKLINE_DELIVERY_REQUEST_TIMOUT`: it names no config key: did you mean `HOOKLINE_DELIVERY_REQUEST_TIMEOUT`?"
        ),
        "{}",
        text(&out.stderr)
    );
    assert!(!database.exists());
}
