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
//!   `malloc` by default, and objimpl's `raw` is the same).
//! - `OBJIMPL_MALLOC=debug` runs CPython on objimpl's debug hooks;
//!   `OBJIMPL_STATS=1` prints objimpl's statistics to stderr at exit.
//! - `PYTHONMALLOC`, if set, makes CPython install its own allocators over
//!   these, as it would in `python3`.
//!
//! Child processes that CPython starts with `sys.executable` (the test
//! runner's workers, `subprocess` tests) are `objimpl-python` too.

#[cfg(objimpl_python)]
mod introspect;
#[cfg(objimpl_python)]
mod launch;

#[cfg(objimpl_python)]
fn main() {
    std::process::exit(launch::run());
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
