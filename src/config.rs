//! The init options a page passes, their validation, and the config saved for the worker.
//!
//! The page script sends its options to the worker, which validates them here and saves the
//! result in IndexedDB: page and worker share this one validation.

use alloc::borrow::ToOwned;
use alloc::string::String;
use wasm_bindgen::JsValue;

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

const EVENTS: [Event; 3] = [Event::Displayed, Event::Clicked, Event::Dismissed];

impl Config {
    pub fn app_id(&self) -> String {
        js::get(&self.saved, "appId")
            .as_string()
            .unwrap_or_default()
    }

    pub fn user_id(&self) -> String {
        js::get(&self.saved, "userId")
            .as_string()
            .unwrap_or_default()
    }

    pub fn cors(&self) -> bool {
        js::get(&self.saved, "cors").is_truthy()
    }

    /// The URL set for `event`, if any (one URL per event, as the seed allows).
    pub fn url(&self, event: Event) -> Option<String> {
        js::get(&js::get(&self.saved, "webhooks"), event.name()).as_string()
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
        let bad = "saved config is incomplete; webhooks are off until init runs again";
        let hooks = js::get(saved, "webhooks");
        for event in EVENTS {
            js::opt_str(&hooks, event.name()).map_err(|_| bad)?;
        }
        js::opt_str(saved, "appId").ok().flatten().ok_or(bad)?;
        Config::saved_user_id(saved).ok_or(bad)?;
        js::get(saved, "cors").as_bool().ok_or(bad)?;
        Ok(Config {
            saved: saved.clone(),
        })
    }

    /// The `userId` of a saved config of any version, so an upgrade keeps the user's id.
    pub fn saved_user_id(saved: &JsValue) -> Option<String> {
        js::opt_str(saved, "userId")
            .ok()
            .flatten()
            .filter(|id| !id.is_empty())
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
    pub field: String,
    pub message: &'static str,
}

fn refuse(field: &str, message: &'static str) -> InitError {
    InitError {
        field: field.to_owned(),
        message,
    }
}

/// Validates init options. `user_id` gives the id to use when the options give none (the saved
/// one, or a new one). A webhook URL must parse (the browser's `URL`) and be [`secure`].
pub fn validate(options: &JsValue, user_id: impl FnOnce() -> String) -> Result<Config, InitError> {
    if !js::is_object(options) {
        return Err(refuse("options", "must be an object"));
    }
    let app_id = js::opt_str(options, "appId")
        .ok()
        .flatten()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| refuse("appId", "must be a non-empty string"))?;
    let given_user_id = match js::opt_str(options, "userId") {
        Ok(None) => None,
        Ok(Some(id)) if !id.is_empty() => Some(id),
        _ => return Err(refuse("userId", "must be a non-empty string")),
    };
    let mut cors = false;
    let mut urls: [Option<String>; 3] = [None, None, None];
    let hooks = js::get(options, "webhooks");
    if !hooks.is_undefined() {
        if !js::is_object(&hooks) {
            return Err(refuse("webhooks", "must be an object"));
        }
        for name in js_sys::Object::keys(&hooks.clone().into()).iter() {
            let name = name.as_string().unwrap_or_default();
            let field = js::cat(&["webhooks.", &name]);
            let value = js::get(&hooks, &name);
            if name == "cors" {
                cors = value
                    .as_bool()
                    .ok_or_else(|| refuse(&field, "must be true or false"))?;
                continue;
            }
            let slot = EVENTS
                .into_iter()
                .zip(urls.iter_mut())
                .find(|(e, _)| e.name() == name)
                .map(|(_, slot)| slot)
                .ok_or_else(|| {
                    refuse(
                        &field,
                        "is not an event hookline knows (notification.displayed, notification.clicked, notification.dismissed)",
                    )
                })?;
            let url = value
                .as_string()
                .ok_or_else(|| refuse(&field, "must be a URL string"))?;
            let parsed =
                web_sys::Url::new(&url).map_err(|_| refuse(&field, "is not a valid URL"))?;
            if !secure(&parsed.protocol(), &parsed.hostname()) {
                return Err(refuse(
                    &field,
                    "must be an https: URL (http: only for localhost, 127.0.0.1 or [::1])",
                ));
            }
            *slot = Some(url);
        }
    }
    let saved: JsValue = js_sys::Object::new().into();
    js::set(&saved, "v", &JsValue::from(VERSION));
    js::set_str(&saved, "appId", Some(&app_id));
    js::set_str(
        &saved,
        "userId",
        Some(&given_user_id.unwrap_or_else(user_id)),
    );
    js::set(&saved, "cors", &JsValue::from_bool(cors));
    let webhooks: JsValue = js_sys::Object::new().into();
    for (event, url) in EVENTS.into_iter().zip(urls) {
        js::set_str(&webhooks, event.name(), url.as_deref());
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
