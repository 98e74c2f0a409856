//! Threads that free their memory and go idle give it back to the OS: the
//! reproducer of `findings/idle-threads-keep-memory.md` (16 threads that
//! each freed 8 MB and went idle held 123 MiB until they exited). Each
//! thread keeps its wholly free arenas for reuse; the purger gives their
//! pages back once they are due, though no thread calls again.

use std::sync::{Arc, Barrier};
use std::time::Duration;

use objimpl_core::alloc::{self, Allocator, Domain};

/// Anonymous resident memory, in MiB.
fn anonymous_mib() -> f64 {
    super::anonymous_kib() as f64 / 1024.0
}

/// 250 000 blocks of 32 bytes: 8 MB. Linked through their first word, so
/// that no buffer of the C library's holds the pointers.
const BLOCKS: usize = 250_000;

fn burst() -> *mut u8 {
    let mut list = std::ptr::null_mut::<u8>();
    for _ in 0..BLOCKS {
        let p = alloc::object_malloc(32);
        assert!(!p.is_null());
        // SAFETY: a fresh block of 32 bytes, aligned for a pointer.
        unsafe {
            p.write_bytes(1, 32);
            p.cast::<*mut u8>().write(list);
        }
        list = p;
    }
    list
}

/// Frees the list, so that its arenas all empty at once at the end: one
/// block of each arena is freed last. The arenas a thread keeps are then
/// those it emptied last, however slowly it freed the rest (a debug build
/// of 16 threads on two cores takes longer than the purge delay).
fn free_list(mut list: *mut u8) {
    let mut last_of_arena: Vec<*mut u8> = Vec::new();
    while !list.is_null() {
        // SAFETY: each block of `burst`'s list is live and holds the next.
        let next = unsafe { list.cast::<*mut u8>().read() };
        let arena = list.addr() >> 20;
        if last_of_arena.iter().any(|p| p.addr() >> 20 == arena) {
            // SAFETY: from `object_malloc`, freed once.
            unsafe { alloc::object_free(list) };
        } else {
            last_of_arena.push(list);
        }
        list = next;
    }
    for p in last_of_arena {
        // SAFETY: from `object_malloc`, set aside above, freed once.
        unsafe { alloc::object_free(p) };
    }
}

/// Growth of anonymous memory over the baseline, in MiB: with `threads`
/// threads each holding 8 MB, and 300 ms after they freed it all and went
/// idle (still alive).
fn burst_free_and_idle(threads: usize) -> (f64, f64) {
    burst_free_and_idle_with(threads, burst, free_list)
}

/// [`burst_free_and_idle`], each thread allocating its list with `burst`
/// and freeing it with `free`.
fn burst_free_and_idle_with(
    threads: usize,
    burst: fn() -> *mut u8,
    free: fn(*mut u8),
) -> (f64, f64) {
    let base = anonymous_mib();
    let full = Arc::new(Barrier::new(threads + 1));
    let freed = Arc::new(Barrier::new(threads + 1));
    let exit = Arc::new(Barrier::new(threads + 1));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (full, freed, exit) = (full.clone(), freed.clone(), exit.clone());
            std::thread::spawn(move || {
                let list = burst();
                full.wait();
                free(list);
                freed.wait();
                exit.wait();
            })
        })
        .collect();
    full.wait();
    let held = anonymous_mib() - base;
    freed.wait();
    std::thread::sleep(Duration::from_millis(300));
    let idle = anonymous_mib() - base;
    exit.wait();
    for handle in handles {
        handle.join().unwrap();
    }
    (held, idle)
}

const THREADS: usize = 16;

/// 8 MB in `PyMalloc`'s medium classes (513 bytes to 64 KiB, sizes cycling
/// through them), linked as `burst`'s blocks, each with its size after the link.
fn medium_burst() -> *mut u8 {
    use std::alloc::{GlobalAlloc, Layout};
    let mut list = std::ptr::null_mut::<u8>();
    let (mut total, mut size) = (0, 600);
    while total < BLOCKS * 32 {
        // SAFETY: a non-zero size.
        let p = unsafe { alloc::PyMalloc.alloc(Layout::from_size_align(size, 16).unwrap()) };
        assert!(!p.is_null());
        // SAFETY: a fresh block of `size` bytes, aligned for a pointer.
        unsafe {
            p.write_bytes(1, size);
            p.cast::<*mut u8>().write(list);
            p.cast::<usize>().add(1).write(size);
        }
        list = p;
        total += size;
        // Up to 64 KiB: past it, the C library's arenas would keep it.
        size = if size * 5 / 4 > 65_536 {
            600
        } else {
            size * 5 / 4
        };
    }
    list
}

fn free_medium_list(mut list: *mut u8) {
    use std::alloc::{GlobalAlloc, Layout};
    while !list.is_null() {
        // SAFETY: each block of `medium_burst`'s list is live and holds the
        // next and its size.
        let (next, size) = unsafe {
            (
                list.cast::<*mut u8>().read(),
                list.cast::<usize>().add(1).read(),
            )
        };
        // SAFETY: from `PyMalloc.alloc` with this layout, freed once.
        unsafe { alloc::PyMalloc.dealloc(list, Layout::from_size_align(size, 16).unwrap()) };
        list = next;
    }
}

/// Medium pools (of several slots) go back to their arenas once empty, for
/// the purger: idle threads keep only the pools their block caches pin.
#[test]
fn idle_threads_give_their_medium_pools_back() {
    if super::is_child() {
        let (held, idle) = burst_free_and_idle_with(THREADS, medium_burst, free_medium_list);
        println!("{THREADS} threads, medium blocks: {held:.1} MiB held, {idle:.1} MiB idle");
        assert!(held >= 100.0, "the threads held only {held:.1} MiB");
        // What stays, about 2.2 MiB a thread, is the pools that each
        // class's cached blocks (at most 16 KiB a class) keep in use, with
        // their pages, which the purger cannot reach; every pool freed whole
        // went back. Without the purger all 8 MB a thread would stay.
        assert!(idle <= held / 3.0, "{idle:.1} MiB stayed resident");
        return println!("child: idle threads gave their medium pools back");
    }
    super::assert_child_prints(
        "idle_threads::idle_threads_give_their_medium_pools_back",
        &[],
        "child: idle threads gave their medium pools back",
    );
}

fn use_the_pools() {
    // SAFETY: nothing of the family is live yet.
    unsafe { alloc::set_allocator(Domain::Object, Allocator::pymalloc()) };
}

#[test]
fn idle_threads_give_their_freed_arenas_back() {
    if super::is_child() {
        use_the_pools();
        let purged = alloc::stats().arenas_purged;
        let (held, idle) = burst_free_and_idle(THREADS);
        let purged = alloc::stats().arenas_purged - purged;
        println!(
            "{THREADS} threads: {held:.1} MiB held, {idle:.1} MiB idle; {purged} arenas purged"
        );
        assert!(held >= 100.0, "the threads held only {held:.1} MiB");
        // Each thread's 8 kept arenas (128 MiB in all) went back; what stays
        // is stacks, heaps and the pools of cached blocks.
        assert!(idle <= 4.0, "{idle:.1} MiB stayed resident");
        assert!(purged >= THREADS * 6, "only {purged} arenas purged");
        return println!("child: idle threads gave their memory back");
    }
    super::assert_child_prints(
        "idle_threads::idle_threads_give_their_freed_arenas_back",
        &[],
        "child: idle threads gave their memory back",
    );
}

/// The purger is what gives the memory back: without it, each idle thread
/// keeps its arenas. This is also `OBJIMPL_PURGE_THREAD=0` at work.
#[test]
fn without_the_purger_idle_threads_keep_their_arenas() {
    if super::is_child() {
        use_the_pools();
        let (held, idle) = burst_free_and_idle(THREADS);
        println!("{THREADS} threads, no purger: {held:.1} MiB held, {idle:.1} MiB idle");
        assert!(idle >= 64.0, "only {idle:.1} MiB stayed resident");
        assert_eq!(alloc::stats().arenas_purged, 0);
        return println!("child: without the purger the arenas stay");
    }
    super::assert_child_prints(
        "idle_threads::without_the_purger_idle_threads_keep_their_arenas",
        &[("OBJIMPL_PURGE_THREAD", "0")],
        "child: without the purger the arenas stay",
    );
}

/// A child of `fork()` has no thread but the one that forked: its purger
/// starts with its first kept arena, the parent's purger being the parent's.
#[test]
fn a_forked_child_purges_its_idle_threads_arenas() {
    if super::is_child() {
        use_the_pools();
        // The parent's purger runs.
        let (_, idle) = burst_free_and_idle(2);
        assert!(idle <= 8.0, "{idle:.1} MiB stayed resident in the parent");
        // The fork comes while this thread keeps arenas not yet due: the
        // child inherits them, kept, and no purger.
        free_list(burst());
        // SAFETY: fork has no preconditions; the child allocates, which the
        // allocator's fork handlers make safe, and exits without unwinding.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            let purged = alloc::stats().arenas_purged;
            let (held, idle) = burst_free_and_idle(4);
            let purged = alloc::stats().arenas_purged - purged;
            let ok = held >= 24.0 && idle <= 8.0 && purged >= 5 * 6;
            println!("forked child: {held:.1} MiB held, {idle:.1} MiB idle, {purged} purged");
            // SAFETY: ends the forked child at once, without the harness.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) };
        }
        let mut status = 0;
        // SAFETY: `pid` is our child; `status` is a live int.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "the forked child's idle threads kept their memory (status {status})"
        );
        return println!("child: a forked child purges");
    }
    super::assert_child_prints(
        "idle_threads::a_forked_child_purges_its_idle_threads_arenas",
        &[],
        "child: a forked child purges",
    );
}

/// Whether a thread named `objimpl-purge` runs in this process.
fn purger_runs() -> bool {
    std::fs::read_dir("/proc/self/task").unwrap().any(|task| {
        let comm = task.unwrap().path().join("comm");
        std::fs::read_to_string(comm).is_ok_and(|name| name.trim() == "objimpl-purge")
    })
}

/// The purger ends once it has had nothing to purge for a while (an idle
/// process keeps no thread of ours, and one whose last thread ends by
/// `pthread_exit` ends), and the next thread that frees its arenas starts
/// another, which gives them back as the first did.
#[test]
fn the_purger_ends_when_idle_and_starts_again_with_work() {
    if super::is_child() {
        use_the_pools();
        let (_, idle) = burst_free_and_idle(2);
        assert!(idle <= 8.0, "{idle:.1} MiB stayed resident");
        assert!(purger_runs(), "no purger after the first burst");
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while purger_runs() {
            assert!(
                std::time::Instant::now() < deadline,
                "the purger did not end"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let purged = alloc::stats().arenas_purged;
        let (held, idle) = burst_free_and_idle(2);
        let purged = alloc::stats().arenas_purged - purged;
        println!("after the purger ended: {held:.1} MiB held, {idle:.1} MiB idle, {purged} purged");
        assert!(idle <= 8.0, "{idle:.1} MiB stayed resident");
        assert!(purged >= 2 * 6, "only {purged} arenas purged");
        return println!("child: the purger ended and started again");
    }
    super::assert_child_prints(
        "idle_threads::the_purger_ends_when_idle_and_starts_again_with_work",
        &[],
        "child: the purger ended and started again",
    );
}
