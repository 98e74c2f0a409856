//! The hooks and other allocators: which one is the hooks.

use core::ffi::c_void;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::serial;
use objimpl_core::alloc::{self, Allocator, Domain};

/// The hooks the wrapper calls.
static BELOW: OnceLock<Allocator> = OnceLock::new();
/// Calls of the wrapper's `malloc`.
static MALLOCS: AtomicUsize = AtomicUsize::new(0);

fn below() -> &'static Allocator {
    BELOW.get().unwrap()
}

unsafe extern "C" fn wrapper_malloc(ctx: *mut c_void, size: usize) -> *mut c_void {
    MALLOCS.fetch_add(1, Ordering::Relaxed);
    // SAFETY: `ctx` is the hooks' (kept by the wrapper), which take any size.
    unsafe { (below().malloc)(ctx, size) }
}

unsafe extern "C" fn wrapper_calloc(ctx: *mut c_void, n: usize, size: usize) -> *mut c_void {
    // SAFETY: as in `wrapper_malloc`.
    unsafe { (below().calloc)(ctx, n, size) }
}

unsafe extern "C" fn wrapper_realloc(ctx: *mut c_void, p: *mut c_void, size: usize) -> *mut c_void {
    // SAFETY: as in `wrapper_malloc`; `p` is a block of the hooks, or null.
    unsafe { (below().realloc)(ctx, p, size) }
}

unsafe extern "C" fn wrapper_free(ctx: *mut c_void, p: *mut c_void) {
    // SAFETY: as in `wrapper_realloc`.
    unsafe { (below().free)(ctx, p) }
}

/// The name `Debug` gives an allocator: "debug hooks", "user-defined", ...
fn name(allocator: Allocator) -> String {
    format!("{allocator:?}")
        .split('"')
        .nth(1)
        .unwrap()
        .to_owned()
}

/// A wrapper that keeps the hooks' `ctx` (the C idiom `alloc.ctx =
/// orig.ctx`) with functions of its own is not the hooks: it is named as
/// another allocator, and `setup_debug_hooks` puts the hooks on top of it.
#[test]
fn a_wrapper_that_keeps_the_hooks_ctx_is_not_taken_for_the_hooks() {
    let _serial = serial();
    let hooks = alloc::get_allocator(Domain::Mem);
    assert_eq!(name(hooks), "debug hooks");
    BELOW.get_or_init(|| hooks);
    let wrapper = Allocator {
        ctx: hooks.ctx,
        malloc: wrapper_malloc,
        calloc: wrapper_calloc,
        realloc: wrapper_realloc,
        free: wrapper_free,
    };
    // SAFETY: the wrapper hands every block to the hooks it wraps.
    unsafe { alloc::set_allocator(Domain::Mem, wrapper) };
    assert_eq!(name(alloc::get_allocator(Domain::Mem)), "user-defined");

    alloc::setup_debug_hooks();
    let top = alloc::get_allocator(Domain::Mem);
    assert_eq!(name(top), "debug hooks");
    assert_ne!(top.ctx, hooks.ctx, "the hooks were not put on top");
    let before = MALLOCS.load(Ordering::Relaxed);
    let p = alloc::mem_malloc(24);
    assert_eq!(alloc::block_info(p).map(|b| b.size), Some(24));
    assert_eq!(
        MALLOCS.load(Ordering::Relaxed),
        before + 1,
        "the wrapper is below"
    );
    // The hooks below the wrapper check the block too: to them, it starts
    // at the head of the hooks on top (two words) and ends after their
    // tail (one more).
    let word = size_of::<usize>();
    let below = alloc::block_info(p.wrapping_sub(2 * word)).map(|b| b.size);
    assert_eq!(
        below,
        Some(24 + 3 * word),
        "the hooks below did not check it"
    );
    // SAFETY: `p` came from `mem_malloc` and is freed once.
    unsafe { alloc::mem_free(p) };

    // SAFETY: the hooks on top hold no live block; the blocks they keep in
    // quarantine go back through the wrapper, which stays callable.
    unsafe { alloc::set_allocator(Domain::Mem, hooks) };
}
