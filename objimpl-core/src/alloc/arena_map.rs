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
//! zeroed, and kept for the life of the process.
//!
//! `free` asks only whether a block is ours (it finds the owner through the
//! arena's slot table, `arena::slot_entry`, from the block's address), and
//! asks it of every block it is given, so that question has a map of its
//! own: [`contains`] reads one bit an arena in a flat bitmap, one load and
//! no branch on the way (9 instructions where the radix map's two dependent
//! loads and two null tests take 13). The bitmap is 32 MiB of zero pages of
//! `.bss`, of which a page covers 32 GiB of address space: arenas live close
//! together, so a process touches a page or two of it. Under Miri, where a
//! static costs in proportion to its size, `contains` asks the radix map.

use core::ptr;
#[cfg(not(miri))]
use core::sync::atomic::AtomicUsize;
use core::sync::atomic::{AtomicPtr, Ordering};

// The one name this floor takes from the floor above: the map holds
// pointers to arena records (which point back at their memory, so the two
// types refer to each other), and only stores, compares and returns them;
// it never reads an `Arena` nor calls into `arena.rs`.
use super::arena::Arena;
use super::fatal::invariant;
use super::size_class::ARENA_BITS;
use super::system;

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

/// The index of the arena-sized range holding `addr`, for both maps. The
/// bits above [`ADDRESS_BITS`] are ignored, as the hardware ignores a
/// pointer's tag (arm64's top-byte ignore, MTE, HWASan, Intel LAM): a
/// tagged pointer is looked up by the address it points at, and any value
/// stays in bounds.
#[inline(always)]
fn arena_index(addr: usize) -> usize {
    (addr >> ARENA_BITS) & ((1 << INDEX_BITS) - 1)
}

/// The root and leaf indices of `addr` (see [`arena_index`]).
#[inline(always)]
fn indices(addr: usize) -> (usize, usize) {
    let index = arena_index(addr);
    (index >> LEAF_BITS, index & (LEAF_LEN - 1))
}

/// The arena containing `p`, or null if `p` is not in one of our arenas.
/// Any pointer value may be asked about, null and tagged ones included;
/// the memory `p` points at is never read.
///
/// A C library block with a tag in its top bits (see [`indices`]) answers
/// null, as untagged: it is not in our arenas, whatever its tag.
#[inline(always)]
pub(crate) fn lookup(p: *const u8) -> *mut Arena {
    let (root, leaf) = indices(p.addr());
    // Indexing the array in place, not through `get` (which would borrow all
    // of ROOT: free under a compiler, 2 MiB of retagging under Miri). The
    // mask in `arena_index` keeps the bounds check out of the fast path.
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

/// One bit an arena-sized range of the address space, set while an arena
/// occupies it: the answer of [`contains`].
#[cfg(not(miri))]
static PRESENT: [AtomicUsize; (1 << INDEX_BITS) / usize::BITS as usize] =
    [const { AtomicUsize::new(0) }; (1 << INDEX_BITS) / usize::BITS as usize];

/// The word of [`PRESENT`] that holds `addr`'s bit, and the bit.
#[cfg(not(miri))]
#[inline(always)]
fn present_bit(addr: usize) -> (&'static AtomicUsize, usize) {
    let index = arena_index(addr);
    let word = index / usize::BITS as usize;
    // Indexed in place, as `ROOT` is in `lookup`; the mask keeps it in bounds.
    (&PRESENT[word], 1 << (index % usize::BITS as usize))
}

/// Whether `p` is in one of our arenas: `!lookup(p).is_null()`, answered by
/// one load. Any pointer value may be asked about, as of [`lookup`].
///
/// The load is Relaxed, as `lookup`'s leaf entries are: a block handed to
/// `free` reached this thread through whatever ordered its allocation after
/// its arena was inserted, and a block's arena is removed only when none of
/// its blocks is live.
#[inline(always)]
pub(crate) fn contains(p: *const u8) -> bool {
    #[cfg(miri)]
    return !lookup(p).is_null();
    #[cfg(not(miri))]
    {
        let (word, bit) = present_bit(p.addr());
        word.load(Ordering::Relaxed) & bit != 0
    }
}

/// Records that the arena at `base` is `arena`. Returns false (and records
/// nothing) if the address is outside the mapped range or a leaf could not be
/// allocated; the caller then gives the arena back.
pub(crate) fn insert(base: *const u8, arena: *mut Arena) -> bool {
    if base
        .addr()
        .checked_shr(ADDRESS_BITS)
        .is_some_and(|high| high != 0)
    {
        return false;
    }
    let (root, leaf) = indices(base.addr());
    let slot = &ROOT[root];
    let mut leaf_ptr = slot.load(Ordering::Acquire);
    if leaf_ptr.is_null() {
        // The metadata allocator is the C library's, never the global
        // allocator, which may be `PyMalloc` itself. All-zero bytes are a
        // valid `Leaf`: no arena anywhere in its range.
        let fresh = system::calloc(1, size_of::<Leaf>()).cast::<Leaf>();
        if fresh.is_null() {
            return false;
        }
        match slot.compare_exchange(ptr::null_mut(), fresh, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => leaf_ptr = fresh,
            Err(winner) => {
                // SAFETY: `fresh` came from `system::calloc` above and was
                // never published.
                unsafe { system::free(fresh.cast()) };
                leaf_ptr = winner;
            }
        }
    }
    // SAFETY: `leaf_ptr` is a published leaf, which lives forever.
    unsafe { (*leaf_ptr).arenas[leaf].store(arena, Ordering::Release) };
    #[cfg(not(miri))]
    {
        let (word, bit) = present_bit(base.addr());
        word.fetch_or(bit, Ordering::Release);
    }
    true
}

/// Forgets the arena at `base`, before it goes back to the OS.
pub(crate) fn remove(base: *const u8) {
    let (root, leaf) = indices(base.addr());
    let leaf_ptr = ROOT[root].load(Ordering::Acquire);
    invariant!(
        !leaf_ptr.is_null(),
        "arena {base:p} removed from the arena map but never inserted"
    );
    #[cfg(not(miri))]
    {
        let (word, bit) = present_bit(base.addr());
        word.fetch_and(!bit, Ordering::Release);
    }
    // SAFETY: the arena was inserted, so its leaf exists and lives forever.
    unsafe { (*leaf_ptr).arenas[leaf].store(ptr::null_mut(), Ordering::Release) };
}

#[cfg(test)]
mod tests {
    use super::super::size_class::ARENA_SIZE;
    use super::*;

    #[test]
    fn lookup_answers_for_any_pointer_without_reading_it() {
        assert!(lookup(ptr::null()).is_null());
        assert!(lookup(ptr::without_provenance(usize::MAX)).is_null());
        let local = 0u8;
        assert!(lookup(&local).is_null());
        for p in [
            ptr::null(),
            ptr::without_provenance(usize::MAX),
            &raw const local,
        ] {
            assert!(!contains(p), "{p:p}");
        }
    }

    #[test]
    fn a_tagged_pointer_is_looked_up_by_its_address() {
        // An arena of address space from the floor below, recorded under a
        // stand-in for its record: the map keeps the pointer, never reads it.
        let base = super::super::os::map_arena(false);
        assert!(!base.is_null());
        let record = ptr::NonNull::<Arena>::dangling().as_ptr();
        assert!(insert(base, record));
        let block = base.wrapping_add(3 * 16384 + 48);
        let arena = lookup(block);
        assert_eq!(arena, record);
        assert!(contains(block) && contains(base) && contains(base.wrapping_add(ARENA_SIZE - 1)));
        // Its neighbours' bits are theirs: set only if another arena is there.
        for next_door in [base.wrapping_sub(1), base.wrapping_add(ARENA_SIZE)] {
            assert_eq!(contains(next_door), !lookup(next_door).is_null());
        }
        for tag in [0x0Busize << 56, 0xFF << 56, 1 << 48, 0x7FFF << 48] {
            let tagged = block.map_addr(|a| a | tag);
            assert_eq!(lookup(tagged), arena, "tag {tag:#x}");
            assert!(contains(tagged), "tag {tag:#x}");
            let local = 0u8;
            let tagged_local = (&raw const local).map_addr(|a| a | tag);
            assert!(lookup(tagged_local).is_null(), "tag {tag:#x}");
            assert!(!contains(tagged_local), "tag {tag:#x}");
        }
        remove(base);
        assert!(lookup(block).is_null());
        assert!(!contains(block) && !contains(base));
        // SAFETY: mapped above, out of the map now, and used no more.
        unsafe { super::super::os::unmap_arena(base) };
    }
}
