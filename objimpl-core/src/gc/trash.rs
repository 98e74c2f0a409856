//! The trashcan: deallocations of `gc` objects nested deeper than a limit
//! wait on a list until the outermost one is done, so that dropping a long
//! chain never overflows the stack (CPython's `Py_TRASHCAN_BEGIN`).

use core::cell::Cell;
use core::ptr;

use super::head::{self, GcHead};
use crate::PyObject;

/// How deep `gc` deallocations may nest before the trashcan defers them
/// (CPython's `_PyTrash_UNWIND_LEVEL`).
const TRASH_DEPTH: usize = 50;

/// CPython's trashcan: dropping the head of a long chain drops the next
/// object from inside the first one's destructor, and so on, one stack
/// frame per link. Past [`TRASH_DEPTH`] nested deallocations, an object is
/// put aside instead (linked through its untracked GC header, so no memory
/// is needed), and the outermost deallocation destroys what was put aside
/// once it is done: the stack stays shallow whatever the chain's length.
struct Trash {
    depth: Cell<usize>,
    /// Objects put aside, linked through their header's `prev`.
    deferred: Cell<*mut GcHead>,
    draining: Cell<bool>,
}

thread_local! {
    static TRASH: Trash = const {
        Trash {
            depth: Cell::new(0),
            deferred: Cell::new(ptr::null_mut()),
            draining: Cell::new(false),
        }
    };
}

/// Runs `f` on this thread's trashcan (inlined, as `GcState::with`).
#[inline(always)]
fn with_trash<R>(f: impl FnOnce(&Trash) -> R) -> R {
    let trash = TRASH.with(core::ptr::from_ref);
    // SAFETY: `TRASH` has no destructor: its storage lives as long as the
    // thread, which outlives this call.
    f(unsafe { &*trash })
}

/// A deallocation in progress, as far as the trashcan counts it.
pub(crate) struct TrashGuard(());

/// Begins the deallocation of `gc` object `op`: `None` if it was put aside
/// for later, and the caller must leave it alone.
///
/// # Safety
///
/// - `op` is an untracked `gc` object of this thread with no references
///   left, whose type's `tp_dealloc` can destroy it later.
#[inline]
pub(crate) unsafe fn trash_begin(op: *mut PyObject) -> Option<TrashGuard> {
    with_trash(|trash| {
        let depth = trash.depth.get();
        if depth >= TRASH_DEPTH {
            let gc = head::of(op);
            // SAFETY: an untracked header of this thread: its `prev` link
            // is free to hold the deferred list.
            unsafe { head::set_prev(gc, trash.deferred.get()) };
            trash.deferred.set(gc);
            return None;
        }
        trash.depth.set(depth + 1);
        Some(TrashGuard(()))
    })
}

impl Drop for TrashGuard {
    #[inline]
    fn drop(&mut self) {
        with_trash(|trash| {
            let depth = trash.depth.get() - 1;
            trash.depth.set(depth);
            if depth == 0 && !trash.deferred.get().is_null() && !trash.draining.get() {
                drain(trash);
            }
        });
    }
}

/// Destroys the objects put aside, and those their destruction puts aside.
#[cold]
fn drain(trash: &Trash) {
    // Not while unwinding: a panicking destructor would abort. What is
    // left is destroyed after the next outermost deallocation.
    if std::thread::panicking() {
        return;
    }
    trash.draining.set(true);
    struct Done<'a>(&'a Trash);
    impl Drop for Done<'_> {
        fn drop(&mut self) {
            self.0.draining.set(false);
        }
    }
    let _done = Done(trash);
    loop {
        let gc = trash.deferred.get();
        if gc.is_null() {
            break;
        }
        // SAFETY: `gc` was put aside by `trash_begin`: an untracked object
        // with no references, whose `prev` links the rest of the list.
        unsafe {
            trash.deferred.set(head::prev(gc));
            head::set_prev(gc, ptr::null_mut());
            let op = head::object(gc);
            if let Some(dealloc) = (*(*op).ob_type).dealloc() {
                dealloc(op);
            }
        }
    }
}
