//! Which addresses are ours: a two-level radix map from every 1 MiB-aligned
//! address range to the [`Arena`] occupying it, or null.
//!
//! `free` and `realloc` ask it whether a pointer is a pool block or a block of
//! the system allocator. The question costs two dependent loads and never
//! reads the memory the pointer points at, which may not be ours or even
//! mapped (obmalloc's `address_in_range` has the same property through its
//! own radix tree).
//!
//! ```text
//!  address:  | top index (18 bits) | leaf index (10 bits) | offset in arena (20 bits) |
//!  ROOT[top] -> Leaf (or null), Leaf[leaf] -> Arena (or null)
//! ```
//!
//! The root is a static array (2 MiB of zero pages, touched only where
//! arenas live); leaves (8 KiB, covering 1 GiB each) are made on first use,
//! zeroed, and kept for the life of the process. `free` asks only whether
//! the answer is null: it finds the owner of a block through the arena's
//! slot table (`pool::slot_entry`), from the block's address.

use core::ptr;
use core::sync::atomic::{AtomicPtr, Ordering};

use super::arena::Arena;
use super::size_class::ARENA_BITS;

/// Bits of a user-space address: 48 on the 64-bit targets this runs on.
const ADDRESS_BITS: u32 = if usize::BITS >= 48 { 48 } else { usize::BITS };
/// Bits that name an arena.
const INDEX_BITS: u32 = ADDRESS_BITS - ARENA_BITS;
/// 10: a leaf is 8 KiB and the root 2 MiB of zero pages, touched only
/// where arenas live. Under Miri, whose first touch of a static costs in
/// proportion to its size (minutes for 2 MiB), the split is the other way
/// round.
const LEAF_BITS: u32 = if cfg!(miri) { 14 } else { 10 };
const ROOT_BITS: u32 = INDEX_BITS - LEAF_BITS;
const LEAF_LEN: usize = 1 << LEAF_BITS;
const ROOT_LEN: usize = 1 << ROOT_BITS;

struct Leaf {
    arenas: [AtomicPtr<Arena>; LEAF_LEN],
}

static ROOT: [AtomicPtr<Leaf>; ROOT_LEN] = [const { AtomicPtr::new(ptr::null_mut()) }; ROOT_LEN];

/// Whether `addr` is below 2^[`ADDRESS_BITS`], so that the map covers it.
#[inline(always)]
fn in_address_space(addr: usize) -> bool {
    addr.checked_shr(ADDRESS_BITS).is_none_or(|high| high == 0)
}

#[inline(always)]
fn indices(addr: usize) -> (usize, usize) {
    let index = addr >> ARENA_BITS;
    (index >> LEAF_BITS, index & (LEAF_LEN - 1))
}

/// The arena containing `p`, or null if `p` is not in one of our arenas.
/// Any pointer value may be asked about, null included.
#[inline(always)]
pub(crate) fn lookup(p: *const u8) -> *mut Arena {
    if !in_address_space(p.addr()) {
        return ptr::null_mut();
    }
    // SAFETY: the address was just checked.
    unsafe { lookup_unchecked(p) }
}

/// [`lookup`] without its range check, for `free`'s fast path.
///
/// # Safety
///
/// - `p`'s address is below 2^48, as every address that the OS or the C
///   library hands out without being asked for more: every block this
///   allocator's families give out, null included.
#[inline(always)]
pub(crate) unsafe fn lookup_unchecked(p: *const u8) -> *mut Arena {
    debug_assert!(
        in_address_space(p.addr()),
        "{p:p} is past the address space"
    );
    let (root, leaf) = indices(p.addr());
    // With the address below 2^48, `root < ROOT_LEN`.
    // SAFETY: as the caller guarantees.
    unsafe { core::hint::assert_unchecked(root < ROOT_LEN) };
    // Indexing the array in place, not through `get` (which would borrow all
    // of ROOT: free under a compiler, 2 MiB of retagging under Miri).
    let leaf_ptr = ROOT[root].load(Ordering::Acquire);
    if leaf_ptr.is_null() {
        return ptr::null_mut();
    }
    // Entries are Relaxed: a pointer handed to `free` reached this thread
    // through whatever synchronised its allocation, which happened after its
    // arena was registered. Leaves are published initialised (zeroed),
    // Release/Acquire, and never freed.
    // SAFETY: so the leaf is readable.
    unsafe { (*leaf_ptr).arenas[leaf].load(Ordering::Relaxed) }
}

/// Records that the arena at `base` is `arena`. Returns false (and records
/// nothing) if the address is outside the mapped range or a leaf could not be
/// allocated; the caller then gives the arena back.
pub(crate) fn insert(base: *const u8, arena: *mut Arena) -> bool {
    let (root, leaf) = indices(base.addr());
    if root >= ROOT_LEN {
        return false;
    }
    let slot = &ROOT[root];
    let mut leaf_ptr = slot.load(Ordering::Acquire);
    if leaf_ptr.is_null() {
        // The metadata allocator is the C library's, never the global
        // allocator, which may be `PyMalloc` itself.
        // SAFETY: calloc has no preconditions. All-zero bytes are a valid
        // `Leaf`: no arena anywhere in its range.
        let fresh = unsafe { libc::calloc(1, size_of::<Leaf>()) }.cast::<Leaf>();
        if fresh.is_null() {
            return false;
        }
        match slot.compare_exchange(ptr::null_mut(), fresh, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => leaf_ptr = fresh,
            Err(winner) => {
                // SAFETY: `fresh` came from calloc above and was never published.
                unsafe { libc::free(fresh.cast()) };
                leaf_ptr = winner;
            }
        }
    }
    // SAFETY: `leaf_ptr` is a published leaf, which lives forever.
    unsafe { (*leaf_ptr).arenas[leaf].store(arena, Ordering::Release) };
    true
}

/// Forgets the arena at `base`, before it goes back to the OS.
pub(crate) fn remove(base: *const u8) {
    let (root, leaf) = indices(base.addr());
    let leaf_ptr = ROOT[root].load(Ordering::Acquire);
    debug_assert!(
        !leaf_ptr.is_null(),
        "removing an arena that was never inserted"
    );
    // SAFETY: the arena was inserted, so its leaf exists and lives forever.
    unsafe { (*leaf_ptr).arenas[leaf].store(ptr::null_mut(), Ordering::Release) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_answers_for_any_pointer_without_reading_it() {
        assert!(lookup(ptr::null()).is_null());
        assert!(lookup(ptr::without_provenance(usize::MAX)).is_null());
        let local = 0u8;
        assert!(lookup(&local).is_null());
        // SAFETY: a stack address, below 2^48.
        assert!(unsafe { lookup_unchecked(&local) }.is_null());
    }
}
