//! What a program can ask the hooks: `check_memory`, `block_info` (the
//! counterparts of CPython's `_PyMem_DebugCheckAddress` and
//! `_PyObject_IsFreed`), and the hint a report gives on a pointer into a
//! block.

use core::ptr;

use super::super::arena;
use super::super::domain::Domain;
use super::block::{self, DEAD_BYTE, HEAD, OVERHEAD};
use super::checks::{check_guards, written_after_free};
use super::known::{domain_of, guards_intact, known_entry, known_live};
use super::marks::{self, Mark, Place};
use super::own_code::Own;
use super::registry;
use super::report;

/// Checks every block the debug hooks hold: the guards of each live block,
/// and that each block in quarantine still reads 0xDD (no write after
/// free). Reports each problem (see
/// [`set_error_handler`](super::set_error_handler)) and returns how many it
/// found. Without the hooks there is nothing to check: 0.
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
        for freed in quarantine.blocks() {
            let traces = tables[registry::table_index(freed.address())]
                .traces
                .get(&freed.address());
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
                        serial: known.serial? as usize,
                        freed: false,
                    })
                });
            }
            Mark::Quarantined => {
                let waiting = registry::find_in_quarantines(|quarantine| {
                    quarantine.find(address).map(|f| BlockInfo {
                        size: f.size,
                        domain: f.domain,
                        serial: f.serial as usize,
                        freed: true,
                    })
                });
                // Not waiting: it left the quarantine, and the address may
                // now be a block of hooks over another allocator, in the
                // table.
                if waiting.is_some() {
                    return waiting;
                }
            }
            Mark::Clear => {}
        }
    }
    let table = registry::table(address);
    table.entries.get(&address).map(|entry| BlockInfo {
        size: entry.size,
        domain: entry.ctx.domain,
        serial: entry.serial as usize,
        freed: entry.freed,
    })
}

/// The size and API id of the live block of the hooks whose data starts at
/// `address`, if there is one.
fn live_size_and_api(address: usize) -> Option<(usize, u8)> {
    let info = block_info(ptr::without_provenance(address)).filter(|info| !info.freed)?;
    Some((info.size, info.domain.api_id() as u8))
}

/// Runs `f` with every quarantine shard locked: no pool block is being
/// freed meanwhile, so the head and tail of one marked live may be read.
pub(super) fn with_pool_frees_held<R>(f: impl FnOnce() -> R) -> R {
    let _held = registry::all_quarantines();
    f()
}

/// If `address`, which the hooks never handed out, lies two words into a
/// live block they did: that block is most likely an object with a GC
/// header in front (a `gc` object freed as a plain one), and the report
/// says so.
pub(super) fn inside_a_block_hint(address: usize) -> Option<String> {
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
