//! Installing objimpl under CPython's allocator domains, and starting it.

use core::ffi::{CStr, c_char, c_int, c_void};
use core::mem::MaybeUninit;
use std::sync::Mutex;

use objimpl_core::alloc;
use pyo3_ffi::{
    Py_ExitStatusException, Py_InitializeFromConfig, Py_PreInitializeFromBytesArgs, Py_RunMain,
    PyConfig, PyConfig_Clear, PyConfig_InitPythonConfig, PyConfig_SetBytesArgv, PyGILState_Check,
    PyMem_GetAllocator, PyMem_SetAllocator, PyMem_SetupDebugHooks, PyMemAllocatorDomain,
    PyMemAllocatorEx, PyPreConfig, PyPreConfig_InitPythonConfig, PyStatus, PyStatus_Exception,
    PyStatus_IsExit,
};

/// What the mem and object domains hold, as the functions' addresses and
/// the context, to compare.
type Held = [[usize; 5]; 2];

/// What objimpl-python put under the mem and object domains, and what they
/// held once CPython's debug hooks went over it (if they did): what this
/// interpreter calls `pymalloc` and `pymalloc_debug`.
struct Named {
    objimpl: Option<Held>,
    hooked: Option<Held>,
}

static NAMED: Mutex<Named> = Mutex::new(Named {
    objimpl: None,
    hooked: None,
});

/// What the mem and object domains hold now.
fn held() -> Held {
    [
        PyMemAllocatorDomain::PYMEM_DOMAIN_MEM,
        PyMemAllocatorDomain::PYMEM_DOMAIN_OBJ,
    ]
    .map(|domain| {
        let mut a = MaybeUninit::<PyMemAllocatorEx>::uninit();
        // SAFETY: `a` is room for one allocator, which CPython fills.
        let a = unsafe {
            PyMem_GetAllocator(domain, a.as_mut_ptr());
            a.assume_init()
        };
        [
            a.ctx.addr(),
            a.malloc.map_or(0, |f| f as usize),
            a.calloc.map_or(0, |f| f as usize),
            a.realloc.map_or(0, |f| f as usize),
            a.free.map_or(0, |f| f as usize),
        ]
    })
}

/// Remembers what the domains hold now as objimpl (`hooked`: under
/// CPython's debug hooks).
fn name_held(hooked: bool) {
    let now = Some(held());
    let mut named = NAMED.lock().unwrap_or_else(|e| e.into_inner());
    if hooked {
        named.hooked = now;
    } else {
        *named = Named {
            objimpl: now,
            hooked: None,
        };
    }
}

/// libpython's `_PyMem_GetCurrentAllocatorName`: the name of the allocators
/// CPython installed itself (`"pymalloc"`, `"pymalloc_debug"`, `"malloc"`,
/// `"malloc_debug"`), or null if the domains hold others.
fn cpython_allocator_name() -> *const c_char {
    type Name = unsafe extern "C" fn() -> *const c_char;
    // SAFETY: the name is NUL-terminated; RTLD_NEXT looks past this
    // executable, in the libraries loaded after it: libpython's.
    let f = unsafe { libc::dlsym(libc::RTLD_NEXT, c"_PyMem_GetCurrentAllocatorName".as_ptr()) };
    if f.is_null() {
        return core::ptr::null();
    }
    // SAFETY: libpython's function of that name has this signature.
    unsafe { core::mem::transmute::<*mut c_void, Name>(f)() }
}

/// `_PyMem_GetCurrentAllocatorName`, as this interpreter answers it
/// (`_testcapi.pymem_getallocatorsname()`, `test_cmd_line`'s
/// `test_pythonmalloc` and `test_xdev`): objimpl is its pymalloc, so
/// `"pymalloc"` while objimpl serves the mem and object domains, and
/// `"pymalloc_debug"` while CPython's debug hooks serve them over objimpl;
/// otherwise libpython's answer. Exported from the executable (see
/// `build.rs`), so that the shared modules calling it find this one first.
#[unsafe(no_mangle)]
pub extern "C" fn _PyMem_GetCurrentAllocatorName() -> *const c_char {
    let now = held();
    let named = NAMED.lock().unwrap_or_else(|e| e.into_inner());
    if named.objimpl == Some(now) {
        return c"pymalloc".as_ptr();
    }
    if named.hooked == Some(now) {
        return c"pymalloc_debug".as_ptr();
    }
    drop(named);
    cpython_allocator_name()
}

use crate::introspect;

/// CPython's allocator functions for a domain whose GIL is checked, over
/// the allocator objimpl installed for its family (its debug hooks): they
/// check, then call it directly, through the `ctx` CPython passes back, an
/// `&'static Allocator` (not through the family functions, which would
/// look the installed allocator up again on every call).
macro_rules! checked_domain {
    ($name:ident) => {
        mod $name {
            use core::ffi::c_void;

            use objimpl_core::alloc::Allocator;

            use super::check_gil;

            /// The allocator below, from the `ctx` it was installed with.
            fn below(ctx: *mut c_void) -> &'static Allocator {
                // SAFETY: CPython passes back the `ctx` of `allocator`, a
                // leaked `Allocator`.
                unsafe { &*ctx.cast::<Allocator>() }
            }

            pub extern "C" fn malloc(ctx: *mut c_void, size: usize) -> *mut c_void {
                check_gil(concat!(stringify!($name), "_malloc"));
                let a = below(ctx);
                // SAFETY: an installed allocator serves any size.
                unsafe { (a.malloc)(a.ctx, size) }
            }

            pub extern "C" fn calloc(ctx: *mut c_void, n: usize, size: usize) -> *mut c_void {
                check_gil(concat!(stringify!($name), "_calloc"));
                let a = below(ctx);
                // SAFETY: as in `malloc`.
                unsafe { (a.calloc)(a.ctx, n, size) }
            }

            pub extern "C" fn realloc(
                ctx: *mut c_void,
                p: *mut c_void,
                size: usize,
            ) -> *mut c_void {
                check_gil(concat!(stringify!($name), "_realloc"));
                let a = below(ctx);
                // SAFETY: CPython gives back blocks of the domain that made
                // them, which this allocator serves alone.
                unsafe { (a.realloc)(a.ctx, p, size) }
            }

            pub extern "C" fn free(ctx: *mut c_void, p: *mut c_void) {
                check_gil(concat!(stringify!($name), "_free"));
                let a = below(ctx);
                // SAFETY: as in `realloc`.
                unsafe { (a.free)(a.ctx, p) }
            }

            pub fn allocator(below: &'static Allocator) -> pyo3_ffi::PyMemAllocatorEx {
                pyo3_ffi::PyMemAllocatorEx {
                    ctx: core::ptr::from_ref(below).cast_mut().cast(),
                    malloc: Some(malloc),
                    calloc: Some(calloc),
                    realloc: Some(realloc),
                    free: Some(free),
                }
            }
        }
    };
}

/// CPython's `_PyMem_DebugCheckGIL`, for the mem and object domains under
/// objimpl's debug hooks (the checked functions are installed only then):
/// as CPython's own hooks do, a call without the GIL ends the process.
#[inline]
fn check_gil(function: &str) {
    // SAFETY: PyGILState_Check may be called at any time, from any thread
    // (before the interpreter is up it answers 1).
    if unsafe { PyGILState_Check() } == 0 {
        gil_not_held(function);
    }
}

#[cold]
#[inline(never)]
fn gil_not_held(function: &str) -> ! {
    use std::io::Write as _;
    let _ = writeln!(
        std::io::stderr(),
        "Fatal Python error: {function}: Python memory allocator called without holding the GIL"
    );
    std::process::abort()
}

checked_domain!(mem);
checked_domain!(object);

/// objimpl's pools as CPython calls a domain's functions, for the mem and
/// object domains while objimpl's families are the pools (not the C
/// library, `OBJIMPL_MALLOC=malloc`, nor the debug hooks): defined here
/// rather than taken from the library, so that the pools' fast paths are
/// inlined and compiled in this executable, whose thread-locals are an
/// `%fs` load away, and look no domain up. Compiled in the library, which
/// may end in a shared object, the heap's thread-local is read through
/// `__tls_get_addr`; the linker turns that call into a load, but the
/// registers saved around it stay: three pushes and pops on every call.
///
/// Two sets: `gil`, one [`alloc::SerializedHeap`] for every thread, as pymalloc
/// serves them (CPython calls these two domains with the GIL held, which
/// its debug hooks check: the GIL serializes the calls), so that a thread
/// costs no heap of its own and a block one thread made and another frees
/// is a local free; and `per_thread`, the pools' own functions, a heap a
/// thread (`OBJIMPL_GIL_HEAP=0`).
mod served {
    use core::ffi::c_void;

    use objimpl_core::alloc::{SerializedHeap, pymalloc};

    /// The heap of every thread that holds the GIL.
    static GIL_HEAP: SerializedHeap = SerializedHeap::new();

    /// The pools' own functions, as a `SerializedHeap`'s are called.
    struct PerThread;

    impl PerThread {
        fn malloc(&self, size: usize) -> *mut u8 {
            pymalloc::malloc(size)
        }

        fn calloc(&self, n: usize, size: usize) -> *mut u8 {
            pymalloc::calloc(n, size)
        }

        /// # Safety
        ///
        /// As [`pymalloc::realloc`].
        unsafe fn realloc(&self, p: *mut u8, size: usize) -> *mut u8 {
            // SAFETY: as the caller guarantees.
            unsafe { pymalloc::realloc(p, size) }
        }

        /// # Safety
        ///
        /// As [`pymalloc::free`].
        unsafe fn free(&self, p: *mut u8) {
            // SAFETY: as the caller guarantees.
            unsafe { pymalloc::free(p) }
        }
    }

    macro_rules! served_by {
        ($name:ident, $heap:expr) => {
            pub mod $name {
                use super::*;

                // SAFETY (the `unsafe` blocks below): CPython calls these
                // domains with the GIL held, which serializes the calls on
                // `GIL_HEAP` (`PerThread`'s `malloc` and `calloc` ask
                // nothing), and gives back blocks of the domain that made
                // them, which the pools serve alone.
                #[allow(unused_unsafe)]
                extern "C" fn malloc(_: *mut c_void, size: usize) -> *mut c_void {
                    // SAFETY: as above.
                    unsafe { $heap.malloc(size) }.cast()
                }

                #[allow(unused_unsafe)]
                extern "C" fn calloc(_: *mut c_void, n: usize, size: usize) -> *mut c_void {
                    // SAFETY: as above.
                    unsafe { $heap.calloc(n, size) }.cast()
                }

                extern "C" fn realloc(_: *mut c_void, p: *mut c_void, size: usize) -> *mut c_void {
                    // SAFETY: as above.
                    unsafe { $heap.realloc(p.cast(), size) }.cast()
                }

                extern "C" fn free(_: *mut c_void, p: *mut c_void) {
                    // SAFETY: as above.
                    unsafe { $heap.free(p.cast()) }
                }

                /// The functions, for a domain.
                pub fn allocator() -> pyo3_ffi::PyMemAllocatorEx {
                    pyo3_ffi::PyMemAllocatorEx {
                        ctx: core::ptr::null_mut(),
                        malloc: Some(malloc),
                        calloc: Some(calloc),
                        realloc: Some(realloc),
                        free: Some(free),
                    }
                }
            }
        };
    }

    served_by!(gil, GIL_HEAP);
    served_by!(per_thread, PerThread);
}

/// Whether the mem and object domains share one heap behind the GIL (the
/// default) rather than a heap a thread: `OBJIMPL_GIL_HEAP=0` says not.
fn gil_heap() -> bool {
    std::env::var_os("OBJIMPL_GIL_HEAP").is_none_or(|v| v != "0")
}

/// What CPython's domain gets for objimpl's `family`, with no GIL check:
/// the pools directly while the family is the pools, else the family's
/// own allocator.
fn served(family: alloc::Domain) -> PyMemAllocatorEx {
    if alloc::get_allocator(family).same_as(&alloc::Allocator::pymalloc()) {
        if gil_heap() {
            served::gil::allocator()
        } else {
            served::per_thread::allocator()
        }
    } else {
        objimpl_allocator(family, None)
    }
}

/// objimpl's allocator for CPython's `domain`, serving it through
/// objimpl's family `family`: the family's own functions, installed as they
/// are (CPython's `PyMemAllocatorEx` and objimpl's [`alloc::Allocator`] are
/// the same C struct), unless `checked` is given (the debug hooks are on and
/// CPython's GIL is checked, as CPython's hooks check it): then the checked
/// domain's functions, which check and call the family's allocator.
fn objimpl_allocator(
    family: alloc::Domain,
    checked: Option<fn(&'static alloc::Allocator) -> PyMemAllocatorEx>,
) -> PyMemAllocatorEx {
    let a = alloc::get_allocator(family);
    if let Some(checked) = checked {
        return checked(Box::leak(Box::new(a)));
    }
    // The same C signatures, `unsafe` on objimpl's side for the contract
    // that CPython keeps: it passes the `ctx` it was given, and gives each
    // domain back only that domain's blocks.
    // SAFETY: transmutes between function pointer types of one C signature.
    unsafe {
        PyMemAllocatorEx {
            ctx: a.ctx,
            malloc: Some(core::mem::transmute::<
                unsafe extern "C" fn(*mut c_void, usize) -> *mut c_void,
                extern "C" fn(*mut c_void, usize) -> *mut c_void,
            >(a.malloc)),
            calloc: Some(core::mem::transmute::<
                unsafe extern "C" fn(*mut c_void, usize, usize) -> *mut c_void,
                extern "C" fn(*mut c_void, usize, usize) -> *mut c_void,
            >(a.calloc)),
            realloc: Some(core::mem::transmute::<
                unsafe extern "C" fn(*mut c_void, *mut c_void, usize) -> *mut c_void,
                extern "C" fn(*mut c_void, *mut c_void, usize) -> *mut c_void,
            >(a.realloc)),
            free: Some(core::mem::transmute::<
                unsafe extern "C" fn(*mut c_void, *mut c_void),
                extern "C" fn(*mut c_void, *mut c_void),
            >(a.free)),
        }
    }
}

/// Puts objimpl under CPython's mem and object domains (and its raw domain
/// too `with_raw`), directly where no GIL check is wanted.
fn install_objimpl(with_raw: bool) {
    let hooked = [alloc::Domain::Mem, alloc::Domain::Object]
        .into_iter()
        .any(alloc::debug_hooks_on);
    if with_raw {
        // The raw domain is called without the GIL: never checked.
        let raw = objimpl_allocator(alloc::Domain::Raw, None);
        install(PyMemAllocatorDomain::PYMEM_DOMAIN_RAW, raw);
    }
    let (mem, object) = if hooked {
        (
            objimpl_allocator(alloc::Domain::Mem, Some(mem::allocator)),
            objimpl_allocator(alloc::Domain::Object, Some(object::allocator)),
        )
    } else {
        (served(alloc::Domain::Mem), served(alloc::Domain::Object))
    };
    install(PyMemAllocatorDomain::PYMEM_DOMAIN_MEM, mem);
    install(PyMemAllocatorDomain::PYMEM_DOMAIN_OBJ, object);
    name_held(false);
}

/// Puts `allocator` under `domain`.
fn install(domain: PyMemAllocatorDomain, mut allocator: PyMemAllocatorEx) {
    // The functions serve any size from any thread, as CPython's contract
    // for an allocator asks.
    // SAFETY: called before the interpreter starts, so the domain has no live block.
    unsafe { PyMem_SetAllocator(domain, &mut allocator) };
}

/// Honours `PYTHONMALLOC` (and `-X dev`, which asks for the debug hooks),
/// which CPython's pre-initialisation has just read: it installed its own
/// allocators over objimpl's if either was given. What the user asked of
/// CPython's default allocator is asked of objimpl, which is this
/// interpreter's default:
///
/// - `pymalloc`: objimpl again;
/// - `debug`, `pymalloc_debug`, `-X dev`: CPython's debug hooks over objimpl
///   (so the hooks' reports read as CPython's, as its tests expect);
/// - `malloc`, `malloc_debug`: the C library, with or without the hooks, as
///   asked: CPython's choice stands.
///
/// The raw domain keeps what CPython put there (`malloc`, perhaps under its
/// hooks), which may already hold blocks; the mem and object domains hold
/// none before the interpreter starts.
///
/// # Safety
///
/// - CPython is pre-initialised, not yet initialised.
unsafe fn honour_pythonmalloc() {
    let name = cpython_allocator_name();
    if name.is_null() {
        // CPython installed nothing: objimpl's allocators are in place.
        return;
    }
    // SAFETY: a NUL-terminated static string of CPython's.
    let name = unsafe { CStr::from_ptr(name) };
    let debug = match name.to_bytes() {
        b"pymalloc" => false,
        b"pymalloc_debug" => true,
        _ => return,
    };
    install_objimpl(false);
    if debug {
        // SAFETY: before the interpreter starts; the hooks wrap what each
        // domain holds now (the raw domain's are on already, and stay).
        unsafe { PyMem_SetupDebugHooks() };
        name_held(true);
    }
}

/// Ends the process as CPython does on a failed start: the status's exit
/// code, or its message.
///
/// # Safety
///
/// - `status` came from CPython's initialisation.
unsafe fn exit_on(status: PyStatus) -> i32 {
    // SAFETY: as the caller guarantees.
    unsafe {
        if PyStatus_IsExit(status) != 0 {
            return status.exitcode;
        }
        Py_ExitStatusException(status)
    }
}

/// Installs objimpl, runs CPython with the process's arguments, and returns
/// its exit status.
///
/// # Safety
///
/// - `argv` holds `argc` NUL-terminated strings and a final null, alive
///   until this returns.
pub unsafe fn run(argc: c_int, argv: *mut *mut c_char) -> i32 {
    let count = usize::try_from(argc).unwrap_or(0);
    // SAFETY: as the caller promises, `argv` has `argc` entries.
    let given = unsafe { core::slice::from_raw_parts(argv, count) };
    let flag = given.get(1).is_some_and(|&a| {
        // SAFETY: each entry is a NUL-terminated string, as the caller promises.
        (unsafe { CStr::from_ptr(a) }) == c"--objimpl-raw"
    });
    // The variable reaches the processes CPython starts with
    // `sys.executable` (the test runner's workers), which the flag does not.
    let with_raw =
        flag || std::env::var_os("OBJIMPL_RAW").is_some_and(|v| !v.is_empty() && v != "0");
    install_objimpl(with_raw);

    // CPython's argv: the process's, without `--objimpl-raw`, null-terminated.
    let mut argv: Vec<*mut c_char> = given
        .iter()
        .enumerate()
        .filter(|&(i, _)| !(flag && i == 1))
        .map(|(_, &a)| a)
        .collect();
    let argc = c_int::try_from(argv.len()).unwrap_or(c_int::MAX);
    argv.push(core::ptr::null_mut());

    // As `Py_BytesMain`, in three steps: the pre-initialisation (which
    // reads `PYTHONMALLOC`, `-X dev`, `-E` and `-I` as `python3`'s does, and
    // may install CPython's allocators), so that `PYTHONMALLOC` can be
    // honoured on objimpl; then the interpreter's start, so that `sys` can
    // be told about objimpl before the program runs, as the embedding
    // CPython documents for `Py_RunMain` allows.
    let mut preconfig = MaybeUninit::<PyPreConfig>::uninit();
    // SAFETY: `preconfig` is initialised before it is read; `argv` holds
    // `argc` NUL-terminated strings and a final null.
    unsafe {
        PyPreConfig_InitPythonConfig(preconfig.as_mut_ptr());
        let status =
            Py_PreInitializeFromBytesArgs(preconfig.as_ptr(), argc as _, argv.as_mut_ptr().cast());
        if PyStatus_Exception(status) != 0 {
            return exit_on(status);
        }
        honour_pythonmalloc();
    }
    let mut config = MaybeUninit::<PyConfig>::uninit();
    // `argv` holds `argc` NUL-terminated strings and a final null, alive
    // until `Py_RunMain` returns.
    // SAFETY: `config` is initialised by `PyConfig_InitPythonConfig` before any other use, and cleared once.
    let status = unsafe {
        PyConfig_InitPythonConfig(config.as_mut_ptr());
        let mut status =
            PyConfig_SetBytesArgv(config.as_mut_ptr(), argc as _, argv.as_mut_ptr().cast());
        if PyStatus_Exception(status) == 0 {
            status = Py_InitializeFromConfig(config.as_ptr());
        }
        PyConfig_Clear(config.as_mut_ptr());
        if PyStatus_Exception(status) != 0 {
            return exit_on(status);
        }
        introspect::install();
        Py_RunMain()
    };

    if std::env::var_os("OBJIMPL_STATS").is_some_and(|v| !v.is_empty() && v != "0") {
        let _ = alloc::debug_malloc_stats(&mut std::io::stderr());
    }
    status
}
