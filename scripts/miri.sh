#!/usr/bin/env bash
# Miri, wider than CI's one pass over the core (Stacked Borrows, one seed):
#
#   scripts/miri.sh seeds [N]   # the thread-heavy tests (cross-thread frees,
#                               # orphans reclaimed, arena return, the global
#                               # allocator, the cycle collector) under N
#                               # schedules each (default 8 seeds)
#   scripts/miri.sh tree        # the whole core under Tree Borrows
#   scripts/miri.sh             # both
set -euo pipefail
cd "$(dirname "$0")/.."

rustup toolchain install nightly --profile minimal --component miri,rust-src >/dev/null
cargo +nightly miri setup >/dev/null

seeds() {
    local n=${1:-8}
    echo "== Miri, seeds 0..$n: cross-thread, orphans, arena return, global allocator, gc"
    export MIRIFLAGS="-Zmiri-many-seeds=0..$n"
    cargo +nightly miri test -p objimpl-core --test alloc -- cross_thread arena_return orphans
    cargo +nightly miri test -p objimpl-core --test global_allocator --test gc
}

tree() {
    echo "== Miri, Tree Borrows: the whole core"
    MIRIFLAGS="-Zmiri-tree-borrows" cargo +nightly miri test -p objimpl-core
}

case "${1:-all}" in
    seeds) seeds "${2:-8}" ;;
    tree) tree ;;
    all) seeds 8; tree ;;
    *) echo "usage: scripts/miri.sh [seeds [N] | tree]" >&2; exit 2 ;;
esac
