//! `fork()`: the child process has one thread, the one that forked. A lock
//! that another thread held at that moment would stay locked in the child
//! forever, and its first allocation to need it would hang. As glibc does
//! for its own `malloc`, `pthread_atfork` handlers make the fork happen
//! while the forking thread holds every lock of the allocator, and release
//! them in the parent and in the child.
//!
//! The locks are taken in the one order in which the allocator ever nests
//! them:
//!
//! 1. the debug hooks' capture lock (`debug::capture_lock`), held by every
//!    capture of a stack (tracing on). `std`'s unwinder has locks of its own
//!    that no handler can take; with this one held, the fork happens when
//!    no thread of ours is inside it. It comes first because a capture
//!    allocates, through the pools or (under a global allocator built on
//!    them) the hooks, and so may take the locks below under it. The
//!    reverse never happens: only a call that comes from outside the
//!    hooks captures, before it takes any of their locks; a call made by
//!    the hooks' own code, which may hold them, goes straight to the
//!    allocator below and captures nothing;
//! 2. the hooks' quarantine;
//! 3. their shards, in index order (a report renders its stacks, which
//!    also runs `std`'s backtrace code, under a shard's lock: never across
//!    the fork either);
//! 4. the heaps' lists;
//! 5. the arena registry.
//!
//! Only the hooks' own use of `std::backtrace` is covered: a thread of the
//! program printing a panic's backtrace at the moment of the fork would
//! leave `std`'s lock taken in the child, whatever the allocator does.
//!
//! # Other threads' heaps in the child
//!
//! Other threads' heaps are left as they were in the child: their blocks
//! stay allocated, as in any forked process, and the forking thread's own
//! heap goes on working. A block of such a heap that the child frees is
//! queued for that heap, as a free from another thread is in the parent,
//! but no thread of the child ever takes it back: the memory stays
//! reserved for good (100 000 such blocks freed and as many allocated again
//! take a second set of arenas). The child does not reclaim those heaps, as
//! the parent reclaims an exited thread's: a heap's owner changes its caches,
//! pools and free lists without a lock, and its thread may have been in the
//! middle of that at the fork. Its state in the child may be half-updated,
//! and a heap whose state cannot be trusted cannot be reused. (glibc's
//! `malloc` can reset its arenas in the child because every one of them is
//! under a lock the handlers take; these heaps, to keep their fast paths
//! free of locks, are not.) A child that frees much of its parent's
//! memory, and allocates as much again, should `exec` or be forked before
//! the other threads start.

use core::cell::RefCell;
use std::sync::{MutexGuard, Once};

use super::{arena, debug, heap};

/// The guards the forking thread holds across `fork()`.
struct Held {
    _capture: MutexGuard<'static, ()>,
    _quarantine: MutexGuard<'static, debug::Quarantine>,
    _shards: debug::AllShards,
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
        _capture: debug::capture_lock(),
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
