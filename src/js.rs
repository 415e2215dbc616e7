//! Small helpers over JS values. JSON goes through the browser's own `JSON` (js-sys), not
//! serde_json: that keeps the module within its size budget (see `scripts/build-package.sh`).

use alloc::string::String;
use wasm_bindgen::prelude::*;

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

/// Whether `v` is a plain object (not null, not an array).
pub fn is_object(v: &JsValue) -> bool {
    v.is_object() && !js_sys::Array::is_array(v)
}

/// `JSON.parse(text)`, or `None`.
pub fn parse(text: &JsValue) -> Option<JsValue> {
    parse_js(text).ok()
}

/// `JSON.stringify(v)`.
pub fn stringify(v: &JsValue) -> String {
    js_sys::JSON::stringify(v)
        .map(String::from)
        .unwrap_or_default()
}

// The worker's globals, reached by name as a worker script reaches them: the module needs no
// handle on the global object (js-sys's costs four imports and a lazy static).
#[wasm_bindgen]
extern "C" {
    /// `location.href`: the worker script's URL.
    #[wasm_bindgen(js_namespace = location, js_name = toString)]
    pub fn location_href() -> String;

    /// `registration.showNotification(title, options)`.
    #[wasm_bindgen(catch, js_namespace = registration, js_name = showNotification)]
    pub fn show_notification(
        title: &JsValue,
        options: &JsValue,
    ) -> Result<js_sys::Promise, JsValue>;

    /// `clients.matchAll(options)`.
    #[wasm_bindgen(js_namespace = clients, js_name = matchAll)]
    pub fn match_all(options: &JsValue) -> js_sys::Promise;

    /// `clients.openWindow(url)`.
    #[wasm_bindgen(js_namespace = clients, js_name = openWindow)]
    pub fn open_window(url: &JsValue) -> js_sys::Promise;

    /// `indexedDB.open(name, version)`.
    #[wasm_bindgen(catch, js_namespace = indexedDB, js_name = open)]
    pub fn open_db(name: &str, version: u32) -> Result<web_sys::IdbOpenDbRequest, JsValue>;

    /// `crypto.randomUUID()`.
    #[wasm_bindgen(catch, js_namespace = crypto, js_name = randomUUID)]
    pub fn random_uuid() -> Result<js_sys::JsString, JsValue>;

    /// `JSON.parse(text)`, the text a JS string.
    #[wasm_bindgen(catch, js_namespace = JSON, js_name = parse)]
    fn parse_js(text: &JsValue) -> Result<JsValue, JsValue>;

    /// `fetch(url, init)`.
    pub fn fetch(url: &JsValue, init: &JsValue) -> js_sys::Promise;
}

/// The host (and port) of an absolute URL such as `location.href`.
pub fn host(href: &str) -> &str {
    // Byte by byte: `str`'s pattern searchers would cost more than the rest of this module.
    let scheme = href.bytes().position(|b| b == b':').map_or(0, |i| i + 1);
    let rest = href.get(scheme..).unwrap_or(href).trim_start_matches('/');
    let end = rest.bytes().position(|b| b == b'/').unwrap_or(rest.len());
    rest.get(..end).unwrap_or(rest)
}
