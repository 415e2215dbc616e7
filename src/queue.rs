//! Webhooks that failed on the network, kept in IndexedDB and sent again on later worker events.
//! Bounded so a dead receiver cannot grow it without end: at most [`MAX_PENDING`] entries (the
//! oldest go first), none older than [`MAX_AGE_MS`], none tried more than [`MAX_TRIES`] times.

use alloc::borrow::ToOwned;
use alloc::string::String;
use alloc::vec::Vec;
use core::future::Future;

use wasm_bindgen::prelude::*;

use crate::{Local, idb, js, log, webhook};

pub const MAX_PENDING: u32 = 50;
pub const MAX_AGE_MS: f64 = 24.0 * 60.0 * 60.0 * 1000.0;
pub const MAX_TRIES: u32 = 10;

/// A webhook waiting to be sent again, with what is needed to rebuild its request.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    pub url: String,
    pub cors: bool,
    pub event: String,
    pub body: String,
    /// When it first failed (ms since the epoch).
    pub at: f64,
    pub tries: u32,
}

impl Pending {
    /// Whether it is still worth sending at `now`. A clock that went backwards keeps it.
    pub fn keep(&self, now: f64) -> bool {
        self.tries < MAX_TRIES && now - self.at <= MAX_AGE_MS
    }

    /// The stored form: `{url, cors, event, body, at, tries}`.
    pub fn to_js(&self) -> JsValue {
        let o: JsValue = js_sys::Object::new().into();
        js::set_str(&o, "url", Some(&self.url));
        js::set(&o, "cors", &JsValue::from_bool(self.cors));
        js::set_str(&o, "event", Some(&self.event));
        js::set_str(&o, "body", Some(&self.body));
        js::set(&o, "at", &JsValue::from_f64(self.at));
        js::set(&o, "tries", &JsValue::from(self.tries));
        o
    }

    /// Reads the stored form; `None` for anything else (an entry from another version, say).
    pub fn from_js(v: &JsValue) -> Option<Pending> {
        let text = |key| js::opt_str(v, key).ok().flatten();
        Some(Pending {
            url: text("url")?,
            cors: js::get(v, "cors").as_bool()?,
            event: text("event")?,
            body: text("body")?,
            at: js::get(v, "at").as_f64()?,
            tries: js::get(v, "tries").as_f64()? as u32,
        })
    }
}

/// One flush at a time per worker instance, so no entry is sent twice by overlapping events.
static FLUSHING: Local<bool> = Local::new(false);

/// Sends a webhook: the request is issued now; the returned future settles it, keeping it for a
/// later event when it fails on the network.
pub fn send(
    url: String,
    cors: bool,
    event: &'static str,
    body: String,
) -> impl Future<Output = ()> {
    let request = webhook::send(&url, cors, event, &body);
    async move {
        let Err(e) = request.await else {
            return;
        };
        log::warn_js("webhook failed, kept to send again: ", &e);
        let pending = Pending {
            url,
            cors,
            event: event.to_owned(),
            body,
            at: js_sys::Date::now(),
            tries: 1,
        };
        if let Err(e) = push(&pending).await {
            log::warn_js("could not keep a failed webhook: ", &e);
        }
    }
}

/// Adds an entry, dropping the oldest beyond [`MAX_PENDING`].
pub async fn push(pending: &Pending) -> Result<(), JsValue> {
    let db = idb::open().await?;
    let store = idb::store(&db, idb::QUEUE, true)?;
    idb::done(&store.add(&pending.to_js())?).await?;
    let keys: js_sys::Array = idb::done(&store.get_all_keys()?).await?.unchecked_into();
    let excess = keys.length().saturating_sub(MAX_PENDING);
    for key in keys.iter().take(excess as usize) {
        log::warn("retry queue full, dropped the oldest webhook", "");
        store.delete(&key)?;
    }
    Ok(())
}

/// Every entry with its key, oldest first.
pub async fn entries() -> Result<Vec<(JsValue, Option<Pending>)>, JsValue> {
    let db = idb::open().await?;
    let store = idb::store(&db, idb::QUEUE, false)?;
    let keys = idb::done(&store.get_all_keys()?);
    let values: js_sys::Array = idb::done(&store.get_all()?).await?.unchecked_into();
    let keys: js_sys::Array = keys.await?.unchecked_into();
    Ok(keys
        .iter()
        .zip(values.iter())
        .map(|(k, v)| (k, Pending::from_js(&v)))
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
    let entries = entries().await?;
    if entries.is_empty() {
        return Ok(());
    }
    let db = idb::open().await?;
    for (key, pending) in entries {
        let Some(mut p) = pending.filter(|p| p.keep(js_sys::Date::now())) else {
            log::warn("dropped a kept webhook past its bounds (age or tries)", "");
            idb::done(&idb::store(&db, idb::QUEUE, true)?.delete(&key)?).await?;
            continue;
        };
        let sent = webhook::send(&p.url, p.cors, &p.event, &p.body).await;
        // The transaction is opened after the send: one cannot stay open across a network wait.
        let store = idb::store(&db, idb::QUEUE, true)?;
        let request = if sent.is_ok() {
            store.delete(&key)?
        } else {
            p.tries += 1;
            store.put_with_key(&p.to_js(), &key)?
        };
        idb::done(&request).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(at: f64, tries: u32) -> Pending {
        Pending {
            url: "https://a.test/".into(),
            cors: false,
            event: "notification.displayed".into(),
            body: "{}".into(),
            at,
            tries,
        }
    }

    #[test]
    fn keeps_entries_within_age_and_tries() {
        let now = 10.0 * MAX_AGE_MS;
        assert!(pending(now, 1).keep(now));
        assert!(pending(now - MAX_AGE_MS, MAX_TRIES - 1).keep(now));
        assert!(!pending(now - MAX_AGE_MS - 1.0, 1).keep(now));
        assert!(!pending(now, MAX_TRIES).keep(now));
        assert!(pending(now + 5.0, 1).keep(now));
    }
}
