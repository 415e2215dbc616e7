//! hookline's browser half: the service-worker module that fires web-push notification webhooks.
//!
//! A thin JS shim (`js/sw.js`) registers the worker's `push`, `notificationclick`,
//! `notificationclose` and `message` listeners at first evaluation and hands every event to
//! [`handle`] inside `event.waitUntil(...)`. Everything else lives here.
//!
//! # Layout
//! - [`notification`]: the push payload (hookline's JSON and OneSignal's minified form) and the
//!   copy of it kept on the shown notification.
//! - [`config`]: the init options, their validation, and the config the page saves for the worker.
//! - [`webhook`]: the webhook body and the request for `cors` true or false.
//! - [`queue`]: webhooks that failed on the network, kept and sent again, bounded.
//! - `heap`: a small allocator, in place of the default one, for the module's size.
//! - [`idb`]: the few IndexedDB calls the config and the queue need.
//! - [`js`]: helpers over JS values; JSON is the browser's own.
//! - [`task`]: how handlers wait: promise chains whose steps are Rust functions.
//! - [`worker`]: the event handlers that tie the above together.
//!
//! # Example
//! ```js
//! // the site's own service worker can add hookline with one line:
//! importScripts('/hookline-sw.js');
//! ```

#![cfg_attr(hookline_bundle, no_std)]
// `hookline_bundle` is set by scripts/build-package.sh only.
#![allow(unexpected_cfgs)]

extern crate alloc;

pub mod config;
#[cfg(target_arch = "wasm32")]
pub mod heap;
pub mod idb;
pub mod js;
pub mod notification;
pub mod queue;
pub mod task;
pub mod webhook;
pub mod worker;

use wasm_bindgen::prelude::*;

// Built as `scripts/build-package.sh` builds it (`--cfg hookline_bundle`), the module goes without
// std: std's panic machinery would cost more than the rest of the module's support code.
#[cfg(hookline_bundle)]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}

/// A global for the module's single thread: what `thread_local!` gives, without std.
pub struct Local<T>(core::cell::UnsafeCell<T>);

// SAFETY: the module runs on one thread (wasm32 without threads); natively it is never used.
unsafe impl<T> Sync for Local<T> {}

impl<T> Local<T> {
    pub const fn new(value: T) -> Local<T> {
        Local(core::cell::UnsafeCell::new(value))
    }

    /// Runs `f` on the value. `f` must not reach the same `Local` again.
    pub fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        // SAFETY: one thread, and `f` does not re-enter (see above): this is the only reference.
        f(unsafe { &mut *self.0.get() })
    }
}

#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: heap::Allocator = heap::Allocator::new();

/// Handles one service-worker event (`push`, `notificationclick`, `notificationclose`,
/// `message`). The promise always resolves: a failure is logged, never thrown out of the worker.
#[wasm_bindgen]
pub fn handle(event: JsValue) -> JsValue {
    task::then(
        &worker::dispatch(&event),
        Some(task::nothing),
        Some(failed),
        &JsValue::UNDEFINED,
    )
}

fn failed(_: &JsValue, e: JsValue) -> task::Outcome {
    log::warn_js("event failed: ", &e);
    Ok(JsValue::UNDEFINED)
}

/// Console output, prefixed so a site can tell hookline's lines from its own.
pub mod log {
    use wasm_bindgen::JsValue;

    use crate::js;

    /// `hookline: <what>`, joined by the browser.
    fn line(what: &str) -> JsValue {
        js::concat(&js::text("hookline: "), &js::text(what))
    }

    /// Logs `hookline: <what><why>` as a warning.
    pub fn warn(what: &str, why: &str) {
        warn_text(what, &js::text(why));
    }

    /// Logs `hookline: <what><why>` as a warning, `why` being a JS string.
    pub fn warn_text(what: &str, why: &JsValue) {
        js::warn1(&js::concat(&line(what), why));
    }

    /// Logs `hookline: <what>` followed by a JS value (an error, usually).
    pub fn warn_js(what: &str, why: &JsValue) {
        js::warn2(&line(what), why);
    }
}
