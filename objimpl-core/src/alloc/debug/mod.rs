//! The debug hooks (CPython's `PYTHONMALLOC=debug`), an [`Allocator`] put
//! on top of each domain's by [`setup_debug_hooks`](super::setup_debug_hooks).
//!
//! Each block gets a head and a tail (`block.rs`): its size, the API id of
//! its family, forbidden bytes on both sides, a serial number. Fresh bytes
//! read 0xCD, freed ones 0xDD. On top of what CPython does, the hooks know
//! every block they handed out (`registry.rs`), so a double free or a
//! pointer they never handed out is found without reading memory that may
//! be gone; freed blocks wait in a bounded quarantine before reuse, checked
//! for writes when they leave it; and with tracing on, the stacks that
//! allocated and freed a block are kept for the report (`report.rs`).
//! While the hooks' own code runs, calls to them pass straight to the
//! allocator below (`own_code.rs`).

mod block;
mod own_code;
mod registry;
mod report;

use core::ffi::c_void;
use core::fmt::Write;
use core::ptr;
use core::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

use super::domain::{Allocator, Domain};
use block::{Guards, HEAD, OVERHEAD, WORD};
use own_code::{Own, outside};
use registry::{Base, Entry};

pub use block::{CLEAN_BYTE, DEAD_BYTE, FORBIDDEN_BYTE};
pub use registry::{QUARANTINE_BLOCKS, QUARANTINE_BYTES};
pub use report::{ErrorKind, Report, set_error_handler, set_trace};

/// The context of one domain's hooks: the domain (its API id) and the
/// allocator under the hooks. Made by [`hooks`], never freed.
pub(crate) struct DebugCtx {
    domain: Domain,
    inner: Allocator,
    /// Next in [`CONTEXTS`].
    next: *const DebugCtx,
}

// SAFETY: immutable once published; `Allocator` is `Sync`.
unsafe impl Sync for DebugCtx {}

/// Every `DebugCtx` ever made (push-only), to tell the hooks' allocators
/// from others.
static CONTEXTS: AtomicPtr<DebugCtx> = AtomicPtr::new(ptr::null_mut());

/// Allocations made through the hooks, for the serial numbers.
static SERIAL: AtomicUsize = AtomicUsize::new(0);

/// The blocks the hooks hold freed in their quarantine (of every domain),
/// and their bytes, heads and tails included: memory the program freed that
/// the allocator below still counts as in use.
pub(crate) fn quarantine_totals() -> (usize, usize) {
    registry::quarantine().totals()
}

/// The hooks for `domain`, on top of `inner`. Their context comes from the
/// C library, not a `Box`: this runs in the allocator's setup, which must
/// not allocate through the global allocator (see `system::keep`).
pub(crate) fn hooks(domain: Domain, inner: &Allocator) -> Allocator {
    let ctx = super::system::keep(DebugCtx {
        domain,
        inner: *inner,
        next: ptr::null(),
    });
    let mut head = CONTEXTS.load(Ordering::Relaxed);
    loop {
        // SAFETY: `ctx` is ours until published.
        unsafe { (*ctx).next = head };
        match CONTEXTS.compare_exchange_weak(head, ctx, Ordering::Release, Ordering::Relaxed) {
            Ok(_) => break,
            Err(now) => head = now,
        }
    }
    with_context(ctx)
}

/// The hooks' functions, made function pointers once: every allocator of
/// the hooks copies them from here. A function made a pointer twice may
/// get two addresses (under Miri it does), and [`is_hooks`] compares them.
static HOOKS: Allocator = Allocator {
    ctx: ptr::null_mut(),
    malloc: debug_malloc,
    calloc: debug_calloc,
    realloc: debug_realloc,
    free: debug_free,
};

/// The hooks' allocator of context `ctx`.
fn with_context(ctx: *const DebugCtx) -> Allocator {
    Allocator {
        ctx: ctx.cast_mut().cast(),
        ..HOOKS
    }
}

/// Whether `allocator` is the debug hooks of some domain: one of their
/// contexts with their functions. A wrapper that keeps the hooks' `ctx`
/// and calls them from its own functions is not the hooks (and the hooks
/// can go on top of it).
///
/// Function pointers do not compare reliably (see [`Allocator::same_as`]),
/// harmlessly here too. The hooks' come from one static ([`HOOKS`]), so
/// copies of them compare equal; were the hooks taken for another
/// allocator all the same, they would only get a second layer of hooks on
/// top, which works. Another allocator is taken for them only with one of
/// their contexts and their functions' addresses, that is, their code.
pub(crate) fn is_hooks(allocator: &Allocator) -> bool {
    let mut ctx = CONTEXTS.load(Ordering::Acquire);
    while !ctx.is_null() {
        if allocator.same_as(&with_context(ctx)) {
            return true;
        }
        // SAFETY: contexts are published initialised and never freed.
        ctx = unsafe { (*ctx).next }.cast_mut();
    }
    false
}

/// The context a hook function was called with.
///
/// # Safety
///
/// - `ctx` is the `ctx` of an allocator made by [`hooks`].
unsafe fn context(ctx: *mut c_void) -> &'static DebugCtx {
    // SAFETY: such contexts are leaked `DebugCtx`s, never freed.
    unsafe { &*ctx.cast::<DebugCtx>() }
}

/// The family functions' names, for the reports: `[domain][operation]`.
const FUNCTIONS: [[&str; 2]; 3] = [
    ["raw_realloc", "raw_free"],
    ["mem_realloc", "mem_free"],
    ["object_realloc", "object_free"],
];
const REALLOC: usize = 0;
const FREE: usize = 1;

fn function(domain: Domain, operation: usize) -> &'static str {
    FUNCTIONS[domain as usize][operation]
}

// ---------------------------------------------------------------------------
// The hooks' functions.
// ---------------------------------------------------------------------------

unsafe extern "C" fn debug_malloc(ctx: *mut c_void, size: usize) -> *mut c_void {
    // SAFETY: only allocators made by `hooks` have this function.
    let ctx = unsafe { context(ctx) };
    let Some(_own) = Own::enter() else {
        // SAFETY: one of the hooks' own allocations (see above); the
        // allocator below honours `Allocator`'s contract.
        return unsafe { (ctx.inner.malloc)(ctx.inner.ctx, size) };
    };
    allocate(ctx, size, CLEAN_BYTE).cast()
}

unsafe extern "C" fn debug_calloc(ctx: *mut c_void, n: usize, size: usize) -> *mut c_void {
    let Some(total) = n.checked_mul(size) else {
        return ptr::null_mut();
    };
    // SAFETY: as in `debug_malloc`.
    let ctx = unsafe { context(ctx) };
    let Some(_own) = Own::enter() else {
        // SAFETY: as in `debug_malloc`.
        return unsafe { (ctx.inner.calloc)(ctx.inner.ctx, n, size) };
    };
    allocate(ctx, total, 0).cast()
}

unsafe extern "C" fn debug_realloc(ctx: *mut c_void, p: *mut c_void, size: usize) -> *mut c_void {
    // SAFETY: as in `debug_malloc`.
    let ctx = unsafe { context(ctx) };
    let Some(_own) = Own::enter() else {
        // SAFETY: as in `debug_malloc`; `p` is null or one of the hooks'
        // own blocks, which the allocator below made.
        return unsafe { (ctx.inner.realloc)(ctx.inner.ctx, p, size) };
    };
    let q = allocate(ctx, size, CLEAN_BYTE);
    if p.is_null() || q.is_null() {
        return q.cast();
    }
    let moved = release(ctx, p.cast(), REALLOC, |old, old_size| {
        // SAFETY: `old` is the claimed block's data, `old_size` bytes; `q`
        // is a fresh block of `size` bytes, distinct from it.
        unsafe { ptr::copy_nonoverlapping(old, q, old_size.min(size)) };
    });
    if moved {
        q.cast()
    } else {
        // `p` could not be reallocated (reported): give `q` back quietly.
        release(ctx, q, FREE, |_, _| ());
        ptr::null_mut()
    }
}

unsafe extern "C" fn debug_free(ctx: *mut c_void, p: *mut c_void) {
    if p.is_null() {
        return;
    }
    // SAFETY: as in `debug_malloc`.
    let ctx = unsafe { context(ctx) };
    let Some(_own) = Own::enter() else {
        // SAFETY: as in `debug_realloc`.
        return unsafe { (ctx.inner.free)(ctx.inner.ctx, p) };
    };
    release(ctx, p.cast(), FREE, |_, _| ());
}

/// A fresh block of `size` bytes, its head and tail written, the caller's
/// bytes filled with `fill`, and known to the registry.
fn allocate(ctx: &'static DebugCtx, size: usize, fill: u8) -> *mut u8 {
    let Some(total) = size
        .checked_add(OVERHEAD)
        .filter(|&total| total <= isize::MAX as usize)
    else {
        return ptr::null_mut();
    };
    // SAFETY: the allocator below honours `Allocator`'s contract.
    let base = outside(|| unsafe { (ctx.inner.malloc)(ctx.inner.ctx, total) }).cast::<u8>();
    if base.is_null() {
        return base;
    }
    let serial = SERIAL.fetch_add(1, Ordering::Relaxed) + 1;
    let api = ctx.domain.api_id() as u8;
    // SAFETY: `base` is a fresh block of `total = size + OVERHEAD` bytes.
    unsafe { block::format(base, size, api, serial, fill) };
    // SAFETY: as above; the data starts `HEAD` bytes in.
    let p = unsafe { base.add(HEAD) };
    let entry = Entry {
        base: Base(base),
        size,
        serial,
        ctx,
        freed: false,
        allocated_at: report::capture(),
        freed_at: None,
    };
    // Whatever was there (a block the allocator below recycled behind the
    // hooks' back) is dropped after the lock.
    let stale = registry::shard(p as usize).insert(p as usize, entry);
    drop(stale);
    p
}

/// Frees `p` through `ctx`'s domain: checks it, runs `before_fill` on its
/// data (for `realloc`'s copy), fills it with 0xDD and puts it in
/// quarantine. Returns whether `p` was freed; reports what is wrong.
fn release(
    ctx: &'static DebugCtx,
    p: *mut u8,
    operation: usize,
    before_fill: impl FnOnce(*const u8, usize),
) -> bool {
    let address = p as usize;
    let function = function(ctx.domain, operation);
    let freed_at = report::capture();
    let mut reports = Vec::new();
    let freed_size = {
        let mut shard = registry::shard(address);
        match shard.get_mut(&address) {
            None => {
                let mut report =
                    new_report(ErrorKind::UnknownPointer, function, ctx, address, None);
                drop(shard);
                report.block = inside_a_block_hint(address);
                reports.push(report);
                None
            }
            Some(entry) if entry.freed => {
                let mut r = new_report(ErrorKind::DoubleFree, function, ctx, address, Some(entry));
                // SAFETY: the block is in quarantine (its entry is here,
                // under the lock): its memory is still ours.
                r.block = unsafe { describe_freed(entry) };
                reports.push(r);
                None
            }
            Some(entry) if entry.ctx.domain != ctx.domain => {
                let mut r = new_report(ErrorKind::ApiMisuse, function, ctx, address, Some(entry));
                // SAFETY: the block is live (its entry says so, under the lock).
                r.block = unsafe { describe_live(entry) };
                reports.push(r);
                None
            }
            Some(entry) => {
                // SAFETY: the block is live and, from now on, ours.
                reports.extend(unsafe { check_guards(entry, function, ctx) });
                let base = entry.base.0;
                // SAFETY: as above: the data is `size` bytes `HEAD` in.
                before_fill(unsafe { base.add(HEAD) }, entry.size);
                // SAFETY: as above: the whole block is `size + OVERHEAD` bytes.
                unsafe { base.write_bytes(DEAD_BYTE, entry.size + OVERHEAD) };
                entry.freed = true;
                entry.freed_at = freed_at;
                Some(entry.size)
            }
        }
    };
    // Almost always none: no iterator to make and drop on the way.
    if !reports.is_empty() {
        for r in reports {
            report::raise(r);
        }
    }
    let Some(size) = freed_size else {
        return false;
    };
    let mut excess = registry::quarantine().push_and_pop(address, size);
    // One block out for one in, once the quarantine is full; more only when
    // a large block came in.
    while let Some((old, old_size)) = excess {
        evict(old, old_size, function);
        excess = registry::quarantine().pop_excess();
    }
    true
}

/// Takes a block out of quarantine and gives it to the allocator below,
/// after checking it was not written since it was freed.
fn evict(address: usize, size: usize, function: &'static str) {
    let (entry, report) = {
        let mut shard = registry::shard(address);
        let Some(entry) = shard.remove(&address) else {
            return;
        };
        // SAFETY: the block was in quarantine: its memory is still ours.
        let report = unsafe { check_dead(&entry, address, function) };
        (entry, report)
    };
    debug_assert_eq!(entry.size, size);
    if let Some(r) = report {
        report::raise(r);
    }
    let inner = &entry.ctx.inner;
    // SAFETY: the block came from `inner` and has left the registry.
    outside(|| unsafe { (inner.free)(inner.ctx, entry.base.0.cast()) });
}

// ---------------------------------------------------------------------------
// Checks and reports.
// ---------------------------------------------------------------------------

/// A report on the block at `address`, as far as `entry` knows it.
/// For a pointer the hooks never handed out: if it is two words into a
/// live block they did hand out, that block is most likely an object with
/// a GC header in front (a `gc` object freed as a plain one), and the
/// report says so.
fn inside_a_block_hint(address: usize) -> String {
    let start = address.wrapping_sub(2 * size_of::<usize>());
    let shard = registry::shard(start);
    match shard.get(&start) {
        Some(entry) if !entry.freed => format!(
            "    It is {} bytes into block {start:#x} ({} bytes, API '{}'): the object of a \
             type with Py_TPFLAGS_HAVE_GC, whose GC header comes first? Free those with \
             PyObject_GC_Del (their tp_free), not PyObject_Free.\n",
            2 * size_of::<usize>(),
            entry.size,
            entry.ctx.domain.api_id()
        ),
        _ => String::new(),
    }
}

fn new_report(
    kind: ErrorKind,
    function: &'static str,
    ctx: &DebugCtx,
    address: usize,
    entry: Option<&Entry>,
) -> Report {
    Report {
        kind,
        function,
        address,
        size: entry.map(|e| e.size),
        api_expected: ctx.domain.api_id(),
        api_found: entry.map(|e| e.ctx.domain.api_id()),
        serial: entry.map(|e| e.serial),
        block: String::new(),
        allocated_at: entry.and_then(|e| e.allocated_at.as_deref().map(report::render)),
        freed_at: entry.and_then(|e| e.freed_at.as_deref().map(report::render)),
    }
}

/// Reports on the guards of a live block, if they were overwritten.
///
/// # Safety
///
/// - `entry` is a live block's, under its shard's lock.
unsafe fn check_guards(entry: &Entry, function: &'static str, ctx: &DebugCtx) -> Vec<Report> {
    let api = entry.ctx.domain.api_id() as u8;
    // SAFETY: the block is live: `size + OVERHEAD` bytes at `base`.
    let guards = unsafe { Guards::read(entry.base.0, entry.size) };
    let mut reports = Vec::new();
    for (intact, kind) in [
        (
            guards.head_intact(entry.size, api),
            ErrorKind::BufferUnderflow,
        ),
        (guards.tail_intact(), ErrorKind::BufferOverflow),
    ] {
        if !intact {
            let address = entry.base.0 as usize + HEAD;
            let mut r = new_report(kind, function, ctx, address, Some(entry));
            // SAFETY: as above.
            r.block = unsafe { describe_live(entry) };
            reports.push(r);
        }
    }
    reports
}

/// A report if a block in quarantine was written since it was freed.
///
/// # Safety
///
/// - `entry` is a quarantined block's, not yet given back below.
unsafe fn check_dead(entry: &Entry, address: usize, function: &'static str) -> Option<Report> {
    // SAFETY: the block is ours: `size + OVERHEAD` bytes at `base`.
    unsafe { block::first_not(entry.base.0, entry.size + OVERHEAD, DEAD_BYTE) }?;
    let mut r = new_report(
        ErrorKind::WriteAfterFree,
        function,
        entry.ctx,
        address,
        Some(entry),
    );
    // SAFETY: as above.
    r.block = unsafe { describe_freed(entry) };
    Some(r)
}

/// The guard lines and the dump of a live block.
///
/// # Safety
///
/// - `entry` is a live block's, under its shard's lock.
unsafe fn describe_live(entry: &Entry) -> String {
    // SAFETY: the block is live: `size + OVERHEAD` bytes at `base`.
    let guards = unsafe { Guards::read(entry.base.0, entry.size) };
    let mut text = String::new();
    report::guard_lines(
        &mut text,
        guards.size,
        entry.size,
        &guards.before,
        &guards.after,
    );
    if guards.serial != entry.serial {
        let _ = writeln!(
            text,
            "    The serial number after the block was overwritten: {:#x}.",
            guards.serial
        );
    }
    if guards.api != entry.ctx.domain.api_id() as u8 {
        let _ = writeln!(
            text,
            "    The API id byte at p-{} was overwritten: {:#04x}.",
            WORD, guards.api
        );
    }
    // SAFETY: as above.
    let data = unsafe { core::slice::from_raw_parts(entry.base.0.add(HEAD), entry.size.min(8)) };
    let _ = write!(text, "    Data at p:");
    for b in data {
        let _ = write!(text, " {b:02x}");
    }
    let _ = writeln!(text, "{}", if entry.size > 8 { " ..." } else { "" });
    let _ = writeln!(text, "    The block, head and tail included:");
    // SAFETY: as above.
    text.push_str(&unsafe { block::dump(entry.base.0, entry.size) });
    text
}

/// The bytes of a freed block that are no longer 0xDD, and its dump.
///
/// # Safety
///
/// - `entry` is a quarantined block's, not yet given back below.
unsafe fn describe_freed(entry: &Entry) -> String {
    let total = entry.size + OVERHEAD;
    // SAFETY: the block is ours: `total` bytes at `base`.
    let bytes = unsafe { core::slice::from_raw_parts(entry.base.0, total) };
    let mut text = String::new();
    let changed: Vec<usize> = (0..total).filter(|&i| bytes[i] != DEAD_BYTE).collect();
    if changed.is_empty() {
        let _ = writeln!(
            text,
            "    The block still reads {DEAD_BYTE:#04x} throughout, as freed."
        );
    } else {
        let _ = writeln!(
            text,
            "    {} bytes are no longer DEADBYTE ({DEAD_BYTE:#04x}):",
            changed.len()
        );
        for &i in changed.iter().take(8) {
            let at = i as isize - HEAD as isize;
            let _ = writeln!(text, "        at p{at:+}: {:#04x} *** OUCH", bytes[i]);
        }
        if changed.len() > 8 {
            let _ = writeln!(text, "        ...");
        }
    }
    let _ = writeln!(text, "    The block, head and tail included:");
    // SAFETY: as above.
    text.push_str(&unsafe { block::dump(entry.base.0, entry.size) });
    text
}

// ---------------------------------------------------------------------------
// What a user can ask.
// ---------------------------------------------------------------------------

/// Checks every block the debug hooks hold: the guards of each live block,
/// and that each block in quarantine still reads 0xDD (no write after
/// free). Reports each problem (see [`set_error_handler`]) and returns how
/// many it found. Without the hooks there is nothing to check: 0.
///
/// It reads only the guards of live blocks, never their data, except to
/// dump a block found broken.
///
/// ```
/// use objimpl::alloc::{self, ErrorKind};
/// use std::sync::atomic::{AtomicUsize, Ordering};
///
/// static FOUND: AtomicUsize = AtomicUsize::new(0);
/// alloc::setup_debug_hooks();
/// let previous = alloc::set_error_handler(Some(|r| {
///     assert_eq!(r.kind, ErrorKind::WriteAfterFree);
///     FOUND.fetch_add(1, Ordering::Relaxed);
/// }));
/// let p = alloc::object_malloc(32);
/// // SAFETY: `p` came from `object_malloc`.
/// unsafe { alloc::object_free(p) };
/// // SAFETY: deliberately a write after free: the block waits in quarantine,
/// // still ours, and the check sees the write.
/// unsafe { p.write(1) };
/// assert_eq!(alloc::check_memory(), 1);
/// // SAFETY: put the byte back, as freed, so the block leaves quarantine clean.
/// unsafe { p.write(alloc::DEAD_BYTE) };
/// assert_eq!(FOUND.load(Ordering::Relaxed), 1);
/// alloc::set_error_handler(previous);
/// ```
pub fn check_memory() -> usize {
    // Its reports are made under the hooks' locks.
    let _own = Own::enter_any();
    let mut reports = Vec::new();
    {
        let quarantine = registry::quarantine();
        for &(address, _) in &quarantine.blocks {
            let shard = registry::shard(address);
            if let Some(entry) = shard.get(&address) {
                // SAFETY: the block is in quarantine, which we hold locked.
                reports.extend(unsafe { check_dead(entry, address, "check_memory") });
            }
        }
    }
    registry::for_each_shard(|map| {
        for entry in map.values().filter(|e| !e.freed) {
            // SAFETY: the block is live, its shard locked.
            reports.extend(unsafe { check_guards(entry, "check_memory", entry.ctx) });
        }
    });
    let found = reports.len();
    for r in reports {
        report::raise(r);
    }
    found
}

/// What the debug hooks know of a block ([`block_info`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct BlockInfo {
    /// The bytes originally requested.
    pub size: usize,
    /// The family that allocated it.
    pub domain: Domain,
    /// Its serial number: the `serial`-th allocation through the hooks.
    pub serial: usize,
    /// Whether it was freed and waits in quarantine.
    pub freed: bool,
}

/// What the debug hooks know of the block at `p`: `None` for a pointer
/// they did not hand out (or whose block left the quarantine), and always
/// `None` without the hooks. The exact counterpart of CPython's
/// `_PyObject_IsFreed` heuristics. It never reads the block.
///
/// ```
/// use objimpl::alloc::{self, Domain};
/// alloc::setup_debug_hooks();
/// let p = alloc::mem_malloc(24);
/// let info = alloc::block_info(p).unwrap();
/// assert_eq!((info.size, info.domain, info.freed), (24, Domain::Mem, false));
/// // SAFETY: `p` came from `mem_malloc` and is freed once.
/// unsafe { alloc::mem_free(p) };
/// assert!(alloc::block_info(p).unwrap().freed);
/// assert_eq!(alloc::block_info(std::ptr::null()), None);
/// ```
pub fn block_info(p: *const u8) -> Option<BlockInfo> {
    let shard = registry::shard(p as usize);
    let entry = shard.get(&(p as usize))?;
    Some(BlockInfo {
        size: entry.size,
        domain: entry.ctx.domain,
        serial: entry.serial,
        freed: entry.freed,
    })
}
