//! The few IndexedDB calls hookline needs: one database, a key-value store for the config and an
//! auto-numbered store for the retry queue. Requests are given as promises.

use wasm_bindgen::prelude::*;

use crate::js::{self, Is};
use crate::task::{self, Outcome};

const NAME: &str = "hookline";
/// Holds the config under [`CONFIG_KEY`].
pub const KV: &str = "kv";
/// Holds webhooks waiting to be sent again.
pub const QUEUE: &str = "queue";
pub const CONFIG_KEY: &str = "config";

/// The promise of the open database, kept for the life of the worker instance. In the package a
/// JS value lasts only until the call from JS that made it returns (see [`js`]), so it is kept by
/// JS, on the glue's object; the tests' module keeps it itself.
#[cfg(hookline_bundle)]
mod kept {
    use wasm_bindgen::JsValue;

    use crate::{js, task};

    pub fn db() -> Option<JsValue> {
        let db = js::get(&task::exports(), "db");
        (!db.is_undefined()).then_some(db)
    }

    pub fn keep_db(db: Option<&JsValue>) {
        js::set(&task::exports(), "db", db.unwrap_or(&JsValue::UNDEFINED));
    }
}

#[cfg(not(hookline_bundle))]
mod kept {
    use wasm_bindgen::JsValue;

    use crate::Local;

    static DB: Local<Option<JsValue>> = Local::new(None);

    pub fn db() -> Option<JsValue> {
        DB.get()
    }

    pub fn keep_db(db: Option<&JsValue>) {
        DB.replace(db.cloned());
    }
}

/// A promise of a request's result, or of a transaction's end (`undefined`); it rejects with the
/// error (or abort) event. The handlers are attached at once, so requests made together can be
/// waited for in any order.
pub fn done(request: &JsValue) -> JsValue {
    let event = js::promise(&task::bind(attach, request));
    task::then(&event, Some(result), None, request)
}

/// A promise's executor: the request's success or error event, or the transaction's complete,
/// error or abort event, settles it.
fn attach(request: &JsValue, resolve: JsValue) -> Outcome {
    for on in ["onsuccess", "oncomplete", "onerror", "onabort"] {
        js::set(request, on, &resolve);
    }
    Ok(JsValue::UNDEFINED)
}

fn result(request: &JsValue, event: JsValue) -> Outcome {
    let kind = js::get(&event, "type");
    if kind.is("success") || kind.is("complete") {
        Ok(js::get(request, "result"))
    } else {
        Err(event)
    }
}

/// A promise that settles once the transaction of `store` has committed (or failed).
pub fn committed(store: &JsValue) -> JsValue {
    done(&js::get(store, "transaction"))
}

/// A promise of hookline's database, opened (and created, the first time) once.
pub fn open() -> JsValue {
    if let Some(db) = kept::db() {
        return db;
    }
    let request = match js::open_db(NAME, 1) {
        Ok(request) => request,
        Err(e) => return js::reject(&e),
    };
    js::set(&request, "onupgradeneeded", &task::bind(upgrade, &request));
    let db = task::then(&done(&request), None, Some(forget), &JsValue::UNDEFINED);
    kept::keep_db(Some(&db));
    db
}

/// A new database, in its upgrade: its stores. One `createObjectStore` call for both, its
/// parameters a plain object.
fn upgrade(request: &JsValue, _: JsValue) -> Outcome {
    let db = js::get(request, "result");
    let params = js::object();
    let _ = js::call_2(&db, "createObjectStore", &js::text(KV), &params);
    js::set(&params, "autoIncrement", &JsValue::TRUE);
    let _ = js::call_2(&db, "createObjectStore", &js::text(QUEUE), &params);
    Ok(JsValue::UNDEFINED)
}

/// A database that failed to open is opened anew next time.
fn forget(_: &JsValue, e: JsValue) -> Outcome {
    kept::keep_db(None);
    Err(e)
}

/// One store in a new transaction.
pub fn store(db: &JsValue, name: &str, write: bool) -> Result<JsValue, JsValue> {
    let mode = if write { "readwrite" } else { "readonly" };
    let name = js::text(name);
    let transaction = js::call_2(db, "transaction", &name, &js::text(mode)).inspect_err(|_| {
        // The connection was closed under us (storage cleared, say): open anew next time.
        kept::keep_db(None);
    })?;
    js::call(&transaction, "objectStore", &name)
}

/// A promise of the value saved under `key` in the key-value store (`undefined` when none).
pub fn get(key: &str) -> JsValue {
    task::then(&open(), Some(get_from), None, &js::text(key))
}

fn get_from(key: &JsValue, db: JsValue) -> Outcome {
    Ok(done(&js::call(&store(&db, KV, false)?, "get", key)?))
}

/// Saves `value` under `key` in the key-value store; the promise settles when it is saved.
pub fn put(key: &str, value: &JsValue) -> JsValue {
    let entry = js::object();
    js::set(&entry, "k", &js::text(key));
    js::set(&entry, "v", value);
    task::then(&open(), Some(put_into), None, &entry)
}

fn put_into(entry: &JsValue, db: JsValue) -> Outcome {
    let store = store(&db, KV, true)?;
    let request = js::call_2(&store, "put", &js::get(entry, "v"), &js::get(entry, "k"))?;
    Ok(done(&request))
}
