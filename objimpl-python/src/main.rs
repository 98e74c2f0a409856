//! `objimpl-python`: CPython with objimpl as its memory allocator.
//!
//! It links the libpython that `python3` reports, puts objimpl's `mem` and
//! `object` families under CPython's `PYMEM_DOMAIN_MEM` and
//! `PYMEM_DOMAIN_OBJ` with `PyMem_SetAllocator` before the interpreter
//! starts, then runs `Py_BytesMain`: `objimpl-python -m test test_dict`
//! behaves as `python3 -m test test_dict`.
//!
//! - `--objimpl-raw` as the first argument puts objimpl's `raw` family
//!   under `PYMEM_DOMAIN_RAW` too (CPython's raw domain is the C library's
//!   `malloc` by default, and objimpl's `raw` is the same). `OBJIMPL_RAW=1`
//!   does the same, and reaches the processes CPython starts.
//! - `OBJIMPL_MALLOC=debug` runs CPython on objimpl's debug hooks;
//!   `OBJIMPL_STATS=1` prints objimpl's statistics to stderr at exit.
//! - `PYTHONMALLOC`, if set, makes CPython install its own allocators over
//!   these, as it would in `python3`.
//!
//! Child processes that CPython starts with `sys.executable` (the test
//! runner's workers, `subprocess` tests) are `objimpl-python` too.
//!
//! The process starts as `python3` does, at a C `main`: Rust's runtime
//! would install SIGSEGV and SIGBUS handlers (its stack-overflow guard,
//! which turns `faulthandler`'s deliberate crashes into a clean exit) and
//! reopen closed descriptors 0-2 onto `/dev/null` (so a child started with
//! stdin closed would see one open) before a Rust `main`. CPython sets up
//! its own signals (SIGPIPE and SIGXFSZ ignored) as it starts.

#![cfg_attr(objimpl_python, no_main)]

#[cfg(objimpl_python)]
mod introspect;
#[cfg(objimpl_python)]
mod launch;

/// The process's entry point, called by the C runtime as `python3`'s is.
///
/// # Safety
///
/// - `argv` holds `argc` NUL-terminated strings and a final null, alive for
///   the process (the C runtime's promise).
#[cfg(objimpl_python)]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn main(
    argc: core::ffi::c_int,
    argv: *mut *mut core::ffi::c_char,
) -> core::ffi::c_int {
    // SAFETY: as the C runtime promises.
    unsafe { launch::run(argc, argv) }
}

#[cfg(not(objimpl_python))]
fn main() {
    eprintln!(
        "objimpl-python was built without CPython: {}. Install a Python 3 with a \
         shared libpython (or point $PYO3_PYTHON at one) and rebuild.",
        env!("OBJIMPL_PYTHON_MISSING")
    );
    std::process::exit(2);
}
