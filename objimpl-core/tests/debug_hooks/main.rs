//! Tests of the debug hooks, one binary. Every test takes [`serial`], which
//! installs the hooks (they are on by default only in debug builds) and
//! keeps the binary's tests from sharing the error handler.
//!
//! A test of the abort path re-runs this binary as a child process, asking
//! for one test by name with `OBJIMPL_TEST_CHILD` set, and checks its exit
//! status and stderr.

mod abort;
mod checks;
mod detection;
mod environment;
mod layout;
mod trace;
mod wrappers;

use objimpl_core::alloc::{self, Domain, Report};
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard};

static SERIAL: Mutex<()> = Mutex::new(());

/// Runs the calling test alone among this binary's tests, with the hooks.
pub(crate) fn serial() -> MutexGuard<'static, ()> {
    let guard = SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    alloc::setup_debug_hooks();
    guard
}

static SEEN: Mutex<Vec<Report>> = Mutex::new(Vec::new());

/// Runs `f` with a handler that collects the reports instead of aborting.
pub(crate) fn catching<R>(f: impl FnOnce() -> R) -> (R, Vec<Report>) {
    let previous = alloc::set_error_handler(Some(|r| SEEN.lock().unwrap().push(r.clone())));
    let result = f();
    alloc::set_error_handler(previous);
    (result, std::mem::take(&mut *SEEN.lock().unwrap()))
}

/// The one report `f` raised.
pub(crate) fn one_report(f: impl FnOnce()) -> Report {
    let ((), mut reports) = catching(f);
    assert_eq!(reports.len(), 1, "{reports:#?}");
    reports.pop().unwrap()
}

pub(crate) fn malloc(domain: Domain, size: usize) -> *mut u8 {
    match domain {
        Domain::Raw => alloc::raw_malloc(size),
        Domain::Mem => alloc::mem_malloc(size),
        Domain::Object => alloc::object_malloc(size),
    }
}

pub(crate) fn calloc(domain: Domain, n: usize, size: usize) -> *mut u8 {
    match domain {
        Domain::Raw => alloc::raw_calloc(n, size),
        Domain::Mem => alloc::mem_calloc(n, size),
        Domain::Object => alloc::object_calloc(n, size),
    }
}

/// # Safety
///
/// As the family's `realloc`, except where a test makes the error it checks.
pub(crate) unsafe fn realloc(domain: Domain, p: *mut u8, size: usize) -> *mut u8 {
    // SAFETY: forwarded from the caller.
    unsafe {
        match domain {
            Domain::Raw => alloc::raw_realloc(p, size),
            Domain::Mem => alloc::mem_realloc(p, size),
            Domain::Object => alloc::object_realloc(p, size),
        }
    }
}

/// # Safety
///
/// As the family's `free`, except where a test makes the error it checks.
pub(crate) unsafe fn free(domain: Domain, p: *mut u8) {
    // SAFETY: forwarded from the caller.
    unsafe {
        match domain {
            Domain::Raw => alloc::raw_free(p),
            Domain::Mem => alloc::mem_free(p),
            Domain::Object => alloc::object_free(p),
        }
    }
}

/// Block sizes that land in pools and in the C library, under the hooks
/// (which add 24 bytes).
pub(crate) const SIZES: [usize; 7] = [0, 1, 16, 100, 488, 489, 5000];

/// Whether this process is the child run for the test `name`.
pub(crate) fn is_child(name: &str) -> bool {
    std::env::var("OBJIMPL_TEST_CHILD").is_ok_and(|v| v == name)
}

/// Runs the test `name` of this binary alone in a child process, with
/// `env` set, and returns what it did.
pub(crate) fn run_child(name: &str, env: &[(&str, &str)]) -> Output {
    let exe = std::env::current_exe().unwrap();
    let mut command = Command::new(exe);
    command
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env("OBJIMPL_TEST_CHILD", name.rsplit("::").next().unwrap())
        .env_remove("OBJIMPL_MALLOC")
        .env_remove("OBJIMPL_MALLOC_TRACE");
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().unwrap()
}
