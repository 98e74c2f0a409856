# Python 3 translation of test/benchmark/method_call.lox (Crafting Interpreters).
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


class Toggle:
    def __init__(self, startState):
        self.state = startState

    def value(self):
        return self.state

    def activate(self):
        self.state = not self.state
        return self


class NthToggle(Toggle):
    def __init__(self, startState, maxCounter):
        super().__init__(startState)
        self.countMax = maxCounter
        self.count = 0

    def activate(self):
        self.count = self.count + 1
        if self.count >= self.countMax:
            super().activate()
            self.count = 0

        return self


start = clock()
n = 100000
val = True
toggle = Toggle(val)

i = 0
while i < n:
    val = toggle.activate().value()
    val = toggle.activate().value()
    val = toggle.activate().value()
    val = toggle.activate().value()
    val = toggle.activate().value()
    val = toggle.activate().value()
    val = toggle.activate().value()
    val = toggle.activate().value()
    val = toggle.activate().value()
    val = toggle.activate().value()
    i = i + 1

print(lox_str(toggle.value()))

val = True
ntoggle = NthToggle(val, 3)

i = 0
while i < n:
    val = ntoggle.activate().value()
    val = ntoggle.activate().value()
    val = ntoggle.activate().value()
    val = ntoggle.activate().value()
    val = ntoggle.activate().value()
    val = ntoggle.activate().value()
    val = ntoggle.activate().value()
    val = ntoggle.activate().value()
    val = ntoggle.activate().value()
    val = ntoggle.activate().value()
    i = i + 1

print(lox_str(ntoggle.value()))
print(lox_str(clock() - start))
