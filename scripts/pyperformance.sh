#!/usr/bin/env bash
# CPython on objimpl against CPython on its own allocators, on the
# pyperformance suite (PyPI `pyperformance`, with `pyperf`): the release
# `objimpl-python` against `python3` with pymalloc (its default), with
# `PYTHONMALLOC=malloc` (glibc), and with glibc's `malloc` replaced by
# mimalloc and jemalloc (`LD_PRELOAD`, Debian's libraries). The
# configurations are interleaved benchmark by benchmark within each round
# (this machine's load drifts over the minutes a whole configuration
# takes), and rounds repeat the whole; the report gives per
# benchmark the median over rounds of each one's time, objimpl's ratio to
# each (the median of the per-round ratios), the spread, the geometric
# mean, and the peak RSS.
#
#   scripts/pyperformance.sh                        # the list below, 3 rounds, pyperf --fast
#   ROUNDS=9 scripts/pyperformance.sh               # more rounds
#   BENCHMARKS=float,nbody ROUNDS=1 scripts/pyperformance.sh
#   MODE=--rigorous scripts/pyperformance.sh        # pyperf's longer runs
#   ONLY=objimpl,pymalloc scripts/pyperformance.sh  # some configurations (objimpl first)
#
# Before the rounds, each configuration's interpreter runs a probe through
# pyperf as the benchmarks do (workers started from `sys.executable`, with
# the inherited variables), and every worker reports the allocator it runs
# on: the run stops if one is not on the allocator its configuration claims.
set -euo pipefail
cd "$(dirname "$0")/.."

# Pure-Python, allocation-heavy benchmarks with no dependency beyond PyPI
# packages of their own: objects, containers, strings, closures, generators.
DEFAULT_BENCHMARKS=async_tree,chaos,coroutines,crypto_pyaes,deepcopy,deltablue,\
fannkuch,float,gc_collect,generators,go,hexiom,json_dumps,json_loads,logging,\
meteor_contest,nbody,nqueens,pickle_pure_python,pprint,pyflate,raytrace,\
regex_compile,richards,spectral_norm,tomli_loads,unpickle_pure_python,xml_etree
BENCHMARKS=${BENCHMARKS:-$DEFAULT_BENCHMARKS}
ROUNDS=${ROUNDS:-3}
MODE=${MODE:---fast}
OUT=target/pyperformance
HARNESS=$OUT/harness

cargo build --profile launcher -q -p objimpl-python
OBJIMPL_PYTHON=$PWD/target/launcher/objimpl-python
if "$OBJIMPL_PYTHON" -c pass 2>&1 | grep -q "built without CPython"; then
    echo "skipped: objimpl-python was built without CPython" >&2
    exit 0
fi
PYTHON3=$(python3 -c 'import sys; print(sys.executable)')

# Debian's mimalloc and jemalloc, for LD_PRELOAD (installed here, never by
# the library's build).
lib() { ldconfig -p | awk -v name="$1" '$1 == name { print $NF; exit }'; }
if [[ -z $(lib libmimalloc.so.2) || -z $(lib libjemalloc.so.2) ]]; then
    apt-get update -q >/dev/null && apt-get install -y -q libmimalloc2.0 libjemalloc2 >/dev/null
fi
MIMALLOC=$(lib libmimalloc.so.2)
JEMALLOC=$(lib libjemalloc.so.2)

mkdir -p "$OUT"
if [[ ! -x $HARNESS/bin/pyperformance ]]; then
    python3 -m venv "$HARNESS"
    "$HARNESS/bin/pip" install -q pyperformance==1.11.0
fi

# name | interpreter | environment | the allocator its workers must report
CONFIGS=(
    "objimpl|$OBJIMPL_PYTHON||objimpl"
    "pymalloc|$PYTHON3||pymalloc"
    "glibc|$PYTHON3|PYTHONMALLOC=malloc|malloc"
    "mimalloc|$PYTHON3|PYTHONMALLOC=malloc LD_PRELOAD=$MIMALLOC|malloc+mimalloc"
    "jemalloc|$PYTHON3|PYTHONMALLOC=malloc LD_PRELOAD=$JEMALLOC|malloc+jemalloc"
)
INHERIT=PYTHONMALLOC,LD_PRELOAD
if [[ -n ${ONLY:-} ]]; then
    kept=()
    for config in "${CONFIGS[@]}"; do
        [[ ,$ONLY, == *,${config%%|*},* ]] && kept+=("$config")
    done
    CONFIGS=("${kept[@]}")
fi
NAMES=()
for config in "${CONFIGS[@]}"; do NAMES+=("${config%%|*}"); done
export PIP_DISABLE_PIP_VERSION_CHECK=1

# The venv pyperformance makes for an interpreter (created on first use),
# with pyperf in it.
venv_path() {
    (cd "$OUT" && "$PWD/harness/bin/pyperformance" venv show -p "$1" 2>/dev/null) |
        sed -n 's/^Virtual environment path: \([^ ]*\).*$/\1/p' | head -1
}
venv_python() {
    local venv
    venv=$(venv_path "$1")
    if [[ ! -x $venv/bin/python ]]; then
        (cd "$OUT" && "$PWD/harness/bin/pyperformance" venv create -p "$1" >/dev/null)
        venv=$(venv_path "$1")
    fi
    case $venv in /*) ;; *) venv=$OUT/$venv ;; esac
    echo "$venv/bin/python"
}

echo "== proof: each configuration's pyperf workers, on their allocator"
for config in "${CONFIGS[@]}"; do
    IFS='|' read -r name python environ claimed <<<"$config"
    vpython=$(venv_python "$python")
    probe=$OUT/probe-$name.json
    rm -f "$probe"
    env $environ "$vpython" scripts/pyperformance_probe.py --quiet --processes 3 \
        --values 1 --warmups 0 --inherit-environ "$INHERIT" -o "$probe"
    seen=$("$HARNESS/bin/python" scripts/pyperformance_report.py --probe "$probe")
    if [[ $seen != "$claimed" ]]; then
        echo "FAIL: $name's workers run on '$seen', not '$claimed'" >&2
        exit 1
    fi
    echo "   $name: every worker on $claimed ($vpython)"
done

IFS=',' read -r -a LIST <<<"$BENCHMARKS"
for round in $(seq 1 "$ROUNDS"); do
    for config in "${CONFIGS[@]}"; do
        rm -f "$OUT/round$round-${config%%|*}.json" "$OUT/round$round-${config%%|*}.log"
    done
    for benchmark in "${LIST[@]}"; do
        echo "== round $round/$ROUNDS: $benchmark"
        for config in "${CONFIGS[@]}"; do
            IFS='|' read -r name python environ claimed <<<"$config"
            log=$OUT/round$round-$name.log
            (cd "$OUT" && env $environ "$PWD/harness/bin/pyperformance" run "$MODE" \
                -p "$python" -b "$benchmark" --inherit-environ "$INHERIT" \
                --append "$PWD/round$round-$name.json" >>"$PWD/round$round-$name.log" 2>&1) || {
                tail -20 "$log"
                echo "FAIL: see $log" >&2
                exit 1
            }
        done
    done
done

"$HARNESS/bin/python" scripts/pyperformance_report.py --rounds "$ROUNDS" --out "$OUT" \
    "${NAMES[@]}" | tee "$OUT/report.md"
