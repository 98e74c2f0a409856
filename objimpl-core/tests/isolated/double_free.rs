//! A block freed twice, without the debug hooks: in builds with debug
//! assertions the pool allocator finds it (in the thread's cache of freed
//! blocks, or first on its pool's free list), says so and aborts, where it
//! would otherwise hand the block out twice. Never a panic: through
//! `PyMalloc`, a panic would unwind out of `GlobalAlloc`.
#![cfg(debug_assertions)]

use objimpl_core::alloc::{self, Allocator, Domain, PyMalloc};

/// The child's work, by scenario.
fn child(scenario: &str) {
    // The pool itself: the debug hooks would catch it first.
    // SAFETY: nothing of the family is live yet.
    unsafe { alloc::set_allocator(Domain::Object, Allocator::pymalloc()) };
    match scenario {
        // The second free finds the block in the thread's cache.
        "cached" => {
            let p = alloc::object_malloc(32);
            // SAFETY: none: the second free is the misuse under test.
            unsafe {
                alloc::object_free(p);
                alloc::object_free(p);
            }
            let a = alloc::object_malloc(32);
            let b = alloc::object_malloc(32);
            println!("child: {a:p} and {b:p} handed out");
        }
        // The cache full, both frees go to the pool: the second finds the
        // block first on the pool's free list.
        "pool" => {
            let blocks: Vec<*mut u8> = (0..200).map(|_| alloc::object_malloc(48)).collect();
            let twice = blocks[199];
            for &p in &blocks {
                // SAFETY: each came from `object_malloc`, freed once here.
                unsafe { alloc::object_free(p) };
            }
            // SAFETY: none: the misuse under test.
            unsafe { alloc::object_free(twice) };
            println!("child: freed twice unnoticed");
        }
        // Through `PyMalloc`, as a `Box` dropped twice (the audit's
        // "panicked while processing panic").
        "box" => {
            use std::alloc::{GlobalAlloc, Layout};
            let layout = Layout::new::<[u8; 40]>();
            // SAFETY: a non-zero size.
            let p = unsafe { PyMalloc.alloc(layout) };
            // SAFETY: none: the misuse under test.
            unsafe {
                PyMalloc.dealloc(p, layout);
                PyMalloc.dealloc(p, layout);
            }
            alloc::release_free_memory();
            println!("child: survived");
        }
        other => panic!("no scenario {other}"),
    }
}

#[test]
fn a_block_freed_twice_is_reported_and_the_process_aborts() {
    if super::is_child() {
        return child(&std::env::var("SCENARIO").unwrap());
    }
    for (scenario, found) in [
        ("cached", "in this thread's cache of freed blocks"),
        ("pool", "already first on its pool's free list"),
        ("box", "in this thread's cache of freed blocks"),
    ] {
        let out = super::run_alone(
            "double_free::a_block_freed_twice_is_reported_and_the_process_aborts",
            &[("SCENARIO", scenario)],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            out.status.signal(),
            Some(libc::SIGABRT),
            "{scenario}: not aborted ({}):\n{stdout}\n{stderr}",
            out.status
        );
        assert!(
            stderr.contains("objimpl: fatal error in the pool allocator")
                && stderr.contains("freed twice")
                && stderr.contains(found),
            "{scenario}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{scenario}: {stderr}");
    }
}
