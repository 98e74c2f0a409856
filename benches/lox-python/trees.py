# Python 3 translation of test/benchmark/trees.lox (Crafting Interpreters).
# Same algorithm and output; print and clock() are in lox_runtime.py.
from lox_runtime import clock, lox_str


class Tree:
    def __init__(self, depth):
        self.depth = depth
        if depth > 0:
            self.a = Tree(depth - 1)
            self.b = Tree(depth - 1)
            self.c = Tree(depth - 1)
            self.d = Tree(depth - 1)
            self.e = Tree(depth - 1)

    def walk(self):
        if self.depth == 0:
            return 0
        return (self.depth
                + self.a.walk()
                + self.b.walk()
                + self.c.walk()
                + self.d.walk()
                + self.e.walk())


tree = Tree(8)
start = clock()
i = 0
while i < 100:
    if tree.walk() != 122068:
        print(lox_str("Error"))
    i = i + 1
print(lox_str(clock() - start))
