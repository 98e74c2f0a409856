//! `pymem.h` and the memory half of `objimpl.h`: the three families, the
//! allocator domains and the statistics.

use core::ffi::{c_int, c_void};
use core::sync::atomic::{AtomicBool, Ordering};

use crate::alloc::{self, Allocator, Domain};

macro_rules! c_family {
    ($family:literal, $gil:expr, $malloc:ident, $calloc:ident, $realloc:ident, $free:ident,
     $rmalloc:ident, $rcalloc:ident, $rrealloc:ident, $rfree:ident) => {
        #[doc = concat!("`", stringify!($malloc), "(size)`: [`alloc::", stringify!($rmalloc), "`].")]
        ///
        /// ```
        #[doc = concat!("use objimpl_core::capi::{", stringify!($malloc), ", ", stringify!($free), "};")]
        #[doc = concat!("let p = ", stringify!($malloc), "(10);")]
        /// assert!(!p.is_null());
        #[doc = concat!("// SAFETY: `p` came from `", stringify!($malloc), "` and is freed once.")]
        #[doc = concat!("unsafe { ", stringify!($free), "(p) };")]
        /// ```
        #[inline]
        pub extern "C" fn $malloc(size: usize) -> *mut c_void {
            gil_checked(stringify!($malloc), $gil);
            let p = alloc::$rmalloc(size).cast();
            check_at_exit_if_hooked();
            p
        }

        #[doc = concat!("`", stringify!($calloc), "(nelem, elsize)`: [`alloc::", stringify!($rcalloc), "`].")]
        ///
        /// ```
        #[doc = concat!("use objimpl_core::capi::", stringify!($calloc), ";")]
        #[doc = concat!("assert!(", stringify!($calloc), "(usize::MAX, 2).is_null());")]
        /// ```
        #[inline]
        pub extern "C" fn $calloc(nelem: usize, elsize: usize) -> *mut c_void {
            gil_checked(stringify!($calloc), $gil);
            let p = alloc::$rcalloc(nelem, elsize).cast();
            check_at_exit_if_hooked();
            p
        }

        #[doc = concat!("`", stringify!($realloc), "(ptr, size)`: [`alloc::", stringify!($rrealloc), "`].")]
        ///
        /// # Safety
        ///
        #[doc = concat!("- `ptr` is null or a live pointer from the ", $family, " family.")]
        ///
        /// ```
        #[doc = concat!("use objimpl_core::capi::{", stringify!($realloc), ", ", stringify!($free), "};")]
        #[doc = concat!("// SAFETY: a null pointer makes `", stringify!($realloc), "` a malloc.")]
        #[doc = concat!("let p = unsafe { ", stringify!($realloc), "(std::ptr::null_mut(), 8) };")]
        #[doc = concat!("// SAFETY: `p` came from `", stringify!($realloc), "` and is freed once.")]
        #[doc = concat!("unsafe { ", stringify!($free), "(p) };")]
        /// ```
        #[inline]
        pub unsafe extern "C" fn $realloc(ptr: *mut c_void, size: usize) -> *mut c_void {
            gil_checked(stringify!($realloc), $gil);
            // SAFETY: the caller upholds the same contract.
            unsafe { alloc::$rrealloc(ptr.cast(), size).cast() }
        }

        #[doc = concat!("`", stringify!($free), "(ptr)`: [`alloc::", stringify!($rfree), "`].")]
        ///
        /// # Safety
        ///
        #[doc = concat!("- `ptr` is null or a live pointer from the ", $family, " family, not freed before.")]
        ///
        /// ```
        #[doc = concat!("// SAFETY: freeing null does nothing.")]
        #[doc = concat!("unsafe { objimpl_core::capi::", stringify!($free), "(std::ptr::null_mut()) };")]
        /// ```
        #[inline]
        pub unsafe extern "C" fn $free(ptr: *mut c_void) {
            gil_checked(stringify!($free), $gil);
            // SAFETY: the caller upholds the same contract.
            unsafe { alloc::$rfree(ptr.cast()) }
        }
    };
}

/// Whether the first C allocation has looked for the debug hooks.
static EXIT_CHECK_DECIDED: AtomicBool = AtomicBool::new(false);

/// With the debug hooks on, the quarantine is checked when a C program
/// exits, as CPython's debug build reports at exit: a write to a freed
/// object (a `Py_DECREF` too many) is reported then, even in a program too
/// short to push the block out of the quarantine. Decided at the first C
/// allocation (the hooks are set up by then) or by `PyMem_SetupDebugHooks`.
#[inline(always)]
fn check_at_exit_if_hooked() {
    if !EXIT_CHECK_DECIDED.load(Ordering::Relaxed) {
        decide_exit_check();
    }
}

#[cold]
#[inline(never)]
fn decide_exit_check() {
    EXIT_CHECK_DECIDED.store(true, Ordering::Relaxed);
    if Domain::ALL.into_iter().any(alloc::debug_hooks_on) {
        arm_exit_check();
    }
}

/// Registers the check at exit, once. Miri cannot run `atexit` (nor does
/// a test under it exit as a C program does): it skips this.
fn arm_exit_check() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    if cfg!(miri) {
        return;
    }
    extern "C" fn check_at_exit() {
        let _ = alloc::check_memory();
    }
    ONCE.call_once(|| {
        // SAFETY: `check_at_exit` takes no argument and never unwinds (a
        // report aborts, or goes to the program's handler).
        unsafe { libc::atexit(check_at_exit) };
    });
}

/// `objimpl_check_memory()`: checks every block in the debug hooks'
/// quarantine for writes after free now (`alloc::check_memory`), rather
/// than at exit; the number of errors found (each reported). 0 without the
/// hooks.
///
/// ```
/// assert_eq!(objimpl::capi::objimpl_check_memory(), 0);
/// ```
pub extern "C" fn objimpl_check_memory() -> isize {
    alloc::check_memory() as isize
}

/// CPython's hooks check the `mem` and `object` domains for the GIL, not
/// the raw one: `domain` is `None` for it.
#[inline(always)]
fn gil_checked(function: &str, domain: Option<Domain>) {
    if let Some(domain) = domain {
        super::gil::check_held(function, domain);
    }
}

c_family!(
    "object",
    Some(Domain::Object),
    PyObject_Malloc,
    PyObject_Calloc,
    PyObject_Realloc,
    PyObject_Free,
    object_malloc,
    object_calloc,
    object_realloc,
    object_free
);
c_family!(
    "mem",
    Some(Domain::Mem),
    PyMem_Malloc,
    PyMem_Calloc,
    PyMem_Realloc,
    PyMem_Free,
    mem_malloc,
    mem_calloc,
    mem_realloc,
    mem_free
);
c_family!(
    "raw",
    None,
    PyMem_RawMalloc,
    PyMem_RawCalloc,
    PyMem_RawRealloc,
    PyMem_RawFree,
    raw_malloc,
    raw_calloc,
    raw_realloc,
    raw_free
);

/// `PyMemAllocatorDomain`: `PYMEM_DOMAIN_RAW` (0), `PYMEM_DOMAIN_MEM` (1),
/// `PYMEM_DOMAIN_OBJ` (2), as an `int` from C.
pub type PyMemAllocatorDomain = c_int;

/// `PyMemAllocatorEx`, as C code fills it in: [`Allocator`] with function
/// pointers that may be NULL.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct PyMemAllocatorEx {
    /// The first argument of every call.
    pub ctx: *mut c_void,
    /// `malloc(ctx, size)`.
    pub malloc: Option<unsafe extern "C" fn(*mut c_void, usize) -> *mut c_void>,
    /// `calloc(ctx, nelem, elsize)`.
    pub calloc: Option<unsafe extern "C" fn(*mut c_void, usize, usize) -> *mut c_void>,
    /// `realloc(ctx, ptr, new_size)`.
    pub realloc: Option<unsafe extern "C" fn(*mut c_void, *mut c_void, usize) -> *mut c_void>,
    /// `free(ctx, ptr)`.
    pub free: Option<unsafe extern "C" fn(*mut c_void, *mut c_void)>,
}

fn domain(domain: PyMemAllocatorDomain) -> Option<Domain> {
    Domain::ALL.into_iter().find(|&d| d as c_int == domain)
}

/// `PyMem_GetAllocator(domain, allocator)`: [`alloc::get_allocator`]. An
/// unknown domain gets all fields NULL, as in CPython.
///
/// # Safety
///
/// - `allocator` is valid for writes of a [`PyMemAllocatorEx`].
///
/// ```
/// use objimpl::capi::{PyMem_GetAllocator, PyMemAllocatorEx};
/// let mut a = PyMemAllocatorEx { ctx: std::ptr::null_mut(), malloc: None, calloc: None, realloc: None, free: None };
/// // SAFETY: `a` is writable.
/// unsafe { PyMem_GetAllocator(2, &mut a) };
/// assert!(a.malloc.is_some());
/// ```
pub unsafe extern "C" fn PyMem_GetAllocator(
    domain: PyMemAllocatorDomain,
    allocator: *mut PyMemAllocatorEx,
) {
    let ex = match self::domain(domain).map(alloc::get_allocator) {
        Some(a) => PyMemAllocatorEx {
            ctx: a.ctx,
            malloc: Some(a.malloc),
            calloc: Some(a.calloc),
            realloc: Some(a.realloc),
            free: Some(a.free),
        },
        None => PyMemAllocatorEx {
            ctx: core::ptr::null_mut(),
            malloc: None,
            calloc: None,
            realloc: None,
            free: None,
        },
    };
    // SAFETY: the caller gives a writable `PyMemAllocatorEx`.
    unsafe { allocator.write(ex) };
}

/// `PyMem_SetAllocator(domain, allocator)`: [`alloc::set_allocator`]. An
/// unknown domain is ignored, as in CPython; so is an allocator with a NULL
/// function, which CPython would crash on later (a line on stderr says so).
///
/// # Safety
///
/// - `allocator` points at a readable [`PyMemAllocatorEx`];
/// - its functions and the blocks already live honour
///   [`alloc::set_allocator`]'s contract.
///
/// ```
/// use objimpl::capi::{PyMem_GetAllocator, PyMem_SetAllocator, PyMemAllocatorEx};
/// let mut a = PyMemAllocatorEx { ctx: std::ptr::null_mut(), malloc: None, calloc: None, realloc: None, free: None };
/// // SAFETY: `a` is writable; putting back what is there changes nothing.
/// unsafe { PyMem_GetAllocator(0, &mut a); PyMem_SetAllocator(0, &a) };
/// ```
pub unsafe extern "C" fn PyMem_SetAllocator(
    domain: PyMemAllocatorDomain,
    allocator: *const PyMemAllocatorEx,
) {
    let Some(domain) = self::domain(domain) else {
        return;
    };
    // SAFETY: the caller gives a readable `PyMemAllocatorEx`.
    let ex = unsafe { allocator.read() };
    let (Some(malloc), Some(calloc), Some(realloc), Some(free)) =
        (ex.malloc, ex.calloc, ex.realloc, ex.free)
    else {
        eprintln!(
            "objimpl: PyMem_SetAllocator({domain:?}, ..) ignored: a function pointer is NULL"
        );
        return;
    };
    let allocator = Allocator {
        ctx: ex.ctx,
        malloc,
        calloc,
        realloc,
        free,
    };
    // SAFETY: the caller upholds `set_allocator`'s contract.
    unsafe { alloc::set_allocator(domain, allocator) };
}

/// `PyMem_SetupDebugHooks()`: [`alloc::setup_debug_hooks`].
///
/// ```
/// objimpl::capi::PyMem_SetupDebugHooks();
/// ```
pub extern "C" fn PyMem_SetupDebugHooks() {
    arm_exit_check();
    alloc::setup_debug_hooks();
}

/// `_PyObject_DebugMallocStats(out)`: prints [`alloc::debug_malloc_stats`]
/// to a C `FILE *`. Returns 1, as CPython does when pymalloc is in use
/// (objimpl's pool always is, whatever the families run on), or 0 if the
/// text could not be written.
///
/// # Safety
///
/// - `out` is an open `FILE *`.
///
/// ```
/// # if cfg!(miri) { return; } // Miri has no C stdio.
/// // SAFETY: fdopen(1) is stdout, open and writable.
/// let out = unsafe { libc::fdopen(1, c"w".as_ptr()) };
/// // SAFETY: `out` is an open FILE *.
/// assert_eq!(unsafe { objimpl::capi::_PyObject_DebugMallocStats(out) }, 1);
/// ```
pub unsafe extern "C" fn _PyObject_DebugMallocStats(out: *mut libc::FILE) -> c_int {
    let mut text = Vec::new();
    if alloc::debug_malloc_stats(&mut text).is_err() {
        return 0;
    }
    // SAFETY: `text` holds `text.len()` bytes; the caller gives an open FILE.
    let written = unsafe { libc::fwrite(text.as_ptr().cast(), 1, text.len(), out) };
    // SAFETY: as above.
    unsafe { libc::fflush(out) };
    c_int::from(written == text.len())
}
