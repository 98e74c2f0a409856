//! What the allocator domains and the debug hooks cost, in one run.
//!
//! ```text
//! OBJIMPL_BENCH=table cargo bench -p objimpl-benches --bench hooks
//! ```
//!
//! Contenders, all on the pool:
//! - `objimpl`: `object_malloc`/`object_free` with the default allocator,
//!   i.e. the families' direct path, with its one load of the domain's slot;
//! - `pool-direct`: the pool with no slot to check, as the families were
//!   before domains existed (through `PyMalloc`'s `GlobalAlloc`, whose
//!   alignment test folds away for a constant layout);
//! - `hooks`: the debug hooks over the pool, called as the families call an
//!   installed allocator;
//! - `glibc`, for scale.
//!
//! The table's ratios are objimpl over each: `pool-direct` near 1.00x says
//! the default path did not get slower; `hooks` says what the hooks cost.

#[path = "common/mod.rs"]
#[allow(dead_code, reason = "shared with benches/alloc, which uses all of it")]
mod common;
#[path = "alloc/peers.rs"]
#[allow(dead_code, reason = "shared with benches/alloc, which uses all of it")]
mod peers;
#[path = "alloc/workloads.rs"]
#[allow(dead_code, reason = "shared with benches/alloc, which uses all of it")]
mod workloads;

use std::alloc::{GlobalAlloc, Layout};
use std::sync::OnceLock;

use criterion::{Criterion, Throughput};
use objimpl::alloc::{self, Domain, PyMalloc};

use common::{Mode, Row, Run, Table, interleave};
use peers::{Allocator, Glibc, Objimpl};
use workloads::{W2_BATCH, w1_lifo_pair, w2_batch_fifo, w3_random_replace};

/// The pool without the families' slot check.
struct PoolDirect;

impl PoolDirect {
    fn layout(size: usize) -> Layout {
        Layout::from_size_align(size.max(1), 16).unwrap()
    }
}

impl Allocator for PoolDirect {
    const NAME: &'static str = "pool-direct";

    #[inline]
    fn malloc(size: usize) -> *mut u8 {
        // SAFETY: the layout's size is non-zero.
        unsafe { PyMalloc.alloc(Self::layout(size)) }
    }

    #[inline]
    unsafe fn free(p: *mut u8, size: usize) {
        // SAFETY: `p` came from `malloc(size)`, i.e. `alloc` with this layout.
        unsafe { PyMalloc.dealloc(p, Self::layout(size)) }
    }

    #[inline]
    unsafe fn realloc(p: *mut u8, old: usize, new: usize) -> *mut u8 {
        // SAFETY: `p` came from `malloc(old)`, i.e. `alloc` with this layout.
        unsafe { PyMalloc.realloc(p, Self::layout(old), new) }
    }
}

/// CPython's own debug hooks (`PYTHONMALLOC=debug`) over its pymalloc, from
/// the linked libpython: `main` installs them before anything else runs,
/// so `PyObject_Malloc` goes through them (their GIL check answers yes
/// before the interpreter is up).
#[cfg(feature = "cpython")]
struct CpythonHooks;

#[cfg(feature = "cpython")]
unsafe extern "C" {
    fn PyMem_SetupDebugHooks();
}

#[cfg(feature = "cpython")]
impl Allocator for CpythonHooks {
    const NAME: &'static str = "CPython hooks";

    #[inline]
    fn malloc(size: usize) -> *mut u8 {
        peers::PyMalloc::malloc(size)
    }

    #[inline]
    unsafe fn free(p: *mut u8, size: usize) {
        // SAFETY: `p` came from `malloc`, i.e. `PyObject_Malloc`.
        unsafe { peers::PyMalloc::free(p, size) }
    }

    #[inline]
    unsafe fn realloc(p: *mut u8, old: usize, new: usize) -> *mut u8 {
        // SAFETY: as in `free`.
        unsafe { peers::PyMalloc::realloc(p, old, new) }
    }
}

/// The debug hooks over the pool, kept aside by `main`.
static HOOKS: OnceLock<alloc::Allocator> = OnceLock::new();

struct Hooks;

impl Allocator for Hooks {
    const NAME: &'static str = "hooks";

    #[inline]
    fn malloc(size: usize) -> *mut u8 {
        let hooks = HOOKS.get().unwrap();
        // SAFETY: the hooks are an installed-grade allocator.
        unsafe { (hooks.malloc)(hooks.ctx, size) }.cast()
    }

    #[inline]
    unsafe fn free(p: *mut u8, _size: usize) {
        let hooks = HOOKS.get().unwrap();
        // SAFETY: `p` came from the hooks' `malloc`.
        unsafe { (hooks.free)(hooks.ctx, p.cast()) }
    }

    #[inline]
    unsafe fn realloc(p: *mut u8, _old: usize, new: usize) -> *mut u8 {
        let hooks = HOOKS.get().unwrap();
        // SAFETY: `p` came from the hooks' `malloc`.
        unsafe { (hooks.realloc)(hooks.ctx, p.cast(), new) }.cast()
    }
}

struct Contender {
    name: &'static str,
    w1: Run,
    w2: Run,
    w3: Run,
}

fn contender<A: Allocator>() -> Contender {
    Contender {
        name: A::NAME,
        w1: w1_lifo_pair::<A>,
        w2: w2_batch_fifo::<A>,
        w3: w3_random_replace::<A>,
    }
}

struct Workload {
    id: &'static str,
    label: &'static str,
    run: fn(&Contender) -> Run,
    ops: u64,
    blocks_per_op: u64,
}

const WORKLOADS: [Workload; 3] = [
    Workload {
        id: "hooks-W1",
        label: "W1 malloc(32)+free, LIFO",
        run: |c| c.w1,
        ops: 1_000_000,
        blocks_per_op: 1,
    },
    Workload {
        id: "hooks-W2",
        label: "W2 100k x 32 B, then free in order (per block)",
        run: |c| c.w2,
        ops: 5,
        blocks_per_op: W2_BATCH as u64,
    },
    Workload {
        id: "hooks-W3",
        label: "W3 random sizes 8..=512, 10k live, free one + malloc one",
        run: |c| c.w3,
        ops: 200_000,
        blocks_per_op: 1,
    },
];

fn main() {
    // Keep the hooks aside and put the plain pool back under the family,
    // before anything is allocated through it.
    alloc::setup_debug_hooks();
    HOOKS.get_or_init(|| alloc::get_allocator(Domain::Object));
    // SAFETY: no block of the object family is live yet.
    unsafe { alloc::set_allocator(Domain::Object, alloc::Allocator::pymalloc()) };

    #[cfg(feature = "cpython")]
    // SAFETY: called before libpython has allocated anything through pymalloc.
    unsafe {
        PyMem_SetupDebugHooks();
    }
    let contenders = [
        contender::<Objimpl>(),
        contender::<PoolDirect>(),
        contender::<Hooks>(),
        #[cfg(feature = "cpython")]
        contender::<CpythonHooks>(),
        contender::<Glibc>(),
    ];
    let mode = Mode::from_env();
    if mode.criterion {
        let mut c: Criterion = common::criterion();
        for workload in &WORKLOADS {
            let mut group = c.benchmark_group(workload.id);
            group.throughput(Throughput::Elements(workload.blocks_per_op));
            for contender in &contenders {
                group.bench_function(contender.name, |b| b.iter_custom((workload.run)(contender)));
            }
            group.finish();
        }
        c.final_summary();
    }
    if !mode.table {
        return;
    }
    let rounds = mode.rounds();
    let mut table = Table::new(
        format!(
            "the families' dispatch and the debug hooks: medians of {rounds} interleaved rounds"
        ),
        contenders.iter().map(|c| c.name).collect(),
    );
    for workload in &WORKLOADS {
        let runs: Vec<Run> = contenders.iter().map(workload.run).collect();
        let mut samples = interleave(&runs, mode.ops(workload.ops), rounds);
        for ns in samples.iter_mut().flatten() {
            *ns /= workload.blocks_per_op as f64;
        }
        let spread: Vec<String> = samples
            .iter()
            .zip(&contenders)
            .map(|(s, c)| {
                let min = s.iter().copied().fold(f64::INFINITY, f64::min);
                let max = s.iter().copied().fold(0.0, f64::max);
                format!("{} {min:.2}..{max:.2}", c.name)
            })
            .collect();
        table.note(format!(
            "{}: range over rounds: {}",
            workload.id,
            spread.join(", ")
        ));
        if let [.., hooks, cpython, _] = &samples[..]
            && cfg!(feature = "cpython")
        {
            let ratios: Vec<f64> = hooks.iter().zip(cpython).map(|(h, c)| h / c).collect();
            let (least, most) = ratios
                .iter()
                .fold((f64::INFINITY, 0.0_f64), |(l, m), &r| (l.min(r), m.max(r)));
            table.note(format!(
                "{}: hooks / CPython hooks, per round: median {:.2}x ({least:.2}..{most:.2})",
                workload.id,
                common::median(&ratios),
            ));
        }
        table.push(Row::from_rounds(workload.label, "ns", &samples));
    }
    table.note(
        "objimpl / pool-direct: the default path against PyMalloc's, which has no slot to check and frees by the layout's size"
    );
    table.note("objimpl / hooks: the pool without and with the debug hooks (quarantine included)");
    if mode.quick {
        table.note("quick run (not `cargo bench`): one short round, the figures mean nothing");
    }
    table.print();
}
