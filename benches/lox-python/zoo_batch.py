# Python 3 translation of test/benchmark/zoo_batch.lox (Crafting Interpreters).
# Same algorithm and output; print and clock() are in lox_runtime.py.
from lox_runtime import clock, lox_str


class Zoo:
    def __init__(self):
        self.aarvark = 1
        self.baboon = 1
        self.cat = 1
        self.donkey = 1
        self.elephant = 1
        self.fox = 1

    def ant(self):
        return self.aarvark

    def banana(self):
        return self.baboon

    def tuna(self):
        return self.cat

    def hay(self):
        return self.donkey

    def grass(self):
        return self.elephant

    def mouse(self):
        return self.fox


zoo = Zoo()
sum = 0
start = clock()
batch = 0
while clock() - start < 10:
    i = 0
    while i < 10000:
        sum = (sum + zoo.ant()
               + zoo.banana()
               + zoo.tuna()
               + zoo.hay()
               + zoo.grass()
               + zoo.mouse())
        i = i + 1
    batch = batch + 1

print(lox_str(sum))
print(lox_str(batch))
print(lox_str(clock() - start))
