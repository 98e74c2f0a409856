//! The purger thread: purges the kept arenas and idle free pools that are
//! due, then sleeps on a futex until the next are due, or, with nothing
//! resident to purge, until a heap keeps an arena or gives a pool back; and
//! if none does for [`LINGER_MS`], ends. Started, through the C library,
//! the first time a heap does either, and again after it ended.
//!
//! It ends because a process lives while any of its threads does: one whose
//! last thread ends by `pthread_exit` (a C `main` may; a child of `fork()`
//! called on a thread of CPython's ends so) would live on with the purger
//! alone, forever. And an idle process then keeps no thread of ours.

use core::ffi::c_void;
use core::sync::atomic::{AtomicU8, AtomicU32, Ordering};

use super::super::system;
use super::{now_ms, purge_expired};

const NOT_STARTED: u8 = 0;
const STARTING: u8 = 1;
const RUNNING: u8 = 2;
/// Disabled by `OBJIMPL_PURGE_THREAD=0`, or no thread could be made.
const OFF: u8 = 3;

/// How long the purger waits for work, with nothing resident to purge,
/// before it ends: long enough that a program that frees in waves a second
/// or less apart keeps one purger, not a thread started each wave.
const LINGER_MS: u64 = 1000;

static STATE: AtomicU8 = AtomicU8::new(NOT_STARTED);

/// Bumped to wake the purger; it sleeps on it (a futex).
static WAKE: AtomicU32 = AtomicU32::new(0);

/// There is work for the purger, the `first` since it may have gone to
/// sleep for want of any: starts it, or wakes it. (Not only the first
/// starts it: a child of `fork()` may inherit work, and no purger.)
pub(super) fn work(first: bool) {
    // SeqCst, after the caller raised its count (SeqCst): either the purger
    // handing back in `end_turn` sees the count, or this sees its hand-back
    // and starts another.
    match STATE.load(Ordering::SeqCst) {
        NOT_STARTED => start(),
        RUNNING if first => {
            WAKE.fetch_add(1, Ordering::SeqCst);
            futex(
                &WAKE,
                libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
                1,
                core::ptr::null(),
            )
        }
        _ => {}
    }
}

/// In a child after `fork()`: the purger is the parent's; the child's
/// starts with its next kept arena or pool given back.
pub(super) fn forget() {
    if STATE.load(Ordering::Relaxed) != OFF {
        STATE.store(NOT_STARTED, Ordering::Relaxed);
    }
}

#[cold]
fn start() {
    if STATE
        .compare_exchange(NOT_STARTED, STARTING, Ordering::Relaxed, Ordering::Relaxed)
        .is_err()
    {
        return;
    }
    let wanted = system::env(c"OBJIMPL_PURGE_THREAD").is_none_or(|value| value.to_bytes() != b"0");
    let started = wanted && spawn();
    STATE.store(if started { RUNNING } else { OFF }, Ordering::Release);
}

/// Starts the purger, detached, with every signal blocked (signals are
/// the program's threads' business), through the C library: a Rust
/// thread would allocate its handle through the global allocator, which
/// may be this one, in the middle of its slow path.
fn spawn() -> bool {
    // SAFETY: the attribute, mask and thread id are written by the calls
    // before they are read; the thread runs `run` for the process's life.
    unsafe {
        let mut attr = core::mem::MaybeUninit::<libc::pthread_attr_t>::uninit();
        if libc::pthread_attr_init(attr.as_mut_ptr()) != 0 {
            return false;
        }
        let mut attr = attr.assume_init();
        libc::pthread_attr_setdetachstate(&mut attr, libc::PTHREAD_CREATE_DETACHED);
        libc::pthread_attr_setstacksize(&mut attr, 128 * 1024);
        let mut all = core::mem::MaybeUninit::<libc::sigset_t>::uninit();
        libc::sigfillset(all.as_mut_ptr());
        let mut old = core::mem::MaybeUninit::<libc::sigset_t>::uninit();
        libc::pthread_sigmask(libc::SIG_SETMASK, all.as_ptr(), old.as_mut_ptr());
        let mut thread = core::mem::MaybeUninit::<libc::pthread_t>::uninit();
        let created = libc::pthread_create(thread.as_mut_ptr(), &attr, run, core::ptr::null_mut());
        libc::pthread_sigmask(libc::SIG_SETMASK, old.as_ptr(), core::ptr::null_mut());
        libc::pthread_attr_destroy(&mut attr);
        if created == 0 {
            libc::pthread_setname_np(thread.assume_init(), c"objimpl-purge".as_ptr());
        }
        created == 0
    }
}

/// The purger: purges what is due, then sleeps until the next is due,
/// or, with nothing resident to purge, until [`work`] wakes it; after
/// [`LINGER_MS`] of that, it ends.
///
/// No work is missed by the sleep: `purge_expired` reads the counts (kept
/// arenas, arenas with resident free pools) after this reads the wake
/// counter, all `SeqCst`, and a heap raises a count before the counter. So
/// the purger sees the heap's count, or the heap's wake comes after the
/// read of the counter, and the futex does not sleep through it.
extern "C" fn run(_: *mut c_void) -> *mut c_void {
    // Since when there has been nothing resident to purge.
    let mut idle_since: Option<u64> = None;
    loop {
        let seen = WAKE.load(Ordering::SeqCst);
        let now = now_ms();
        let wait_ms = match purge_expired(now) {
            // A millisecond past the due time, so that it is due.
            Some(due) => {
                idle_since = None;
                due.saturating_sub(now) + 1
            }
            None => {
                let idle = now.saturating_sub(*idle_since.get_or_insert(now));
                if idle < LINGER_MS {
                    LINGER_MS - idle
                } else if end_turn() {
                    return core::ptr::null_mut();
                } else {
                    idle_since = None;
                    continue;
                }
            }
        };
        let timeout = libc::timespec {
            tv_sec: (wait_ms / 1000) as libc::time_t,
            tv_nsec: ((wait_ms % 1000) * 1_000_000) as libc::c_long,
        };
        // Woken, timed out or interrupted: look again in any case.
        futex(
            &WAKE,
            libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
            seen,
            &timeout,
        );
    }
}

/// The purger, idle for [`LINGER_MS`], hands the next start to the heaps:
/// true if it is to end, false if work came meanwhile and it goes on.
fn end_turn() -> bool {
    // From here, a heap with work sees `NOT_STARTED` and starts a purger.
    STATE.store(NOT_STARTED, Ordering::SeqCst);
    // A heap that raised its count before that store may have read
    // `RUNNING`, and counted on this purger: its count is read here (both
    // `SeqCst`: one of the two sees the other's write).
    if purge_expired(now_ms()).is_none() {
        return true;
    }
    // Work came: this purger takes it, unless a heap has started another.
    STATE
        .compare_exchange(NOT_STARTED, RUNNING, Ordering::SeqCst, Ordering::SeqCst)
        .is_err()
}

fn futex(word: &AtomicU32, op: libc::c_int, value: u32, timeout: *const libc::timespec) {
    // SAFETY: `word` is a live u32 for the call; the kernel only reads
    // it (and the timeout, null or a live timespec).
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            op,
            value,
            timeout,
            core::ptr::null::<u32>(),
            0,
        )
    };
}
