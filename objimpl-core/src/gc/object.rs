//! `gc` objects: allocation with a GC header in front (`_PyObject_GC_New`,
//! `_PyObject_GC_NewVar`, `_PyObject_GC_Resize`, `PyObject_GC_Del`),
//! tracking, and the `tp_traverse` and `tp_clear` of Rust types.

use core::cell::Cell;
use core::ffi::{c_int, c_void};
use core::ptr::{self, NonNull};

use super::head::{self, FINALIZED, GcHead, PREFIX};
use super::state::GcState;
use super::traverse::{Traverse, Visit, VisitProc};
use crate::layout::ObjectHeader;
use crate::object::{items_ptr, payload_ptr, var_len};
use crate::{MemoryError, PyObject, PyObjectType, PyVarObject, TypeObject, alloc, init, init_var};

/// Allocates a `gc` object of `size` bytes, not counted yet. Its header
/// is left as the allocator gave it: [`track_new`] writes both words.
#[inline]
fn alloc_object(size: usize) -> Result<NonNull<PyObject>, MemoryError> {
    let total = size.checked_add(PREFIX).ok_or(MemoryError)?;
    let block = alloc::object_malloc_inlined(total);
    if block.is_null() {
        return Err(MemoryError);
    }
    // SAFETY: `op` is within a non-null block.
    Ok(unsafe { NonNull::new_unchecked(head::from_block(block)) })
}

/// Makes `op`'s header that of an untracked object.
///
/// # Safety
///
/// - `op` is the object position of a block of this thread made for a
///   `gc` object (`PREFIX` bytes before it), which nothing else uses.
#[inline]
unsafe fn clean_header(op: *mut PyObject) {
    // SAFETY: the block has `PREFIX` bytes before the object, which hold
    // the header.
    unsafe { head::of(op).write(GcHead::unlinked()) };
}

/// `PyObject_GC_Del`'s accounting, for memory a freelist keeps.
pub(crate) fn forget() {
    GcState::with(GcState::on_free);
}

/// `_PyObject_GC_New(tp)`: a `gc` object of `tp_basicsize` bytes, header
/// initialised, body uninitialised, untracked; counted in generation 0,
/// which may start a collection (as `_PyObject_GC_Link` does). The count,
/// and the collection, come before the memory is had.
///
/// # Errors
///
/// [`MemoryError`] if the memory could not be had (the count is taken
/// back).
///
/// # Panics
///
/// If a `Drop` that the collection started here runs panics: the panic
/// comes out of here once the collection is done, as out of
/// [`collect`](super::collect). No memory was had then.
#[inline]
pub fn new_object(tp: &'static TypeObject) -> Result<NonNull<PyObject>, MemoryError> {
    GcState::with(GcState::on_alloc);
    let op = new_object_uncounted(tp).inspect_err(|_| GcState::with(GcState::on_free))?;
    // SAFETY: a fresh `gc` object of this thread.
    unsafe { clean_header(op.as_ptr()) };
    Ok(op)
}

/// `_PyObject_GC_NewVar(tp, n)`: as [`new_object`], with room for `n`
/// items and `ob_size = n`.
///
/// # Errors
///
/// [`MemoryError`] if the size overflows or the memory could not be had.
///
/// # Panics
///
/// As [`new_object`].
pub fn new_var_object(
    tp: &'static TypeObject,
    n: usize,
) -> Result<NonNull<PyVarObject>, MemoryError> {
    GcState::with(GcState::on_alloc);
    let op = new_var_object_uncounted(tp, n).inspect_err(|_| GcState::with(GcState::on_free))?;
    // SAFETY: a fresh `gc` object of this thread.
    unsafe { clean_header(op.as_ptr().cast()) };
    Ok(op)
}

/// [`new_object`], counted later by [`track_new`] (one visit to the
/// thread's collector per object, not two), header not written: nothing
/// may read it before `track_new` (nor free the object but by `tp_free`).
#[inline]
pub(crate) fn new_object_uncounted(
    tp: &'static TypeObject,
) -> Result<NonNull<PyObject>, MemoryError> {
    let op = alloc_object(crate::object_size(tp))?;
    // SAFETY: `op` is a fresh block of `tp_basicsize` bytes, 16-aligned.
    unsafe { init(op.as_ptr(), tp) };
    Ok(op)
}

/// [`new_var_object`], counted later by [`track_new`].
#[inline]
pub(crate) fn new_var_object_uncounted(
    tp: &'static TypeObject,
    n: usize,
) -> Result<NonNull<PyVarObject>, MemoryError> {
    if n > isize::MAX as usize {
        return Err(MemoryError);
    }
    let size = crate::var_size(tp, n)
        .ok_or(MemoryError)?
        .max(size_of::<PyVarObject>());
    let op = alloc_object(size)?.cast::<PyVarObject>();
    // SAFETY: `op` is a fresh block of at least a var header, 16-aligned.
    unsafe { init_var(op.as_ptr(), tp, n) };
    Ok(op)
}

/// Counts a new object in generation 0 (which may start a collection,
/// which does not see it yet) and tracks it: `_PyObject_GC_Link` and
/// `PyObject_GC_Track` in one visit to the thread's collector.
///
/// If a `Drop` the collection runs panics, the panic comes out of here
/// with `op` counted and untracked, its header written: an object that
/// its `tp_dealloc` destroys, as the caller's handle to it does (the
/// caller must own it through one, or the object leaks).
///
/// # Safety
///
/// - `op` is a complete `gc` object of this thread, untracked, made by
///   one of the `uncounted` functions or from a freelist (its header's
///   contents do not matter: both words are written).
#[inline(always)]
pub(crate) unsafe fn track_new(op: *mut PyObject) {
    GcState::with(|state| {
        if state.count_new() {
            // SAFETY: as the caller promises.
            unsafe { collect_before_tracking(state, op) };
        }
        // SAFETY: as the caller promises.
        unsafe { state.track(op) }
    });
}

/// The collection [`track_new`] starts, `op` untracked meanwhile, with a
/// header that says so: should the collection unwind, the object is
/// destroyed as any untracked one.
///
/// # Safety
///
/// - as [`track_new`].
#[cold]
#[inline(never)]
unsafe fn collect_before_tracking(state: &GcState, op: *mut PyObject) {
    // SAFETY: the caller promises a `gc` object of this thread, made for
    // tracking, whose header nothing else uses.
    unsafe { clean_header(op) };
    state.collect_generations();
}

/// `_PyObject_GC_Resize`: reallocates `gc` object `op` to `size` bytes
/// (header not counted); null, with `op` unchanged, if that failed.
///
/// # Safety
///
/// - `op` is an untracked `gc` object of this thread, made by this module,
///   with nothing in it past `size` bytes that is still needed.
pub(crate) unsafe fn resize(op: *mut PyObject, size: usize) -> *mut PyObject {
    let Some(total) = size.checked_add(PREFIX) else {
        return ptr::null_mut();
    };
    // SAFETY: the caller promises `op`'s block came from `object_malloc`.
    let block = unsafe { alloc::object_realloc(head::block(op).cast(), total) };
    if block.is_null() {
        return ptr::null_mut();
    }
    head::from_block(block.cast())
}

/// `PyObject_GC_Del`, the `tp_free` of `gc` types: returns the block,
/// header included.
///
/// # Safety
///
/// - `p` is an untracked `gc` object made by this module, which nothing
///   uses any more.
#[inline]
pub(crate) unsafe extern "C" fn free(p: *mut c_void) {
    GcState::with(GcState::on_free);
    // SAFETY: the caller promises the block came from `object_malloc`.
    unsafe { alloc::object_free(head::block(p.cast()).cast()) }
}

/// Frees a `gc` object that was never counted (made by an `uncounted`
/// function and given up before `track_new`).
///
/// # Safety
///
/// - `op` is such an object, untracked, which nothing uses.
pub(crate) unsafe fn free_uncounted(op: *mut PyObject) {
    // SAFETY: as the caller promises: the block came from `object_malloc`.
    unsafe { alloc::object_free(head::block(op)) }
}

/// `PyObject_GC_Track`: hands `op` to this thread's collector.
///
/// # Safety
///
/// - `op` is a complete `gc` object of this thread, untracked.
#[inline]
pub(crate) unsafe fn track(op: *mut PyObject) {
    // SAFETY: as the caller promises. Once the thread's collector has
    // closed (the thread is ending) the object stays untracked.
    GcState::with(|state| unsafe { state.track(op) });
}

/// `PyObject_GC_UnTrack`: takes `op` off its generation, if it is on one;
/// whether it was.
///
/// # Safety
///
/// - `op` is a live `gc` object of this thread.
#[inline]
pub(crate) unsafe fn untrack(op: *mut PyObject) -> bool {
    let gc = head::of(op);
    // SAFETY: as the caller promises; a tracked object is on a list, and
    // objects are untracked outside `deduce_unreachable` (which frees none).
    unsafe {
        let tracked = head::is_tracked(gc);
        if tracked {
            head::remove_untracking(gc);
        }
        tracked
    }
}

/// Whether the collector dropped `op`'s payload, or is about to: the
/// payload must not be read.
///
/// # Safety
///
/// - `op` is a live `gc` object of this thread.
#[inline]
pub(crate) unsafe fn is_unreadable(op: *mut PyObject) -> bool {
    // SAFETY: as the caller promises.
    unsafe { head::has_flag(head::of(op), FINALIZED | head::COLLECTING) }
}

/// `PyObject_GC_IsFinalized`.
///
/// # Safety
///
/// - `op` is a live `gc` object of this thread.
#[inline]
pub(crate) unsafe fn is_finalized(op: *mut PyObject) -> bool {
    // SAFETY: as the caller promises.
    unsafe { head::has_flag(head::of(op), FINALIZED) }
}

/// `PyObject_GC_IsTracked`.
///
/// # Safety
///
/// - `op` is a live `gc` object of this thread.
#[inline]
pub(crate) unsafe fn is_tracked(op: *mut PyObject) -> bool {
    // SAFETY: as the caller promises.
    unsafe { head::is_tracked(head::of(op)) }
}

/// The `tp_traverse` of a `gc` type `T`: the payload's references, then
/// the items'. An object whose payload the collector dropped has none.
///
/// `extern "C"`, so a `Traverse` impl that panics (which its contract
/// forbids) aborts instead of unwinding through the collector.
///
/// # Safety
///
/// - `op` is a live object of type `T::TYPE`; `visit` may be called with
///   `arg` and any object `op` refers to.
pub(crate) unsafe extern "C" fn traverse<T>(
    op: *mut PyObject,
    visit: VisitProc,
    arg: *mut c_void,
) -> c_int
where
    T: PyObjectType + Traverse,
    T::Item: Traverse,
{
    // SAFETY: the caller promises a live object of `T::TYPE`, a `gc` type.
    if unsafe { is_finalized(op) } {
        return 0;
    }
    // SAFETY: as the caller promises.
    let mut visit = unsafe { Visit::new(visit, arg) };
    // SAFETY: the caller promises `op` is a live object of `T::TYPE`.
    let op = unsafe { NonNull::new_unchecked(op) };
    // SAFETY: the payload is initialised and not being dropped (the flag
    // would say so); only shared references to it are made.
    unsafe { (*payload_ptr::<T>(op)).traverse(&mut visit) };
    // SAFETY: the first `len` items are initialised.
    let items = unsafe { core::slice::from_raw_parts(items_ptr::<T>(op), var_len::<T>(op)) };
    items.traverse(&mut visit);
    0
}

/// The `tp_clear` of a `gc` type `T`: marks the object finalized (its
/// payload unreadable from now on), then drops the payload and the items,
/// which gives up the references they hold. The memory stays until the
/// last reference goes.
///
/// # Safety
///
/// - `op` is a live object of type `T::TYPE` whose payload was not dropped
///   yet, which no reference into its payload or items outlives.
pub(crate) unsafe extern "C-unwind" fn clear<T: PyObjectType>(op: *mut PyObject) -> c_int {
    struct ItemsOnDrop<T: PyObjectType>(NonNull<PyObject>, core::marker::PhantomData<T>);
    impl<T: PyObjectType> Drop for ItemsOnDrop<T> {
        fn drop(&mut self) {
            let op = self.0;
            // The items are forgotten (len 0) before they drop, so no later
            // dealloc drops them again.
            // SAFETY: the object is live; its first `len` items are initialised.
            unsafe {
                let len = var_len::<T>(op);
                if T::Header::IS_VAR {
                    (*op.as_ptr().cast::<PyVarObject>()).ob_size = 0;
                }
                ptr::drop_in_place(ptr::slice_from_raw_parts_mut(items_ptr::<T>(op), len));
            }
        }
    }
    // SAFETY: the caller promises a live `gc` object.
    unsafe { head::set_flag(head::of(op), FINALIZED) };
    // SAFETY: as above.
    let op = unsafe { NonNull::new_unchecked(op) };
    let _items = ItemsOnDrop::<T>(op, core::marker::PhantomData);
    // SAFETY: the payload is initialised and dropped once, here; the flag
    // makes every later read of it (through a handle) refuse.
    unsafe { ptr::drop_in_place(payload_ptr::<T>(op)) };
    0
}

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
