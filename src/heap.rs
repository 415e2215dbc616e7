//! A small allocator for the wasm module, in place of the default (dlmalloc, a quarter of the
//! module's code). A worker allocates little and briefly: blocks come in power-of-two sizes, each
//! aligned to its size, are cut from memory grown on demand and, once freed, are kept on a free
//! list per size for the next allocation of that size. Memory is never given back to the system;
//! the browser drops it with the worker.

use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::ptr::null_mut;

const PAGE: usize = 65536;
/// Smallest block: room for the free list's next pointer.
const MIN_SHIFT: u32 = 3;
const CLASSES: usize = (usize::BITS - MIN_SHIFT) as usize;

struct State {
    /// Head of each size's free list; a free block holds the address of the next one.
    free: [usize; CLASSES],
    /// Where uncut memory starts and ends.
    next: usize,
    end: usize,
}

pub struct Allocator(UnsafeCell<State>);

// SAFETY: the module runs on one thread (wasm32 without atomics: src/lib.rs refuses a build with
// them), and the allocator's methods do not re-enter it (nothing in them allocates).
unsafe impl Sync for Allocator {}

impl Allocator {
    pub const fn new() -> Allocator {
        Allocator(UnsafeCell::new(State {
            free: [0; CLASSES],
            next: 0,
            end: 0,
        }))
    }
}

impl Default for Allocator {
    fn default() -> Allocator {
        Allocator::new()
    }
}

/// The size class of a layout: blocks of `1 << (class + MIN_SHIFT)` bytes.
fn class(layout: &Layout) -> Option<usize> {
    let size = layout.size().max(layout.align()).max(1 << MIN_SHIFT);
    let size = size.checked_next_power_of_two()?;
    Some((size.trailing_zeros() - MIN_SHIFT) as usize)
}

unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some(class) = class(&layout) else {
            return null_mut();
        };
        // SAFETY: one thread, and no reentrance (nothing here allocates).
        let state = unsafe { &mut *self.0.get() };
        // `get_mut`, not indexing: no bounds check to panic (and to bring formatting along).
        let Some(free) = state.free.get_mut(class) else {
            return null_mut();
        };
        if *free != 0 {
            let head = *free;
            // SAFETY: a free block of this class holds the next free block's address.
            *free = unsafe { *(head as *const usize) };
            return head as *mut u8;
        }
        let size = 1usize << (class as u32 + MIN_SHIFT);
        if state.end == 0 {
            // Start past everything the module was given (stack, data, static heap).
            state.next = core::arch::wasm32::memory_size(0) * PAGE;
            state.end = state.next;
        }
        loop {
            let Some(start) = state.next.checked_next_multiple_of(size) else {
                return null_mut();
            };
            let Some(stop) = start.checked_add(size) else {
                return null_mut();
            };
            if stop <= state.end {
                state.next = stop;
                return start as *mut u8;
            }
            let pages = (stop - state.end).div_ceil(PAGE);
            // `memory.grow` gives the memory's size before it grew, or usize::MAX when it cannot.
            let old = core::arch::wasm32::memory_grow(0, pages);
            let (Some(old_end), Some(new_end)) = (
                old.checked_mul(PAGE),
                old.checked_add(pages).and_then(|p| p.checked_mul(PAGE)),
            ) else {
                return null_mut();
            };
            if old_end != state.end {
                // Other code grew the memory since (the part past `end` is its own): cut from the
                // pages just added only.
                state.next = old_end;
            }
            state.end = new_end;
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let Some(class) = class(&layout) else {
            return;
        };
        // SAFETY: one thread; `ptr` is a block of this class, now unused, big enough for a usize.
        let state = unsafe { &mut *self.0.get() };
        if let Some(free) = state.free.get_mut(class) {
            unsafe { *(ptr as *mut usize) = *free };
            *free = ptr as usize;
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's layout was valid, and so is one with the same alignment.
        let new = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        if class(&new) == class(&layout) {
            return ptr;
        }
        // SAFETY: as GlobalAlloc's own realloc: a new block, the old bytes copied, the old freed.
        unsafe {
            let fresh = self.alloc(new);
            if !fresh.is_null() {
                core::ptr::copy_nonoverlapping(ptr, fresh, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
            fresh
        }
    }
}
