//! A thread's collector: its three generations and the permanent one,
//! thresholds, counts and statistics (CPython's `GCState`, per thread).

use core::cell::Cell;

use super::head::{self, GcHead};
use crate::PyObject;

/// The statistics of one generation (one entry of Python's `gc.get_stats()`).
///
/// ```
/// let [young, _, _] = objimpl::gc::get_stats();
/// assert_eq!(young.uncollectable, 0);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GenerationStats {
    /// How many times the generation was collected.
    pub collections: usize,
    /// How many objects its collections destroyed.
    pub collected: usize,
    /// Unreachable objects that could not be destroyed. CPython counts the
    /// objects with a legacy `__del__` here; every objimpl object can be
    /// destroyed, so this stays 0. Kept for the shape of `gc.get_stats()`.
    pub uncollectable: usize,
}

/// The number of generations.
pub(crate) const GENERATIONS: usize = 3;

/// One generation's counters; its list is in [`Lists`].
pub(crate) struct Generation {
    /// Generation 0: objects allocated minus objects freed since its last
    /// collection. Older ones: collections of the next younger one since
    /// their own last.
    pub(crate) count: Cell<usize>,
    pub(crate) threshold: Cell<usize>,
    pub(crate) stats: Cell<GenerationStats>,
}

impl Generation {
    const fn new(threshold: usize) -> Generation {
        Generation {
            count: Cell::new(0),
            threshold: Cell::new(threshold),
            stats: Cell::new(GenerationStats {
                collections: 0,
                collected: 0,
                uncollectable: 0,
            }),
        }
    }
}

/// The list heads, on the heap: objects' links point at them, so they must
/// not move, nor be reached through a `&mut GcState` (the thread-local's
/// destructor has one) while those links are followed.
struct Lists {
    generations: [GcHead; GENERATIONS],
    /// `gc.freeze()`'s generation, never collected.
    permanent: GcHead,
}

/// A thread's collector.
pub(crate) struct GcState {
    pub(crate) generations: [Generation; GENERATIONS],
    /// Made at first use.
    lists: Cell<*mut Lists>,
    pub(crate) enabled: Cell<bool>,
    /// A collection is under way: no other starts (a `Drop` run by the
    /// collector may allocate, or call `collect`).
    pub(crate) collecting: Cell<bool>,
    /// Objects in the oldest generation after its last collection, and
    /// those moved there since: a full collection waits until the second is
    /// a quarter of the first, so that building a large structure does not
    /// cost time quadratic in its size (CPython's issue #4074).
    pub(crate) long_lived_total: Cell<usize>,
    pub(crate) long_lived_pending: Cell<usize>,
    /// The thread is ending: its collector has run for the last time, and
    /// objects made from now on stay untracked.
    closed: Cell<bool>,
}

thread_local! {
    /// No destructor, so that reaching it is one address computation, not
    /// a check of its state (objects are made and freed through it). The
    /// work at thread exit is [`ExitGuard`]'s.
    static STATE: GcState = const { GcState::new() };
    /// Registered when the lists are first made: its destructor collects
    /// what the thread left behind.
    static EXIT: ExitGuard = const { ExitGuard };
}

/// The collector of the objects C makes once a C program uses the GIL
/// (`capi::gil`): one for the process, CPython's interpreter's, used by
/// whichever thread holds the GIL. Never closed.
struct Interpreter(GcState);

// SAFETY: reached only through `GcState::interpreter`, whose callers hold
// the GIL: one thread at a time, each use ordered after the last by the
// lock.
unsafe impl Sync for Interpreter {}

static INTERPRETER: Interpreter = Interpreter(GcState::new());

/// Runs the thread's last collection, from the thread-locals' destructors.
struct ExitGuard;

impl Drop for ExitGuard {
    fn drop(&mut self) {
        STATE.with(GcState::close);
    }
}

impl GcState {
    const fn new() -> GcState {
        GcState {
            generations: [
                Generation::new(700),
                Generation::new(10),
                Generation::new(10),
            ],
            lists: Cell::new(core::ptr::null_mut()),
            enabled: Cell::new(true),
            collecting: Cell::new(false),
            long_lived_total: Cell::new(0),
            long_lived_pending: Cell::new(0),
            closed: Cell::new(false),
        }
    }

    /// Whether the thread's collector has run for the last time.
    #[inline]
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.get()
    }

    /// Runs `f` on this thread's collector.
    #[inline(always)]
    pub(crate) fn with<R>(f: impl FnOnce(&GcState) -> R) -> R {
        // The state's address, taken by a closure small enough to inline
        // (`LocalKey::with` around all of `f` is not inlined): the paths
        // that make and free objects stay straight-line code.
        let state = STATE.with(core::ptr::from_ref);
        // SAFETY: `STATE` has no destructor, so its storage lives as long
        // as the thread, which outlives this call.
        f(unsafe { &*state })
    }

    /// The process's collector of C objects (see [`Interpreter`]).
    ///
    /// # Safety
    ///
    /// - The caller holds the GIL (`capi::gil`) until it is done with the
    ///   reference.
    pub(crate) unsafe fn interpreter() -> &'static GcState {
        &INTERPRETER.0
    }

    /// The list head of generation `n`.
    #[inline]
    pub(crate) fn head(&self, n: usize) -> *mut GcHead {
        // SAFETY: `lists` points at this thread's live list heads.
        unsafe { &raw mut (*self.lists()).generations[n] }
    }

    /// The permanent generation's list head.
    #[inline]
    pub(crate) fn permanent(&self) -> *mut GcHead {
        // SAFETY: as in `head`.
        unsafe { &raw mut (*self.lists()).permanent }
    }

    /// The list heads, made (empty) at first use.
    #[inline]
    fn lists(&self) -> *mut Lists {
        let lists = self.lists.get();
        if !lists.is_null() {
            return lists;
        }
        self.make_lists()
    }

    #[cold]
    #[inline(never)]
    fn make_lists(&self) -> *mut Lists {
        let lists = Box::into_raw(Box::new(Lists {
            generations: [const { GcHead::unlinked() }; GENERATIONS],
            permanent: GcHead::unlinked(),
        }));
        // SAFETY: fresh heads at their final address, on no list.
        unsafe {
            for n in 0..GENERATIONS {
                head::init(&raw mut (*lists).generations[n]);
            }
            head::init(&raw mut (*lists).permanent);
        }
        self.lists.set(lists);
        // From now on the thread has a collector to close when it ends.
        let _ = EXIT.try_with(|_| ());
        lists
    }

    /// `_PyObject_GC_Link`'s accounting: one more `gc` object; collects
    /// if that passes generation 0's threshold.
    ///
    /// A panic of a `Drop` the collection runs goes to the unraisable hook.
    #[inline]
    pub(crate) fn on_alloc(&self) {
        if self.count_new() {
            self.collect_generations();
        }
    }

    /// [`on_alloc`](Self::on_alloc)'s count: one more `gc` object; whether
    /// that passes generation 0's threshold, so that a collection is due.
    #[inline]
    pub(crate) fn count_new(&self) -> bool {
        // (A closed collector has threshold 0: no automatic collection.)
        let generation = &self.generations[0];
        let count = generation.count.get() + 1;
        generation.count.set(count);
        count > generation.threshold.get()
            && generation.threshold.get() != 0
            && self.enabled.get()
            && !self.collecting.get()
    }

    /// `PyObject_GC_Del`'s accounting: one `gc` object fewer.
    #[inline]
    pub(crate) fn on_free(&self) {
        let generation = &self.generations[0];
        generation
            .count
            .set(generation.count.get().saturating_sub(1));
    }

    /// `PyObject_GC_Track`: links `op` into generation 0.
    ///
    /// # Safety
    ///
    /// - `op` is a live, complete `gc` object of this thread, untracked.
    #[inline]
    pub(crate) unsafe fn track(&self, op: *mut PyObject) {
        let mut lists = self.lists.get();
        if lists.is_null() {
            // The thread's first object, or one made after the collector
            // closed (which stays untracked).
            if self.closed.get() {
                return;
            }
            lists = self.lists();
        }
        // SAFETY: the caller promises `op` is an untracked `gc` object;
        // `lists` holds this thread's well-formed list heads.
        unsafe { head::append_untracked(head::of(op), &raw mut (*lists).generations[0]) };
    }

    /// Collects the oldest generation whose count passed its threshold,
    /// as `gc_collect_generations` does. Out of line: the allocation path
    /// that checks for it stays small.
    #[cold]
    #[inline(never)]
    pub(crate) fn collect_generations(&self) {
        for n in (0..GENERATIONS).rev() {
            let generation = &self.generations[n];
            if generation.count.get() <= generation.threshold.get() {
                continue;
            }
            if n == GENERATIONS - 1
                && self.long_lived_pending.get() < self.long_lived_total.get() / 4
            {
                continue;
            }
            self.collect(n);
            break;
        }
    }

    /// `gc.freeze()`: moves every tracked object to the permanent generation.
    pub(crate) fn freeze(&self) {
        if self.closed.get() {
            return;
        }
        for n in 0..GENERATIONS {
            // SAFETY: two well-formed lists of this thread.
            unsafe { head::merge(self.head(n), self.permanent()) };
            self.generations[n].count.set(0);
        }
    }

    /// `gc.unfreeze()`: moves the permanent generation to the oldest.
    pub(crate) fn unfreeze(&self) {
        if self.closed.get() {
            return;
        }
        // SAFETY: two well-formed lists of this thread.
        unsafe { head::merge(self.permanent(), self.head(GENERATIONS - 1)) };
    }

    /// The number of objects in the permanent generation.
    pub(crate) fn freeze_count(&self) -> usize {
        if self.closed.get() {
            return 0;
        }
        // SAFETY: a well-formed list of this thread.
        unsafe { head::len(self.permanent()) }
    }
}

impl GcState {
    /// At thread exit, what the thread left behind is collected. Objects
    /// still alive after that (leaked with `mem::forget`, or owned by
    /// another thread-local destroyed later) are untracked, so that nothing
    /// points at the lists that go now; objects made later stay untracked.
    fn close(&self) {
        if self.lists.get().is_null() || self.closed.get() {
            return;
        }
        self.unfreeze();
        self.enabled.set(false);
        if !self.collecting.get() {
            self.collect(GENERATIONS - 1);
        }
        let heads = [self.head(0), self.head(1), self.head(2), self.permanent()];
        for head in heads {
            // SAFETY: a well-formed list of this thread; each node is a
            // live object, unlinked one by one.
            unsafe {
                while !head::is_empty(head) {
                    head::remove(head::next(head));
                }
            }
        }
        self.closed.set(true);
        self.generations[0].threshold.set(0);
        // SAFETY: made by `Box::into_raw` in `lists`; no object links to
        // the heads any more, and none will (the collector is closed).
        drop(unsafe { Box::from_raw(self.lists.replace(core::ptr::null_mut())) });
    }
}
