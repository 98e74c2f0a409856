"""What every workload shares: its command line, the timing, and the one
JSON line the driver (run.py) reads.

A workload module defines ``work(size) -> check`` (the check is a number or
a string that every allocator must reproduce exactly) and the sizes of a
real and of a quick run, then ends with::

    if __name__ == "__main__":
        harness.main(work, size=..., quick_size=...)

``python3 workload.py`` runs it at its real size and prints one line::

    {"seconds": 1.02, "size": 14, "check": 123, "peak_rss_kib": 51340, ...}

``seconds`` is ``time.perf_counter()`` around ``work`` alone: the
interpreter's start and the imports are not in it. ``peak_rss_kib`` is
the process's peak resident set (``VmHWM``) read after the work. (The
driver cannot take it from ``wait4``: a child's ``ru_maxrss`` starts at the
RSS of the parent it was forked from, here the driver's own ~16 MiB.)
``allocator`` says what served the memory, so the driver can check that
each contender really ran under the allocator it names.
"""

import argparse
import json
import os
import sys
import time


def allocator_evidence():
    """What this process runs on: objimpl (objimpl-python replaces
    ``sys.getallocatedblocks`` with its own, documented as objimpl's),
    ``PYTHONMALLOC``, and the malloc libraries mapped into the process (an
    ``LD_PRELOAD`` shows up there)."""
    doc = sys.getallocatedblocks.__doc__ or ""
    mapped = set()
    with open("/proc/self/maps") as maps:
        for line in maps:
            path = line.rstrip("\n").split(" ")[-1]
            name = os.path.basename(path)
            if "malloc" in name or "jemalloc" in name:
                mapped.add(name)
    return {
        "objimpl": "objimpl" in doc,
        "pythonmalloc": os.environ.get("PYTHONMALLOC", ""),
        "objimpl_malloc": os.environ.get("OBJIMPL_MALLOC", ""),
        "mapped": sorted(mapped),
    }


def memory_status():
    """``VmHWM`` (the peak RSS), ``VmRSS``, ``RssAnon`` and ``RssFile`` of
    this process now, in KiB, from ``/proc/self/status``."""
    wanted = ("VmHWM", "VmRSS", "RssAnon", "RssFile")
    status = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in wanted:
                status[key] = int(value.split()[0])
    return status


def main(work, size, quick_size):
    parser = argparse.ArgumentParser(description=sys.modules["__main__"].__doc__)
    parser.add_argument("--size", type=int, help=f"the workload's size (default {size})")
    parser.add_argument("--quick", action="store_true",
                        help=f"a smoke-test run (size {quick_size})")
    args = parser.parse_args()
    if args.size is not None:
        n = args.size
    elif args.quick:
        n = quick_size
    else:
        n = size

    start = time.perf_counter()
    check = work(n)
    seconds = time.perf_counter() - start

    memory = memory_status()
    result = {"seconds": seconds, "size": n, "check": check,
              "peak_rss_kib": memory["VmHWM"], "memory_at_end": memory,
              "allocator": allocator_evidence()}
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
