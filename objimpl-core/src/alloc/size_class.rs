//! The geometry of the pool allocator: size classes, pools and arenas.
//!
//! A request of `n <= 512` bytes is served from size class `(n - 1) / 16`
//! (class 0 also serves `n == 0`), whose blocks are `16 * (class + 1)` bytes.

use super::ALIGNMENT;

/// Requests of at most this many bytes are served from pools.
pub(crate) const SMALL_REQUEST_THRESHOLD: usize = 512;

/// The number of size classes: 512 / 16.
pub(crate) const NUM_CLASSES: usize = SMALL_REQUEST_THRESHOLD / ALIGNMENT;

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
static_assertions::const_assert_eq!(NUM_CLASSES, 32);
// The arena's bucket bitmap (`heap.rs`) has one bit per free-pool count.
static_assertions::const_assert!(POOLS_PER_ARENA <= 64);

/// The size class of a request of `size <= SMALL_REQUEST_THRESHOLD` bytes.
#[inline(always)]
pub(crate) const fn class_of(size: usize) -> usize {
    debug_assert!(size <= SMALL_REQUEST_THRESHOLD);
    size.saturating_sub(1) >> ALIGNMENT_SHIFT
}

/// The block size of class `class`.
#[inline(always)]
pub(crate) const fn class_size(class: usize) -> usize {
    (class + 1) << ALIGNMENT_SHIFT
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
}
