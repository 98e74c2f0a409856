//! Objects that refer to each other: a graph of `#[pyobject(gc)]` nodes
//! with cycles, which reference counting alone would never free, and the
//! cycle collector's statistics before and after `gc::collect()`.
//!
//! Run with `cargo run --example gc_graph`.

use std::cell::{Cell, RefCell};

use objimpl::prelude::*;

/// A node of a directed graph. Its traversal is derived from the fields:
/// `edges` and `parent` hold handles, `name` and `visits` none.
#[pyobject(gc)]
pub struct Node {
    name: String,
    visits: Cell<u32>,
    edges: RefCell<Vec<Py<Node>>>,
    parent: Cell<Option<Py<Node>>>,
}

impl Drop for Node {
    fn drop(&mut self) {
        // Only this node's own fields may be read here: its neighbours may
        // be garbage of the same collection (see `objimpl::gc`).
        DROPPED.with(|d| d.set(d.get() + 1));
        let _ = self.visits.get();
    }
}

thread_local!(static DROPPED: Cell<usize> = const { Cell::new(0) });

fn node(name: String) -> Result<Py<Node>, MemoryError> {
    Node::new(Node {
        name,
        visits: Cell::new(0),
        edges: RefCell::new(Vec::new()),
        parent: Cell::new(None),
    })
}

/// A tree of `depth` levels whose children point back at their parent:
/// every parent-child pair is a cycle.
fn tree(name: String, depth: u32) -> Result<Py<Node>, MemoryError> {
    let root = node(name.clone())?;
    if depth > 0 {
        for side in ["l", "r"] {
            let child = tree(format!("{name}{side}"), depth - 1)?;
            child.parent.set(Some(root.clone()));
            root.edges.borrow_mut().push(child);
        }
    }
    Ok(root)
}

fn print_stats(when: &str) {
    let [g0, g1, g2] = gc::get_stats();
    println!(
        "{when:>16}: count {:?}, collections {}/{}/{}, collected {}/{}/{}, dropped {}",
        gc::get_count(),
        g0.collections,
        g1.collections,
        g2.collections,
        g0.collected,
        g1.collected,
        g2.collected,
        DROPPED.with(Cell::get),
    );
}

fn main() -> Result<(), MemoryError> {
    print_stats("start");

    // A ring of five: each node points to the next, the last to the first.
    let ring: Vec<_> = (0..5)
        .map(|i| node(format!("ring{i}")))
        .collect::<Result<_, _>>()?;
    for (i, n) in ring.iter().enumerate() {
        n.edges
            .borrow_mut()
            .push(ring[(i + 1) % ring.len()].clone());
        n.visits.set(n.visits.get() + 1);
    }
    println!("ring0 -> {}", ring[0].edges.borrow()[0].name);
    drop(ring);

    // A tree with parent pointers: 2^11 - 1 nodes, 2^11 - 2 cycles.
    let root = tree("t".into(), 10)?;
    println!("the tree's root has {} children", root.edges.borrow().len());
    drop(root);

    // Dropping the handles freed nothing: every node is still referenced
    // by another. Allocation has run some young collections meanwhile.
    print_stats("handles dropped");
    let found = gc::collect();
    println!("gc::collect() found {found} unreachable objects");
    print_stats("after collect");
    assert_eq!(
        DROPPED.with(Cell::get),
        5 + (1 << 11) - 1,
        "every node dropped once"
    );
    Ok(())
}
