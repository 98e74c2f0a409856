# Python 3 translation of test/benchmark/binary_trees.lox (Crafting Interpreters).
# Same algorithm and output; print and clock() are in lox_runtime.py.
from lox_runtime import clock, lox_str


class Tree:
    def __init__(self, item, depth):
        self.item = item
        self.depth = depth
        if depth > 0:
            item2 = item + item
            depth = depth - 1
            self.left = Tree(item2 - 1, depth)
            self.right = Tree(item2, depth)
        else:
            self.left = None
            self.right = None

    def check(self):
        if self.left is None:
            return self.item

        return self.item + self.left.check() - self.right.check()


minDepth = 4
maxDepth = 14
stretchDepth = maxDepth + 1

start = clock()

print(lox_str("stretch tree of depth:"))
print(lox_str(stretchDepth))
print(lox_str("check:"))
print(lox_str(Tree(0, stretchDepth).check()))

longLivedTree = Tree(0, maxDepth)

# iterations = 2 ** maxDepth
iterations = 1
d = 0
while d < maxDepth:
    iterations = iterations * 2
    d = d + 1

depth = minDepth
while depth < stretchDepth:
    check = 0
    i = 1
    while i <= iterations:
        check = check + Tree(i, depth).check() + Tree(-i, depth).check()
        i = i + 1

    print(lox_str("num trees:"))
    print(lox_str(iterations * 2))
    print(lox_str("depth:"))
    print(lox_str(depth))
    print(lox_str("check:"))
    print(lox_str(check))

    iterations = iterations / 4
    depth = depth + 2

print(lox_str("long lived tree of depth:"))
print(lox_str(maxDepth))
print(lox_str("check:"))
print(lox_str(longLivedTree.check()))
print(lox_str("elapsed:"))
print(lox_str(clock() - start))
