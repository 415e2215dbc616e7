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

use crate::js::Is;

// Built as `scripts/build-package.sh` builds it (`--cfg hookline_bundle`), the module goes without
// std: std's panic machinery would cost more than the rest of the module's support code.
#[cfg(hookline_bundle)]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}

// The module's globals (`Local`, the allocator) rely on one thread; a build with wasm threads
// would need atomics behind them.
#[cfg(all(target_arch = "wasm32", target_feature = "atomics"))]
compile_error!("hookline's module is single-threaded: build it without the atomics feature");

/// A global for the module's single thread: what `thread_local!` gives, without std. Like a
/// `Cell`, it hands out no reference: a value is moved in or out whole, with no code of the
/// caller's running meanwhile, so no access can overlap another, whatever a caller does.
///
/// In the package it must not hold a JS value: those last only until the call from JS that made
/// them returns (see [`js`]).
///
/// Natively (the crate's unit tests, whose code never reaches a global) it keeps nothing: every
/// read gives `T::default()`, so it is `Sync` there without any shared state.
pub struct Local<T> {
    #[cfg(target_arch = "wasm32")]
    value: core::cell::UnsafeCell<T>,
    #[cfg(not(target_arch = "wasm32"))]
    value: core::marker::PhantomData<fn() -> T>,
}

// SAFETY: wasm32 without atomics (the build refuses them, above) has one thread, so a `Local` is
// never reached from two; `replace`, its only access, moves a value in and out without running
// other code, so accesses never overlap on that thread either.
#[cfg(target_arch = "wasm32")]
unsafe impl<T> Sync for Local<T> {}

impl<T> Local<T> {
    #[cfg(target_arch = "wasm32")]
    pub const fn new(value: T) -> Local<T> {
        Local {
            value: core::cell::UnsafeCell::new(value),
        }
    }

    #[cfg(not(target_arch = "wasm32"))]
    pub const fn new(value: T) -> Local<T> {
        core::mem::forget(value);
        Local {
            value: core::marker::PhantomData,
        }
    }

    /// Puts `value` in and gives the value that was there.
    #[cfg(target_arch = "wasm32")]
    pub fn replace(&self, value: T) -> T {
        // SAFETY: see the `Sync` impl: no other access is in progress, and none starts before
        // this move ends.
        unsafe { core::ptr::replace(self.value.get(), value) }
    }

    /// Natively nothing is kept: `value` is dropped and given back... as nothing was there.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn replace(&self, value: T) -> T
    where
        T: Default,
    {
        drop(value);
        T::default()
    }
}

impl<T: Default> Local<T> {
    /// Takes the value, leaving `T::default()`.
    pub fn take(&self) -> T {
        self.replace(T::default())
    }

    /// A copy of the value (taken out, cloned and put back: the clone runs no access of its own
    /// in the middle of another).
    pub fn get(&self) -> T
    where
        T: Clone,
    {
        let value = self.take();
        let copy = value.clone();
        self.replace(value);
        copy
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
    // A trap is passed on: the worker script then drops this instance, whose stack pointer and
    // globals the trap may have left anywhere, and loads a fresh one for the next event.
    if js::get(&e, "name").is("RuntimeError") {
        return Err(e);
    }
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
