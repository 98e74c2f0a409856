//! `PyMalloc`'s medium classes, called directly (the binary's global
//! allocator stays Rust's default), alone in their binary so that the
//! pool's counts move only with this test.

use std::alloc::{GlobalAlloc, Layout};

use objimpl_core::alloc::{self, PyMalloc};

/// `PyMalloc` serves 513..=2048 bytes from the medium classes: blocks are
/// 16-byte aligned, keep their contents through `realloc` within the
/// classes and across their ends (to the C library and back), and leave
/// the classes' counts as they found them.
#[test]
fn medium_requests_come_from_the_pools_and_keep_their_contents() {
    let medium_in_use = || -> usize {
        alloc::stats().classes[32..]
            .iter()
            .map(|c| c.blocks_in_use)
            .sum()
    };
    let step = if cfg!(miri) { 97 } else { 1 };
    let sizes: Vec<usize> = (513..=2048).step_by(step).collect();
    let mut blocks = Vec::with_capacity(sizes.len());
    let before = medium_in_use();
    for &size in &sizes {
        let layout = Layout::from_size_align(size, 8).unwrap();
        // SAFETY: the layout has a non-zero size.
        let p = unsafe { PyMalloc.alloc(layout) };
        assert!(!p.is_null() && p.addr() % 16 == 0, "{size}: {p:?}");
        // SAFETY: `p` holds `size` bytes.
        unsafe { p.write_bytes(size as u8, size) };
        blocks.push((p, layout));
    }
    assert_eq!(medium_in_use(), before + sizes.len());
    for (p, layout) in blocks {
        let size = layout.size();
        // SAFETY: `p` is live with this layout; past 2048 the block moves to
        // the C library, and back into a medium class below it.
        unsafe {
            let q = PyMalloc.realloc(p, layout, 3000);
            assert!(!q.is_null());
            assert!((0..size).all(|i| *q.add(i) == size as u8), "{size} up");
            let grown = Layout::from_size_align(3000, 8).unwrap();
            let r = PyMalloc.realloc(q, grown, 600);
            assert!(!r.is_null());
            let kept = size.min(600);
            assert!((0..kept).all(|i| *r.add(i) == size as u8), "{size} down");
            PyMalloc.dealloc(r, Layout::from_size_align(600, 8).unwrap());
        }
    }
    assert_eq!(medium_in_use(), before);
    // The families keep CPython's threshold: 600 bytes is the C library's.
    let p = alloc::object_malloc(600);
    assert_eq!(medium_in_use(), before);
    // SAFETY: `p` came from `object_malloc` and is freed once.
    unsafe { alloc::object_free(p) };
}
