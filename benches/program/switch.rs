//! The program's `#[global_allocator]`: one of four allocators, chosen once
//! per process from `OBJIMPL_W7_ALLOCATOR`.
//!
//! The choice is read with `libc::getenv` (which does not allocate) on the
//! first call, kept in a static atomic, and never changes; every call of
//! every allocator pays the same relaxed load and branch. Without the
//! variable (the parent process) it is glibc, through Rust's `System`.
//!
//! With `OBJIMPL_W7_HISTOGRAM=1` the switch also counts each request by size
//! and by [phase](set_phase): a mode for one extra child, never for the timed ones.

use std::alloc::{GlobalAlloc, Layout, System};
use std::ffi::CStr;
use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering::Relaxed};

use objimpl::alloc::PyMalloc;

/// The variable that names the allocator.
pub const ALLOCATOR_VAR: &str = "OBJIMPL_W7_ALLOCATOR";
/// The variable that turns on the histogram of request sizes.
pub const HISTOGRAM_VAR: &str = "OBJIMPL_W7_HISTOGRAM";

/// The allocators, as the variable names them; objimpl first (the table's first column).
pub const NAMES: [&str; 4] = ["objimpl", "mimalloc", "jemalloc", "glibc"];

const UNSET: u8 = 0;
const OBJIMPL: u8 = 1;
const MIMALLOC: u8 = 2;
const JEMALLOC: u8 = 3;
const GLIBC: u8 = 4;
/// Or-ed into the choice in the histogram mode.
const COUNTING: u8 = 0x80;

/// The choice: one of the constants above, plus [`COUNTING`]; [`UNSET`] until the first call.
static CHOICE: AtomicU8 = AtomicU8::new(UNSET);

/// The largest alignment that `malloc` (glibc's, mimalloc's, jemalloc's)
/// gives every block of at least that size on x86-64 and aarch64.
const MIN_ALIGN: usize = 16;

/// Forwards to the allocator that `OBJIMPL_W7_ALLOCATOR` names.
pub struct Switch;

/// The choice, read from the environment on the first call.
#[inline]
fn choice() -> u8 {
    let choice = CHOICE.load(Relaxed);
    if choice != UNSET {
        return choice;
    }
    choose()
}

/// Reads the environment. Two threads may both get here; they store the same value.
#[cold]
fn choose() -> u8 {
    let mut choice = match getenv(c"OBJIMPL_W7_ALLOCATOR") {
        None => GLIBC,
        Some(b"objimpl") => OBJIMPL,
        Some(b"mimalloc") => MIMALLOC,
        Some(b"jemalloc") => JEMALLOC,
        Some(b"glibc") => GLIBC,
        // No panic here: it would allocate, through this very allocator.
        Some(_) => die(b"OBJIMPL_W7_ALLOCATOR is objimpl, mimalloc, jemalloc or glibc\n"),
    };
    if getenv(c"OBJIMPL_W7_HISTOGRAM") == Some(b"1") {
        choice |= COUNTING;
    }
    CHOICE.store(choice, Relaxed);
    choice
}

/// The variable's value, without allocating.
fn getenv(name: &CStr) -> Option<&'static [u8]> {
    // SAFETY: `name` is NUL-terminated; nothing in this program sets the
    // environment while it runs (std::env::set_var is never called).
    let value = unsafe { libc::getenv(name.as_ptr()) };
    if value.is_null() {
        return None;
    }
    // SAFETY: getenv returned a NUL-terminated string that lives as long as
    // the environment is left alone, i.e. for the whole process.
    Some(unsafe { CStr::from_ptr(value) }.to_bytes())
}

/// Writes `message` to stderr and aborts, allocating nothing.
fn die(message: &[u8]) -> ! {
    // SAFETY: `message` is valid for `message.len()` bytes.
    unsafe { libc::write(2, message.as_ptr().cast(), message.len()) };
    std::process::abort()
}

/// Whether a block of `size` bytes aligned to `align` needs no alignment
/// passed to mimalloc or jemalloc: the test that `tikv-jemallocator` and
/// `mimalloc` (the crates) make.
#[inline]
fn plain(align: usize, size: usize) -> bool {
    align <= MIN_ALIGN && align <= size
}

/// jemalloc's flags for a block of `size` bytes aligned to `align`: none, or the alignment.
#[inline]
fn jemalloc_flags(align: usize, size: usize) -> libc::c_int {
    if plain(align, size) {
        0
    } else {
        tikv_jemalloc_sys::MALLOCX_ALIGN(align)
    }
}

// SAFETY: each call goes to the allocator chosen once for the whole process
// (CHOICE never changes after it is set), so every block is freed or
// reallocated by the allocator that made it; each branch below keeps that
// allocator's contract for the layout (the alignment passed unless `plain`).
unsafe impl GlobalAlloc for Switch {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let choice = choice();
        if choice & COUNTING != 0 {
            count(layout.size());
        }
        let (size, align) = (layout.size(), layout.align());
        match choice & !COUNTING {
            // SAFETY: the caller's layout has a non-zero size, as `alloc` requires.
            OBJIMPL => unsafe { PyMalloc.alloc(layout) },
            MIMALLOC if plain(align, size) => {
                // SAFETY: mi_malloc has no preconditions.
                unsafe { libmimalloc_sys::mi_malloc(size) }.cast()
            }
            MIMALLOC => {
                // SAFETY: the alignment is a power of two, as a `Layout`'s is.
                unsafe { libmimalloc_sys::mi_malloc_aligned(size, align) }.cast()
            }
            JEMALLOC => {
                let flags = jemalloc_flags(align, size);
                // SAFETY: the size is non-zero, the flags at most an alignment (a power of two).
                unsafe { tikv_jemalloc_sys::mallocx(size, flags) }.cast()
            }
            // SAFETY: as for PyMalloc.
            _ => unsafe { System.alloc(layout) },
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let choice = choice();
        if choice & COUNTING != 0 {
            count(layout.size());
        }
        let (size, align) = (layout.size(), layout.align());
        match choice & !COUNTING {
            // SAFETY: the caller's layout has a non-zero size, as `alloc_zeroed` requires.
            OBJIMPL => unsafe { PyMalloc.alloc_zeroed(layout) },
            MIMALLOC if plain(align, size) => {
                // SAFETY: mi_zalloc has no preconditions.
                unsafe { libmimalloc_sys::mi_zalloc(size) }.cast()
            }
            MIMALLOC => {
                // SAFETY: the alignment is a power of two, as a `Layout`'s is.
                unsafe { libmimalloc_sys::mi_zalloc_aligned(size, align) }.cast()
            }
            JEMALLOC => {
                let flags = jemalloc_flags(align, size) | tikv_jemalloc_sys::MALLOCX_ZERO;
                // SAFETY: the size is non-zero, the flags an alignment and MALLOCX_ZERO.
                unsafe { tikv_jemalloc_sys::mallocx(size, flags) }.cast()
            }
            // SAFETY: as for PyMalloc.
            _ => unsafe { System.alloc_zeroed(layout) },
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        match choice() & !COUNTING {
            // SAFETY: `ptr` came from PyMalloc with this layout (see the impl's comment).
            OBJIMPL => unsafe { PyMalloc.dealloc(ptr, layout) },
            // SAFETY: `ptr` came from mimalloc, aligned or not; mi_free takes both.
            MIMALLOC => unsafe { libmimalloc_sys::mi_free(ptr.cast()) },
            JEMALLOC => {
                let flags = jemalloc_flags(layout.align(), layout.size());
                // SAFETY: `ptr` is a live block of jemalloc's of this size and alignment.
                unsafe { tikv_jemalloc_sys::sdallocx(ptr.cast(), layout.size(), flags) }
            }
            // SAFETY: `ptr` came from System with this layout.
            _ => unsafe { System.dealloc(ptr, layout) },
        }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let choice = choice();
        if choice & COUNTING != 0 {
            count(new_size);
        }
        let align = layout.align();
        match choice & !COUNTING {
            // SAFETY: `ptr` came from PyMalloc with this layout; `new_size` is non-zero.
            OBJIMPL => unsafe { PyMalloc.realloc(ptr, layout, new_size) },
            MIMALLOC if plain(align, new_size) => {
                // SAFETY: `ptr` is a live block of mimalloc's; the new one is
                // aligned to 16 bytes or to its size, either covers `align`.
                unsafe { libmimalloc_sys::mi_realloc(ptr.cast(), new_size) }.cast()
            }
            MIMALLOC => {
                // SAFETY: `ptr` is a live block of mimalloc's; the alignment a power of two.
                unsafe { libmimalloc_sys::mi_realloc_aligned(ptr.cast(), new_size, align) }.cast()
            }
            JEMALLOC => {
                let flags = jemalloc_flags(align, new_size);
                // SAFETY: `ptr` is a live block of jemalloc's; the size is non-zero.
                unsafe { tikv_jemalloc_sys::rallocx(ptr.cast(), new_size, flags) }.cast()
            }
            // SAFETY: `ptr` came from System with this layout.
            _ => unsafe { System.realloc(ptr, layout, new_size) },
        }
    }
}

/// The histogram's size buckets: upper bounds, inclusive; the last is open.
pub const BUCKETS: [&str; 4] = ["<=512", "513..4096", "4097..32768", ">32768"];

/// How many phases the histogram tells apart (see [`set_phase`]).
pub const PHASES: usize = 4;

/// The phase the next requests count under.
static PHASE: AtomicUsize = AtomicUsize::new(0);

/// Requests and bytes per phase and bucket.
static COUNTS: [[AtomicU64; BUCKETS.len()]; PHASES] =
    [const { [const { AtomicU64::new(0) }; BUCKETS.len()] }; PHASES];
static BYTES: [[AtomicU64; BUCKETS.len()]; PHASES] =
    [const { [const { AtomicU64::new(0) }; BUCKETS.len()] }; PHASES];

/// Counts the following requests (allocations and reallocations) under `phase`.
pub fn set_phase(phase: usize) {
    assert!(phase < PHASES);
    PHASE.store(phase, Relaxed);
}

/// Whether this process counts requests.
pub fn counting() -> bool {
    choice() & COUNTING != 0
}

fn count(size: usize) {
    let bucket = match size {
        0..=512 => 0,
        513..=4096 => 1,
        4097..=32768 => 2,
        _ => 3,
    };
    let phase = PHASE.load(Relaxed);
    COUNTS[phase][bucket].fetch_add(1, Relaxed);
    BYTES[phase][bucket].fetch_add(size as u64, Relaxed);
}

/// The counts so far: `[phase][bucket]` = (requests, bytes).
pub fn histogram() -> [[(u64, u64); BUCKETS.len()]; PHASES] {
    std::array::from_fn(|p| {
        std::array::from_fn(|b| (COUNTS[p][b].load(Relaxed), BYTES[p][b].load(Relaxed)))
    })
}
