# Python 3 translation of test/benchmark/fib.lox (Crafting Interpreters).
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


def fib(n):
    if n < 2:
        return n
    return fib(n - 2) + fib(n - 1)


start = clock()
print(lox_str(fib(35) == 9227465))
print(lox_str(clock() - start))
