//! The push payload, in hookline's documented JSON or OneSignal's minified form, and the
//! notification it becomes.

use alloc::string::String;
use wasm_bindgen::JsValue;

use crate::js;

/// What a notification carries from its push to its webhooks. It stays a JS object, the copy
/// kept on the shown notification (`notification.data.hookline`), so a click or a close hours
/// later still has it: `{id, heading, content, url, icon, data, key}`, each only when the push
/// had it (`key` tells one shown notification from another, since ids may repeat or be absent;
/// it is never sent). Kept in JS rather than as Rust strings: the fields only pass through.
#[derive(Debug)]
pub struct Notification {
    kept: JsValue,
    /// Action buttons as `showNotification` takes them, `[{action, title, icon}]`; only needed to
    /// show the notification, so not kept on it.
    pub actions: JsValue,
}

const NOT_AN_OBJECT: &str = "push payload is not a JSON object";
const NOT_A_STRING: &str = "push payload has a field that should be a string and is not";
const BAD_BUTTONS: &str = "push payload's buttons are not a list of {id, text, icon}";

/// The text fields, in the webhook's order.
pub const TEXT: [&str; 5] = ["id", "heading", "content", "url", "icon"];

/// `o[key]` when it is a string, `None` when absent or null, an error for anything else.
fn text(o: &JsValue, key: &str) -> Result<Option<JsValue>, &'static str> {
    let v = js::get(o, key);
    if js::is_none(&v) {
        return Ok(None);
    }
    if v.is_string() {
        Ok(Some(v))
    } else {
        Err(NOT_A_STRING)
    }
}

/// Reads a list of buttons, with the keys of the format at hand (`id, text, icon` or `i, n, p`).
fn actions(list: &JsValue, [id, text_key, icon]: [&str; 3]) -> Result<JsValue, &'static str> {
    let actions = js::array();
    if js::is_none(list) {
        return Ok(actions);
    }
    if !js::is_array(list) {
        return Err(BAD_BUTTONS);
    }
    for i in 0..js::length(list) {
        let b = js::at(list, i);
        let id = text(&b, id).ok().flatten().ok_or(BAD_BUTTONS)?;
        let title = text(&b, text_key)?.unwrap_or_else(|| js::text(""));
        let action = js::object();
        js::set(&action, "action", &id);
        js::set(&action, "title", &title);
        if let Some(icon) = text(&b, icon)? {
            js::set(&action, "icon", &icon);
        }
        let _ = js::call(&actions, "push", &action);
    }
    Ok(actions)
}

impl Notification {
    /// Reads a push payload in either format; OneSignal's is recognised by its `custom` field.
    /// The error is a reason fit for the console.
    pub fn from_push(payload: impl Into<JsValue>) -> Result<Notification, &'static str> {
        let o = js::parse(&payload.into())
            .filter(js::is_object)
            .ok_or(NOT_AN_OBJECT)?;
        let custom = js::get(&o, "custom");
        if custom.is_undefined() {
            return Notification::read(
                [&o; 5],
                TEXT,
                js::get(&o, "data"),
                js::get(&o, "buttons"),
                ["id", "text", "icon"],
            );
        }
        // OneSignal sends `custom` as an object; some of its SDKs send it as a JSON string.
        let custom = if custom.is_string() {
            js::parse(&custom).unwrap_or(JsValue::NULL)
        } else {
            custom
        };
        if !js::is_object(&custom) {
            return Err("push payload's OneSignal `custom` field is not an object");
        }
        Notification::read(
            [&custom, &o, &o, &custom, &o],
            ["i", "title", "alert", "u", "icon"],
            js::get(&custom, "a"),
            js::get(&o, "o"),
            ["i", "n", "p"],
        )
    }

    /// Reads the [`TEXT`] fields from `sources[i][keys[i]]`, the data and the buttons.
    fn read(
        sources: [&JsValue; 5],
        keys: [&str; 5],
        data: JsValue,
        buttons: JsValue,
        button_keys: [&str; 3],
    ) -> Result<Notification, &'static str> {
        let kept = js::object();
        for (field, (source, key)) in TEXT.iter().zip(sources.iter().zip(keys.iter())) {
            if let Some(v) = text(source, key)? {
                js::set(&kept, field, &v);
            }
        }
        if !js::is_none(&data) {
            js::set(&kept, "data", &data);
        }
        Ok(Notification {
            kept,
            actions: actions(&buttons, button_keys)?,
        })
    }

    /// A text field (one of [`TEXT`], or `key`), when the notification has it.
    pub fn text(&self, field: &str) -> Option<String> {
        self.field(field).as_string()
    }

    /// A field, as it is (`undefined` when absent).
    pub fn field(&self, field: &str) -> JsValue {
        js::get(&self.kept, field)
    }

    /// Copies a field it has (one of [`TEXT`], `data` or `key`) to `to[key]`, as it is.
    pub fn copy_to(&self, to: &JsValue, key: &str, field: &str) {
        let v = js::get(&self.kept, field);
        if !v.is_undefined() {
            js::set(to, key, &v);
        }
    }

    /// The sender's custom data, as it came (`undefined` when absent or null).
    pub fn data(&self) -> JsValue {
        js::get(&self.kept, "data")
    }

    /// Sets the key that tells this shown notification from others.
    pub fn set_key(&self, key: &JsValue) {
        js::set(&self.kept, "key", key);
    }

    /// The copy kept on the shown notification.
    pub fn to_kept(&self) -> &JsValue {
        &self.kept
    }

    /// Reads the copy kept on a shown notification.
    pub fn from_kept(kept: &JsValue) -> Option<Notification> {
        js::is_object(kept).then(|| Notification {
            kept: kept.clone(),
            actions: js::array(),
        })
    }
}
