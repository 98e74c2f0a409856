//! Instructions per `malloc(32)` and per `free` of a block the allocator
//! has just taken back (its fast paths), counted by callgrind: repeatable on
//! a noisy machine, where nanoseconds are not.
//!
//! The benchmark binary runs itself under `valgrind --tool=callgrind` once
//! per allocator and operation, as a child ([`CHILD_FLAG`]) that calls the
//! operation [`CALLS`] times through an `#[inline(never)]` function;
//! `--toggle-collect` counts only inside that function, so the figure is the
//! allocator's path plus the call and return, the same for every peer.

use std::hint::black_box;
use std::process::Command;

use crate::peers::Allocator;

/// The argument that makes the benchmark binary a counting child:
/// `--count-child NAME malloc|free`.
pub const CHILD_FLAG: &str = "--count-child";

/// How many counted calls a child makes.
const CALLS: u64 = 100_000;

/// The child's side: warms the allocator up, then makes [`CALLS`] pairs of
/// `malloc(32)` + `free`, of which only `op`'s half is counted.
pub fn child<A: Allocator>(op: &str) {
    let count_malloc = op == "malloc";
    assert!(
        count_malloc || op == "free",
        "count malloc or free, not {op:?}"
    );
    // One other block stays live, as in W1, and the pair runs a while before
    // counting, so that the fast path is what is counted.
    let anchor = A::malloc(32);
    for _ in 0..1000 {
        pair::<A>(false, false);
    }
    for _ in 0..CALLS {
        pair::<A>(count_malloc, !count_malloc);
    }
    // SAFETY: `anchor` came from `malloc(32)` above and is freed once.
    unsafe { A::free(black_box(anchor), 32) };
}

fn pair<A: Allocator>(count_malloc: bool, count_free: bool) {
    let p = if count_malloc {
        counted_malloc::<A>()
    } else {
        A::malloc(32)
    };
    assert!(!p.is_null(), "{}: malloc(32) returned null", A::NAME);
    // SAFETY: `p` is a fresh block of 32 bytes.
    unsafe { p.cast::<u64>().write(7) };
    let p = black_box(p);
    if count_free {
        // SAFETY: `p` came from `malloc(32)` above and is freed once.
        unsafe { counted_free::<A>(p) };
    } else {
        // SAFETY: as above.
        unsafe { A::free(p, 32) };
    }
}

/// The counted `malloc(32)`; callgrind collects inside this function only.
#[inline(never)]
fn counted_malloc<A: Allocator>() -> *mut u8 {
    A::malloc(black_box(32))
}

/// The counted `free`.
///
/// # Safety
///
/// - `p` came from `A::malloc(32)` and is not used or freed again.
#[inline(never)]
unsafe fn counted_free<A: Allocator>(p: *mut u8) {
    // SAFETY: as the caller guarantees.
    unsafe { A::free(p, 32) }
}

/// Whether callgrind can be run here.
pub fn available() -> bool {
    Command::new("valgrind")
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success())
}

/// The parent's side: instructions per call of `op` (`"malloc"` or
/// `"free"`) of the allocator `name`.
pub fn measure(name: &str, op: &str) -> f64 {
    let exe = std::env::current_exe().expect("the benchmark knows where it is");
    let out_file = std::env::temp_dir().join(format!(
        "objimpl-callgrind-{}-{name}-{op}.out",
        std::process::id()
    ));
    let function = if op == "malloc" {
        "counted_malloc"
    } else {
        "counted_free"
    };
    let out = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out_file.display()))
        .arg(format!("--toggle-collect=*{function}*"))
        .arg(exe)
        .args([CHILD_FLAG, name, op])
        .output()
        .expect("valgrind runs");
    assert!(
        out.status.success(),
        "callgrind of {name} {op} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let profile = std::fs::read_to_string(&out_file).expect("callgrind wrote its profile");
    let _ = std::fs::remove_file(&out_file);
    // The total of the collected events: "summary: N" (or "totals: N").
    let total: u64 = profile
        .lines()
        .find_map(|line| {
            line.strip_prefix("summary:")
                .or_else(|| line.strip_prefix("totals:"))
        })
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no total in callgrind's profile of {name} {op}"));
    total as f64 / CALLS as f64
}
