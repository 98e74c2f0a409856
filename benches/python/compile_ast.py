"""The compiler: ``ast.parse`` and ``compile`` of a sizeable generated
module (classes, functions, loops, comprehensions, f-strings, literals),
then a walk over the tree. The parser and the compiler allocate many small
C structures and the AST many small Python objects."""

import ast

import _harness

FUNCTIONS = 300


def source(n):
    """A module of ``n`` functions grouped in classes, each with a little of
    everything the grammar has."""
    parts = ['"""A generated module."""', "import math", "", "TABLE = {"]
    parts += ['    "k%d": (%d, %r, [%d, %d.5]),' % (i, i, "v%d" % i, i, i)
              for i in range(n)]
    parts.append("}")
    for c in range(n // 10):
        parts.append("\n\nclass Generated%d:" % c)
        parts.append('    """Class %d."""' % c)
        parts.append("    limit = %d\n" % (c * 3))
        for f in range(10):
            i = c * 10 + f
            parts.append(f'''
    def method{f}(self, xs, *, scale={i}, **options):
        total = 0
        for j, x in enumerate(xs):
            if x % {f + 2} == 0 and j > self.limit:
                total += x * scale
            elif x < 0:
                total -= math.sqrt(-x) if x else 0
            else:
                continue
        squares = [y * y for y in xs if y > {i % 7}]
        lookup = {{k: v for k, v in TABLE.items() if len(k) > {f % 4}}}
        try:
            label = f"m{i}:{{total:>10}}:{{len(squares)}}:{{options.get('tag', '-')}}"
        except (KeyError, ValueError) as error:
            raise RuntimeError("method{i}") from error
        finally:
            pass
        while total > 1000:
            total //= 2
        return label, total, lookup.get("k{i}", None), lambda z: z + {i}
''')
    return "\n".join(parts) + "\n"


def work(rounds):
    text = source(FUNCTIONS)
    digest = 0
    for r in range(rounds):
        tree = ast.parse(text, filename="<generated%d>" % r)
        nodes = sum(1 for _ in ast.walk(tree))
        code = compile(tree, "<generated%d>" % r, "exec")
        # Compiling from the text goes through the parser's own AST, not
        # Python objects: both paths are common.
        code2 = compile(text, "<generated%d>" % r, "exec")
        digest = (digest * 31 + nodes + len(code.co_consts)
                  + len(code2.co_names)) % (1 << 61)
    return digest


if __name__ == "__main__":
    _harness.main(work, size=5, quick_size=1)
