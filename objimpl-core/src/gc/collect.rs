//! The collection itself, as CPython's `gcmodule.c` finds garbage, with a
//! destruction phase of its own, made for Rust payloads.
//!
//! **Finding the garbage** (CPython's `deduce_unreachable`):
//!
//! 1. `update_refs`: every object of the generations being collected (the
//!    *young* list) gets `gc_refs = ob_refcnt` and the `COLLECTING` flag.
//! 2. `subtract_refs`: each traverses its references; every referent in the
//!    young list loses one `gc_refs`. What is left counts references from
//!    outside the young list: an object with `gc_refs > 0` is reachable.
//! 3. `move_unreachable`: one pass over the young list, which grows as it
//!    goes. An object with `gc_refs > 0` marks all it refers to reachable
//!    (moving them back if they were moved away); one with `gc_refs == 0` is
//!    moved to the *unreachable* list, tentatively. When the pass ends,
//!    what is still there is garbage. No memory is allocated.
//!
//! **Destroying it.** CPython breaks cycles with `tp_clear`, which sets
//! fields to `NULL`; a Rust payload has no such state, so its `tp_clear`
//! drops the payload while other garbage may still refer to the object.
//! That is only sound if nothing can read the payload afterwards, so:
//!
//! - every garbage object gets a temporary reference (nothing is freed
//!   while the phase runs) and keeps `COLLECTING`; dereferencing a `Py` to
//!   an object with `COLLECTING` or `FINALIZED` panics (`Py::try_get` says
//!   `None`), so a `Drop` run now cannot see another garbage payload, let
//!   alone a dropped one, and cannot change what garbage holds;
//! - objects are cleared one by one. Before each, its references from
//!   garbage not yet cleared (counted once, then decremented as the
//!   referrers are cleared) are taken from its reference count. Anything
//!   left is a reference a `Drop` made (a handle cloned into a global):
//!   the object was resurrected, and it and every uncleared object it
//!   reaches survive, intact, into the old generation;
//! - then the temporary references go, and the cleared objects whose last
//!   reference that was are freed.
//!
//! A panic in a `Drop` does not stop the phase, and is not resumed: once the
//! collector's state is whole again, each goes to the unraisable hook
//! (`super::unraisable`), as CPython's collector hands exceptions in
//! finalizers to `sys.unraisablehook`.

use core::ffi::{c_int, c_void};
use std::panic::{self, AssertUnwindSafe};

use super::head::{self, COLLECTING, FINALIZED, GcHead, UNREACHABLE};
use super::state::{GENERATIONS, GcState};
use super::unraisable;
use crate::object::{VisitProc, decref, incref};
use crate::{PyObject, TypeObject};

impl GcState {
    /// Collects generation `generation` and every younger one (CPython's
    /// `gc_collect_main`); returns the number of objects found unreachable
    /// and destroyed. Does nothing (returns 0) while a collection runs.
    /// Never panics: the panics of the `Drop`s it runs go to the
    /// unraisable hook once it is done.
    pub(crate) fn collect(&self, generation: usize) -> usize {
        if self.is_closed() || self.collecting.replace(true) {
            return 0;
        }
        // The `Drop`s' panics are caught inside; one from the collector's own
        // code (a broken invariant) still leaves the collector usable.
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| self.collect_main(generation)));
        self.collecting.set(false);
        let (collected, panics) = outcome.unwrap_or_else(|payload| panic::resume_unwind(payload));
        for (type_name, payload) in panics {
            unraisable::report(
                "the destruction by the cycle collector",
                type_name,
                &*payload,
            );
            unraisable::drop_payload(payload);
        }
        collected
    }

    /// The collection; returns the count of objects destroyed and the
    /// panics of their `Drop`s, with the names of their types.
    fn collect_main(&self, generation: usize) -> (usize, Vec<Panic>) {
        if let Some(older) = self.generations.get(generation + 1) {
            older.count.set(older.count.get() + 1);
        }
        for younger in &self.generations[..=generation] {
            younger.count.set(0);
        }
        let young = self.head(generation);
        for n in 0..generation {
            // SAFETY: two well-formed lists of this thread.
            unsafe { head::merge(self.head(n), young) };
        }
        let old = if generation + 1 < GENERATIONS {
            self.head(generation + 1)
        } else {
            young
        };

        let mut unreachable = GcHead::unlinked();
        let unreachable = &raw mut unreachable;
        // SAFETY: `young` is a well-formed list of this thread's live `gc`
        // objects; `unreachable` is a list head that outlives the calls.
        unsafe {
            head::init(unreachable);
            update_refs(young);
            subtract_refs(young);
            move_unreachable(young, unreachable);
        }

        // The survivors age (CPython's bookkeeping for full collections).
        if young != old {
            if generation == GENERATIONS - 2 {
                // SAFETY: a well-formed list of this thread.
                let moved = unsafe { head::len(young) };
                self.long_lived_pending
                    .set(self.long_lived_pending.get() + moved);
            }
            // SAFETY: two well-formed lists of this thread.
            unsafe { head::merge(young, old) };
        } else {
            self.long_lived_pending.set(0);
            // SAFETY: a well-formed list of this thread.
            self.long_lived_total.set(unsafe { head::len(young) });
        }

        // SAFETY: `unreachable` holds the garbage as `move_unreachable`
        // left it; `old` is a well-formed list of this thread.
        let (collected, panics) = unsafe { destroy(unreachable, old) };

        let stats = &self.generations[generation].stats;
        let mut s = stats.get();
        s.collections += 1;
        s.collected += collected;
        stats.set(s);
        (collected, panics)
    }
}

type PanicPayload = Box<dyn core::any::Any + Send + 'static>;

/// A `Drop`'s panic, and the name of the type of the object it destroyed.
type Panic = (&'static str, PanicPayload);

/// The type object of `op`.
///
/// # Safety
///
/// - `op` is a live object.
#[inline]
unsafe fn type_of(op: *mut PyObject) -> &'static TypeObject {
    // SAFETY: the caller promises `op` is live; its type outlives it.
    unsafe { &*(*op).ob_type }
}

/// The collector's view of a referent: its header, if it is a tracked
/// `gc` object in the set being collected.
///
/// # Safety
///
/// - `op` is a live object.
#[inline]
unsafe fn collecting(op: *mut PyObject) -> Option<*mut GcHead> {
    // SAFETY: the caller promises `op` is live.
    if !unsafe { type_of(op) }.is_gc() {
        return None;
    }
    let gc = head::of(op);
    // SAFETY: a live `gc` object has a header. An untracked one never has
    // `COLLECTING`, so the flag alone says it is in the set.
    unsafe { head::has_flag(gc, COLLECTING) }.then_some(gc)
}

/// Calls the type's `tp_traverse` on `op`.
///
/// # Safety
///
/// - `op` is a live `gc` object; `visit` may be called with `arg` and any
///   object `op` refers to.
#[inline]
unsafe fn traverse(op: *mut PyObject, visit: VisitProc, arg: *mut c_void) {
    // SAFETY: the caller promises `op` is live.
    if let Some(traverse) = unsafe { type_of(op) }.traverse() {
        // SAFETY: as the caller promises.
        unsafe { traverse(op, visit, arg) };
    }
}

/// Step 1: `gc_refs = ob_refcnt`, and `COLLECTING`, for every young object.
///
/// # Safety
///
/// - `young` is a well-formed list of live `gc` objects of this thread.
unsafe fn update_refs(young: *mut GcHead) {
    // SAFETY: the caller promises a well-formed list of live objects.
    unsafe {
        let mut gc = head::next(young);
        while gc != young {
            let refcnt = (*head::object(gc)).ob_refcnt;
            debug_assert!(refcnt > 0, "a tracked object with no references");
            let next = head::next(gc);
            head::set_flag(gc, COLLECTING);
            head::set_refs(gc, refcnt.max(0) as usize);
            gc = next;
        }
    }
}

/// Step 2: every reference between young objects is taken off its
/// target's `gc_refs`.
///
/// # Safety
///
/// - as [`update_refs`], after it.
unsafe fn subtract_refs(young: *mut GcHead) {
    // SAFETY: the caller promises a well-formed list of live objects.
    unsafe {
        let mut gc = head::next(young);
        while gc != young {
            traverse(head::object(gc), visit_decref, core::ptr::null_mut());
            gc = head::next(gc);
        }
    }
}

/// `subtract_refs`' visitor.
unsafe extern "C" fn visit_decref(op: *mut PyObject, _: *mut c_void) -> c_int {
    // SAFETY: traversals visit live objects.
    if let Some(gc) = unsafe { collecting(op) } {
        // SAFETY: `gc` is in the set, so `prev` holds its `gc_refs`.
        unsafe {
            let refs = head::refs(gc);
            // More references found than the count holds: a `Traverse`
            // impl visited a handle it does not own. Going on would free
            // objects in use.
            if refs == 0 {
                invalid_traverse(op);
            }
            head::set_refs(gc, refs - 1);
        }
    }
    0
}

#[cold]
fn invalid_traverse(op: *mut PyObject) -> ! {
    // SAFETY: the caller got `op` from a traversal, which visits live objects.
    let name = unsafe { type_of(op) }.name();
    eprintln!(
        "objimpl: the cycle collector found more references to a '{name}' object than it has; \
         a Traverse impl visits a handle it does not own. Aborting."
    );
    std::process::abort()
}

/// Step 3: sorts the young list into reachable (left there) and
/// unreachable (moved to `unreachable`, with `UNREACHABLE` in their `next`).
///
/// # Safety
///
/// - as [`update_refs`], after [`subtract_refs`]; `unreachable` is an empty list.
unsafe fn move_unreachable(young: *mut GcHead, unreachable: *mut GcHead) {
    // The young list is walked forwards only: the `prev` of an object not
    // yet reached holds its `gc_refs`, and is relinked as the walk passes it.
    // SAFETY: the caller promises well-formed lists of live objects.
    unsafe {
        let mut prev = young;
        let mut gc = head::next(young);
        while gc != young {
            if head::refs(gc) > 0 {
                // Reachable: so is everything it refers to.
                traverse(head::object(gc), visit_reachable, young.cast());
                head::set_prev(gc, prev);
                head::clear_flag(gc, COLLECTING);
                prev = gc;
            } else {
                // Tentatively unreachable: move it (unlinked from a list
                // that is singly linked for now).
                head::set_next(prev, head::next_raw(gc));
                let last = head::prev(unreachable);
                head::set_next(last, gc.map_addr(|a| a | UNREACHABLE));
                head::set_prev(gc, last);
                head::set_next(gc, unreachable.map_addr(|a| a | UNREACHABLE));
                head::set_prev(unreachable, gc);
            }
            gc = head::next(prev);
        }
        head::set_prev(young, prev);
        // The mark leaked onto the head's own `next` with the first move.
        head::set_next(unreachable, head::next(unreachable));
    }
}

/// `move_unreachable`'s visitor: a referent of a reachable object is reachable.
unsafe extern "C" fn visit_reachable(op: *mut PyObject, young: *mut c_void) -> c_int {
    let young = young.cast::<GcHead>();
    // SAFETY: traversals visit live objects.
    let Some(gc) = (unsafe { collecting(op) }) else {
        // Another generation, or already passed by the walk (which
        // cleared its flag): nothing to do.
        return 0;
    };
    // SAFETY: `gc` is in the set; the lists are as `move_unreachable` keeps them.
    unsafe {
        if head::next_raw(gc).addr() & UNREACHABLE != 0 {
            // Moved away too soon: unlink it from the unreachable list by
            // hand (the marks confuse the list helpers), and put it back at
            // the young list's end, where the walk will reach it again.
            let prev = head::prev(gc);
            let next = head::next(gc);
            head::set_next(prev, head::next_raw(gc));
            head::set_prev(next, prev);
            head::append(gc, young);
            head::set_refs(gc, 1);
        } else if head::refs(gc) == 0 {
            // Not reached yet by the walk: it is reachable.
            head::set_refs(gc, 1);
        }
    }
    0
}

/// What becomes of one garbage object.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// Not yet decided.
    Pending,
    /// Its payload was dropped (`tp_clear`).
    Cleared,
    /// Resurrected, or reachable from a resurrected object: kept.
    Survives,
}

struct Garbage {
    op: *mut PyObject,
    /// Its type, which outlives it: named if destroying it panics.
    tp: &'static TypeObject,
    /// References to it from garbage not yet cleared.
    internal: usize,
    fate: Fate,
}

/// The garbage of one collection, indexed: each object's index sits in
/// its header's `prev` (as `gc_refs` did) while the phase runs.
struct Sweep {
    garbage: Vec<Garbage>,
    /// The work list of [`Sweep::survive`].
    stack: Vec<usize>,
}

impl Sweep {
    /// The index of `op` in the garbage, if it is garbage still pending.
    ///
    /// # Safety
    ///
    /// - `op` is a live object.
    #[inline]
    unsafe fn pending(&self, op: *mut PyObject) -> Option<usize> {
        // SAFETY: the caller promises `op` is live; in the set, `prev`
        // holds the object's index.
        let index = unsafe { head::refs(collecting(op)?) };
        (self.garbage[index].fate == Fate::Pending).then_some(index)
    }

    /// Garbage `i` is garbage no more: `Py` may dereference it again, and
    /// what it reaches is to be marked too.
    fn mark_survivor(&mut self, i: usize) {
        let item = &mut self.garbage[i];
        item.fate = Fate::Survives;
        // SAFETY: garbage holds a reference to the live `gc` object.
        unsafe { head::clear_flag(head::of(item.op), COLLECTING) };
        self.stack.push(i);
    }

    /// Marks garbage `i` and every pending garbage object it reaches as
    /// survivors.
    fn survive(&mut self, i: usize) {
        self.mark_survivor(i);
        while let Some(j) = self.stack.pop() {
            let op = self.garbage[j].op;
            // SAFETY: garbage holds a temporary reference to `op`; the
            // visitor gets this sweep, and nothing else uses it meanwhile.
            unsafe { traverse(op, visit_survive, (&raw mut *self).cast()) };
        }
    }
}

/// `Sweep::survive`'s visitor.
unsafe extern "C" fn visit_survive(op: *mut PyObject, sweep: *mut c_void) -> c_int {
    // SAFETY: `survive` passes its sweep, unused while the traversal runs.
    let sweep = unsafe { &mut *sweep.cast::<Sweep>() };
    // SAFETY: traversals visit live objects.
    if let Some(i) = unsafe { sweep.pending(op) } {
        sweep.mark_survivor(i);
    }
    0
}

/// Counts a reference from pending garbage.
unsafe extern "C" fn visit_count(op: *mut PyObject, sweep: *mut c_void) -> c_int {
    // SAFETY: as in `visit_survive`.
    let sweep = unsafe { &mut *sweep.cast::<Sweep>() };
    // SAFETY: traversals visit live objects.
    if let Some(i) = unsafe { sweep.pending(op) } {
        sweep.garbage[i].internal += 1;
    }
    0
}

/// Uncounts a reference from garbage about to be cleared.
unsafe extern "C" fn visit_uncount(op: *mut PyObject, sweep: *mut c_void) -> c_int {
    // SAFETY: as in `visit_survive`.
    let sweep = unsafe { &mut *sweep.cast::<Sweep>() };
    // SAFETY: traversals visit live objects.
    if let Some(i) = unsafe { sweep.pending(op) } {
        let internal = &mut sweep.garbage[i].internal;
        *internal = internal.saturating_sub(1);
    }
    0
}

/// Destroys the garbage `move_unreachable` left on `unreachable`; objects
/// that survive join `old`. Returns how many were cleared, and the panics
/// of the `Drop`s it ran.
///
/// # Safety
///
/// - `unreachable` is as `move_unreachable` leaves it, `old` a well-formed
///   list of this thread.
unsafe fn destroy(unreachable: *mut GcHead, old: *mut GcHead) -> (usize, Vec<Panic>) {
    // SAFETY: as the caller promises.
    let count = unsafe { head::len(unreachable) };
    if count == 0 {
        return (0, Vec::new());
    }
    let mut sweep = Sweep {
        garbage: Vec::new(),
        stack: Vec::new(),
    };
    if sweep.garbage.try_reserve_exact(count).is_err() {
        // No memory to sort the garbage: keep it for a later collection.
        // SAFETY: as the caller promises.
        unsafe { give_back(unreachable, old) };
        return (0, Vec::new());
    }

    // Take every object off the list, with a temporary reference, its
    // index in `prev`, and `COLLECTING` kept: `Py` refuses to dereference it.
    // SAFETY: the list holds live objects; each is unlinked once.
    unsafe {
        let mut gc = head::next(unreachable);
        while gc != unreachable {
            let next = head::next(gc);
            let op = head::object(gc);
            incref(core::ptr::NonNull::new_unchecked(op));
            head::set_next(gc, core::ptr::null_mut());
            head::set_refs(gc, sweep.garbage.len());
            sweep.garbage.push(Garbage {
                op,
                tp: type_of(op),
                internal: 0,
                fate: Fate::Pending,
            });
            gc = next;
        }
        head::init(unreachable);
    }

    for i in 0..count {
        let op = sweep.garbage[i].op;
        // SAFETY: `op` is live (garbage holds a reference); the visitor
        // gets the sweep, unused meanwhile.
        unsafe { traverse(op, visit_count, (&raw mut sweep).cast()) };
    }

    // What cannot be cleared (a C type without `tp_clear`) survives, and
    // so does all it reaches, before anything is cleared: nothing it holds
    // is destroyed under it.
    for i in 0..count {
        let Garbage { op, fate, .. } = sweep.garbage[i];
        // SAFETY: `op` is live.
        if fate == Fate::Pending && unsafe { type_of(op) }.clear().is_none() {
            sweep.survive(i);
        }
    }

    let mut cleared = 0;
    let mut panicked = Vec::new();
    each_catching(count, &mut panicked, |i| {
        let Garbage {
            op, internal, fate, ..
        } = sweep.garbage[i];
        if fate != Fate::Pending {
            return;
        }
        // SAFETY: `op` is live.
        let refcnt = unsafe { (*op).ob_refcnt };
        let outside = refcnt - 1 - internal as isize;
        // SAFETY: `op` is live.
        let clear = unsafe { type_of(op) }.clear();
        let Some(clear) = clear.filter(|_| outside <= 0) else {
            // A `Drop` made a new reference to it.
            sweep.survive(i);
            return;
        };
        // Its references go with its payload.
        // SAFETY: as for `visit_count`.
        unsafe { traverse(op, visit_uncount, (&raw mut sweep).cast()) };
        sweep.garbage[i].fate = Fate::Cleared;
        cleared += 1;
        // SAFETY: `op` is live, unreachable but through garbage, which
        // cannot read it (`COLLECTING`); `tp_clear` may drop its payload.
        unsafe { clear(op) };
    });

    // Survivors rejoin a generation, the cleared stay off the lists, and
    // the temporary references go: the garbage is freed. One pass: giving
    // up object `i`'s reference can free nothing of the garbage after it
    // (each still has its own), and a freed survivor is on its list.
    let garbage = &sweep.garbage;
    each_catching(count, &mut panicked, |i| {
        let op = garbage[i].op;
        let gc = head::of(op);
        // SAFETY: each is a live `gc` object of this thread, on no list;
        // the reference taken above is given up once.
        unsafe {
            head::reset(gc, FINALIZED);
            if garbage[i].fate == Fate::Survives {
                head::append(gc, old);
            }
            decref(core::ptr::NonNull::new_unchecked(op));
        }
    });
    let panics = panicked
        .into_iter()
        .map(|(i, payload)| (garbage[i].tp.name(), payload))
        .collect();
    (cleared, panics)
}

/// Runs `step(i)` for each `i` in `0..n`, all inside one `catch_unwind`
/// (not one per step): a step that panics is passed over, its index and
/// payload kept in `panicked`, and the loop goes on from the next index.
fn each_catching(n: usize, panicked: &mut Vec<(usize, PanicPayload)>, mut step: impl FnMut(usize)) {
    let mut next = 0;
    while next < n {
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
            while next < n {
                let i = next;
                next += 1;
                step(i);
            }
        }));
        if let Err(payload) = outcome {
            // (`next` was moved past the step that panicked.)
            panicked.push((next - 1, payload));
        }
    }
}

/// Puts the tentatively unreachable list back together and merges it into
/// `old`, collecting nothing.
///
/// # Safety
///
/// - as [`destroy`].
unsafe fn give_back(unreachable: *mut GcHead, old: *mut GcHead) {
    // SAFETY: as the caller promises; the marks are cleared node by node.
    unsafe {
        let mut gc = head::next(unreachable);
        while gc != unreachable {
            let next = head::next(gc);
            head::set_next(gc, next);
            head::clear_flag(gc, COLLECTING);
            gc = next;
        }
        head::merge(unreachable, old);
    }
}
