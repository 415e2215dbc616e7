//! The init options a page passes, their validation, and the config saved for the worker.
//!
//! The page script sends its options to the worker, which validates them here and saves the
//! result in IndexedDB: page and worker share this one validation.

use wasm_bindgen::JsValue;

use crate::js::{self, Is};
use crate::webhook::Event;

/// The version of [`Config`] this module writes; a config with another is not used.
pub const VERSION: u32 = 1;

/// The config the worker reads when an event fires. It stays the JS object saved in IndexedDB,
/// `{v, appId, userId, cors, format, webhooks: {"notification.displayed": url, …}}` (`format`
/// only when `"v16"`): its fields only pass
/// through to requests, so they are read when needed rather than copied into Rust strings.
#[derive(Debug, Clone)]
pub struct Config {
    saved: JsValue,
}

/// `o[key]` when it is a string.
fn text(o: &JsValue, key: &str) -> Option<JsValue> {
    let v = js::get(o, key);
    v.is_string().then_some(v)
}

const EVENTS: [Event; 3] = [Event::Displayed, Event::Clicked, Event::Dismissed];

impl Config {
    pub fn app_id(&self) -> JsValue {
        text(&self.saved, "appId").unwrap_or_default()
    }

    pub fn user_id(&self) -> JsValue {
        text(&self.saved, "userId").unwrap_or_default()
    }

    pub fn cors(&self) -> bool {
        js::get(&self.saved, "cors").is_truthy()
    }

    /// Whether webhooks take the form of OneSignal's current Web SDK (`webhooks.format: "v16"`).
    pub fn v16(&self) -> bool {
        js::get(&self.saved, "format").is("v16")
    }

    /// The URL set for `event`, if any (one URL per event, as the seed allows).
    pub fn url(&self, event: Event) -> Option<JsValue> {
        text(&js::get(&self.saved, "webhooks"), event.name())
    }

    /// The saved form.
    pub fn to_saved(&self) -> &JsValue {
        &self.saved
    }

    /// Reads a saved config; the error says why it cannot be used (an older version, say).
    pub fn from_saved(saved: &JsValue) -> Result<Config, &'static str> {
        // Compared as JS values (`===`): comparing with a Rust number would read it out of JS.
        let version = JsValue::from(VERSION);
        if js::get(saved, "v") != version {
            return Err("saved config was written by another version of hookline; no webhook");
        }
        // Only this version's `validate` writes it: what is checked is what a webhook's body
        // takes as it is (each URL and `cors` are read for their types when used).
        if !js::is_name(&js::get(saved, "userId")) {
            return Err("saved config is incomplete; no webhook");
        }
        Ok(Config {
            saved: saved.clone(),
        })
    }

    /// The `userId` of a saved config of any version, so an upgrade keeps the user's id.
    pub fn saved_user_id(saved: &JsValue) -> Option<JsValue> {
        let id = js::get(saved, "userId");
        js::is_name(&id).then_some(id)
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
    pub field: JsValue,
    pub message: &'static str,
}

/// Validates init options. `user_id` gives the id to use when the options give none (the saved
/// one, or a new one). A webhook URL must parse (the browser's `URL`) and be [`secure`].
pub fn validate(options: &JsValue, user_id: impl FnOnce() -> JsValue) -> Result<Config, InitError> {
    // The field's name is only made (a JS string) when it is refused.
    let refused = |field: &str, message| InitError {
        field: js::text(field),
        message,
    };
    if !js::is_object(options) {
        return Err(refused("options", NOT_AN_OBJECT));
    }
    // A string is truthy when it is not empty.
    let app_id = js::get(options, "appId");
    if !js::is_name(&app_id) {
        return Err(refused("appId", NOT_A_NAME));
    }
    let given_user_id = js::get(options, "userId");
    if !(js::is_none(&given_user_id) || js::is_name(&given_user_id)) {
        return Err(refused("userId", NOT_A_NAME));
    }
    let mut cors = false;
    let mut format = JsValue::UNDEFINED;
    let webhooks = js::object();
    let hooks = js::get(options, "webhooks");
    if !hooks.is_undefined() {
        if !js::is_object(&hooks) {
            return Err(refused("webhooks", NOT_AN_OBJECT));
        }
        let keys = js::keys(&hooks);
        for i in 0..js::length(&keys) {
            let key = js::at(&keys, i);
            check_webhook(&hooks, &key, &mut cors, &mut format, &webhooks).map_err(|message| {
                InitError {
                    field: js::concat(&js::text("webhooks."), &key),
                    message,
                }
            })?;
        }
    }
    let saved = js::object();
    js::set(&saved, "v", &JsValue::from(VERSION));
    js::set(&saved, "appId", &app_id);
    if given_user_id.is_string() {
        js::set(&saved, "userId", &given_user_id);
    } else {
        js::set(&saved, "userId", &user_id());
    }
    js::set(&saved, "cors", &JsValue::from_bool(cors));
    if !format.is_undefined() {
        js::set(&saved, "format", &format);
    }
    js::set(&saved, "webhooks", &webhooks);
    Ok(Config { saved })
}

const NOT_AN_OBJECT: &str = "must be an object";
const NOT_A_NAME: &str = "must be a non-empty string";

/// Checks `webhooks[key]`: `cors` and `format` set those; an event's URL goes into `webhooks`
/// under the event's name.
fn check_webhook(
    hooks: &JsValue,
    key: &JsValue,
    cors: &mut bool,
    format: &mut JsValue,
    webhooks: &JsValue,
) -> Result<(), &'static str> {
    let value = js::get_key(hooks, key);
    if key.is("cors") {
        *cors = value.as_bool().ok_or("must be true or false")?;
        return Ok(());
    }
    if key.is("format") {
        if !value.is("v16") {
            return Err("must be \"v16\" or absent");
        }
        *format = value;
        return Ok(());
    }
    // `notification.willDisplay`: OneSignal's current Web SDK's name for
    // `notification.displayed`.
    let event = EVENTS
        .iter()
        .find(|e| key.is(e.name()) || key.is(e.v16_name()))
        .ok_or("is not an event hookline knows")?;
    if !value.is_string() {
        return Err("must be a URL string");
    }
    let parsed = js::url(&value, &JsValue::UNDEFINED).map_err(|_| "is not a valid URL")?;
    if !secure(&js::get(&parsed, "protocol"), &js::get(&parsed, "hostname")) {
        return Err("must be an https: URL (http: on loopback only)");
    }
    js::set(webhooks, event.name(), &value);
    Ok(())
}

/// A webhook URL must be `https:`; loopback `http:` is allowed as browsers treat it as secure.
/// The URL's parts are JS strings in the module, Rust strings in the unit tests.
pub fn secure<T: Is + ?Sized>(protocol: &T, hostname: &T) -> bool {
    protocol.is("https:")
        || (protocol.is("http:")
            && ["localhost", "127.0.0.1", "[::1]"]
                .iter()
                .any(|host| hostname.is(host)))
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
