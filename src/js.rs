//! The module's bindings to the browser, and small helpers over JS values. JSON is the browser's
//! own `JSON`, not serde_json.
//!
//! The bindings are few and generic on purpose: every import costs a function in the JS glue, so
//! properties are read as `o[key]` and written with `Reflect.set`, and methods are called by
//! name ([`call`]); values stay JS values (no string is copied out of JS, which would bring an
//! encoder into the glue and growth code into the module). js-sys and web-sys are not used for
//! the same reason.
//!
//! In the package (`--cfg hookline_bundle`), the JS values the module is given last until the call
//! from JS during which they were made returns: the glue then frees them all at once (an arena per
//! call, `scripts/wasm-names.mjs`), and the module drops none itself, which takes about 1.5 kB
//! gzip off the package. So no JS value may be kept in Rust past that call (in a [`crate::Local`], say):
//! what must outlive it is kept by JS, as a step's context ([`crate::task`]) or on the glue's
//! object, as [`crate::idb`] keeps its database. The tests' module drops each value as
//! wasm-bindgen does.

use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    /// Any JS value, for calling it.
    type Callable;
    /// `f.call(this, a)`.
    #[wasm_bindgen(method, catch, js_name = call)]
    fn call1(this: &Callable, this_arg: &JsValue, a: &JsValue) -> Result<JsValue, JsValue>;
    /// `f.call(this, a, b)`.
    #[wasm_bindgen(method, catch, js_name = call)]
    fn call2(
        this: &Callable,
        this_arg: &JsValue,
        a: &JsValue,
        b: &JsValue,
    ) -> Result<JsValue, JsValue>;
    /// `f.call(this, a, b, c)`.
    #[wasm_bindgen(method, catch, js_name = call)]
    fn call3(
        this: &Callable,
        this_arg: &JsValue,
        a: &JsValue,
        b: &JsValue,
        c: &JsValue,
    ) -> Result<JsValue, JsValue>;

    /// `o[key]`: unlike `Reflect.get`, it also reads a string's properties.
    #[wasm_bindgen(method, catch, structural, indexing_getter)]
    fn index(this: &Callable, key: &JsValue) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(catch, js_namespace = Reflect, js_name = set)]
    fn reflect_set(o: &JsValue, key: &JsValue, value: &JsValue) -> Result<JsValue, JsValue>;

    /// `Object()`: a new plain object.
    #[wasm_bindgen(js_name = Object)]
    pub fn object() -> JsValue;
    /// `Array()`: a new array.
    #[wasm_bindgen(js_name = Array)]
    pub fn array() -> JsValue;
    /// `Array.isArray(v)`.
    #[wasm_bindgen(js_namespace = Array, js_name = isArray)]
    pub fn is_array(v: &JsValue) -> bool;
    /// `Object.keys(o)`.
    #[wasm_bindgen(js_namespace = Object, js_name = keys)]
    pub fn keys(o: &JsValue) -> JsValue;
    /// Whether `v` is a finite number (`Number.isFinite(v)`).
    #[wasm_bindgen(js_namespace = Number, js_name = isFinite)]
    pub fn is_number(v: &JsValue) -> bool;
    /// `Number(v)`.
    #[wasm_bindgen(js_name = Number)]
    pub fn number(v: &JsValue) -> f64;

    /// `JSON.parse(text)`, the text a JS string.
    #[wasm_bindgen(catch, js_namespace = JSON, js_name = parse)]
    fn parse_js(text: &JsValue) -> Result<JsValue, JsValue>;
    /// `JSON.stringify(v)`; hookline only gives it JSON data.
    #[wasm_bindgen(js_namespace = JSON, js_name = stringify)]
    pub fn stringify_js(v: &JsValue) -> JsValue;

    /// `new URL(url, base)`.
    #[wasm_bindgen(js_name = URL)]
    type Url;
    #[wasm_bindgen(catch, constructor, js_class = URL)]
    fn new(url: &JsValue, base: &JsValue) -> Result<Url, JsValue>;

    /// `new TextEncoder()`.
    #[wasm_bindgen(js_name = TextEncoder)]
    type Encoder;
    #[wasm_bindgen(constructor, js_class = TextEncoder)]
    fn new() -> Encoder;
    /// `new Uint8Array(length)`.
    #[wasm_bindgen(js_name = Uint8Array)]
    type Bytes;
    #[wasm_bindgen(constructor, js_class = Uint8Array)]
    fn new(length: u32) -> Bytes;

    /// `new Promise(executor)`.
    #[wasm_bindgen(js_name = Promise)]
    type Made;
    #[wasm_bindgen(constructor, js_class = Promise)]
    fn new(executor: &JsValue) -> Made;
    /// `Promise.reject(e)`.
    #[wasm_bindgen(js_namespace = Promise, js_name = reject)]
    pub fn reject(e: &JsValue) -> JsValue;
    /// `Promise.resolve(v)`.
    #[wasm_bindgen(js_namespace = Promise, js_name = resolve)]
    pub fn resolved(v: &JsValue) -> JsValue;
    /// `Promise.all(promises)`.
    #[wasm_bindgen(js_namespace = Promise, js_name = all)]
    pub fn all(promises: &JsValue) -> JsValue;
    /// `AbortSignal.timeout(ms)`: a signal that aborts a request after `ms` milliseconds.
    #[wasm_bindgen(js_namespace = AbortSignal, js_name = timeout)]
    pub fn timeout_signal(ms: u32) -> JsValue;

    /// `Date.now()`.
    #[wasm_bindgen(js_namespace = Date)]
    pub fn now() -> f64;

    /// `console.warn(a)`.
    #[wasm_bindgen(js_namespace = console, js_name = warn)]
    pub fn warn1(a: &JsValue);
    /// `console.warn(a, b)`.
    #[wasm_bindgen(js_namespace = console, js_name = warn)]
    pub fn warn2(a: &JsValue, b: &JsValue);

    // The worker's globals, reached by name as a worker script reaches them.
    /// `location.valueOf()`: the worker's `location` itself (the worker script's URL).
    #[wasm_bindgen(js_namespace = location, js_name = valueOf)]
    pub fn location() -> JsValue;
    /// `registration.showNotification(title, options)`.
    #[wasm_bindgen(catch, js_namespace = registration, js_name = showNotification)]
    pub fn show_notification(title: &JsValue, options: &JsValue) -> Result<JsValue, JsValue>;
    /// `indexedDB.open(name, version)`.
    #[wasm_bindgen(catch, js_namespace = indexedDB, js_name = open)]
    pub fn open_db(name: &str, version: u32) -> Result<JsValue, JsValue>;
    /// `crypto.randomUUID()`.
    #[wasm_bindgen(js_namespace = crypto, js_name = randomUUID)]
    pub fn random_uuid() -> JsValue;
    /// `fetch(url, init)`.
    pub fn fetch(url: &JsValue, init: &JsValue) -> JsValue;
}

/// A JS string.
pub fn text(s: &str) -> JsValue {
    JsValue::from_str(s)
}

/// `o[key]`, or `undefined`.
pub fn get(o: &JsValue, key: &str) -> JsValue {
    get_key(o, &text(key))
}

/// `o[key]`, the key a JS value, or `undefined` (when `o` is `undefined` or `null`).
pub fn get_key(o: &JsValue, key: &JsValue) -> JsValue {
    o.unchecked_ref::<Callable>()
        .index(key)
        .unwrap_or(JsValue::UNDEFINED)
}

/// `o[i]`, or `undefined`.
pub fn at(o: &JsValue, i: u32) -> JsValue {
    get_key(o, &JsValue::from(i))
}

/// `o.length` (0 when it has none).
pub fn length(o: &JsValue) -> u32 {
    number(&get(o, "length")) as u32
}

/// `o[key] = value`.
pub fn set(o: &JsValue, key: &str, value: &JsValue) {
    set_key(o, &text(key), value);
}

/// `o[key] = value`, the key a JS value.
pub fn set_key(o: &JsValue, key: &JsValue, value: &JsValue) {
    let _ = reflect_set(o, key, value);
}

/// `o[key] = value` when there is a value.
pub fn set_str(o: &JsValue, key: &str, value: Option<&str>) {
    if let Some(value) = value {
        set(o, key, &text(value));
    }
}

/// `o.method(a)`; a method without arguments is given `undefined`, which the browser's methods
/// take as no argument.
pub fn call(o: &JsValue, method: &str, a: &JsValue) -> Result<JsValue, JsValue> {
    get(o, method).unchecked_ref::<Callable>().call1(o, a)
}

/// `o.method(a, b)`.
pub fn call_2(o: &JsValue, method: &str, a: &JsValue, b: &JsValue) -> Result<JsValue, JsValue> {
    get(o, method).unchecked_ref::<Callable>().call2(o, a, b)
}

/// `o.method(a, b, c)`.
pub fn call_3(
    o: &JsValue,
    method: &str,
    a: &JsValue,
    b: &JsValue,
    c: &JsValue,
) -> Result<JsValue, JsValue> {
    get(o, method).unchecked_ref::<Callable>().call3(o, a, b, c)
}

/// Whether `v` is a plain object (not null, not an array).
pub fn is_object(v: &JsValue) -> bool {
    v.is_object() && !is_array(v)
}

/// Whether `v` is a non-empty string.
pub fn is_name(v: &JsValue) -> bool {
    v.is_string() && v.is_truthy()
}

/// Whether `v` is `undefined` or `null`.
pub fn is_none(v: &JsValue) -> bool {
    v.is_undefined() || v.is_null()
}

/// `JSON.parse(text)`, or `None`.
pub fn parse(text: &JsValue) -> Option<JsValue> {
    parse_js(text).ok()
}

/// `JSON.stringify(v)`, as a Rust string (for tests and comparisons; the module itself keeps
/// JSON as JS strings).
pub fn stringify(v: &JsValue) -> alloc::string::String {
    stringify_js(v).as_string().unwrap_or_default()
}

/// How many UTF-16 units of the JS string `s` make at most `max` bytes of UTF-8, whole
/// characters only: `length(s)` when all of `s` fits.
pub fn utf8_fit(s: &JsValue, max: u32) -> u32 {
    let len = length(s);
    // A UTF-16 unit is at most 3 bytes of UTF-8: a short string needs no encoding.
    if len <= max / 3 {
        return len;
    }
    // `encodeInto` stops before the first character that does not fit and says how far it read.
    let written = call_2(&Encoder::new(), "encodeInto", s, &Bytes::new(max));
    number(&get(&written.unwrap_or_default(), "read")) as u32
}

/// `new URL(url, base)`; `base` may be `undefined`.
pub fn url(url: &JsValue, base: &JsValue) -> Result<JsValue, JsValue> {
    Url::new(url, base).map(Into::into)
}

/// `new Promise(executor)`.
pub fn promise(executor: &JsValue) -> JsValue {
    Made::new(executor).into()
}

/// `a + b`, for JS strings.
pub fn concat(a: &JsValue, b: &JsValue) -> JsValue {
    call(a, "concat", b).unwrap_or(JsValue::UNDEFINED)
}

/// Text that can be compared with a Rust string: a JS value (compared by the browser, with
/// nothing copied out of JS) or, in native unit tests, a Rust `str`.
pub trait Is {
    /// Whether it is the string `s`.
    fn is(&self, s: &str) -> bool;
}

impl Is for JsValue {
    fn is(&self, s: &str) -> bool {
        *self == text(s)
    }
}

impl Is for str {
    fn is(&self, s: &str) -> bool {
        self == s
    }
}
