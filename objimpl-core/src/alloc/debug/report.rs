//! What the debug hooks say when they find an error: a [`Report`], handed to
//! the handler set with [`set_error_handler`], or printed before the
//! process aborts.

use core::fmt;
use std::backtrace::Backtrace;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

use super::super::fork;
use super::block::{FORBIDDEN_BYTE, WORD};

/// The kinds of memory error the debug hooks find.
///
/// ```
/// use objimpl::alloc::ErrorKind;
/// assert_eq!(ErrorKind::BufferOverflow.to_string(), "buffer overflow");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Bytes just before a block (its size, API id or forbidden bytes) were
    /// overwritten.
    BufferUnderflow,
    /// The forbidden bytes just after a block were overwritten.
    BufferOverflow,
    /// A block was freed or reallocated through another family than the
    /// one that allocated it.
    ApiMisuse,
    /// A block was freed (or reallocated) again after it was freed.
    DoubleFree,
    /// A freed block was written to while it waited in quarantine.
    WriteAfterFree,
    /// A pointer the hooks never handed out (or handed out, freed and
    /// recycled long ago) was freed or reallocated.
    UnknownPointer,
}

impl ErrorKind {
    /// The name, as the report's first line gives it.
    fn name(self) -> &'static str {
        match self {
            ErrorKind::BufferUnderflow => "buffer underflow",
            ErrorKind::BufferOverflow => "buffer overflow",
            ErrorKind::ApiMisuse => "API misuse",
            ErrorKind::DoubleFree => "double free",
            ErrorKind::WriteAfterFree => "write after free",
            ErrorKind::UnknownPointer => "bad pointer",
        }
    }

    /// What happened, in plain words.
    fn explanation(self) -> &'static str {
        match self {
            ErrorKind::BufferUnderflow => "the bytes just before the block were overwritten",
            ErrorKind::BufferOverflow => "the bytes just after the block were overwritten",
            ErrorKind::ApiMisuse => {
                "the block was given back to another family than the one that allocated it"
            }
            ErrorKind::DoubleFree => "the block was already freed",
            ErrorKind::WriteAfterFree => "the block was written to after it was freed",
            ErrorKind::UnknownPointer => {
                "the debug allocator never handed out this address (or it was freed and recycled long ago)"
            }
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One memory error found by the debug hooks: what, where, and the block's
/// bytes. Its `Display` is the text printed before the process aborts.
///
/// ```
/// use objimpl::alloc::{self, ErrorKind, Report};
/// use std::sync::Mutex;
///
/// static SEEN: Mutex<Vec<Report>> = Mutex::new(Vec::new());
/// alloc::setup_debug_hooks();
/// let previous = alloc::set_error_handler(Some(|r| SEEN.lock().unwrap().push(r.clone())));
///
/// let p = alloc::mem_malloc(16);
/// // SAFETY: deliberately one byte past the end: the hooks' guard catches it.
/// unsafe { p.add(16).write(b'x') };
/// // SAFETY: `p` came from `mem_malloc` and is freed once.
/// unsafe { alloc::mem_free(p) };
///
/// let report = SEEN.lock().unwrap().pop().unwrap();
/// assert_eq!(report.kind, ErrorKind::BufferOverflow);
/// assert_eq!((report.address, report.size), (p as usize, Some(16)));
/// assert!(report.to_string().contains("at tail+0: 0x78 *** OUCH"));
/// alloc::set_error_handler(previous);
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Report {
    /// What went wrong.
    pub kind: ErrorKind,
    /// The call that found it: `"object_free"`, `"mem_realloc"`, ...,
    /// or `"check_memory"`. A write after free is found when the block
    /// leaves the quarantine, pushed out by a later free.
    pub function: &'static str,
    /// The address the caller had (the first byte of its data).
    pub address: usize,
    /// The bytes originally requested, if the address is a block the hooks know.
    pub size: Option<usize>,
    /// The API id of the family the call went through: `'r'`, `'m'` or `'o'`.
    pub api_expected: char,
    /// The API id the block carries, if the block is known.
    pub api_found: Option<char>,
    /// The block's serial number: it was the `serial`-th allocation
    /// (malloc or realloc) through the hooks.
    pub serial: Option<usize>,
    /// The guards and a hex dump of the block (empty when it cannot be read).
    pub(crate) block: String,
    /// The stack that allocated the block, with tracing on.
    pub(crate) allocated_at: Option<String>,
    /// The stack that freed it, with tracing on.
    pub(crate) freed_at: Option<String>,
}

impl Report {
    /// The stack that allocated the block, if tracing was on then
    /// ([`set_trace`](crate::alloc::set_trace), `OBJIMPL_MALLOC_TRACE=1`).
    pub fn allocated_at(&self) -> Option<&str> {
        self.allocated_at.as_deref()
    }

    /// The stack that freed the block, for a block freed while tracing was on.
    pub fn freed_at(&self) -> Option<&str> {
        self.freed_at.as_deref()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "objimpl: {}: {}",
            self.kind.name(),
            self.kind.explanation()
        )?;
        writeln!(f, "    found by {}({:#x})", self.function, self.address)?;
        match (self.size, self.api_found, self.serial) {
            (Some(size), Some(found), Some(serial)) => {
                writeln!(
                    f,
                    "    block p={:#x}: {size} bytes originally requested, API '{found}', \
                     made by call #{serial} to debug malloc/realloc",
                    self.address
                )?;
            }
            _ => writeln!(
                f,
                "    block p={:#x}: not a block of the debug allocator",
                self.address
            )?,
        }
        match self.api_found {
            Some(found) => writeln!(
                f,
                "    API id expected '{}', found '{found}'",
                self.api_expected
            )?,
            None => writeln!(f, "    API id expected '{}'", self.api_expected)?,
        }
        f.write_str(&self.block)?;
        match (&self.allocated_at, &self.freed_at) {
            (None, None) => writeln!(
                f,
                "    Set OBJIMPL_MALLOC_TRACE=1 (or call alloc::set_trace(true)) to see where \
                 the block was allocated and freed."
            )?,
            (allocated, freed) => {
                if let Some(stack) = allocated {
                    write!(f, "    Allocated at:\n{stack}")?;
                }
                if let Some(stack) = freed {
                    write!(f, "    Freed at:\n{stack}")?;
                }
            }
        }
        Ok(())
    }
}

/// The guard lines of a report: the bytes before and after the block, as
/// CPython's `_PyObject_DebugDumpAddress` words them.
pub(crate) fn guard_lines(
    text: &mut String,
    size_field: usize,
    size: usize,
    before: &[u8],
    after: &[u8],
) {
    use fmt::Write;
    if size_field != size {
        let _ = writeln!(
            text,
            "    The size field before the block says {size_field} bytes, not {size}: overwritten."
        );
    }
    for (bytes, place, at) in [
        (before, format!("p-{}", WORD - 1), "p-"),
        (after, "tail".to_owned(), "tail+"),
    ] {
        if bytes.iter().all(|&b| b == FORBIDDEN_BYTE) {
            let _ = writeln!(
                text,
                "    The {} pad bytes at {place} are FORBIDDENBYTE, as expected.",
                bytes.len()
            );
            continue;
        }
        let _ = writeln!(
            text,
            "    The {} pad bytes at {place} are not all FORBIDDENBYTE ({FORBIDDEN_BYTE:#04x}):",
            bytes.len()
        );
        for (i, &b) in bytes.iter().enumerate() {
            // Before the block, the byte nearest to it comes last.
            let offset = if at == "p-" { bytes.len() - i } else { i };
            let ouch = if b == FORBIDDEN_BYTE { "" } else { " *** OUCH" };
            let _ = writeln!(text, "        at {at}{offset}: {b:#04x}{ouch}");
        }
    }
}

// ---------------------------------------------------------------------------
// The handler.
// ---------------------------------------------------------------------------

static HANDLER: Mutex<Option<fn(&Report)>> = Mutex::new(None);

/// Sets what happens when the debug hooks find an error: `Some(handler)`
/// receives each [`Report`] as a value and the program goes on; `None` (the
/// default) prints the report to stderr and aborts the process. Returns the
/// handler it replaces.
///
/// When the handler returns, the call that found the error does what is
/// still safe: a block whose guards were overwritten is freed as asked; a
/// double free, a free through the wrong family or of an unknown pointer
/// does nothing (and such a `realloc` returns null); a block written after
/// it was freed is recycled.
///
/// ```
/// use objimpl::alloc::{self, ErrorKind};
/// use std::sync::atomic::{AtomicUsize, Ordering};
///
/// static DOUBLE_FREES: AtomicUsize = AtomicUsize::new(0);
/// alloc::setup_debug_hooks();
/// let previous = alloc::set_error_handler(Some(|r| {
///     assert_eq!(r.kind, ErrorKind::DoubleFree);
///     DOUBLE_FREES.fetch_add(1, Ordering::Relaxed);
/// }));
/// let p = alloc::object_malloc(8);
/// // SAFETY: `p` came from `object_malloc`; the second free is the error
/// // under test, which the hooks catch before touching the allocator.
/// unsafe { alloc::object_free(p); alloc::object_free(p) };
/// assert_eq!(DOUBLE_FREES.load(Ordering::Relaxed), 1);
/// alloc::set_error_handler(previous);
/// ```
pub fn set_error_handler(handler: Option<fn(&Report)>) -> Option<fn(&Report)> {
    let mut slot = HANDLER
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    core::mem::replace(&mut *slot, handler)
}

/// Hands `report` to the handler, or prints it and aborts.
pub(crate) fn raise(report: Report) {
    let handler = *HANDLER
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    match handler {
        // The handler's blocks may outlive this call: not the hooks' own.
        Some(handler) => super::own_code::outside(|| handler(&report)),
        None => {
            // Straight to the stream: `eprint!` output of a test thread is
            // captured, and would die with the process.
            let text =
                format!("{report}objimpl: aborting: a memory error was found (see above).\n");
            let _ = std::io::Write::write_all(&mut std::io::stderr(), text.as_bytes());
            std::process::abort();
        }
    }
}

// ---------------------------------------------------------------------------
// Stacks.
// ---------------------------------------------------------------------------

static TRACE: AtomicBool = AtomicBool::new(false);

/// Turns the recording of stacks on or off (`OBJIMPL_MALLOC_TRACE=1` turns it
/// on at start). While on, the debug hooks keep, per live block, the stack
/// that allocated it and, per block in quarantine, the one that freed it,
/// and a report prints them. It costs a stack capture per call (several
/// microseconds); while off, one relaxed load.
///
/// ```
/// objimpl::alloc::set_trace(true);
/// objimpl::alloc::set_trace(false);
/// ```
pub fn set_trace(on: bool) {
    TRACE.store(on, Ordering::Relaxed);
}

/// Held by every capture of a stack: `std`'s unwinder takes locks of its
/// own (its backtrace lock, the C library's and the unwinder's), which the
/// fork handlers cannot take. They take this one first instead
/// ([`capture_lock`]), so that no thread of ours is capturing at the fork.
static CAPTURING: Mutex<()> = Mutex::new(());

/// Holds [`CAPTURING`]: no stack capture runs (nor begins) until the guard
/// goes. The first lock of the fork handlers' order (`fork.rs`).
fn capture_lock() -> MutexGuard<'static, ()> {
    // Nothing panics under it but `force_capture`, which leaves nothing
    // half-done behind it: a poisoned lock is still sound.
    fork::lock(&CAPTURE_FORK_STEP, &CAPTURING)
}

/// The capture lock across `fork()`: taken first of all.
static CAPTURE_FORK_STEP: fork::Step = fork::Step {
    rank: fork::Rank::Capture,
    prepare: || fork::hold(&CAPTURE_HELD, capture_lock()),
    release: || fork::let_go(&CAPTURE_HELD),
    child: None,
};

thread_local! {
    static CAPTURE_HELD: fork::Held<MutexGuard<'static, ()>> = const { fork::Held::new() };
}

/// Whether tracing is on: blocks then keep their stacks.
pub(crate) fn tracing() -> bool {
    TRACE.load(Ordering::Relaxed)
}

/// The calling stack, if tracing is on, captured under [`CAPTURING`].
///
/// Only the hooks' own code calls this, and only in a call that came from
/// outside them (a call nested in the hooks' own code goes straight to the
/// allocator below: see `debug/own_code.rs`), before it takes any lock of
/// theirs. So the capture lock is never taken twice by one thread, nor
/// after the quarantine's or a shard's: the fork handlers' order holds.
#[inline(always)]
pub(crate) fn capture() -> Option<Box<Backtrace>> {
    if !TRACE.load(Ordering::Relaxed) {
        return None;
    }
    capture_now()
}

#[cold]
#[inline(never)]
fn capture_now() -> Option<Box<Backtrace>> {
    let stack = {
        let _capturing = capture_lock();
        Backtrace::force_capture()
    };
    Some(Box::new(stack))
}

/// A captured stack as a report prints it: the frames from the caller of
/// the family function on, up to the program's entry, at most 16.
pub(crate) fn render(stack: &Backtrace) -> String {
    let text = stack.to_string();
    let mut frames: Vec<Vec<&str>> = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        let starts_frame = trimmed
            .split_once(": ")
            .is_some_and(|(n, _)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        match frames.last_mut() {
            Some(frame) if !starts_frame => frame.push(trimmed),
            _ => frames.push(vec![trimmed]),
        }
    }
    let name = |frame: &Vec<&str>| {
        frame[0]
            .split_once(": ")
            .map_or("", |(_, name)| name)
            .to_owned()
    };
    let internal = |name: &str| {
        name.starts_with("std::backtrace")
            || name.starts_with("objimpl_core::alloc::")
            || name.starts_with("<alloc::boxed::Box")
            || name.starts_with("alloc::boxed::Box")
    };
    let first = frames.iter().position(|f| !internal(&name(f))).unwrap_or(0);
    let mut shown: Vec<&Vec<&str>> = frames[first..]
        .iter()
        .take_while(|f| {
            let n = name(f);
            !n.contains("__rust_begin_short_backtrace") && !n.starts_with("std::rt::lang_start")
        })
        .take(16)
        .collect();
    // The closure shims between the runtime and `main` (or a thread's body).
    while shown
        .last()
        .is_some_and(|f| name(f).starts_with("core::ops::function::"))
    {
        shown.pop();
    }
    let mut out = String::new();
    for frame in shown {
        out.push_str("        ");
        out.push_str(&name(frame));
        out.push('\n');
        for at in &frame[1..] {
            out.push_str("            ");
            out.push_str(at);
            out.push('\n');
        }
    }
    if out.is_empty() {
        out.push_str("        (no frames: the stack could not be captured here)\n");
    }
    out
}
