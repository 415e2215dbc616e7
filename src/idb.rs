//! The few IndexedDB calls hookline needs: one database, a key-value store for the config and an
//! auto-numbered store for the retry queue.

use wasm_bindgen::prelude::*;

use crate::task::Wait;
use crate::{Local, js};

const NAME: &str = "hookline";
/// Holds the config under [`CONFIG_KEY`].
pub const KV: &str = "kv";
/// Holds webhooks waiting to be sent again.
pub const QUEUE: &str = "queue";
pub const CONFIG_KEY: &str = "config";

/// The open database, kept for the life of the worker instance.
static DB: Local<Option<JsValue>> = Local::new(None);

/// Waits for a request and gives its result. The request's handlers are attached at once, so
/// requests made together can be awaited in any order.
pub fn done(request: &JsValue) -> Wait {
    Wait::request(request)
}

/// Opens (creating it the first time) hookline's database.
pub async fn open() -> Result<JsValue, JsValue> {
    if let Some(db) = DB.with(|db| db.clone()) {
        return Ok(db);
    }
    let request = js::open_db(NAME, 1)?;
    // The first of `upgradeneeded` and `success` settles this wait; the handlers are replaced
    // (below) before the other can come.
    let first = done(&request);
    js::set(&request, "onupgradeneeded", &js::get(&request, "onsuccess"));
    let mut db = first.await?;
    if !js::is_none(&js::get(&request, "transaction")) {
        // A new database, in its upgrade: its stores are made now, then it opens. One
        // `createObjectStore` call for both, its parameters a plain object.
        let params = js::object();
        let _ = js::call_2(&db, "createObjectStore", &js::text(KV), &params);
        js::set(&params, "autoIncrement", &JsValue::TRUE);
        let _ = js::call_2(&db, "createObjectStore", &js::text(QUEUE), &params);
        db = done(&request).await?;
    }
    DB.with(|slot| *slot = Some(db.clone()));
    Ok(db)
}

/// One store in a new transaction.
pub fn store(db: &JsValue, name: &str, write: bool) -> Result<JsValue, JsValue> {
    let mode = if write { "readwrite" } else { "readonly" };
    let name = js::text(name);
    let transaction = js::call_2(db, "transaction", &name, &js::text(mode)).inspect_err(|_| {
        // The connection was closed under us (storage cleared, say): open anew next time.
        DB.with(|slot| *slot = None);
    })?;
    js::call(&transaction, "objectStore", &name)
}

/// The value saved under `key` in the key-value store (`undefined` when none).
pub async fn get(key: &str) -> Result<JsValue, JsValue> {
    let db = open().await?;
    done(&js::call(&store(&db, KV, false)?, "get", &js::text(key))?).await
}

/// Saves `value` under `key` in the key-value store.
pub async fn put(key: &str, value: &JsValue) -> Result<(), JsValue> {
    let db = open().await?;
    let store = store(&db, KV, true)?;
    done(&js::call_2(&store, "put", value, &js::text(key))?).await?;
    Ok(())
}
