//! The contract of each family, one behaviour a test.

use objimpl_core::alloc;

use crate::{Family, class_of, class_size, serial};

#[test]
fn every_size_of_every_family_is_16_byte_aligned_and_writable() {
    let _serial = serial();
    for family in Family::ALL {
        let mut blocks = Vec::new();
        for size in (0..=1100).step_by(if cfg!(miri) { 37 } else { 1 }) {
            let p = family.malloc(size);
            assert!(!p.is_null());
            assert_eq!(p as usize % alloc::ALIGNMENT, 0, "{family:?} {size}");
            // SAFETY: `p` holds `size` bytes.
            unsafe { p.write_bytes(0xAB, size) };
            blocks.push(p);
        }
        for p in blocks {
            // SAFETY: each block came from this family and is freed once.
            unsafe { family.free(p) };
        }
    }
}

#[test]
fn zero_byte_requests_get_unique_pointers() {
    let _serial = serial();
    for family in Family::ALL {
        let a = family.malloc(0);
        let b = family.malloc(0);
        let c = family.calloc(0, 8);
        assert!(!a.is_null() && !b.is_null() && !c.is_null());
        assert!(a != b && b != c && a != c);
        // SAFETY: each came from this family and is freed once.
        unsafe {
            family.free(a);
            family.free(b);
            family.free(c);
        }
    }
}

#[test]
fn impossible_requests_return_null() {
    let _serial = serial();
    for family in Family::ALL {
        assert!(family.malloc(isize::MAX as usize + 1).is_null());
        assert!(family.calloc(usize::MAX / 2, 3).is_null());
        assert!(family.calloc(1, isize::MAX as usize + 1).is_null());
        let p = family.malloc(24);
        // SAFETY: `p` is live; on failure it stays valid.
        let q = unsafe { family.realloc(p, usize::MAX - 8) };
        assert!(q.is_null());
        // SAFETY: `p` is still live after the failed realloc.
        unsafe { family.free(p) };
        // SAFETY: freeing null does nothing.
        unsafe { family.free(std::ptr::null_mut()) };
    }
}

#[test]
fn calloc_zeroes_reused_blocks() {
    let _serial = serial();
    for family in Family::ALL {
        for size in [1, 16, 100, 512, 513, 2000] {
            let p = family.malloc(size);
            // SAFETY: `p` holds `size` bytes.
            unsafe { p.write_bytes(0xFF, size) };
            // SAFETY: freed once.
            unsafe { family.free(p) };
            let q = family.calloc(1, size);
            // SAFETY: `q` holds `size` bytes, initialised by calloc.
            let bytes = unsafe { std::slice::from_raw_parts(q, size) };
            assert!(bytes.iter().all(|&b| b == 0));
            // SAFETY: freed once.
            unsafe { family.free(q) };
        }
    }
}

#[test]
fn realloc_stays_in_place_within_three_quarters_of_the_class() {
    let _serial = serial();
    for family in [Family::Object, Family::Mem] {
        for size in [1, 17, 100, 300, 512] {
            let block = class_size(class_of(size));
            let p = family.malloc(size);
            let mut current = p;
            for new in (1..=block).rev() {
                // SAFETY: `current` is live; we continue with the result.
                current = unsafe { family.realloc(current, new) };
                if 4 * new > 3 * block {
                    assert_eq!(
                        current, p,
                        "{size} -> {new} stays in its {block}-byte block"
                    );
                } else {
                    assert_ne!(current, p, "{size} -> {new} moves to a smaller block");
                    break;
                }
            }
            // SAFETY: `current` is live; growing past the block moves it.
            let grown = unsafe { family.realloc(current, block + 1) };
            assert_ne!(grown, current);
            // SAFETY: freed once.
            unsafe { family.free(grown) };
        }
    }
}

#[test]
fn realloc_keeps_contents_small_to_large_and_back() {
    let _serial = serial();
    for family in Family::ALL {
        let sizes = [5, 40, 500, 513, 4000, 300, 16, 0, 64];
        let mut p = family.malloc(1);
        // SAFETY: one byte.
        unsafe { p.write(1) };
        let mut len = 1;
        for &size in &sizes {
            // SAFETY: `p` is live; we continue with the result.
            let q = unsafe { family.realloc(p, size) };
            assert!(!q.is_null());
            let kept = len.min(size);
            for i in 0..kept {
                // SAFETY: `q` holds at least `kept` bytes.
                let byte = unsafe { q.add(i).read() };
                assert_eq!(byte, (i % 251) as u8 + 1, "{family:?} -> {size}");
            }
            for i in 0..size {
                // SAFETY: `q` holds `size` bytes.
                unsafe { q.add(i).write((i % 251) as u8 + 1) };
            }
            p = q;
            len = size;
        }
        // SAFETY: freed once.
        unsafe { family.free(p) };
    }
}

#[test]
fn realloc_of_null_is_malloc() {
    let _serial = serial();
    for family in Family::ALL {
        // SAFETY: null is allowed.
        let p = unsafe { family.realloc(std::ptr::null_mut(), 48) };
        assert!(!p.is_null());
        // SAFETY: freed once.
        unsafe { family.free(p) };
    }
}
