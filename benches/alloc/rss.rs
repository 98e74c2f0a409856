//! W4: memory per live 32-byte block, as the growth of the process's
//! anonymous resident set (`/proc/self/statm`) over 1 000 000 live blocks,
//! and how much of that growth goes back to the OS once they are all freed:
//! at once, and 100 ms later (an allocator may purge on a delay).
//!
//! Each allocator is measured in a process of its own (this benchmark
//! binary, run again with [`CHILD_FLAG`]), so that no allocator's arenas,
//! caches or freed-but-kept pages count against another.

use std::hint::black_box;
use std::process::Command;

use crate::peers::{Allocator, AnyThread};

/// The argument that makes the benchmark binary a W4 child: `--w4-child NAME`.
pub const CHILD_FLAG: &str = "--w4-child";

/// How many blocks W4 keeps alive.
const BLOCKS: usize = 1_000_000;

/// How many children each allocator is measured in; the table takes the median.
pub const RUNS: usize = 3;

/// What a W4 child measured.
pub struct Measured {
    /// Growth of the resident set per live block, in bytes.
    pub bytes_per_block: f64,
    /// Share of that growth given back right after the last free, in percent.
    pub returned_at_once: f64,
    /// The same, 100 ms after the last free and 10 000 small allocations
    /// later (when a lazy allocator looks at the clock).
    pub returned_after_100ms: f64,
}

/// The child's side: allocates and fills [`BLOCKS`] blocks of 32 bytes,
/// frees them, and prints the growth of the resident set per block and the
/// shares of it returned.
pub fn child<A: Allocator>() {
    // The pointers live in memory that is resident before the baseline:
    // written with non-zero bytes, since fresh zeroed pages (which
    // `vec![null; n]` or a zero fill may get from calloc) need not be.
    let mut blocks = vec![std::ptr::dangling_mut::<u8>(); BLOCKS];
    black_box(&mut blocks);
    let before = resident_bytes();
    for (i, slot) in blocks.iter_mut().enumerate() {
        let p = A::malloc(32);
        assert!(!p.is_null(), "{}: malloc(32) returned null", A::NAME);
        // Write the block as a program would: an allocator that hands out
        // memory it never touched must not look leaner than it is.
        // SAFETY: `p` is a fresh block of 32 bytes.
        unsafe { p.write_bytes(i as u8, 32) };
        *slot = p;
    }
    let after = resident_bytes();
    for &p in &blocks {
        // SAFETY: each block came from `A::malloc(32)` above, and is freed once.
        unsafe { A::free(p, 32) };
    }
    let at_once = resident_bytes();
    // 100 ms on, the program goes on: 10 000 blocks of 8..=512 bytes, each
    // freed at once, give a lazy allocator the slow paths (or the ticks)
    // on which it purges.
    std::thread::sleep(std::time::Duration::from_millis(100));
    for i in 0..10_000 {
        let size = 8 + i % 505;
        let p = A::malloc(size);
        // SAFETY: `p` came from `A::malloc(size)` just above, and is freed once.
        unsafe { A::free(black_box(p), size) };
    }
    let later = resident_bytes();
    let grown = (after - before) as f64;
    println!(
        "{} {} {}",
        grown / BLOCKS as f64,
        100.0 * (after - at_once) as f64 / grown,
        100.0 * (after - later) as f64 / grown
    );
}

/// Runs this benchmark binary again as a child (`flag name`) measuring the
/// allocator `name`, and returns what it printed; `what` names the child in
/// a failure.
fn run_child(flag: &str, name: &str, what: &str) -> String {
    let exe = std::env::current_exe().expect("the benchmark knows where it is");
    let out = Command::new(exe)
        .args([flag, name])
        .output()
        .expect("the benchmark can run itself");
    assert!(
        out.status.success(),
        "{what} child for {name} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The parent's side: runs a child measuring `name` and returns its figures.
pub fn measure(name: &str) -> Measured {
    let stdout = run_child(CHILD_FLAG, name, "W4");
    let figures: Vec<f64> = stdout
        .split_whitespace()
        .map(|figure| {
            figure
                .parse()
                .unwrap_or_else(|e| panic!("W4 child for {name} printed {stdout:?}: {e}"))
        })
        .collect();
    let [bytes_per_block, returned_at_once, returned_after_100ms] = figures[..] else {
        panic!("W4 child for {name} printed {stdout:?}, not three figures");
    };
    Measured {
        bytes_per_block,
        returned_at_once,
        returned_after_100ms,
    }
}

/// The anonymous resident set of this process, in bytes: `/proc/self/statm`'s
/// resident pages less its file-backed ones (its second field less its
/// third), times the page size.
///
/// Memory an allocator hands out is anonymous. The file-backed part is code
/// and read-only data, which the kernel maps in 64 KiB at a time when first
/// used: an allocator's slow paths, first run inside the measured loop,
/// would add 64 or 128 KiB (0.06-0.13 B per block) depending on where the
/// linker put them, and W4 was bimodal for objimpl by exactly that much.
fn resident_bytes() -> i64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("W4 needs Linux's /proc");
    let fields: Vec<i64> = statm
        .split_whitespace()
        .map(|field| field.parse().expect("statm's fields are page counts"))
        .collect();
    let [_, resident, file_backed, ..] = fields[..] else {
        panic!("statm has at least three fields: {statm:?}");
    };
    // SAFETY: sysconf has no preconditions.
    let page_size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    (resident - file_backed) * page_size as i64
}

/// The argument that makes the benchmark binary an idle-threads child:
/// `--idle-child NAME`.
pub const IDLE_FLAG: &str = "--idle-child";

/// Threads of the idle-threads row (the finding's larger case).
pub const IDLE_THREADS: usize = 64;

/// The idle-threads child (`findings/idle-threads-keep-memory.md`):
/// [`IDLE_THREADS`] threads each allocate and write 250 000 blocks of 32
/// bytes (8 MB), free them all and go idle without allocating again; 300 ms
/// later the child prints the growth of the anonymous resident set in MiB.
/// The blocks are linked through their first word, so that no buffer of
/// another allocator holds the pointers.
pub fn idle_child<A: AnyThread>() {
    use std::sync::{Arc, Barrier};
    let before = resident_bytes();
    let freed = Arc::new(Barrier::new(IDLE_THREADS + 1));
    let exit = Arc::new(Barrier::new(IDLE_THREADS + 1));
    let threads: Vec<_> = (0..IDLE_THREADS)
        .map(|_| {
            let (freed, exit) = (freed.clone(), exit.clone());
            std::thread::spawn(move || {
                let mut list = std::ptr::null_mut::<u8>();
                for i in 0..250_000 {
                    let p = A::malloc(32);
                    assert!(!p.is_null(), "{}: malloc(32) returned null", A::NAME);
                    // SAFETY: a fresh block of 32 bytes, aligned for a pointer.
                    unsafe {
                        p.write_bytes(i as u8, 32);
                        p.cast::<*mut u8>().write(list);
                    }
                    list = p;
                }
                while !list.is_null() {
                    // SAFETY: each block of the list is live, holds the next,
                    // and is freed once.
                    unsafe {
                        let next = list.cast::<*mut u8>().read();
                        A::free(list, 32);
                        list = next;
                    }
                }
                freed.wait();
                exit.wait();
            })
        })
        .collect();
    freed.wait();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let idle = resident_bytes();
    exit.wait();
    for thread in threads {
        thread.join().expect("an idle-threads worker panicked");
    }
    println!("{}", (idle - before) as f64 / (1 << 20) as f64);
}

/// The parent's side: runs an idle-threads child for `name`, returns MiB.
pub fn measure_idle(name: &str) -> f64 {
    let stdout = run_child(IDLE_FLAG, name, "idle-threads");
    stdout
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("idle-threads child for {name} printed {stdout:?}: {e}"))
}
