# Python 3 translation of test/benchmark/fib.lox (Crafting Interpreters).
# Same algorithm and output; print and clock() are in lox_runtime.py.
from lox_runtime import clock, lox_str


def fib(n):
    if n < 2:
        return n
    return fib(n - 2) + fib(n - 1)


start = clock()
print(lox_str(fib(35) == 9227465))
print(lox_str(clock() - start))
