//! `fork()`: the child process has one thread, the one that forked. A lock
//! that another thread held at that moment would stay locked in the child
//! forever, and its first allocation to need it would hang. As glibc does
//! for its own `malloc`, `pthread_atfork` handlers make the fork happen
//! while the forking thread holds every lock of the allocator, and release
//! them in the parent and in the child.
//!
//! Each lock's owner registers its own step here ([`register`]): a
//! [`Step`] that takes the lock and keeps the guard before the fork, and
//! lets it go after. This file knows no lock, only their [`Rank`]s: the
//! steps run in rank order, which is the one order in which the allocator
//! ever nests its locks:
//!
//! 1. the debug hooks' capture lock (`debug/report.rs`), held by every
//!    capture of a stack (tracing on). `std`'s unwinder has locks of its own
//!    that no handler can take; with this one held, the fork happens when
//!    no thread of ours is inside it. It comes first because a capture
//!    allocates, through the pools or (under a global allocator built on
//!    them) the hooks, and so may take the locks below under it. The
//!    reverse never happens: only a call that comes from outside the
//!    hooks captures, before it takes any of their locks; a call made by
//!    the hooks' own code, which may hold them, goes straight to the
//!    allocator below and captures nothing;
//! 2. the hooks' quarantine shards, then their table shards, each in index
//!    order (a report renders its stacks, which also runs `std`'s
//!    backtrace code, under a shard's lock: never across the fork either;
//!    `check_memory` takes the arena registry under them);
//! 3. the heaps' lists (`heap/lists.rs`);
//! 4. the purger's batch (`purge/`), which it holds while it picks the
//!    arenas to purge under the registry's lock;
//! 5. the arena registry (`arena.rs`).
//!
//! An owner registers before it first takes its lock (in the function that
//! takes it), so no lock is taken before its step is known. Registering
//! allocates nothing, is a load and a compare once done, and installs the
//! `pthread_atfork` handlers the first time. A first registration and a
//! fork exclude each other (the registrations' own lock, which `prepare`
//! takes first and the handlers after the fork let go last): a step is
//! either seen by the fork's `prepare`, or stored after the fork, so no
//! lock can be taken, unseen, by a thread the child will not have. (A
//! step's `prepare` that registers another on the way, as a lock function
//! registering every step of its owner does, stores it under the guard its
//! thread holds already.)
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
use core::ptr;
use core::sync::atomic::{AtomicPtr, Ordering};
use std::sync::{Mutex, MutexGuard, Once, PoisonError};
use std::thread::LocalKey;

use super::fatal::invariant;

/// Where a lock stands in the order the fork handlers take them in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Rank {
    /// The debug hooks' capture lock.
    Capture,
    /// The debug hooks' quarantine shards, in index order.
    Quarantine,
    /// The debug hooks' table shards, in index order.
    Shards,
    /// The heaps' lists.
    HeapLists,
    /// The purger's batch (`purge/`).
    Purge,
    /// The arena registry.
    ArenaRegistry,
}

const RANKS: usize = Rank::ArenaRegistry as usize + 1;

/// One lock's part of the fork handlers, registered by its owner.
pub(crate) struct Step {
    /// Where the lock stands in the order.
    pub(crate) rank: Rank,
    /// Before `fork()`: take the lock and keep its guard ([`hold`]).
    pub(crate) prepare: fn(),
    /// After `fork()`, in the parent and in the child: let it go
    /// ([`let_go`]).
    pub(crate) release: fn(),
    /// After `fork()`, in the child, before any lock is let go: forget
    /// what the threads that do not exist there were doing.
    pub(crate) child: Option<fn()>,
}

/// The registered steps, by rank.
static STEPS: [AtomicPtr<Step>; RANKS] = [const { AtomicPtr::new(ptr::null_mut()) }; RANKS];

/// Held while a step is stored, and across a fork.
static REGISTERING: Mutex<()> = Mutex::new(());

thread_local! {
    /// The forking thread's guard of [`REGISTERING`].
    static REGISTERING_HELD: Held<MutexGuard<'static, ()>> = const { Held::new() };
    /// Whether this thread is running the steps' `prepare`s: a step that
    /// registers another on the way (a lock function registers every step
    /// of its owner) stores it under the guard this thread holds already.
    static IN_PREPARE: core::cell::Cell<bool> = const { core::cell::Cell::new(false) };
}

fn lock_registering() -> MutexGuard<'static, ()> {
    REGISTERING.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Registers `step`, and installs the handlers if they are not yet. Call it
/// before taking the step's lock; calling it again does nothing.
#[inline]
pub(crate) fn register(step: &'static Step) {
    let slot = &STEPS[step.rank as usize];
    let step = ptr::from_ref(step).cast_mut();
    if slot.load(Ordering::Relaxed) != step {
        register_slow(slot, step);
    }
}

/// Takes `mutex`, an allocator lock whose fork step is `step`, registering
/// the step first. A poisoned lock is taken all the same: nothing under the
/// allocator's locks panics half-way (a capture that panics leaves nothing
/// half-done either).
pub(crate) fn lock<T>(step: &'static Step, mutex: &'static Mutex<T>) -> MutexGuard<'static, T> {
    register(step);
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cold]
#[inline(never)]
fn register_slow(slot: &AtomicPtr<Step>, step: *mut Step) {
    install();
    let in_prepare = IN_PREPARE.try_with(core::cell::Cell::get).unwrap_or(false);
    let _registering = (!in_prepare).then(lock_registering);
    let old = slot.swap(step, Ordering::Release);
    invariant!(
        old.is_null() || old == step,
        "two locks registered for one rank of the fork handlers"
    );
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

/// Calls `f` on every registered step, in rank order.
fn each_step(mut f: impl FnMut(&'static Step)) {
    for slot in &STEPS {
        let step = slot.load(Ordering::Acquire);
        if !step.is_null() {
            // SAFETY: only `&'static Step`s are registered.
            f(unsafe { &*step });
        }
    }
}

/// Before `fork()`: no more registrations, then take every lock, in order.
extern "C" fn prepare() {
    hold(&REGISTERING_HELD, lock_registering());
    let _ = IN_PREPARE.try_with(|p| p.set(true));
    each_step(|step| (step.prepare)());
    let _ = IN_PREPARE.try_with(|p| p.set(false));
}

/// After `fork()`, in the parent and in the child: release them, in the
/// same order, then let registrations go on.
extern "C" fn release() {
    each_step(|step| (step.release)());
    let_go(&REGISTERING_HELD);
}

/// After `fork()`, in the child: forget the work that other threads were
/// doing (they do not exist here), then release the locks.
extern "C" fn child() {
    each_step(|step| {
        if let Some(child) = step.child {
            child();
        }
    });
    release();
}

/// A guard kept across `fork()` by the forking thread, in a thread-local of
/// the lock's owner: `thread_local! { static HELD: Held<MutexGuard<..>> =
/// const { Held::new() }; }`.
pub(crate) struct Held<G>(RefCell<Option<G>>);

impl<G> Held<G> {
    pub(crate) const fn new() -> Held<G> {
        Held(RefCell::new(None))
    }
}

/// Keeps `guard` in `held` until [`let_go`] (a step's `prepare`).
pub(crate) fn hold<G>(held: &'static LocalKey<Held<G>>, guard: G) {
    let _ = held.try_with(|h| *h.0.borrow_mut() = Some(guard));
}

/// Drops the guard kept in `held` (a step's `release`).
pub(crate) fn let_go<G>(held: &'static LocalKey<Held<G>>) {
    let _ = held.try_with(|h| h.0.borrow_mut().take());
}
