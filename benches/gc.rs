//! The cycle collector (`objimpl::gc`, `#[pyobject(gc)]` types) against
//! the Rust crates that collect cycles, and CPython's own `gc`.
//!
//! ```text
//! OBJIMPL_BENCH=table cargo bench -p objimpl-benches --bench gc   # the tables alone
//! cargo bench -p objimpl-benches --bench gc                       # criterion, then the tables
//! ```
//!
//! Contenders, each through its natural API, all on one node shape:
//! - `objimpl`: a `#[pyobject(gc)]` type, `Py<T>`, [`gc::collect`];
//! - `objimpl, manual`: the same with automatic collection off for (a) and
//!   (c) (`gc::disable()`), collecting only when asked, as gcmodule and
//!   bacon_rajan_cc do: what CPython's automatic policy costs;
//! - `gcmodule` (CPython's algorithm in Rust): `gcmodule::Cc`, `collect_thread_cycles`;
//! - `rust-cc`: `rust_cc::Cc`, `rust_cc::collect_cycles`;
//! - `dumpster`: `dumpster::unsync::Gc`, `dumpster::unsync::collect`;
//! - `bacon_rajan_cc`: `bacon_rajan_cc::Cc`, `bacon_rajan_cc::collect_cycles`;
//! - for (b) only, `objimpl basic`: the same payload in a `#[pyobject(basic)]`
//!   type, which has no GC header and is never tracked;
//! - CPython 3's `gc`, on the same shapes in Python (`python/gc_shapes.py`),
//!   run as a subprocess after the in-process rounds: it cannot interleave
//!   with them, so its figures are medians of its own rounds, and its ratios
//!   are of medians. Set `OBJIMPL_BENCH_PYTHON` to choose the interpreter.
//!
//! The node: a drop counter (a zero-sized field whose `Drop` counts, so a
//! contender that leaks fails its check instead of looking fast), a `u64`,
//! and three links `RefCell<Option<Handle>>` (`parent`, `left`, `right`; a
//! list uses `left` as `prev`, `right` as `next`): 56 bytes of payload for
//! every contender. Each contender allocates as it does by default: objimpl
//! from its object allocator, the crates from Rust's global allocator
//! (glibc's `malloc`).
//!
//! Workloads:
//! - (a) a binary tree of depth 16 (131,071 nodes; depth 0 is one node, as
//!   in `python/binary_trees.py`), each child pointing to its parent: built,
//!   dropped, collected; ns per node;
//! - (b) 1M objects made and dropped one at a time, nothing cyclic: the cost
//!   of tracking; ns per object. The target: objimpl's `gc` object at most
//!   1.5x its `basic` one;
//! - (c) a doubly linked list of 100,000 nodes, dropped and collected; ns
//!   per node;
//! - (d) one explicit full collection with a live tree of depth 19
//!   (1,048,575 nodes) and no garbage, built once outside the timing; µs
//!   per collection. (d') the same after a handle to every node was cloned
//!   and dropped (outside the timing): that makes every node a candidate
//!   root for the crates that trace from candidates (rust-cc, dumpster,
//!   bacon_rajan_cc), whose (d) has nothing to look at.
//!
//! Automatic collection stays at each contender's default: objimpl's are
//! CPython's thresholds (700, 10, 10); rust-cc collects past an adaptive
//! byte threshold, dumpster once more handles were dropped than exist;
//! gcmodule and bacon_rajan_cc collect only when asked. (a) and (c) end
//! with each one's explicit collection, which (d) times alone; the tables'
//! notes say how many collections each ran per run, where the crate counts
//! them (objimpl, rust-cc).

#[path = "common/mod.rs"]
#[allow(dead_code, reason = "shared with benches/alloc, which uses all of it")]
mod common;

use std::any::{Any, TypeId};
use std::cell::{Cell, RefCell};
use std::hint::black_box;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use objimpl::prelude::*;

use common::{Mode, Row, Run, Table, Target, interleave, median, time};

// -- sizes --------------------------------------------------------------------

/// The workloads' sizes, set by `main` from the mode: the issue's for a
/// real run, small ones for `cargo test --benches`.
struct Sizes {
    /// (a): the depth of each tree.
    tree_depth: u32,
    /// (b): objects made and dropped per run.
    churn: u64,
    /// (c): the list's length.
    list_len: u64,
    /// (d): the depth of the live tree.
    live_depth: u32,
}

static QUICK: AtomicBool = AtomicBool::new(false);

fn sizes() -> Sizes {
    if QUICK.load(Ordering::Relaxed) {
        Sizes {
            tree_depth: 8,
            churn: 10_000,
            list_len: 1_000,
            live_depth: 10,
        }
    } else {
        Sizes {
            tree_depth: 16,
            churn: 1_000_000,
            list_len: 100_000,
            live_depth: 19,
        }
    }
}

/// The nodes of a complete binary tree of `depth` (depth 0: one node).
fn tree_nodes(depth: u32) -> u64 {
    (1 << (depth + 1)) - 1
}

// -- the payload --------------------------------------------------------------

thread_local! {
    /// Payloads dropped on this thread.
    static DROPS: Cell<u64> = const { Cell::new(0) };
}

/// A payload's drop counter: zero-sized, counts in [`DROPS`] when dropped.
struct Counted;

impl Drop for Counted {
    #[inline]
    fn drop(&mut self) {
        DROPS.with(|drops| drops.set(drops.get() + 1));
    }
}

// SAFETY: holds no handles: visits nothing.
unsafe impl gc::Traverse for Counted {}

fn drops() -> u64 {
    DROPS.with(Cell::get)
}

/// Checks that a run dropped as many payloads as it should have.
#[track_caller]
fn check(name: &str, what: &str, dropped: u64, expected: u64) {
    assert_eq!(
        dropped, expected,
        "{name}, {what}: {expected} payloads should have been dropped, {dropped} were"
    );
}

/// A node's links. A list uses `Left` as its `prev`, `Right` as its `next`.
#[derive(Clone, Copy)]
enum Link {
    Parent,
    Left,
    Right,
}

/// What the workloads need of a contender.
trait Collector: 'static {
    const NAME: &'static str;
    /// A strong handle to a node.
    type Ptr: Clone + 'static;
    /// A node holding `value`, with no links.
    fn new(value: u64) -> Self::Ptr;
    fn link(node: &Self::Ptr, link: Link) -> &RefCell<Option<Self::Ptr>>;
    /// The crate's explicit collection of all it tracks.
    fn collect();
    /// Collections run on this thread so far, automatic and explicit, if the crate counts them.
    fn collections() -> Option<usize> {
        None
    }
    /// Runs `f` with the contender's settings (objimpl's second column:
    /// automatic collection off, as gcmodule and bacon_rajan_cc have it).
    fn with_settings<R>(f: impl FnOnce() -> R) -> R {
        f()
    }
}

// -- the contenders -------------------------------------------------------------

#[pyobject(gc)]
#[allow(dead_code, reason = "the value is written and dropped, never read")]
struct ObjimplNode {
    drops: Counted,
    value: u64,
    parent: RefCell<Option<Py<ObjimplNode>>>,
    left: RefCell<Option<Py<ObjimplNode>>>,
    right: RefCell<Option<Py<ObjimplNode>>>,
}

struct Objimpl;

impl Collector for Objimpl {
    const NAME: &'static str = "objimpl";
    type Ptr = Py<ObjimplNode>;

    #[inline]
    fn new(value: u64) -> Self::Ptr {
        ObjimplNode::new(ObjimplNode {
            drops: Counted,
            value,
            parent: RefCell::new(None),
            left: RefCell::new(None),
            right: RefCell::new(None),
        })
        .expect("the object family has memory")
    }

    #[inline]
    fn link(node: &Self::Ptr, link: Link) -> &RefCell<Option<Self::Ptr>> {
        match link {
            Link::Parent => &node.parent,
            Link::Left => &node.left,
            Link::Right => &node.right,
        }
    }

    fn collect() {
        gc::collect();
    }

    fn collections() -> Option<usize> {
        Some(gc::get_stats().iter().map(|g| g.collections).sum())
    }
}

/// objimpl with automatic collection off: it collects only when asked, as
/// gcmodule and bacon_rajan_cc do. The same node type.
struct ObjimplManual;

impl Collector for ObjimplManual {
    const NAME: &'static str = "objimpl, manual";
    type Ptr = Py<ObjimplNode>;

    #[inline]
    fn new(value: u64) -> Self::Ptr {
        Objimpl::new(value)
    }

    #[inline]
    fn link(node: &Self::Ptr, link: Link) -> &RefCell<Option<Self::Ptr>> {
        Objimpl::link(node, link)
    }

    fn collect() {
        gc::collect();
    }

    // Not counted: the thread's statistics are objimpl's, whose count
    // already includes this column's one explicit collection per run.

    fn with_settings<R>(f: impl FnOnce() -> R) -> R {
        gc::disable();
        let result = f();
        gc::enable();
        result
    }
}

/// The same payload in a `basic` type: the reference point of (b).
#[pyobject(basic)]
#[allow(dead_code, reason = "the value is written and dropped, never read")]
struct BasicNode {
    drops: Counted,
    value: u64,
    parent: RefCell<Option<Py<BasicNode>>>,
    left: RefCell<Option<Py<BasicNode>>>,
    right: RefCell<Option<Py<BasicNode>>>,
}

struct Basic;

impl Collector for Basic {
    const NAME: &'static str = "objimpl basic";
    type Ptr = Py<BasicNode>;

    #[inline]
    fn new(value: u64) -> Self::Ptr {
        BasicNode::new(BasicNode {
            drops: Counted,
            value,
            parent: RefCell::new(None),
            left: RefCell::new(None),
            right: RefCell::new(None),
        })
        .expect("the object family has memory")
    }

    #[inline]
    fn link(node: &Self::Ptr, link: Link) -> &RefCell<Option<Self::Ptr>> {
        match link {
            Link::Parent => &node.parent,
            Link::Left => &node.left,
            Link::Right => &node.right,
        }
    }

    /// A `basic` object is never collected: used in (b) only, which has no cycles.
    fn collect() {}
}

#[allow(dead_code, reason = "the value is written and dropped, never read")]
struct GcmoduleNode {
    drops: Counted,
    value: u64,
    parent: RefCell<Option<gcmodule::Cc<GcmoduleNode>>>,
    left: RefCell<Option<gcmodule::Cc<GcmoduleNode>>>,
    right: RefCell<Option<gcmodule::Cc<GcmoduleNode>>>,
}

impl gcmodule::Trace for GcmoduleNode {
    fn trace(&self, tracer: &mut gcmodule::Tracer<'_>) {
        self.parent.trace(tracer);
        self.left.trace(tracer);
        self.right.trace(tracer);
    }
}

struct Gcmodule;

impl Collector for Gcmodule {
    const NAME: &'static str = "gcmodule";
    type Ptr = gcmodule::Cc<GcmoduleNode>;

    #[inline]
    fn new(value: u64) -> Self::Ptr {
        gcmodule::Cc::new(GcmoduleNode {
            drops: Counted,
            value,
            parent: RefCell::new(None),
            left: RefCell::new(None),
            right: RefCell::new(None),
        })
    }

    #[inline]
    fn link(node: &Self::Ptr, link: Link) -> &RefCell<Option<Self::Ptr>> {
        match link {
            Link::Parent => &node.parent,
            Link::Left => &node.left,
            Link::Right => &node.right,
        }
    }

    fn collect() {
        gcmodule::collect_thread_cycles();
    }
}

#[allow(dead_code, reason = "the value is written and dropped, never read")]
struct RustCcNode {
    drops: Counted,
    value: u64,
    parent: RefCell<Option<rust_cc::Cc<RustCcNode>>>,
    left: RefCell<Option<rust_cc::Cc<RustCcNode>>>,
    right: RefCell<Option<rust_cc::Cc<RustCcNode>>>,
}

// SAFETY: traces every `Cc` the node owns, each once.
unsafe impl rust_cc::Trace for RustCcNode {
    fn trace(&self, ctx: &mut rust_cc::Context<'_>) {
        self.parent.trace(ctx);
        self.left.trace(ctx);
        self.right.trace(ctx);
    }
}

impl rust_cc::Finalize for RustCcNode {}

struct RustCc;

impl Collector for RustCc {
    const NAME: &'static str = "rust-cc";
    type Ptr = rust_cc::Cc<RustCcNode>;

    #[inline]
    fn new(value: u64) -> Self::Ptr {
        rust_cc::Cc::new(RustCcNode {
            drops: Counted,
            value,
            parent: RefCell::new(None),
            left: RefCell::new(None),
            right: RefCell::new(None),
        })
    }

    #[inline]
    fn link(node: &Self::Ptr, link: Link) -> &RefCell<Option<Self::Ptr>> {
        match link {
            Link::Parent => &node.parent,
            Link::Left => &node.left,
            Link::Right => &node.right,
        }
    }

    fn collect() {
        rust_cc::collect_cycles();
    }

    fn collections() -> Option<usize> {
        rust_cc::state::executions_count().ok()
    }
}

#[allow(dead_code, reason = "the value is written and dropped, never read")]
struct DumpsterNode {
    drops: Counted,
    value: u64,
    parent: RefCell<Option<dumpster::unsync::Gc<DumpsterNode>>>,
    left: RefCell<Option<dumpster::unsync::Gc<DumpsterNode>>>,
    right: RefCell<Option<dumpster::unsync::Gc<DumpsterNode>>>,
}

// SAFETY: visits every `Gc` the node owns, each once, always in the same order.
unsafe impl<V: dumpster::Visitor> dumpster::TraceWith<V> for DumpsterNode {
    fn accept(&self, visitor: &mut V) -> Result<(), ()> {
        self.parent.accept(visitor)?;
        self.left.accept(visitor)?;
        self.right.accept(visitor)
    }
}

struct Dumpster;

impl Collector for Dumpster {
    const NAME: &'static str = "dumpster";
    type Ptr = dumpster::unsync::Gc<DumpsterNode>;

    #[inline]
    fn new(value: u64) -> Self::Ptr {
        dumpster::unsync::Gc::new(DumpsterNode {
            drops: Counted,
            value,
            parent: RefCell::new(None),
            left: RefCell::new(None),
            right: RefCell::new(None),
        })
    }

    #[inline]
    fn link(node: &Self::Ptr, link: Link) -> &RefCell<Option<Self::Ptr>> {
        match link {
            Link::Parent => &node.parent,
            Link::Left => &node.left,
            Link::Right => &node.right,
        }
    }

    fn collect() {
        dumpster::unsync::collect();
    }
}

#[allow(dead_code, reason = "the value is written and dropped, never read")]
struct BaconNode {
    drops: Counted,
    value: u64,
    parent: RefCell<Option<bacon_rajan_cc::Cc<BaconNode>>>,
    left: RefCell<Option<bacon_rajan_cc::Cc<BaconNode>>>,
    right: RefCell<Option<bacon_rajan_cc::Cc<BaconNode>>>,
}

impl bacon_rajan_cc::Trace for BaconNode {
    fn trace(&self, tracer: &mut bacon_rajan_cc::Tracer<'_>) {
        self.parent.trace(tracer);
        self.left.trace(tracer);
        self.right.trace(tracer);
    }
}

struct Bacon;

impl Collector for Bacon {
    const NAME: &'static str = "bacon_rajan_cc";
    type Ptr = bacon_rajan_cc::Cc<BaconNode>;

    #[inline]
    fn new(value: u64) -> Self::Ptr {
        bacon_rajan_cc::Cc::new(BaconNode {
            drops: Counted,
            value,
            parent: RefCell::new(None),
            left: RefCell::new(None),
            right: RefCell::new(None),
        })
    }

    #[inline]
    fn link(node: &Self::Ptr, link: Link) -> &RefCell<Option<Self::Ptr>> {
        match link {
            Link::Parent => &node.parent,
            Link::Left => &node.left,
            Link::Right => &node.right,
        }
    }

    fn collect() {
        bacon_rajan_cc::collect_cycles();
    }
}

// -- the workloads ------------------------------------------------------------

/// A tree of `depth` under `parent`, each child pointing to its parent.
fn build_tree<C: Collector>(depth: u32, parent: Option<&C::Ptr>) -> C::Ptr {
    let node = C::new(u64::from(depth));
    if let Some(parent) = parent {
        *C::link(&node, Link::Parent).borrow_mut() = Some(parent.clone());
    }
    if depth > 0 {
        let left = build_tree::<C>(depth - 1, Some(&node));
        *C::link(&node, Link::Left).borrow_mut() = Some(left);
        let right = build_tree::<C>(depth - 1, Some(&node));
        *C::link(&node, Link::Right).borrow_mut() = Some(right);
    }
    node
}

/// (a) `ops` trees built, dropped and collected.
fn trees<C: Collector>(ops: u64) -> Duration {
    let depth = sizes().tree_depth;
    let before = drops();
    let elapsed = C::with_settings(|| {
        time(|| {
            for _ in 0..ops {
                let root = build_tree::<C>(depth, None);
                drop(black_box(root));
                C::collect();
            }
        })
    });
    check(C::NAME, "trees", drops() - before, ops * tree_nodes(depth));
    elapsed
}

/// (b) `ops` nodes made and dropped, one at a time. One other node stays
/// live meanwhile, as in `objects.rs`, so that a pool is not given back on
/// every drop.
fn churn<C: Collector>(ops: u64) -> Duration {
    let anchor = C::new(0);
    let before = drops();
    let elapsed = time(|| {
        for i in 0..ops {
            drop(black_box(C::new(i)));
        }
    });
    check(C::NAME, "churn", drops() - before, ops);
    drop(anchor);
    elapsed
}

/// (c) `ops` doubly linked lists built, dropped and collected.
fn list<C: Collector>(ops: u64) -> Duration {
    let len = sizes().list_len;
    let before = drops();
    let elapsed = C::with_settings(|| {
        time(|| {
            for _ in 0..ops {
                let head = C::new(0);
                let mut tail = head.clone();
                for i in 1..len {
                    let node = C::new(i);
                    *C::link(&node, Link::Left).borrow_mut() = Some(tail.clone());
                    *C::link(&tail, Link::Right).borrow_mut() = Some(node.clone());
                    tail = node;
                }
                drop(black_box(head));
                drop(tail);
                C::collect();
            }
        })
    });
    check(C::NAME, "list", drops() - before, ops * len);
    elapsed
}

thread_local! {
    /// (d)'s live trees, by node type: `C::Ptr`s, boxed.
    static LIVE: RefCell<Vec<(TypeId, Box<dyn Any>)>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` on `C`'s live tree, built (and collected once, so that it has
/// settled in the oldest generation, or left the candidate buffers) the
/// first time. No handle is cloned: dropping a clone would make the root a
/// candidate for the crates that trace from candidates.
fn with_live<C: Collector, R>(f: impl FnOnce(&C::Ptr) -> R) -> R {
    // By node type: the two objimpl columns share one tree (their
    // collector is the thread's, which would walk two).
    let key = TypeId::of::<C::Ptr>();
    let built = LIVE.with(|live| live.borrow().iter().any(|(id, _)| *id == key));
    if !built {
        let root = build_tree::<C>(sizes().live_depth, None);
        C::collect();
        LIVE.with(|live| live.borrow_mut().push((key, Box::new(root))));
    }
    LIVE.with(|live| {
        let live = live.borrow();
        let (_, root) = live.iter().find(|(id, _)| *id == key).expect("built above");
        f(root.downcast_ref::<C::Ptr>().expect("C's own tree"))
    })
}

/// Drops `C`'s live tree and collects it: every node must go.
fn free_live<C: Collector>() {
    let root = LIVE.with(|live| {
        let mut live = live.borrow_mut();
        let key = TypeId::of::<C::Ptr>();
        let i = live.iter().position(|(id, _)| *id == key)?;
        Some(live.swap_remove(i).1)
    });
    let Some(root) = root else { return };
    let before = drops();
    drop(root);
    C::collect();
    let nodes = tree_nodes(sizes().live_depth);
    check(C::NAME, "live tree", drops() - before, nodes);
}

/// (d) `ops` full collections with the live tree and no garbage.
fn pause<C: Collector>(ops: u64) -> Duration {
    with_live::<C, _>(|_| ());
    let before = drops();
    let elapsed = time(|| {
        for _ in 0..ops {
            C::collect();
        }
    });
    check(C::NAME, "pause (no garbage)", drops() - before, 0);
    elapsed
}

/// Clones and drops a handle to every node below `node`; returns the
/// nodes below it.
fn touch<C: Collector>(node: &C::Ptr) -> u64 {
    let mut below = 0;
    for link in [Link::Left, Link::Right] {
        let child = C::link(node, link).borrow().clone();
        if let Some(child) = child {
            below += 1 + touch::<C>(&child);
        }
    }
    below
}

/// (d') as (d), each collection after every node but the root was touched.
fn pause_touched<C: Collector>(ops: u64) -> Duration {
    let mut elapsed = Duration::ZERO;
    let before = drops();
    for _ in 0..ops {
        let touched = with_live::<C, _>(|root| touch::<C>(root));
        assert_eq!(touched + 1, tree_nodes(sizes().live_depth));
        elapsed += time(C::collect);
    }
    check(C::NAME, "pause (touched)", drops() - before, 0);
    elapsed
}

// -- the table ----------------------------------------------------------------

struct Contender {
    name: &'static str,
    trees: Run,
    churn: Run,
    list: Run,
    pause: Run,
    pause_touched: Run,
    free_live: fn(),
    collections: Counter,
}

/// A contender's count of collections ([`Collector::collections`]).
type Counter = fn() -> Option<usize>;

/// A contender of (b): its name, its run, its count of collections.
type Churner = (&'static str, Run, Counter);

fn contender<C: Collector>() -> Contender {
    Contender {
        name: C::NAME,
        trees: trees::<C>,
        churn: churn::<C>,
        list: list::<C>,
        pause: pause::<C>,
        pause_touched: pause_touched::<C>,
        free_live: free_live::<C>,
        collections: C::collections,
    }
}

/// The contenders of the cyclic workloads: objimpl first (every ratio is objimpl over a peer).
fn contenders() -> Vec<Contender> {
    vec![
        contender::<Objimpl>(),
        contender::<ObjimplManual>(),
        contender::<Gcmodule>(),
        contender::<RustCc>(),
        contender::<Dumpster>(),
        contender::<Bacon>(),
    ]
}

/// (b)'s contenders: objimpl's `gc` object, its `basic` one, the crates.
fn churn_contenders() -> Vec<Churner> {
    let basic = contender::<Basic>();
    let mut all: Vec<_> = contenders()
        .into_iter()
        .filter(|c| c.name != ObjimplManual::NAME)
        .map(|c| (c.name, c.churn, c.collections))
        .collect();
    all.insert(1, (basic.name, basic.churn, basic.collections));
    all
}

struct Workload {
    id: &'static str,
    label: &'static str,
    unit: &'static str,
    run: fn(&Contender) -> Run,
    /// What one op's nanoseconds are divided by for the table.
    per_op: fn() -> f64,
}

const WORKLOADS: [Workload; 4] = [
    Workload {
        id: "a",
        label: "(a) tree w/ parent ptrs: build+drop+collect",
        unit: "ns/obj",
        run: |c| c.trees,
        per_op: || tree_nodes(sizes().tree_depth) as f64,
    },
    Workload {
        id: "c",
        label: "(c) doubly linked list: build+drop+collect",
        unit: "ns/obj",
        run: |c| c.list,
        per_op: || sizes().list_len as f64,
    },
    Workload {
        id: "d",
        label: "(d) collect(), live tree, no garbage",
        unit: "us",
        run: |c| c.pause,
        per_op: || 1e3,
    },
    Workload {
        id: "d'",
        label: "(d') the same, every node a candidate",
        unit: "us",
        run: |c| c.pause_touched,
        per_op: || 1e3,
    },
];

fn main() {
    let mode = Mode::from_env();
    QUICK.store(mode.quick, Ordering::Relaxed);
    // bacon_rajan_cc marks and scans recursively, one frame per node of a
    // chain: the 100,000-node list needs more stack than the main thread's
    // 8 MiB. Every contender runs on this one thread (objimpl's collector
    // is per thread); untouched stack costs nothing.
    let worker = std::thread::Builder::new()
        .name("gc-bench".into())
        .stack_size(1 << 30)
        .spawn(move || run(&mode))
        .expect("a thread for the benchmark");
    if let Err(panic) = worker.join() {
        std::panic::resume_unwind(panic);
    }
}

fn run(mode: &Mode) {
    let contenders = contenders();
    let churners = churn_contenders();
    if mode.criterion {
        let mut c = common::criterion();
        for workload in &WORKLOADS {
            let mut group = c.benchmark_group(format!("gc-{}", workload.id));
            for contender in &contenders {
                group.bench_function(contender.name, |b| b.iter_custom((workload.run)(contender)));
            }
            group.finish();
        }
        let mut group = c.benchmark_group("gc-b");
        for &(name, run, _) in &churners {
            group.bench_function(name, |b| b.iter_custom(run));
        }
        group.finish();
        c.final_summary();
    }
    if mode.table {
        let (cycles, churn, objimpl) = tables(&contenders, &churners, mode);
        cycles.print();
        churn.print();
        cpython(mode, &objimpl).print();
    }
    for contender in &contenders {
        (contender.free_live)();
    }
}

/// Min..max of each contender's samples, for a note.
fn spread(names: &[&str], samples: &[Vec<f64>]) -> String {
    names
        .iter()
        .zip(samples)
        .map(|(name, s)| {
            let min = s.iter().copied().fold(f64::INFINITY, f64::min);
            let max = s.iter().copied().fold(0.0, f64::max);
            format!("{name} {}..{}", fig(min), fig(max))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A figure with 3 significant digits or so.
fn fig(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}")
    } else if x >= 10.0 {
        format!("{x:.1}")
    } else if x >= 0.1 {
        format!("{x:.2}")
    } else {
        format!("{x:.4}")
    }
}

/// Collections per run of each contender that counts them: `during`
/// collections over `runs` runs.
fn collections_note(id: &str, names: &[&str], during: &[Option<usize>], runs: usize) -> String {
    let counted: Vec<String> = names
        .iter()
        .zip(during)
        .filter_map(|(name, n)| n.map(|n| format!("{name} {}", fig(n as f64 / runs as f64))))
        .collect();
    format!(
        "({id}) collections per run, automatic and explicit (where counted): {}",
        counted.join(", ")
    )
}

/// Runs `runs` interleaved, with each contender's collection count before and after.
fn measured(
    runs: &[Run],
    counters: &[Counter],
    ops: u64,
    rounds: usize,
) -> (Vec<Vec<f64>>, Vec<Option<usize>>) {
    let before: Vec<_> = counters.iter().map(|c| c()).collect();
    let samples = interleave(runs, ops, rounds);
    let during = counters
        .iter()
        .zip(before)
        .map(|(c, b)| Some(c()? - b?))
        .collect();
    (samples, during)
}

/// The in-process tables, and objimpl's median per workload id (for the CPython table).
fn tables(
    contenders: &[Contender],
    churners: &[Churner],
    mode: &Mode,
) -> (Table, Table, Vec<(&'static str, f64)>) {
    let rounds = mode.rounds();
    // The warm-up run of `interleave`, then the rounds.
    let runs_each = rounds + 1;
    let names: Vec<&'static str> = contenders.iter().map(|c| c.name).collect();
    let counters: Vec<_> = contenders.iter().map(|c| c.collections).collect();
    let mut objimpl = Vec::new();

    let mut cycles = Table::new(
        format!("cycle collectors, cyclic shapes: medians of {rounds} interleaved rounds"),
        names.clone(),
    );
    for workload in &WORKLOADS {
        let runs: Vec<Run> = contenders.iter().map(workload.run).collect();
        // Zero ops: (d) builds its live trees here, not in a counted run.
        for run in &runs {
            run(0);
        }
        let (mut samples, during) = measured(&runs, &counters, 1, rounds);
        let per_op = (workload.per_op)();
        for ns in samples.iter_mut().flatten() {
            *ns /= per_op;
        }
        cycles.note(format!(
            "({}) range over rounds, {}: {}",
            workload.id,
            workload.unit,
            spread(&names, &samples)
        ));
        cycles.note(collections_note(workload.id, &names, &during, runs_each));
        objimpl.push((workload.id, median(&samples[0])));
        cycles.push(Row::from_rounds(workload.label, workload.unit, &samples));
    }
    let s = sizes();
    cycles.note(format!(
        "(a) one tree of depth {} ({} nodes) per run; (c) {} nodes; (d) a live tree of {} nodes",
        s.tree_depth,
        tree_nodes(s.tree_depth),
        s.list_len,
        tree_nodes(s.live_depth)
    ));
    cycles.note("(d) rust-cc, dumpster and bacon_rajan_cc trace only from candidate roots");
    cycles.note("    (handles dropped to a nonzero count): with none, they look at nothing");
    cycles.note(
        "(d') before each collection, a handle to every node was cloned and dropped (not timed)",
    );
    cycles
        .note("every run checks that exactly the nodes it built were dropped (none in (d), (d'))");
    cycles.note("ratio: the median over rounds of objimpl's time / the peer's in the same round");

    let churn_names: Vec<&'static str> = churners.iter().map(|&(name, _, _)| name).collect();
    let churn_runs: Vec<Run> = churners.iter().map(|&(_, run, _)| run).collect();
    let churn_counters: Vec<_> = churners.iter().map(|&(_, _, c)| c).collect();
    let ops = s.churn;
    let (samples, during) = measured(&churn_runs, &churn_counters, ops, rounds);
    let mut churn = Table::new(
        format!("short-lived acyclic objects: medians of {rounds} interleaved rounds"),
        churn_names.clone(),
    );
    churn.push(
        Row::from_rounds("(b) new + drop, nothing cyclic", "ns/obj", &samples).target(
            Target::RatioTo {
                peer: "objimpl basic",
                at_most: 1.5,
            },
        ),
    );
    objimpl.push(("b", median(&samples[0])));
    churn.note(format!(
        "(b) range over rounds, ns/obj: {}",
        spread(&churn_names, &samples)
    ));
    churn.note(collections_note("b", &churn_names, &during, runs_each));
    churn.note(format!(
        "{ops} objects per run, one other kept live; same payload everywhere (56 bytes)"
    ));
    churn.note(
        "objimpl basic: the payload in a #[pyobject(basic)] type (no GC header, never tracked)",
    );
    churn.note("ratio: the median over rounds of objimpl's time / the peer's in the same round");
    if mode.quick {
        let quick =
            "quick run (not `cargo bench`): one short round, small sizes, the figures mean nothing";
        cycles.note(quick);
        churn.note(quick);
    }
    (cycles, churn, objimpl)
}

/// CPython's gc on the same shapes (`python/gc_shapes.py`), beside objimpl's medians.
fn cpython(mode: &Mode, objimpl: &[(&'static str, f64)]) -> Table {
    let python = std::env::var("OBJIMPL_BENCH_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/python/gc_shapes.py");
    let s = sizes();
    let rounds = mode.rounds();
    let mut table = Table::new(
        format!("objimpl vs CPython's gc: medians ({rounds} rounds each, not interleaved)"),
        vec!["objimpl", "CPython gc"],
    );
    let output = Command::new(&python)
        .arg(script)
        .args(["--rounds", &rounds.to_string()])
        .args(["--tree-depth", &s.tree_depth.to_string()])
        .args(["--churn", &s.churn.to_string()])
        .args(["--list", &s.list_len.to_string()])
        .args(["--live-depth", &s.live_depth.to_string()])
        .output();
    let stdout = match output {
        Ok(out) if out.status.success() => String::from_utf8(out.stdout).expect("UTF-8"),
        Ok(out) => panic!("{script} failed: {}", String::from_utf8_lossy(&out.stderr)),
        Err(error) => {
            table.note(format!(
                "no CPython figures: {python} could not run: {error}"
            ));
            return table;
        }
    };
    // Lines: `version ...`, then `id median min max` per workload.
    let mut version = String::new();
    for line in stdout.lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("version") => version = words.collect::<Vec<_>>().join(" "),
            Some(id) => {
                let figures: Vec<f64> = words.map(|w| w.parse().expect("a number")).collect();
                let [median, min, max] = figures[..] else {
                    panic!("{script}: unexpected line {line:?}");
                };
                let Some(workload) = WORKLOADS.iter().find(|w| w.id == id) else {
                    if id == "b" {
                        let ours = objimpl.iter().find(|(i, _)| *i == "b").expect("b").1;
                        table.push(Row::from_values(
                            "(b) new + drop, nothing cyclic",
                            "ns/obj",
                            vec![ours, median],
                        ));
                        table.note(format!("(b) CPython range: {}..{}", fig(min), fig(max)));
                        continue;
                    }
                    panic!("{script}: unknown workload {id:?}");
                };
                let ours = objimpl.iter().find(|(i, _)| *i == id).expect("every id").1;
                table.push(Row::from_values(
                    workload.label,
                    workload.unit,
                    vec![ours, median],
                ));
                table.note(format!("({id}) CPython range: {}..{}", fig(min), fig(max)));
            }
            None => {}
        }
    }
    table.note(format!(
        "CPython {version}, in a subprocess after the in-process rounds, so not interleaved:"
    ));
    table.note("    objimpl's column is its median above, the ratio one of medians");
    table.note(
        "a __slots__ class with the same four fields; (a), (b), (c) include the interpreter's",
    );
    table.note("    own work (calls, attribute stores), (d) is the collector alone");
    table.note("the interpreter's own objects are frozen (gc.freeze()) first; default thresholds");
    table
}
