//! The push payload, in hookline's documented JSON or OneSignal's minified form, and the
//! notification it becomes, each field within its bound.

use alloc::string::String;
use wasm_bindgen::JsValue;

use crate::{js, log};

/// What a notification carries from its push to its webhooks. It stays a JS object, the copy
/// kept on the shown notification (`notification.data.hookline`), so a click or a close hours
/// later still has it: `{id, heading, content, url, icon, data, b, key}` (`b`: the buttons' URLs by
/// their ids, when any has one), each only when the push
/// had it and within its bound (`key` tells one shown notification from another, since ids may
/// repeat or be absent; it is never sent). Kept in JS rather than as Rust strings: the fields
/// only pass through.
#[derive(Debug)]
pub struct Notification {
    kept: JsValue,
    /// Action buttons as `showNotification` takes them, `[{action, title, icon}]`; only needed to
    /// show the notification, so not kept on it.
    pub actions: JsValue,
}

const NOT_AN_OBJECT: &str = "push payload is not a JSON object";
const NOT_A_STRING: &str = "push payload has a field that should be a string";
const BAD_BUTTONS: &str = "push payload's buttons are not a list of {id, text}";

/// The largest payload read, in UTF-16 units (a JS string's length). Push services take payloads
/// of about 4 KB at most, so only a push from elsewhere (DevTools, a page's demo push) is larger;
/// it is not parsed at all.
pub const MAX_PAYLOAD: u32 = 65_536;
const TOO_LARGE: &str = "push payload is over 65536 characters; not read";

/// A field's bound, in bytes of UTF-8, as the server's bridge takes them.
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    pub bytes: u32,
    /// Whether a longer value is cut at a character (text reads as well shorter) rather than
    /// dropped (a cut id or URL would be another one).
    pub cut: bool,
}

const fn cut(bytes: u32) -> Bound {
    Bound { bytes, cut: true }
}

const fn whole(bytes: u32) -> Bound {
    Bound { bytes, cut: false }
}

/// The text fields, in the webhook's order.
pub const TEXT: [&str; 5] = ["id", "heading", "content", "url", "icon"];
/// The bounds of the [`TEXT`] fields.
pub const TEXT_BOUNDS: [Bound; 5] = [whole(256), cut(2048), cut(4096), whole(4096), whole(4096)];
/// `data`'s bound, as JSON.
pub const DATA_BOUND: Bound = whole(8192);
/// A button's id (a click's `action`), text and icon: as `action`, `heading` and `icon`.
pub const BUTTON_BOUNDS: [Bound; 3] = [whole(256), cut(2048), whole(4096)];

impl Bound {
    /// `v`, a JS string, within the bound: cut or `None` past it, which is logged naming `field`.
    fn apply(self, v: JsValue, field: &str) -> Option<JsValue> {
        let fit = js::utf8_fit(&v, self.bytes);
        if fit == js::length(&v) {
            return Some(v);
        }
        if !self.cut {
            log::warn("push payload field over its bound, dropped: ", field);
            return None;
        }
        log::warn("push payload field over its bound, cut: ", field);
        Some(js::call_2(&v, "slice", &JsValue::from(0), &JsValue::from(fit)).unwrap_or_default())
    }
}

/// `o[key]` within `bound` when it is a string, `None` when absent or null (or dropped past its
/// bound), an error for anything else. `field` names it in the log.
fn text(
    o: &JsValue,
    key: &str,
    bound: Bound,
    field: &str,
) -> Result<Option<JsValue>, &'static str> {
    let v = js::get(o, key);
    if js::is_none(&v) {
        return Ok(None);
    }
    if v.is_string() {
        Ok(bound.apply(v, field))
    } else {
        Err(NOT_A_STRING)
    }
}

/// Reads a list of buttons, with the keys of the format at hand (`id, text, icon, url` or
/// `i, n, p, u`): the actions to show, and each button's URL by its id in `urls`.
fn actions(
    list: &JsValue,
    [id, text_key, icon, url]: [&str; 4],
    urls: &JsValue,
) -> Result<JsValue, &'static str> {
    let actions = js::array();
    if js::is_none(list) {
        return Ok(actions);
    }
    if !js::is_array(list) {
        return Err(BAD_BUTTONS);
    }
    let [id_bound, text_bound, icon_bound] = BUTTON_BOUNDS;
    for i in 0..js::length(list) {
        let b = js::at(list, i);
        // A button without a string id is refused; one whose id is past its bound is dropped.
        let v = js::get(&b, id);
        if !v.is_string() {
            return Err(BAD_BUTTONS);
        }
        let Some(id) = id_bound.apply(v, "buttons") else {
            continue;
        };
        let title = text(&b, text_key, text_bound, "buttons")?.unwrap_or_else(|| js::text(""));
        let action = js::object();
        js::set(&action, "action", &id);
        js::set(&action, "title", &title);
        if let Some(icon) = text(&b, icon, icon_bound, "buttons")? {
            js::set(&action, "icon", &icon);
        }
        if let Some(url) = text(&b, url, TEXT_BOUNDS[3], "buttons")? {
            js::set_key(urls, &id, &url);
        }
        let _ = js::call(&actions, "push", &action);
    }
    Ok(actions)
}

impl Notification {
    /// Reads a push payload (a JS string) in either format; OneSignal's is recognised by its
    /// `custom` field. Each field is kept within its bound (see [`TEXT_BOUNDS`]); a payload over
    /// [`MAX_PAYLOAD`] is refused unread. The error is a reason fit for the console.
    pub fn from_push(payload: impl Into<JsValue>) -> Result<Notification, &'static str> {
        let payload = payload.into();
        if js::length(&payload) > MAX_PAYLOAD {
            return Err(TOO_LARGE);
        }
        let o = js::parse(&payload)
            .filter(js::is_object)
            .ok_or(NOT_AN_OBJECT)?;
        let custom = js::get(&o, "custom");
        if custom.is_undefined() {
            return Notification::read(
                [&o; 5],
                TEXT,
                js::get(&o, "data"),
                js::get(&o, "buttons"),
                ["id", "text", "icon", "url"],
            );
        }
        // OneSignal sends `custom` as an object; some of its SDKs send it as a JSON string.
        let custom = if custom.is_string() {
            js::parse(&custom).unwrap_or(JsValue::NULL)
        } else {
            custom
        };
        if !js::is_object(&custom) {
            return Err("push payload's `custom` is not an object");
        }
        Notification::read(
            [&custom, &o, &o, &custom, &o],
            ["i", "title", "alert", "u", "icon"],
            js::get(&custom, "a"),
            js::get(&o, "o"),
            ["i", "n", "p", "u"],
        )
    }

    /// Reads the [`TEXT`] fields from `sources[i][keys[i]]`, the data and the buttons, each
    /// within its bound.
    fn read(
        sources: [&JsValue; 5],
        keys: [&str; 5],
        data: JsValue,
        buttons: JsValue,
        button_keys: [&str; 4],
    ) -> Result<Notification, &'static str> {
        let kept = js::object();
        let fields = TEXT.iter().zip(TEXT_BOUNDS);
        for ((field, bound), (source, key)) in fields.zip(sources.iter().zip(keys.iter())) {
            if let Some(v) = text(source, key, bound, field)? {
                js::set(&kept, field, &v);
            }
        }
        if !js::is_none(&data) && DATA_BOUND.apply(js::stringify_js(&data), "data").is_some() {
            js::set(&kept, "data", &data);
        }
        let urls = js::object();
        let actions = actions(&buttons, button_keys, &urls)?;
        if js::length(&js::keys(&urls)) > 0 {
            js::set(&kept, "b", &urls);
        }
        Ok(Notification { kept, actions })
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
