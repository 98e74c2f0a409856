//! The debug hooks (CPython's `PYTHONMALLOC=debug`), an [`Allocator`] put
//! on top of each domain's by [`setup_debug_hooks`](super::setup_debug_hooks).
//!
//! Each block gets a head and a tail (`block.rs`): its size, the API id of
//! its family, forbidden bytes on both sides, a serial number. Fresh bytes
//! read 0xCD, freed ones 0xDD. On top of what CPython does, the hooks know
//! every block they handed out, so a double free or a pointer they never
//! handed out is found without reading memory that may be gone: a pool
//! block by a mark beside its arena (`marks.rs`), any other by an entry in
//! a table (`registry.rs`). Freed blocks wait in a bounded quarantine before
//! reuse, checked for writes when they leave it; and with tracing on, the
//! stacks that allocated and freed a block are kept for the report
//! (`report.rs`). While the hooks' own code runs, calls to them pass
//! straight to the allocator below (`own_code.rs`). What the hooks know of
//! a block, however they know it, is `known.rs`; the checks of its guards
//! and the reports' text, `checks.rs`; what a program can ask them,
//! `inspect.rs`. This file holds the hooks' functions.
//!
//! A pool block costs its head and tail (24 bytes, as in CPython's release
//! builds, which leave the serial number out: here it takes half the
//! tail) and the marks' two bits: the hooks keep no entry for it, so a program holding a million
//! small objects does not hold a million entries beside them. Freeing takes
//! one lock, its quarantine shard's, for the checks, the quarantine and the
//! block it pushes out.

mod block;
mod checks;
mod inspect;
mod known;
mod marks;
mod own_code;
mod registry;
mod report;
mod spin;

use core::ffi::c_void;
use core::ptr;
use core::sync::atomic::{AtomicPtr, Ordering};
use std::backtrace::Backtrace;

use super::domain::{Allocator, Domain};
use super::free;
use super::malloc as pool;
use block::{HEAD, OVERHEAD, Serial};
use checks::{check_guards, describe_freed, describe_live, new_report, written_after_free};
use inspect::{inside_a_block_hint, with_pool_frees_held};
use known::{Known, domain_of, is_api_id, known_entry, known_entry_freed, known_freed, known_live};
use marks::{Mark, Place};
use own_code::{Own, outside};
use registry::{Base, Entry, Freed, Traces};

pub use block::{CLEAN_BYTE, DEAD_BYTE, FORBIDDEN_BYTE};
pub use inspect::{BlockInfo, block_info, check_memory};
pub use registry::{QUARANTINE_BLOCKS, QUARANTINE_BYTES};
pub use report::{ErrorKind, Report, set_error_handler, set_trace};

/// The context of one domain's hooks: the domain (its API id) and the
/// allocator under the hooks. Made by [`hooks`], never freed.
pub(crate) struct DebugCtx {
    domain: Domain,
    inner: Allocator,
    /// Whether `inner` is the pool allocator: its blocks in arenas are then
    /// marked, not entered in the table.
    pooled: bool,
    /// Next in [`CONTEXTS`].
    next: *const DebugCtx,
}

// SAFETY: immutable once published; `Allocator` is `Sync`.
unsafe impl Sync for DebugCtx {}

/// Every `DebugCtx` ever made (push-only), to tell the hooks' allocators
/// from others.
static CONTEXTS: AtomicPtr<DebugCtx> = AtomicPtr::new(ptr::null_mut());

/// The blocks the hooks hold freed in their quarantine (of every domain),
/// and their bytes, heads and tails included: memory the program freed that
/// the allocator below still counts as in use.
pub(crate) fn quarantine_totals() -> (usize, usize) {
    registry::quarantine_totals()
}

/// The hooks for `domain`, on top of `inner`. Their context comes from the
/// C library, not a `Box`: this runs in the allocator's setup, which must
/// not allocate through the global allocator (see `system::keep`).
pub(crate) fn hooks(domain: Domain, inner: &Allocator) -> Allocator {
    // Before any of their functions can run: their frees lock a quarantine
    // shard without registering them.
    registry::register_fork_steps();
    let ctx = super::system::keep(DebugCtx {
        domain,
        inner: *inner,
        pooled: inner.same_as(&POOL),
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
    if !p.is_null()
        && let Some(q) = resize(ctx, p.cast(), size)
    {
        return q.cast();
    }
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
    if !free_clean_pool_block(ctx, p.cast()) {
        release(ctx, p.cast(), FREE, |_, _| ());
    }
}

/// The common free, in short: a live pool block of the hooks, freed through
/// its own family, its head and tail intact, with tracing off; the blocks
/// it pushes out of the quarantine clean pool blocks too. What `release`
/// does then, without its reports and its table. Returns false, having
/// changed nothing, for any other free (which `release` then makes), and
/// hands a block it pushed out that is not clean to `evict`.
#[inline]
fn free_clean_pool_block(ctx: &'static DebugCtx, p: *mut u8) -> bool {
    if report::tracing() {
        return false;
    }
    let Some(place) = Place::of(p.wrapping_sub(HEAD), false) else {
        return false;
    };
    let mut quarantine = registry::quarantine();
    if !place.claim() {
        return false;
    }
    let api = ctx.domain.api_id() as u8;
    // SAFETY: claimed, under a quarantine shard: the block is this free's.
    let known = unsafe { known_live(place) };
    let Some(size) = known.size.filter(|_| known.intact && known.api == api) else {
        place.unclaim();
        return false;
    };
    // SAFETY: as above: the block is `size + OVERHEAD` bytes.
    unsafe { known.base.write_bytes(DEAD_BYTE, size + OVERHEAD) };
    let mut oldest = quarantine.push(Freed {
        base: Base(known.base),
        size,
        serial: known.serial.unwrap_or(0),
        domain: ctx.domain,
        marked: true,
    });
    // What a block pushed out needs after the lock: almost never anything.
    let mut after: Option<Box<(Vec<Report>, Vec<Leaving>)>> = None;
    while let Some(old) = oldest.take().or_else(|| quarantine.pop_excess()) {
        if !give_back_if_clean(&old) {
            let (reports, leaving) = &mut **after.get_or_insert_default();
            leaving.extend(evict(old, function(ctx.domain, FREE), reports));
        }
    }
    drop(quarantine);
    if let Some(after) = after {
        let (reports, leaving) = *after;
        after_free(reports, leaving);
    }
    true
}

/// Raises the reports on the blocks a free pushed out of the quarantine,
/// and gives back below those of the table.
#[cold]
fn after_free(reports: Vec<Report>, leaving: Vec<Leaving>) {
    for r in reports {
        report::raise(r);
    }
    for left in leaving {
        // SAFETY: the block came from `inner` and has left the hooks.
        outside(|| unsafe { (left.inner.free)(left.inner.ctx, left.base.cast()) });
    }
}

/// Reallocates a clean live block of the hooks without moving it through
/// the quarantine, as CPython's hooks reallocate: a pool block that its
/// block still fits (by three quarters at least, as the pools reallocate)
/// in place, a block of the table by the allocator below's `realloc`. Its
/// head and tail are written afresh, with a new serial number, and bytes
/// it gains read 0xCD. `None`, having changed nothing, for any other
/// block, which `debug_realloc` then moves, reporting what is wrong; with
/// tracing on, every block moves, so that its stacks follow it.
/// `Some(null)` if the allocator below could not reallocate: the block is
/// as it was.
fn resize(ctx: &'static DebugCtx, p: *mut u8, size: usize) -> Option<*mut u8> {
    if report::tracing() {
        return None;
    }
    let total = size.checked_add(OVERHEAD)?;
    let api = ctx.domain.api_id() as u8;
    if let Some(place) = Place::of(p.wrapping_sub(HEAD), false) {
        // Under a quarantine shard, claimed: the block is this call's, and
        // `check_memory` does not read it meanwhile.
        let _quarantine = registry::quarantine();
        if !place.claim() {
            return None;
        }
        // SAFETY: claimed, under a quarantine shard.
        let known = unsafe { known_live(place) };
        let fits = total <= known.span && 4 * total > 3 * known.span;
        let Some(old) = known
            .size
            .filter(|_| known.intact && known.api == api && fits)
        else {
            place.unclaim();
            return None;
        };
        let serial = block::next_serial();
        // SAFETY: the block is this call's, `span >= total` bytes.
        unsafe { block::reformat(known.base, old, size, api, serial) };
        place.unclaim();
        return Some(p);
    }
    let address = p as usize;
    let entry = {
        let mut table = registry::table(address);
        let entry = table.entries.get(&address)?;
        // SAFETY: live (its entry says so), under its table shard.
        let clean =
            !entry.freed && entry.ctx.domain == ctx.domain && unsafe { known_entry(entry) }.intact;
        if !clean {
            return None;
        }
        // Out of the table, the block is this call's: a free of it meanwhile
        // (a double free) finds no entry and reads nothing.
        table.entries.remove(&address)?
    };
    let inner = entry.ctx.inner;
    // SAFETY: the block came from `inner` and is this call's.
    let base =
        outside(|| unsafe { (inner.realloc)(inner.ctx, entry.base.0.cast(), total) }).cast::<u8>();
    if base.is_null() {
        registry::table(address).entries.insert(address, entry);
        return Some(ptr::null_mut());
    }
    let serial = block::next_serial();
    // SAFETY: `base` holds `total` bytes, the first `entry.size + OVERHEAD`
    // (or `total`, if fewer) the block's as they were.
    unsafe { block::reformat(base, entry.size.min(size), size, api, serial) };
    // SAFETY: as above; the data starts `HEAD` bytes in.
    let q = unsafe { base.add(HEAD) };
    // Recorded afresh: the pool allocator may have moved a shrunk block into
    // a pool.
    record(entry.ctx, base, size, serial);
    Some(q)
}

/// Records a block the allocator below of `ctx` just handed out at `base`
/// (or moved there): a pool block by its mark, any other by an entry in the
/// table, which replaces a stale one (of a block the allocator below took
/// back behind the hooks' back).
#[inline]
fn record(ctx: &'static DebugCtx, base: *mut u8, size: usize, serial: Serial) {
    if ctx.pooled
        && let Some(place) = Place::of(base, true)
    {
        place.set_live();
    } else {
        enter_in_table(ctx, base, size, serial);
    }
}

/// [`record`] for a block outside the pools: out of line, with the table's
/// code.
#[inline(never)]
fn enter_in_table(ctx: &'static DebugCtx, base: *mut u8, size: usize, serial: Serial) {
    let entry = Entry {
        base: Base(base),
        size,
        serial,
        ctx,
        freed: false,
    };
    let address = base as usize + HEAD;
    registry::table(address).entries.insert(address, entry);
}

/// A fresh block of `size` bytes, its head and tail written, the caller's
/// bytes filled with `fill`, and marked (a pool block) or entered in the
/// table (any other).
fn allocate(ctx: &'static DebugCtx, size: usize, fill: u8) -> *mut u8 {
    let Some(total) = size
        .checked_add(OVERHEAD)
        .filter(|&total| total <= isize::MAX as usize)
    else {
        return ptr::null_mut();
    };
    let allocated_at = report::capture();
    // The pool allocator never calls the hooks: it runs as their own code,
    // without the thread-local flag's two writes. Any other may be hooks in
    // turn, which check their blocks.
    let base = if ctx.pooled {
        // The pools' `malloc` itself, inlined: `POOL`'s function, without
        // the call through its pointer.
        pool::malloc(total).cast()
    } else {
        // SAFETY: the allocator below honours `Allocator`'s contract.
        outside(|| unsafe { (ctx.inner.malloc)(ctx.inner.ctx, total) })
    }
    .cast::<u8>();
    if base.is_null() {
        return base;
    }
    let serial = block::next_serial();
    let api = ctx.domain.api_id() as u8;
    // SAFETY: `base` is a fresh block of `total = size + OVERHEAD` bytes.
    unsafe { block::format(base, size, api, serial, fill) };
    record(ctx, base, size, serial);
    // SAFETY: as above; the data starts `HEAD` bytes in.
    let p = unsafe { base.add(HEAD) };
    // Moved out whole, so that no drop of an empty stack is left behind on
    // the untraced path (it was an out-of-line call every block).
    if let Some(stack) = allocated_at {
        record_stack(p, stack);
    }
    p
}

/// Keeps the stack that allocated `p`, for the reports on it.
#[cold]
fn record_stack(p: *mut u8, stack: Box<Backtrace>) {
    let traces = Traces {
        allocated_at: Some(stack),
        freed_at: None,
    };
    let mut table = registry::table(p as usize);
    // What was there is dropped after the lock.
    let stale = table.traces.insert(p as usize, traces);
    drop(table);
    drop(stale);
}

/// A block leaving the hooks: given back below after the quarantine
/// shard's lock.
struct Leaving {
    base: *mut u8,
    inner: Allocator,
}

/// The pool allocator, below every pool block the hooks marked.
const POOL: Allocator = Allocator::pymalloc();

/// Frees `p` through `ctx`'s domain: checks it, runs `before_fill` on its
/// data (for `realloc`'s copy), fills it with 0xDD and puts it in a
/// quarantine shard, under whose lock it all happens, as do the
/// checks of the blocks it pushes out. Returns whether `p` was freed;
/// reports what is wrong.
fn release(
    ctx: &'static DebugCtx,
    p: *mut u8,
    operation: usize,
    before_fill: impl FnOnce(*const u8, usize),
) -> bool {
    let address = p as usize;
    let function = function(ctx.domain, operation);
    let api = ctx.domain.api_id() as u8;
    let freed_at = report::capture();
    let place = Place::of(p.wrapping_sub(HEAD), false);
    let mut reports = Vec::new();
    let mut guard_reports = Vec::new();
    let mut leaving = Vec::new();
    let mut double_freed_pool_block = false;
    // Checks the block, copies its data out for `realloc` and fills it: the
    // block is the hooks' (claimed, or its entry about to say freed, under
    // its table shard), under the quarantine shard of this free.
    let mut before_fill = Some(before_fill);
    let mut scrub = |known: &Known| {
        if !known.intact {
            // SAFETY: as above.
            guard_reports = unsafe { check_guards(known, function, api, address, None) };
        }
        let size = known.size.unwrap_or(known.span - OVERHEAD);
        if let Some(before_fill) = before_fill.take() {
            // SAFETY: as above: the data is `size` bytes `HEAD` in.
            before_fill(unsafe { known.base.add(HEAD) }, size);
        }
        // SAFETY: as above: the block is `size + OVERHEAD <= span` bytes.
        unsafe { known.base.write_bytes(DEAD_BYTE, size + OVERHEAD) };
        size
    };
    let released = 'freeing: {
        let mut quarantine = registry::quarantine();
        let (known, size, place) = match place.filter(|place| place.claim()) {
            // A live pool block of the hooks, now this free's alone.
            Some(place) => {
                // SAFETY: claimed, under a quarantine shard.
                let known = unsafe { known_live(place) };
                if known.api != api && is_api_id(known.api) {
                    place.unclaim();
                    drop(quarantine);
                    let mut r = new_report(
                        ErrorKind::ApiMisuse,
                        function,
                        api,
                        address,
                        Some(&known),
                        None,
                    );
                    attach_traces(&mut r);
                    // Live again: another free may come; read it as
                    // `block_info` does.
                    r.block = with_pool_frees_held(|| {
                        // SAFETY: live, and no pool block is being freed.
                        unsafe { describe_live(&known) }
                    });
                    reports.push(r);
                    break 'freeing false;
                }
                let size = scrub(&known);
                (known, size, Some(place))
            }
            None => {
                let mut table = registry::table(address);
                let table = &mut *table;
                let traces = table.traces.get(&address);
                match table.entries.get_mut(&address) {
                    Some(entry) if entry.freed || entry.ctx.domain != ctx.domain => {
                        let (kind, known, block) = if entry.freed {
                            let known = known_entry_freed(entry);
                            // SAFETY: in quarantine (its entry says so, under
                            // its table shard): its memory is still the hooks'.
                            let block = unsafe { describe_freed(&known) };
                            (ErrorKind::DoubleFree, known, block)
                        } else {
                            // SAFETY: live (its entry says so, under its table
                            // shard).
                            let known = unsafe { known_entry(entry) };
                            // SAFETY: as above.
                            let block = unsafe { describe_live(&known) };
                            (ErrorKind::ApiMisuse, known, block)
                        };
                        let mut r = new_report(kind, function, api, address, Some(&known), traces);
                        r.block = block;
                        reports.push(r);
                        break 'freeing false;
                    }
                    Some(entry) => {
                        // SAFETY: live, under its table shard.
                        let known = unsafe { known_entry(entry) };
                        let size = scrub(&known);
                        entry.freed = true;
                        (known, size, None)
                    }
                    None => {
                        double_freed_pool_block =
                            place.is_some_and(|place| place.mark() == Mark::Quarantined);
                        break 'freeing false;
                    }
                }
            }
        };
        if freed_at.is_some() {
            registry::table(address)
                .traces
                .entry(address)
                .or_default()
                .freed_at = freed_at;
        }
        let mut oldest = quarantine.push(Freed {
            base: Base(known.base),
            size,
            serial: known.serial.unwrap_or(0),
            domain: domain_of(known.api).unwrap_or(ctx.domain),
            marked: place.is_some(),
        });
        // One block out for one in, once the shard is full; more only when a
        // large block came in.
        while let Some(old) = oldest.take().or_else(|| quarantine.pop_excess()) {
            leaving.extend(evict(old, function, &mut reports));
        }
        drop(quarantine);
        true
    };
    // Almost always none of these: nothing to move or drop on the way.
    if !released || !guard_reports.is_empty() || !reports.is_empty() {
        raise_after_free(guard_reports, reports, released, || {
            stray_free_report(function, api, address, double_freed_pool_block)
        });
    }
    if !leaving.is_empty() {
        after_free(Vec::new(), leaving);
    }
    released
}

/// Raises a free's reports: the freed block's own first (with its stacks),
/// then those of the blocks it pushed out; or, for a free that freed
/// nothing and found nothing to say, the report `stray` writes.
#[cold]
fn raise_after_free(
    mut own: Vec<Report>,
    pushed_out: Vec<Report>,
    released: bool,
    stray: impl FnOnce() -> Report,
) {
    for r in &mut own {
        attach_traces(r);
    }
    if !released && own.is_empty() && pushed_out.is_empty() {
        own.push(stray());
    }
    for r in own.into_iter().chain(pushed_out) {
        report::raise(r);
    }
}

/// The report on a free of an address that is neither a live pool block of
/// the hooks nor in their table: a pool block freed twice (found in a
/// quarantine shard, where it is read), or an address never handed out.
#[cold]
fn stray_free_report(function: &'static str, api: u8, address: usize, quarantined: bool) -> Report {
    if quarantined {
        let found = registry::find_in_quarantines(|quarantine| {
            let freed = quarantine.find(address)?;
            let known = known_freed(freed);
            // SAFETY: in quarantine, its shard locked.
            let block = unsafe { describe_freed(&known) };
            Some((known, block))
        });
        // Not found: the thread that freed it first is still at it, or it
        // has just left the quarantine.
        if let Some((known, block)) = found {
            let mut r = new_report(
                ErrorKind::DoubleFree,
                function,
                api,
                address,
                Some(&known),
                None,
            );
            r.block = block;
            attach_traces(&mut r);
            return r;
        }
    }
    let mut r = new_report(
        ErrorKind::UnknownPointer,
        function,
        api,
        address,
        None,
        None,
    );
    r.block = inside_a_block_hint(address).unwrap_or_default();
    r
}

/// Adds to a report the stacks of its block, with tracing on.
fn attach_traces(report: &mut Report) {
    if !report::tracing() {
        return;
    }
    let table = registry::table(report.address);
    if let Some(traces) = table.traces.get(&report.address) {
        report.allocated_at = traces.allocated_at.as_deref().map(report::render);
        report.freed_at = traces.freed_at.as_deref().map(report::render);
    }
}

/// Gives a block leaving the quarantine back to the pools, if it is a pool
/// block that still reads as freed and has no stacks to drop (tracing
/// off): the common case, with nothing to report and no table to touch.
/// Under the quarantine shard it waited in.
#[inline]
fn give_back_if_clean(freed: &Freed) -> bool {
    if !freed.marked {
        return false;
    }
    let span = freed.size + OVERHEAD;
    // SAFETY: the block is in quarantine: its memory is still the hooks'.
    if report::tracing() || unsafe { block::first_not(freed.base.0, span, DEAD_BYTE) }.is_some() {
        return false;
    }
    // SAFETY: a block of the pools, which has left the hooks. (The pool
    // allocator never calls the hooks: see `allocate`.)
    unsafe { give_to_pools(freed) };
    true
}

/// Gives a pool block that left the quarantine back to the pools, freed by
/// its size (the request the hooks made for it), which names its class: the
/// pools' `free` then need not look the class up through the block. Its
/// mark stays quarantined until the pools hand it out again (`marks.rs`).
///
/// # Safety
///
/// - `freed` is a pool block of the hooks that has left their quarantine.
#[inline]
unsafe fn give_to_pools(freed: &Freed) {
    let base = freed.base.0;
    match pool::class_up_to::<{ pool::SMALL }>(freed.size + OVERHEAD) {
        // SAFETY: a live block of the pools' `malloc`, of the class its
        // request took, given up by the caller.
        Some(class) => unsafe { free::free_in(base, class) },
        // SAFETY: as above (a request past the pools' never made a pool
        // block; `free` takes any block).
        None => unsafe { free::free(base) },
    }
}

/// Takes a block out of quarantine, under the quarantine shard it waited
/// in: checks it was not written since it was freed, and removes its
/// entry (a pool block's mark stays quarantined). A pool block goes back
/// to the pools there (they take locks after the hooks' in the fork order,
/// and never call the hooks); any other is given back below after the
/// lock, as that allocator may be hooks in turn.
fn evict(freed: Freed, function: &'static str, reports: &mut Vec<Report>) -> Option<Leaving> {
    if give_back_if_clean(&freed) {
        return None;
    }
    // SAFETY: the block is in quarantine: its memory is still the hooks'.
    let written = || unsafe { block::first_not(freed.base.0, freed.size + OVERHEAD, DEAD_BYTE) };
    if freed.marked {
        let traces = registry::table(freed.address())
            .traces
            .remove(&freed.address());
        if written().is_some() {
            reports.push(written_after_free(&freed, function, traces.as_ref()));
        }
        // SAFETY: as in `give_back_if_clean`.
        unsafe { give_to_pools(&freed) };
        return None;
    }
    let mut table = registry::table(freed.address());
    let traces = table.traces.remove(&freed.address());
    // Checked under its entry's shard, where a double free reads it.
    if written().is_some() {
        reports.push(written_after_free(&freed, function, traces.as_ref()));
    }
    let entry = table.entries.remove(&freed.address())?;
    Some(Leaving {
        base: freed.base.0,
        inner: entry.ctx.inner,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pool block's mark stays quarantined once it leaves the quarantine;
    /// handed out again by hooks that keep their blocks in the table, its
    /// address is theirs: `block_info` looks there when no quarantine holds
    /// it.
    #[test]
    fn an_address_that_left_the_quarantine_is_found_in_the_table_of_other_hooks() {
        let marked = hooks(Domain::Object, &POOL);
        // The pools' functions (which ignore their context) under a
        // context of their own: to the hooks over them, not the pool
        // allocator, so that they keep its blocks in their table.
        let over_a_wrapper = Allocator {
            ctx: ptr::dangling_mut(),
            ..POOL
        };
        let tabled = hooks(Domain::Mem, &over_a_wrapper);
        assert!(!ctx_of(&tabled).pooled && ctx_of(&marked).pooled);
        // SAFETY: the hooks' functions with their own contexts, each block
        // freed once, through the hooks that made it.
        unsafe {
            let p = (marked.malloc)(marked.ctx, 40);
            (marked.free)(marked.ctx, p);
            // Frees of another class push it out of the quarantine.
            for _ in 0..16 * QUARANTINE_BLOCKS {
                if block_info(p.cast()).is_none() {
                    break;
                }
                let q = (marked.malloc)(marked.ctx, 8);
                (marked.free)(marked.ctx, q);
            }
            assert_eq!(block_info(p.cast()), None, "it left the quarantine");
            // The pools hand its block out again (last in, first out), the
            // same size through the other hooks: now in their table.
            let mut others = Vec::new();
            let found = (0..64).any(|_| {
                let q = (tabled.malloc)(tabled.ctx, 40);
                others.push(q);
                q == p
            });
            assert!(found, "the pools did not hand the block out again");
            let info = block_info(p.cast()).expect("a live block of the other hooks");
            assert_eq!(
                (info.size, info.domain, info.freed),
                (40, Domain::Mem, false)
            );
            for q in others {
                (tabled.free)(tabled.ctx, q);
            }
        }
    }

    fn ctx_of(allocator: &Allocator) -> &'static DebugCtx {
        // SAFETY: made by `hooks`.
        unsafe { context(allocator.ctx) }
    }
}
