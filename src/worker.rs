//! The service-worker event handlers: a push is shown then reported as displayed, a click is
//! reported (the worker script opens its URL), a close is reported as dismissed, and the page's messages save
//! the config (init) or run a demo push through the same path as a real one.
//!
//! Each handler starts its work and gives a promise of its end (see [`task`]); what a later step
//! needs travels as that step's context.

use wasm_bindgen::prelude::*;

use crate::config::{self, Config};
use crate::js::{self, Is};
use crate::notification::Notification;
use crate::queue::{self, Pending};
use crate::task::{self, Outcome};
use crate::webhook::{self, Event};
use crate::{idb, log};

/// Runs the handler for `event` and, beside it, sends the webhooks kept from earlier failures
/// that are due (not after it: a handler waiting on a receiver that does not answer must not hold
/// them up). The promise rejects when the handler failed (a message's answer could not be posted,
/// say) or the kept webhooks could not be read.
pub fn dispatch(event: &JsValue) -> JsValue {
    let kind = js::get(event, "type");
    let handled = if kind.is("push") {
        let data = js::get(event, "data");
        let text = (!js::is_none(&data))
            .then(|| js::call(&data, "text", &JsValue::UNDEFINED).unwrap_or_default());
        on_push(text)
    } else if kind.is("notificationclick") {
        on_click(event)
    } else if kind.is("notificationclose") {
        on_close(event)
    } else if kind.is("message") {
        return task::then(
            &on_message(event),
            Some(flush_if_ours),
            None,
            &JsValue::UNDEFINED,
        );
    } else {
        return js::resolved(&JsValue::UNDEFINED);
    };
    let both = js::array();
    let _ = js::call(&both, "push", &handled);
    let _ = js::call(&both, "push", &queue::flush());
    js::all(&both)
}

/// After a message: `ours` tells whether it was for hookline.
fn flush_if_ours(_: &JsValue, ours: JsValue) -> Outcome {
    Ok(if ours.is_truthy() {
        queue::flush()
    } else {
        JsValue::UNDEFINED
    })
}

/// Shows the notification for a push payload, a JS string (`None`: a push without data), then
/// sends `notification.displayed`. A payload that is not ours, or a notification the browser
/// refuses to show, still shows a generic notification, since browsers penalise pushes that show
/// none, and sends no webhook. The promise never rejects.
pub fn on_push(text: Option<JsValue>) -> JsValue {
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
    let push = js::object();
    if let Some(n) = &n {
        // The config is read while the notification is being shown; its failure is handled
        // once it is shown (the catch here only marks it handled).
        let saved = idb::get(idb::CONFIG_KEY);
        task::then(&saved, None, Some(task::nothing), &JsValue::UNDEFINED);
        js::set(&push, "n", n.to_kept());
        js::set(&push, "c", &saved);
    }
    let shown = show(n.as_ref()).unwrap_or_else(|e| js::reject(&e));
    task::then(&shown, Some(shown_ok), Some(show_generic), &push)
}

/// `showNotification` refused hookline's notification (for any reason: Chromium refuses data
/// past about 1 MiB, say): a generic one instead, since a push must show one. It sends no
/// webhook, having no hookline data.
fn show_generic(push: &JsValue, e: JsValue) -> Outcome {
    if js::get(push, "n").is_undefined() {
        // The generic one was refused.
        return show_failed(push, e);
    }
    log::warn_js(
        "could not show the notification, showing a generic one: ",
        &e,
    );
    let shown = show(None).unwrap_or_else(|e| js::reject(&e));
    Ok(task::then(
        &shown,
        None,
        Some(show_failed),
        &JsValue::UNDEFINED,
    ))
}

fn show_failed(_: &JsValue, e: JsValue) -> Outcome {
    log::warn_js("could not show the notification: ", &e);
    Ok(JsValue::UNDEFINED)
}

fn shown_ok(push: &JsValue, _: JsValue) -> Outcome {
    let kept = js::get(push, "n");
    if kept.is_undefined() {
        return Ok(JsValue::UNDEFINED);
    }
    let saved = js::get(push, "c");
    Ok(task::then(
        &saved,
        Some(displayed),
        Some(read_failed),
        &kept,
    ))
}

fn displayed(kept: &JsValue, saved: JsValue) -> Outcome {
    Ok(start(read_config(&saved), Event::Displayed, kept, None))
}

/// Shows `n`, or a generic notification titled with the site's host when there is none: the
/// promise of `showNotification`.
fn show(n: Option<&Notification>) -> Result<JsValue, JsValue> {
    let options = js::object();
    let mut title = js::get(&js::location(), "host");
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
    js::show_notification(&title, &options)
}

/// The payload kept on a notification hookline showed; `None` (logged) for any other.
fn kept(notification: &JsValue) -> Option<Notification> {
    let kept = Notification::from_kept(&js::get(&js::get(notification, "data"), "hookline"));
    if kept.is_none() {
        log::warn("notification has no hookline data; no webhook", "");
    }
    kept
}

/// Sends `notification.clicked` (`action` is `""` for the body, else the button's id). The
/// worker script has already closed the notification and opened or focused its URL (`js/sw.js`),
/// before the module had to load. The promise never rejects.
fn on_click(event: &JsValue) -> JsValue {
    let Some(n) = kept(&js::get(event, "notification")) else {
        return js::resolved(&JsValue::UNDEFINED);
    };
    // `action` is "" for a body click, the button's id otherwise.
    let mut action = js::get(event, "action");
    if !action.is_string() {
        action = js::text("");
    }
    let click = js::object();
    js::set(&click, "n", n.to_kept());
    js::set(&click, "a", &action);
    let saved = idb::get(idb::CONFIG_KEY);
    task::then(&saved, Some(click_config), Some(click_no_config), &click)
}

fn click_config(click: &JsValue, saved: JsValue) -> Outcome {
    clicked_with(click, read_config(&saved))
}

fn click_no_config(click: &JsValue, e: JsValue) -> Outcome {
    read_failed(click, e)?;
    clicked_with(click, None)
}

fn clicked_with(click: &JsValue, config: Option<Config>) -> Outcome {
    let kept = js::get(click, "n");
    Ok(start(
        config,
        Event::Clicked,
        &kept,
        Some(&js::get(click, "a")),
    ))
}

/// Sends `notification.dismissed`. (The worker script does not pass on the close Firefox fires
/// after a click: the seed says a click is not a dismissal.) The promise never rejects.
fn on_close(event: &JsValue) -> JsValue {
    let Some(n) = kept(&js::get(event, "notification")) else {
        return js::resolved(&JsValue::UNDEFINED);
    };
    let saved = idb::get(idb::CONFIG_KEY);
    task::then(&saved, Some(dismissed), Some(read_failed), n.to_kept())
}

fn dismissed(kept: &JsValue, saved: JsValue) -> Outcome {
    Ok(start(read_config(&saved), Event::Dismissed, kept, None))
}

/// Starts the webhook for `event` when `config` has a URL for it: the request is issued now;
/// the promise settles it (keeping it for later on failure). `undefined` when there is none.
fn start(
    config: Option<Config>,
    event: Event,
    kept: &JsValue,
    action: Option<&JsValue>,
) -> JsValue {
    let (Some(config), Some(n)) = (config, Notification::from_kept(kept)) else {
        return JsValue::UNDEFINED;
    };
    let Some(url) = config.url(event) else {
        return JsValue::UNDEFINED;
    };
    let (body, name) = if config.v16() {
        let body = webhook::body_v16(event, &n, &config.user_id(), action);
        (body, event.v16_name())
    } else {
        (
            webhook::body(event, &n, &config.user_id(), action),
            event.name(),
        )
    };
    // `at` is set if it fails.
    queue::send(Pending::new(url, config.cors(), name, body, 0.0))
}

fn read_failed(_: &JsValue, e: JsValue) -> Outcome {
    log::warn_js("could not read the config: ", &e);
    Ok(JsValue::UNDEFINED)
}

/// The config in what IndexedDB gave, or `None` with the reason logged.
fn read_config(saved: &JsValue) -> Option<Config> {
    if saved.is_undefined() {
        log::warn("no config saved (no init yet); no webhook", "");
        return None;
    }
    Config::from_saved(saved)
        .map_err(|why| log::warn("", why))
        .ok()
}

/// The saved config, or `None` with the reason logged (for the tests: see [`task`]).
#[cfg(not(hookline_bundle))]
pub async fn saved_config() -> Option<Config> {
    match task::Wait::promise(&idb::get(idb::CONFIG_KEY)).await {
        Ok(saved) => read_config(&saved),
        Err(e) => {
            let _ = read_failed(&JsValue::UNDEFINED, e);
            None
        }
    }
}

/// Handles a page's message: `{hookline: "init", options: "<json>"}` saves the config,
/// `{hookline: "demo", payload: "<json>"}` runs that payload as a push; the answer goes back on
/// the message's port. A promise of whether the message was for hookline.
fn on_message(event: &JsValue) -> JsValue {
    let message = js::get(event, "data");
    let kind = js::get(&message, "hookline");
    let reply = if kind.is("init") {
        let options = js::parse(&js::get(&message, "options")).unwrap_or(JsValue::NULL);
        // The page still gets an answer when IndexedDB fails.
        task::then(&init(&options), None, Some(not_saved), &JsValue::UNDEFINED)
    } else if kind.is("demo") {
        let payload = js::get(&message, "payload");
        let pushed = on_push(payload.is_string().then_some(payload));
        task::then(&pushed, Some(demo_done), None, &JsValue::UNDEFINED)
    } else {
        return js::resolved(&JsValue::FALSE);
    };
    task::then(&reply, Some(answer), None, event)
}

fn not_saved(_: &JsValue, e: JsValue) -> Outcome {
    log::warn_js("could not save the config: ", &e);
    let reply = js::object();
    js::set(&reply, "ok", &JsValue::FALSE);
    js::set_str(
        &reply,
        "error",
        Some("could not save the config (IndexedDB)"),
    );
    Ok(reply)
}

fn demo_done(_: &JsValue, _: JsValue) -> Outcome {
    let reply = js::object();
    js::set(&reply, "ok", &JsValue::TRUE);
    Ok(reply)
}

/// Posts `reply` on the message's port.
fn answer(event: &JsValue, reply: JsValue) -> Outcome {
    let port = js::at(&js::get(event, "ports"), 0);
    if !port.is_undefined() {
        js::call(&port, "postMessage", &reply)?;
    }
    Ok(JsValue::TRUE)
}

/// Validates the page's init options and saves them; nothing is saved when they are refused.
/// A `userId` the options do not give is the saved one, or a new one generated once. The promise
/// gives the page's answer: `{ok: true, userId}` or, refused, `{ok: false, field, error}`; it
/// rejects when IndexedDB fails.
pub fn init(options: &JsValue) -> JsValue {
    task::then(&idb::get(idb::CONFIG_KEY), Some(init_with), None, options)
}

fn init_with(options: &JsValue, saved: JsValue) -> Outcome {
    let user_id = Config::saved_user_id(&saved);
    let reply = js::object();
    match config::validate(options, || user_id.unwrap_or_else(new_id)) {
        Ok(config) => {
            js::set(&reply, "ok", &JsValue::TRUE);
            js::set(&reply, "userId", &config.user_id());
            let saving = idb::put(idb::CONFIG_KEY, config.to_saved());
            Ok(task::then(&saving, Some(task::give), None, &reply))
        }
        Err(e) => {
            let error = js::concat(&js::concat(&e.field, &js::text(" ")), &js::text(e.message));
            log::warn_text("init refused: ", &error);
            js::set(&reply, "ok", &JsValue::FALSE);
            js::set(&reply, "field", &e.field);
            js::set(&reply, "error", &error);
            Ok(reply)
        }
    }
}

/// A random UUID (a user's id, a shown notification's key).
fn new_id() -> JsValue {
    // A worker always runs in a secure context, where browsers have `randomUUID`.
    js::random_uuid()
}
