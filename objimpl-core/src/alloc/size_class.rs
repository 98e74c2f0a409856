//! The geometry of the pool allocator: size classes, pools and arenas.
//!
//! A request of `n <= 512` bytes is served from size class `(n - 1) / 16`
//! (class 0 also serves `n == 0`), whose blocks are `16 * (class + 1)` bytes:
//! CPython's 32 classes. A 33rd, [`TINY_CLASS`], holds 8-byte blocks for
//! [`PyMalloc`](super::PyMalloc)'s requests of at most 8 bytes that need no
//! more than 8-byte alignment (a Rust program's short strings); the
//! families, whose blocks are 16-byte aligned, never use it.

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

/// The number of size classes: CPython's, and [`TINY_CLASS`].
pub(crate) const NUM_CLASSES: usize = CPYTHON_CLASSES + 1;

/// The block size of [`TINY_CLASS`], and the most alignment its blocks have.
pub(crate) const TINY_SIZE: usize = 8;

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
static_assertions::const_assert_eq!(NUM_CLASSES, 33);
// A free block holds a link.
static_assertions::const_assert!(TINY_SIZE >= size_of::<usize>());
// The arena's bucket bitmap (`heap/pools.rs`) has one bit per free-pool count.
static_assertions::const_assert!(POOLS_PER_ARENA <= 64);

/// The size class of a request of `size <= SMALL_REQUEST_THRESHOLD` bytes
/// (the callers test it; a heap checks the class it is given).
#[inline(always)]
pub(crate) const fn class_of(size: usize) -> usize {
    size.saturating_sub(1) >> ALIGNMENT_SHIFT
}

/// The block size of class `class`.
#[inline(always)]
pub(crate) const fn class_size(class: usize) -> usize {
    if class == TINY_CLASS {
        TINY_SIZE
    } else {
        (class + 1) << ALIGNMENT_SHIFT
    }
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
}
