//! `fork()`: the child process has one thread, the one that forked. A lock
//! that another thread held at that moment would stay locked in the child
//! forever, and its first allocation to need it would hang. As glibc does
//! for its own `malloc`, `pthread_atfork` handlers make the fork happen
//! while the forking thread holds every lock of the allocator, and release
//! them in the parent and in the child.
//!
//! The locks are taken in the one order in which the allocator ever nests
//! them: the debug hooks' quarantine, their shards (in index order), the
//! heaps' lists, the arena registry. Other threads' heaps are left as they
//! were in the child: their blocks stay allocated, as in any forked
//! process, and the forking thread's own heap goes on working.

use core::cell::RefCell;
use std::sync::{MutexGuard, Once};

use super::{arena, debug, heap};

/// The guards the forking thread holds across `fork()`.
struct Held {
    _quarantine: MutexGuard<'static, debug::Quarantine>,
    _shards: Vec<MutexGuard<'static, debug::Map>>,
    _lists: MutexGuard<'static, heap::Lists>,
    _registry: MutexGuard<'static, arena::Registry>,
}

thread_local! {
    static HELD: RefCell<Option<Held>> = const { RefCell::new(None) };
}

/// Installs the handlers, once per process. Miri cannot run them (and
/// its programs do not fork): it skips this.
pub(crate) fn install() {
    static ONCE: Once = Once::new();
    if cfg!(miri) {
        return;
    }
    ONCE.call_once(|| {
        // SAFETY: the three functions are `extern "C"` with no arguments,
        // as `pthread_atfork` calls them, and never unwind.
        let error = unsafe { libc::pthread_atfork(Some(prepare), Some(release), Some(child)) };
        if error != 0 {
            // Without the handlers the process works; only a fork while
            // another thread holds a lock could leave the child stuck.
            eprintln!("objimpl: pthread_atfork failed ({error}): fork() is not made safe");
        }
    });
}

/// Before `fork()`: take every lock, in order.
extern "C" fn prepare() {
    let held = Held {
        _quarantine: debug::quarantine(),
        _shards: debug::all_shards(),
        _lists: heap::lock_lists(),
        _registry: arena::lock_registry(),
    };
    let _ = HELD.try_with(|h| *h.borrow_mut() = Some(held));
}

/// After `fork()`, in the parent and in the child: release them.
extern "C" fn release() {
    let _ = HELD.try_with(|h| h.borrow_mut().take());
}

/// After `fork()`, in the child: release them, and forget the housekeeping
/// that other threads were doing (they do not exist here), so that
/// [`stats`](super::stats) does not wait for it.
extern "C" fn child() {
    heap::forget_housekeeping();
    release();
}
