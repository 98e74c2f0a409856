//! Under AddressSanitizer, with `--cfg objimpl_asan` (`scripts/sanitize.sh
//! address`), the pools tell ASan which blocks are free: a read of a block
//! after it was freed, inside a pool, is an ASan report. Without the cfg
//! this binary has no such test.
#![cfg(objimpl_asan)]

use objimpl_core::alloc::{self, Allocator, Domain};

/// The child's use after free, by where the freed block waits.
fn child(scenario: &str) {
    // The pool itself: the debug hooks would keep the block in quarantine.
    // SAFETY: nothing of the family is live yet.
    unsafe { alloc::set_allocator(Domain::Object, Allocator::pymalloc()) };
    let p = alloc::object_malloc(64);
    // SAFETY: 64 fresh bytes.
    unsafe { p.write_bytes(7, 64) };
    match scenario {
        // Into the thread's cache of freed blocks.
        "cache" => {
            // SAFETY: `p` came from `object_malloc`, freed once.
            unsafe { alloc::object_free(p) };
        }
        // Onto its pool's free list: the cache is full of others by then.
        "pool" => {
            let others: Vec<*mut u8> = (0..200).map(|_| alloc::object_malloc(64)).collect();
            for q in others {
                // SAFETY: each came from `object_malloc`, freed once.
                unsafe { alloc::object_free(q) };
            }
            // SAFETY: `p` came from `object_malloc`, freed once.
            unsafe { alloc::object_free(p) };
        }
        // Onto its pool's `thread_free` list: freed by another thread.
        "remote" => {
            let q = p as usize;
            // SAFETY: `q` came from `object_malloc`, freed once.
            std::thread::spawn(move || unsafe { alloc::object_free(q as *mut u8) })
                .join()
                .unwrap();
        }
        other => panic!("no scenario {other}"),
    }
    // SAFETY: none: the use after free under test.
    let byte = unsafe { p.add(40).read_volatile() };
    println!("child: read {byte} after free");
}

#[test]
fn a_read_of_a_freed_pool_block_is_an_asan_report() {
    if super::is_child() {
        return child(&std::env::var("SCENARIO").unwrap());
    }
    for scenario in ["cache", "pool", "remote"] {
        let out = super::run_alone(
            "poisoned::a_read_of_a_freed_pool_block_is_an_asan_report",
            &[("SCENARIO", scenario)],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && stderr.contains("AddressSanitizer: use-after-poison"),
            "{scenario}: no ASan report ({}):\n{stderr}",
            out.status
        );
    }
}
