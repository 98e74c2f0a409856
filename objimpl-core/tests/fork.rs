//! fork() while other threads allocate: the child (one thread, the one
//! that forked) allocates, frees, makes and collects objects, and exits
//! cleanly. A lock held by another thread at the fork would stay locked in
//! the child forever; the allocator's `pthread_atfork` handlers take them
//! all before the fork and release them after.
#![cfg(all(unix, not(miri)))]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use objimpl_core::__doc::GcNode;
use objimpl_core::{Py, alloc, gc};

/// Allocation traffic on another thread until `stop`.
fn churn(stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut held = Vec::new();
        let mut i = 0usize;
        while !stop.load(Ordering::Relaxed) {
            let p = alloc::object_malloc(8 + i % 500);
            assert!(!p.is_null());
            held.push(p as usize);
            if held.len() > 64 {
                for p in held.drain(..) {
                    // SAFETY: blocks from `object_malloc`, freed once.
                    unsafe { alloc::object_free(p as *mut u8) };
                }
                // Whole arenas come and go too.
                let big: Vec<usize> = (0..300).map(|_| alloc::mem_malloc(512) as usize).collect();
                for p in big {
                    // SAFETY: blocks from `mem_malloc`, freed once.
                    unsafe { alloc::mem_free(p as *mut u8) };
                }
            }
            i += 1;
        }
        for p in held {
            // SAFETY: as above.
            unsafe { alloc::object_free(p as *mut u8) };
        }
    })
}

/// What the child does: the allocator and the collector, then `_exit`.
fn child() -> ! {
    let blocks: Vec<usize> = (0..2000)
        .map(|i| alloc::object_malloc(16 + i % 400) as usize)
        .collect();
    let ok = blocks.iter().all(|&p| p != 0);
    for p in blocks {
        // SAFETY: blocks from `object_malloc`, freed once.
        unsafe { alloc::object_free(p as *mut u8) };
    }
    let a = Py::new(GcNode::new("a")).expect("memory");
    a.edges.borrow_mut().push(a.clone());
    drop(a);
    let collected = gc::collect();
    let code = if ok && collected == 1 { 0 } else { 3 };
    // SAFETY: ends the child without running the parent's atexit handlers.
    unsafe { libc::_exit(code) }
}

#[test]
fn a_child_forked_while_other_threads_allocate_can_allocate() {
    let stop = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..2).map(|_| churn(stop.clone())).collect();
    for round in 0..100 {
        // SAFETY: the child runs only async-signal-safe code until it is on
        // its own; the allocator's fork handlers make its locks usable.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            child();
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut status = 0;
        loop {
            // SAFETY: waiting for our own child.
            let done = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
            if done == pid {
                break;
            }
            if Instant::now() > deadline {
                // SAFETY: killing our own child.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                panic!("round {round}: the child hung (a lock held across fork)");
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "round {round}: the child failed: status {status:#x}"
        );
    }
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
}
