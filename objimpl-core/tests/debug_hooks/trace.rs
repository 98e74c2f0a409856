//! With tracing on, a report shows the stacks that allocated and freed the
//! block; with it off, it says how to turn it on.

use crate::{is_child, one_report, run_child, serial};
use objimpl_core::alloc;

#[inline(never)]
fn allocate_here() -> *mut u8 {
    alloc::object_malloc(24)
}

#[inline(never)]
fn free_here(p: *mut u8) {
    // SAFETY: `p` came from `object_malloc` and is freed once here.
    unsafe { alloc::object_free(p) };
}

#[test]
fn without_tracing_a_report_says_how_to_turn_it_on() {
    let _serial = serial();
    let p = allocate_here();
    free_here(p);
    // SAFETY: deliberately freed twice.
    let r = one_report(|| unsafe { alloc::object_free(p) });
    assert_eq!((r.allocated_at(), r.freed_at()), (None, None));
    assert!(r.to_string().contains("Set OBJIMPL_MALLOC_TRACE=1"));
}

#[test]
#[cfg_attr(miri, ignore = "Miri does not capture stacks")]
fn with_tracing_a_report_shows_where_the_block_was_allocated_and_freed() {
    let _serial = serial();
    alloc::set_trace(true);
    let p = allocate_here();
    free_here(p);
    // SAFETY: deliberately freed twice.
    let r = one_report(|| unsafe { alloc::object_free(p) });
    alloc::set_trace(false);
    let allocated = r.allocated_at().unwrap();
    let freed = r.freed_at().unwrap();
    // The stacks start at the caller: the hooks' own frames are left out.
    assert!(
        allocated
            .trim_start()
            .starts_with("debug_hooks::trace::allocate_here"),
        "{allocated}"
    );
    assert!(
        freed
            .trim_start()
            .starts_with("debug_hooks::trace::free_here"),
        "{freed}"
    );
    assert!(
        allocated.contains("tests/debug_hooks/trace.rs:"),
        "{allocated}"
    );
    let text = r.to_string();
    assert!(
        text.contains("Allocated at:") && text.contains("Freed at:"),
        "{text}"
    );
}

#[test]
#[cfg_attr(miri, ignore = "runs a child process")]
fn objimpl_malloc_trace_turns_tracing_on_at_start() {
    if is_child("objimpl_malloc_trace_turns_tracing_on_at_start") {
        let p = allocate_here();
        free_here(p);
        // SAFETY: deliberately freed twice: the report aborts the child.
        unsafe { alloc::object_free(p) };
        return;
    }
    let out = run_child(
        "trace::objimpl_malloc_trace_turns_tracing_on_at_start",
        &[("OBJIMPL_MALLOC", "debug"), ("OBJIMPL_MALLOC_TRACE", "1")],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("objimpl: double free"), "{stderr}");
    assert!(
        stderr.contains("Allocated at:\n        debug_hooks::trace::allocate_here"),
        "{stderr}"
    );
    assert!(
        stderr.contains("Freed at:\n        debug_hooks::trace::free_here"),
        "{stderr}"
    );
}
