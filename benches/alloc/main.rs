//! The allocator against its peers: issue 3's workloads W1-W4 and
//! cross-thread frees.
//!
//! ```text
//! cargo bench --features cpython --bench alloc    # the whole table, CPython included
//! cargo bench --bench alloc                       # without Python: no pymalloc column
//! OBJIMPL_BENCH=table cargo bench --features cpython --bench alloc   # the table alone (~30 s)
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
//! workload the median of each, objimpl's ratio to each, and the issue's
//! target with PASS or MISS. W4 runs each allocator in a child process.

#[path = "../common/mod.rs"]
mod common;
mod peers;
mod rss;
mod workloads;

use criterion::{Criterion, Throughput};

use common::{Mode, Row, Run, Table, Target, interleave, median};
use peers::Allocator;
use workloads::{W2_BATCH, cross_thread_free, w1_lifo_pair, w2_batch_fifo, w3_random_replace};

/// One allocator's workloads, monomorphised.
struct Peer {
    name: &'static str,
    w1: Run,
    w2: Run,
    w3: Run,
    cross_thread: Run,
    w4_child: fn(),
}

/// The workloads of `A`; the cross-thread one runs on `Shared` (the same
/// allocator, made safe to share if it is not).
fn peer<A: Allocator, Shared: Allocator>() -> Peer {
    Peer {
        name: A::NAME,
        w1: w1_lifo_pair::<A>,
        w2: w2_batch_fifo::<A>,
        w3: w3_random_replace::<A>,
        cross_thread: cross_thread_free::<Shared>,
        w4_child: rss::child::<A>,
    }
}

/// objimpl first (every ratio is objimpl over a peer), then the peers in the
/// issue's order.
fn peers() -> Vec<Peer> {
    use peers::{Glibc, Jemalloc, Mimalloc, Objimpl, System};
    vec![
        peer::<Objimpl, Objimpl>(),
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
    run: fn(&Peer) -> Run,
    /// Operations per sample of the table.
    ops: u64,
    /// Blocks per op: the table reports per block.
    blocks_per_op: u64,
    target: Option<Target>,
}

const WORKLOADS: [Workload; 4] = [
    Workload {
        id: "W1-lifo-pair",
        label: "W1 malloc(32)+free, LIFO",
        run: |p| p.w1,
        ops: 1_000_000,
        blocks_per_op: 1,
        target: Some(Target::RatioTo {
            peer: "pymalloc",
            at_most: 0.75,
        }),
    },
    Workload {
        id: "W2-batch-fifo",
        label: "W2 100k x 32 B, then free in order (per block)",
        run: |p| p.w2,
        ops: 10,
        blocks_per_op: W2_BATCH as u64,
        target: Some(Target::RatioTo {
            peer: "pymalloc",
            at_most: 0.75,
        }),
    },
    Workload {
        id: "W3-random-replace",
        label: "W3 random sizes 8..=512, 10k live slots, free one + malloc one",
        run: |p| p.w3,
        ops: 500_000,
        blocks_per_op: 1,
        target: Some(Target::RatioTo {
            peer: "pymalloc",
            at_most: 0.5,
        }),
    },
    Workload {
        id: "cross-thread-free",
        label: "cross-thread: malloc(32) on one thread, free on another",
        run: |p| p.cross_thread,
        ops: 200_000,
        blocks_per_op: 1,
        target: None,
    },
];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|arg| arg == rss::CHILD_FLAG) {
        let name = args
            .get(i + 1)
            .expect("the W4 child flag is followed by a peer");
        let peer = peers().into_iter().find(|p| p.name == name);
        (peer
            .unwrap_or_else(|| panic!("no peer named {name}"))
            .w4_child)();
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

/// The interleaved table: W1-W3 and cross-thread frees in rounds, then W4.
fn table(peers: &[Peer], mode: &Mode) -> Table {
    let names: Vec<&'static str> = peers.iter().map(|p| p.name).collect();
    let rounds = mode.rounds();
    let mut table = Table::new(
        format!("objimpl::alloc vs peers: medians of {rounds} interleaved rounds"),
        names.clone(),
    );
    for workload in &WORKLOADS {
        let runs: Vec<Run> = peers.iter().map(workload.run).collect();
        let mut samples = interleave(&runs, mode.ops(workload.ops), rounds);
        for ns in samples.iter_mut().flatten() {
            *ns /= workload.blocks_per_op as f64;
        }
        let row = Row::from_rounds(workload.label, "ns", &samples);
        table.push(match workload.target {
            Some(target) => row.target(target),
            None => row,
        });
    }

    let runs = if mode.quick { 1 } else { rss::RUNS };
    let bytes_per_block = names
        .iter()
        .map(|name| median(&(0..runs).map(|_| rss::measure(name)).collect::<Vec<_>>()))
        .collect();
    table.push(
        Row::from_values(
            "W4 RSS per live 32 B block (1M blocks)",
            "B",
            bytes_per_block,
        )
        .target(Target::AtMost(32.5)),
    );

    if cfg!(feature = "cpython") {
        table.note("pymalloc holds a lock around each call in the cross-thread row, as CPython holds the GIL");
    } else {
        table.note("no pymalloc column: build with `--features cpython` to link CPython's");
    }
    table.note("ratio: the median over rounds of objimpl's time / the peer's in the same round");
    table.note("W1: one other 32 B block stays live, so no pool empties on each free");
    table.note(format!(
        "W4: growth of the resident set over 1M written blocks, one process per allocator, median of {runs}"
    ));
    if mode.quick {
        table.note("quick run (not `cargo bench`): one short round, the figures mean nothing");
    }
    table
}
