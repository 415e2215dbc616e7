//! The webhook: its JSON body (exactly the seed's fields) and its request, which differs only in
//! mode and headers between `cors: false` and `cors: true`.

use wasm_bindgen::JsValue;

use crate::js;
use crate::notification::Notification;

/// The three events a site can subscribe to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Event {
    Displayed,
    Clicked,
    Dismissed,
}

impl Event {
    pub fn name(self) -> &'static str {
        match self {
            Event::Displayed => "notification.displayed",
            Event::Clicked => "notification.clicked",
            Event::Dismissed => "notification.dismissed",
        }
    }

    /// Its name in OneSignal's current Web SDK (v16), which renamed `notification.displayed`.
    pub fn v16_name(self) -> &'static str {
        match self {
            Event::Displayed => "notification.willDisplay",
            _ => self.name(),
        }
    }
}

/// The webhook body, keys in the seed's order: `event, id, userId, heading, content, url, icon,
/// data, action`. A field the notification does not have is absent; `action` is given for
/// `notification.clicked` only: `""` for the body, else the button's id.
pub fn body(
    event: Event,
    n: &Notification,
    user_id: &JsValue,
    action: Option<&JsValue>,
) -> JsValue {
    let o = js::object();
    js::set_str(&o, "event", Some(event.name()));
    n.copy_to(&o, "id", "id");
    js::set(&o, "userId", user_id);
    for field in &["heading", "content", "url", "icon", "data"] {
        n.copy_to(&o, field, field);
    }
    if let Some(action) = action.filter(|_| event == Event::Clicked) {
        js::set(&o, "action", action);
    }
    js::stringify_js(&o)
}

/// The webhook body in the form of OneSignal's current Web SDK (`webhooks.format: "v16"`), keys in
/// its order: `event` (v16's name), `notificationId`, `heading`, `content`, `additionalData`,
/// `url`, `subscriptionId` (hookline's `userId`: the id a browser has for the site), and, for
/// `notification.clicked` only, `actionId` (`""` for the body, else the button's id) with `url`
/// the clicked button's URL when it has one. A field the notification does not have is absent.
pub fn body_v16(
    event: Event,
    n: &Notification,
    user_id: &JsValue,
    action: Option<&JsValue>,
) -> JsValue {
    let o = js::object();
    js::set_str(&o, "event", Some(event.v16_name()));
    n.copy_to(&o, "notificationId", "id");
    n.copy_to(&o, "heading", "heading");
    n.copy_to(&o, "content", "content");
    n.copy_to(&o, "additionalData", "data");
    n.copy_to(&o, "url", "url");
    js::set(&o, "subscriptionId", user_id);
    if let Some(action) = action.filter(|_| event == Event::Clicked) {
        let button_url = js::get_key(&n.field("b"), action);
        if button_url.is_string() {
            js::set(&o, "url", &button_url);
        }
        js::set(&o, "actionId", action);
    }
    js::stringify_js(&o)
}

/// How long a webhook request may take, in milliseconds, before it is given up (and kept to be
/// sent again): a receiver that never answers must not hold the worker, nor the webhooks after it.
pub const TIMEOUT_MS: u32 = 10_000;

/// A request's init: `method`, `body` and a signal that ends it after [`TIMEOUT_MS`]. A plain
/// object: what `fetch` reads of it is its `method`, `body`, `mode`, `headers` and `signal`.
fn init(method: &str, body: &JsValue) -> JsValue {
    let init = js::object();
    js::set_str(&init, "method", Some(method));
    js::set(&init, "body", body);
    js::set(&init, "signal", &js::timeout_signal(TIMEOUT_MS));
    init
}

/// Starts the webhook request. `cors: false` is a simple request (POST, `no-cors`, no custom
/// header, the browser's `text/plain` content type); `cors: true` adds the JSON content type and
/// `X-OneSignal-Event`. The promise rejects when the request fails on the network, when it takes
/// longer than [`TIMEOUT_MS`] (a `TimeoutError`) and, for `cors: true`, when the receiver's
/// answers lack the CORS headers (see [`reachable`]).
pub fn send(url: &JsValue, cors: bool, event: &JsValue, body: &JsValue) -> JsValue {
    let init = init("POST", body);
    if cors {
        js::set_str(&init, "mode", Some("cors"));
        let headers = js::object();
        js::set_str(&headers, "Content-Type", Some("application/json"));
        js::set(&headers, "X-OneSignal-Event", event);
        js::set(&init, "headers", &headers);
    } else {
        js::set_str(&init, "mode", Some("no-cors"));
    }
    js::fetch(url, &init)
}

/// After a `cors: true` request failed: a promise of whether the receiver answers at all, asked
/// with a `no-cors` `HEAD` (whose answer needs no CORS headers). A `cors: true` request rejects
/// alike when the receiver is unreachable and when it answered without
/// `Access-Control-Allow-Origin` (the POST was then delivered); only the first may be sent again.
pub fn reachable(url: &JsValue) -> JsValue {
    let init = init("HEAD", &JsValue::UNDEFINED);
    js::set_str(&init, "mode", Some("no-cors"));
    js::fetch(url, &init)
}
