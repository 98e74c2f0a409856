//! W4: memory per live 32-byte block, as the growth of the process's
//! resident set (`/proc/self/statm`) over 1 000 000 live blocks.
//!
//! Each allocator is measured in a process of its own (this benchmark
//! binary, run again with [`CHILD_FLAG`]), so that no allocator's arenas,
//! caches or freed-but-kept pages count against another.

use std::hint::black_box;
use std::process::Command;

use crate::peers::Allocator;

/// The argument that makes the benchmark binary a W4 child: `--w4-child NAME`.
pub const CHILD_FLAG: &str = "--w4-child";

/// How many blocks W4 keeps alive.
const BLOCKS: usize = 1_000_000;

/// How many children each allocator is measured in; the table takes the median.
pub const RUNS: usize = 3;

/// The child's side: allocates and fills [`BLOCKS`] blocks of 32 bytes,
/// prints the growth of the resident set per block, and frees them.
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
    println!("{}", (after - before) as f64 / BLOCKS as f64);
    for p in blocks {
        // SAFETY: each block came from `A::malloc(32)` above, and is freed once.
        unsafe { A::free(p, 32) };
    }
}

/// The parent's side: runs a child measuring `name` and returns its figure
/// in bytes per block.
pub fn measure(name: &str) -> f64 {
    let exe = std::env::current_exe().expect("the benchmark knows where it is");
    let out = Command::new(exe)
        .args([CHILD_FLAG, name])
        .output()
        .expect("the benchmark can run itself");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "W4 child for {name} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("W4 child for {name} printed {stdout:?}: {e}"))
}

/// The resident set of this process, in bytes: the second field of
/// `/proc/self/statm` (in pages) times the page size.
fn resident_bytes() -> i64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("W4 needs Linux's /proc");
    let pages: i64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|field| field.parse().ok())
        .expect("statm's second field is the resident set in pages");
    // SAFETY: sysconf has no preconditions.
    let page_size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages * page_size as i64
}
