# What every translation of a Lox benchmark shares: Lox's print and clock().
# print is lox_str(): clox prints numbers with printf's %g. clock() is clox's
# C clock(), i.e. process CPU time. The translations keep integral numbers
# as Python ints (every value stays below 2**53, so the arithmetic and the
# %g output are those of Lox's doubles).
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
