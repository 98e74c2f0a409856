//! The allocator's setup: `OBJIMPL_MALLOC` (CPython's `PYTHONMALLOC`) chooses,
//! at the first call of any family, which allocator each [`Domain`] gets,
//! with or without the debug hooks on top; [`get_allocator`],
//! [`set_allocator`] and [`setup_debug_hooks`] run that setup first, and
//! so do the families' calls through a domain's slot.
//!
//! Above both the domains' slots (`domain.rs`) and the debug hooks
//! (`debug/`), which know nothing of each other: the hooks wrap an
//! [`Allocator`]; this puts them in a slot.

use core::cell::Cell;
use core::fmt;
use core::ptr;
use std::sync::Once;

use super::domain::{self, Allocator, Domain};
use super::system::env;
use super::{debug, fork};

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
/// variables are read in place ([`system::env`]) and the records that `install`
/// and the hooks keep come from the C library (`system::keep`). Should
/// this ever be re-entered all the same, the process says so and aborts
/// ([`once_on_this_thread`]).
fn configure() {
    static ONCE: Once = Once::new();
    if ONCE.is_completed() {
        return;
    }
    once_on_this_thread(&ONCE, || {
        fork::install();
        let value = env(c"OBJIMPL_MALLOC").unwrap_or_default();
        let (base, hooks) = match value.to_bytes() {
            b"" | b"default" => (Allocator::pymalloc(), cfg!(debug_assertions)),
            b"pymalloc" => (Allocator::pymalloc(), false),
            b"malloc" => (Allocator::system(), false),
            b"debug" | b"pymalloc_debug" => (Allocator::pymalloc(), true),
            b"malloc_debug" => (Allocator::system(), true),
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
        // Each slot goes from its default through the slot to its final allocator in one
        // store: a thread that saw the pool alone for a moment would
        // allocate around the hooks.
        for domain in Domain::ALL {
            let below = if domain == Domain::Raw {
                Allocator::system()
            } else {
                base
            };
            let allocator = if hooks {
                debug::hooks(domain, &below)
            } else {
                below
            };
            domain::install(domain, allocator);
        }
    });
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
/// use objimpl::alloc::{Domain, get_allocator};
/// let a = get_allocator(Domain::Raw);
/// // SAFETY: an installed allocator accepts any size.
/// let p = unsafe { (a.malloc)(a.ctx, 8) };
/// // SAFETY: `p` came from this allocator and is freed once.
/// unsafe { (a.free)(a.ctx, p) };
/// ```
pub fn get_allocator(domain: Domain) -> Allocator {
    configure();
    *domain::installed(domain)
}

/// Whether the debug hooks serve `domain` now (after `OBJIMPL_MALLOC`, or a
/// debug build's default, has been read): for a program that checks more
/// under them, as CPython's hooks check for the GIL.
///
/// ```
/// use objimpl::alloc::{self, Domain};
/// alloc::setup_debug_hooks();
/// assert!(alloc::debug_hooks_on(Domain::Object));
/// ```
pub fn debug_hooks_on(domain: Domain) -> bool {
    debug::is_hooks(&get_allocator(domain))
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
/// use objimpl::alloc::{self, Allocator, Domain};
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
    domain::install(domain, allocator);
}

/// Installs the debug hooks over every domain's allocator
/// (`PyMem_SetupDebugHooks`), unless they are already there. See the
/// module's section "When memory goes wrong".
///
/// Call it before allocating: a block made before the hooks and freed
/// through them is reported as a pointer they never handed out.
///
/// ```
/// use objimpl::alloc;
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
        let current = domain::installed(domain);
        if !debug::is_hooks(current) {
            domain::install(domain, debug::hooks(domain, current));
        }
    }
}

/// Names an allocator as `OBJIMPL_MALLOC` names the choices (`pymalloc`,
/// `malloc`), or as the debug hooks, or user-defined: here, where both the
/// built-ins and the hooks are known.
impl fmt::Debug for Allocator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = if let Some(name) = domain::builtin_name(self) {
            name
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

// ---------------------------------------------------------------------------
// Calls through the slot: the families' path when the default is not installed,
// the setup first (each slot starts at its default through the slot, so the
// first call of each family comes this way).
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
    configure();
    let a = domain::installed(domain);
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
    configure();
    let a = domain::installed(domain);
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
    configure();
    let a = domain::installed(domain);
    // SAFETY: as in `malloc`; `p` is the family's, as the caller promises.
    unsafe { (a.realloc)(a.ctx, p.cast(), size) }.cast()
}

/// # Safety
///
/// - `p` is null or a live block of `domain`'s family, not freed before.
#[cold]
#[inline(never)]
pub(crate) unsafe fn free(p: *mut u8, domain: Domain) {
    configure();
    let a = domain::installed(domain);
    // SAFETY: as in `realloc`.
    unsafe { (a.free)(a.ctx, p.cast()) }
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
                "alloc::config::tests::a_reentered_setup_aborts_with_a_message",
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
