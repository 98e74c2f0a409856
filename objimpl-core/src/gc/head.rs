//! The GC header (CPython's `PyGC_Head`) that precedes every `gc` object,
//! and the circular doubly linked lists the generations are made of.
//!
//! ```text
//!  block start                      the object (what a PyObject* points at)
//!  | pad (32-bit only) | next | prev | ob_refcnt | ob_type | payload ... |
//!  '------- PREFIX (16 bytes) -------'
//! ```
//!
//! Two words, as CPython's, with the same double use:
//!
//! - `next` links the object into its generation; null means untracked.
//!   While a collection sorts the young objects, its low bit marks one
//!   moved to the tentatively unreachable list ([`UNREACHABLE`]).
//! - `prev` is the back link, with two flags in its low bits
//!   ([`FINALIZED`], [`COLLECTING`]). While an object is being collected its
//!   link is not needed (the lists are walked forwards), and `prev` holds
//!   the object's `gc_refs` above the flags instead.
//!
//! Every pointer keeps its provenance (the flags are set with `map_addr`),
//! so Miri checks the lists under strict provenance. Everything here works
//! on raw pointers: the lists run through objects that `Py` handles share.

use core::ptr;

use crate::PyObject;
use crate::alloc::ALIGNMENT;

/// `PyGC_Head`: the two words before a `gc` object.
#[repr(C)]
pub(crate) struct GcHead {
    next: *mut GcHead,
    prev: *mut GcHead,
}

/// The bytes a `gc` object's block has before the object: the header,
/// padded so that the object keeps the allocator's 16-byte alignment.
pub(crate) const PREFIX: usize = ALIGNMENT;
const _: () = assert!(size_of::<GcHead>() <= PREFIX);

/// In `prev`: the collector has dropped the object's payload
/// (`PyObject_GC_IsFinalized`). The object lives on as a husk until its
/// last reference goes; its payload must not be read.
pub(crate) const FINALIZED: usize = 1;
/// In `prev`: the object is in the set being collected, and `prev` holds
/// its `gc_refs`.
pub(crate) const COLLECTING: usize = 2;
const FLAGS: usize = FINALIZED | COLLECTING;
const SHIFT: u32 = 2;
/// In `next`, during `move_unreachable`: the object is on the
/// tentatively unreachable list.
pub(crate) const UNREACHABLE: usize = 1;

impl GcHead {
    /// An empty list head, to be linked to itself by [`init`] once it has
    /// its final address.
    pub(crate) const fn unlinked() -> GcHead {
        GcHead {
            next: ptr::null_mut(),
            prev: ptr::null_mut(),
        }
    }
}

/// The header of object `op`.
#[inline]
pub(crate) fn of(op: *mut PyObject) -> *mut GcHead {
    op.cast::<u8>()
        .wrapping_sub(size_of::<GcHead>())
        .cast::<GcHead>()
}

/// The object whose header is `gc`.
#[inline]
pub(crate) fn object(gc: *mut GcHead) -> *mut PyObject {
    gc.cast::<u8>()
        .wrapping_add(size_of::<GcHead>())
        .cast::<PyObject>()
}

/// The start of the block holding object `op` (what the allocator handed out).
#[inline]
pub(crate) fn block(op: *mut PyObject) -> *mut u8 {
    op.cast::<u8>().wrapping_sub(PREFIX)
}

/// The object in a block of which `PREFIX` bytes precede it.
#[inline]
pub(crate) fn from_block(block: *mut u8) -> *mut PyObject {
    block.wrapping_add(PREFIX).cast()
}

// The accessors below share one contract.
//
// # Safety
//
// - `gc` is the header of a live object, or a list head, that no other
//   thread is touching (objects are per thread; so are generations).

/// The `next` word, with the mark bit.
#[inline]
pub(crate) unsafe fn next_raw(gc: *mut GcHead) -> *mut GcHead {
    // SAFETY: the caller promises `gc` is a live header of this thread.
    unsafe { (*gc).next }
}

/// The next node, without the mark bit.
#[inline]
pub(crate) unsafe fn next(gc: *mut GcHead) -> *mut GcHead {
    // SAFETY: as `next_raw`.
    unsafe { next_raw(gc) }.map_addr(|a| a & !UNREACHABLE)
}

/// Sets the `next` word (mark bit included).
#[inline]
pub(crate) unsafe fn set_next(gc: *mut GcHead, next: *mut GcHead) {
    // SAFETY: the caller promises `gc` is a live header of this thread.
    unsafe { (*gc).next = next }
}

/// The previous node (the flags masked off).
#[inline]
pub(crate) unsafe fn prev(gc: *mut GcHead) -> *mut GcHead {
    // SAFETY: the caller promises `gc` is a live header of this thread.
    unsafe { (*gc).prev }.map_addr(|a| a & !FLAGS)
}

/// Sets the back link, keeping the flags.
#[inline]
pub(crate) unsafe fn set_prev(gc: *mut GcHead, prev: *mut GcHead) {
    // SAFETY: the caller promises `gc` is a live header of this thread.
    unsafe {
        let flags = (*gc).prev.addr() & FLAGS;
        (*gc).prev = prev.map_addr(|a| a | flags);
    }
}

/// Whether the object is on a list (`PyObject_GC_IsTracked`).
#[inline]
pub(crate) unsafe fn is_tracked(gc: *mut GcHead) -> bool {
    // SAFETY: as `next_raw`.
    !unsafe { next_raw(gc) }.is_null()
}

/// Whether `flag` ([`FINALIZED`] or [`COLLECTING`]) is set.
#[inline]
pub(crate) unsafe fn has_flag(gc: *mut GcHead, flag: usize) -> bool {
    // SAFETY: the caller promises `gc` is a live header of this thread.
    unsafe { (*gc).prev }.addr() & flag != 0
}

/// Sets `flag`, keeping the rest of `prev`.
#[inline]
pub(crate) unsafe fn set_flag(gc: *mut GcHead, flag: usize) {
    // SAFETY: the caller promises `gc` is a live header of this thread.
    unsafe { (*gc).prev = (*gc).prev.map_addr(|a| a | flag) }
}

/// Clears `flag`, keeping the rest of `prev`.
#[inline]
pub(crate) unsafe fn clear_flag(gc: *mut GcHead, flag: usize) {
    // SAFETY: the caller promises `gc` is a live header of this thread.
    unsafe { (*gc).prev = (*gc).prev.map_addr(|a| a & !flag) }
}

/// The `gc_refs` a collection keeps in `prev`.
#[inline]
pub(crate) unsafe fn refs(gc: *mut GcHead) -> usize {
    // SAFETY: the caller promises `gc` is a live header of this thread.
    unsafe { (*gc).prev }.addr() >> SHIFT
}

/// Replaces `prev` by `refs` (the back link is lost), keeping the flags.
#[inline]
pub(crate) unsafe fn set_refs(gc: *mut GcHead, refs: usize) {
    // SAFETY: the caller promises `gc` is a live header of this thread.
    unsafe {
        let flags = (*gc).prev.addr() & FLAGS;
        (*gc).prev = ptr::without_provenance_mut((refs << SHIFT) | flags);
    }
}

/// Makes `gc` untracked: no links, only the flags in `keep` survive.
#[inline]
pub(crate) unsafe fn reset(gc: *mut GcHead, keep: usize) {
    // SAFETY: the caller promises `gc` is a live header of this thread.
    unsafe {
        let flags = (*gc).prev.addr() & keep;
        (*gc).next = ptr::null_mut();
        (*gc).prev = ptr::without_provenance_mut(flags);
    }
}

/// Makes `head` an empty list.
#[inline]
pub(crate) unsafe fn init(head: *mut GcHead) {
    // SAFETY: the caller promises `head` is a list head of this thread.
    unsafe {
        (*head).next = head;
        (*head).prev = head;
    }
}

/// Whether the list at `head` is empty.
#[inline]
pub(crate) unsafe fn is_empty(head: *mut GcHead) -> bool {
    // SAFETY: as `next_raw`.
    unsafe { next(head) == head }
}

/// Links `node` at the end of the list at `head`, keeping its flags.
#[inline]
pub(crate) unsafe fn append(node: *mut GcHead, head: *mut GcHead) {
    // SAFETY: the caller promises both are live headers of this thread,
    // `head` a well-formed list and `node` on none.
    unsafe {
        let last = prev(head);
        set_prev(node, last);
        set_next(last, node);
        set_next(node, head);
        set_prev(head, node);
    }
}

/// [`append`] for a node being tracked outside a collection: no flag is
/// set on the list's nodes or on a head, and an object being tracked has
/// none either (`FINALIZED` objects are never tracked again), so the links
/// are plain stores, which overwrite whatever `node` held.
#[inline]
pub(crate) unsafe fn append_untracked(node: *mut GcHead, head: *mut GcHead) {
    // SAFETY: the caller promises both are live headers of this thread,
    // `head` a well-formed list head, `node` on no list.
    unsafe {
        let last = (*head).prev;
        (*node).prev = last;
        (*node).next = head;
        (*last).next = node;
        (*head).prev = node;
    }
}

/// [`remove`] for a tracked object outside `deduce_unreachable`: then no
/// node on a list has a flag (`FINALIZED` objects are never on a list,
/// and `COLLECTING` and the marks live only while a collection sorts the
/// young list, when no object is freed), so the links are plain loads and
/// stores.
#[inline]
pub(crate) unsafe fn remove_untracking(node: *mut GcHead) {
    // SAFETY: the caller promises `node` is on a well-formed list of this
    // thread, outside `deduce_unreachable`.
    unsafe {
        let prev = (*node).prev;
        let next = (*node).next;
        debug_assert!(prev.addr() & FLAGS == 0 && next.addr() & UNREACHABLE == 0);
        (*prev).next = next;
        (*next).prev = prev;
        (*node).next = ptr::null_mut();
        (*node).prev = ptr::null_mut();
    }
}

/// Unlinks `node` from its list and marks it untracked (flags kept).
#[inline]
pub(crate) unsafe fn remove(node: *mut GcHead) {
    // SAFETY: the caller promises `node` is on a well-formed list of this thread.
    unsafe {
        let prev = prev(node);
        let next = next(node);
        set_next(prev, next);
        set_prev(next, prev);
        set_next(node, ptr::null_mut());
        set_prev(node, ptr::null_mut());
    }
}

/// Moves every node of the list at `from` to the end of the list at `to`.
pub(crate) unsafe fn merge(from: *mut GcHead, to: *mut GcHead) {
    // SAFETY: the caller promises both are well-formed lists of this thread.
    unsafe {
        if is_empty(from) {
            return;
        }
        let to_last = prev(to);
        let first = next(from);
        let last = prev(from);
        set_next(to_last, first);
        set_prev(first, to_last);
        set_next(last, to);
        set_prev(to, last);
        init(from);
    }
}

/// The number of nodes on the list at `head`.
pub(crate) unsafe fn len(head: *mut GcHead) -> usize {
    let mut n = 0;
    // SAFETY: the caller promises `head` is a well-formed list of this thread.
    unsafe {
        let mut gc = next(head);
        while gc != head {
            n += 1;
            gc = next(gc);
        }
    }
    n
}
