//! `set_allocator`: what each family calls.

use core::ffi::c_void;
use std::sync::atomic::{AtomicUsize, Ordering};

use objimpl_core::alloc::{self, Allocator, Domain};

use crate::{Family, serial};

/// Calls of the wrapper's functions.
static CALLS: AtomicUsize = AtomicUsize::new(0);

/// The built-in whose `ctx` the wrapper was given.
fn wrapped(ctx: *mut c_void) -> Allocator {
    [Allocator::pymalloc(), Allocator::system()]
        .into_iter()
        .find(|a| a.ctx == ctx)
        .unwrap()
}

unsafe extern "C" fn counting_malloc(ctx: *mut c_void, size: usize) -> *mut c_void {
    CALLS.fetch_add(1, Ordering::Relaxed);
    let inner = wrapped(ctx);
    // SAFETY: a built-in takes any size, with its own ctx.
    unsafe { (inner.malloc)(ctx, size) }
}

unsafe extern "C" fn counting_calloc(ctx: *mut c_void, n: usize, size: usize) -> *mut c_void {
    CALLS.fetch_add(1, Ordering::Relaxed);
    let inner = wrapped(ctx);
    // SAFETY: as in `counting_malloc`.
    unsafe { (inner.calloc)(ctx, n, size) }
}

unsafe extern "C" fn counting_realloc(
    ctx: *mut c_void,
    p: *mut c_void,
    size: usize,
) -> *mut c_void {
    CALLS.fetch_add(1, Ordering::Relaxed);
    let inner = wrapped(ctx);
    // SAFETY: `p` is null or a block of `inner` (the test's, made through
    // this wrapper), as the family's caller promised.
    unsafe { (inner.realloc)(ctx, p, size) }
}

unsafe extern "C" fn counting_free(ctx: *mut c_void, p: *mut c_void) {
    CALLS.fetch_add(1, Ordering::Relaxed);
    let inner = wrapped(ctx);
    // SAFETY: as in `counting_realloc`.
    unsafe { (inner.free)(ctx, p) }
}

/// The name `Debug` gives an allocator: "pymalloc", "user-defined", ...
fn name(allocator: Allocator) -> String {
    format!("{allocator:?}")
        .split('"')
        .nth(1)
        .unwrap()
        .to_owned()
}

/// The C idiom `alloc.ctx = orig.ctx`: a wrapper that keeps the `ctx` of the
/// allocator it wraps, with functions of its own. Same `ctx`, other
/// functions: another allocator, installed and called, whether it wraps the
/// domain's default or the other built-in.
#[test]
fn a_wrapper_that_keeps_the_ctx_of_a_builtin_is_installed() {
    let _serial = serial();
    for (domain, family, default) in [
        (Domain::Raw, Family::Raw, Allocator::system()),
        (Domain::Mem, Family::Mem, Allocator::pymalloc()),
        (Domain::Object, Family::Object, Allocator::pymalloc()),
    ] {
        for builtin in [Allocator::pymalloc(), Allocator::system()] {
            // SAFETY: no block of the domain is live (see `serial`), and the
            // wrapper hands every block to the built-in it wraps.
            unsafe { alloc::set_allocator(domain, builtin) };
            let orig = alloc::get_allocator(domain);
            let wrapper = Allocator {
                ctx: orig.ctx,
                malloc: counting_malloc,
                calloc: counting_calloc,
                realloc: counting_realloc,
                free: counting_free,
            };
            // SAFETY: the wrapper's blocks are the built-in's, and the
            // built-in's blocks (none live) are the wrapper's.
            unsafe { alloc::set_allocator(domain, wrapper) };
            let what = format!("{domain:?} over {}", name(builtin));

            CALLS.store(0, Ordering::Relaxed);
            let p = family.malloc(10);
            let q = family.calloc(2, 8);
            // SAFETY: `p` came from this family.
            let p = unsafe { family.realloc(p, 700) };
            assert!(!p.is_null() && !q.is_null());
            // SAFETY: each came from this family and is freed once.
            unsafe {
                family.free(p);
                family.free(q);
            }
            assert_eq!(CALLS.load(Ordering::Relaxed), 5, "{what}: wrapper calls");
            assert_eq!(name(alloc::get_allocator(domain)), "user-defined", "{what}");

            // SAFETY: no block of the domain is live.
            unsafe { alloc::set_allocator(domain, default) };
            assert_eq!(name(alloc::get_allocator(domain)), name(default), "{what}");
        }
    }
}
