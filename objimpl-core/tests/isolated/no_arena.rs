//! When no arena can be mapped, the pools fall back on the C library, as
//! CPython's `_PyObject_Malloc` falls back on `PyMem_RawMalloc`: a small
//! request fails only when the C library fails too.
//!
//! The child process limits its address space to just above what it uses, after
//! growing the C library's heap and freeing it again: the C library then
//! has room for small blocks while no arena (1 MiB, 2 MiB reserved to
//! align it) can be mapped.
use std::alloc::{GlobalAlloc, Layout};

use objimpl_core::__doc::Counter;
use objimpl_core::Py;
use objimpl_core::alloc::{self, Allocator, Domain, PyMalloc};

/// The address space in use, in bytes.
fn address_space() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().next().unwrap().parse().unwrap();
    // SAFETY: sysconf has no preconditions.
    pages * unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64
}

/// The child: allocates past its first arena with no room for a second.
fn child() {
    // The pool itself, without the debug hooks over it.
    // SAFETY: nothing of either family is live yet.
    unsafe {
        alloc::set_allocator(Domain::Mem, Allocator::pymalloc());
        alloc::set_allocator(Domain::Object, Allocator::pymalloc());
    }
    let first = alloc::object_malloc(32);
    // Room in the C library's heap, kept after it is freed.
    let warm: Vec<*mut libc::c_void> = (0..1_000_000)
        // SAFETY: malloc has no preconditions.
        .map(|_| unsafe { libc::malloc(48) })
        .collect();
    for p in warm {
        // SAFETY: each came from malloc above, freed once.
        unsafe { libc::free(p) };
    }
    // SAFETY: mallopt has no preconditions.
    unsafe { libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX) };
    let limit = address_space() + (1 << 20);
    let rlimit = libc::rlimit {
        rlim_cur: limit,
        rlim_max: limit,
    };
    // SAFETY: a valid rlimit for this process.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &rlimit) }, 0);
    // Three arenas' worth of 32-byte blocks: the first arena fills, and no
    // other can be had.
    let arenas = alloc::stats().arenas_current;
    let blocks: Vec<*mut u8> = (0..100_000).map(|_| alloc::object_malloc(32)).collect();
    let served = blocks.iter().filter(|p| !p.is_null()).count();
    assert_eq!(
        served,
        blocks.len(),
        "object_malloc fell back on the C library"
    );
    assert_eq!(
        alloc::stats().arenas_current,
        arenas,
        "the limit left no room for another arena: the test proves nothing"
    );
    let mem = alloc::mem_malloc(100);
    assert!(!mem.is_null());
    assert!(Py::new(Counter { n: 1 }).is_ok(), "Py::new falls back too");
    let layout = Layout::new::<[u8; 200]>();
    // SAFETY: a non-zero size.
    let boxed = unsafe { PyMalloc.alloc(layout) };
    assert!(
        !boxed.is_null(),
        "and PyMalloc, so Box and Vec do not abort"
    );
    // Grown and freed as C library blocks.
    // SAFETY: `mem` is a live block of the family; `q` replaces it.
    let q = unsafe { alloc::mem_realloc(mem, 300) };
    assert!(!q.is_null());
    // SAFETY: each block is freed once, by the side that made it.
    unsafe {
        PyMalloc.dealloc(boxed, layout);
        alloc::mem_free(q);
        for p in blocks {
            alloc::object_free(p);
        }
        alloc::object_free(first);
    }
    println!("child: all served");
}

#[test]
fn small_requests_fall_back_on_the_c_library_when_no_arena_can_be_mapped() {
    if super::is_child() {
        return child();
    }
    super::assert_child_prints(
        "no_arena::small_requests_fall_back_on_the_c_library_when_no_arena_can_be_mapped",
        &[],
        "child: all served",
    );
}
