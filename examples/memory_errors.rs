//! The debug hooks at work: three memory errors made on purpose, each found
//! and reported with the stacks that allocated and freed the block.
//!
//! A report normally ends the process (as CPython's `PYTHONMALLOC=debug`
//! does); this example installs a handler that prints each one and goes
//! on. Run with `cargo run --example memory_errors`, or see a report abort
//! a process with `cargo run --example memory_errors -- abort`.

use objimpl::alloc::{self, Report};

/// Prints a report instead of aborting.
fn print_report(report: &Report) {
    println!("{report}");
}

#[inline(never)]
fn make_buffer(len: usize) -> *mut u8 {
    alloc::mem_malloc(len)
}

fn main() {
    // The hooks are on by default in debug builds; ask for them anyway, so
    // that `--release` shows the same.
    alloc::setup_debug_hooks();
    alloc::set_trace(true);
    if std::env::args().nth(1).as_deref() != Some("abort") {
        alloc::set_error_handler(Some(print_report));
    }

    // 1. One byte too many: a buffer overflow, found when the block is freed.
    let p = make_buffer(16);
    // SAFETY: deliberately one byte past the 16 asked for: the hooks'
    // forbidden bytes are there to catch it.
    unsafe { p.add(16).write(b'x') };
    // SAFETY: `p` came from `mem_malloc` and is freed once.
    unsafe { alloc::mem_free(p) };

    // 2. Freed through the wrong family: API misuse. The block stays live.
    let q = make_buffer(8);
    // SAFETY: deliberately the object family: the hooks refuse the block
    // before the allocator sees it.
    unsafe { alloc::object_free(q) };
    // SAFETY: `q` is still live, and freed once by its own family.
    unsafe { alloc::mem_free(q) };

    // 3. Freed twice: the hooks know the block waits in their quarantine.
    // SAFETY: deliberately a second free of `q`.
    unsafe { alloc::mem_free(q) };

    println!(
        "{} problems left among the blocks held",
        alloc::check_memory()
    );
}
