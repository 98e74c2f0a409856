//! Each memory error the hooks find, received as a report by a handler.

use crate::{catching, free, malloc, one_report, realloc, serial};
use objimpl_core::alloc::{self, DEAD_BYTE, Domain, ErrorKind};

#[test]
fn a_write_before_the_block_is_a_buffer_underflow() {
    let _serial = serial();
    for domain in Domain::ALL {
        let p = malloc(domain, 24);
        let serial = alloc::block_info(p).unwrap().serial;
        // SAFETY: deliberately the byte before the block: the hooks' guard.
        unsafe { p.sub(1).write(b'u') };
        // SAFETY: `p` is live and freed once.
        let r = one_report(|| unsafe { free(domain, p) });
        assert_eq!(r.kind, ErrorKind::BufferUnderflow);
        assert_eq!(
            (r.address, r.size, r.serial),
            (p as usize, Some(24), Some(serial))
        );
        assert_eq!(
            (r.api_expected, r.api_found),
            (domain.api_id(), Some(domain.api_id()))
        );
        let text = r.to_string();
        assert!(text.starts_with("objimpl: buffer underflow: "), "{text}");
        assert!(text.contains("at p-1: 0x75 *** OUCH"), "{text}");
        // The block was freed all the same.
        assert!(alloc::block_info(p).unwrap().freed);
    }
}

#[test]
fn a_write_over_the_size_field_is_a_buffer_underflow() {
    let _serial = serial();
    let p = alloc::mem_malloc(16);
    // SAFETY: deliberately the last byte of the size field, 9 bytes before.
    unsafe { p.sub(9).write(99) };
    // SAFETY: `p` is live and freed once.
    let r = one_report(|| unsafe { alloc::mem_free(p) });
    assert_eq!((r.kind, r.size), (ErrorKind::BufferUnderflow, Some(16)));
    assert!(r.to_string().contains("says 99 bytes, not 16"), "{r}");
}

#[test]
fn a_write_after_the_block_is_a_buffer_overflow() {
    let _serial = serial();
    for domain in Domain::ALL {
        for size in [16, 1000] {
            let p = malloc(domain, size);
            // SAFETY: deliberately the byte after the block: the hooks' guard.
            unsafe { p.add(size).write(b'x') };
            // SAFETY: `p` is live and freed once.
            let r = one_report(|| unsafe { free(domain, p) });
            assert_eq!(r.kind, ErrorKind::BufferOverflow);
            assert_eq!((r.address, r.size), (p as usize, Some(size)));
            let text = r.to_string();
            assert!(
                text.contains("at tail+0: 0x78 *** OUCH\n        at tail+1: 0xfd"),
                "{text}"
            );
        }
    }
}

#[test]
fn realloc_finds_an_overflow_too_and_still_moves_the_block() {
    let _serial = serial();
    let p = alloc::object_malloc(10);
    // SAFETY: deliberately past the end.
    unsafe { p.add(10).write(0) };
    let mut q = std::ptr::null_mut();
    // SAFETY: `p` is live; only `q` is used after.
    let r = one_report(|| q = unsafe { alloc::object_realloc(p, 20) });
    assert_eq!(
        (r.kind, r.function),
        (ErrorKind::BufferOverflow, "object_realloc")
    );
    assert!(!q.is_null());
    // SAFETY: `q` is live and freed once.
    unsafe { alloc::object_free(q) };
}

#[test]
fn freeing_through_another_family_is_api_misuse_for_all_six_pairs() {
    let _serial = serial();
    for made in Domain::ALL {
        for used in Domain::ALL.into_iter().filter(|&d| d != made) {
            let p = malloc(made, 16);
            // SAFETY: deliberately the wrong family: the hooks refuse it
            // before the allocator below sees it.
            let r = one_report(|| unsafe { free(used, p) });
            assert_eq!(r.kind, ErrorKind::ApiMisuse);
            assert_eq!(
                (r.api_expected, r.api_found),
                (used.api_id(), Some(made.api_id()))
            );
            assert_eq!(r.function, format!("{}_free", used.family()));
            assert!(r.to_string().contains(&format!(
                "API id expected '{}', found '{}'",
                used.api_id(),
                made.api_id()
            )));
            // Refused: the block is still live, and its own family frees it.
            assert!(!alloc::block_info(p).unwrap().freed);
            // SAFETY: `p` is live and freed once, by its family.
            unsafe { free(made, p) };
        }
    }
}

#[test]
fn reallocating_through_another_family_is_api_misuse_for_all_six_pairs() {
    let _serial = serial();
    for made in Domain::ALL {
        for used in Domain::ALL.into_iter().filter(|&d| d != made) {
            let p = malloc(made, 16);
            let mut q = std::ptr::dangling_mut();
            // SAFETY: deliberately the wrong family: refused, null returned.
            let r = one_report(|| q = unsafe { realloc(used, p, 32) });
            assert!(q.is_null());
            assert_eq!(
                (r.kind, r.api_found),
                (ErrorKind::ApiMisuse, Some(made.api_id()))
            );
            assert_eq!(r.function, format!("{}_realloc", used.family()));
            // SAFETY: `p` is still live and freed once, by its family.
            unsafe { free(made, p) };
        }
    }
}

#[test]
fn cpythons_api_misuse_case_mem_block_freed_as_raw() {
    // test_capi's test_api_misuse: PyMem_Malloc(16), then PyMem_RawFree.
    let _serial = serial();
    let p = alloc::mem_malloc(16);
    // SAFETY: deliberately the wrong family.
    let r = one_report(|| unsafe { alloc::raw_free(p) });
    let text = r.to_string();
    assert!(
        text.contains("16 bytes originally requested, API 'm'"),
        "{text}"
    );
    assert!(text.contains("The 7 pad bytes at p-7 are FORBIDDENBYTE, as expected."));
    assert!(text.contains("The 4 pad bytes at tail are FORBIDDENBYTE, as expected."));
    assert!(text.contains("Data at p: cd cd cd cd cd cd cd cd ..."));
    // SAFETY: `p` is live and freed once.
    unsafe { alloc::mem_free(p) };
}

#[test]
fn freeing_twice_is_a_double_free_and_the_second_free_does_nothing() {
    let _serial = serial();
    for domain in Domain::ALL {
        let p = malloc(domain, 40);
        let serial = alloc::block_info(p).unwrap().serial;
        // SAFETY: `p` is live; the first free is right.
        unsafe { free(domain, p) };
        // SAFETY: deliberately freed again: the hooks know it is in quarantine.
        let r = one_report(|| unsafe { free(domain, p) });
        assert_eq!(r.kind, ErrorKind::DoubleFree);
        assert_eq!(
            (r.address, r.size, r.serial),
            (p as usize, Some(40), Some(serial))
        );
        assert!(r.to_string().contains("still reads 0xdd throughout"), "{r}");
        // SAFETY: deliberately reallocated after its free.
        let r = one_report(|| assert!(unsafe { realloc(domain, p, 8) }.is_null()));
        assert_eq!(r.kind, ErrorKind::DoubleFree);
    }
}

#[test]
fn freeing_a_pointer_never_handed_out_is_reported_without_reading_it() {
    let _serial = serial();
    let p = alloc::object_malloc(64);
    let mut local = 0u64;
    let strangers = [
        // SAFETY: inside the block: never handed out as such.
        unsafe { p.add(16) },
        (&raw mut local).cast(),
        // Not mapped at all: the hooks must not read it.
        std::ptr::without_provenance_mut(0x10),
    ];
    for q in strangers {
        // SAFETY: deliberately a pointer the hooks never handed out; they
        // refuse it by address alone.
        let r = one_report(|| unsafe { alloc::object_free(q) });
        assert_eq!(r.kind, ErrorKind::UnknownPointer);
        assert_eq!((r.address, r.size, r.api_found), (q as usize, None, None));
        assert!(r.to_string().contains("never handed out"));
    }
    // SAFETY: `p` is live and freed once.
    unsafe { alloc::object_free(p) };
}

#[test]
fn a_write_after_free_is_found_when_the_block_leaves_the_quarantine() {
    let _serial = serial();
    let p = alloc::mem_malloc(48);
    // SAFETY: `p` is live and freed once.
    unsafe { alloc::mem_free(p) };
    // SAFETY: deliberately written after its free; the block is held in
    // quarantine, so the write lands in the hooks' memory.
    unsafe { p.add(5).write(0x41) };
    // Push it out with frees. The quarantine keeps its blocks in shards by
    // address, each with its share of `QUARANTINE_BLOCKS`: `p` leaves once
    // its shard has had a share of frees after it, however they fall.
    let ((), reports) = catching(|| {
        for _ in 0..16 * alloc::QUARANTINE_BLOCKS {
            let q = alloc::object_malloc(16);
            // SAFETY: `q` is live and freed once.
            unsafe { alloc::object_free(q) };
            if alloc::block_info(p).is_none() {
                break;
            }
        }
    });
    assert_eq!(reports.len(), 1, "{reports:#?}");
    let r = &reports[0];
    assert_eq!(
        (r.kind, r.address, r.size),
        (ErrorKind::WriteAfterFree, p as usize, Some(48))
    );
    assert_eq!((r.function, r.api_found), ("object_free", Some('m')));
    assert!(r.to_string().contains("at p+5: 0x41 *** OUCH"), "{r}");
    assert_eq!(alloc::block_info(p), None, "it left the quarantine");
}

#[test]
fn a_block_that_left_the_quarantine_is_not_the_hooks_until_they_hand_it_out_again() {
    let _serial = serial();
    let p = alloc::object_malloc(40);
    // SAFETY: `p` is live and freed once.
    unsafe { alloc::object_free(p) };
    for _ in 0..16 * alloc::QUARANTINE_BLOCKS {
        if alloc::block_info(p).is_none() {
            break;
        }
        // Another class: its blocks do not take `p`'s.
        let q = alloc::object_malloc(8);
        // SAFETY: `q` is live and freed once.
        unsafe { alloc::object_free(q) };
    }
    assert_eq!(alloc::block_info(p), None, "it left the quarantine");
    // Back in the pools, not the hooks': a second free is refused by its
    // address, and frees nothing.
    // SAFETY: deliberately freed twice; the hooks do not read it.
    let r = one_report(|| unsafe { alloc::object_free(p) });
    assert_eq!((r.kind, r.address), (ErrorKind::UnknownPointer, p as usize));
    // The pools hand it out again (last in, first out): live, the hooks'.
    let mut again = Vec::new();
    let found = (0..64).any(|_| {
        again.push(alloc::object_malloc(40));
        again.last() == Some(&p)
    });
    assert!(found, "the pools did not hand the block out again");
    let info = alloc::block_info(p).unwrap();
    assert_eq!((info.size, info.freed), (40, false));
    for q in again {
        // SAFETY: each is live and freed once.
        unsafe { alloc::object_free(q) };
    }
    assert!(alloc::block_info(p).unwrap().freed);
}

#[test]
fn a_freed_block_is_not_handed_out_again_while_in_quarantine() {
    let _serial = serial();
    let p = alloc::object_malloc(32);
    // SAFETY: `p` is live and freed once.
    unsafe { alloc::object_free(p) };
    let again: Vec<*mut u8> = (0..100).map(|_| alloc::object_malloc(32)).collect();
    assert!(!again.contains(&p));
    for q in again {
        // SAFETY: each is live and freed once.
        unsafe { alloc::object_free(q) };
    }
    assert_eq!(DEAD_BYTE, 0xDD);
}
