"""String building: a plain-text report of generated records written four
ways (``+=`` on a local, ``"".join`` of pieces, ``io.StringIO``, and
``%``/``format``/f-string formatting), then taken apart again with
``split``, ``replace``, ``strip`` and case changes. Strings of all lengths,
some past 512 bytes (served by the C library under pymalloc), some non-ASCII."""

import io

import _harness

RECORDS = 2_000
WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta",
         "iota", "kappa", "lambda", "mu", "café", "naïve", "Ωmega"]


def line(i):
    """One record, formatted three ways by turns."""
    word = WORDS[i % len(WORDS)]
    if i % 3 == 0:
        return f"{i:06d} | {word:<10} | {i * 1.5:>12.3f} | {'x' * (i % 40)}"
    if i % 3 == 1:
        return "%06d | %-10s | %12.3f | %s" % (i, word, i * 1.5, "y" * (i % 40))
    return "{:06d} | {:<10} | {:>12.3f} | {}".format(i, word, i * 1.5, "z" * (i % 40))


def report_concat(n):
    text = ""
    for i in range(n):
        text += line(i) + "\n"
    return text


def report_join(n):
    return "\n".join(line(i) for i in range(n)) + "\n"


def report_stringio(n):
    out = io.StringIO()
    for i in range(n):
        out.write(line(i))
        out.write("\n")
    return out.getvalue()


def paragraphs(n):
    """Paragraphs of a few hundred characters, built word by word."""
    result = []
    for i in range(n // 4):
        words = [WORDS[(i * 7 + k) % len(WORDS)] for k in range(20 + i % 80)]
        result.append(" ".join(words).capitalize() + ".")
    return result


def work(rounds):
    digest = 0
    for r in range(rounds):
        a = report_concat(RECORDS)
        b = report_join(RECORDS)
        c = report_stringio(RECORDS)
        assert a == b == c
        fields = [row.split(" | ") for row in a.splitlines()]
        names = [f[1].strip().upper() for f in fields]
        swapped = b.replace("|", "/").replace("0", "o")
        paras = paragraphs(RECORDS)
        long_words = sum(len(w) for p in paras for w in p.split() if len(w) > 4)
        digest = (digest * 31 + len(a) + len(swapped) + len(set(names))
                  + long_words + r) % (1 << 61)
    return digest


if __name__ == "__main__":
    _harness.main(work, size=90, quick_size=3)
