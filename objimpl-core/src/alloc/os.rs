//! Where arenas come from: the seam between the pool allocator and the OS.
//!
//! This is the only module that calls `mmap`/`munmap`/`madvise`. Under Miri, which
//! cannot run them, arenas come from the system allocator with the arena's
//! alignment instead, so that everything above this seam runs unchanged.

#[cfg(not(miri))]
use super::fatal::invariant;
use super::size_class::ARENA_SIZE;

/// Maps a fresh, zeroed arena of [`ARENA_SIZE`] bytes aligned to
/// [`ARENA_SIZE`]. Returns null if the OS refuses.
///
/// With `populate`, the pages are faulted in at once (one system call instead
/// of a fault per page), for heaps that have shown they reuse the memory:
/// those that already gave an arena back and are growing again.
#[cfg(not(miri))]
pub(crate) fn map_arena(populate: bool) -> *mut u8 {
    // Reserve twice the size without access, then map the aligned middle for
    // real over the reservation and give back both ends. No page of the
    // reservation is touched.
    let reserved = map(core::ptr::null_mut(), 2 * ARENA_SIZE, libc::PROT_NONE, 0);
    if reserved.is_null() {
        return reserved;
    }
    let head = reserved.addr().next_multiple_of(ARENA_SIZE) - reserved.addr();
    // SAFETY: `head < ARENA_SIZE`, inside the 2 * ARENA_SIZE bytes reserved.
    let aligned = unsafe { reserved.add(head) };
    let flags = libc::MAP_FIXED | if populate { libc::MAP_POPULATE } else { 0 };
    let arena = map(
        aligned,
        ARENA_SIZE,
        libc::PROT_READ | libc::PROT_WRITE,
        flags,
    );
    if head > 0 {
        // SAFETY: the first `head` bytes of the reservation are ours and unused.
        unsafe { unmap(reserved, head) };
    }
    // SAFETY: the bytes after the aligned arena, to the end of the
    // reservation, are ours and unused.
    unsafe { unmap(aligned.add(ARENA_SIZE), ARENA_SIZE - head) };
    if arena.is_null() {
        // SAFETY: the middle is still reserved, ours and unused.
        unsafe { unmap(aligned, ARENA_SIZE) };
    }
    arena
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

/// Gives the pages of `[start, start + len)`, in an arena, back to the OS
/// while keeping them mapped: they read as zeros afterwards, and are faulted
/// in again when next written.
///
/// # Safety
///
/// - the range lies in an arena from [`map_arena`], still mapped, and
///   nothing reads or writes it meanwhile; `start` is page-aligned.
#[cfg(not(miri))]
pub(crate) unsafe fn decommit(start: *mut u8, len: usize) {
    // MADV_DONTNEED on private anonymous memory cannot fail for a mapped,
    // aligned range; if it did, the pages would merely stay resident.
    // SAFETY: the caller hands over the range, unused, for the call.
    unsafe { libc::madvise(start.cast(), len, libc::MADV_DONTNEED) };
}

/// `mmap` of anonymous private memory; `at` is a hint, or with `MAP_FIXED`
/// a range of our own reservation. Null on failure.
#[cfg(not(miri))]
fn map(at: *mut u8, len: usize, prot: libc::c_int, flags: libc::c_int) -> *mut u8 {
    // SAFETY: an anonymous private mapping aliases nothing; with MAP_FIXED
    // the callers pass a range of their own unused reservation.
    let p = unsafe {
        libc::mmap(
            at.cast(),
            len,
            prot,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | flags,
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
    invariant!(rc == 0, "munmap({p:p}, {len}) failed");
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
pub(crate) fn map_arena(_populate: bool) -> *mut u8 {
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

/// Miri's stand-in for `madvise(MADV_DONTNEED)`: the range reads as zeros,
/// so that code which trusted its old contents fails here too.
///
/// # Safety
///
/// - the range lies in an arena from [`map_arena`], and nothing reads or
///   writes it meanwhile.
#[cfg(miri)]
pub(crate) unsafe fn decommit(start: *mut u8, len: usize) {
    // SAFETY: the caller hands over the range, unused, for the call.
    unsafe { start.write_bytes(0, len) }
}
