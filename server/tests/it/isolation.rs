//! Tenant isolation under churn: two apps, each with healthy, failing (500), slow (past the
//! timeout) and resetting receivers, take a steady load while their webhooks are deleted,
//! re-created, edited (new URL, new triggers) and disabled. No request may carry another app's
//! event; a deleted webhook sends nothing once its DELETE has answered; an edited webhook's
//! attempts use the new definition; a disabled one sends nothing until it is enabled.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{TestServer, webhook_body};
use crate::receiver::{Mode, TestReceiver};

/// Time for the server to act on an answer it gave: a request read by a receiver later than this
/// after a DELETE, edit or disable answered was sent after it.
const MARGIN: Duration = Duration::from_millis(250);

const ROLES: [&str; 4] = ["healthy", "failing", "slow", "resetting"];
const ALL_PUSH: &[&str] = &["message.push.*"];
const SENT_ONLY: &[&str] = &["message.push.sent"];

fn mode(role: &str) -> Mode {
    match role {
        "healthy" => Mode::Ok,
        "failing" => Mode::Status(500),
        "slow" => Mode::Slow(Duration::from_millis(600)),
        _ => Mode::Reset,
    }
}

/// One app under test: its receivers (one per role, used by no other app) and live webhooks.
struct Tenant {
    tag: &'static str,
    app: (String, String),
    receivers: HashMap<&'static str, TestReceiver>,
    /// Live webhooks: (id, role, path, enabled), oldest first.
    live: Vec<(String, &'static str, String, bool)>,
    generation: usize,
}

/// What the churn did, and when the server answered it.
#[derive(Default)]
struct Churn {
    /// Paths of deleted webhooks, and when the DELETE answered.
    deleted: Vec<(String, Instant)>,
    /// Paths an edit moved away from, and when the edit answered.
    moved_from: Vec<(String, Instant)>,
    /// Paths an edit moved to with `message.push.sent` only, and when the edit answered.
    narrowed_to: Vec<(String, Instant)>,
    /// Paths of disabled webhooks: when the disable answered, and when the enable was sent.
    disabled: Vec<(String, Instant, Option<Instant>)>,
}

impl Tenant {
    async fn new(s: &TestServer, tag: &'static str) -> Tenant {
        let app = s.app(tag).await;
        let mut receivers = HashMap::new();
        for role in ROLES {
            let r = TestReceiver::start().await;
            r.set_default(mode(role));
            receivers.insert(role, r);
        }
        let mut t = Tenant {
            tag,
            app,
            receivers,
            live: Vec::new(),
            generation: 0,
        };
        for role in ROLES {
            t.create(s, role).await;
        }
        t
    }

    fn next_path(&mut self, role: &str) -> String {
        self.generation += 1;
        format!("/{}/{role}/g{}", self.tag, self.generation)
    }

    async fn create(&mut self, s: &TestServer, role: &'static str) {
        let path = self.next_path(role);
        let id = s
            .webhook(&self.app, &self.receivers[role].url(&path), ALL_PUSH)
            .await;
        self.live.push((id, role, path, true));
    }

    /// Deletes the newest webhook (whose number a store that reuses numbers would give next).
    async fn delete_newest(&mut self, s: &TestServer, churn: &mut Churn) {
        let (id, _, path, _) = self.live.pop().unwrap();
        let (status, v) = s
            .app_call("DELETE", &self.app, &format!("/webhooks/{id}"), None)
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{v}");
        churn.deleted.push((path, Instant::now()));
    }

    /// Gives an enabled webhook a new URL and, every other time, only `message.push.sent`.
    async fn edit(&mut self, s: &TestServer, pick: usize, churn: &mut Churn) {
        let enabled: Vec<usize> = (0..self.live.len()).filter(|i| self.live[*i].3).collect();
        let i = enabled[pick % enabled.len()];
        let role = self.live[i].1;
        let path = self.next_path(role);
        let narrow = self.generation.is_multiple_of(2);
        let triggers = if narrow { SENT_ONLY } else { ALL_PUSH };
        let (status, v) = s
            .app_call(
                "PUT",
                &self.app,
                &format!("/webhooks/{}", self.live[i].0),
                Some(webhook_body(&self.receivers[role].url(&path), triggers)),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{v}");
        let answered = Instant::now();
        let old = std::mem::replace(&mut self.live[i].2, path.clone());
        churn.moved_from.push((old, answered));
        if narrow {
            churn.narrowed_to.push((path, answered));
        }
    }

    /// Enables the webhooks it disabled before, then disables one that is enabled.
    async fn toggle(&mut self, s: &TestServer, pick: usize, churn: &mut Churn) {
        for i in 0..self.live.len() {
            if self.live[i].3 {
                continue;
            }
            let path = self.live[i].2.clone();
            if let Some(d) = churn
                .disabled
                .iter_mut()
                .find(|d| d.0 == path && d.2.is_none())
            {
                d.2 = Some(Instant::now());
            }
            let (status, v) = s
                .app_call(
                    "POST",
                    &self.app,
                    &format!("/webhooks/{}/enable", self.live[i].0),
                    None,
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{v}");
            self.live[i].3 = true;
        }
        let i = pick % self.live.len();
        let (status, v) = s
            .app_call(
                "POST",
                &self.app,
                &format!("/webhooks/{}/disable", self.live[i].0),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{v}");
        self.live[i].3 = false;
        churn
            .disabled
            .push((self.live[i].2.clone(), Instant::now(), None));
    }
}

/// Event `n` of an app tagged `tag`: its id and external id name the app.
fn tenant_event(tag: &str, n: usize) -> Value {
    json!({
        "id": format!("{tag}-{n}"),
        "kind": if n.is_multiple_of(2) { "message.push.sent" } else { "message.push.clicked" },
        "external_id": format!("secret-of-{tag}-{n}"),
        "subscription_device_type": "iOS",
        "timestamp": 1708559416,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_event_reaches_another_app_while_webhooks_churn_under_load() {
    let s = Arc::new(
        TestServer::start_with(|c| {
            // Failures keep retrying through the churn; small queues send deliveries through the
            // store (pending rows, catching up from the log) as well as straight from memory.
            c.retry.schedule = [100, 150, 200, 250, 300, 350]
                .map(Duration::from_millis)
                .to_vec();
            c.delivery.request_timeout = Duration::from_millis(300);
            c.delivery.lease = Duration::from_millis(600);
            c.delivery.poll_interval = Duration::from_millis(50);
            c.delivery.queue_per_webhook = 8;
        })
        .await,
    );
    let mut a = Tenant::new(&s, "A").await;
    let mut b = Tenant::new(&s, "B").await;

    // Producers: a batch of 5 events per app every few milliseconds; each event's send time kept.
    let sent_at: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut producers = Vec::new();
    for (tag, app) in [("A", a.app.clone()), ("B", b.app.clone())] {
        let (s, sent_at, stop) = (s.clone(), sent_at.clone(), stop.clone());
        producers.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Acquire) && n < 5_000 {
                let events: Vec<Value> = (n..n + 5).map(|k| tenant_event(tag, k)).collect();
                let now = Instant::now();
                sent_at
                    .lock()
                    .unwrap()
                    .extend((n..n + 5).map(|k| (format!("{tag}-{k}"), now)));
                s.ingest(&app, json!({ "events": events })).await;
                n += 5;
                tokio::time::sleep(Duration::from_millis(8)).await;
            }
            n
        }));
    }

    // The churn: each round one app deletes its newest webhook and the other creates one (the
    // order in which a reused webhook number would hand the first app's deliveries to the
    // second), then edits, disables and enables.
    let mut churn = Churn::default();
    tokio::time::sleep(Duration::from_millis(300)).await;
    for round in 0..14 {
        let (x, y) = if round % 2 == 0 {
            (&mut a, &mut b)
        } else {
            (&mut b, &mut a)
        };
        x.delete_newest(&s, &mut churn).await;
        y.create(&s, ROLES[(round / 2 + 1) % ROLES.len()]).await;
        if x.live.len() < 3 {
            x.create(&s, ROLES[round % ROLES.len()]).await;
        }
        x.edit(&s, round, &mut churn).await;
        y.toggle(&s, round, &mut churn).await;
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Release);
    let mut produced = 0;
    for p in producers {
        produced += p.await.unwrap();
    }
    // Let the retries of what is left run out.
    tokio::time::sleep(Duration::from_millis(2_500)).await;

    let sent_at = sent_at.lock().unwrap();
    let mut seen = 0;
    for t in [&a, &b] {
        for (role, r) in &t.receivers {
            for q in r.received() {
                seen += 1;
                let body = q.json();
                let id = body["id"].as_str().unwrap_or_default().to_string();
                let what = format!("{} {role} receiver got {} for event {id}", t.tag, q.path);
                // Isolation: only this app's events, with this app's data.
                assert!(id.starts_with(&format!("{}-", t.tag)), "{what}: {body}");
                assert_eq!(body["app_id"], t.app.0, "{what}: {body}");
                assert_eq!(
                    body["external_user_id"],
                    format!("secret-of-{id}"),
                    "{what}"
                );
                // Deleted and edited-away paths: silent once the server answered.
                for (path, answered) in churn.deleted.iter().chain(&churn.moved_from) {
                    assert!(
                        q.path != *path || q.at <= *answered + MARGIN,
                        "{what}, {:?} after the webhook was deleted or moved away",
                        q.at - *answered
                    );
                }
                // Disabled: silent until enabled again.
                for (path, answered, enabled) in &churn.disabled {
                    let quiet_until = enabled.unwrap_or_else(|| Instant::now() + MARGIN);
                    assert!(
                        q.path != *path || q.at <= *answered + MARGIN || q.at >= quiet_until,
                        "{what}, {:?} after the webhook was disabled",
                        q.at - *answered
                    );
                }
                // Narrowed triggers: an event sent after the edit must match the new ones.
                for (path, answered) in &churn.narrowed_to {
                    if q.path == *path && sent_at[&id] > *answered {
                        assert_eq!(body["kind"], "message.push.sent", "{what}");
                    }
                }
            }
        }
    }
    // The run was not empty: events flowed to every kind of receiver, and webhooks with failures
    // in flight were deleted.
    assert!(produced >= 500, "only {produced} events were sent");
    for t in [&a, &b] {
        for role in ROLES {
            assert!(
                !t.receivers[role].received().is_empty(),
                "{}'s {role} receiver got nothing",
                t.tag
            );
        }
    }
    assert!(seen >= 500, "only {seen} requests arrived");
    assert_eq!(churn.deleted.len(), 14);
}
