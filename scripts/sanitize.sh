#!/usr/bin/env bash
# The core's tests under ThreadSanitizer and AddressSanitizer (with
# LeakSanitizer), on nightly with std rebuilt instrumented.
#
#   scripts/sanitize.sh            # both
#   scripts/sanitize.sh thread     # ThreadSanitizer: cross-thread frees,
#                                  # orphans, heap-map snapshots, SendPy,
#                                  # and C threads under the GIL
#   scripts/sanitize.sh address    # AddressSanitizer + leaks: every test binary
#
# Left out: the RSS test (sanitizers' shadow memory is resident too) and the
# compile-fail cases (their messages are pinned to the stable toolchain).
# ASan sees the system allocator's blocks and Rust's accesses; with
# `--cfg objimpl_asan` the pools also tell it which of their blocks are free,
# so a use after free inside a pool is a report (tests/isolated/poisoned.rs
# shows one). Bounds inside a live pool block it cannot see (objimpl's debug
# hooks and Miri check those).
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET=x86_64-unknown-linux-gnu
TESTS=(-p objimpl-core -p objimpl --lib --test alloc --test object_model
       --test global_allocator --test debug_hooks --test gc --test objects --test out_of_memory)
SKIP=(--skip memory_of_freed_arenas_leaves_the_process)
# The pools' poisoning, and its test (the other tests of `isolated` limit
# the address space or measure resident memory, which ASan's shadow breaks).
ASAN=(--cfg objimpl_asan)
ASAN_TESTS=(--test isolated)
ASAN_SKIP=(--skip no_arena --skip recycled_heaps --skip idle_threads)

rustup toolchain install nightly --profile minimal --component rust-src >/dev/null

run() {
    local sanitizer=$1 options=$2 cfg=${3:-} extra=("${@:4}")
    echo "== ${sanitizer}Sanitizer"
    local log="target/sanitize-$sanitizer.log"
    mkdir -p target
    # A report fails the run: ASan and LeakSanitizer abort or exit non-zero,
    # ThreadSanitizer exits with 66 after reporting. `allocator_may_return_null`:
    # the tests' deliberately impossible sizes must give null, as without one.
    if ! env "$options" \
        RUSTFLAGS="-Zsanitizer=$sanitizer $cfg" RUSTDOCFLAGS="-Zsanitizer=$sanitizer $cfg" \
        CARGO_TARGET_DIR="target/sanitize-$sanitizer" \
        cargo +nightly test -q -Zbuild-std --target "$TARGET" "${TESTS[@]}" "${extra[@]}" \
        -- "${SKIP[@]}" \
        > "$log" 2>&1; then
        tail -40 "$log"
        echo "FAIL: see $log"
        exit 1
    fi
    grep -E "^test result" "$log" | sed 's/^/   /'
}

# The two-thread C program (objimpl-capi/tests/c/threads.c: gc objects
# handed over under the GIL) against the static library built with
# ThreadSanitizer: the C side instrumented by the system compiler, the
# runtime Rust's (gcc's lacks entries rustc's instrumentation calls).
run_c_threads() {
    echo "== ThreadSanitizer, C: two threads under the GIL"
    local dir=target/sanitize-thread
    local log=$dir/c-threads.log
    RUSTFLAGS="-Zsanitizer=thread" CARGO_TARGET_DIR=$dir \
        cargo +nightly rustc -q -Zbuild-std --target "$TARGET" -p objimpl-capi --lib \
        --crate-type staticlib
    local sysroot rt
    sysroot=$(rustc +nightly --print sysroot)
    rt=$(ls "$sysroot/lib/rustlib/$TARGET/lib/"librustc-nightly_rt.tsan.a)
    cc -std=c11 -g -fsanitize=thread -c -Iobjimpl-capi/include \
        objimpl-capi/tests/c/threads.c -o "$dir/threads.o"
    cc "$dir/threads.o" "$dir/$TARGET/debug/libobjimpl_capi.a" \
        -Wl,--whole-archive "$rt" -Wl,--no-whole-archive \
        -lpthread -ldl -lm -lrt -lstdc++ -o "$dir/threads"
    if ! TSAN_OPTIONS=allocator_may_return_null=1 "$dir/threads" > "$log" 2>&1 ||
        [[ $(cat "$log") != ok ]]; then
        tail -40 "$log"
        echo "FAIL: see $log"
        exit 1
    fi
    echo "   threads.c: ok"
}

run_address() {
    SKIP+=("${ASAN_SKIP[@]}")
    run address ASAN_OPTIONS=allocator_may_return_null=1:detect_leaks=1 "${ASAN[*]}" "${ASAN_TESTS[@]}"
}

case "${1:-both}" in
    thread) run thread TSAN_OPTIONS=allocator_may_return_null=1; run_c_threads ;;
    address) run_address ;;
    both)
        run thread TSAN_OPTIONS=allocator_may_return_null=1
        run_c_threads
        run_address
        ;;
    *) echo "usage: $0 [thread|address|both]" >&2; exit 2 ;;
esac
echo "OK: no sanitizer report"
