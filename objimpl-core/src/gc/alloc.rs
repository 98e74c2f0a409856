//! `gc` objects: allocation with a GC header in front (`_PyObject_GC_New`,
//! `_PyObject_GC_NewVar`, `_PyObject_GC_Resize`, `PyObject_GC_Del`),
//! tracking, and the flags a handle reads (CPython's `Python/gc.c`, the
//! part that allocates).

use core::ffi::c_void;
use core::ptr::{self, NonNull};

use super::head::{self, FINALIZED, GcHead, PREFIX};
use super::state::GcState;
use crate::{MemoryError, PyObject, PyVarObject, TypeObject, alloc, init, init_var};

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
/// The collection it may start never panics: a `Drop` that panics there
/// goes to the unraisable hook ([`set_unraisable_hook`](super::set_unraisable_hook)).
#[inline]
pub fn new_object(tp: &'static TypeObject) -> Result<NonNull<PyObject>, MemoryError> {
    GcState::with(|state| new_object_in(state, tp))
}

/// [`new_object`], counted by `state`.
pub(crate) fn new_object_in(
    state: &GcState,
    tp: &'static TypeObject,
) -> Result<NonNull<PyObject>, MemoryError> {
    state.on_alloc();
    let op = new_object_uncounted(tp).inspect_err(|_| state.on_free())?;
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
pub fn new_var_object(
    tp: &'static TypeObject,
    n: usize,
) -> Result<NonNull<PyVarObject>, MemoryError> {
    GcState::with(|state| new_var_object_in(state, tp, n))
}

/// [`new_var_object`], counted by `state`.
pub(crate) fn new_var_object_in(
    state: &GcState,
    tp: &'static TypeObject,
    n: usize,
) -> Result<NonNull<PyVarObject>, MemoryError> {
    state.on_alloc();
    let op = new_var_object_uncounted(tp, n).inspect_err(|_| state.on_free())?;
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
/// A collection does not unwind (a `Drop`'s panic goes to the unraisable
/// hook); should one anyway, it comes out of here with `op` counted and
/// untracked, its header written: an object that its `tp_dealloc`
/// destroys, as the caller's handle to it does (the caller must own it
/// through one, or the object leaks).
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
    // SAFETY: as the caller promises.
    GcState::with(|state| unsafe { free_in(state, p) })
}

/// [`free`], counted by `state`.
///
/// # Safety
///
/// - as [`free`].
#[inline]
pub(crate) unsafe fn free_in(state: &GcState, p: *mut c_void) {
    state.on_free();
    // SAFETY: the caller promises the block came from `object_malloc`.
    unsafe { alloc::object_free(head::block(p.cast()).cast()) }
}

/// [`free`] of an object of `size` bytes (its type's basic size, a
/// constant where the type is known): see [`alloc::object_free_sized`].
///
/// # Safety
///
/// - as [`free`]; `size` may be any size.
#[inline(always)]
pub(crate) unsafe fn free_sized(op: *mut PyObject, size: usize) {
    GcState::with(GcState::on_free);
    // SAFETY: as the caller promises: the block came from `object_malloc`,
    // `PREFIX` bytes more than the object.
    unsafe { alloc::object_free_sized(head::block(op), size.saturating_add(PREFIX)) }
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

/// Marks `op` finalized: its payload is dropped, or being dropped, by the
/// collector's `tp_clear`, and no handle may read it from now on.
///
/// # Safety
///
/// - `op` is a live `gc` object of this thread.
#[inline]
pub(crate) unsafe fn set_finalized(op: *mut PyObject) {
    // SAFETY: as the caller promises.
    unsafe { head::set_flag(head::of(op), FINALIZED) }
}
