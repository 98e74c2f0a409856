# Python 3 translation of test/benchmark/equality.lox (Crafting Interpreters).
# Same algorithm and output; print and clock() are in lox_runtime.py.
# The loops' expression statements are kept one for one. CPython's compiler
# drops statements that are bare constants (the first loop of equality.py),
# and Python's == differs from Lox's for 1 == True; the results are
# discarded in both languages, so the output is the same.
from lox_runtime import clock, lox_str


i = 0

loopStart = clock()

while i < 10000000:
    i = i + 1

    1; 1; 1; 2; 1; None; 1; "str"; 1; True
    None; None; None; 1; None; "str"; None; True
    True; True; True; 1; True; False; True; "str"; True; None
    "str"; "str"; "str"; "stru"; "str"; 1; "str"; None; "str"; True

loopTime = clock() - loopStart

start = clock()

i = 0
while i < 10000000:
    i = i + 1

    1 == 1; 1 == 2; 1 == None; 1 == "str"; 1 == True
    None == None; None == 1; None == "str"; None == True
    True == True; True == 1; True == False; True == "str"; True == None
    "str" == "str"; "str" == "stru"; "str" == 1; "str" == None; "str" == True

elapsed = clock() - start
print(lox_str("loop"))
print(lox_str(loopTime))
print(lox_str("elapsed"))
print(lox_str(elapsed))
print(lox_str("equals"))
print(lox_str(elapsed - loopTime))
