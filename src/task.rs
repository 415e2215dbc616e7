//! A small executor for the module's async handlers, in place of wasm-bindgen-futures (whose task
//! queue, promise adapter and `RefCell`s cost more than the handlers' own code). A task is polled
//! when it starts and again whenever a promise or IndexedDB request it waits on settles; it
//! never needs a queue, since a settlement always arrives in a job of its own.

use alloc::boxed::Box;
use alloc::rc::Rc;
use core::cell::Cell;
use core::future::Future;
use core::mem::ManuallyDrop;
use core::pin::Pin;
use core::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

use wasm_bindgen::prelude::*;

type Outcome = Result<JsValue, JsValue>;

#[wasm_bindgen]
extern "C" {
    /// The function that settles a [`Wait`], before it is given its first argument.
    type Settle;
    /// `settle.bind(null, ok)`.
    #[wasm_bindgen(method)]
    fn bind(this: &Settle, this_arg: &JsValue, ok: bool) -> js_sys::Function;

    /// A promise made here, by `new Promise(executor)`.
    #[wasm_bindgen(js_name = Promise)]
    type Made;
    #[wasm_bindgen(constructor, js_class = Promise)]
    fn new(executor: &js_sys::Function) -> Made;

    /// A promise, as far as a [`Wait`] uses it.
    type Thenable;
    /// `promise.then(ok, err)`.
    #[wasm_bindgen(method)]
    fn then(this: &Thenable, ok: &js_sys::Function, err: &js_sys::Function);
}

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
    request: Option<web_sys::IdbRequest>,
}

impl Wait {
    /// Waits for `promise`.
    pub fn promise(promise: &js_sys::Promise) -> Wait {
        let shared = Rc::<Shared>::default();
        let (ok, err) = settle(&shared);
        promise.unchecked_ref::<Thenable>().then(&ok, &err);
        Wait {
            shared,
            request: None,
        }
    }

    /// Waits for `request`.
    pub fn request(request: &web_sys::IdbRequest) -> Wait {
        let shared = Rc::<Shared>::default();
        let (ok, err) = settle(&shared);
        request.set_onsuccess(Some(&ok));
        request.set_onerror(Some(&err));
        Wait {
            shared,
            request: Some(request.clone()),
        }
    }
}

/// One callback that stores an outcome and wakes its waiter, as two functions: the first settles
/// with success, the second with failure. Only one is ever called, and that call frees both.
fn settle(shared: &Rc<Shared>) -> (js_sys::Function, js_sys::Function) {
    let shared = shared.clone();
    let settled = Closure::once_into_js(move |ok: bool, value: JsValue| {
        shared
            .outcome
            .set(Some(if ok { Ok(value) } else { Err(value) }));
        if let Some(waker) = shared.waker.take() {
            waker.wake();
        }
    });
    let settled: &Settle = settled.unchecked_ref();
    (
        settled.bind(&JsValue::NULL, true),
        settled.bind(&JsValue::NULL, false),
    )
}

impl Future for Wait {
    type Output = Outcome;

    // Not inlined: every `.await` on a `Wait` would carry a copy.
    #[inline(never)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Outcome> {
        match self.shared.outcome.take() {
            Some(Ok(value)) => Poll::Ready(match &self.request {
                Some(request) => request.result(),
                None => Ok(value),
            }),
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
pub fn spawn(future: impl Future<Output = Outcome> + 'static) -> js_sys::Promise {
    // The executor is a settle function too (one kind of closure fewer): called at once with
    // `resolve` as its value.
    let shared = Rc::<Shared>::default();
    let promise: js_sys::Promise = Made::new(&settle(&shared).0).unchecked_into();
    if let Some(Ok(resolve)) = shared.outcome.take() {
        let resolve: js_sys::Function = resolve.unchecked_into();
        let task = Rc::new(Task {
            future: Cell::new(Some(Box::pin(async move {
                // A failure is given as a rejected promise, which `resolve` passes on.
                let value = match future.await {
                    Ok(value) => value,
                    Err(e) => js_sys::Promise::reject(&e).into(),
                };
                let _ = resolve.call1(&JsValue::UNDEFINED, &value);
            }))),
        });
        run(&task);
    }
    promise
}
