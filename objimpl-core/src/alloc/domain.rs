//! Domains and pluggable allocators: CPython's `PyMem_SetAllocator`.
//!
//! Each family (`raw_*`, `mem_*`, `object_*`) is a [`Domain`] with an
//! installed [`Allocator`]. The family functions in `alloc/mod.rs` first ask
//! [`is_default`]: is the domain's slot null? Null stands for the built-in
//! default (the pool for `mem` and `object`, the C library for `raw`), which
//! they then call directly, with no indirect call: one compare of memory
//! with zero and a branch. Otherwise they go through [`malloc`],
//! [`calloc`], [`realloc`] or [`free`] here, which call the installed
//! functions.
//!
//! ```text
//!  SLOTS[domain] ──> FIRST_USE[domain]   until `configure` reads OBJIMPL_MALLOC
//!                    null                the default, called directly
//!                    &PYMALLOC, &SYSTEM  a built-in that is not the default
//!                    Installed { .. }    any other, made at run time, all on:
//!  KEPT ──> Installed { kept_next ──> Installed { kept_next ──> ... } }
//! ```
//!
//! An installed allocator is never freed: a thread may still be calling the
//! one `set_allocator` replaced. Each one made (in the C library's heap: the
//! setup must not allocate through the global allocator, see [`configure`])
//! is linked on `KEPT`, so all stay reachable (and Miri sees no leak).

use core::cell::Cell;
use core::ffi::{CStr, c_void};
use core::fmt;
use core::ptr;
use core::sync::atomic::{AtomicPtr, Ordering};
use std::sync::Once;

use super::{debug, free, malloc, system};

/// One of the three allocation domains, as CPython's `PyMemAllocatorDomain`
/// (the discriminants are CPython's).
///
/// ```
/// use objimpl_core::alloc::Domain;
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
    /// use objimpl_core::alloc::Domain;
    /// assert_eq!(Domain::ALL.map(Domain::api_id), ['r', 'm', 'o']);
    /// ```
    pub const ALL: [Domain; 3] = [Domain::Raw, Domain::Mem, Domain::Object];

    /// The API id the debug hooks write into each block of this domain:
    /// `'r'`, `'m'` or `'o'`, as CPython's.
    ///
    /// ```
    /// assert_eq!(objimpl_core::alloc::Domain::Object.api_id(), 'o');
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
    /// assert_eq!(objimpl_core::alloc::Domain::Raw.family(), "raw");
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
/// use objimpl_core::alloc::{self, Allocator, Domain};
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

impl fmt::Debug for Allocator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = if self.is(&PYMALLOC) {
            "pymalloc"
        } else if self.is(&SYSTEM) {
            "malloc"
        } else if debug::is_hooks(self) {
            "debug hooks"
        } else {
            "user-defined"
        };
        f.debug_struct("Allocator")
            .field("name", &name)
            .field("ctx", &self.ctx)
            .finish_non_exhaustive()
    }
}

impl Allocator {
    /// The pool allocator (CPython's pymalloc): requests of at most 512
    /// bytes from pools, larger ones from the C library. The default of the
    /// `mem` and `object` domains.
    ///
    /// ```
    /// use objimpl_core::alloc::{Allocator, Domain, get_allocator};
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
    /// use objimpl_core::alloc::Allocator;
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
    pub(crate) fn same_as(&self, other: &Allocator) -> bool {
        ptr::eq(self.ctx, other.ctx)
            && ptr::fn_addr_eq(self.malloc, other.malloc)
            && ptr::fn_addr_eq(self.calloc, other.calloc)
            && ptr::fn_addr_eq(self.realloc, other.realloc)
            && ptr::fn_addr_eq(self.free, other.free)
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

/// What each slot holds until `configure` ran: functions that run it, then
/// call what it installed.
static FIRST_USE: [Installed; 3] = {
    const fn first_use(domain: &'static Domain) -> Installed {
        Installed {
            allocator: Allocator {
                ctx: (domain as *const Domain).cast_mut().cast(),
                malloc: first_use_malloc,
                calloc: first_use_calloc,
                realloc: first_use_realloc,
                free: first_use_free,
            },
            kept_next: ptr::null(),
        }
    }
    [
        first_use(&Domain::Raw),
        first_use(&Domain::Mem),
        first_use(&Domain::Object),
    ]
};

static SLOTS: [AtomicPtr<Installed>; 3] = [
    AtomicPtr::new((&raw const FIRST_USE[0]).cast_mut()),
    AtomicPtr::new((&raw const FIRST_USE[1]).cast_mut()),
    AtomicPtr::new((&raw const FIRST_USE[2]).cast_mut()),
];

/// Whether `domain` has its default allocator: the families' one extra
/// load on the fast path.
#[inline(always)]
pub(crate) fn is_default(domain: Domain) -> bool {
    SLOTS[domain as usize].load(Ordering::Relaxed).is_null()
}

/// The allocator installed for `domain`.
#[inline]
fn installed(domain: Domain) -> &'static Allocator {
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
fn install(domain: Domain, allocator: Allocator) {
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

/// The values `OBJIMPL_MALLOC` accepts, as `PYTHONMALLOC`'s.
const CHOICES: &str = "default, pymalloc, malloc, debug, pymalloc_debug, malloc_debug";

/// Reads `OBJIMPL_MALLOC` and `OBJIMPL_MALLOC_TRACE` and installs what they
/// ask for, once, at the first call of any family (or of `get_allocator`,
/// `set_allocator`, `setup_debug_hooks`).
///
/// Unset or empty is `default`: the pool, with the debug hooks on top in
/// builds with `debug_assertions`. An unknown value is fatal, as an unknown
/// `PYTHONMALLOC` is: the message names the valid ones.
///
/// It allocates nothing through the global allocator: a program may build
/// its global allocator on the families, and then its first allocation is
/// the call that runs this. Had this allocated through the global
/// allocator, the family would have been called again from inside, and
/// waited for the first call to finish: for ever, before `main`. So the
/// variables are read in place ([`env()`]) and the records that `install`
/// and the hooks keep come from the C library (`system::keep`). Should
/// this ever be re-entered all the same, the process says so and aborts
/// ([`once_on_this_thread`]).
pub(crate) fn configure() {
    static ONCE: Once = Once::new();
    if ONCE.is_completed() {
        return;
    }
    once_on_this_thread(&ONCE, || {
        super::fork::install();
        let value = env(c"OBJIMPL_MALLOC").unwrap_or_default();
        let (base, hooks) = match value.to_bytes() {
            b"" | b"default" => (&PYMALLOC, cfg!(debug_assertions)),
            b"pymalloc" => (&PYMALLOC, false),
            b"malloc" => (&SYSTEM, false),
            b"debug" | b"pymalloc_debug" => (&PYMALLOC, true),
            b"malloc_debug" => (&SYSTEM, true),
            other => {
                // Written without allocating (`eprintln` does not when no
                // test harness captures the output).
                eprintln!(
                    "objimpl: OBJIMPL_MALLOC=\"{}\" names no allocator; \
                     use one of: {CHOICES}",
                    other.escape_ascii()
                );
                std::process::abort();
            }
        };
        if env(c"OBJIMPL_MALLOC_TRACE").is_some_and(|v| !matches!(v.to_bytes(), b"" | b"0")) {
            debug::set_trace(true);
        }
        // Each slot goes from FIRST_USE to its final allocator in one
        // store: a thread that saw the pool alone for a moment would
        // allocate around the hooks.
        for domain in Domain::ALL {
            let below = if domain == Domain::Raw { &SYSTEM } else { base };
            let allocator = if hooks {
                debug::hooks(domain, &below.allocator)
            } else {
                below.allocator
            };
            install(domain, allocator);
        }
    });
}

/// The environment variable `name`, read in place with the C library's
/// `getenv`: `std::env::var_os` would copy it into memory from the global
/// allocator. The value is read before `configure` returns, never kept.
fn env(name: &CStr) -> Option<&CStr> {
    // `getenv` is sound while no thread changes the environment, and
    // changing it is the unsafe side: `std::env::set_var` and `remove_var`
    // are unsafe (since edition 2024) precisely because C code may read the
    // environment meanwhile, as here, and their callers promise that no
    // thread does.
    // SAFETY: `name` is NUL-terminated; nobody changes the environment.
    let value = unsafe { libc::getenv(name.as_ptr()) };
    // SAFETY: non-null, `value` is a NUL-terminated string of the
    // environment, which stays as it is (see above) while it is read.
    (!value.is_null()).then(|| unsafe { CStr::from_ptr(value) })
}

/// Runs `body` through `once`, unless the calling thread is already inside
/// `body` (it would wait for itself for ever): then says so on stderr and
/// aborts. `body` re-entered means that it allocated through a global
/// allocator built on the families, which it must never do.
///
/// Only the first use pays for the check: [`configure`] calls this while
/// `once` is not complete.
fn once_on_this_thread(once: &Once, body: impl FnOnce()) {
    thread_local! {
        // A const-initialised `Cell` of no destructor: reaching it never
        // allocates.
        static INSIDE: Cell<bool> = const { Cell::new(false) };
    }
    /// Clears `INSIDE` when `body` returns (or unwinds).
    struct Inside;
    impl Drop for Inside {
        fn drop(&mut self) {
            INSIDE.set(false);
        }
    }
    if INSIDE.replace(true) {
        const MESSAGE: &[u8] = b"objimpl: the allocator's setup was re-entered: it \
            allocated through a global allocator built on the families, and would \
            wait for itself for ever; aborting\n";
        // SAFETY: `MESSAGE` is readable for its length. `write` to stderr
        // allocates nothing (`eprintln` might, when a harness captures it).
        let _ = unsafe { libc::write(2, MESSAGE.as_ptr().cast(), MESSAGE.len()) };
        std::process::abort();
    }
    let _inside = Inside;
    once.call_once(body);
}

/// The allocator installed for `domain` now (`PyMem_GetAllocator`), to
/// delegate to or to put back later.
///
/// ```
/// use objimpl_core::alloc::{Domain, get_allocator};
/// let a = get_allocator(Domain::Raw);
/// // SAFETY: an installed allocator accepts any size.
/// let p = unsafe { (a.malloc)(a.ctx, 8) };
/// // SAFETY: `p` came from this allocator and is freed once.
/// unsafe { (a.free)(a.ctx, p) };
/// ```
pub fn get_allocator(domain: Domain) -> Allocator {
    configure();
    *installed(domain)
}

/// Installs `allocator` for `domain` (`PyMem_SetAllocator`): the domain's
/// family calls it from now on. [`Allocator::pymalloc`] and
/// [`Allocator::system`] put a built-in back, with its direct path.
///
/// Each call keeps a few words for the life of the process, so that a
/// thread still calling the allocator it replaced never reads freed memory.
/// To add the debug hooks on top of a new allocator, call
/// [`setup_debug_hooks`](super::setup_debug_hooks) after this.
///
/// # Safety
///
/// - `allocator`'s functions honour [`Allocator`]'s contract and may be
///   called from any thread with its `ctx`, for as long as the process
///   runs or until replaced;
/// - every block live in `domain` when this is called is freed (and
///   reallocated) by an allocator that can take it: either no block is live
///   (call this before allocating, as CPython requires), or `allocator`
///   delegates blocks it did not make to the one it replaces, or they are
///   never freed through the family.
///
/// ```
/// use objimpl_core::alloc::{self, Allocator, Domain};
/// // The pool for `raw` as well, as CPython's `PYTHONMALLOC=pymalloc` does not.
/// let before = alloc::get_allocator(Domain::Raw);
/// // SAFETY: no raw block is live in this doctest.
/// unsafe { alloc::set_allocator(Domain::Raw, Allocator::pymalloc()) };
/// let p = alloc::raw_malloc(16);
/// // SAFETY: `p` came from `raw_malloc` and is freed once.
/// unsafe { alloc::raw_free(p) };
/// // SAFETY: no raw block is live.
/// unsafe { alloc::set_allocator(Domain::Raw, before) };
/// ```
pub unsafe fn set_allocator(domain: Domain, allocator: Allocator) {
    configure();
    install(domain, allocator);
}

/// Installs the debug hooks over every domain's allocator
/// (`PyMem_SetupDebugHooks`), unless they are already there. See the
/// module's section "When memory goes wrong".
///
/// Call it before allocating: a block made before the hooks and freed
/// through them is reported as a pointer they never handed out.
///
/// ```
/// use objimpl_core::alloc;
/// alloc::setup_debug_hooks();
/// let p = alloc::object_malloc(4);
/// // SAFETY: 4 fresh bytes.
/// assert_eq!(unsafe { *p }, 0xCD);
/// // SAFETY: `p` came from `object_malloc` and is freed once.
/// unsafe { alloc::object_free(p) };
/// ```
pub fn setup_debug_hooks() {
    configure();
    for domain in Domain::ALL {
        let current = installed(domain);
        if !debug::is_hooks(current) {
            install(domain, debug::hooks(domain, current));
        }
    }
}

// ---------------------------------------------------------------------------
// Calls through the slot: the families' path when the default is not installed.
// `cold`, so that the default's direct call is the fall-through of the check.
// The domain comes last, so that the fast paths keep the pointer or size in
// the register it came in (the first argument's) on every path.
// ---------------------------------------------------------------------------

#[cold]
#[inline(never)]
pub(crate) fn malloc(size: usize, domain: Domain) -> *mut u8 {
    if size > isize::MAX as usize {
        return ptr::null_mut();
    }
    let a = installed(domain);
    // SAFETY: installed allocators honour `Allocator`'s contract (the
    // promise of `set_allocator`, or ours for the built-ins).
    unsafe { (a.malloc)(a.ctx, size) }.cast()
}

#[cold]
#[inline(never)]
pub(crate) fn calloc(n: usize, size: usize, domain: Domain) -> *mut u8 {
    if n.checked_mul(size)
        .is_none_or(|total| total > isize::MAX as usize)
    {
        return ptr::null_mut();
    }
    let a = installed(domain);
    // SAFETY: as in `malloc`.
    unsafe { (a.calloc)(a.ctx, n, size) }.cast()
}

/// # Safety
///
/// - `p` is null or a live block of `domain`'s family.
#[cold]
#[inline(never)]
pub(crate) unsafe fn realloc(p: *mut u8, size: usize, domain: Domain) -> *mut u8 {
    if size > isize::MAX as usize {
        return ptr::null_mut();
    }
    let a = installed(domain);
    // SAFETY: as in `malloc`; `p` is the family's, as the caller promises.
    unsafe { (a.realloc)(a.ctx, p.cast(), size) }.cast()
}

/// # Safety
///
/// - `p` is null or a live block of `domain`'s family, not freed before.
#[cold]
#[inline(never)]
pub(crate) unsafe fn free(p: *mut u8, domain: Domain) {
    let a = installed(domain);
    // SAFETY: as in `realloc`.
    unsafe { (a.free)(a.ctx, p.cast()) }
}

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

/// The domain a first-use function was called for.
///
/// # Safety
///
/// - `ctx` is the `ctx` of one of [`FIRST_USE`]'s allocators.
unsafe fn first_use_domain(ctx: *mut c_void) -> Domain {
    configure();
    // SAFETY: `FIRST_USE`'s contexts point at `Domain` statics.
    unsafe { *ctx.cast::<Domain>() }
}

unsafe extern "C" fn first_use_malloc(ctx: *mut c_void, size: usize) -> *mut c_void {
    // SAFETY: only `FIRST_USE` has this function, with its own ctx.
    malloc(size, unsafe { first_use_domain(ctx) }).cast()
}

unsafe extern "C" fn first_use_calloc(ctx: *mut c_void, n: usize, size: usize) -> *mut c_void {
    // SAFETY: as in `first_use_malloc`.
    calloc(n, size, unsafe { first_use_domain(ctx) }).cast()
}

unsafe extern "C" fn first_use_realloc(
    ctx: *mut c_void,
    p: *mut c_void,
    size: usize,
) -> *mut c_void {
    // Before the first call nothing was handed out, so `p` is null, or a
    // block of what `configure` installed, by a thread that raced us here.
    // SAFETY: as in `first_use_malloc`, and `p` is one of those.
    unsafe { realloc(p.cast(), size, first_use_domain(ctx)) }.cast()
}

unsafe extern "C" fn first_use_free(ctx: *mut c_void, p: *mut c_void) {
    // SAFETY: as in `first_use_realloc`.
    unsafe { free(p.cast(), first_use_domain(ctx)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A first use that re-enters itself on one thread (had it allocated
    /// through a global allocator built on the families) aborts, saying
    /// so, instead of waiting for itself for ever.
    #[test]
    #[cfg_attr(miri, ignore = "runs a child process")]
    fn a_reentered_setup_aborts_with_a_message() {
        use std::process::{Command, Stdio};
        use std::time::{Duration, Instant};

        const CHILD: &str = "OBJIMPL_TEST_REENTER";
        if std::env::var_os(CHILD).is_some() {
            static ONCE: Once = Once::new();
            once_on_this_thread(&ONCE, || once_on_this_thread(&ONCE, || ()));
            println!("not stopped");
            return;
        }
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "alloc::domain::tests::a_reentered_setup_aborts_with_a_message",
                "--exact",
                "--nocapture",
            ])
            .env(CHILD, "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let start = Instant::now();
        while child.try_wait().unwrap().is_none() {
            if start.elapsed() > Duration::from_secs(20) {
                child.kill().unwrap();
                panic!("the child waits for itself");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(!String::from_utf8_lossy(&out.stdout).contains("not stopped"));
        assert!(
            stderr.contains("objimpl: the allocator's setup was re-entered"),
            "{stderr}"
        );
    }
}
