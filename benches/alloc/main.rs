//! The allocator against its peers: issue 8's workloads W1-W5, threads that
//! come and go, and the fast paths' instruction counts.
//!
//! ```text
//! cargo bench -p objimpl-benches --features cpython --bench alloc    # the whole table, CPython included
//! cargo bench -p objimpl-benches --bench alloc                     # without Python: no pymalloc column
//! OBJIMPL_BENCH=table cargo bench -p objimpl-benches --features cpython --bench alloc   # the table alone
//! ```
//!
//! Peers: CPython's `PyObject_Malloc` (with the `cpython` feature, from the
//! libpython that `python3` reports), glibc's `malloc`, mimalloc, jemalloc and
//! Rust's `System`, each called directly. objimpl is
//! `objimpl::alloc::object_malloc`/`object_free`, whatever allocator this
//! build puts behind them.
//!
//! First criterion measures every workload for every peer; then the table
//! (see `common`) runs the peers in interleaved rounds and prints per
//! workload the median of each, objimpl's ratio to each, the spread of each,
//! and the issue's target with PASS or MISS. W4 runs each allocator in a
//! child process, and the instruction counts run each under callgrind.

#[path = "../common/mod.rs"]
mod common;
mod instructions;
mod peers;
mod rss;
mod workloads;

use criterion::{Criterion, Throughput};

use common::{Mode, Row, Run, Table, Target, interleave, median};
use peers::{Allocator, AnyThread};
use workloads::{
    W2_BATCH, cross_thread_free, thread_churn, w1_after_batch, w1_alone, w1_lifo_pair,
    w2_batch_fifo, w3_random_replace, w8_growth, w8_random_replace,
};

/// One allocator's workloads, monomorphised.
struct Peer {
    name: &'static str,
    w1: Run,
    w1_alone: Run,
    w1_after_batch: Run,
    w2: Run,
    w3: Run,
    w5: Run,
    w8: Run,
    w8_growth: Run,
    threads: Run,
    w4_child: fn(),
    idle_child: fn(),
    count_child: fn(&str),
}

/// The workloads of `A`; those on several threads run on `Shared` (the same
/// allocator, made safe to share if it is not).
fn peer<A: Allocator, Shared: AnyThread>() -> Peer {
    Peer {
        name: A::NAME,
        w1: w1_lifo_pair::<A>,
        w1_alone: w1_alone::<A>,
        w1_after_batch: w1_after_batch::<A>,
        w2: w2_batch_fifo::<A>,
        w3: w3_random_replace::<A>,
        w5: cross_thread_free::<Shared>,
        w8: w8_random_replace::<A>,
        w8_growth: w8_growth::<A>,
        threads: thread_churn::<Shared>,
        w4_child: rss::child::<A>,
        idle_child: rss::idle_child::<Shared>,
        count_child: instructions::child::<A>,
    }
}

/// The peers issue 8 asks objimpl to beat: its targets are ratios to the
/// fastest of them (Rust's `System` is glibc again).
const BEST_OF: &[&str] = &["pymalloc", "glibc", "mimalloc", "jemalloc"];

/// Issue 8's target for the timed workloads: at most 0.9x the fastest peer.
const AHEAD: Target = Target::RatioToBest {
    peers: BEST_OF,
    at_most: 0.9,
};

/// objimpl first (every ratio is objimpl over a peer), then the peers in the
/// issue's order.
fn peers() -> Vec<Peer> {
    use peers::{Glibc, Jemalloc, Mimalloc, Objimpl, ObjimplGlobal, System};
    vec![
        // W8 is past the families' 512 bytes: objimpl there is `PyMalloc`,
        // the global allocator, whose pools go to 64 KiB.
        Peer {
            w8: w8_random_replace::<ObjimplGlobal>,
            w8_growth: w8_growth::<ObjimplGlobal>,
            ..peer::<Objimpl, Objimpl>()
        },
        #[cfg(feature = "cpython")]
        peer::<peers::PyMalloc, peers::PyMallocUnderLock>(),
        peer::<Glibc, Glibc>(),
        peer::<Mimalloc, Mimalloc>(),
        peer::<Jemalloc, Jemalloc>(),
        peer::<System, System>(),
    ]
}

/// A workload as the two harnesses see it.
struct Workload {
    /// Criterion's group name.
    id: &'static str,
    /// The table's label, as issue 3 words it.
    label: &'static str,
    /// What the table's figures are: wall-clock or CPU nanoseconds per block.
    unit: &'static str,
    run: fn(&Peer) -> Run,
    /// Operations per sample of the table.
    ops: u64,
    /// Blocks per op: the table reports per block.
    blocks_per_op: u64,
    target: Option<Target>,
}

const WORKLOADS: [Workload; 9] = [
    Workload {
        id: "W1-lifo-pair",
        label: "W1 malloc(32)+write+free, one other block live",
        unit: "ns",
        run: |p| p.w1,
        ops: 1_000_000,
        blocks_per_op: 1,
        target: Some(AHEAD),
    },
    Workload {
        id: "W1-alone",
        label: "W1 malloc(32)+write+free, nothing else live",
        unit: "ns",
        run: |p| p.w1_alone,
        ops: 1_000_000,
        blocks_per_op: 1,
        target: Some(AHEAD),
    },
    Workload {
        id: "W1-after-batch",
        label: "W1 alone, after 100k x 32 B malloc'd and freed",
        unit: "ns",
        run: |p| p.w1_after_batch,
        ops: 1_000_000,
        blocks_per_op: 1,
        target: Some(AHEAD),
    },
    Workload {
        id: "W2-batch-fifo",
        label: "W2 100k x 32 B, then free in order (per block)",
        unit: "ns",
        run: |p| p.w2,
        ops: 10,
        blocks_per_op: W2_BATCH as u64,
        target: Some(AHEAD),
    },
    Workload {
        id: "W3-random-replace",
        label: "W3 random sizes 8..=512, 10k live, free one + malloc one",
        unit: "ns",
        run: |p| p.w3,
        ops: 500_000,
        blocks_per_op: 1,
        target: Some(AHEAD),
    },
    Workload {
        id: "W5-cross-thread",
        label: "W5 64 B blocks in batches of 1000, freed on another thread",
        unit: "cpu ns",
        run: |p| p.w5,
        ops: 1_000_000,
        blocks_per_op: 1,
        target: Some(AHEAD),
    },
    Workload {
        id: "W8-medium-replace",
        label: "W8 random sizes 513..=64 KiB, 1k live, free one + malloc one",
        unit: "ns",
        run: |p| p.w8,
        ops: 200_000,
        blocks_per_op: 1,
        target: Some(AHEAD),
    },
    Workload {
        id: "W8-growth",
        label: "W8 64 buffers grown by appends of 1..=256 B to 16 B..64 KiB, Vec-style",
        unit: "ns",
        run: |p| p.w8_growth,
        ops: 1_000_000,
        blocks_per_op: 1,
        target: Some(AHEAD),
    },
    Workload {
        id: "threads",
        label: "thread spawn + malloc(100), malloc(32), free both + join",
        unit: "ns",
        run: |p| p.threads,
        ops: 200,
        blocks_per_op: 1,
        target: Some(Target::RatioToBest {
            peers: BEST_OF,
            at_most: 1.0,
        }),
    },
];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // A child of the table's memory rows: the flag, then the peer.
    type Child = fn(&Peer) -> fn();
    let children: [(&str, Child); 2] = [
        (rss::CHILD_FLAG, |peer| peer.w4_child),
        (rss::IDLE_FLAG, |peer| peer.idle_child),
    ];
    for (flag, child) in children {
        if let Some(i) = args.iter().position(|arg| arg == flag) {
            let name = args
                .get(i + 1)
                .expect("a child's flag is followed by a peer");
            let peer = peers().into_iter().find(|p| p.name == name);
            child(&peer.unwrap_or_else(|| panic!("no peer named {name}")))();
            return;
        }
    }
    if let Some(i) = args.iter().position(|arg| arg == instructions::CHILD_FLAG) {
        let (Some(name), Some(op)) = (args.get(i + 1), args.get(i + 2)) else {
            panic!("the counting child's flag is followed by a peer and an operation");
        };
        let peer = peers().into_iter().find(|p| p.name == name);
        (peer
            .unwrap_or_else(|| panic!("no peer named {name}"))
            .count_child)(op);
        return;
    }

    let mode = Mode::from_env();
    let peers = peers();
    if mode.criterion {
        let mut criterion = common::criterion();
        bench(&mut criterion, &peers);
        criterion.final_summary();
    }
    if mode.table {
        table(&peers, &mode).print();
    }
}

/// Every workload of every peer, one criterion group per workload.
fn bench(c: &mut Criterion, peers: &[Peer]) {
    for workload in &WORKLOADS {
        let mut group = c.benchmark_group(workload.id);
        group.throughput(Throughput::Elements(workload.blocks_per_op));
        for peer in peers {
            group.bench_function(peer.name, |b| b.iter_custom((workload.run)(peer)));
        }
        group.finish();
    }
}

/// The interleaved table: the timed workloads in rounds, then W4 and the
/// instruction counts.
fn table(peers: &[Peer], mode: &Mode) -> Table {
    let names: Vec<&'static str> = peers.iter().map(|p| p.name).collect();
    let rounds = mode.rounds();
    let mut table = Table::new(
        format!("objimpl::alloc vs peers: medians of {rounds} interleaved rounds"),
        names.clone(),
    );
    // The machine warms up first: the first workload of a run used to be
    // a third slower for every peer than the same loop a minute later.
    let first: Vec<Run> = peers.iter().map(WORKLOADS[0].run).collect();
    interleave(
        &first,
        mode.ops(WORKLOADS[0].ops),
        if mode.quick { 1 } else { 5 },
    );
    for workload in WORKLOADS.iter().filter(|w| mode.wants(w.id)) {
        let runs: Vec<Run> = peers.iter().map(workload.run).collect();
        let mut samples = interleave(&runs, mode.ops(workload.ops), rounds);
        for ns in samples.iter_mut().flatten() {
            *ns /= workload.blocks_per_op as f64;
        }
        let row = Row::from_rounds(workload.label, workload.unit, &samples);
        table.push(match workload.target {
            Some(target) => row.target(target),
            None => row,
        });
    }

    if mode.wants("W4") {
        w4_rows(&mut table, &names, mode);
    }
    if mode.wants("W9") {
        idle_rows(&mut table, &names, mode);
    }
    if mode.wants("instructions") {
        instruction_rows(&mut table, &names, mode);
    }

    if cfg!(feature = "cpython") {
        table.note("pymalloc holds a lock around each call in W5 and the threads row, as CPython holds the GIL");
    } else {
        table.note("no pymalloc column: build with `--features cpython` to link CPython's");
    }
    table.note("ratio: the median over rounds of objimpl's time / the peer's in the same round");
    table
        .note("W1: each pair writes a word to its block; the first row keeps one other block live");
    table.note("W5: CPU time of both threads, pinned to two CPUs, per block");
    table.note("W8: objimpl is PyMalloc (the global allocator, pools to 64 KiB); pymalloc is PyObject_Malloc, which sends these sizes to the C library");
    table.note("targets: at most 0.9x the fastest of pymalloc, glibc, mimalloc and jemalloc");
    table.note("instructions: callgrind, inside one call (call and return included), 100k calls");
    if mode.quick {
        table.note("quick run (not `cargo bench`): one short round, the figures mean nothing");
    }
    table
}

/// W4's rows: each allocator in child processes, the median of their figures.
fn w4_rows(table: &mut Table, names: &[&'static str], mode: &Mode) {
    let runs = if mode.quick { 1 } else { rss::RUNS };
    let w4: Vec<Vec<rss::Measured>> = names
        .iter()
        .map(|name| (0..runs).map(|_| rss::measure(name)).collect())
        .collect();
    type Figure = fn(&rss::Measured) -> f64;
    let rows: [(&str, &str, Figure, Option<Target>); 3] = [
        (
            "W4 RSS per live 32 B block (1M blocks)",
            "B",
            |m| m.bytes_per_block,
            Some(Target::AtMost(32.2)),
        ),
        (
            "W4 returned to the OS right after the mass free",
            "%",
            |m| m.returned_at_once,
            None,
        ),
        (
            "W4 returned to the OS 100 ms after the mass free",
            "%",
            |m| m.returned_after_100ms,
            Some(Target::AtLeast(95.0)),
        ),
    ];
    for (label, unit, figure, target) in rows {
        let medians = w4
            .iter()
            .map(|runs| median(&runs.iter().map(figure).collect::<Vec<_>>()))
            .collect();
        let row = Row::from_values(label, unit, medians);
        table.push(match target {
            Some(target) => row.target(target),
            None => row,
        });
    }
    table.note(format!(
        "W4: growth of the anonymous resident set over 1M written blocks, and the share of it returned after all are freed; one process per allocator, median of {runs}"
    ));
}

/// W9, idle threads: each allocator in child processes, the median of their
/// figures. The target is issue 23's, against the allocators with thread
/// caches: pymalloc, under one lock, keeps no memory per thread.
fn idle_rows(table: &mut Table, names: &[&'static str], mode: &Mode) {
    let runs = if mode.quick { 1 } else { rss::RUNS };
    let medians = names
        .iter()
        .map(|name| {
            median(
                &(0..runs)
                    .map(|_| rss::measure_idle(name))
                    .collect::<Vec<_>>(),
            )
        })
        .collect();
    table.push(
        Row::from_values(
            format!(
                "W9 RSS of {} idle threads that freed 8 MB each",
                rss::IDLE_THREADS
            ),
            "MiB",
            medians,
        )
        .target(Target::RatioToBest {
            peers: &["glibc", "mimalloc", "jemalloc"],
            at_most: 0.5,
        }),
    );
    table.note(format!(
        "W9: growth of the anonymous resident set 300 ms after the threads freed their blocks and went idle (alive); one process per allocator, median of {runs}"
    ));
}

/// The fast paths' instruction counts, each allocator under callgrind.
fn instruction_rows(table: &mut Table, names: &[&'static str], mode: &Mode) {
    if mode.quick {
        table.note("instruction counts: left out of a quick run");
        return;
    }
    if !instructions::available() {
        table.note("instruction counts: skipped, valgrind is not installed");
        return;
    }
    for (op, label) in [
        ("malloc", "instructions per malloc(32), cached block"),
        ("free", "instructions per free, own block"),
    ] {
        let counts = names
            .iter()
            .map(|name| instructions::measure(name, op))
            .collect();
        table.push(
            Row::from_values(label, "instr", counts).target(Target::RatioTo {
                peer: "mimalloc",
                at_most: 1.5,
            }),
        );
    }
}
