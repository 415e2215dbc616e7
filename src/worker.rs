//! The service-worker event handlers: a push is shown then reported as displayed, a click is
//! reported then opens its URL, a close is reported as dismissed, and the page's messages save
//! the config (init) or run a demo push through the same path as a real one.

use core::future::Future;

use wasm_bindgen::prelude::*;
use web_sys::{ExtendableEvent, ExtendableMessageEvent, NotificationEvent, PushEvent};

use crate::config::{self, Config};
use crate::notification::Notification;
use crate::queue::Pending;
use crate::task::{self, Wait};
use crate::webhook::{self, Event};
use crate::{Local, idb, js, log, queue};

/// Runs the handler for `event`, then sends any webhook kept from an earlier failure.
pub async fn dispatch(event: ExtendableEvent) -> Result<(), JsValue> {
    let ours = match event.type_().as_str() {
        "push" => {
            let text = event.unchecked_ref::<PushEvent>().data().map(|d| d.text());
            on_push(text.as_deref()).await;
            true
        }
        "notificationclick" => {
            on_click(event.unchecked_ref()).await;
            true
        }
        "notificationclose" => {
            on_close(event.unchecked_ref()).await;
            true
        }
        "message" => on_message(event.unchecked_ref()).await?,
        _ => false,
    };
    if ours {
        queue::flush().await?;
    }
    Ok(())
}

/// Shows the notification for a push payload (`None`: a push without data), then sends
/// `notification.displayed`. A payload that is not ours still shows a notification, since
/// browsers penalise pushes that show none, and sends no webhook.
pub async fn on_push(text: Option<&str>) {
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
    let options: JsValue = js_sys::Object::new().into();
    let href = js::location_href();
    let mut title = JsValue::from_str(js::host(&href));
    if let Some(n) = n {
        let heading = js::get(n.to_kept(), "heading");
        if !heading.is_undefined() {
            title = heading;
        }
        n.copy_to(&options, "body", "content");
        n.copy_to(&options, "icon", "icon");
        let data: JsValue = js_sys::Object::new().into();
        js::set(&data, "hookline", n.to_kept());
        js::set(&options, "data", &data);
        js::set(&options, "actions", &n.actions);
    }
    let shown = js::show_notification(&title, &options)?;
    Wait::promise(&shown).await?;
    Ok(())
}

/// The payload kept on a notification hookline showed; `None` (logged) for any other.
fn kept(notification: &web_sys::Notification) -> Option<Notification> {
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
async fn on_click(event: &NotificationEvent) {
    let notification = event.notification();
    notification.close();
    let Some(n) = kept(&notification) else {
        return;
    };
    let key = js::get(n.to_kept(), "key");
    if !key.is_undefined() {
        let clicked = clicked();
        if clicked.length() >= 32 {
            clicked.set_length(0);
        }
        clicked.push(&key);
    }
    // `action` is "" for a body click, the button's id otherwise.
    let action = js::get(event, "action").as_string().unwrap_or_default();
    let sending = start(saved_config().await, Event::Clicked, &n, Some(&action));
    if let Some(url) = n.text("url")
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
static CLICKED: Local<Option<js_sys::Array>> = Local::new(None);

/// The keys of the notifications clicked lately (a JS array: it only holds and finds them).
fn clicked() -> js_sys::Array {
    CLICKED.with(|c| c.get_or_insert_with(js_sys::Array::new).clone())
}

/// Sends `notification.dismissed`, unless the notification was just clicked.
async fn on_close(event: &NotificationEvent) {
    let Some(n) = kept(&event.notification()) else {
        return;
    };
    let key = js::get(n.to_kept(), "key");
    if !key.is_undefined() && clicked().includes(&key, 0) {
        return;
    }
    if let Some(sending) = start(saved_config().await, Event::Dismissed, &n, None) {
        sending.await;
    }
}

/// Focuses a window already showing `url`, else opens one.
async fn open(url: &str) -> Result<(), JsValue> {
    // URLs are compared as JS strings, as the browser normalised them.
    let target = web_sys::Url::new_with_base(url, &js::location_href())?;
    let target = js::get(&target, "href");
    let query: JsValue = js_sys::Object::new().into();
    js::set_str(&query, "type", Some("window"));
    js::set(&query, "includeUncontrolled", &JsValue::TRUE);
    let windows: js_sys::Array = Wait::promise(&js::match_all(&query))
        .await?
        .unchecked_into();
    for i in 0..windows.length() {
        let client = windows.get(i);
        if js::get(&client, "url") == target {
            let client: web_sys::WindowClient = client.unchecked_into();
            Wait::promise(&client.focus()?).await?;
            return Ok(());
        }
    }
    Wait::promise(&js::open_window(&target)).await?;
    Ok(())
}

/// Starts the webhook for `event` when `config` has a URL for it. The request is issued before
/// this returns; the returned future settles it (keeping it for later on failure).
fn start(
    config: Option<Config>,
    event: Event,
    n: &Notification,
    action: Option<&str>,
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
async fn on_message(event: &ExtendableMessageEvent) -> Result<bool, JsValue> {
    let message = js::get(event, "data");
    let reply: JsValue = js_sys::Object::new().into();
    match js::get(&message, "hookline").as_string().as_deref() {
        Some("init") => {
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
                    let error = e.field.concat(&" ".into()).concat(&e.message.into());
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
        }
        Some("demo") => {
            on_push(js::get(&message, "payload").as_string().as_deref()).await;
            js::set(&reply, "ok", &JsValue::TRUE);
        }
        _ => return Ok(false),
    }
    let port = event.ports().get(0);
    if !port.is_undefined() {
        port.unchecked_into::<web_sys::MessagePort>()
            .post_message(&reply)?;
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
fn new_id() -> js_sys::JsString {
    js::random_uuid().unwrap_or_else(|_| {
        js_sys::Number::from(js_sys::Math::random())
            .to_string_with_radix(36)
            .unwrap_or_default()
    })
}
