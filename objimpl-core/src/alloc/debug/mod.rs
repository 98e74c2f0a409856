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
//! straight to the allocator below (`own_code.rs`).
//!
//! A pool block costs what it costs under CPython's hooks, its head and
//! tail, and the marks' two bits: the hooks keep no entry for it, so a
//! program holding a million small objects does not hold a million entries
//! beside them. Freeing takes one lock, its shard's, for the checks, the
//! quarantine and the block it pushes out.

mod block;
mod marks;
mod own_code;
mod registry;
mod report;

use core::ffi::c_void;
use core::fmt::Write;
use core::ptr;
use core::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

use super::arena;
use super::domain::{Allocator, Domain};
use block::{Guards, HEAD, OVERHEAD, WORD};
use marks::{Mark, Place};
use own_code::{Own, outside};
use registry::{Base, Entry, Freed, Traces};

pub use block::{CLEAN_BYTE, DEAD_BYTE, FORBIDDEN_BYTE};
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

/// Allocations made through the hooks, for the serial numbers.
static SERIAL: AtomicUsize = AtomicUsize::new(0);

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
        place.set_live();
        return false;
    };
    // SAFETY: as above: the block is `size + OVERHEAD` bytes.
    unsafe { known.base.write_bytes(DEAD_BYTE, size + OVERHEAD) };
    quarantine.push(Freed {
        address: p as usize,
        base: Base(known.base),
        size,
        serial: known.serial.unwrap_or(0),
        domain: ctx.domain,
        place: Some(place),
    });
    // What a block pushed out needs after the lock: almost never anything.
    let mut after: Option<Box<(Vec<Report>, Vec<Leaving>)>> = None;
    while let Some(old) = quarantine.pop_excess() {
        let span = old.size + OVERHEAD;
        // SAFETY: in quarantine: the block is still the hooks'.
        let clean = || unsafe { block::first_not(old.base.0, span, DEAD_BYTE) }.is_none();
        match old.place {
            Some(place) if clean() => {
                place.clear();
                // SAFETY: a block of the pools, which has left the hooks. (The
                // pool allocator never calls the hooks: see `allocate`.)
                unsafe { (POOL.free)(POOL.ctx, old.base.0.cast()) };
            }
            _ => {
                let (reports, leaving) = &mut **after.get_or_insert_default();
                leaving.extend(evict(old, function(ctx.domain, FREE), reports));
            }
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
            place.set_live();
            return None;
        };
        let serial = SERIAL.fetch_add(1, Ordering::Relaxed) + 1;
        // SAFETY: the block is this call's, `span >= total` bytes.
        unsafe { block::reformat(known.base, old, size, api, serial) };
        place.set_live();
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
    let serial = SERIAL.fetch_add(1, Ordering::Relaxed) + 1;
    // SAFETY: `base` holds `total` bytes, the first `entry.size + OVERHEAD`
    // (or `total`, if fewer) the block's as they were.
    unsafe { block::reformat(base, entry.size.min(size), size, api, serial) };
    // SAFETY: as above; the data starts `HEAD` bytes in.
    let q = unsafe { base.add(HEAD) };
    // The pool allocator may have moved a shrunk block into a pool.
    match Place::of(base, true).filter(|_| entry.ctx.pooled) {
        Some(place) => place.set_live(),
        None => {
            let entry = Entry {
                base: Base(base),
                size,
                serial,
                ..entry
            };
            registry::table(q as usize)
                .entries
                .insert(q as usize, entry);
        }
    }
    Some(q)
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
        // SAFETY: the pool allocator serves any size.
        unsafe { (POOL.malloc)(POOL.ctx, total) }
    } else {
        // SAFETY: the allocator below honours `Allocator`'s contract.
        outside(|| unsafe { (ctx.inner.malloc)(ctx.inner.ctx, total) })
    }
    .cast::<u8>();
    if base.is_null() {
        return base;
    }
    let serial = SERIAL.fetch_add(1, Ordering::Relaxed) + 1;
    let api = ctx.domain.api_id() as u8;
    // SAFETY: `base` is a fresh block of `total = size + OVERHEAD` bytes.
    unsafe { block::format(base, size, api, serial, fill) };
    // SAFETY: as above; the data starts `HEAD` bytes in.
    let p = unsafe { base.add(HEAD) };
    let address = p as usize;
    let place = if ctx.pooled {
        Place::of(base, true)
    } else {
        None
    };
    if let Some(place) = place {
        place.set_live();
    }
    if place.is_none() || allocated_at.is_some() {
        let mut table = registry::table(address);
        if place.is_none() {
            let entry = Entry {
                base: Base(base),
                size,
                serial,
                ctx,
                freed: false,
            };
            // A stale entry (of a block the allocator below took back behind
            // the hooks' back) is simply replaced.
            table.entries.insert(address, entry);
        }
        if allocated_at.is_some() {
            let traces = Traces {
                allocated_at,
                freed_at: None,
            };
            // What was there is dropped after the lock.
            let stale = table.traces.insert(address, traces);
            drop(table);
            drop(stale);
        }
    }
    p
}

/// A block the hooks hold, as they know it: from its entry, or from its
/// mark and its head (a pool block).
struct Known {
    /// The head's first byte, with provenance over the whole block.
    base: *mut u8,
    /// The bytes the caller asked for: `None` for a pool block whose size
    /// field was overwritten with a size its block cannot hold.
    size: Option<usize>,
    /// The bytes the block may be read over from `base`.
    span: usize,
    /// The API id of the family that made it (read from the head of a pool
    /// block).
    api: u8,
    /// Its serial number (read from the tail of a live pool block).
    serial: Option<usize>,
    /// Whether its head and tail read as the hooks wrote them (for a block
    /// in quarantine: not looked at, true).
    intact: bool,
}

/// A pool block marked live, as its head describes it.
///
/// # Safety
///
/// - `place` is marked live, under its shard's lock.
unsafe fn known_live(place: Place) -> Known {
    let base = place.base();
    // The pool is in use while the block is: its class is there.
    let span = place.capacity().unwrap_or(OVERHEAD);
    // SAFETY: the block is live, at least `OVERHEAD` bytes.
    let (size_field, api) = unsafe { block::head(base) };
    if size_field <= span - OVERHEAD {
        // SAFETY: as above; the tail lies within the block.
        let guards = unsafe { Guards::read(base, size_field) };
        return Known {
            base,
            size: Some(size_field),
            span,
            api,
            serial: Some(guards.serial),
            intact: guards.tail_intact() && guards.head_intact(size_field, api) && is_api_id(api),
        };
    }
    // SAFETY: the block is live, `span` bytes.
    let size = unsafe { block::find_tail(base, span, SERIAL.load(Ordering::Relaxed)) };
    // SAFETY: as above.
    let serial = size.map(|size| unsafe { Guards::read(base, size) }.serial);
    Known {
        base,
        size,
        span,
        api,
        serial,
        intact: false,
    }
}

/// A block of the table, live.
///
/// # Safety
///
/// - `entry` is a live block's, under its table shard.
unsafe fn known_entry(entry: &Entry) -> Known {
    let api = entry.ctx.domain.api_id() as u8;
    // SAFETY: as the caller guarantees: `size + OVERHEAD` bytes at `base`.
    let guards = unsafe { Guards::read(entry.base.0, entry.size) };
    Known {
        base: entry.base.0,
        size: Some(entry.size),
        span: entry.size + OVERHEAD,
        api,
        serial: Some(entry.serial),
        intact: guards.tail_intact() && guards.head_intact(entry.size, api),
    }
}

/// A block of the table in quarantine: its guards are not looked at.
fn known_entry_freed(entry: &Entry) -> Known {
    Known {
        base: entry.base.0,
        size: Some(entry.size),
        span: entry.size + OVERHEAD,
        api: entry.ctx.domain.api_id() as u8,
        serial: Some(entry.serial),
        intact: true,
    }
}

fn known_freed(freed: &Freed) -> Known {
    Known {
        base: freed.base.0,
        size: Some(freed.size),
        span: freed.size + OVERHEAD,
        api: freed.domain.api_id() as u8,
        serial: Some(freed.serial),
        intact: true,
    }
}

/// A block leaving the hooks: given back below after the shard's lock.
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
                    place.set_live();
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
                    Some(entry) if entry.freed => {
                        let known = known_entry_freed(entry);
                        let mut r = new_report(
                            ErrorKind::DoubleFree,
                            function,
                            api,
                            address,
                            Some(&known),
                            traces,
                        );
                        // SAFETY: in quarantine (its entry says so, under its
                        // table shard): its memory is still the hooks'.
                        r.block = unsafe { describe_freed(&known) };
                        reports.push(r);
                        break 'freeing false;
                    }
                    Some(entry) if entry.ctx.domain != ctx.domain => {
                        // SAFETY: live, under its table shard.
                        let known = unsafe { known_entry(entry) };
                        let mut r = new_report(
                            ErrorKind::ApiMisuse,
                            function,
                            api,
                            address,
                            Some(&known),
                            traces,
                        );
                        // SAFETY: live (its entry says so, under its table shard).
                        r.block = unsafe { describe_live(&known) };
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
        quarantine.push(Freed {
            address,
            base: Base(known.base),
            size,
            serial: known.serial.unwrap_or(0),
            domain: domain_of(known.api).unwrap_or(ctx.domain),
            place,
        });
        // One block out for one in, once the shard is full; more only when a
        // large block came in.
        while let Some(old) = quarantine.pop_excess() {
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

/// Runs `f` with every quarantine shard locked: no pool block is being
/// freed meanwhile, so the head and tail of one marked live may be read.
fn with_pool_frees_held<R>(f: impl FnOnce() -> R) -> R {
    let _held = registry::all_quarantines();
    f()
}

/// Takes a block out of quarantine, under the quarantine shard it waited
/// in: checks it was not written since it was freed, and clears its mark
/// or entry. A pool block goes back to the pools there (they take locks
/// after the hooks' in the fork order, and never call the hooks); any
/// other is given back below after the lock, as that allocator may be
/// hooks in turn.
fn evict(freed: Freed, function: &'static str, reports: &mut Vec<Report>) -> Option<Leaving> {
    // SAFETY: the block is in quarantine: its memory is still the hooks'.
    let written = || unsafe { block::first_not(freed.base.0, freed.size + OVERHEAD, DEAD_BYTE) };
    match freed.place {
        Some(place) => {
            if written().is_some() || report::tracing() {
                let traces = registry::table(freed.address).traces.remove(&freed.address);
                if written().is_some() {
                    reports.push(written_after_free(&freed, function, traces.as_ref()));
                }
            }
            place.clear();
            // SAFETY: a block of the pools, which has left the hooks. (The
            // pool allocator never calls the hooks: see `allocate`.)
            unsafe { (POOL.free)(POOL.ctx, freed.base.0.cast()) };
            None
        }
        None => {
            let mut table = registry::table(freed.address);
            let traces = table.traces.remove(&freed.address);
            // Checked under its entry's shard, where a double free reads it.
            if written().is_some() {
                reports.push(written_after_free(&freed, function, traces.as_ref()));
            }
            let entry = table.entries.remove(&freed.address)?;
            Some(Leaving {
                base: freed.base.0,
                inner: entry.ctx.inner,
            })
        }
    }
}

/// The report on a block written to in quarantine.
#[cold]
fn written_after_free(freed: &Freed, function: &'static str, traces: Option<&Traces>) -> Report {
    let known = known_freed(freed);
    let mut r = new_report(
        ErrorKind::WriteAfterFree,
        function,
        known.api,
        freed.address,
        Some(&known),
        traces,
    );
    // SAFETY: the block is in quarantine: its memory is still the hooks'.
    r.block = unsafe { describe_freed(&known) };
    r
}

// ---------------------------------------------------------------------------
// Checks and reports.
// ---------------------------------------------------------------------------

fn is_api_id(byte: u8) -> bool {
    domain_of(byte).is_some()
}

/// If `address`, which the hooks never handed out, lies two words into a
/// live block they did: that block is most likely an object with a GC
/// header in front (a `gc` object freed as a plain one), and the report
/// says so.
fn inside_a_block_hint(address: usize) -> Option<String> {
    let start = address.wrapping_sub(2 * size_of::<usize>());
    let (size, api) = live_size_and_api(start)?;
    Some(format!(
        "    It is {} bytes into block {start:#x} ({size} bytes, API '{}'): the object of a \
         type with Py_TPFLAGS_HAVE_GC, whose GC header comes first? Free those with \
         PyObject_GC_Del (their tp_free), not PyObject_Free.\n",
        2 * size_of::<usize>(),
        char::from(api),
    ))
}

fn new_report(
    kind: ErrorKind,
    function: &'static str,
    api_expected: u8,
    address: usize,
    known: Option<&Known>,
    traces: Option<&Traces>,
) -> Report {
    let render =
        |stack: &Option<Box<std::backtrace::Backtrace>>| stack.as_deref().map(report::render);
    Report {
        kind,
        function,
        address,
        size: known.and_then(|k| k.size),
        api_expected: char::from(api_expected),
        api_found: known.map(|k| char::from(k.api)),
        serial: known.and_then(|k| k.serial),
        block: String::new(),
        allocated_at: traces.and_then(|t| render(&t.allocated_at)),
        freed_at: traces.and_then(|t| render(&t.freed_at)),
    }
}

/// Reports on the guards of a live block, if they were overwritten.
///
/// # Safety
///
/// - `known` is a live block's, under its shard's lock.
unsafe fn check_guards(
    known: &Known,
    function: &'static str,
    api_expected: u8,
    address: usize,
    traces: Option<&Traces>,
) -> Vec<Report> {
    let mut reports = Vec::new();
    let (head, tail) = match known.size {
        Some(size) => {
            // SAFETY: the block is live: `size + OVERHEAD` bytes at `base`.
            let guards = unsafe { Guards::read(known.base, size) };
            (guards.head_intact(size, known.api), guards.tail_intact())
        }
        // Its size field is past its block, and no tail was found.
        None => (false, true),
    };
    for (intact, kind) in [
        (head && is_api_id(known.api), ErrorKind::BufferUnderflow),
        (tail, ErrorKind::BufferOverflow),
    ] {
        if !intact {
            let mut r = new_report(kind, function, api_expected, address, Some(known), traces);
            // SAFETY: as above.
            r.block = unsafe { describe_live(known) };
            reports.push(r);
        }
    }
    reports
}

/// The guard lines and the dump of a live block.
///
/// # Safety
///
/// - `known` is a live block's, under its shard's lock.
unsafe fn describe_live(known: &Known) -> String {
    let mut text = String::new();
    let Some(size) = known.size else {
        // SAFETY: the block is live: `span` bytes at `base`.
        let (size_field, _) = unsafe { block::head(known.base) };
        let _ = writeln!(
            text,
            "    The size field before the block says {size_field} bytes, more than its \
             block holds ({} bytes): overwritten.",
            known.span
        );
        let _ = writeln!(text, "    The block, head included:");
        // SAFETY: as above.
        text.push_str(&unsafe { block::dump(known.base, known.span - OVERHEAD) });
        return text;
    };
    // SAFETY: the block is live: `size + OVERHEAD` bytes at `base`.
    let guards = unsafe { Guards::read(known.base, size) };
    report::guard_lines(&mut text, guards.size, size, &guards.before, &guards.after);
    if !is_api_id(guards.api) {
        let _ = writeln!(
            text,
            "    The API id byte at p-{} was overwritten: {:#04x}.",
            WORD, guards.api
        );
    }
    // SAFETY: as above.
    let data = unsafe { core::slice::from_raw_parts(known.base.add(HEAD), size.min(8)) };
    let _ = write!(text, "    Data at p:");
    for b in data {
        let _ = write!(text, " {b:02x}");
    }
    let _ = writeln!(text, "{}", if size > 8 { " ..." } else { "" });
    let _ = writeln!(text, "    The block, head and tail included:");
    // SAFETY: as above.
    text.push_str(&unsafe { block::dump(known.base, size) });
    text
}

/// The bytes of a freed block that are no longer 0xDD, and its dump.
///
/// # Safety
///
/// - `known` is a quarantined block's, under its shard's lock.
unsafe fn describe_freed(known: &Known) -> String {
    let total = known.span;
    // SAFETY: the block is the hooks': `total` bytes at `base`.
    let bytes = unsafe { core::slice::from_raw_parts(known.base, total) };
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
    text.push_str(&unsafe { block::dump(known.base, total - OVERHEAD) });
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
    let quarantines = registry::all_quarantines();
    let tables = registry::all_tables();
    // The pool blocks marked live, arena by arena, with the arenas held
    // still; nothing may be allocated while they are (a new arena would wait
    // for their lock): the broken ones are noted in a batch on the stack and
    // reported after, and a full batch means another pass. With every shard
    // locked, no block of the hooks is being freed meanwhile.
    const BATCH: usize = 16;
    let mut noted = 0;
    loop {
        let mut batch = [None; BATCH];
        let mut seen = 0;
        {
            let held = arena::Held::new();
            held.for_each(|view| {
                // SAFETY: the arena is held live.
                unsafe {
                    marks::for_each_live(view.arena(), |place| {
                        // SAFETY: marked live, every shard locked.
                        let known = known_live(place);
                        // SAFETY: as above.
                        if guards_intact(&known) {
                            return;
                        }
                        if seen >= noted && seen < noted + BATCH {
                            batch[seen - noted] = Some(place);
                        }
                        seen += 1;
                    });
                }
            });
        }
        for place in batch.into_iter().flatten() {
            // SAFETY: marked live, every shard locked.
            let known = unsafe { known_live(place) };
            let address = place.base() as usize + HEAD;
            let traces = tables[registry::table_index(address)].traces.get(&address);
            // SAFETY: as above.
            reports.extend(unsafe {
                check_guards(&known, "check_memory", known.api, address, traces)
            });
        }
        noted += BATCH;
        if seen <= noted {
            break;
        }
    }
    for quarantine in &quarantines {
        for freed in &quarantine.blocks {
            let traces = tables[registry::table_index(freed.address)]
                .traces
                .get(&freed.address);
            // SAFETY: the block is in quarantine, its shard locked.
            if unsafe { block::first_not(freed.base.0, freed.size + OVERHEAD, DEAD_BYTE) }.is_some()
            {
                reports.push(written_after_free(freed, "check_memory", traces));
            }
        }
    }
    for table in &tables {
        for (&address, entry) in table.entries.iter().filter(|(_, e)| !e.freed) {
            let traces = table.traces.get(&address);
            // SAFETY: the block is live, its shard locked.
            let known = unsafe { known_entry(entry) };
            // SAFETY: as above.
            reports.extend(unsafe {
                check_guards(&known, "check_memory", known.api, address, traces)
            });
        }
    }
    drop(tables);
    drop(quarantines);
    let found = reports.len();
    for r in reports {
        report::raise(r);
    }
    found
}

/// Whether a live block's head and tail are as the hooks wrote them.
///
/// # Safety
///
/// - `known` is a live block's, under its shard's lock.
unsafe fn guards_intact(known: &Known) -> bool {
    let Some(size) = known.size else {
        return false;
    };
    // SAFETY: as the caller guarantees.
    let guards = unsafe { Guards::read(known.base, size) };
    guards.head_intact(size, known.api) && is_api_id(known.api) && guards.tail_intact()
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
/// `_PyObject_IsFreed` heuristics. It reads a block only while the hooks
/// hold it (the head and tail of a live one), never one that may have gone
/// back to the allocator below.
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
    let address = p as usize;
    if let Some(place) = Place::of(p.wrapping_sub(HEAD), false) {
        match place.mark() {
            Mark::Live => {
                return with_pool_frees_held(|| {
                    // SAFETY: marked live, and no pool block is being freed.
                    let known = unsafe { known_live(place) };
                    Some(BlockInfo {
                        size: known.size?,
                        domain: domain_of(known.api)?,
                        serial: known.serial?,
                        freed: false,
                    })
                });
            }
            Mark::Quarantined => {
                return registry::find_in_quarantines(|quarantine| {
                    quarantine.find(address).map(|f| BlockInfo {
                        size: f.size,
                        domain: f.domain,
                        serial: f.serial,
                        freed: true,
                    })
                });
            }
            Mark::Clear => {}
        }
    }
    let table = registry::table(address);
    table.entries.get(&address).map(|entry| BlockInfo {
        size: entry.size,
        domain: entry.ctx.domain,
        serial: entry.serial,
        freed: entry.freed,
    })
}

/// The size and API id of the live block of the hooks whose data starts at
/// `address`, if there is one.
fn live_size_and_api(address: usize) -> Option<(usize, u8)> {
    let info = block_info(ptr::without_provenance(address)).filter(|info| !info.freed)?;
    Some((info.size, info.domain.api_id() as u8))
}

/// The family of an API id.
fn domain_of(api: u8) -> Option<Domain> {
    match api {
        b'r' => Some(Domain::Raw),
        b'm' => Some(Domain::Mem),
        b'o' => Some(Domain::Object),
        _ => None,
    }
}
