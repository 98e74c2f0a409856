"""A pyperf benchmark that times nothing worth timing: each pyperf worker
records, in its run's metadata, the allocator it runs on, for
`scripts/pyperformance.sh` to check that every worker of a configuration is
on the allocator the configuration claims."""

import os
import sys
import tempfile

import pyperf


def allocator():
    """`objimpl` if objimpl serves CPython's domains (objimpl-python's
    `sys._debugmallocstats` prints objimpl's own lines), else CPython's name
    for its allocators; `+mimalloc` or `+jemalloc` if one is loaded."""
    with tempfile.TemporaryFile() as out:
        saved = os.dup(2)
        try:
            os.dup2(out.fileno(), 2)
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        out.seek(0)
        stats = out.read()
    if b"# arenas purged" in stats:
        name = "objimpl"
    else:
        import _testcapi

        name = _testcapi.pymem_getallocatorsname()
    with open("/proc/self/maps") as maps:
        loaded = maps.read()
    for peer in ("mimalloc", "jemalloc"):
        if "lib" + peer in loaded:
            name += "+" + peer
    return name


if __name__ == "__main__":
    runner = pyperf.Runner()
    runner.metadata["allocator"] = allocator()
    runner.bench_func("allocator_probe", lambda: [object() for _ in range(100)])
