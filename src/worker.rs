//! The service-worker event handlers: a push is shown then reported as displayed, a click is
//! reported then opens its URL, a close is reported as dismissed, and the page's messages save
//! the config (init) or run a demo push through the same path as a real one.

use core::future::Future;

use wasm_bindgen::prelude::*;

use crate::config::{self, Config};
use crate::js::Is;
use crate::notification::Notification;
use crate::queue::Pending;
use crate::task::{self, Wait};
use crate::webhook::{self, Event};
use crate::{Local, idb, js, log, queue};

/// Runs the handler for `event`, then sends any webhook kept from an earlier failure.
pub async fn dispatch(event: JsValue) -> Result<(), JsValue> {
    let kind = js::get(&event, "type");
    let ours = if kind.is("push") {
        let data = js::get(&event, "data");
        let text = (!js::is_none(&data))
            .then(|| js::call(&data, "text", &JsValue::UNDEFINED).unwrap_or_default());
        on_push(text).await;
        true
    } else if kind.is("notificationclick") {
        on_click(&event).await;
        true
    } else if kind.is("notificationclose") {
        on_close(&event).await;
        true
    } else if kind.is("message") {
        on_message(&event).await?
    } else {
        false
    };
    if ours {
        queue::flush().await?;
    }
    Ok(())
}

/// Shows the notification for a push payload, a JS string (`None`: a push without data), then
/// sends `notification.displayed`. A payload that is not ours still shows a notification, since
/// browsers penalise pushes that show none, and sends no webhook.
pub async fn on_push(text: Option<JsValue>) {
    let parsed = text
        .ok_or("push has no data")
        .and_then(Notification::from_push);
    let n = match parsed {
        Ok(n) => {
            n.set_key(&new_id());
            Some(n)
        }
        Err(why) => {
            log::warn("showing a generic notification: ", why);
            None
        }
    };
    // The config is read while the notification is being shown.
    let saved = Wait::promise(&task::spawn(idb::get(idb::CONFIG_KEY)));
    if let Err(e) = show(n.as_ref()).await {
        log::warn_js("could not show the notification: ", &e);
        return;
    }
    let saved = saved.await;
    if let Some(n) = n
        && let Some(sending) = start(read_config(saved), Event::Displayed, &n, None)
    {
        sending.await;
    }
}

/// Shows `n`, or a generic notification titled with the site's host when there is none.
async fn show(n: Option<&Notification>) -> Result<(), JsValue> {
    let options = js::object();
    let mut title = js::get(&js::url(&js::location_href(), &JsValue::UNDEFINED)?, "host");
    if let Some(n) = n {
        let heading = n.field("heading");
        if !heading.is_undefined() {
            title = heading;
        }
        n.copy_to(&options, "body", "content");
        n.copy_to(&options, "icon", "icon");
        let data = js::object();
        js::set(&data, "hookline", n.to_kept());
        js::set(&options, "data", &data);
        js::set(&options, "actions", &n.actions);
    }
    let shown = js::show_notification(&title, &options)?;
    Wait::promise(&shown).await?;
    Ok(())
}

/// The payload kept on a notification hookline showed; `None` (logged) for any other.
fn kept(notification: &JsValue) -> Option<Notification> {
    let kept = Notification::from_kept(&js::get(&js::get(notification, "data"), "hookline"));
    if kept.is_none() {
        log::warn(
            "notification has no hookline data (not shown by hookline); no webhook",
            "",
        );
    }
    kept
}

/// Sends `notification.clicked` (`action` is `""` for the body, else the button's id), then opens
/// or focuses the notification's URL. The request is on its way before the URL opens; a failing
/// webhook never stops the URL from opening.
async fn on_click(event: &JsValue) {
    let notification = js::get(event, "notification");
    let _ = js::call(&notification, "close", &JsValue::UNDEFINED);
    let Some(n) = kept(&notification) else {
        return;
    };
    let key = n.field("key");
    if !key.is_undefined() {
        let clicked = clicked();
        if js::length(&clicked) >= 32 {
            js::set(&clicked, "length", &JsValue::from(0));
        }
        let _ = js::call(&clicked, "push", &key);
    }
    // `action` is "" for a body click, the button's id otherwise.
    let mut action = js::get(event, "action");
    if !action.is_string() {
        action = js::text("");
    }
    let sending = start(saved_config().await, Event::Clicked, &n, Some(&action));
    let url = n.field("url");
    if url.is_string()
        && let Err(e) = open(&url).await
    {
        log::warn_js("could not open the notification's url: ", &e);
    }
    if let Some(sending) = sending {
        sending.await;
    }
}

/// Notifications clicked lately. Firefox also fires `notificationclose` for a clicked
/// notification; the seed says a click is not a dismissal.
static CLICKED: Local<Option<JsValue>> = Local::new(None);

/// The keys of the notifications clicked lately (a JS array: it only holds and finds them).
fn clicked() -> JsValue {
    CLICKED.with(|c| c.get_or_insert_with(js::array).clone())
}

/// Sends `notification.dismissed`, unless the notification was just clicked.
async fn on_close(event: &JsValue) {
    let Some(n) = kept(&js::get(event, "notification")) else {
        return;
    };
    let key = n.field("key");
    if !key.is_undefined()
        && js::call(&clicked(), "includes", &key)
            .unwrap_or_default()
            .is_truthy()
    {
        return;
    }
    if let Some(sending) = start(saved_config().await, Event::Dismissed, &n, None) {
        sending.await;
    }
}

/// Focuses a window already showing `url`, else opens one.
async fn open(url: &JsValue) -> Result<(), JsValue> {
    // URLs are compared as JS strings, as the browser normalised them.
    let target = js::get(&js::url(url, &js::location_href())?, "href");
    let query = js::object();
    js::set_str(&query, "type", Some("window"));
    js::set(&query, "includeUncontrolled", &JsValue::TRUE);
    let windows = Wait::promise(&js::match_all(&query)).await?;
    let mut opened = None;
    for i in 0..js::length(&windows) {
        let client = js::at(&windows, i);
        if js::get(&client, "url") == target {
            opened = Some(js::call(&client, "focus", &JsValue::UNDEFINED)?);
            break;
        }
    }
    let opened = opened.unwrap_or_else(|| js::open_window(&target));
    Wait::promise(&opened).await?;
    Ok(())
}

/// Starts the webhook for `event` when `config` has a URL for it. The request is issued before
/// this returns; the returned future settles it (keeping it for later on failure).
fn start(
    config: Option<Config>,
    event: Event,
    n: &Notification,
    action: Option<&JsValue>,
) -> Option<impl Future<Output = ()> + use<>> {
    let config = config?;
    let url = config.url(event)?;
    let body = webhook::body(event, n, &config.user_id(), action);
    // `at` is set if it fails.
    Some(queue::send(Pending::new(
        url,
        config.cors(),
        event.name(),
        body,
        0.0,
    )))
}

/// The saved config, or `None` with the reason logged.
pub async fn saved_config() -> Option<Config> {
    read_config(idb::get(idb::CONFIG_KEY).await)
}

fn read_config(saved: Result<JsValue, JsValue>) -> Option<Config> {
    let saved = match saved {
        Ok(saved) => saved,
        Err(e) => {
            log::warn_js("could not read the config: ", &e);
            return None;
        }
    };
    if saved.is_undefined() {
        log::warn("no config saved yet (init has not run); no webhook", "");
        return None;
    }
    Config::from_saved(&saved)
        .map_err(|why| log::warn("", why))
        .ok()
}

/// Handles a page's message: `{hookline: "init", options: "<json>"}` saves the config,
/// `{hookline: "demo", payload: "<json>"}` runs that payload as a push; the answer goes back on
/// the message's port. `Ok(false)` when the message is not for hookline.
async fn on_message(event: &JsValue) -> Result<bool, JsValue> {
    let message = js::get(event, "data");
    let reply = js::object();
    let kind = js::get(&message, "hookline");
    if kind.is("init") {
        let options = js::parse(&js::get(&message, "options")).unwrap_or(JsValue::NULL);
        let answer = init(&options).await;
        js::set(
            &reply,
            "ok",
            &JsValue::from_bool(matches!(answer, Ok(Ok(_)))),
        );
        match answer {
            Ok(Ok(config)) => js::set(&reply, "userId", &js::get(config.to_saved(), "userId")),
            Ok(Err(e)) => {
                let error = js::concat(&js::concat(&e.field, &js::text(" ")), &js::text(e.message));
                log::warn_text("init refused: ", &error);
                js::set(&reply, "field", &e.field);
                js::set(&reply, "error", &error);
            }
            // The page still gets an answer when IndexedDB fails.
            Err(e) => {
                log::warn_js("could not save the config: ", &e);
                js::set_str(
                    &reply,
                    "error",
                    Some("could not save the config (IndexedDB)"),
                );
            }
        }
    } else if kind.is("demo") {
        let payload = js::get(&message, "payload");
        on_push(payload.is_string().then_some(payload)).await;
        js::set(&reply, "ok", &JsValue::TRUE);
    } else {
        return Ok(false);
    }
    let port = js::at(&js::get(event, "ports"), 0);
    if !port.is_undefined() {
        js::call(&port, "postMessage", &reply)?;
    }
    Ok(true)
}

/// Validates the page's init options and saves them; nothing is saved when they are refused.
/// A `userId` the options do not give is the saved one, or a new one generated once.
pub async fn init(options: &JsValue) -> Result<Result<Config, config::InitError>, JsValue> {
    let saved = idb::get(idb::CONFIG_KEY).await?;
    let user_id = Config::saved_user_id(&saved);
    let checked = config::validate(options, || user_id.unwrap_or_else(new_id));
    if let Ok(config) = &checked {
        idb::put(idb::CONFIG_KEY, config.to_saved()).await?;
    }
    Ok(checked)
}

/// A random UUID (a user's id, a shown notification's key).
fn new_id() -> JsValue {
    js::random_uuid().unwrap_or_else(|_| {
        js::call(
            &JsValue::from_f64(js::random()),
            "toString",
            &JsValue::from(36),
        )
        .unwrap_or_default()
    })
}
