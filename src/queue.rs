//! Webhooks that failed on the network, kept in IndexedDB and sent again on later worker events.
//! Bounded so a dead receiver cannot grow it without end: at most [`MAX_PENDING`] entries (the
//! oldest go first), none older than [`MAX_AGE_MS`], none tried more than [`MAX_TRIES`] times.

use alloc::string::String;
use alloc::vec::Vec;

use wasm_bindgen::prelude::*;

use crate::task::{self, Outcome, Wait};
use crate::{Local, idb, js, log, webhook};

pub const MAX_PENDING: u32 = 50;
pub const MAX_AGE_MS: f64 = 24.0 * 60.0 * 60.0 * 1000.0;
pub const MAX_TRIES: u32 = 10;

/// A webhook waiting to be sent again, in its stored form `{url, cors, event, body, at, tries}`:
/// what its request is made from, when it first failed (ms since the epoch) and how often it was
/// tried. It stays that JS object: its fields only pass through to the request.
#[derive(Debug, Clone)]
pub struct Pending(JsValue);

impl Pending {
    /// A webhook tried once, at `at`.
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
        js::set(&o, "at", &JsValue::from_f64(at));
        js::set(&o, "tries", &JsValue::from(1));
        Pending(o)
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

    /// Whether it is still worth sending at `now`.
    pub fn keep(&self, now: f64) -> bool {
        keep(self.at(), self.tries(), now)
    }

    /// The stored form.
    pub fn to_js(&self) -> &JsValue {
        &self.0
    }

    /// Reads the stored form; `None` for anything else (an entry from another version, say).
    pub fn from_js(v: &JsValue) -> Option<Pending> {
        let ok = ["url", "event", "body"]
            .iter()
            .all(|key| js::get(v, key).is_string())
            && js::get(v, "cors").as_bool().is_some()
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

/// One flush at a time per worker instance, so no entry is sent twice by overlapping events.
static FLUSHING: Local<bool> = Local::new(false);

/// Sends a webhook: the request is issued now; the promise settles (never rejecting) once it
/// is sent, or kept for a later event when it failed on the network.
pub fn send(pending: Pending) -> JsValue {
    task::then(
        &pending.send(),
        Some(task::nothing),
        Some(failed),
        &pending.0,
    )
}

fn failed(pending: &JsValue, e: JsValue) -> Outcome {
    log::warn_js("webhook failed, kept to send again: ", &e);
    js::set(pending, "at", &JsValue::from_f64(js::now()));
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
        log::warn("retry queue full, dropped the oldest webhook", "");
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

/// Every entry with its key, oldest first.
pub async fn entries() -> Result<Vec<(JsValue, Option<Pending>)>, JsValue> {
    let queue = Wait::promise(&all()).await?;
    let (keys, values) = (js::get(&queue, "k"), js::get(&queue, "v"));
    Ok((0..js::length(&keys))
        .map(|i| (js::at(&keys, i), Pending::from_js(&js::at(&values, i))))
        .collect())
}

/// Sends every kept webhook again: a success or an entry past its bounds is removed, a failure
/// is counted and kept. A promise.
pub fn flush() -> JsValue {
    if FLUSHING.with(|f| core::mem::replace(f, true)) {
        return js::resolved(&JsValue::UNDEFINED);
    }
    let flushed = task::then(&all(), Some(flush_from), None, &JsValue::UNDEFINED);
    task::then(
        &flushed,
        Some(flushed_ok),
        Some(flushed_err),
        &JsValue::UNDEFINED,
    )
}

fn flushed_ok(_: &JsValue, _: JsValue) -> Outcome {
    FLUSHING.with(|f| *f = false);
    Ok(JsValue::UNDEFINED)
}

fn flushed_err(_: &JsValue, e: JsValue) -> Outcome {
    FLUSHING.with(|f| *f = false);
    Err(e)
}

/// The entries are sent one after the other; `queue.i` is the one at hand.
fn flush_from(_: &JsValue, queue: JsValue) -> Outcome {
    js::set(&queue, "i", &JsValue::from(0));
    flush_next(&queue)
}

fn flush_next(queue: &JsValue) -> Outcome {
    let i = js::number(&js::get(queue, "i")) as u32;
    if i >= js::length(&js::get(queue, "k")) {
        return Ok(JsValue::UNDEFINED);
    }
    let pending = Pending::from_js(&js::at(&js::get(queue, "v"), i)).filter(|p| p.keep(js::now()));
    js::set(queue, "p", &JsValue::UNDEFINED);
    match pending {
        Some(p) => {
            js::set(queue, "p", &p.0);
            Ok(task::then(&p.send(), Some(sent), Some(not_sent), queue))
        }
        None => {
            log::warn("dropped a kept webhook past its bounds (age or tries)", "");
            settle_entry(queue, false)
        }
    }
}

fn sent(queue: &JsValue, _: JsValue) -> Outcome {
    settle_entry(queue, false)
}

fn not_sent(queue: &JsValue, _: JsValue) -> Outcome {
    settle_entry(queue, true)
}

/// Removes the entry at hand, or counts its failure; then goes on with the next one.
fn settle_entry(queue: &JsValue, failed: bool) -> Outcome {
    // The transaction is opened after the send: one cannot stay open across a network wait.
    let store = idb::store(&js::get(queue, "d"), idb::QUEUE, true)?;
    let i = js::number(&js::get(queue, "i")) as u32;
    let key = js::at(&js::get(queue, "k"), i);
    let pending = js::get(queue, "p");
    let request = if failed {
        let tries = Pending(pending.clone()).tries();
        js::set(&pending, "tries", &JsValue::from(tries + 1));
        js::call_2(&store, "put", &pending, &key)?
    } else {
        js::call(&store, "delete", &key)?
    };
    js::set(queue, "i", &JsValue::from(i + 1));
    Ok(task::then(&idb::done(&request), Some(next), None, queue))
}

fn next(queue: &JsValue, _: JsValue) -> Outcome {
    flush_next(queue)
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
}
