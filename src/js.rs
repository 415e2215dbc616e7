//! Small helpers over JS values. JSON goes through the browser's own `JSON` (js-sys), not
//! serde_json: that keeps the module within its size budget (see `scripts/build-package.sh`).

use alloc::string::String;
use wasm_bindgen::{JsCast, JsValue};

/// `o[key]`, or `undefined`.
pub fn get(o: &JsValue, key: &str) -> JsValue {
    js_sys::Reflect::get(o, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

/// `o[key] = value`.
pub fn set(o: &JsValue, key: &str, value: &JsValue) {
    let _ = js_sys::Reflect::set(o, &JsValue::from_str(key), value);
}

/// `o[key] = value` when there is a value.
pub fn set_str(o: &JsValue, key: &str, value: Option<&str>) {
    if let Some(value) = value {
        set(o, key, &JsValue::from_str(value));
    }
}

/// A field that holds a value of the wrong type.
#[derive(Debug)]
pub struct WrongType;

/// An optional string field: `Ok(None)` when absent or null.
pub fn opt_str(o: &JsValue, key: &str) -> Result<Option<String>, WrongType> {
    let v = get(o, key);
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    v.as_string().map(Some).ok_or(WrongType)
}

/// Whether `v` is a plain object (not null, not an array).
pub fn is_object(v: &JsValue) -> bool {
    v.is_object() && !js_sys::Array::is_array(v)
}

/// `JSON.parse(text)`, or `None`.
pub fn parse(text: &str) -> Option<JsValue> {
    js_sys::JSON::parse(text).ok()
}

/// `JSON.stringify(v)`.
pub fn stringify(v: &JsValue) -> String {
    js_sys::JSON::stringify(v)
        .map(String::from)
        .unwrap_or_default()
}

/// The worker's global scope.
pub fn scope() -> web_sys::ServiceWorkerGlobalScope {
    js_sys::global().unchecked_into()
}
