//! What a program can ask the hooks: `check_memory` and `block_info`, the
//! counterparts of CPython's `_PyMem_DebugCheckAddress` and
//! `_PyObject_IsFreed`.

use crate::{catching, serial};
use objimpl_core::alloc::{self, CLEAN_BYTE, DEAD_BYTE, Domain, ErrorKind};
use objimpl_core::{__doc::Unit, PyObjectType};

#[test]
fn check_memory_finds_overflows_and_writes_after_free_and_nothing_else() {
    let _serial = serial();
    let (found, reports) = catching(alloc::check_memory);
    assert_eq!((found, reports.len()), (0, 0), "{reports:#?}");
    let live = alloc::object_malloc(20);
    let freed = alloc::raw_malloc(20);
    // SAFETY: `freed` is live and freed once.
    unsafe { alloc::raw_free(freed) };
    // SAFETY: deliberately one byte past `live`, and into `freed`, which the
    // quarantine holds.
    unsafe {
        live.add(20).write(1);
        freed.write(2);
    }
    let (found, mut reports) = catching(alloc::check_memory);
    assert_eq!(found, 2);
    reports.sort_by_key(|r| r.address != live as usize);
    assert_eq!(
        (reports[0].kind, reports[0].function),
        (ErrorKind::BufferOverflow, "check_memory")
    );
    assert_eq!(
        (reports[1].kind, reports[1].address),
        (ErrorKind::WriteAfterFree, freed as usize)
    );
    // Mend both, so the blocks leave clean.
    // SAFETY: as above.
    unsafe {
        live.add(20).write(alloc::FORBIDDEN_BYTE);
        freed.write(DEAD_BYTE);
        alloc::object_free(live);
    }
    assert_eq!(catching(alloc::check_memory).0, 0);
}

#[test]
fn block_info_tells_null_uninitialised_and_freed_objects_apart() {
    // test_capi's check_pyobject_{null,uninitialized,freed}_is_freed.
    let _serial = serial();
    assert_eq!(alloc::block_info(std::ptr::null()), None);
    let op = alloc::object_malloc(objimpl_core::object_size(Unit::TYPE));
    let info = alloc::block_info(op).unwrap();
    assert_eq!(
        (info.domain, info.freed, info.size),
        (Domain::Object, false, 16)
    );
    // Uninitialised: the header reads 0xCD, as CPython's check expects.
    // SAFETY: 16 fresh bytes.
    assert_eq!(unsafe { op.cast::<[u8; 16]>().read() }, [CLEAN_BYTE; 16]);
    // SAFETY: `op` is live and freed once.
    unsafe { alloc::object_free(op) };
    assert!(alloc::block_info(op).unwrap().freed);
}

#[test]
fn stats_report_the_quarantined_blocks_apart() {
    let _serial = serial();
    let p = alloc::mem_malloc(24);
    // SAFETY: `p` is live and freed once.
    unsafe { alloc::mem_free(p) };
    let stats = alloc::stats();
    // Freed by the program, held by the hooks: the pool still counts the
    // block in use, and the figures say how many such blocks there are.
    assert!(stats.quarantined_blocks >= 1, "{stats:?}");
    assert!(stats.quarantined_bytes >= 24 + 16, "{stats:?}");
    let mut out = Vec::new();
    alloc::debug_malloc_stats(&mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.contains("blocks in the debug hooks' quarantine"),
        "{text}"
    );
}
