//! A thread's collector: its three generations and the permanent one,
//! thresholds, counts and statistics (CPython's `GCState`, per thread).

use core::cell::{Cell, UnsafeCell};

use super::GenerationStats;
use super::head::{self, GcHead};
use crate::PyObject;

/// The number of generations.
pub(crate) const GENERATIONS: usize = 3;

/// One generation: a list of objects, and when to collect it.
pub(crate) struct Generation {
    head: UnsafeCell<GcHead>,
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
            head: UnsafeCell::new(GcHead::unlinked()),
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

/// A thread's collector.
pub(crate) struct GcState {
    pub(crate) generations: [Generation; GENERATIONS],
    /// `gc.freeze()`'s generation, never collected.
    permanent: UnsafeCell<GcHead>,
    lists_ready: Cell<bool>,
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
}

thread_local! {
    static STATE: GcState = const { GcState::new() };
}

impl GcState {
    const fn new() -> GcState {
        GcState {
            generations: [
                Generation::new(700),
                Generation::new(10),
                Generation::new(10),
            ],
            permanent: UnsafeCell::new(GcHead::unlinked()),
            lists_ready: Cell::new(false),
            enabled: Cell::new(true),
            collecting: Cell::new(false),
            long_lived_total: Cell::new(0),
            long_lived_pending: Cell::new(0),
        }
    }

    /// Runs `f` on this thread's collector; `None` once the thread's
    /// thread-locals are being destroyed (objects made then stay untracked).
    #[inline]
    pub(crate) fn with<R>(f: impl FnOnce(&GcState) -> R) -> Option<R> {
        STATE.try_with(|state| f(state)).ok()
    }

    /// The list head of generation `n`.
    #[inline]
    pub(crate) fn head(&self, n: usize) -> *mut GcHead {
        self.ready();
        self.generations[n].head.get()
    }

    /// The permanent generation's list head.
    #[inline]
    pub(crate) fn permanent(&self) -> *mut GcHead {
        self.ready();
        self.permanent.get()
    }

    /// Links the list heads to themselves, once they have their final
    /// (thread-local) address.
    #[inline]
    fn ready(&self) {
        if !self.lists_ready.get() {
            for generation in &self.generations {
                // SAFETY: a list head of this thread, not yet on any list.
                unsafe { head::init(generation.head.get()) };
            }
            // SAFETY: as above.
            unsafe { head::init(self.permanent.get()) };
            self.lists_ready.set(true);
        }
    }

    /// `_PyObject_GC_Link`'s accounting: one more `gc` object; collects
    /// if that passes generation 0's threshold.
    #[inline]
    pub(crate) fn on_alloc(&self) {
        let generation = &self.generations[0];
        let count = generation.count.get() + 1;
        generation.count.set(count);
        if count > generation.threshold.get()
            && generation.threshold.get() != 0
            && self.enabled.get()
            && !self.collecting.get()
        {
            self.collect_generations();
        }
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
        // SAFETY: the caller promises `op` is an untracked `gc` object, and
        // generation 0's head is a well-formed list of this thread.
        unsafe { head::append(head::of(op), self.head(0)) };
    }

    /// Collects the oldest generation whose count passed its threshold,
    /// as `gc_collect_generations` does.
    fn collect_generations(&self) {
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
        for n in 0..GENERATIONS {
            // SAFETY: two well-formed lists of this thread.
            unsafe { head::merge(self.head(n), self.permanent()) };
            self.generations[n].count.set(0);
        }
    }

    /// `gc.unfreeze()`: moves the permanent generation to the oldest.
    pub(crate) fn unfreeze(&self) {
        // SAFETY: two well-formed lists of this thread.
        unsafe { head::merge(self.permanent(), self.head(GENERATIONS - 1)) };
    }

    /// The number of objects in the permanent generation.
    pub(crate) fn freeze_count(&self) -> usize {
        // SAFETY: a well-formed list of this thread.
        unsafe { head::len(self.permanent()) }
    }
}

impl Drop for GcState {
    /// At thread exit, what the thread left behind is collected. Objects
    /// still alive after that (leaked with `mem::forget`, or owned by
    /// another thread-local destroyed later) are untracked, so that nothing
    /// points at the lists that go now.
    fn drop(&mut self) {
        if !self.lists_ready.get() {
            return;
        }
        self.unfreeze();
        self.enabled.set(false);
        if !self.collecting.get() {
            self.collect(GENERATIONS - 1);
        }
        for n in 0..GENERATIONS {
            let head = self.head(n);
            // SAFETY: a well-formed list of this thread; each node is a
            // live object, unlinked one by one.
            unsafe {
                while !head::is_empty(head) {
                    head::remove(head::next(head));
                }
            }
        }
    }
}
