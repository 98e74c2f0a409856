//! Random graphs: after `collect()`, exactly the objects unreachable from
//! the handles still held are gone, each dropped once.

use std::collections::HashSet;

use proptest::prelude::*;

use objimpl_core::gc;

use crate::support::{link, start};

/// A graph: `n` nodes, directed edges, and which handles the test keeps.
#[derive(Debug, Clone)]
struct Graph {
    n: usize,
    edges: Vec<(usize, usize)>,
    kept: Vec<bool>,
}

fn graphs() -> impl Strategy<Value = Graph> {
    let max: usize = if cfg!(miri) { 6 } else { 40 };
    (1..=max).prop_flat_map(|n| {
        (
            Just(n),
            prop::collection::vec((0..n, 0..n), 0..3 * n),
            prop::collection::vec(prop::bool::weighted(0.2), n),
        )
            .prop_map(|(n, edges, kept)| Graph { n, edges, kept })
    })
}

/// The nodes reachable from the kept ones.
fn reachable(graph: &Graph) -> HashSet<usize> {
    let mut seen: HashSet<usize> = (0..graph.n).filter(|&i| graph.kept[i]).collect();
    let mut stack: Vec<usize> = seen.iter().copied().collect();
    while let Some(i) = stack.pop() {
        for &(from, to) in &graph.edges {
            if from == i && seen.insert(to) {
                stack.push(to);
            }
        }
    }
    seen
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: if cfg!(miri) { 4 } else { 256 },
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn collect_frees_exactly_the_unreachable(graph in graphs()) {
        let t = start();
        let nodes: Vec<_> = (0..graph.n).map(|i| t.log.obj(i)).collect();
        for &(from, to) in &graph.edges {
            link(&nodes[from], &nodes[to]);
        }
        let kept: Vec<_> = nodes
            .into_iter()
            .zip(&graph.kept)
            .filter_map(|(node, &keep)| keep.then_some(node))
            .collect();
        gc::collect();
        let alive = reachable(&graph);
        let mut dropped = t.log.dropped();
        dropped.sort_unstable();
        let expected: Vec<usize> = (0..graph.n).filter(|i| !alive.contains(i)).collect();
        prop_assert_eq!(dropped, expected);
        // What survived is whole: every edge of a live node reads back.
        for node in &kept {
            for edge in node.edges.borrow().iter() {
                let target = edge.downcast_ref::<crate::support::Obj>().unwrap();
                prop_assert!(alive.contains(&target.id));
            }
        }
        drop(kept);
        gc::collect();
        t.log.assert_dropped_once(0..graph.n);
        t.assert_nothing_leaked();
    }
}
