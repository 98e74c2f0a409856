"""A recursive data structure: complete binary trees of nodes made,
walked and dropped depth after depth, beside one long-lived tree (the
shape of the classic allocation benchmark). Nodes are instances of a
class with ``__slots__`` (one 48-byte block each), not tuples, which
CPython keeps on free lists."""

import _harness

MIN_DEPTH = 4


class Node:
    __slots__ = ("left", "right")

    def __init__(self, left, right):
        self.left = left
        self.right = right


def build(depth):
    """A complete tree of ``depth`` levels below the root."""
    if depth == 0:
        return Node(None, None)
    return Node(build(depth - 1), build(depth - 1))


def count(node):
    """The number of nodes in the tree under ``node``."""
    if node.left is None:
        return 1
    return 1 + count(node.left) + count(node.right)


def work(max_depth):
    # One tree deeper than any other, made and dropped at once.
    total = count(build(max_depth + 1))
    long_lived = build(max_depth)
    # As many nodes at every depth: many small trees, or a few large ones.
    for depth in range(MIN_DEPTH, max_depth + 1, 2):
        for _ in range(2 ** (max_depth - depth + MIN_DEPTH)):
            total += count(build(depth))
    return total + count(long_lived)


if __name__ == "__main__":
    _harness.main(work, size=15, quick_size=8)
