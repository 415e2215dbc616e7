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

/// The config the worker reads when an event fires.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub app_id: String,
    pub user_id: String,
    pub cors: bool,
    /// One URL per event, as the seed allows: displayed, clicked, dismissed.
    pub webhooks: [Option<String>; 3],
}

const EVENTS: [Event; 3] = [Event::Displayed, Event::Clicked, Event::Dismissed];

impl Config {
    /// The URL set for `event`, if any.
    pub fn url(&self, event: Event) -> Option<&str> {
        let [displayed, clicked, dismissed] = &self.webhooks;
        match event {
            Event::Displayed => displayed,
            Event::Clicked => clicked,
            Event::Dismissed => dismissed,
        }
        .as_deref()
    }

    /// The saved form: `{v, appId, userId, cors, webhooks: {"notification.displayed": url, …}}`.
    pub fn to_saved(&self) -> JsValue {
        let o: JsValue = js_sys::Object::new().into();
        js::set(&o, "v", &JsValue::from(VERSION));
        js::set_str(&o, "appId", Some(&self.app_id));
        js::set_str(&o, "userId", Some(&self.user_id));
        js::set(&o, "cors", &JsValue::from_bool(self.cors));
        let hooks: JsValue = js_sys::Object::new().into();
        for event in EVENTS {
            js::set_str(&hooks, event.name(), self.url(event));
        }
        js::set(&o, "webhooks", &hooks);
        o
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
        let mut webhooks = [None, None, None];
        for event in EVENTS {
            *slot(&mut webhooks, event) = js::opt_str(&hooks, event.name()).map_err(|_| bad)?;
        }
        Ok(Config {
            app_id: js::opt_str(saved, "appId").ok().flatten().ok_or(bad)?,
            user_id: Config::saved_user_id(saved).ok_or(bad)?,
            cors: js::get(saved, "cors").as_bool().ok_or(bad)?,
            webhooks,
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

/// The URL slot of `event` (by pattern, not index: no bounds check to panic).
fn slot(webhooks: &mut [Option<String>; 3], event: Event) -> &mut Option<String> {
    let [displayed, clicked, dismissed] = webhooks;
    match event {
        Event::Displayed => displayed,
        Event::Clicked => clicked,
        Event::Dismissed => dismissed,
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
    let mut webhooks = [None, None, None];
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
            let event = EVENTS.into_iter().find(|e| e.name() == name).ok_or_else(|| {
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
            *slot(&mut webhooks, event) = Some(url);
        }
    }
    Ok(Config {
        app_id,
        user_id: given_user_id.unwrap_or_else(user_id),
        cors,
        webhooks,
    })
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
