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

/// Starts the webhook request. `cors: false` is a simple request (POST, `no-cors`, no custom
/// header, the browser's `text/plain` content type); `cors: true` adds the JSON content type and
/// `X-OneSignal-Event`. The promise rejects only when the request fails on the network.
pub fn send(url: &JsValue, cors: bool, event: &JsValue, body: &JsValue) -> JsValue {
    // The init is a plain object: what `fetch` reads of it is its `method`, `body`, `mode` and
    // `headers`.
    let init = js::object();
    js::set_str(&init, "method", Some("POST"));
    js::set(&init, "body", body);
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
