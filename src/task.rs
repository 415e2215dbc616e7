//! How the handlers wait: as JS promise chains whose steps are plain Rust functions.
//!
//! A [`Step`] gets a context (any JS value the step before chose, often a small object) and the
//! value a promise settled with, and returns the next value or promise, or an error that rejects
//! the chain. JS promises do the sequencing, so the module holds no async state machines (whose
//! states and drop paths were most of its code) and no executor. A step reaches JS as the one
//! exported function [`step`] bound to the step's address and its context: no `Closure`, whose
//! glue and per-signature shims would cost more.
//!
//! `Wait` turns a promise into a Rust future, for code that awaits: the tests. It is not in the
//! package, where the value it holds between two calls from JS would not last (see
//! [`crate::js`]).

use wasm_bindgen::prelude::*;

use crate::js;

pub type Outcome = Result<JsValue, JsValue>;

/// A step of a promise chain: `(context, settled value)` to the next value or promise.
pub type Step = fn(&JsValue, JsValue) -> Outcome;

/// Runs a step (see [`bind`]). An error becomes a rejected promise, which rejects the chain.
///
/// # Safety
/// `f` must be the address of a [`Step`] (`step as usize`): any other number would be called as
/// one. JS reaches it only through the functions [`bind`] makes, which hold such an address (the
/// glue's `wasm_bindgen` object, whose `step` calls the export, stays inside the worker script's
/// own function scope); Rust code has no reason to call it.
#[wasm_bindgen]
pub unsafe fn step(f: u32, ctx: JsValue, value: JsValue) -> JsValue {
    // SAFETY: `f` is the address of a `Step` (the caller's contract above).
    let f = unsafe { core::mem::transmute::<usize, Step>(f as usize) };
    f(&ctx, value).unwrap_or_else(|e| js::reject(&e))
}

// What holds [`step`] as JS calls it. The package's module is built without reference types
// (scripts/build-package.sh), so its raw export takes JS values as indices into the glue's
// array of them: JS calls the glue's `step`, which puts them there. The glue is the package's
// one `wasm_bindgen` object (wasm-bindgen's name for it, as `--target no-modules` makes it),
// reached as `location` is in `js`; it also keeps what must outlive a call (see `js`). The
// tests' module passes JS values as they are.
#[cfg(hookline_bundle)]
#[wasm_bindgen]
extern "C" {
    /// `wasm_bindgen.valueOf()`: the glue's `wasm_bindgen` itself.
    #[wasm_bindgen(js_namespace = wasm_bindgen, js_name = valueOf)]
    pub(crate) fn exports() -> JsValue;
}
#[cfg(not(hookline_bundle))]
pub(crate) use wasm_bindgen::exports;

/// A JS function that runs `f` with `ctx` and its first argument.
pub fn bind(f: Step, ctx: &JsValue) -> JsValue {
    let step = js::get(&exports(), "step");
    js::call_3(
        &step,
        "bind",
        &JsValue::NULL,
        &JsValue::from(f as usize as u32),
        ctx,
    )
    .unwrap_or_default()
}

/// `promise.then(ok, err)`, each step given `ctx`; a missing step passes the value or error on.
pub fn then(promise: &JsValue, ok: Option<Step>, err: Option<Step>, ctx: &JsValue) -> JsValue {
    let bound = |f: Option<Step>| f.map_or(JsValue::UNDEFINED, |f| bind(f, ctx));
    js::call_2(promise, "then", &bound(ok), &bound(err)).unwrap_or_else(|e| js::reject(&e))
}

/// A step that gives its context: `then(p, Some(give), None, &v)` waits for `p`, then for `v`.
pub fn give(ctx: &JsValue, _: JsValue) -> Outcome {
    Ok(ctx.clone())
}

/// A step that ends a chain with `undefined` (a failure it follows is handled).
pub fn nothing(_: &JsValue, _: JsValue) -> Outcome {
    Ok(JsValue::UNDEFINED)
}

#[cfg(not(hookline_bundle))]
pub use wait::Wait;

#[cfg(not(hookline_bundle))]
mod wait {
    use alloc::rc::Rc;
    use core::cell::Cell;
    use core::future::Future;
    use core::pin::Pin;
    use core::task::{Context, Poll, Waker};

    use wasm_bindgen::JsValue;

    use super::{Outcome, then};
    use crate::js;

    /// What a [`Wait`] shares with the steps that settle it.
    #[derive(Default)]
    struct Shared {
        outcome: Cell<Option<Outcome>>,
        waker: Cell<Option<Waker>>,
    }

    /// A promise as a future: its value or its error.
    pub struct Wait {
        shared: Rc<Shared>,
    }

    impl Wait {
        /// Waits for `promise`.
        pub fn promise(promise: &JsValue) -> Wait {
            let shared = Rc::<Shared>::default();
            // The steps hold one count of `shared`; only one of them runs, and gives it back.
            let ctx = JsValue::from(Rc::into_raw(shared.clone()) as usize as u32);
            then(promise, Some(settled_ok), Some(settled_err), &ctx);
            Wait { shared }
        }
    }

    fn settled(ctx: &JsValue, outcome: Outcome) -> Outcome {
        // SAFETY: `ctx` is the address of the `Shared` whose count `Wait::promise` gave the steps.
        let shared = unsafe { Rc::from_raw(js::number(ctx) as usize as *const Shared) };
        shared.outcome.set(Some(outcome));
        if let Some(waker) = shared.waker.take() {
            waker.wake();
        }
        Ok(JsValue::UNDEFINED)
    }

    fn settled_ok(ctx: &JsValue, value: JsValue) -> Outcome {
        settled(ctx, Ok(value))
    }

    fn settled_err(ctx: &JsValue, e: JsValue) -> Outcome {
        settled(ctx, Err(e))
    }

    impl Future for Wait {
        type Output = Outcome;

        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Outcome> {
            match self.shared.outcome.take() {
                Some(outcome) => Poll::Ready(outcome),
                None => {
                    self.shared.waker.set(Some(cx.waker().clone()));
                    Poll::Pending
                }
            }
        }
    }
}
