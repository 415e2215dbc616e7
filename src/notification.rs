//! The push payload, in hookline's documented JSON or OneSignal's minified form, and the
//! notification it becomes.

use alloc::string::String;
use alloc::vec::Vec;
use wasm_bindgen::JsValue;

use crate::js;

/// What a notification carries from its push to its webhooks. A copy is kept on the shown
/// notification (`notification.data.hookline`) so a click or a close hours later still has it.
/// A field the push did not have stays `None` (`undefined` for `data`) and is absent from the
/// webhook.
#[derive(Debug)]
pub struct Notification {
    pub id: Option<String>,
    pub heading: Option<String>,
    pub content: Option<String>,
    pub url: Option<String>,
    pub icon: Option<String>,
    /// The sender's custom data, passed through as it came.
    pub data: JsValue,
    /// Action buttons; only needed to show the notification, so not kept on it.
    pub buttons: Vec<Button>,
    /// Tells one shown notification from another (ids may repeat or be absent); never sent.
    pub key: Option<String>,
}

/// An action button: `id` comes back as the clicked webhook's `action`.
#[derive(Debug, PartialEq)]
pub struct Button {
    pub id: String,
    pub text: String,
    pub icon: Option<String>,
}

const NOT_AN_OBJECT: &str = "push payload is not a JSON object";
const NOT_A_STRING: &str = "push payload has a field that should be a string and is not";
const BAD_BUTTONS: &str = "push payload's buttons are not a list of {id, text, icon}";

/// `data` as kept: `undefined` when absent or null.
fn data(o: &JsValue, key: &str) -> JsValue {
    let v = js::get(o, key);
    if v.is_null() { JsValue::UNDEFINED } else { v }
}

fn text(o: &JsValue, key: &str) -> Result<Option<String>, &'static str> {
    js::opt_str(o, key).map_err(|_| NOT_A_STRING)
}

/// Reads a list of buttons, with the keys of the format at hand (`id, text, icon` or `i, n, p`).
fn buttons(list: JsValue, keys: [&str; 3]) -> Result<Vec<Button>, &'static str> {
    if list.is_undefined() || list.is_null() {
        return Ok(Vec::new());
    }
    if !js_sys::Array::is_array(&list) {
        return Err(BAD_BUTTONS);
    }
    js_sys::Array::from(&list)
        .iter()
        .map(|b| {
            let id = text(&b, keys[0]).ok().flatten().ok_or(BAD_BUTTONS)?;
            Ok(Button {
                id,
                text: text(&b, keys[1])?.unwrap_or_default(),
                icon: text(&b, keys[2])?,
            })
        })
        .collect()
}

impl Notification {
    /// Reads a push payload in either format; OneSignal's is recognised by its `custom` field.
    /// The error is a reason fit for the console.
    pub fn from_push(payload: &str) -> Result<Notification, &'static str> {
        let o = js::parse(payload)
            .filter(js::is_object)
            .ok_or(NOT_AN_OBJECT)?;
        let custom = js::get(&o, "custom");
        if custom.is_undefined() {
            return Ok(Notification {
                id: text(&o, "id")?,
                heading: text(&o, "heading")?,
                content: text(&o, "content")?,
                url: text(&o, "url")?,
                icon: text(&o, "icon")?,
                data: data(&o, "data"),
                buttons: buttons(js::get(&o, "buttons"), ["id", "text", "icon"])?,
                key: None,
            });
        }
        // OneSignal sends `custom` as an object; some of its SDKs send it as a JSON string.
        let custom = match custom.as_string() {
            Some(inner) => js::parse(&inner).unwrap_or(JsValue::NULL),
            None => custom,
        };
        if !js::is_object(&custom) {
            return Err("push payload's OneSignal `custom` field is not an object");
        }
        Ok(Notification {
            id: text(&custom, "i")?,
            heading: text(&o, "title")?,
            content: text(&o, "alert")?,
            url: text(&custom, "u")?,
            icon: text(&o, "icon")?,
            data: data(&custom, "a"),
            buttons: buttons(js::get(&o, "o"), ["i", "n", "p"])?,
            key: None,
        })
    }

    /// The copy kept on the shown notification.
    pub fn to_kept(&self) -> JsValue {
        let o = js_sys::Object::new().into();
        js::set_str(&o, "id", self.id.as_deref());
        js::set_str(&o, "heading", self.heading.as_deref());
        js::set_str(&o, "content", self.content.as_deref());
        js::set_str(&o, "url", self.url.as_deref());
        js::set_str(&o, "icon", self.icon.as_deref());
        if !self.data.is_undefined() {
            js::set(&o, "data", &self.data);
        }
        js::set_str(&o, "key", self.key.as_deref());
        o
    }

    /// Reads the copy kept on a shown notification.
    pub fn from_kept(kept: &JsValue) -> Option<Notification> {
        if !js::is_object(kept) {
            return None;
        }
        let text = |key| js::opt_str(kept, key).ok().flatten();
        Some(Notification {
            id: text("id"),
            heading: text("heading"),
            content: text("content"),
            url: text("url"),
            icon: text("icon"),
            data: data(kept, "data"),
            buttons: Vec::new(),
            key: text("key"),
        })
    }
}
