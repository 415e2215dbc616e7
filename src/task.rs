//! A small executor for the module's async handlers, in place of wasm-bindgen-futures (whose task
//! queue, promise adapter and `RefCell`s cost more than the handlers' own code). A task is polled
//! when it starts and again whenever a promise or IndexedDB request it waits on settles; it
//! never needs a queue, since a settlement always arrives in a job of its own.
//!
//! Settlements come back through one exported function, [`settle`], bound to the waiter it
//! settles: no `Closure`, whose glue and per-signature shims cost more than this whole module.

use alloc::boxed::Box;
use alloc::rc::Rc;
use core::cell::Cell;
use core::future::Future;
use core::mem::ManuallyDrop;
use core::pin::Pin;
use core::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

use wasm_bindgen::prelude::*;

use crate::js;

type Outcome = Result<JsValue, JsValue>;

/// What a [`Wait`] shares with the callback that settles it.
#[derive(Default)]
struct Shared {
    outcome: Cell<Option<Outcome>>,
    waker: Cell<Option<Waker>>,
}

/// A promise or an IndexedDB request, as a future: its value (a request's `result`) or its error.
/// Its callbacks are attached at once, so things started together can be awaited in any order.
pub struct Wait {
    shared: Rc<Shared>,
    /// The request whose `result` is the value; `undefined` for a promise.
    request: JsValue,
}

impl Wait {
    /// Waits for `promise`.
    pub fn promise(promise: &JsValue) -> Wait {
        let shared = Rc::<Shared>::default();
        let (ok, err) = settlers(&shared);
        let _ = js::call_2(promise, "then", &ok, &err);
        Wait {
            shared,
            request: JsValue::UNDEFINED,
        }
    }

    /// Waits for an IndexedDB `request`.
    pub fn request(request: &JsValue) -> Wait {
        let shared = Rc::<Shared>::default();
        let (ok, err) = settlers(&shared);
        js::set(request, "onsuccess", &ok);
        js::set(request, "onerror", &err);
        Wait {
            shared,
            request: request.clone(),
        }
    }
}

/// The two functions that settle `shared`, with success and with failure, when called with a
/// value: [`settle`] bound to the waiter. Only one of them is ever called, and that call gives
/// back the count of `shared` the pair holds.
fn settlers(shared: &Rc<Shared>) -> (JsValue, JsValue) {
    // The pointer is aligned: its low bit is free for the outcome.
    let code = Rc::into_raw(shared.clone()) as u32;
    let settle = js::get(&wasm_bindgen::exports(), "settle");
    let bind = |code: u32| {
        js::call_2(&settle, "bind", &JsValue::NULL, &JsValue::from(code)).unwrap_or_default()
    };
    (bind(code | 1), bind(code))
}

/// Settles a waiter (see [`settlers`]); called by JS only, through the functions made there.
#[wasm_bindgen]
pub fn settle(code: u32, value: JsValue) {
    // SAFETY: `code` carries a pointer from `Rc::into_raw` whose count the caller gives back.
    let shared = unsafe { Rc::from_raw((code & !1) as *const Shared) };
    shared
        .outcome
        .set(Some(if code & 1 == 1 { Ok(value) } else { Err(value) }));
    if let Some(waker) = shared.waker.take() {
        waker.wake();
    }
}

impl Future for Wait {
    type Output = Outcome;

    // Not inlined: every `.await` on a `Wait` would carry a copy.
    #[inline(never)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Outcome> {
        match self.shared.outcome.take() {
            Some(Ok(value)) => Poll::Ready(Ok(if self.request.is_undefined() {
                value
            } else {
                js::get(&self.request, "result")
            })),
            Some(Err(e)) => Poll::Ready(Err(e)),
            None => {
                self.shared.waker.set(Some(cx.waker().clone()));
                Poll::Pending
            }
        }
    }
}

/// A running future. It is taken out while polled, so a wake during a poll does nothing.
struct Task {
    future: Cell<Option<Pin<Box<dyn Future<Output = ()>>>>>,
}

fn run(task: &Rc<Task>) {
    let Some(mut future) = task.future.take() else {
        return;
    };
    // SAFETY: the waker owns one count of the task, given here by the clone.
    let waker = unsafe { Waker::from_raw(raw(Rc::into_raw(task.clone()))) };
    if future
        .as_mut()
        .poll(&mut Context::from_waker(&waker))
        .is_pending()
    {
        task.future.set(Some(future));
    }
}

// A waker is a counted pointer to its task; waking polls the task at once.
static VTABLE: RawWakerVTable = RawWakerVTable::new(clone_waker, wake, wake_by_ref, drop_waker);

fn raw(task: *const Task) -> RawWaker {
    RawWaker::new(task.cast(), &VTABLE)
}

unsafe fn clone_waker(task: *const ()) -> RawWaker {
    // SAFETY: `task` came from `Rc::into_raw` and the waker being cloned still holds its count.
    unsafe { Rc::increment_strong_count(task.cast::<Task>()) };
    raw(task.cast())
}

unsafe fn wake(task: *const ()) {
    // SAFETY: this waker's count is taken back here.
    run(&unsafe { Rc::from_raw(task.cast::<Task>()) });
}

unsafe fn wake_by_ref(task: *const ()) {
    // SAFETY: the waker keeps its count: the Rc is not dropped.
    run(&ManuallyDrop::new(unsafe {
        Rc::from_raw(task.cast::<Task>())
    }));
}

unsafe fn drop_waker(task: *const ()) {
    // SAFETY: this waker's count is given back.
    core::mem::drop(unsafe { Rc::from_raw(task.cast::<Task>()) });
}

/// Runs `future` to its end; the promise settles as it does.
pub fn spawn(future: impl Future<Output = Outcome> + 'static) -> JsValue {
    // The promise's executor is a settler too: called at once with `resolve` as its value.
    let shared = Rc::<Shared>::default();
    let promise = js::promise(&settlers(&shared).0);
    if let Some(Ok(resolve)) = shared.outcome.take() {
        let task = Rc::new(Task {
            future: Cell::new(Some(Box::pin(async move {
                // A failure is given as a rejected promise, which `resolve` passes on.
                let value = match future.await {
                    Ok(value) => value,
                    Err(e) => js::reject(&e),
                };
                let _ = js::apply(&resolve, &value);
            }))),
        });
        run(&task);
    }
    promise
}
