//! Domains and pluggable allocators: CPython's `PyMem_SetAllocator`.
//!
//! Each family (`raw_*`, `mem_*`, `object_*`) is a [`Domain`] with an
//! installed [`Allocator`]. The family functions in `alloc/mod.rs` first ask
//! [`is_default`]: is the domain's slot null? Null stands for the built-in
//! default (the pool for `mem` and `object`, the C library for `raw`), which
//! they then call directly, with no indirect call: one compare of memory
//! with zero and a branch. Otherwise they go through the slot (`config.rs`,
//! which runs the setup first), calling the [`installed`] functions.
//!
//! ```text
//!  SLOTS[domain] ──> null                the default, called directly
//!                    &PYMALLOC, &SYSTEM  a built-in through the slot: one that
//!                                        is not the default, or the default
//!                                        until the setup reads OBJIMPL_MALLOC
//!                    Installed { .. }    any other, made at run time, all on:
//!  KEPT ──> Installed { kept_next ──> Installed { kept_next ──> ... } }
//! ```
//!
//! An installed allocator is never freed: a thread may still be calling the
//! one `set_allocator` replaced. Each one made (in the C library's heap: the
//! setup must not allocate through the global allocator, see `config.rs`)
//! is linked on `KEPT`, so all stay reachable (and Miri sees no leak).
//!
//! This floor knows the slots and the built-ins, nothing above them: the
//! debug hooks (`debug/`) wrap an [`Allocator`], and the setup (`config.rs`)
//! chooses what goes in each slot.

use core::ffi::c_void;
use core::ptr;
use core::sync::atomic::{AtomicPtr, Ordering};

use super::{free, malloc, system};

/// One of the three allocation domains, as CPython's `PyMemAllocatorDomain`
/// (the discriminants are CPython's).
///
/// ```
/// use objimpl::alloc::Domain;
/// assert_eq!(Domain::Object as i32, 2);
/// assert_eq!(Domain::Mem.api_id(), 'm');
/// ```
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Domain {
    /// `PYMEM_DOMAIN_RAW`: the `raw_*` family (`PyMem_RawMalloc`).
    Raw = 0,
    /// `PYMEM_DOMAIN_MEM`: the `mem_*` family (`PyMem_Malloc`).
    Mem = 1,
    /// `PYMEM_DOMAIN_OBJ`: the `object_*` family (`PyObject_Malloc`).
    Object = 2,
}

impl Domain {
    /// The three domains, in CPython's order.
    ///
    /// ```
    /// use objimpl::alloc::Domain;
    /// assert_eq!(Domain::ALL.map(Domain::api_id), ['r', 'm', 'o']);
    /// ```
    pub const ALL: [Domain; 3] = [Domain::Raw, Domain::Mem, Domain::Object];

    /// The API id the debug hooks write into each block of this domain:
    /// `'r'`, `'m'` or `'o'`, as CPython's.
    ///
    /// ```
    /// assert_eq!(objimpl::alloc::Domain::Object.api_id(), 'o');
    /// ```
    pub const fn api_id(self) -> char {
        match self {
            Domain::Raw => 'r',
            Domain::Mem => 'm',
            Domain::Object => 'o',
        }
    }

    /// The family's name, as the functions are named: `"raw"`, `"mem"`, `"object"`.
    ///
    /// ```
    /// assert_eq!(objimpl::alloc::Domain::Raw.family(), "raw");
    /// ```
    pub const fn family(self) -> &'static str {
        match self {
            Domain::Raw => "raw",
            Domain::Mem => "mem",
            Domain::Object => "object",
        }
    }
}

/// An allocator for one domain: four functions and the context pointer they
/// are called with, as CPython's `PyMemAllocatorEx` (and laid out as it).
///
/// The functions follow the families' contract: `malloc(ctx, 0)` returns a
/// unique pointer; null means failure; `realloc(ctx, null, n)` is
/// `malloc(ctx, n)`; `free(ctx, null)` does nothing; every block is aligned
/// to [`ALIGNMENT`](super::ALIGNMENT). The families refuse sizes past
/// `isize::MAX` (and an overflowing `calloc`) before calling them.
///
/// A wrapper keeps the allocator it replaces and delegates to it, as a
/// counting allocator does here:
///
/// ```
/// use core::ffi::c_void;
/// use std::sync::atomic::{AtomicIsize, Ordering};
/// use objimpl::alloc::{self, Allocator, Domain};
///
/// struct Counting { inner: Allocator, live: AtomicIsize }
///
/// unsafe extern "C" fn malloc(ctx: *mut c_void, size: usize) -> *mut c_void {
///     // SAFETY: `ctx` is the `Counting` installed below, alive for ever.
///     let c = unsafe { &*ctx.cast::<Counting>() };
///     // SAFETY: `inner` is the allocator this one replaced.
///     let p = unsafe { (c.inner.malloc)(c.inner.ctx, size) };
///     if !p.is_null() { c.live.fetch_add(1, Ordering::Relaxed); }
///     p
/// }
/// unsafe extern "C" fn calloc(ctx: *mut c_void, n: usize, size: usize) -> *mut c_void {
///     // SAFETY: as in `malloc`.
///     let c = unsafe { &*ctx.cast::<Counting>() };
///     // SAFETY: as in `malloc`.
///     let p = unsafe { (c.inner.calloc)(c.inner.ctx, n, size) };
///     if !p.is_null() { c.live.fetch_add(1, Ordering::Relaxed); }
///     p
/// }
/// unsafe extern "C" fn realloc(ctx: *mut c_void, p: *mut c_void, size: usize) -> *mut c_void {
///     // SAFETY: as in `malloc`.
///     let c = unsafe { &*ctx.cast::<Counting>() };
///     // SAFETY: `p` is a block of `inner` (or null), as the family's caller promised.
///     let q = unsafe { (c.inner.realloc)(c.inner.ctx, p, size) };
///     if p.is_null() && !q.is_null() { c.live.fetch_add(1, Ordering::Relaxed); }
///     q
/// }
/// unsafe extern "C" fn free(ctx: *mut c_void, p: *mut c_void) {
///     // SAFETY: as in `malloc`.
///     let c = unsafe { &*ctx.cast::<Counting>() };
///     if !p.is_null() { c.live.fetch_sub(1, Ordering::Relaxed); }
///     // SAFETY: as in `realloc`.
///     unsafe { (c.inner.free)(c.inner.ctx, p) }
/// }
///
/// let counting: &'static Counting = Box::leak(Box::new(Counting {
///     inner: alloc::get_allocator(Domain::Mem),
///     live: AtomicIsize::new(0),
/// }));
/// let ctx = (counting as *const Counting).cast_mut().cast();
/// // SAFETY: the functions honour the contract above and delegate to the
/// // previous allocator; this doctest allocates from `mem` on one thread.
/// unsafe { alloc::set_allocator(Domain::Mem, Allocator { ctx, malloc, calloc, realloc, free }) };
///
/// let p = alloc::mem_malloc(100);
/// assert_eq!(counting.live.load(Ordering::Relaxed), 1);
/// // SAFETY: `p` came from `mem_malloc` and is freed once.
/// unsafe { alloc::mem_free(p) };
/// assert_eq!(counting.live.load(Ordering::Relaxed), 0);
///
/// // SAFETY: every block of the counting allocator was freed.
/// unsafe { alloc::set_allocator(Domain::Mem, counting.inner) };
/// ```
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Allocator {
    /// The first argument of every call: the allocator's own state.
    pub ctx: *mut c_void,
    /// `malloc(ctx, size)`.
    pub malloc: unsafe extern "C" fn(ctx: *mut c_void, size: usize) -> *mut c_void,
    /// `calloc(ctx, nelem, elsize)`: zeroed.
    pub calloc: unsafe extern "C" fn(ctx: *mut c_void, nelem: usize, elsize: usize) -> *mut c_void,
    /// `realloc(ctx, ptr, new_size)`.
    pub realloc:
        unsafe extern "C" fn(ctx: *mut c_void, ptr: *mut c_void, new_size: usize) -> *mut c_void,
    /// `free(ctx, ptr)`.
    pub free: unsafe extern "C" fn(ctx: *mut c_void, ptr: *mut c_void),
}

// SAFETY: `set_allocator`'s contract requires the functions to be callable
// from any thread with this `ctx`, which is all an `Allocator` is used for.
unsafe impl Send for Allocator {}
// SAFETY: as for `Send`; an `Allocator` is never written through `&`.
unsafe impl Sync for Allocator {}

impl Allocator {
    /// The pool allocator (CPython's pymalloc): requests of at most 512
    /// bytes from pools, larger ones from the C library. The default of the
    /// `mem` and `object` domains.
    ///
    /// ```
    /// use objimpl::alloc::{Allocator, Domain, get_allocator};
    /// let pool = Allocator::pymalloc();
    /// // SAFETY: the pool allocator's functions accept any size and a null ctx.
    /// let p = unsafe { (pool.malloc)(pool.ctx, 32) };
    /// assert!(!p.is_null());
    /// // SAFETY: `p` came from this allocator and is freed once.
    /// unsafe { (pool.free)(pool.ctx, p) };
    /// # let _ = get_allocator(Domain::Object);
    /// ```
    pub const fn pymalloc() -> Allocator {
        PYMALLOC.allocator
    }

    /// The C library's allocator (CPython's `malloc` allocator), with the
    /// families' rules: 0 bytes give a unique pointer, sizes past
    /// `isize::MAX` give null. The default of the `raw` domain.
    ///
    /// ```
    /// use objimpl::alloc::Allocator;
    /// let sys = Allocator::system();
    /// // SAFETY: the system allocator's functions accept any size.
    /// let p = unsafe { (sys.calloc)(sys.ctx, 4, 4) };
    /// // SAFETY: `p` came from this allocator and is freed once.
    /// unsafe { (sys.free)(sys.ctx, p) };
    /// ```
    pub const fn system() -> Allocator {
        SYSTEM.allocator
    }

    /// Whether this is the built-in allocator of `slot`.
    fn is(&self, slot: &'static Installed) -> bool {
        self.same_as(&slot.allocator)
    }

    /// Whether `self` and `other` are the same allocator: the same `ctx`
    /// and the same four functions. The `ctx` alone does not tell: a
    /// wrapper often keeps the one of the allocator it wraps (the C idiom
    /// `alloc.ctx = orig.ctx`) and calls it with its own functions.
    ///
    /// Function pointers do not compare reliably, which is harmless here.
    /// One function may have several addresses (it may be instantiated
    /// once per codegen unit, and under Miri each time it is made a
    /// pointer): a built-in then passes for another allocator, and only
    /// loses its direct path (it is called through its slot, as any
    /// other). The built-ins' functions are made pointers once, in their
    /// statics, and every copy of them comes from there, so this does
    /// not happen to them. Two functions of identical code may be merged
    /// into one address: an allocator then passes for a built-in only if
    /// its `ctx` is the built-in's (a private static, or the hooks' own
    /// record) and all four of its functions are at the built-in's
    /// addresses, that is, run the built-in's code, which is what calling
    /// the built-in does.
    ///
    /// ```
    /// use objimpl::alloc::{Allocator, Domain, get_allocator};
    /// let object = get_allocator(Domain::Object);
    /// // The pools, unless the debug hooks (debug builds) or
    /// // OBJIMPL_MALLOC put something else there.
    /// let pools = object.same_as(&Allocator::pymalloc());
    /// assert!(pools || !object.same_as(&Allocator::pymalloc()));
    /// assert!(!Allocator::system().same_as(&Allocator::pymalloc()));
    /// ```
    pub fn same_as(&self, other: &Allocator) -> bool {
        ptr::eq(self.ctx, other.ctx)
            && ptr::fn_addr_eq(self.malloc, other.malloc)
            && ptr::fn_addr_eq(self.calloc, other.calloc)
            && ptr::fn_addr_eq(self.realloc, other.realloc)
            && ptr::fn_addr_eq(self.free, other.free)
    }
}

/// The name of `allocator` if it is a built-in, as `OBJIMPL_MALLOC` names
/// it: `"pymalloc"` or `"malloc"`.
pub(crate) fn builtin_name(allocator: &Allocator) -> Option<&'static str> {
    if allocator.is(&PYMALLOC) {
        Some("pymalloc")
    } else if allocator.is(&SYSTEM) {
        Some("malloc")
    } else {
        None
    }
}

// ---------------------------------------------------------------------------
// The slots.
// ---------------------------------------------------------------------------

/// What a slot points at. Never freed once installed.
struct Installed {
    allocator: Allocator,
    /// Next on [`KEPT`] (null for the statics).
    kept_next: *const Installed,
}

/// Every `Installed` ever made at run time (push-only).
static KEPT: AtomicPtr<Installed> = AtomicPtr::new(ptr::null_mut());

// SAFETY: `Installed` is immutable once published; `Allocator` is `Sync`.
unsafe impl Sync for Installed {}

/// A unique address for each built-in, the `ctx` of its allocator.
static PYMALLOC_ID: u8 = 0;
static SYSTEM_ID: u8 = 0;

static PYMALLOC: Installed = Installed {
    allocator: Allocator {
        ctx: (&raw const PYMALLOC_ID).cast_mut().cast(),
        malloc: pymalloc_malloc,
        calloc: pymalloc_calloc,
        realloc: pymalloc_realloc,
        free: pymalloc_free,
    },
    kept_next: ptr::null(),
};

static SYSTEM: Installed = Installed {
    allocator: Allocator {
        ctx: (&raw const SYSTEM_ID).cast_mut().cast(),
        malloc: system_malloc,
        calloc: system_calloc,
        realloc: system_realloc,
        free: system_free,
    },
    kept_next: ptr::null(),
};

/// The default of each domain, which the families call directly while its
/// slot is null.
const DEFAULT: [&Installed; 3] = [&SYSTEM, &PYMALLOC, &PYMALLOC];

/// Each domain's allocator: null for its default, called directly.
/// Until the setup (`config.rs`) has run, each holds its default through
/// the slot, not null: the first call of each family then takes the path
/// through the slot, where the setup runs first.
static SLOTS: [AtomicPtr<Installed>; 3] = [
    AtomicPtr::new((&raw const SYSTEM).cast_mut()),
    AtomicPtr::new((&raw const PYMALLOC).cast_mut()),
    AtomicPtr::new((&raw const PYMALLOC).cast_mut()),
];

/// Whether `domain` has its default allocator: the families' one extra
/// load on the fast path.
#[inline(always)]
pub(crate) fn is_default(domain: Domain) -> bool {
    SLOTS[domain as usize].load(Ordering::Relaxed).is_null()
}

/// The allocator installed for `domain`.
#[inline]
pub(crate) fn installed(domain: Domain) -> &'static Allocator {
    let installed = SLOTS[domain as usize].load(Ordering::Acquire);
    if installed.is_null() {
        return &DEFAULT[domain as usize].allocator;
    }
    // SAFETY: a non-null slot points at a static or at a leaked
    // `Installed`, published with Release and read with Acquire.
    unsafe { &(*installed).allocator }
}

/// Puts `allocator` in `domain`'s slot: null for the domain's default, so
/// that its direct path returns, the static of another built-in.
pub(crate) fn install(domain: Domain, allocator: Allocator) {
    let slot = &SLOTS[domain as usize];
    if allocator.is(DEFAULT[domain as usize]) {
        slot.store(ptr::null_mut(), Ordering::Release);
        return;
    }
    let builtin = [&PYMALLOC, &SYSTEM].into_iter().find(|b| allocator.is(b));
    if let Some(builtin) = builtin {
        slot.store(ptr::from_ref(builtin).cast_mut(), Ordering::Release);
        return;
    }
    // From the C library, not a `Box`: see `system::keep`.
    let installed = system::keep(Installed {
        allocator,
        kept_next: ptr::null(),
    });
    let mut head = KEPT.load(Ordering::Relaxed);
    loop {
        // SAFETY: `installed` is ours until published.
        unsafe { (*installed).kept_next = head };
        match KEPT.compare_exchange_weak(head, installed, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => break,
            Err(now) => head = now,
        }
    }
    slot.store(installed, Ordering::Release);
}

// ---------------------------------------------------------------------------
// OBJIMPL_MALLOC.
// ---------------------------------------------------------------------------

// ---------------------------------------------------------------------------
// The built-ins' functions.
// ---------------------------------------------------------------------------

macro_rules! builtin {
    ($alloc:ident, $dealloc:ident, $malloc:ident, $calloc:ident, $realloc:ident, $free:ident) => {
        unsafe extern "C" fn $malloc(_: *mut c_void, size: usize) -> *mut c_void {
            $alloc::malloc(size).cast()
        }
        unsafe extern "C" fn $calloc(_: *mut c_void, n: usize, size: usize) -> *mut c_void {
            $alloc::calloc(n, size).cast()
        }
        unsafe extern "C" fn $realloc(_: *mut c_void, p: *mut c_void, size: usize) -> *mut c_void {
            // SAFETY: callers pass a block of this allocator, or null.
            unsafe { $alloc::realloc(p.cast(), size) }.cast()
        }
        unsafe extern "C" fn $free(_: *mut c_void, p: *mut c_void) {
            // SAFETY: callers pass a live block of this allocator, or null.
            unsafe { $dealloc::free(p.cast()) }
        }
    };
}

builtin!(
    malloc,
    free,
    pymalloc_malloc,
    pymalloc_calloc,
    pymalloc_realloc,
    pymalloc_free
);
builtin!(
    system,
    system,
    system_malloc,
    system_calloc,
    system_realloc,
    system_free
);
