#!/usr/bin/env bash
# Lox benchmarks: objimpl-lox against the book's clox and CPython.
#
# Runs each program of the Lox test suite's benchmark/ directory
# (../shared/lox/test/benchmark) under three runners, interleaved round by
# round (for each round, for each program, for each runner):
#
#   lox     target/release/lox (cargo build --release -p objimpl-lox)
#   clox    the book's C interpreter, built from the craftinginterpreters
#           mirror with the flags of its release build (util/c.make)
#   python  python3 on the program's translation in benches/lox-python/
#
# and prints a Markdown table of the median wall time and median peak RSS of
# each, the ratios lox/clox and lox/python, and their geometric means. A
# program lox or clox refuses to compile (exit 65; string_equality.lox has
# more than 256 constants in one chunk, clox's limit) shows "refused". The runners' outputs are
# checked against each other, leaving out the clock values the programs print.
#
#   scripts/lox-bench.sh                      # 5 rounds
#   ROUNDS=9 scripts/lox-bench.sh             # more rounds
#   PROGRAMS="fib zoo" scripts/lox-bench.sh   # some programs only
#   LOX_BIN=path/to/lox scripts/lox-bench.sh  # this lox, no cargo build
#
# Other settings: LOX_BENCH_DIR (the benchmark programs), CLOX_MIRROR (the
# craftinginterpreters git directory), PYTHON (default python3), TIMEOUT (per
# run, seconds; default 600). Every run's output, stderr, exit code and
# measurements go to target/lox-bench/runs/. Not for CI: it takes minutes
# (zoo_batch alone runs 10 s per run) and wants a quiet machine.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

ROUNDS=${ROUNDS:-5}
BENCH_DIR=${LOX_BENCH_DIR:-$ROOT/../shared/lox/test/benchmark}
CLOX_MIRROR=${CLOX_MIRROR:-/work/.mirror/munificent+craftinginterpreters/repo}
PYTHON=${PYTHON:-python3}
TIMEOUT=${TIMEOUT:-600}
PY_DIR=$ROOT/benches/lox-python
OUT=$ROOT/target/lox-bench
RUNNERS=(lox clox python)

die() { echo "lox-bench: ERROR: $*" >&2; exit 1; }
note() { echo "lox-bench: $*" >&2; }

[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer (got '$ROUNDS')"
[[ -d $BENCH_DIR ]] || die "no benchmark programs at $BENCH_DIR (set LOX_BENCH_DIR)"
command -v "$PYTHON" >/dev/null || die "$PYTHON not found"

# -- 1. GNU time ---------------------------------------------------------------
# /usr/bin/time -f "%e %M": wall seconds and peak RSS (KiB) of one run.
if [[ ! -x /usr/bin/time ]]; then
    note "installing GNU time (Debian package 'time')"
    SUDO=()
    [[ $(id -u) -eq 0 ]] || SUDO=(sudo)
    "${SUDO[@]}" apt-get update -qq
    "${SUDO[@]}" apt-get install -y -qq time >/dev/null
    [[ -x /usr/bin/time ]] || die "could not install /usr/bin/time"
fi

# -- 2. clox -------------------------------------------------------------------
# util/c.make's release mode: -std=c99 -O3 -flto (plus warnings as errors,
# replaced here by -w so that a newer compiler's warnings cannot stop the
# build). It defines no NDEBUG; c/common.h itself #undefs the DEBUG_* flags.
mkdir -p "$OUT"
git -C "$CLOX_MIRROR" rev-parse --verify -q HEAD >/dev/null ||
    die "no craftinginterpreters git directory at $CLOX_MIRROR (set CLOX_MIRROR)"
CLOX_COMMIT=$(git -C "$CLOX_MIRROR" rev-parse HEAD)
CLOX=$OUT/clox
if [[ ! -x $CLOX || "$(cat "$OUT/clox.commit" 2>/dev/null)" != "$CLOX_COMMIT" ]]; then
    note "building clox from $CLOX_MIRROR at ${CLOX_COMMIT:0:12}"
    rm -rf "$OUT/clox-src"
    mkdir -p "$OUT/clox-src"
    git -C "$CLOX_MIRROR" archive HEAD c | tar -x -C "$OUT/clox-src"
    ${CC:-cc} -std=c99 -O3 -flto -w "$OUT"/clox-src/c/*.c -o "$CLOX"
    echo "$CLOX_COMMIT" >"$OUT/clox.commit"
fi

# -- 3. lox --------------------------------------------------------------------
if [[ -n ${LOX_BIN:-} ]]; then
    LOX=$(realpath "$LOX_BIN")
    note "using LOX_BIN=$LOX (no cargo build)"
else
    note "building objimpl-lox (release)"
    cargo build --release -p objimpl-lox
    LOX=${CARGO_TARGET_DIR:-$ROOT/target}/release/lox
fi
[[ -x $LOX ]] || die "no lox binary at $LOX"

# -- 4. The programs -------------------------------------------------------------
if [[ -n ${PROGRAMS:-} ]]; then
    read -r -a PROGS <<<"$PROGRAMS"
else
    PROGS=()
    for f in "$BENCH_DIR"/*.lox; do
        p=${f##*/}
        PROGS+=("${p%.lox}")
    done
fi
for p in "${PROGS[@]}"; do
    [[ -f $BENCH_DIR/$p.lox ]] || die "no program $BENCH_DIR/$p.lox"
    [[ -f $PY_DIR/$p.py ]] || note "WARNING: no Python translation $PY_DIR/$p.py; python is skipped for $p"
done

# -- 5. The runs -----------------------------------------------------------------
RUNS=$OUT/runs
rm -rf "$RUNS"
mkdir -p "$RUNS"

# run ROUND PROGRAM RUNNER: one measured run, its files in $RUNS/ROUND/.
run() {
    local round=$1 prog=$2 runner=$3 cmd
    case $runner in
        lox) cmd=("$LOX" "$BENCH_DIR/$prog.lox") ;;
        clox) cmd=("$CLOX" "$BENCH_DIR/$prog.lox") ;;
        python)
            [[ -f $PY_DIR/$prog.py ]] || return 0
            cmd=("$PYTHON" "$PY_DIR/$prog.py")
            ;;
    esac
    local base=$RUNS/$round/$prog.$runner rc=0
    # timeout kills the whole process group (time and the runner) on expiry.
    timeout "$TIMEOUT" /usr/bin/time -f "%e %M" -o "$base.time" \
        "${cmd[@]}" >"$base.out" 2>"$base.err" </dev/null || rc=$?
    echo "$rc" >"$base.rc"
}

note "$ROUNDS round(s) of ${#PROGS[@]} program(s) x ${#RUNNERS[@]} runners"
for ((round = 1; round <= ROUNDS; round++)); do
    mkdir -p "$RUNS/$round"
    for prog in "${PROGS[@]}"; do
        for runner in "${RUNNERS[@]}"; do
            note "round $round/$ROUNDS: $prog under $runner"
            run "$round" "$prog" "$runner"
        done
    done
done

# -- 6. The report ---------------------------------------------------------------
{
    echo "# objimpl-lox vs clox vs CPython"
    echo
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $ROUNDS round(s), $(nproc) core(s);" \
        "clox ${CLOX_COMMIT:0:12}; $("$PYTHON" --version 2>&1);" \
        "lox $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(
            git -C "$ROOT" diff --quiet HEAD 2>/dev/null || echo '+changes')"
    echo
    "$PYTHON" - "$RUNS" "$ROUNDS" "${PROGS[@]}" <<'PY'
import math
import os
import statistics
import sys

runs_dir, rounds, progs = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
RUNNERS = ["lox", "clox", "python"]
TIME_LABELS = {"elapsed:", "elapsed", "loop", "equals"}


def read(path, default=""):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return default


def clock_lines(prog, lines):
    """Indices of the lines that are clock() values and so differ per run.

    Read off the programs: every one prints its elapsed time last, and
    equality/string_equality print "loop", "elapsed" and "equals" each
    followed by a time (binary_trees labels its last line "elapsed:").
    zoo_batch runs for 10 s of clock(), so all its lines (sum, batch count,
    time) depend on speed; it is checked by sum == 60000 * batch instead.
    """
    if prog == "zoo_batch":
        return set(range(len(lines)))
    masked = {len(lines) - 1} if lines else set()
    masked |= {i for i in range(1, len(lines)) if lines[i - 1] in TIME_LABELS}
    return masked


def comparable(prog, out):
    lines = out.splitlines()
    masked = clock_lines(prog, lines)
    return [("<clock>" if i in masked else l) for i, l in enumerate(lines)]


def zoo_batch_problem(out):
    lines = out.splitlines()
    try:
        total, batch = float(lines[0]), float(lines[1])
        float(lines[2])
    except (IndexError, ValueError):
        return f"expected 3 numbers, got {lines!r}"
    # %g keeps 6 significant digits.
    if len(lines) != 3 or not math.isclose(total, 60000 * batch, rel_tol=1e-5):
        return f"sum {lines[0]} is not 60000 * batch {lines[1]}"
    return None


results = {}  # (prog, runner) -> list of (rc, seconds, kib)
per_batch = {}  # runner -> zoo_batch's clock() seconds per batch, each run
problems = []
for prog in progs:
    outputs = []  # (runner, round, comparable lines) of each good run
    for rnd in range(1, rounds + 1):
        for runner in RUNNERS:
            base = os.path.join(runs_dir, str(rnd), f"{prog}.{runner}")
            rc_text = read(base + ".rc").strip()
            if not rc_text:
                continue  # no Python translation
            rc = int(rc_text)
            time_lines = read(base + ".time").strip().splitlines()
            try:
                seconds, kib = (float(x) for x in time_lines[-1].split())
            except (IndexError, ValueError):
                seconds, kib = math.nan, math.nan
            results.setdefault((prog, runner), []).append((rc, seconds, kib))
            if rc != 0:
                if not (runner in ("lox", "clox") and rc == 65):  # refused
                    err = read(base + ".err").strip().splitlines()[:1]
                    problems.append(f"{prog}: {runner} round {rnd} exited {rc}"
                                    + (f": {err[0]}" if err else ""))
                continue
            out = read(base + ".out")
            err = read(base + ".err").strip()
            if err:
                problems.append(f"{prog}: {runner} round {rnd} wrote to stderr: {err.splitlines()[0]}")
            if prog == "zoo_batch":
                why = zoo_batch_problem(out)
                if why:
                    problems.append(f"{prog}: {runner} round {rnd}: {why}")
                else:
                    _, batch, elapsed = (float(x) for x in out.split())
                    per_batch.setdefault(runner, []).append(elapsed / batch)
            outputs.append((runner, rnd, comparable(prog, out)))
    # The reference is clox's output if it ran the program, else the first.
    reference = next((o for o in outputs if o[0] == "clox"), outputs[0] if outputs else None)
    for runner, rnd, lines in outputs:
        ref_runner, _, ref = reference
        if lines == ref:
            continue
        diff = next(i for i in range(max(len(lines), len(ref)))
                    if i >= len(lines) or i >= len(ref) or lines[i] != ref[i])
        got = lines[diff] if diff < len(lines) else "<end>"
        want = ref[diff] if diff < len(ref) else "<end>"
        problems.append(f"{prog}: {runner} round {rnd} output differs from "
                        f"{ref_runner}'s at line {diff + 1}: {got!r} vs {want!r}")


def median_of(prog, runner, field):
    """The median of the field over good runs, or a status string."""
    rows = results.get((prog, runner))
    if not rows:
        return "n/a"
    good = [r[field] for r in rows if r[0] == 0 and not math.isnan(r[field])]
    if len(good) < len(rows):
        bad = next(r[0] for r in rows if r[0] != 0)
        if runner in ("lox", "clox") and bad == 65:
            return "refused"
        return "timeout" if bad == 124 else f"exit {bad}"
    return statistics.median(good)


def fmt_time(v):
    return f"{v:.2f}" if isinstance(v, float) else v


def fmt_mib(v):
    return f"{v / 1024:.1f}" if isinstance(v, float) else v


def ratio(a, b):
    if isinstance(a, float) and isinstance(b, float) and a > 0 and b > 0:
        return a / b
    return None


def spread(prog, peer):
    """The lowest and highest of the per-round ratios lox/peer, as " [a–b]"."""
    if prog == "zoo_batch":
        pairs = list(zip(per_batch.get("lox", []), per_batch.get(peer, [])))
    else:
        pairs = [(a[1], b[1]) for a, b in zip(results.get((prog, "lox"), []),
                                                 results.get((prog, peer), []))
                 if a[0] == 0 and b[0] == 0]
    qs = [a / b for a, b in pairs if a > 0 and b > 0]
    return f" [{min(qs):.2f}–{max(qs):.2f}]" if len(qs) > 1 else ""


print("| program | lox (s) | clox (s) | python (s) | lox/clox | lox/python "
      "| lox RSS (MiB) | clox RSS (MiB) | python RSS (MiB) |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
ratios = {"clox": [], "python": []}
for prog in progs:
    times = {r: median_of(prog, r, 1) for r in RUNNERS}
    rss = {r: median_of(prog, r, 2) for r in RUNNERS}
    cells = []
    for peer in ("clox", "python"):
        if prog == "zoo_batch":
            # A fixed 10 s of clock(): compare the time per batch instead.
            q = ratio(*(statistics.median(per_batch[r]) if per_batch.get(r) else None
                        for r in ("lox", peer)))
        else:
            q = ratio(times["lox"], times[peer])
        if q is not None:
            ratios[peer].append(q)
        cells.append(f"{q:.2f}{spread(prog, peer)}" if q is not None else "–")
    print(f"| {prog} | " + " | ".join(fmt_time(times[r]) for r in RUNNERS)
          + " | " + " | ".join(cells)
          + " | " + " | ".join(fmt_mib(rss[r]) for r in RUNNERS) + " |")


def geomean(qs):
    return f"{math.exp(sum(map(math.log, qs)) / len(qs)):.2f} (over {len(qs)})" if qs else "–"


print(f"| **geometric mean** | | | | {geomean(ratios['clox'])} | {geomean(ratios['python'])} | | | |")
print()
print("Medians of the rounds, and in brackets the lowest and highest of the "
      "per-round ratios. Time is wall-clock; RSS is peak resident set size. "
      "zoo_batch runs for a fixed 10 s of clock() (CPU time), so its ratios are "
      "those of the CPU time per batch of 10000 iterations it reports.")
if problems:
    print()
    print("**Problems:**")
    for p in problems:
        print(f"- {p}")
else:
    print("All runners' outputs agree (clock values left out).")
PY
} | tee "$OUT/report.md"
note "report in $OUT/report.md, runs in $RUNS/"
