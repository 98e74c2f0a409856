#!/usr/bin/env bash
# Runs the fuzz targets of fuzz/ (cargo fuzz, libFuzzer with
# AddressSanitizer, on nightly), each for a given time, from the seed
# corpus in fuzz/corpus/, and prints each run's last figures.
#
#   scripts/fuzz.sh                    # every target, 60 s each
#   scripts/fuzz.sh 600                # every target, 10 minutes each
#   scripts/fuzz.sh 600 objects        # one target
#
# Targets: alloc_ops (the three families on two threads, against a model),
# objects (generated types: new, new_var, freelists, clones, cycles,
# resize, collections), macro_input (#[pyobject] on arbitrary tokens).
# A crash leaves its input in fuzz/artifacts/TARGET/; replay it with
# `cargo +nightly fuzz run TARGET fuzz/artifacts/TARGET/crash-...`.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

SECONDS_EACH=${1:-60}
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=(alloc_ops objects macro_input lox)

rustup toolchain install nightly --profile minimal --component rust-src >/dev/null
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
for target in "${TARGETS[@]}"; do
    echo "== $target, ${SECONDS_EACH} s"
    dict=()
    [ -f "$target.dict" ] && dict=("-dict=$target.dict")
    # The run's finds go to a scratch directory, then only those that add
    # coverage are merged into the seeds (libFuzzer's -merge=1).
    scratch=$(mktemp -d)
    cargo +nightly fuzz run "$target" "$scratch" "corpus/$target" -- \
        -max_total_time="$SECONDS_EACH" -rss_limit_mb=4096 -print_final_stats=1 "${dict[@]}" \
        >"$scratch.log" 2>&1 || true
    grep -E '^#[0-9]+[[:space:]]+DONE|^Done|stat::number_of_executed_units|stat::peak_rss_mb' "$scratch.log" || true
    if grep -qE '==[0-9]+==ERROR|panicked|SUMMARY|deadly signal' "$scratch.log"; then
        grep -E -A20 '==[0-9]+==ERROR|panicked' "$scratch.log" | head -40 >&2
        echo "$target: a crash; the log is $scratch.log, the input in fuzz/artifacts/$target/" >&2
        exit 1
    fi
    cargo +nightly fuzz run "$target" "corpus/$target" "$scratch" -- -merge=1 >/dev/null 2>&1
    echo "$target: $(ls "corpus/$target" | wc -l) inputs in the seed corpus"
    rm -rf "$scratch" "$scratch.log"
done
