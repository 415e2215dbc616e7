//! Webhooks that failed on the network, kept in IndexedDB and sent again on later worker events.
//! Bounded so a dead receiver cannot grow it without end: at most [`MAX_PENDING`] entries (the
//! oldest go first), none older than [`MAX_AGE_MS`], none tried more than [`MAX_TRIES`] times.

use alloc::string::String;
use alloc::vec::Vec;
use core::future::Future;

use wasm_bindgen::prelude::*;

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

    /// Starts its request.
    fn send(&self) -> crate::task::Wait {
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

/// Sends a webhook: the request is issued now; the returned future settles it, keeping it for a
/// later event when it fails on the network.
pub fn send(pending: Pending) -> impl Future<Output = ()> {
    let request = pending.send();
    async move {
        let Err(e) = request.await else {
            return;
        };
        log::warn_js("webhook failed, kept to send again: ", &e);
        js::set(&pending.0, "at", &JsValue::from_f64(js::now()));
        if let Err(e) = push(&pending).await {
            log::warn_js("could not keep a failed webhook: ", &e);
        }
    }
}

/// Adds an entry, dropping the oldest beyond [`MAX_PENDING`].
pub async fn push(pending: &Pending) -> Result<(), JsValue> {
    let db = idb::open().await?;
    let store = idb::store(&db, idb::QUEUE, true)?;
    // In one transaction: a failed `add` fails the keys' request after it too.
    js::call(&store, "add", pending.to_js())?;
    let keys = idb::done(&js::call(&store, "getAllKeys", &JsValue::UNDEFINED)?).await?;
    let excess = js::length(&keys).saturating_sub(MAX_PENDING);
    for i in 0..excess {
        log::warn("retry queue full, dropped the oldest webhook", "");
        js::call(&store, "delete", &js::at(&keys, i))?;
    }
    Ok(())
}

/// The keys of the entries and the entries, oldest first.
async fn all() -> Result<(JsValue, JsValue), JsValue> {
    let db = idb::open().await?;
    let store = idb::store(&db, idb::QUEUE, false)?;
    let keys = idb::done(&js::call(&store, "getAllKeys", &JsValue::UNDEFINED)?);
    let values = idb::done(&js::call(&store, "getAll", &JsValue::UNDEFINED)?).await?;
    Ok((keys.await?, values))
}

/// Every entry with its key, oldest first.
pub async fn entries() -> Result<Vec<(JsValue, Option<Pending>)>, JsValue> {
    let (keys, values) = all().await?;
    Ok((0..js::length(&keys))
        .map(|i| (js::at(&keys, i), Pending::from_js(&js::at(&values, i))))
        .collect())
}

/// Sends every kept webhook again: a success or an entry past its bounds is removed, a failure
/// is counted and kept.
pub async fn flush() -> Result<(), JsValue> {
    if FLUSHING.with(|f| core::mem::replace(f, true)) {
        return Ok(());
    }
    let result = flush_all().await;
    FLUSHING.with(|f| *f = false);
    result
}

async fn flush_all() -> Result<(), JsValue> {
    let (keys, values) = all().await?;
    let count = js::length(&keys);
    if count == 0 {
        return Ok(());
    }
    let db = idb::open().await?;
    for i in 0..count {
        let pending = Pending::from_js(&js::at(&values, i)).filter(|p| p.keep(js::now()));
        let failed = match &pending {
            Some(p) => p.send().await.is_err(),
            None => {
                log::warn("dropped a kept webhook past its bounds (age or tries)", "");
                false
            }
        };
        // The transaction is opened after the send: one cannot stay open across a network wait.
        let store = idb::store(&db, idb::QUEUE, true)?;
        let key = js::at(&keys, i);
        let request = match pending {
            Some(p) if failed => {
                js::set(&p.0, "tries", &JsValue::from(p.tries() + 1));
                js::call_2(&store, "put", p.to_js(), &key)?
            }
            _ => js::call(&store, "delete", &key)?,
        };
        idb::done(&request).await?;
    }
    Ok(())
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
