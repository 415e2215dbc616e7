//! The few IndexedDB calls hookline needs: one database, a key-value store for the config and an
//! auto-numbered store for the retry queue.

use wasm_bindgen::prelude::*;
use web_sys::{IdbDatabase, IdbObjectStore, IdbRequest};

use crate::Local;
use crate::task::Wait;

const NAME: &str = "hookline";
/// Holds the config under [`CONFIG_KEY`].
pub const KV: &str = "kv";
/// Holds webhooks waiting to be sent again.
pub const QUEUE: &str = "queue";
pub const CONFIG_KEY: &str = "config";

/// The open database, kept for the life of the worker instance.
static DB: Local<Option<IdbDatabase>> = Local::new(None);

/// Waits for a request and gives its result. The request's handlers are attached at once, so
/// requests made together can be awaited in any order.
pub fn done(request: &IdbRequest) -> Wait {
    Wait::request(request)
}

/// Opens (creating or upgrading it the first time) hookline's database.
pub async fn open() -> Result<IdbDatabase, JsValue> {
    if let Some(db) = DB.with(|db| db.clone()) {
        return Ok(db);
    }
    let request = crate::js::open_db(NAME, 1)?;
    let upgrade = {
        let request = request.clone();
        Closure::once(move || {
            if let Ok(db) = request.result().map(IdbDatabase::unchecked_from_js) {
                // One `createObjectStore` call for both, its parameters a plain object.
                let params: JsValue = js_sys::Object::new().into();
                let _ = db.create_object_store_with_optional_parameters(KV, params.unchecked_ref());
                crate::js::set(&params, "autoIncrement", &JsValue::TRUE);
                let _ =
                    db.create_object_store_with_optional_parameters(QUEUE, params.unchecked_ref());
            }
        })
    };
    request.set_onupgradeneeded(Some(upgrade.as_ref().unchecked_ref()));
    let db: IdbDatabase = done(&request).await?.unchecked_into();
    request.set_onupgradeneeded(None);
    DB.with(|slot| *slot = Some(db.clone()));
    Ok(db)
}

#[wasm_bindgen]
extern "C" {
    /// A database, as far as [`store`] uses it.
    type Database;
    /// `db.transaction(name, mode)`, the mode by its name: web-sys's enum brings a table of
    /// every mode into the glue.
    #[wasm_bindgen(method, catch)]
    fn transaction(
        this: &Database,
        name: &str,
        mode: &str,
    ) -> Result<web_sys::IdbTransaction, JsValue>;
}

/// One store in a new transaction.
pub fn store(db: &IdbDatabase, name: &str, write: bool) -> Result<IdbObjectStore, JsValue> {
    let mode = if write { "readwrite" } else { "readonly" };
    let transaction = db
        .unchecked_ref::<Database>()
        .transaction(name, mode)
        .inspect_err(|_| {
            // The connection was closed under us (storage cleared, say): open anew next time.
            DB.with(|slot| *slot = None);
        })?;
    transaction.object_store(name)
}

/// The value saved under `key` in the key-value store (`undefined` when none).
pub async fn get(key: &str) -> Result<JsValue, JsValue> {
    let db = open().await?;
    done(&store(&db, KV, false)?.get(&JsValue::from_str(key))?).await
}

/// Saves `value` under `key` in the key-value store.
pub async fn put(key: &str, value: &JsValue) -> Result<(), JsValue> {
    let db = open().await?;
    let store = store(&db, KV, true)?;
    done(&store.put_with_key(value, &JsValue::from_str(key))?).await?;
    Ok(())
}
