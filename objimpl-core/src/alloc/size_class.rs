//! The geometry of the pool allocator: size classes, pools and arenas.
//!
//! A request of `n <= 512` bytes is served from size class `(n - 1) / 16`
//! (class 0 also serves `n == 0`), whose blocks are `16 * (class + 1)` bytes:
//! CPython's 32 small classes, which the families use.
//!
//! [`PyMalloc`](super::PyMalloc), a whole program's allocator, also serves
//! requests of `513..=2048` bytes from pools: the medium classes 32 to 43,
//! of 640 to 2048 bytes in steps of 128, so that a program's small `Vec`
//! and `String` buffers and `BTreeMap` nodes (which are past 512 bytes)
//! stay out of the C library. A 16 KiB pool holds 7 to 25 of them, using
//! 88% to 99% of its room.

use super::ALIGNMENT;

/// Requests of at most this many bytes are served from pools.
pub(crate) const SMALL_REQUEST_THRESHOLD: usize = 512;

/// The number of small size classes: 512 / 16.
pub(crate) const NUM_SMALL_CLASSES: usize = SMALL_REQUEST_THRESHOLD / ALIGNMENT;

/// [`PyMalloc`](super::PyMalloc)'s requests of at most this many bytes are
/// served from pools.
pub(crate) const MEDIUM_REQUEST_THRESHOLD: usize = 2048;

/// The step between the medium classes' block sizes.
const MEDIUM_STEP: usize = 128;

/// The block size of the first medium class.
const MEDIUM_FIRST: usize = 640;

/// The number of size classes, small and medium.
pub(crate) const NUM_CLASSES: usize =
    NUM_SMALL_CLASSES + (MEDIUM_REQUEST_THRESHOLD - MEDIUM_FIRST) / MEDIUM_STEP + 1;

/// `log2(ALIGNMENT)`: class `c` holds blocks of `(c + 1) << ALIGNMENT_SHIFT` bytes.
const ALIGNMENT_SHIFT: u32 = ALIGNMENT.trailing_zeros();

/// A pool: one size class, carved into blocks after its header.
pub(crate) const POOL_SIZE: usize = 16 * 1024;

/// An arena: what is taken from and given back to the OS, aligned to its size
/// so that the arena of an address is `address & !(ARENA_SIZE - 1)`.
pub(crate) const ARENA_SIZE: usize = 1024 * 1024;

/// `log2(ARENA_SIZE)`.
pub(crate) const ARENA_BITS: u32 = ARENA_SIZE.trailing_zeros();

/// Arenas are aligned to their size, so every pool of an arena is usable.
pub(crate) const POOLS_PER_ARENA: usize = ARENA_SIZE / POOL_SIZE;

static_assertions::const_assert!(ALIGNMENT.is_power_of_two());
static_assertions::const_assert!(POOL_SIZE.is_power_of_two());
static_assertions::const_assert!(ARENA_SIZE.is_power_of_two());
static_assertions::const_assert_eq!(NUM_SMALL_CLASSES, 32);
static_assertions::const_assert_eq!(NUM_CLASSES, 44);
static_assertions::const_assert!(MEDIUM_STEP.is_multiple_of(ALIGNMENT));
// The arena's bucket bitmap (`heap.rs`) has one bit per free-pool count.
static_assertions::const_assert!(POOLS_PER_ARENA <= 64);

/// The size class of a request of `size <= SMALL_REQUEST_THRESHOLD` bytes.
#[inline(always)]
pub(crate) const fn class_of(size: usize) -> usize {
    debug_assert!(size <= SMALL_REQUEST_THRESHOLD);
    size.saturating_sub(1) >> ALIGNMENT_SHIFT
}

/// The medium size class of a request of `SMALL_REQUEST_THRESHOLD < size <=
/// MEDIUM_REQUEST_THRESHOLD` bytes.
#[inline(always)]
pub(crate) const fn medium_class_of(size: usize) -> usize {
    debug_assert!(SMALL_REQUEST_THRESHOLD < size && size <= MEDIUM_REQUEST_THRESHOLD);
    NUM_SMALL_CLASSES + (size - (SMALL_REQUEST_THRESHOLD + 1)) / MEDIUM_STEP
}

/// The block size of class `class`.
#[inline(always)]
pub(crate) const fn class_size(class: usize) -> usize {
    if class < NUM_SMALL_CLASSES {
        (class + 1) << ALIGNMENT_SHIFT
    } else {
        MEDIUM_FIRST + (class - NUM_SMALL_CLASSES) * MEDIUM_STEP
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_small_size_fits_its_class_and_not_the_one_below() {
        for size in 0..=SMALL_REQUEST_THRESHOLD {
            let class = class_of(size);
            assert!(class < NUM_CLASSES);
            assert!(size <= class_size(class));
            if class > 0 {
                assert!(size > class_size(class - 1));
            }
        }
        assert_eq!(class_of(0), 0);
        assert_eq!(class_of(16), 0);
        assert_eq!(class_of(17), 1);
        assert_eq!(class_of(512), 31);
    }

    #[test]
    fn every_medium_size_fits_its_class_and_not_the_one_below() {
        for size in SMALL_REQUEST_THRESHOLD + 1..=MEDIUM_REQUEST_THRESHOLD {
            let class = medium_class_of(size);
            assert!((NUM_SMALL_CLASSES..NUM_CLASSES).contains(&class));
            assert!(size <= class_size(class));
            assert!(size > class_size(class - 1));
            assert_eq!(class_size(class) % ALIGNMENT, 0);
        }
        assert_eq!(medium_class_of(513), 32);
        assert_eq!(class_size(32), 640);
        assert_eq!(medium_class_of(2048), NUM_CLASSES - 1);
        assert_eq!(class_size(NUM_CLASSES - 1), 2048);
    }
}
