//! The init options a page passes, their validation, and the config saved for the worker.
//!
//! The page script sends its options to the worker, which validates them here and saves the
//! result in IndexedDB: page and worker share this one validation.

use js_sys::JsString;
use wasm_bindgen::{JsCast, JsValue};

use crate::js;
use crate::webhook::Event;

/// The version of [`Config`] this module writes; a config with another is not used.
pub const VERSION: u32 = 1;

/// The config the worker reads when an event fires. It stays the JS object saved in IndexedDB,
/// `{v, appId, userId, cors, webhooks: {"notification.displayed": url, …}}`: its fields only pass
/// through to requests, so they are read when needed rather than copied into Rust strings.
#[derive(Debug, Clone)]
pub struct Config {
    saved: JsValue,
}

/// `o[key]` when it is a string.
fn text(o: &JsValue, key: &str) -> Option<JsString> {
    let v = js::get(o, key);
    v.is_string().then(|| v.unchecked_into())
}

const EVENTS: [Event; 3] = [Event::Displayed, Event::Clicked, Event::Dismissed];

impl Config {
    pub fn app_id(&self) -> JsString {
        text(&self.saved, "appId").unwrap_or_default()
    }

    pub fn user_id(&self) -> JsString {
        text(&self.saved, "userId").unwrap_or_default()
    }

    pub fn cors(&self) -> bool {
        js::get(&self.saved, "cors").is_truthy()
    }

    /// The URL set for `event`, if any (one URL per event, as the seed allows).
    pub fn url(&self, event: Event) -> Option<JsString> {
        text(&js::get(&self.saved, "webhooks"), event.name())
    }

    /// The saved form.
    pub fn to_saved(&self) -> &JsValue {
        &self.saved
    }

    /// Reads a saved config; the error says why it cannot be used (an older version, say).
    pub fn from_saved(saved: &JsValue) -> Result<Config, &'static str> {
        if js::get(saved, "v").as_f64() != Some(VERSION as f64) {
            return Err(
                "saved config was written by another version of hookline; webhooks are off until init runs again",
            );
        }
        // Checked for their types only, with nothing copied out.
        let hooks = js::get(saved, "webhooks");
        let absent_or_string = |v: JsValue| v.is_undefined() || v.is_null() || v.is_string();
        let user_id = js::get(saved, "userId");
        let complete = EVENTS
            .iter()
            .all(|event| absent_or_string(js::get(&hooks, event.name())))
            && js::get(saved, "appId").is_string()
            && user_id.is_string()
            && user_id.is_truthy()
            && js::get(saved, "cors").as_bool().is_some();
        if !complete {
            return Err("saved config is incomplete; webhooks are off until init runs again");
        }
        Ok(Config {
            saved: saved.clone(),
        })
    }

    /// The `userId` of a saved config of any version, so an upgrade keeps the user's id.
    pub fn saved_user_id(saved: &JsValue) -> Option<JsString> {
        text(saved, "userId").filter(|id| id.length() > 0)
    }
}

/// Two configs are the same when they save the same.
impl PartialEq for Config {
    fn eq(&self, other: &Config) -> bool {
        js::stringify(&self.saved) == js::stringify(&other.saved)
    }
}

/// An init option that was refused: `field` names it (`webhooks.cors`,
/// `webhooks.notification.clicked`, …), `message` says what is wrong.
#[derive(Debug, PartialEq)]
pub struct InitError {
    pub field: JsString,
    pub message: &'static str,
}

/// Validates init options. `user_id` gives the id to use when the options give none (the saved
/// one, or a new one). A webhook URL must parse (the browser's `URL`) and be [`secure`].
pub fn validate(
    options: &JsValue,
    user_id: impl FnOnce() -> JsString,
) -> Result<Config, InitError> {
    let mut field = JsString::from("");
    check(options, user_id, &mut field).map_err(|message| InitError { field, message })
}

const NOT_AN_OBJECT: &str = "must be an object";
const NOT_A_NAME: &str = "must be a non-empty string";

/// [`validate`]'s checks. `field` names the field being checked, for the error: one place makes
/// the error, whatever the check.
fn check(
    options: &JsValue,
    user_id: impl FnOnce() -> JsString,
    field: &mut JsString,
) -> Result<Config, &'static str> {
    // JS strings: joined by the browser, with no string building in the module.
    let mut name = |name: JsString| *field = name;
    name("options".into());
    if !js::is_object(options) {
        return Err(NOT_AN_OBJECT);
    }
    // A string is truthy when it is not empty.
    let app_id = js::get(options, "appId");
    name("appId".into());
    if !(app_id.is_string() && app_id.is_truthy()) {
        return Err(NOT_A_NAME);
    }
    let given_user_id = js::get(options, "userId");
    name("userId".into());
    if !(given_user_id.is_undefined()
        || given_user_id.is_null()
        || given_user_id.is_string() && given_user_id.is_truthy())
    {
        return Err(NOT_A_NAME);
    }
    let mut cors = false;
    let mut urls: [JsValue; 3] = Default::default();
    let hooks = js::get(options, "webhooks");
    name("webhooks".into());
    if !hooks.is_undefined() {
        if !js::is_object(&hooks) {
            return Err(NOT_AN_OBJECT);
        }
        let keys = js_sys::Object::keys(hooks.unchecked_ref::<js_sys::Object>());
        // By index: js-sys's array iterator brings generic iterator code along.
        for i in 0..keys.length() {
            let key = keys.get(i);
            name(JsString::from("webhooks.").concat(&key));
            let key = key.as_string().unwrap_or_default();
            let value = js::get(&hooks, &key);
            if key == "cors" {
                cors = value.as_bool().ok_or("must be true or false")?;
                continue;
            }
            let slot = EVENTS
                .iter()
                .zip(urls.iter_mut())
                .find(|(e, _)| e.name() == key)
                .map(|(_, slot)| slot)
                .ok_or(
                    "is not an event hookline knows (notification.displayed, notification.clicked, notification.dismissed)",
                )?;
            let url = value.as_string().ok_or("must be a URL string")?;
            let parsed = web_sys::Url::new(&url).map_err(|_| "is not a valid URL")?;
            if !secure(&parsed.protocol(), &parsed.hostname()) {
                return Err("must be an https: URL (http: only for localhost, 127.0.0.1 or [::1])");
            }
            *slot = value;
        }
    }
    let saved: JsValue = js_sys::Object::new().into();
    js::set(&saved, "v", &JsValue::from(VERSION));
    js::set(&saved, "appId", &app_id);
    if given_user_id.is_string() {
        js::set(&saved, "userId", &given_user_id);
    } else {
        js::set(&saved, "userId", &user_id());
    }
    js::set(&saved, "cors", &JsValue::from_bool(cors));
    let webhooks: JsValue = js_sys::Object::new().into();
    for (event, url) in EVENTS.iter().zip(urls.iter()) {
        if !url.is_undefined() {
            js::set(&webhooks, event.name(), url);
        }
    }
    js::set(&saved, "webhooks", &webhooks);
    Ok(Config { saved })
}

/// A webhook URL must be `https:`; loopback `http:` is allowed as browsers treat it as secure.
pub fn secure(protocol: &str, hostname: &str) -> bool {
    protocol == "https:"
        || (protocol == "http:" && matches!(hostname, "localhost" | "127.0.0.1" | "[::1]"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_or_loopback_http_is_secure() {
        assert!(secure("https:", "example.com"));
        assert!(secure("http:", "localhost"));
        assert!(secure("http:", "127.0.0.1"));
        assert!(secure("http:", "[::1]"));
        assert!(!secure("http:", "example.com"));
        assert!(!secure("http:", "127.0.0.2"));
        assert!(!secure("ftp:", "localhost"));
    }
}
