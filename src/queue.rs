//! Webhooks that failed on the network, kept in IndexedDB and sent again on later worker events.
//! Bounded so a dead receiver cannot grow it without end: at most [`MAX_PENDING`] entries (the
//! oldest go first), none older than [`MAX_AGE_MS`], none tried more than [`MAX_TRIES`] times.
//!
//! Tries are counted honestly: a try is written to the entry before its request starts (a worker
//! stopped mid-request has still counted it), and an entry is not due again before a delay that
//! doubles with each try (so the flush that follows a failure does not send it again at once).
//! Entries are sent side by side, each request ending after [`webhook::TIMEOUT_MS`]: a receiver
//! that never answers holds up no other.
//!
//! What is sent again: with `cors: false`, every failure (a `no-cors` request only fails on the
//! network or by its timeout). With `cors: true`, a failure is sent again only when the receiver
//! cannot be reached at all (or timed out): a receiver that answers without CORS headers has
//! received the POST although `fetch` rejects, so that webhook is not repeated
//! ([`webhook::reachable`]).

use alloc::string::String;
#[cfg(not(hookline_bundle))]
use alloc::vec::Vec;

use wasm_bindgen::prelude::*;

use crate::js::Is;
use crate::task::{self, Outcome};
use crate::{Local, idb, js, log, webhook};

pub const MAX_PENDING: u32 = 50;
pub const MAX_AGE_MS: f64 = 24.0 * 60.0 * 60.0 * 1000.0;
pub const MAX_TRIES: u32 = 10;
/// How long after its first try an entry is due again; the delay doubles with each try.
pub const RETRY_MS: f64 = 1000.0;

/// A webhook waiting to be sent again, in its stored form
/// `{url, cors, event, body, at, tries, due}`: what its request is made from, when it first
/// failed (ms since the epoch), how often it was tried and when it may be tried again (absent: at
/// once). It stays that JS object: its fields only pass through to the request.
#[derive(Debug, Clone)]
pub struct Pending(JsValue);

impl Pending {
    /// A webhook tried once, at `at`, due again [`RETRY_MS`] later.
    pub fn new(
        url: impl Into<JsValue>,
        cors: bool,
        event: &str,
        body: impl Into<JsValue>,
        at: f64,
    ) -> Pending {
        let o = js::object();
        js::set(&o, "url", &url.into());
        js::set(&o, "cors", &JsValue::from_bool(cors));
        js::set_str(&o, "event", Some(event));
        js::set(&o, "body", &body.into());
        let pending = Pending(o);
        pending.tried(at, 1);
        pending
    }

    pub fn url(&self) -> String {
        js::get(&self.0, "url").as_string().unwrap_or_default()
    }

    pub fn event(&self) -> String {
        js::get(&self.0, "event").as_string().unwrap_or_default()
    }

    pub fn at(&self) -> f64 {
        js::number(&js::get(&self.0, "at"))
    }

    pub fn tries(&self) -> u32 {
        js::number(&js::get(&self.0, "tries")) as u32
    }

    /// When it may be tried again (`NaN`, never later than now, for an entry without it).
    pub fn due(&self) -> f64 {
        js::number(&js::get(&self.0, "due"))
    }

    /// Whether it is still worth sending at `now`.
    pub fn keep(&self, now: f64) -> bool {
        keep(self.at(), self.tries(), now)
    }

    /// Counts try number `tries`, made at `now`: `at` is set by the first one.
    fn tried(&self, now: f64, tries: u32) {
        if tries == 1 {
            js::set(&self.0, "at", &JsValue::from_f64(now));
        }
        js::set(&self.0, "tries", &JsValue::from(tries));
        js::set(&self.0, "due", &JsValue::from_f64(now + retry_after(tries)));
    }

    /// The stored form.
    pub fn to_js(&self) -> &JsValue {
        &self.0
    }

    /// Reads the stored form; `None` for anything else (an entry from another version, say). Only
    /// what decides whether it is sent is checked: a `url`, and `at` and `tries` as numbers.
    pub fn from_js(v: &JsValue) -> Option<Pending> {
        let ok = js::get(v, "url").is_string()
            && js::is_number(&js::get(v, "at"))
            && js::is_number(&js::get(v, "tries"));
        ok.then(|| Pending(v.clone()))
    }

    /// Starts its request: a promise of the response.
    fn send(&self) -> JsValue {
        let field = |key| js::get(&self.0, key);
        webhook::send(
            &field("url"),
            field("cors").is_truthy(),
            &field("event"),
            &field("body"),
        )
    }
}

/// Whether a webhook first failed at `at` and tried `tries` times is still worth sending at
/// `now`. A clock that went backwards keeps it.
pub fn keep(at: f64, tries: u32, now: f64) -> bool {
    tries < MAX_TRIES && now - at <= MAX_AGE_MS
}

/// How long after try number `tries` the next one is due: [`RETRY_MS`], doubled with each try.
pub fn retry_after(tries: u32) -> f64 {
    f64::from(1u32 << tries.clamp(1, MAX_TRIES).saturating_sub(1)) * RETRY_MS
}

/// When the flush in progress started (0: none). One flush at a time per worker instance, so no
/// entry is sent twice by overlapping events; one that has run longer than [`FLUSH_MAX_MS`] is
/// taken as ended (its chain broke, by a trap say), so it cannot stop every later flush.
static FLUSHING: Local<f64> = Local::new(0.0);
/// Longer than any flush takes: its sends (and their probes) each end within a timeout.
const FLUSH_MAX_MS: f64 = 3.0 * webhook::TIMEOUT_MS as f64;

/// Sends a webhook: the request is issued now; the promise settles (never rejecting) once it
/// is sent, or kept for a later event when it failed and may be sent again.
pub fn send(pending: Pending) -> JsValue {
    task::then(
        &pending.send(),
        Some(task::nothing),
        Some(failed),
        &pending.0,
    )
}

fn failed(pending: &JsValue, e: JsValue) -> Outcome {
    Ok(task::then(
        &may_repeat(pending, &e),
        Some(keep_failed),
        None,
        pending,
    ))
}

/// A promise of whether a webhook whose request failed with `e` may be sent again (logged either
/// way): not when it was `cors: true` and the receiver answered (see the module's docs).
fn may_repeat(pending: &JsValue, e: &JsValue) -> JsValue {
    log::warn_js("webhook failed: ", e);
    if !js::get(pending, "cors").is_truthy() || js::get(e, "name").is("TimeoutError") {
        return js::resolved(&JsValue::TRUE);
    }
    // Unreachable: `give` gives its context, true.
    task::then(
        &webhook::reachable(&js::get(pending, "url")),
        Some(answered),
        Some(task::give),
        &JsValue::TRUE,
    )
}

fn answered(_: &JsValue, _: JsValue) -> Outcome {
    log::warn("receiver answered without CORS headers; not sent again", "");
    Ok(JsValue::FALSE)
}

fn keep_failed(pending: &JsValue, repeat: JsValue) -> Outcome {
    if !repeat.is_truthy() {
        return Ok(JsValue::UNDEFINED);
    }
    log::warn("webhook kept to send again", "");
    Pending(pending.clone()).tried(js::now(), 1);
    Ok(task::then(
        &push(&Pending(pending.clone())),
        None,
        Some(not_kept),
        &JsValue::UNDEFINED,
    ))
}

fn not_kept(_: &JsValue, e: JsValue) -> Outcome {
    log::warn_js("could not keep a failed webhook: ", &e);
    Ok(JsValue::UNDEFINED)
}

/// Adds an entry, dropping the oldest beyond [`MAX_PENDING`]; a promise.
pub fn push(pending: &Pending) -> JsValue {
    task::then(&idb::open(), Some(push_into), None, &pending.0)
}

fn push_into(pending: &JsValue, db: JsValue) -> Outcome {
    let store = idb::store(&db, idb::QUEUE, true)?;
    // In one transaction: a failed `add` fails the keys' request after it too.
    js::call(&store, "add", pending)?;
    let keys = idb::done(&js::call(&store, "getAllKeys", &JsValue::UNDEFINED)?);
    Ok(task::then(&keys, Some(trim), None, &store))
}

fn trim(store: &JsValue, keys: JsValue) -> Outcome {
    let excess = js::length(&keys).saturating_sub(MAX_PENDING);
    for i in 0..excess {
        log::warn("retry queue full, dropped the oldest", "");
        js::call(store, "delete", &js::at(&keys, i))?;
    }
    Ok(JsValue::UNDEFINED)
}

/// A promise of the database, the keys of the entries and the entries, oldest first: `{d, k, v}`.
fn all() -> JsValue {
    task::then(&idb::open(), Some(all_from), None, &JsValue::UNDEFINED)
}

fn all_from(_: &JsValue, db: JsValue) -> Outcome {
    let store = idb::store(&db, idb::QUEUE, false)?;
    let keys = js::call(&store, "getAllKeys", &JsValue::UNDEFINED)?;
    let values = idb::done(&js::call(&store, "getAll", &JsValue::UNDEFINED)?);
    // The requests of a transaction succeed in order: the keys are there with the entries.
    let queue = js::object();
    js::set(&queue, "d", &db);
    js::set(&queue, "k", &keys);
    Ok(task::then(&values, Some(all_read), None, &queue))
}

fn all_read(queue: &JsValue, values: JsValue) -> Outcome {
    js::set(queue, "k", &js::get(&js::get(queue, "k"), "result"));
    js::set(queue, "v", &values);
    Ok(queue.clone())
}

/// Every entry with its key, oldest first (for the tests: see [`task`]).
#[cfg(not(hookline_bundle))]
pub async fn entries() -> Result<Vec<(JsValue, Option<Pending>)>, JsValue> {
    let queue = task::Wait::promise(&all()).await?;
    let (keys, values) = (js::get(&queue, "k"), js::get(&queue, "v"));
    Ok((0..js::length(&keys))
        .map(|i| (js::at(&keys, i), Pending::from_js(&js::at(&values, i))))
        .collect())
}

/// Sends every kept webhook that is due again, side by side: each try is counted before its
/// request starts; a success, an entry past its bounds or one that must not be repeated is
/// removed. A promise, settled once every request has.
pub fn flush() -> JsValue {
    let now = js::now();
    let started = FLUSHING.get();
    if started != 0.0 && now - started < FLUSH_MAX_MS {
        return js::resolved(&JsValue::UNDEFINED);
    }
    FLUSHING.replace(now);
    let flushed = task::then(&all(), Some(flush_from), None, &JsValue::UNDEFINED);
    task::then(
        &flushed,
        Some(flushed_ok),
        Some(flushed_err),
        &JsValue::UNDEFINED,
    )
}

fn flushed_ok(_: &JsValue, _: JsValue) -> Outcome {
    FLUSHING.replace(0.0);
    Ok(JsValue::UNDEFINED)
}

fn flushed_err(_: &JsValue, e: JsValue) -> Outcome {
    FLUSHING.replace(0.0);
    Err(e)
}

/// In one transaction: drops what is past its bounds and counts a try of each entry that is due;
/// once that is committed, sends those.
fn flush_from(_: &JsValue, queue: JsValue) -> Outcome {
    let db = js::get(&queue, "d");
    let (keys, values) = (js::get(&queue, "k"), js::get(&queue, "v"));
    let store = idb::store(&db, idb::QUEUE, true)?;
    let now = js::now();
    let due = js::array();
    for i in 0..js::length(&keys) {
        let key = js::at(&keys, i);
        match Pending::from_js(&js::at(&values, i)).filter(|p| p.keep(now)) {
            None => {
                log::warn("dropped a kept webhook past its age or tries", "");
                js::call(&store, "delete", &key)?;
            }
            Some(p) if p.due() > now => {}
            Some(p) => {
                p.tried(now, p.tries() + 1);
                js::call_2(&store, "put", &p.0, &key)?;
                let entry = js::object();
                js::set(&entry, "d", &db);
                js::set(&entry, "k", &key);
                js::set(&entry, "p", &p.0);
                let _ = js::call(&due, "push", &entry);
            }
        }
    }
    Ok(task::then(
        &idb::committed(&store),
        Some(send_due),
        None,
        &due,
    ))
}

fn send_due(due: &JsValue, _: JsValue) -> Outcome {
    let sends = js::array();
    for i in 0..js::length(due) {
        let entry = js::at(due, i);
        let p = Pending(js::get(&entry, "p"));
        let sent = task::then(&p.send(), Some(sent), Some(not_sent), &entry);
        let _ = js::call(&sends, "push", &sent);
    }
    Ok(js::all(&sends))
}

fn sent(entry: &JsValue, _: JsValue) -> Outcome {
    remove(entry)
}

/// A failed try was counted before it was made: the entry stays, unless it must not be repeated.
fn not_sent(entry: &JsValue, e: JsValue) -> Outcome {
    let repeat = may_repeat(&js::get(entry, "p"), &e);
    Ok(task::then(&repeat, Some(remove_unless), None, entry))
}

fn remove_unless(entry: &JsValue, repeat: JsValue) -> Outcome {
    if repeat.is_truthy() {
        return Ok(JsValue::UNDEFINED);
    }
    remove(entry)
}

/// Removes the entry, in a transaction of its own (one cannot stay open across a request).
fn remove(entry: &JsValue) -> Outcome {
    let store = idb::store(&js::get(entry, "d"), idb::QUEUE, true)?;
    let request = js::call(&store, "delete", &js::get(entry, "k"))?;
    Ok(idb::done(&request))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_entries_within_age_and_tries() {
        let now = 10.0 * MAX_AGE_MS;
        assert!(keep(now, 1, now));
        assert!(keep(now - MAX_AGE_MS, MAX_TRIES - 1, now));
        assert!(!keep(now - MAX_AGE_MS - 1.0, 1, now));
        assert!(!keep(now, MAX_TRIES, now));
        assert!(keep(now + 5.0, 1, now));
    }

    #[test]
    fn the_retry_delay_doubles_with_each_try() {
        assert_eq!(retry_after(1), RETRY_MS);
        assert_eq!(retry_after(2), 2.0 * RETRY_MS);
        assert_eq!(retry_after(MAX_TRIES), 512.0 * RETRY_MS);
        assert_eq!(retry_after(0), RETRY_MS);
        assert_eq!(retry_after(u32::MAX), 512.0 * RETRY_MS);
    }
}
