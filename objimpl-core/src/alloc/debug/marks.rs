//! Which pool blocks the hooks handed out: two bits for each 16-byte
//! granule of an arena, beside the arena (`Arena::debug_marks`), made with
//! the hooks' first block there. A block the hooks made from the pool
//! allocator is marked live at its first granule; its free turns the mark
//! to quarantined, which it stays after the block leaves the quarantine
//! for the pools, until the hooks hand it out again. (Clearing it there
//! cost one more atomic operation on every free, for nothing that the
//! hooks report differently: a second free of such a block is refused as
//! a pointer the hooks do not hold, whichever of the two marks it finds.)
//!
//! This is what lets the hooks tell a double free or a pointer they never
//! handed out from a good free without a table entry per block (which cost
//! more memory than the blocks' own heads and tails) and without reading
//! memory that may have gone back to the allocator: an address with no
//! live mark is refused on its mark alone. A quarantined mark says only
//! that the hooks freed the block: whether it still waits in quarantine
//! the quarantine itself tells. The marks cost 16 KiB an arena, 1.6% of
//! its memory, and one atomic operation as a block is handed out and one
//! as it is freed.
//!
//! A mark turns from live to quarantined (claimed by the one thread that
//! frees the block) under a quarantine shard (`registry.rs`); it turns
//! live when the allocator below hands the block out, which it does only
//! once the block has left the quarantine. The words are shared by
//! neighbouring blocks, so every change is an atomic operation on the word.

use core::ffi::c_void;
use core::ptr;
use core::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

use super::super::arena::{self, Arena};
use super::super::arena_map;
use super::super::size_class::{ALIGNMENT, ARENA_SIZE, class_size};

/// Granules a word marks, two bits each.
const PER_WORD: usize = 32;
/// Words of an arena's marks.
const WORDS: usize = ARENA_SIZE / ALIGNMENT / PER_WORD;

/// The marks of one arena.
pub(crate) struct Marks {
    words: [AtomicU64; WORDS],
}

static_assertions::const_assert_eq!(size_of::<Marks>(), 16 << 10);

/// What the hooks know of a granule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mark {
    /// No block of theirs ever started here.
    Clear,
    /// A block they handed out starts here.
    Live,
    /// A block they handed out started here, and they freed it: it waits in
    /// quarantine, or has left it for the allocator below.
    Quarantined,
}

const LIVE: u64 = 0b01;
const QUARANTINED: u64 = 0b10;
const BOTH: u64 = LIVE | QUARANTINED;

/// Where a pool block lies: its arena and its first granule's marks.
#[derive(Clone, Copy)]
pub(crate) struct Place {
    arena: *const Arena,
    marks: *const Marks,
    /// The block's address (the head's first byte).
    base: usize,
}

// SAFETY: a `Place` is only used while its block is the caller's (live or
// in quarantine), which keeps the arena and its marks allocated.
unsafe impl Send for Place {}

impl Place {
    /// The place of the block at `base`, if `base` lies in one of the pool
    /// allocator's arenas, on a granule. With `create`, the arena's marks
    /// are made if it has none yet (`None` if the C library refuses them);
    /// without, an arena without marks has no place for anyone. `base` is
    /// not read.
    ///
    /// The arena must stay live while the place is used: it does while the
    /// block at `base` is live or quarantined. (A wild pointer into an arena
    /// that another thread gives back at that moment is beyond the hooks, as
    /// it is beyond the allocator.)
    pub(crate) fn of(base: *const u8, create: bool) -> Option<Place> {
        if !base.addr().is_multiple_of(ALIGNMENT) {
            return None;
        }
        let arena = arena_map::lookup(base);
        if arena.is_null() {
            return None;
        }
        // SAFETY: the arena map holds live arenas (see above).
        let slot = unsafe { &(*arena).debug_marks };
        let mut marks = slot.load(Ordering::Acquire).cast::<Marks>().cast_const();
        if marks.is_null() {
            if !create {
                return None;
            }
            marks = make(slot)?;
        }
        Some(Place {
            arena,
            marks,
            base: base.addr(),
        })
    }

    /// The block's address, with its arena's provenance: reading it is
    /// sound where the caller's pointer may not carry the block's.
    pub(crate) fn base(&self) -> *mut u8 {
        // SAFETY: the arena is live and holds `base` (see `Place`).
        unsafe { arena::own(self.arena, ptr::without_provenance_mut(self.base)) }
    }

    /// The bytes of the block, by its pool's size class; `None` if the pool
    /// is not in use (the address is not a block).
    pub(crate) fn capacity(&self) -> Option<usize> {
        // SAFETY: as in `base`.
        unsafe { arena::class_at(self.arena, ptr::without_provenance(self.base)) }.map(class_size)
    }

    fn word(&self) -> (&AtomicU64, u32) {
        let granule = (self.base % ARENA_SIZE) / ALIGNMENT;
        // SAFETY: marks are freed only with their arena (see `Place`).
        let word = unsafe { &(*self.marks).words[granule / PER_WORD] };
        (word, 2 * (granule % PER_WORD) as u32)
    }

    /// The block's mark now.
    pub(crate) fn mark(&self) -> Mark {
        let (word, shift) = self.word();
        match (word.load(Ordering::Acquire) >> shift) & BOTH {
            LIVE => Mark::Live,
            QUARANTINED => Mark::Quarantined,
            _ => Mark::Clear,
        }
    }

    /// Marks a block the allocator below just handed out as live, in one
    /// atomic operation whatever its mark was: clear, quarantined (a block
    /// of the hooks that left their quarantine) or, for a block given back
    /// to the pools behind the hooks' back, live.
    pub(crate) fn set_live(&self) {
        let (word, shift) = self.word();
        // Release: a thread that sees the mark sees the head and tail
        // written before it.
        let _ = word.fetch_update(Ordering::Release, Ordering::Relaxed, |bits| {
            Some(bits & !(BOTH << shift) | LIVE << shift)
        });
    }

    /// Turns a live mark to quarantined, if it is live: the caller, who
    /// frees the block, then has it to itself; of two threads that free it
    /// at once, one does. Under the caller's quarantine shard.
    pub(crate) fn claim(&self) -> bool {
        let (word, shift) = self.word();
        // Acquire: the head and tail written before the mark was set.
        word.fetch_update(Ordering::Acquire, Ordering::Relaxed, |bits| {
            ((bits >> shift) & BOTH == LIVE).then_some(bits ^ (BOTH << shift))
        })
        .is_ok()
    }

    /// Gives back a claim the caller made: quarantined to live again, in
    /// one step, for a free or a realloc that refused the block.
    pub(crate) fn unclaim(&self) {
        let (word, shift) = self.word();
        word.fetch_xor(BOTH << shift, Ordering::Release);
    }
}

/// Makes an arena's marks, all clear, and publishes them in `slot`; those
/// of another thread if it was first.
#[cold]
fn make(slot: &AtomicPtr<c_void>) -> Option<*const Marks> {
    // SAFETY: calloc has no preconditions; all-zero words are valid marks.
    let fresh = unsafe { libc::calloc(1, size_of::<Marks>()) };
    if fresh.is_null() {
        return None;
    }
    match slot.compare_exchange(ptr::null_mut(), fresh, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => Some(fresh.cast()),
        Err(theirs) => {
            // SAFETY: ours, never published.
            unsafe { libc::free(fresh) };
            Some(theirs.cast())
        }
    }
}

/// Calls `f` with the place of every block marked live in the arena.
///
/// # Safety
///
/// - `arena` stays live meanwhile (its registry is held).
pub(crate) unsafe fn for_each_live(arena: *const Arena, mut f: impl FnMut(Place)) {
    // SAFETY: as the caller guarantees.
    let marks = unsafe { &(*arena).debug_marks }.load(Ordering::Acquire);
    if marks.is_null() {
        return;
    }
    let marks = marks.cast::<Marks>();
    // SAFETY: as above.
    let arena_base = unsafe { (*arena).base }.addr();
    for index in 0..WORDS {
        // SAFETY: marks live as long as their arena.
        let mut word = unsafe { &(*marks).words[index] }.load(Ordering::Acquire);
        while word != 0 {
            let bit = word.trailing_zeros();
            word &= !(BOTH << (bit & !1));
            if bit % 2 == 0 {
                let granule = index * PER_WORD + bit as usize / 2;
                f(Place {
                    arena,
                    marks,
                    base: arena_base + granule * ALIGNMENT,
                });
            }
        }
    }
}
