# Python 3 translation of test/benchmark/trees.lox (Crafting Interpreters).
# Same algorithm and output: print is lox_str() (clox prints numbers with
# printf's %g), clock() is clox's C clock(), i.e. process CPU time.
# Integral numbers are Python ints (every value stays below 2**53, so the
# arithmetic and the %g output are those of Lox's doubles).
import time

clock = time.process_time


def lox_str(value):
    """A value as Lox's print shows it."""
    if value is None:
        return "nil"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, (int, float)):
        return "%g" % value
    return str(value)


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
