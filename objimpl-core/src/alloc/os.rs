//! Where arenas come from: the seam between the pool allocator and the OS.
//!
//! This is the only module that calls `mmap`/`munmap`. Under Miri, which
//! cannot run them, arenas come from the system allocator with the arena's
//! alignment instead, so that everything above this seam runs unchanged.

use super::size_class::ARENA_SIZE;

/// Maps a fresh, zeroed arena of [`ARENA_SIZE`] bytes aligned to
/// [`ARENA_SIZE`]. Returns null if the OS refuses.
#[cfg(not(miri))]
pub(crate) fn map_arena() -> *mut u8 {
    // Usually the kernel hands out a region that happens to be aligned; when
    // it does not, map twice the size and trim the ends, which keeps only the
    // aligned middle and never touches a page.
    let p = map(ARENA_SIZE);
    if p.is_null() || p.addr().is_multiple_of(ARENA_SIZE) {
        return p;
    }
    // SAFETY: `p` is the region just mapped, of ARENA_SIZE bytes, and unused.
    unsafe { unmap(p, ARENA_SIZE) };
    let wide = map(2 * ARENA_SIZE);
    if wide.is_null() {
        return wide;
    }
    let head = wide.addr().next_multiple_of(ARENA_SIZE) - wide.addr();
    // SAFETY: `head < ARENA_SIZE`, inside the 2 * ARENA_SIZE bytes mapped.
    let aligned = unsafe { wide.add(head) };
    if head > 0 {
        // SAFETY: the first `head` bytes of `wide` are mapped and unused.
        unsafe { unmap(wide, head) };
    }
    let tail = ARENA_SIZE - head;
    if tail > 0 {
        // SAFETY: the `tail` bytes after the aligned arena are mapped and unused.
        unsafe { unmap(aligned.add(ARENA_SIZE), tail) };
    }
    aligned
}

/// Gives an arena back to the OS.
///
/// # Safety
///
/// - `arena` came from [`map_arena`] and is not used after this call.
#[cfg(not(miri))]
pub(crate) unsafe fn unmap_arena(arena: *mut u8) {
    // SAFETY: the caller hands over the whole arena mapped by `map_arena`.
    unsafe { unmap(arena, ARENA_SIZE) }
}

#[cfg(not(miri))]
fn map(len: usize) -> *mut u8 {
    // SAFETY: an anonymous private mapping at an address the kernel chooses
    // has no preconditions and aliases nothing.
    let p = unsafe {
        libc::mmap(
            core::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        core::ptr::null_mut()
    } else {
        p.cast()
    }
}

/// # Safety
///
/// - `[p, p + len)` is a mapped range that nothing uses any more.
#[cfg(not(miri))]
unsafe fn unmap(p: *mut u8, len: usize) {
    // SAFETY: the caller guarantees the range is ours and unused. munmap can
    // fail only for a bad range, which would be a bug here.
    let rc = unsafe { libc::munmap(p.cast(), len) };
    debug_assert_eq!(rc, 0, "munmap of an arena failed");
}

#[cfg(miri)]
const ARENA_LAYOUT: core::alloc::Layout =
    match core::alloc::Layout::from_size_align(ARENA_SIZE, ARENA_SIZE) {
        Ok(layout) => layout,
        Err(_) => panic!("ARENA_SIZE is a power of two"),
    };

/// Miri's stand-in for `mmap`: zeroed memory from the system allocator,
/// aligned to the arena size. `System`, not the global allocator, because the
/// global allocator may be `PyMalloc` itself.
#[cfg(miri)]
pub(crate) fn map_arena() -> *mut u8 {
    use core::alloc::GlobalAlloc;
    // SAFETY: the layout has a non-zero size.
    unsafe { std::alloc::System.alloc_zeroed(ARENA_LAYOUT) }
}

/// Miri's stand-in for `munmap`.
///
/// # Safety
///
/// - `arena` came from [`map_arena`] and is not used after this call.
#[cfg(miri)]
pub(crate) unsafe fn unmap_arena(arena: *mut u8) {
    use core::alloc::GlobalAlloc;
    // SAFETY: `arena` was allocated by `System` with this layout.
    unsafe { std::alloc::System.dealloc(arena, ARENA_LAYOUT) }
}
