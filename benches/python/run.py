"""The driver of the Python benchmark: runs every workload of this
directory under every allocator ("contender"), interleaved round by round,
and reports time and peak RSS as ratios to CPython's own pymalloc (plus the
peak RSS above each contender's own start, and CPU time as a cross-check).

scripts/python-bench.sh installs what is needed, builds objimpl-python and
calls this; run it directly only with the paths it passes::

    python3 benches/python/run.py --python /path/to/python3.11 \\
        --launcher target/launcher/objimpl-python \\
        [--preload mimalloc=/usr/lib/.../libmimalloc.so.2] [--preload jemalloc=...] \\
        [--rounds 9] [--quick] [--only binary_trees,strings] [--out target/python-bench]

How it measures:

- Each run is a fresh process. The workload times its own work with
  ``time.perf_counter`` (the interpreter's start is not in it) and reads its
  peak RSS (``VmHWM``) when done. The driver reaps the process with
  ``os.wait4`` and keeps its rusage too, but not for the peak RSS: a
  child's ``ru_maxrss`` is at least the RSS of the process that forked it
  (Linux carries the old memory's high-water mark across ``exec``), which
  would put a floor of the driver's own RSS under every run.
- A round runs every workload under every contender; the contenders' order
  turns by one each round, so none is always first (cold) or last. A
  workload's runs in one round follow each other within seconds, so they
  see the same machine: a ratio is taken inside a round, and the report
  gives the median of the per-round ratios and their min..max.
- The load is recorded with every run: ``os.getloadavg()`` and the share of
  the CPUs that other processes used meanwhile (from ``/proc/stat``), so an
  outlier can be explained.
- Every run says which allocator served it (see ``_harness.py``) and the
  driver stops if that is not the contender's, or if a workload's result
  differs between contenders.

Everything lands in ``<out>/<date-time>/`` (``runs.jsonl``: one line per
run; ``rounds.jsonl``: the load per round; ``meta.json``: the command,
versions and contenders; ``table.md``: the report; ``summary.json``: every
ratio), with ``<out>/latest`` pointing at it.
"""

import argparse
import datetime
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))

# (name, script): the workloads, in the order of the table.
WORKLOADS = [
    ("objects_dict", "objects_dict.py"),
    ("objects_slots", "objects_slots.py"),
    ("containers", "containers.py"),
    ("json_roundtrip", "json_roundtrip.py"),
    ("compile_ast", "compile_ast.py"),
    ("binary_trees", "binary_trees.py"),
    ("strings", "strings.py"),
    ("threads_queue", "threads_queue.py"),
]

# The interpreter's start and exit alone, timed from outside: shown apart
# from the workloads, not in the geometric mean. The program only prints
# its peak RSS, without importing anything.
STARTUP = "startup"
STARTUP_PROGRAM = ("for line in open('/proc/self/status'):\n"
                   "    if line.startswith('VmHWM:'): print(line.split()[1])")

BASELINE = "pymalloc"

# Variables that would change an allocator under a contender's feet: each
# run starts from the environment without them and sets its own.
ALLOCATOR_VARIABLES = ("PYTHONMALLOC", "PYTHONMALLOCSTATS", "PYTHONDEVMODE",
                       "PYTHONTRACEMALLOC", "LD_PRELOAD", "OBJIMPL_MALLOC",
                       "OBJIMPL_MALLOC_TRACE", "OBJIMPL_STATS")


class BenchError(Exception):
    """A run failed, or did not run on the allocator it should have."""


class Contender:
    """One way of running Python: the command's start, the environment it
    adds, and what the run must report about its allocator."""

    def __init__(self, name, command, env, objimpl, pythonmalloc, preload=None,
                 objimpl_malloc=""):
        self.name = name
        self.command = command
        self.env = env
        self.objimpl = objimpl
        self.pythonmalloc = pythonmalloc
        self.preload = preload
        self.objimpl_malloc = objimpl_malloc

    def describe(self):
        env = " ".join(f"{k}={v}" for k, v in self.env.items())
        return (env + " " if env else "") + " ".join(self.command)

    def check_evidence(self, evidence):
        """Raises unless ``evidence`` (from _harness.allocator_evidence)
        shows this contender's allocator."""
        problems = []
        if evidence["objimpl"] != self.objimpl:
            problems.append("objimpl %s" % ("missing" if self.objimpl else "present"))
        if evidence["pythonmalloc"] != self.pythonmalloc:
            problems.append("PYTHONMALLOC=%r" % evidence["pythonmalloc"])
        if evidence.get("objimpl_malloc", "") != self.objimpl_malloc:
            problems.append("OBJIMPL_MALLOC=%r" % evidence.get("objimpl_malloc"))
        # /proc/self/maps shows the file a symlink points at.
        wanted = [os.path.basename(os.path.realpath(self.preload))] if self.preload else []
        if sorted(evidence["mapped"]) != sorted(wanted):
            problems.append("malloc libraries mapped: %s" % evidence["mapped"])
        if problems:
            raise BenchError("%s did not run on its allocator: %s"
                             % (self.name, "; ".join(problems)))


def contenders(args):
    clean = {}
    if args.debug:
        # Each allocator under its debug hooks: CPython's over pymalloc,
        # objimpl's own over objimpl (OBJIMPL_MALLOC, not PYTHONMALLOC, which
        # would put CPython's hooks over objimpl).
        return [
            Contender(BASELINE, [args.python], {"PYTHONMALLOC": "debug"},
                      objimpl=False, pythonmalloc="debug"),
            Contender("objimpl debug", [args.launcher], {"OBJIMPL_MALLOC": "debug"},
                      objimpl=True, pythonmalloc="", objimpl_malloc="debug"),
        ]
    found = [
        Contender(BASELINE, [args.python], clean, objimpl=False, pythonmalloc=""),
        # Never PYTHONMALLOC here: CPython would install its allocator over
        # objimpl's. OBJIMPL_MALLOC unset is the pool without debug hooks.
        Contender("objimpl", [args.launcher], clean, objimpl=True, pythonmalloc=""),
        Contender("glibc", [args.python], {"PYTHONMALLOC": "malloc"},
                  objimpl=False, pythonmalloc="malloc"),
    ]
    for spec in args.preload:
        name, _, path = spec.partition("=")
        if not name or not os.path.isfile(path):
            raise BenchError("--preload %r: expected NAME=/path/to/lib.so" % spec)
        found.append(Contender(name, [args.python],
                               {"PYTHONMALLOC": "malloc", "LD_PRELOAD": path},
                               objimpl=False, pythonmalloc="malloc", preload=path))
    return found


def environment(contender):
    env = {k: v for k, v in os.environ.items() if k not in ALLOCATOR_VARIABLES}
    # The same string hashes in every run: set and dict layouts, and so the
    # work, do not vary from run to run.
    env["PYTHONHASHSEED"] = "0"
    env.update(contender.env)
    return env


def cpu_busy():
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat."""
    with open("/proc/stat") as stat:
        fields = [int(x) for x in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]            # idle + iowait
    total = sum(fields[:8])                 # guest time is inside user
    return total - idle, total


def run_once(contender, argv, cwd):
    """Runs one process; returns what it printed, its wall time, peak RSS
    and CPU times, and the load around it. Raises if it fails."""
    env = environment(contender)
    load = os.getloadavg()
    busy0, total0 = cpu_busy()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(contender.command + argv, cwd=cwd, env=env,
                                stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        # wait4 rather than Popen.wait: it gives the child's rusage.
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        busy1, total1 = cpu_busy()
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
    if proc.returncode != 0:
        raise BenchError("%s %s exited with %d:\n%s" % (
            contender.describe(), " ".join(argv), proc.returncode, stderr[-4000:]))
    hz = os.sysconf("SC_CLK_TCK")
    cpu = usage.ru_utime + usage.ru_stime
    elapsed = (total1 - total0) / hz        # CPU-seconds that passed, all CPUs
    others = (busy1 - busy0) / hz - cpu
    return {
        "stdout": stdout,
        "wall": wall,
        # Not the peak RSS of the run: see the module's docstring.
        "ru_maxrss_kib": usage.ru_maxrss,
        "utime": usage.ru_utime,
        "stime": usage.ru_stime,
        "minflt": usage.ru_minflt,
        # Involuntary context switches: the CPU was taken from the run.
        "nivcsw": usage.ru_nivcsw,
        "loadavg": load,
        # The share of all CPUs that other processes used during the run.
        "others_cpu": max(0.0, others / elapsed) if elapsed > 0 else 0.0,
    }


def run_workload(contender, workdir, script, quick):
    argv = [os.path.join(workdir, script)] + (["--quick"] if quick else [])
    result = run_once(contender, argv, workdir)
    lines = [l for l in result.pop("stdout").splitlines() if l.startswith("{")]
    if not lines:
        raise BenchError("%s %s printed no result" % (contender.name, script))
    reported = json.loads(lines[-1])
    contender.check_evidence(reported["allocator"])
    result.update(seconds=reported["seconds"], size=reported["size"],
                  check=reported["check"], peak_rss_kib=reported["peak_rss_kib"],
                  memory_at_end=reported["memory_at_end"],
                  allocator=reported["allocator"])
    return result


def run_startup(contender, workdir):
    result = run_once(contender, ["-c", STARTUP_PROGRAM], workdir)
    peak = result.pop("stdout").split()
    if len(peak) != 1 or not peak[0].isdigit():
        raise BenchError("%s: the startup program printed %r" % (contender.name, peak))
    result.update(seconds=result["wall"], size=0, check=None, peak_rss_kib=int(peak[0]))
    return result


def source_state():
    """The commit of the work tree and whether objimpl's sources differ
    from it (the launcher is built from the work tree, committed or not)."""
    repo = os.path.dirname(os.path.dirname(HERE))
    try:
        commit = subprocess.run(["git", "-C", repo, "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, check=True).stdout.strip()
        changed = subprocess.run(
            ["git", "-C", repo, "status", "--porcelain", "--", "Cargo.toml", "Cargo.lock",
             "objimpl-core", "objimpl-python"],
            capture_output=True, text=True, check=True).stdout.split("\n")
    except (OSError, subprocess.CalledProcessError):
        return {"commit": "unknown", "changed": []}
    return {"commit": commit, "changed": [c for c in changed if c.strip()]}


def same_python(all_contenders):
    """Every contender must run the same libpython: objimpl-python links
    the one python3 reports. Returns what they report."""
    probe = ("import sys\n"
             "libs = sorted({l.split()[-1] for l in open('/proc/self/maps') "
             "if 'libpython' in l})\n"
             "print(sys.version.replace('\\n', ' '), libs)")
    seen = {}
    for c in all_contenders:
        proc = subprocess.run(c.command + ["-c", probe], env=environment(c),
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise BenchError("%s cannot run Python:\n%s" % (c.describe(), proc.stderr))
        seen[c.name] = proc.stdout.strip()
    if len(set(seen.values())) != 1:
        raise BenchError("the contenders run different Pythons: %s" % seen)
    return next(iter(seen.values()))


# -- the report ---------------------------------------------------------------

def geomean(values):
    return math.exp(sum(math.log(v) for v in values) / len(values))


# The metrics of the report: how each is read from a run, given the runs
# by (workload, contender, round).
METRICS = {
    # The workload's own perf_counter (the whole process for `startup`).
    "time": lambda runs, w, c, n: runs[w, c, n]["seconds"],
    # Peak RSS of the process.
    "rss": lambda runs, w, c, n: runs[w, c, n]["peak_rss_kib"],
    # Peak RSS above the same contender's start (its `startup` run of the
    # round): what the workload's memory cost, without the fixed size of
    # the executable and the interpreter's start.
    "growth": lambda runs, w, c, n: (runs[w, c, n]["peak_rss_kib"]
                                     - runs[STARTUP, c, n]["peak_rss_kib"]),
    # User + system CPU time of the whole process: less sensitive than the
    # wall time to other processes, a cross-check.
    "cpu": lambda runs, w, c, n: runs[w, c, n]["utime"] + runs[w, c, n]["stime"],
}


def summarise(runs, names, workloads):
    """Per metric, workload and contender: the median value, the
    per-round ratios to the baseline, their median, min and max; and per
    metric and contender the geometric mean of the median ratios over the
    workloads (not `startup`), with the min..max of the per-round
    geometric means."""
    rounds = sorted({r["round"] for r in runs})
    by_key = {(r["workload"], r["contender"], r["round"]): r for r in runs}
    measured = [w for w in workloads if w != STARTUP]
    table, means = {}, {}
    for metric, value in METRICS.items():
        rows = measured if metric == "growth" else workloads
        table[metric] = {}
        for w in rows:
            table[metric][w] = {}
            for c in names:
                values = [value(by_key, w, c, n) for n in rounds]
                base = [value(by_key, w, BASELINE, n) for n in rounds]
                ratios = [v / b for v, b in zip(values, base)]
                table[metric][w][c] = {
                    "median": statistics.median(values), "ratios": ratios,
                    "ratio": statistics.median(ratios),
                    "min": min(ratios), "max": max(ratios)}
        means[metric] = {}
        for c in names:
            per_round = [geomean([table[metric][w][c]["ratios"][i] for w in measured])
                         for i in range(len(rounds))]
            means[metric][c] = {
                "ratio": geomean([table[metric][w][c]["ratio"] for w in measured]),
                "min": min(per_round), "max": max(per_round)}
    return table, means


def cell(entry, absolute, baseline):
    if baseline:
        return absolute
    return "**%.2f** (%.2f–%.2f) %s" % (entry["ratio"], entry["min"], entry["max"], absolute)


def mib(kib):
    return "%.1f MiB" % (kib / 1024)


# (metric, title, format of an absolute value) for each table of the report.
TABLES = [
    ("time", "Time (the workload's own `perf_counter`; `startup` is the whole "
             "process of a program that does nothing)", lambda v: "%.3f s" % v),
    ("rss", "Peak RSS (`VmHWM` of the process)", mib),
    ("growth", "Peak RSS above the contender's own `startup` (the workload's "
               "memory, without the executable and the interpreter's start)", mib),
]


def markdown(table, means, names, workloads, meta):
    lines = []
    lines.append("Run on %s: `%s` (%d round%s, contenders' order turned each round)."
                 % (meta["date"], meta["command"], meta["rounds"],
                    "" if meta["rounds"] == 1 else "s"))
    lines.append("")
    lines.append("%s; objimpl at %s; %s, %d CPUs. Each cell: the median of "
                 "the per-round ratios to pymalloc (min–max over the rounds), "
                 "then the median absolute value; lower is better." % (
                     meta["python"], meta["objimpl"], meta["cpu"], meta["cpus"]))
    for metric, title, fmt in TABLES:
        lines.append("")
        lines.append("**%s**:" % title)
        lines.append("")
        lines.append("| workload | " + " | ".join(names) + " |")
        lines.append("| --- |" + " ---: |" * len(names))
        for w, row in table[metric].items():
            cells = [cell(row[c], fmt(row[c]["median"]), c == BASELINE) for c in names]
            label = w + (" (not in the mean)" if w == STARTUP else "")
            lines.append("| %s | %s |" % (label, " | ".join(cells)))
        cells = ["1" if c == BASELINE else "**%.3f** (%.2f–%.2f)" % (
            means[metric][c]["ratio"], means[metric][c]["min"], means[metric][c]["max"])
            for c in names]
        lines.append("| geometric mean | %s |" % " | ".join(cells))
    lines.append("")
    lines.append("CPU time (user + system, whole process), geometric mean of the "
                 "ratios: " + ", ".join(
                     "%s %.3f (%.2f–%.2f)" % (c, means["cpu"][c]["ratio"],
                                              means["cpu"][c]["min"], means["cpu"][c]["max"])
                     for c in names if c != BASELINE) + ".")
    lines.append("")
    lines.append("Contenders: " + "; ".join(
        "%s = `%s`" % (name, desc) for name, desc in meta["contenders"].items()) + ".")
    return "\n".join(lines) + "\n"


def load_table(round_log):
    lines = ["| round | order | load avg at start (1/5/15 min) | at end | "
             "other processes' CPU share (median of runs, max) |",
             "| ---: | --- | --- | --- | --- |"]
    for r in round_log:
        lines.append("| %d | %s | %s | %s | %.0f%%, %.0f%% |" % (
            r["round"] + 1, " ".join(r["order"]),
            "/".join("%.2f" % x for x in r["load_start"]),
            "/".join("%.2f" % x for x in r["load_end"]),
            100 * r["others_cpu_median"], 100 * r["others_cpu_max"]))
    return "\n".join(lines) + "\n"


# -- main ---------------------------------------------------------------------

def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", required=True,
                        help="the real python3 binary (not a pyenv shim)")
    parser.add_argument("--launcher", required=True, help="objimpl-python")
    parser.add_argument("--preload", action="append", default=[],
                        metavar="NAME=LIB", help="a malloc library to LD_PRELOAD")
    parser.add_argument("--rounds", type=int, help="rounds (default 9; 1 with --quick)")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke test: small sizes, 1 round")
    parser.add_argument("--only", help="comma-separated workloads to run")
    parser.add_argument("--out", default="target/python-bench")
    parser.add_argument("--command", help="the command line to print in the report")
    parser.add_argument("--debug", action="store_true",
                        help="the debug hooks instead: objimpl-python with OBJIMPL_MALLOC=debug "
                             "against python3 with PYTHONMALLOC=debug")
    args = parser.parse_args()
    if args.rounds is None:
        args.rounds = 1 if args.quick else 9
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    return args


def main():
    global BASELINE
    args = parse_args()
    if args.debug:
        BASELINE = "pymalloc debug"
    selected = WORKLOADS
    if args.only:
        wanted = args.only.split(",")
        unknown = set(wanted) - {w for w, _ in WORKLOADS}
        if unknown:
            raise BenchError("unknown workloads: %s" % ", ".join(sorted(unknown)))
        selected = [(w, s) for w, s in WORKLOADS if w in wanted]
    workloads = [w for w, _ in selected] + [STARTUP]

    now = datetime.datetime.now()
    out = os.path.join(os.path.abspath(args.out), now.strftime("%Y%m%d-%H%M%S"))
    os.makedirs(out)
    latest = os.path.join(os.path.abspath(args.out), "latest")
    if os.path.islink(latest):
        os.unlink(latest)
    os.symlink(os.path.basename(out), latest)
    # What runs is a copy taken now, of the workloads and of the launcher:
    # an edit, a `git stash` or a rebuild in the work tree meanwhile cannot
    # change a run half-way, and the raw results keep what ran.
    source = source_state()
    workdir = os.path.join(out, "workloads")
    shutil.copytree(HERE, workdir, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    args.launcher = shutil.copy2(args.launcher, os.path.join(out, "objimpl-python"))

    cs = contenders(args)
    names = [c.name for c in cs]
    python = same_python(cs)
    cpu = platform.processor() or platform.machine()
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    meta = {
        "date": now.strftime("%Y-%m-%d"),
        "started": now.isoformat(timespec="seconds"),
        "command": args.command or " ".join(sys.argv),
        "rounds": args.rounds, "quick": args.quick,
        "python": "CPython " + python.split(" ")[0],
        "python_probe": python, "cpu": cpu, "cpus": os.cpu_count(),
        "kernel": platform.release(),
        "objimpl": source["commit"] + (" with local changes" if source["changed"] else ""),
        "objimpl_changed": source["changed"],
        "contenders": {c.name: c.describe() for c in cs},
        "workloads": dict(selected),
    }
    with open(os.path.join(out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=2)
    print("python-bench: %s; %d workloads x %d contenders x %d rounds; raw results in %s"
          % (meta["python"], len(workloads), len(cs), args.rounds, out), flush=True)

    # One unrecorded start of each contender, so that the first recorded
    # run does not pay for a cold page cache alone.
    for c in cs:
        run_startup(c, workdir)

    runs, round_log, checks = [], [], {}
    with open(os.path.join(out, "runs.jsonl"), "w") as runs_file, \
            open(os.path.join(out, "rounds.jsonl"), "w") as rounds_file:
        for n in range(args.rounds):
            order = cs[n % len(cs):] + cs[:n % len(cs)]
            load_start = os.getloadavg()
            started = time.time()
            round_runs = []
            for w, script in selected + [(STARTUP, None)]:
                for c in order:
                    r = (run_startup(c, workdir) if script is None
                         else run_workload(c, workdir, script, args.quick))
                    # Every allocator must compute the same thing.
                    if checks.setdefault(w, r["check"]) != r["check"]:
                        raise BenchError("%s gives %r under %s, %r before" % (
                            w, r["check"], c.name, checks[w]))
                    r.update(round=n, workload=w, contender=c.name,
                             position=order.index(c), at=time.time())
                    runs_file.write(json.dumps(r) + "\n")
                    runs_file.flush()
                    runs.append(r)
                    round_runs.append(r)
            others = [r["others_cpu"] for r in round_runs]
            entry = {"round": n, "order": [c.name for c in order],
                     "started": datetime.datetime.fromtimestamp(started).isoformat(
                         timespec="seconds"),
                     "seconds": time.time() - started,
                     "load_start": load_start, "load_end": os.getloadavg(),
                     "others_cpu_median": statistics.median(others),
                     "others_cpu_max": max(others)}
            rounds_file.write(json.dumps(entry) + "\n")
            rounds_file.flush()
            round_log.append(entry)
            print("round %d/%d in %.0f s, load %.2f -> %.2f, other processes %.0f%% of the CPUs"
                  % (n + 1, args.rounds, entry["seconds"], load_start[0],
                     entry["load_end"][0], 100 * entry["others_cpu_median"]), flush=True)

    table, means = summarise(runs, names, workloads)
    report = markdown(table, means, names, workloads, meta)
    loads = load_table(round_log)
    with open(os.path.join(out, "table.md"), "w") as f:
        f.write(report + "\n" + loads)
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump({"table": table, "means": means}, f, indent=1)
    print()
    print(report)
    print(loads)
    print("raw results: %s" % out)


if __name__ == "__main__":
    try:
        main()
    except BenchError as error:
        print("python-bench: FAILED: %s" % error, file=sys.stderr)
        sys.exit(1)
