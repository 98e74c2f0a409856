//! The geometry of the pool allocator: size classes, pools and arenas.
//!
//! A request of `n <= 512` bytes is served from size class `(n - 1) / 16`
//! (class 0 also serves `n == 0`), whose blocks are `16 * (class + 1)` bytes:
//! CPython's 32 classes. A 33rd, [`TINY_CLASS`], holds 8-byte blocks for
//! [`PyMalloc`](super::PyMalloc)'s requests of at most 8 bytes that need no
//! more than 8-byte alignment (a Rust program's short strings); the
//! families, whose blocks are 16-byte aligned, never use it.
//!
//! The medium classes, from [`FIRST_MEDIUM_CLASS`] on, serve [`PyMalloc`]'s
//! requests of 513 bytes to 64 KiB ([`MEDIUM_REQUEST_THRESHOLD`]), eight
//! classes to each doubling: 576, 640, 704, ..., 1024, 1152, ..., 65536. At
//! most a ninth of a block is lost to rounding up, half of what jemalloc's
//! and mimalloc's four classes to a doubling lose, so a program's strings
//! of random lengths take less memory (W7's peak: 103.3 against 103.7 MiB).
//! The families keep CPython's 512-byte threshold, past which they go to
//! the C library (on the medium tier, CPython ran 4% slower and 9% larger).
//! A pool of a medium class spans 1 to 32 pool slots of an arena (a power
//! of two, aligned to its size), so that it holds at least 7 blocks:
//! [`pool_slots`].
//!
//! [`PyMalloc`]: super::PyMalloc

/// The alignment of every block handed out by every family: 16 bytes, as
/// CPython's `ALIGNMENT` on 64-bit platforms.
///
/// ```
/// let p = objimpl::alloc::object_malloc(24);
/// assert_eq!(p as usize % objimpl::alloc::ALIGNMENT, 0);
/// // SAFETY: `p` came from `object_malloc` and is freed once.
/// unsafe { objimpl::alloc::object_free(p) };
/// ```
pub const ALIGNMENT: usize = 16;

/// Requests of at most this many bytes are served from pools.
pub(crate) const SMALL_REQUEST_THRESHOLD: usize = 512;

/// CPython's size classes: 512 / 16.
pub(crate) const CPYTHON_CLASSES: usize = SMALL_REQUEST_THRESHOLD / ALIGNMENT;

/// The class of 8-byte blocks, after CPython's classes.
pub(crate) const TINY_CLASS: usize = CPYTHON_CLASSES;

/// The first medium class, after [`TINY_CLASS`].
pub(crate) const FIRST_MEDIUM_CLASS: usize = TINY_CLASS + 1;

/// [`PyMalloc`](super::PyMalloc)'s requests of at most this many bytes are
/// served from pools: 64 KiB.
pub(crate) const MEDIUM_REQUEST_THRESHOLD: usize = 64 * 1024;

/// Medium classes to each doubling of the block size.
const MEDIUM_STEPS: usize = 8;

/// `log2(MEDIUM_STEPS)`.
const STEP_BITS: u32 = MEDIUM_STEPS.trailing_zeros();

/// The medium classes: eight to each doubling from 512 to 64 KiB.
pub(crate) const MEDIUM_CLASSES: usize = MEDIUM_STEPS
    * (MEDIUM_REQUEST_THRESHOLD.trailing_zeros() - SMALL_REQUEST_THRESHOLD.trailing_zeros())
        as usize;

/// The number of size classes: CPython's, [`TINY_CLASS`], and the medium ones.
pub(crate) const NUM_CLASSES: usize = FIRST_MEDIUM_CLASS + MEDIUM_CLASSES;

/// The block size of [`TINY_CLASS`], and the most alignment its blocks have.
pub(crate) const TINY_SIZE: usize = 8;

/// `log2(ALIGNMENT)`: class `c < 32` holds blocks of `(c + 1) << ALIGNMENT_SHIFT` bytes.
const ALIGNMENT_SHIFT: u32 = ALIGNMENT.trailing_zeros();

/// A pool slot: a small class's pool is one, a medium class's one or more.
pub(crate) const POOL_SIZE: usize = 16 * 1024;

/// An arena: what is taken from and given back to the OS, aligned to its size
/// so that the arena of an address is `address & !(ARENA_SIZE - 1)`.
pub(crate) const ARENA_SIZE: usize = 1024 * 1024;

/// `log2(ARENA_SIZE)`.
pub(crate) const ARENA_BITS: u32 = ARENA_SIZE.trailing_zeros();

/// Arenas are aligned to their size, so every pool slot of an arena is usable.
pub(crate) const POOLS_PER_ARENA: usize = ARENA_SIZE / POOL_SIZE;

/// The most slots a medium pool spans: half an arena.
pub(crate) const MAX_POOL_SLOTS: usize = POOLS_PER_ARENA / 2;

/// Blocks a medium pool holds at least, where [`MAX_POOL_SLOTS`] allows.
const MIN_MEDIUM_BLOCKS: usize = 8;

/// Bytes of a pool before its blocks, as `pool.rs` lays it out (its header),
/// for the choice of a medium pool's span.
const HEADER_BYTES: usize = 64;

/// The classes' tables' length: a power of two, so that `class & (TABLE -
/// 1)` indexes them without a bounds check.
const TABLE: usize = NUM_CLASSES.next_power_of_two();

/// The block size of each class, as a table: one load on the fast paths,
/// fewer instructions than the arithmetic, and no branch.
const CLASS_SIZES: [u32; TABLE] = {
    let mut sizes = [0; TABLE];
    let mut class = 0;
    while class < NUM_CLASSES {
        sizes[class] = if class < TINY_CLASS {
            ((class + 1) << ALIGNMENT_SHIFT) as u32
        } else if class == TINY_CLASS {
            TINY_SIZE as u32
        } else {
            let i = class - FIRST_MEDIUM_CLASS;
            let log2 = SMALL_REQUEST_THRESHOLD.trailing_zeros() + (i / MEDIUM_STEPS) as u32;
            ((MEDIUM_STEPS + 1 + i % MEDIUM_STEPS) << (log2 - STEP_BITS)) as u32
        };
        class += 1;
    }
    sizes
};

/// `log2` of the slots each class's pools span.
const SLOT_SHIFTS: [u8; TABLE] = {
    let mut shifts = [0; TABLE];
    let mut class = FIRST_MEDIUM_CLASS;
    while class < NUM_CLASSES {
        let size = CLASS_SIZES[class] as usize;
        let mut shift = 0;
        while (POOL_SIZE << shift) < MAX_POOL_SLOTS * POOL_SIZE
            && ((POOL_SIZE << shift) - HEADER_BYTES) / size < MIN_MEDIUM_BLOCKS
        {
            shift += 1;
        }
        shifts[class] = shift;
        class += 1;
    }
    shifts
};

static_assertions::const_assert!(ALIGNMENT.is_power_of_two());
static_assertions::const_assert!(POOL_SIZE.is_power_of_two());
static_assertions::const_assert!(ARENA_SIZE.is_power_of_two());
static_assertions::const_assert_eq!(FIRST_MEDIUM_CLASS, 33);
static_assertions::const_assert_eq!(NUM_CLASSES, 89);
// A free block holds a link.
static_assertions::const_assert!(TINY_SIZE >= size_of::<usize>());
// The arena's bucket bitmap (`heap/pools.rs`) has one bit per free-pool count.
static_assertions::const_assert!(POOLS_PER_ARENA <= 64);
static_assertions::const_assert_eq!(
    CLASS_SIZES[NUM_CLASSES - 1] as usize,
    MEDIUM_REQUEST_THRESHOLD
);

/// The size class of a request of `size <= SMALL_REQUEST_THRESHOLD` bytes
/// (the callers test it; a heap checks the class it is given).
#[inline(always)]
pub(crate) const fn class_of(size: usize) -> usize {
    size.saturating_sub(1) >> ALIGNMENT_SHIFT
}

/// The medium class of a request of `SMALL_REQUEST_THRESHOLD < size <=
/// MEDIUM_REQUEST_THRESHOLD` bytes: the doubling `size - 1` lies in, and the
/// eighth of it.
#[inline(always)]
pub(crate) const fn medium_class_of(size: usize) -> usize {
    let below = size - 1;
    let log2 = (usize::BITS - 1 - below.leading_zeros()) as usize;
    let step = (below >> (log2 - STEP_BITS as usize)) & (MEDIUM_STEPS - 1);
    FIRST_MEDIUM_CLASS
        + (log2 - SMALL_REQUEST_THRESHOLD.trailing_zeros() as usize) * MEDIUM_STEPS
        + step
}

/// The block size of class `class`.
#[inline(always)]
pub(crate) const fn class_size(class: usize) -> usize {
    CLASS_SIZES[class & (TABLE - 1)] as usize
}

/// The pool slots a pool of class `class` spans: 1 for the small classes.
#[inline(always)]
pub(crate) const fn pool_slots(class: usize) -> usize {
    1 << SLOT_SHIFTS[class & (TABLE - 1)]
}

/// The bytes of a pool of class `class`: its slots, which it is aligned to.
#[inline(always)]
pub(crate) const fn pool_bytes(class: usize) -> usize {
    POOL_SIZE << SLOT_SHIFTS[class & (TABLE - 1)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_small_size_fits_its_class_and_not_the_one_below() {
        for size in 0..=SMALL_REQUEST_THRESHOLD {
            let class = class_of(size);
            assert!(class < TINY_CLASS, "the families never get 8-byte blocks");
            assert!(size <= class_size(class));
            if class > 0 {
                assert!(size > class_size(class - 1));
            }
        }
        assert_eq!(class_of(0), 0);
        assert_eq!(class_of(16), 0);
        assert_eq!(class_of(17), 1);
        assert_eq!(class_of(512), 31);
        assert_eq!(class_size(31), 512);
        assert_eq!(class_size(TINY_CLASS), 8);
    }

    #[test]
    fn every_medium_size_fits_its_class_and_not_the_one_below() {
        for size in SMALL_REQUEST_THRESHOLD + 1..=MEDIUM_REQUEST_THRESHOLD {
            let class = medium_class_of(size);
            assert!((FIRST_MEDIUM_CLASS..NUM_CLASSES).contains(&class));
            assert!(size <= class_size(class), "{size} bytes in class {class}");
            let below = if class == FIRST_MEDIUM_CLASS {
                SMALL_REQUEST_THRESHOLD
            } else {
                class_size(class - 1)
            };
            assert!(size > below, "{size} bytes fit class {} already", class - 1);
            // At most a ninth of a block is lost to rounding.
            assert!(
                class_size(class) * 8 < size * 9,
                "{size} in {}",
                class_size(class)
            );
        }
        assert_eq!(class_size(FIRST_MEDIUM_CLASS), 576);
        assert_eq!(class_size(FIRST_MEDIUM_CLASS + 7), 1024);
        assert_eq!(class_size(FIRST_MEDIUM_CLASS + 8), 1152);
        assert_eq!(medium_class_of(MEDIUM_REQUEST_THRESHOLD), NUM_CLASSES - 1);
    }

    #[test]
    fn medium_pools_hold_enough_blocks_and_fit_half_an_arena() {
        for class in 0..NUM_CLASSES {
            let slots = pool_slots(class);
            assert!(slots.is_power_of_two() && slots <= MAX_POOL_SLOTS);
            assert_eq!(pool_bytes(class), slots * POOL_SIZE);
            if class < FIRST_MEDIUM_CLASS {
                assert_eq!(slots, 1, "class {class}");
                continue;
            }
            // Less the arena's slot table, which the pool at slot 0 holds.
            let blocks = (pool_bytes(class) - HEADER_BYTES - 512) / class_size(class);
            assert!(blocks >= 7, "class {class}: {blocks} blocks");
            if slots > 1 {
                let half = (pool_bytes(class) / 2 - HEADER_BYTES) / class_size(class);
                assert!(
                    half < MIN_MEDIUM_BLOCKS,
                    "class {class} spans too many slots"
                );
            }
        }
    }
}
