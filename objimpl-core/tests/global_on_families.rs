//! A program whose global allocator is built on the families (`mem_malloc`
//! and `mem_free`, e.g. to run all of Rust's allocations under the debug
//! hooks). Its first allocation is the first call of a family, which runs
//! `configure`: had that allocated through the global allocator, it would
//! have called the family again and waited for itself, before `main`.
//!
//! No test harness (`harness = false` in Cargo.toml): the harness itself
//! allocates before any test runs. `main` re-runs this binary once for each
//! value of `OBJIMPL_MALLOC` (and with traces, and with a bad value, which
//! must abort with its message) and fails any child that does not finish
//! within [`TIMEOUT`]. Only a child puts its allocations on the families: the
//! parent's must work even where a child hangs, so the global allocator
//! chooses between the families and the C library at its first call, from
//! the environment read without allocating.
//!
//! Under Miri, which cannot start processes, the child's part runs in
//! process with Miri's environment (no `OBJIMPL_MALLOC`: the default, with
//! the hooks in debug builds), on one thread; a setup that allocated
//! through the global allocator would abort it (or, without the guard
//! against that, deadlock it).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, Ordering};

use objimpl_core::alloc::{self, ErrorKind, Report};

/// Set (to anything) in a child.
#[cfg(not(miri))]
const CHILD: &str = "OBJIMPL_TEST_CHILD";

/// Where the global allocator sends requests: not yet decided, the C
/// library (the parent) or the families (a child).
static TARGET: AtomicU8 = AtomicU8::new(UNDECIDED);
const UNDECIDED: u8 = 0;
const LIBC: u8 = 1;
const FAMILIES: u8 = 2;

/// `mem_malloc`/`mem_free` in a child; the C library in the parent.
struct OnFamilies;

impl OnFamilies {
    fn target() -> u8 {
        let target = TARGET.load(Ordering::Relaxed);
        if target != UNDECIDED {
            return target;
        }
        // The first call, before `main` (no other thread yet): read the
        // environment without allocating. Every thread that races here
        // decides alike.
        // SAFETY: a NUL-terminated name; nothing sets variables meanwhile.
        let child = !unsafe { libc::getenv(c"OBJIMPL_TEST_CHILD".as_ptr()) }.is_null();
        let target = if cfg!(miri) || child { FAMILIES } else { LIBC };
        TARGET.store(target, Ordering::Relaxed);
        target
    }
}

// SAFETY: each block comes from and goes back to one side, chosen once for
// the process; the families' blocks are 16-byte aligned, and larger
// alignments are refused (null).
unsafe impl GlobalAlloc for OnFamilies {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if Self::target() == LIBC {
            // SAFETY: as the caller promises.
            return unsafe { System.alloc(layout) };
        }
        if layout.align() > alloc::ALIGNMENT {
            return std::ptr::null_mut();
        }
        alloc::mem_malloc(layout.size())
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        if Self::target() == LIBC {
            // SAFETY: `p` came from `System` with this layout.
            return unsafe { System.dealloc(p, layout) };
        }
        // SAFETY: `p` came from `mem_malloc` and is freed once.
        unsafe { alloc::mem_free(p) }
    }
}

#[global_allocator]
static GLOBAL: OnFamilies = OnFamilies;

/// What a child does: allocate as a program does, on two threads, and
/// with the hooks, have errors reported.
fn child() {
    let v: Vec<String> = (0..100).map(|i| format!("item {i}")).collect();
    let sum = move || v.iter().map(String::len).sum::<usize>();
    // Not on a thread under Miri: std's thread start frees a `Box` in the
    // frame that it protects, and the hooks fill a freed block at once,
    // which Stacked Borrows forbids (rust-lang/miri#3666; see
    // `global_allocator.rs`).
    let total = if cfg!(miri) {
        sum()
    } else {
        std::thread::spawn(sum).join().unwrap()
    };
    let p = alloc::object_malloc(24);
    assert!(!p.is_null());
    let hooked = alloc::block_info(p).is_some();
    // SAFETY: `p` came from `object_malloc` and is freed once.
    unsafe { alloc::object_free(p) };
    if hooked {
        errors_are_reported();
    }
    println!("reached main: {total}");
}

/// Reports made under the hooks' locks, and kept by the handler past the
/// call that made them.
fn errors_are_reported() {
    static SEEN: Mutex<Vec<Report>> = Mutex::new(Vec::new());
    let previous = alloc::set_error_handler(Some(|r| SEEN.lock().unwrap().push(r.clone())));
    let p = alloc::mem_malloc(16);
    // SAFETY: deliberately one byte past the end, into the hooks' guard.
    unsafe { p.add(16).write(0) };
    assert_eq!(alloc::check_memory(), 1);
    // SAFETY: `p` came from `mem_malloc` and is freed once (its overflow
    // reported once more).
    unsafe { alloc::mem_free(p) };
    let q = alloc::mem_malloc(8);
    // SAFETY: `q` came from `mem_malloc`; the second free is the error
    // under test, which the hooks catch before touching the allocator.
    unsafe {
        alloc::mem_free(q);
        alloc::mem_free(q);
    }
    let seen = std::mem::take(&mut *SEEN.lock().unwrap());
    let kinds: Vec<ErrorKind> = seen.iter().map(|r| r.kind).collect();
    use ErrorKind::{BufferOverflow, DoubleFree};
    assert_eq!(kinds, [BufferOverflow, BufferOverflow, DoubleFree]);
    // The handler's copies are freed through the hooks: had they not come
    // from them, each would be a pointer they never handed out.
    drop(seen);
    assert_eq!(SEEN.lock().unwrap().len(), 0);
    alloc::set_error_handler(previous);
}

#[cfg(miri)]
fn main() {
    child();
}

/// How long a child may take: it needs well under a second.
#[cfg(not(miri))]
const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

#[cfg(not(miri))]
fn main() {
    use std::io::Read;
    use std::process::{Command, Stdio};
    use std::time::Instant;

    if std::env::var_os(CHILD).is_some() {
        return child();
    }
    /// What a child must do.
    enum Expect {
        /// Reach the end of `main`.
        Main,
        /// Abort, saying this on stderr.
        Abort(&'static str),
    }
    let cases: [(&[(&str, &str)], Expect); 9] = [
        (&[], Expect::Main),
        (&[("OBJIMPL_MALLOC", "default")], Expect::Main),
        (&[("OBJIMPL_MALLOC", "pymalloc")], Expect::Main),
        (&[("OBJIMPL_MALLOC", "malloc")], Expect::Main),
        (&[("OBJIMPL_MALLOC", "debug")], Expect::Main),
        (&[("OBJIMPL_MALLOC", "pymalloc_debug")], Expect::Main),
        (&[("OBJIMPL_MALLOC", "malloc_debug")], Expect::Main),
        (
            &[("OBJIMPL_MALLOC", "debug"), ("OBJIMPL_MALLOC_TRACE", "1")],
            Expect::Main,
        ),
        (
            &[("OBJIMPL_MALLOC", "pymaloc")],
            Expect::Abort("OBJIMPL_MALLOC=\"pymaloc\" names no allocator"),
        ),
    ];
    let mut failed = 0;
    for (env, expect) in &cases {
        let mut command = Command::new(std::env::current_exe().unwrap());
        command
            .env(CHILD, "1")
            .env_remove("OBJIMPL_MALLOC")
            .env_remove("OBJIMPL_MALLOC_TRACE")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().unwrap();
        let start = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status);
            }
            if start.elapsed() > TIMEOUT {
                child.kill().unwrap();
                child.wait().unwrap();
                break None;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        let (mut stdout, mut stderr) = (String::new(), String::new());
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut stdout)
            .unwrap();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        let ok = match (expect, status) {
            (_, None) => false,
            (Expect::Main, Some(status)) => {
                status.success() && stdout.contains("reached main: 690")
            }
            (Expect::Abort(message), Some(status)) => {
                !status.success() && stderr.contains(message) && stdout.is_empty()
            }
        };
        let outcome = match status {
            None => format!("hung: killed after {TIMEOUT:?}"),
            Some(status) => format!("{status}"),
        };
        println!("{env:?}: {} ({outcome})", if ok { "ok" } else { "FAILED" });
        if !ok {
            failed += 1;
            println!("  stdout: {stdout:?}\n  stderr: {stderr:?}");
        }
    }
    if failed > 0 {
        println!("{failed} of {} cases failed", cases.len());
        std::process::exit(1);
    }
}
