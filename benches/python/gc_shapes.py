"""CPython's own cycle collector on the shapes of ``benches/gc.rs``.

``benches/gc.rs`` runs this as a subprocess, after its own rounds (it
cannot interleave with them), with the same sizes::

    python3 gc_shapes.py --rounds 41 --tree-depth 16 --churn 1000000 \\
        --list 100000 --live-depth 19

and reads one line per workload, ``id median min max``, the figures in the
units of the Rust table:

- ``a``: a binary tree of ``--tree-depth`` (depth 0 is one node), each
  child pointing to its parent, built, dropped and collected: ns per node;
- ``b``: ``--churn`` nodes made and dropped one at a time: ns per node;
- ``c``: a doubly linked list of ``--list`` nodes, dropped and collected:
  ns per node;
- ``d``: one ``gc.collect()`` with a live tree of ``--live-depth`` and no
  garbage (built once, outside the timing): µs per collection.

The node is a ``__slots__`` class with the Rust node's fields (a value and
three links), tracked by the collector as every instance of such a class
is. The interpreter's own objects are frozen (``gc.freeze()``) first, so
that a collection sees the workload's objects alone; the thresholds stay
CPython's defaults. Every run checks what ``gc.collect()`` found: all the
nodes built in (a) and (c), nothing in (d).
"""

import argparse
import gc
import statistics
import sys
import time


class Node:
    __slots__ = ("value", "parent", "left", "right")

    def __init__(self, value):
        self.value = value
        self.parent = None
        self.left = None
        self.right = None


def build_tree(depth, parent):
    node = Node(depth)
    node.parent = parent
    if depth > 0:
        node.left = build_tree(depth - 1, node)
        node.right = build_tree(depth - 1, node)
    return node


def tree_nodes(depth):
    return (1 << (depth + 1)) - 1


def trees(args):
    start = time.perf_counter_ns()
    root = build_tree(args.tree_depth, None)
    del root
    found = gc.collect()
    elapsed = time.perf_counter_ns() - start
    nodes = tree_nodes(args.tree_depth)
    assert found == nodes, "trees: %d nodes built, gc.collect() found %d" % (nodes, found)
    return elapsed / nodes


def churn(args):
    anchor = Node(0)
    n = args.churn
    start = time.perf_counter_ns()
    for i in range(n):
        Node(i)
    elapsed = time.perf_counter_ns() - start
    del anchor
    return elapsed / n


def linked_list(args):
    n = args.list
    start = time.perf_counter_ns()
    head = Node(0)
    tail = head
    for i in range(1, n):
        node = Node(i)
        node.left = tail
        tail.right = node
        tail = node
    del head, tail, node
    found = gc.collect()
    elapsed = time.perf_counter_ns() - start
    assert found == n, "list: %d nodes built, gc.collect() found %d" % (n, found)
    return elapsed / n


LIVE = []


def pause(args):
    if not LIVE:
        LIVE.append(build_tree(args.live_depth, None))
        gc.collect()
    start = time.perf_counter_ns()
    found = gc.collect()
    elapsed = time.perf_counter_ns() - start
    assert found == 0, "pause: gc.collect() found %d objects with no garbage" % found
    return elapsed / 1e3


WORKLOADS = [("a", trees), ("b", churn), ("c", linked_list), ("d", pause)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=41)
    parser.add_argument("--tree-depth", type=int, default=16)
    parser.add_argument("--churn", type=int, default=1_000_000)
    parser.add_argument("--list", type=int, default=100_000)
    parser.add_argument("--live-depth", type=int, default=19)
    args = parser.parse_args()

    gc.collect()
    gc.freeze()
    print("version %s" % sys.version.split()[0])
    # Workload after workload, as in the Rust table (so (d)'s live tree is
    # not there while the others run), each with one unrecorded run first.
    for w, run in WORKLOADS:
        run(args)
        s = [run(args) for _ in range(args.rounds)]
        print("%s %.6f %.6f %.6f" % (w, statistics.median(s), min(s), max(s)), flush=True)


if __name__ == "__main__":
    main()
