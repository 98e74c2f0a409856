#!/usr/bin/env bash
# Real Python programs on objimpl: runs the workloads of benches/python/
# under CPython's own pymalloc (plain python3, the baseline), objimpl-python,
# glibc malloc (PYTHONMALLOC=malloc) and, where Debian's packages install,
# mimalloc and jemalloc (PYTHONMALLOC=malloc plus LD_PRELOAD), interleaved
# round by round, and prints time and peak RSS as ratios to pymalloc in a
# Markdown table (benches/python/run.py does the measuring and the report).
#
#   scripts/python-bench.sh                  # 9 rounds (about 10 minutes)
#   scripts/python-bench.sh --rounds 15      # more rounds
#   scripts/python-bench.sh --quick          # smoke test: small sizes, 1 round
#   scripts/python-bench.sh --only strings,binary_trees
#   scripts/python-bench.sh --debug          # the debug hooks: objimpl's
#                                            # (OBJIMPL_MALLOC=debug) against
#                                            # CPython's (PYTHONMALLOC=debug)
#
# Raw results (every run, the load of every round) go to
# target/python-bench/<date-time>/, with target/python-bench/latest.
# Not for CI: it takes minutes and wants a quiet machine.
set -euo pipefail
cd "$(dirname "$0")/.."

warn() { echo "python-bench: WARNING: $*" >&2; }
die() { echo "python-bench: ERROR: $*" >&2; exit 1; }

# -- 1. The peers' libraries ----------------------------------------------------
# Debian's package names, newest first; the library is found with ldconfig.
MIMALLOC_PACKAGES=(libmimalloc3 libmimalloc2.0)
JEMALLOC_PACKAGES=(libjemalloc2)

# Prints the path of a shared library known to the dynamic linker, if any
# (e.g. `find_lib libjemalloc.so` -> /usr/lib/x86_64-linux-gnu/libjemalloc.so.2).
find_lib() {
    # ldconfig -p lists "name (flags) => path"; the first match is the newest.
    ldconfig -p | awk -v lib="$1" 'index($1, lib) == 1 { print $NF; exit }'
}

APT_UPDATED=0
# Installs the first of the given packages that apt knows, unless one is
# installed already. Returns non-zero (with a warning) if none could be.
install_one_of() {
    local pkg
    for pkg in "$@"; do
        if dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
            return 0
        fi
    done
    if ! command -v apt-get > /dev/null; then
        warn "no apt-get here to install ${*}"
        return 1
    fi
    local sudo=()
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo > /dev/null || { warn "not root and no sudo: cannot install ${*}"; return 1; }
        sudo=(sudo)
    fi
    for pkg in "$@"; do
        if [[ $APT_UPDATED -eq 0 ]] && ! apt-cache show "$pkg" > /dev/null 2>&1; then
            "${sudo[@]}" apt-get update -qq || warn "apt-get update failed"
            APT_UPDATED=1
        fi
        if apt-cache show "$pkg" > /dev/null 2>&1; then
            echo "python-bench: installing $pkg"
            if DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "$pkg" > /dev/null; then
                return 0
            fi
            warn "apt-get install $pkg failed"
        fi
    done
    warn "none of ${*} could be installed"
    return 1
}

PRELOADS=()
# Adds `--preload NAME=PATH` for a peer whose package installs.
add_peer() {
    local name=$1 lib=$2; shift 2
    local path
    if install_one_of "$@" && path=$(find_lib "$lib") && [[ -n $path ]]; then
        PRELOADS+=(--preload "$name=$path")
    else
        warn "$name is left out: no $lib (packages: ${*})"
    fi
}
add_peer mimalloc libmimalloc.so "${MIMALLOC_PACKAGES[@]}"
add_peer jemalloc libjemalloc.so "${JEMALLOC_PACKAGES[@]}"

# -- 2. objimpl-python, as shipped --------------------------------------------
cargo build --profile launcher -p objimpl-python
LAUNCHER=target/launcher/objimpl-python
[[ -x $LAUNCHER ]] || die "$LAUNCHER was not built"
# A launcher built without CPython is a stub that exits 2 with its reason.
"$LAUNCHER" -c pass || die "$LAUNCHER does not run Python (built as a stub?)"

# -- 3. The python3 it runs ----------------------------------------------------
# The real binary behind `python3` (a pyenv shim is a shell script: the
# baseline must not pay for it at every start while objimpl-python does not).
PYTHON=$(python3 -c 'import sys; print(sys.executable)')
[[ -x $PYTHON ]] || die "python3 reports sys.executable=$PYTHON, not an executable"

# -- 4. The runs and the report ------------------------------------------------
# run.py checks that every contender runs the same libpython, that each run
# was served by its contender's allocator, and that every allocator computes
# the same results; it fails (non-zero) on any failed run.
exec "$PYTHON" benches/python/run.py \
    --python "$PYTHON" --launcher "$LAUNCHER" "${PRELOADS[@]}" \
    --out target/python-bench --command "scripts/python-bench.sh${*:+ $*}" "$@"
