//! The module's own tests, inside a real service worker (headless Chromium and Firefox, see
//! `scripts/test-browser.sh`): push payloads, webhook bodies, init validation, the saved config,
//! the retry queue, and the push handler showing notifications.
#![cfg(target_arch = "wasm32")]

use hookline_worker::config::{self, Config};
use hookline_worker::notification::Notification;
use hookline_worker::queue::{self, MAX_AGE_MS, MAX_PENDING, Pending};
use hookline_worker::task::Wait;
use hookline_worker::webhook::{self, Event};
use hookline_worker::{idb, js, worker};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_service_worker);

/// Waits for a promise the module gives.
async fn wait(promise: JsValue) -> Result<JsValue, JsValue> {
    Wait::promise(&promise).await
}

fn json(text: &str) -> JsValue {
    js::parse(&text.into()).expect("test JSON parses")
}

#[wasm_bindgen_test]
fn reads_hooklines_format() {
    let n = Notification::from_push(
        r#"{"id":"n1","heading":"Hi","content":"Body","url":"https://a.test/x","icon":"https://a.test/i.png","data":{"k":[1,2.5,"v"]},"buttons":[{"id":"like","text":"Like","icon":"https://a.test/l.png"},{"id":"no"}],"extra":1}"#,
    )
    .unwrap();
    assert_eq!(n.text("id").as_deref(), Some("n1"));
    assert_eq!(n.text("heading").as_deref(), Some("Hi"));
    assert_eq!(n.text("content").as_deref(), Some("Body"));
    assert_eq!(n.text("url").as_deref(), Some("https://a.test/x"));
    assert_eq!(n.text("icon").as_deref(), Some("https://a.test/i.png"));
    assert_eq!(js::stringify(&n.data()), r#"{"k":[1,2.5,"v"]}"#);
    // The buttons as `showNotification` takes them; a missing text is empty.
    assert_eq!(
        js::stringify(&n.actions),
        r#"[{"action":"like","title":"Like","icon":"https://a.test/l.png"},{"action":"no","title":""}]"#
    );
}

#[wasm_bindgen_test]
fn reads_onesignals_minified_format() {
    let n = Notification::from_push(
        r#"{"custom":{"i":"os1","u":"https://a.test/u","a":{"x":"y"}},"title":"T","alert":"A","icon":"https://a.test/i.png","o":[{"i":"b1","n":"One","p":"https://a.test/1.png"}]}"#,
    )
    .unwrap();
    assert_eq!(n.text("id").as_deref(), Some("os1"));
    assert_eq!(n.text("heading").as_deref(), Some("T"));
    assert_eq!(n.text("content").as_deref(), Some("A"));
    assert_eq!(n.text("url").as_deref(), Some("https://a.test/u"));
    assert_eq!(n.text("icon").as_deref(), Some("https://a.test/i.png"));
    assert_eq!(js::stringify(&n.data()), r#"{"x":"y"}"#);
    assert_eq!(
        js::stringify(&n.actions),
        r#"[{"action":"b1","title":"One","icon":"https://a.test/1.png"}]"#
    );
    // Some OneSignal SDKs send `custom` as a JSON string.
    let n = Notification::from_push(r#"{"custom":"{\"i\":\"os2\"}","alert":"A"}"#).unwrap();
    assert_eq!(n.text("id").as_deref(), Some("os2"));
}

#[wasm_bindgen_test]
fn refuses_what_is_not_a_payload() {
    for bad in [
        "",
        "not json",
        "[1]",
        "\"s\"",
        "null",
        r#"{"heading":5}"#,
        r#"{"custom":7}"#,
        r#"{"buttons":[{"text":"no id"}]}"#,
        r#"{"buttons":{}}"#,
    ] {
        assert!(Notification::from_push(bad).is_err(), "{bad}");
    }
}

/// A payload with the given fields, in hookline's format (values written as JSON text).
fn payload(fields: &[(&str, String)]) -> String {
    let fields: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!(r#""{k}":{v}"#))
        .collect();
    format!("{{{}}}", fields.join(","))
}

fn quoted(s: &str) -> String {
    format!(r#""{s}""#)
}

#[wasm_bindgen_test]
fn keeps_fields_at_their_bounds_whole() {
    // The bounds are bytes of UTF-8: `é` is 2 of them. `{"pad":"…"}` is 10 bytes and the pad.
    let n = Notification::from_push(payload(&[
        ("id", quoted(&"i".repeat(256))),
        ("heading", quoted(&"é".repeat(1024))),
        ("content", quoted(&"c".repeat(4096))),
        ("url", quoted(&"u".repeat(4096))),
        ("icon", quoted(&"p".repeat(4096))),
        ("data", format!(r#"{{"pad":"{}"}}"#, "d".repeat(8182))),
        ("buttons", format!(r#"[{{"id":"{}"}}]"#, "b".repeat(256))),
    ]))
    .unwrap();
    assert_eq!(n.text("id").unwrap().len(), 256);
    assert_eq!(n.text("heading").unwrap(), "é".repeat(1024));
    for field in ["content", "url", "icon"] {
        assert_eq!(n.text(field).unwrap().len(), 4096, "{field}");
    }
    assert_eq!(js::stringify(&n.data()).len(), 8192);
    assert_eq!(js::length(&n.actions), 1);
}

#[wasm_bindgen_test]
fn cuts_or_drops_fields_past_their_bounds() {
    let n = Notification::from_push(payload(&[
        ("id", quoted(&"i".repeat(257))),
        ("heading", quoted(&"é".repeat(1500))),
        // `😀` is 4 bytes (two UTF-16 units): the cut never splits one.
        ("content", quoted(&format!("a{}", "😀".repeat(1100)))),
        ("url", quoted(&"u".repeat(4097))),
        ("icon", quoted("https://a.test/i.png")),
        ("data", format!(r#"{{"pad":"{}"}}"#, "d".repeat(8183))),
        (
            "buttons",
            format!(
                r#"[{{"id":"ok","text":"{}","icon":"{}"}},{{"id":"{}"}}]"#,
                "t".repeat(3000),
                "p".repeat(4097),
                "b".repeat(257)
            ),
        ),
    ]))
    .unwrap();
    // A cut id or url would be another one: dropped. Text is cut.
    assert_eq!(n.text("id"), None);
    assert_eq!(n.text("heading").unwrap(), "é".repeat(1024));
    assert_eq!(
        n.text("content").unwrap(),
        format!("a{}", "😀".repeat(1023))
    );
    assert_eq!(n.text("url"), None);
    assert_eq!(n.text("icon").as_deref(), Some("https://a.test/i.png"));
    assert!(n.data().is_undefined());
    assert_eq!(
        js::stringify(&n.actions),
        format!(r#"[{{"action":"ok","title":"{}"}}]"#, "t".repeat(2048))
    );
    // Only the bounded fields are kept on the notification.
    assert!(js::stringify(n.to_kept()).len() < 8 * 1024);
}

#[wasm_bindgen_test]
fn does_not_read_a_payload_past_its_bound() {
    let big = payload(&[
        ("id", quoted("n")),
        ("data", format!(r#"{{"pad":"{}"}}"#, "d".repeat(70_000))),
    ]);
    assert!(Notification::from_push(big).is_err());
}

#[wasm_bindgen_test]
fn webhook_body_is_the_seeds_with_absent_fields_absent() {
    let n = Notification::from_push(
        r#"{"id":"ed46884e","heading":"Notification title","content":"Notification message","url":"https://site.com/launch","icon":"https://site.com/logo.png","data":{"key1":"value1","key2":"value2"}}"#,
    )
    .unwrap();
    assert_eq!(
        webhook::body(Event::Clicked, &n, &"8086231d".into(), Some(&"".into())),
        r#"{"event":"notification.clicked","id":"ed46884e","userId":"8086231d","heading":"Notification title","content":"Notification message","url":"https://site.com/launch","icon":"https://site.com/logo.png","data":{"key1":"value1","key2":"value2"},"action":""}"#
    );
    let bare = Notification::from_push(r#"{"content":"c \"q\"","data":null}"#).unwrap();
    assert_eq!(
        webhook::body(
            Event::Displayed,
            &bare,
            &"u".into(),
            Some(&"ignored".into())
        ),
        r#"{"event":"notification.displayed","userId":"u","content":"c \"q\""}"#
    );
    assert_eq!(
        webhook::body(Event::Clicked, &bare, &"u".into(), Some(&"like".into())),
        r#"{"event":"notification.clicked","userId":"u","content":"c \"q\"","action":"like"}"#
    );
    assert_eq!(
        webhook::body(Event::Dismissed, &bare, &"u".into(), None),
        r#"{"event":"notification.dismissed","userId":"u","content":"c \"q\""}"#
    );
    // The copy kept on the notification gives the same body later.
    let kept = Notification::from_kept(n.to_kept()).unwrap();
    assert_eq!(
        webhook::body(Event::Dismissed, &kept, &"u".into(), None),
        webhook::body(Event::Dismissed, &n, &"u".into(), None)
    );
}

fn url(c: &Config, event: Event) -> Option<String> {
    c.url(event).and_then(|url| url.as_string())
}

fn check(options: &str) -> Result<Config, config::InitError> {
    config::validate(&json(options), || "generated".into())
}

#[wasm_bindgen_test]
fn init_accepts_https_and_loopback_http() {
    let c = check(
        r#"{"appId":"app","serviceWorkerPath":"/sw.js","webhooks":{"cors":true,"notification.displayed":"https://a.test/d","notification.clicked":"http://127.0.0.1:9/c","notification.dismissed":"http://[::1]/x"}}"#,
    )
    .unwrap();
    assert_eq!(c.app_id(), "app");
    assert_eq!(c.user_id(), "generated");
    assert!(c.cors());
    assert_eq!(
        url(&c, Event::Displayed).as_deref(),
        Some("https://a.test/d")
    );
    assert_eq!(
        url(&c, Event::Clicked).as_deref(),
        Some("http://127.0.0.1:9/c")
    );
    assert_eq!(url(&c, Event::Dismissed).as_deref(), Some("http://[::1]/x"));
    let c = check(
        r#"{"appId":"app","userId":"u1","webhooks":{"notification.clicked":"http://localhost/c"}}"#,
    )
    .unwrap();
    assert!(!c.cors(), "cors defaults to false");
    assert_eq!(c.user_id(), "u1");
    assert_eq!(url(&c, Event::Displayed), None);
}

#[wasm_bindgen_test]
fn init_refusals_name_the_field() {
    let cases = [
        ("[]", "options"),
        ("{}", "appId"),
        (r#"{"appId":""}"#, "appId"),
        (r#"{"appId":"a","userId":3}"#, "userId"),
        (r#"{"appId":"a","webhooks":[]}"#, "webhooks"),
        (
            r#"{"appId":"a","webhooks":{"cors":"yes"}}"#,
            "webhooks.cors",
        ),
        (
            r#"{"appId":"a","webhooks":{"notification.opened":"https://a.test"}}"#,
            "webhooks.notification.opened",
        ),
        (
            r#"{"appId":"a","webhooks":{"notification.clicked":"http://a.test/"}}"#,
            "webhooks.notification.clicked",
        ),
        (
            r#"{"appId":"a","webhooks":{"notification.clicked":"http://127.0.0.2/"}}"#,
            "webhooks.notification.clicked",
        ),
        (
            r#"{"appId":"a","webhooks":{"notification.clicked":"not a url"}}"#,
            "webhooks.notification.clicked",
        ),
        (
            r#"{"appId":"a","webhooks":{"notification.displayed":7}}"#,
            "webhooks.notification.displayed",
        ),
    ];
    for (options, field) in cases {
        assert_eq!(check(options).unwrap_err().field, field, "{options}");
    }
}

#[wasm_bindgen_test]
fn saved_config_round_trips_and_an_older_one_is_refused() {
    let c = check(
        r#"{"appId":"a","userId":"u","webhooks":{"notification.clicked":"https://a.test/c"}}"#,
    )
    .unwrap();
    let saved = c.to_saved();
    assert_eq!(
        js::stringify(saved),
        r#"{"v":1,"appId":"a","userId":"u","cors":false,"webhooks":{"notification.clicked":"https://a.test/c"}}"#
    );
    assert_eq!(Config::from_saved(saved).unwrap(), c);
    let old = json(r#"{"appId":"a","userId":"old","hooks":{}}"#);
    assert!(Config::from_saved(&old).is_err());
    assert!(Config::from_saved(&json(r#"{"v":2}"#)).is_err());
    assert!(Config::from_saved(&JsValue::UNDEFINED).is_err());
    assert_eq!(Config::saved_user_id(&old).unwrap(), "old");
}

#[wasm_bindgen_test]
async fn init_saves_keeps_the_user_id_and_saves_nothing_when_refused() {
    let init = |options: &str| wait(worker::init(&json(options)));
    let first = init(r#"{"appId":"a"}"#).await.unwrap();
    assert_eq!(js::get(&first, "ok"), JsValue::TRUE);
    let user_id = js::get(&first, "userId");
    assert_eq!(js::length(&user_id), 36, "a generated UUID");
    let again = init(r#"{"appId":"b"}"#).await.unwrap();
    assert_eq!(
        js::get(&again, "userId"),
        user_id,
        "generated once and kept"
    );
    let saved = worker::saved_config().await.unwrap();
    assert_eq!((saved.app_id(), saved.user_id()), ("b".into(), user_id));
    let refused = init(r#"{"appId":"c","webhooks":{"cors":1}}"#)
        .await
        .unwrap();
    assert_eq!(js::get(&refused, "ok"), JsValue::FALSE);
    assert_eq!(js::get(&refused, "field"), "webhooks.cors");
    assert_eq!(
        js::get(&refused, "error"),
        "webhooks.cors must be true or false"
    );
    assert_eq!(worker::saved_config().await.unwrap(), saved, "unchanged");
    let given = init(r#"{"appId":"b","userId":"site"}"#).await.unwrap();
    assert_eq!(js::get(&given, "userId"), "site");
    assert_eq!(worker::saved_config().await.unwrap().user_id(), "site");
}

/// An entry tried once, at `at`, and due again now.
fn pending(url: &str, at: f64) -> Pending {
    let p = Pending::new(
        url,
        false,
        "notification.displayed",
        r#"{"event":"notification.displayed","userId":"u"}"#,
        at,
    );
    js::set(p.to_js(), "due", &JsValue::from(0));
    p
}

async fn kept() -> Vec<Pending> {
    let entries = queue::entries().await.unwrap();
    entries.into_iter().filter_map(|(_, p)| p).collect()
}

async fn clear_queue() {
    let db = wait(idb::open()).await.unwrap();
    let store = idb::store(&db, idb::QUEUE, true).unwrap();
    let cleared = js::call(&store, "clear", &JsValue::UNDEFINED).unwrap();
    wait(idb::done(&cleared)).await.unwrap();
}

#[wasm_bindgen_test]
async fn queue_resends_keeps_failures_and_drops_what_is_past_its_bounds() {
    clear_queue().await;
    let now = js_sys::Date::now();
    let scope: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    // Reachable: the test server answers (a 404 is not a network failure).
    let reachable = [&scope.location().origin(), "/hookline-test-hook"].concat();
    // Unreachable: a port browsers refuse, so the request fails on the network.
    let unreachable = "http://127.0.0.1:9/hook";
    wait(queue::push(&pending(&reachable, now))).await.unwrap();
    wait(queue::push(&pending(unreachable, now))).await.unwrap();
    wait(queue::push(&pending(&reachable, now - MAX_AGE_MS - 1.0)))
        .await
        .unwrap();
    assert_eq!(kept().await.len(), 3);
    wait(queue::flush()).await.unwrap();
    let left = kept().await;
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0].url(), unreachable);
    assert_eq!(left[0].tries(), 2, "a failure is counted");

    // A failing send is kept, and the queue never holds more than MAX_PENDING.
    clear_queue().await;
    wait(queue::send(Pending::new(
        unreachable,
        true,
        "notification.clicked",
        "{}",
        0.0,
    )))
    .await
    .unwrap();
    let failed = &kept().await[0];
    assert_eq!(failed.event(), "notification.clicked");
    assert!(failed.at() >= now, "when it failed");
    // One failure is one try: a flush right after does not send it again before it is due.
    wait(queue::flush()).await.unwrap();
    let after = &kept().await[0];
    assert_eq!(after.tries(), 1, "one failure is one try");
    assert_eq!(after.due(), failed.at() + queue::RETRY_MS);
    for i in 0..MAX_PENDING + 2 {
        wait(queue::push(&pending(unreachable, now + f64::from(i))))
            .await
            .unwrap();
    }
    let left = kept().await;
    assert_eq!(left.len(), MAX_PENDING as usize);
    assert_eq!(left[0].at(), now + 2.0, "the oldest went first");
    clear_queue().await;
}

async fn notification_titles() -> Vec<String> {
    let scope: web_sys::ServiceWorkerGlobalScope = js_sys::global().unchecked_into();
    let list = Wait::promise(&scope.registration().get_notifications().unwrap().into())
        .await
        .unwrap();
    js_sys::Array::from(&list)
        .iter()
        .map(|n| n.unchecked_into::<web_sys::Notification>().title())
        .collect()
}

#[wasm_bindgen_test]
async fn push_shows_a_notification_even_for_bad_input() {
    let push = |text: Option<&str>| wait(worker::on_push(text.map(JsValue::from)));
    push(Some(r#"{"id":"t1","heading":"From a test","content":"c"}"#))
        .await
        .unwrap();
    push(Some("not json")).await.unwrap();
    push(None).await.unwrap();
    let titles = notification_titles().await;
    let scope: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    let host = scope.location().host();
    assert!(titles.iter().any(|t| t == "From a test"), "{titles:?}");
    assert_eq!(
        titles.iter().filter(|t| **t == host).count(),
        2,
        "{titles:?}"
    );
}

#[wasm_bindgen_test]
fn allocator_keeps_blocks_apart_reuses_them_and_grows() {
    let fill = |i: usize| (i % 251) as u8;
    let len = |i: usize| i * 37 % 5000 + 1;
    let mut kept = Vec::new();
    for i in 0..3000 {
        let block = vec![fill(i); len(i)];
        if i % 3 == 0 {
            kept.push((i, block));
        }
    }
    for (i, block) in &kept {
        assert_eq!(block.len(), len(*i));
        assert!(
            block.iter().all(|b| *b == fill(*i)),
            "block {i} was overwritten"
        );
    }
    let mut grown = String::new();
    for i in 0..20000 {
        grown.push(char::from(b'a' + (i % 26) as u8));
    }
    assert!(
        grown
            .bytes()
            .enumerate()
            .all(|(i, b)| b == b'a' + (i % 26) as u8)
    );
    let big = vec![7u8; 3 << 20];
    assert!(big.iter().all(|b| *b == 7));
    let aligned = Box::new([0u128; 3]);
    assert_eq!(
        (aligned.as_ptr() as usize) % core::mem::align_of::<u128>(),
        0
    );
}

#[wasm_bindgen_test]
fn allocator_never_hands_out_memory_other_code_grew() {
    use core::alloc::{GlobalAlloc, Layout};
    const PAGE: usize = 65536;
    // An allocator of its own (the global one, and the harness, grow the memory too).
    let heap = hookline_worker::heap::Allocator::new();
    let layout = Layout::from_size_align(PAGE / 4, 8).unwrap();
    // SAFETY: a valid layout; the blocks are only compared by address, never freed.
    let alloc = || unsafe { heap.alloc(layout) } as usize;
    let first = alloc();
    assert_ne!(first, 0);
    // Memory grown by other code after the allocator's own growth: never to be handed out.
    let theirs = core::arch::wasm32::memory_grow(0, 1);
    assert_ne!(theirs, usize::MAX);
    let (start, end) = (theirs * PAGE, (theirs + 1) * PAGE);
    for _ in 0..16 {
        let at = alloc();
        assert_ne!(at, 0);
        assert!(
            at + PAGE / 4 <= start || at >= end,
            "a block at {at:#x} is in the page other code grew, {start:#x}..{end:#x}"
        );
    }
}
#[wasm_bindgen_test]
fn onesignal_v16_format_is_opt_in_and_keeps_button_urls() {
    // `notification.willDisplay` is v16's name for `notification.displayed`; `format` opts in.
    let c = check(
        r#"{"appId":"a","webhooks":{"format":"v16","notification.willDisplay":"https://a.test/d"}}"#,
    )
    .unwrap();
    assert!(c.v16());
    assert_eq!(
        url(&c, Event::Displayed).as_deref(),
        Some("https://a.test/d")
    );
    assert_eq!(js::get(c.to_saved(), "format"), "v16");
    let seed =
        check(r#"{"appId":"a","webhooks":{"notification.displayed":"https://a.test/d"}}"#).unwrap();
    assert!(!seed.v16(), "the seed's format is the default");
    assert!(js::get(seed.to_saved(), "format").is_undefined());
    let refused = check(r#"{"appId":"a","webhooks":{"format":"v15"}}"#).unwrap_err();
    assert_eq!(refused.field, "webhooks.format");

    let n = Notification::from_push(
        r#"{"custom":{"i":"os-1","u":"https://site.com/n","a":{"k":"v"}},"title":"T","alert":"A","icon":"https://site.com/i.png","o":[{"i":"b1","n":"One","u":"https://site.com/b1"},{"i":"b2","n":"Two"}]}"#,
    )
    .unwrap();
    let kept = Notification::from_kept(n.to_kept()).unwrap();
    let body = |event, action: Option<&str>| {
        webhook::body_v16(
            event,
            &kept,
            &"sub-1".into(),
            action.map(JsValue::from).as_ref(),
        )
    };
    assert_eq!(
        body(Event::Displayed, None),
        r#"{"event":"notification.willDisplay","notificationId":"os-1","heading":"T","content":"A","additionalData":{"k":"v"},"url":"https://site.com/n","subscriptionId":"sub-1"}"#
    );
    assert_eq!(
        body(Event::Clicked, Some("b1")),
        r#"{"event":"notification.clicked","notificationId":"os-1","heading":"T","content":"A","additionalData":{"k":"v"},"url":"https://site.com/b1","subscriptionId":"sub-1","actionId":"b1"}"#,
        "a button's own URL"
    );
    assert_eq!(
        body(Event::Clicked, Some("b2")),
        r#"{"event":"notification.clicked","notificationId":"os-1","heading":"T","content":"A","additionalData":{"k":"v"},"url":"https://site.com/n","subscriptionId":"sub-1","actionId":"b2"}"#
    );
    assert_eq!(
        body(Event::Clicked, Some("")),
        r#"{"event":"notification.clicked","notificationId":"os-1","heading":"T","content":"A","additionalData":{"k":"v"},"url":"https://site.com/n","subscriptionId":"sub-1","actionId":""}"#
    );
    assert_eq!(
        body(Event::Dismissed, None),
        r#"{"event":"notification.dismissed","notificationId":"os-1","heading":"T","content":"A","additionalData":{"k":"v"},"url":"https://site.com/n","subscriptionId":"sub-1"}"#
    );
    // The seed's format leaves the buttons' URLs out of its body, as before.
    assert_eq!(
        webhook::body(Event::Clicked, &kept, &"u".into(), Some(&"b1".into())),
        r#"{"event":"notification.clicked","id":"os-1","userId":"u","heading":"T","content":"A","url":"https://site.com/n","icon":"https://site.com/i.png","data":{"k":"v"},"action":"b1"}"#
    );
    // hookline's own format takes a button `url` too.
    let ours = Notification::from_push(
        r#"{"id":"h","buttons":[{"id":"x","text":"X","url":"https://site.com/x"}]}"#,
    )
    .unwrap();
    assert_eq!(
        js::stringify(&js::get(ours.to_kept(), "b")),
        r#"{"x":"https://site.com/x"}"#
    );
}
