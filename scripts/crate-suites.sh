#!/usr/bin/env bash
# Runs the test suites of real crates from crates.io twice: as published
# (system allocator) and with objimpl's `PyMalloc` as the global allocator of
# every test binary, then compares pass counts and wall time.
#
#   scripts/crate-suites.sh                       # the default crates
#   scripts/crate-suites.sh hashbrown serde_json  # some of them
#   scripts/crate-suites.sh dashmap@6.1.0         # a given version
#
# Environment (defaults in brackets):
#   CRATE_SUITES_DIR  scratch directory [/tmp/crate-suites]
#   CARGO_TARGET_DIR  [/tmp/target-crate-suites]
#   RUNS              timed runs of each suite under each allocator [3]
#   RERUNS            runs of each test, alone, that failed only under PyMalloc [5]
#   PROFILE           release or debug [release]
#   JOBS              cargo build jobs [1]
#   TIMEOUT           seconds allowed to one `cargo test` run [1800]
#   TEST_ARGS         extra arguments to the test binaries (after `--`) []
#   OBJIMPL_REV       test this git revision of objimpl instead of the work tree []
#
# What it does, per crate:
#  * resolves the newest release (`*`) with cargo, copies its source twice
#    into $CRATE_SUITES_DIR/NAME-VERSION/{system,pymalloc} and keeps the
#    Cargo.lock the crate was published with (a fresh one if none);
#  * patches the `pymalloc` copy: objimpl-core as a dev-dependency, and in the
#    crate root of every target `cargo test --tests` builds (lib and bin unit
#    tests, every integration test, as `cargo metadata` lists them)
#        #[cfg(test)] #[global_allocator] static .. : PyMalloc = PyMalloc;
#    plus a test `__objimpl_check::global_allocator_in_use` asserting
#    `objimpl_core::alloc::stats().arenas_allocated_total > 0`;
#  * builds both (`cargo test --no-run`), then runs `cargo test --tests
#    --no-fail-fast` RUNS times under each allocator, alternating, timing the
#    runs only (doc tests are left out: rustdoc builds each one as a binary of
#    its own, which the patch cannot reach);
#  * re-runs alone, RERUNS times under each allocator, every test that failed
#    under PyMalloc but in no System run.
# objimpl-core is copied first (work tree, or OBJIMPL_REV) so that edits made
# to the repository meanwhile neither rebuild nor change what is measured.
# The table is printed and kept in $CRATE_SUITES_DIR/results.txt, the logs
# in $CRATE_SUITES_DIR/logs/.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
SCRATCH=${CRATE_SUITES_DIR:-/tmp/crate-suites}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/tmp/target-crate-suites}
RUNS=${RUNS:-3}
RERUNS=${RERUNS:-5}
PROFILE=${PROFILE:-release}
JOBS=${JOBS:-1}
TIMEOUT=${TIMEOUT:-1800}
read -r -a TEST_ARGS <<<"${TEST_ARGS:-}"
OBJIMPL_REV=${OBJIMPL_REV:-}

# NAME|FEATURES: the features the crate's own CI tests with, where they
# bring in more (threaded) tests.
DEFAULT_CRATES=(
    "crossbeam-channel|"
    "hashbrown|serde,rayon"
    "serde_json|raw_value"
    "rayon-core|"
    "dashmap|rayon,serde,raw-api"
)

case $PROFILE in
release) PROFILE_ARGS=(--release) ;;
debug) PROFILE_ARGS=() ;;
*) echo "PROFILE must be release or debug" >&2; exit 2 ;;
esac

CARGO=(nice -n 10 cargo)
mkdir -p "$SCRATCH/logs"
LOGS=$SCRATCH/logs

PY=$(cat <<'PYEOF'
import json, os, re, statistics, subprocess, sys

def cmd_resolve(name, req, workdir):
    """Prints the version and source directory cargo picks for NAME REQ."""
    os.makedirs(os.path.join(workdir, "src"), exist_ok=True)
    with open(os.path.join(workdir, "Cargo.toml"), "w") as f:
        f.write('[package]\nname = "resolve-probe"\nversion = "0.0.0"\nedition = "2021"\n'
                '\n[workspace]\n\n[dependencies]\n%s = "%s"\n' % (name, req))
    open(os.path.join(workdir, "src", "lib.rs"), "w").close()
    lock = os.path.join(workdir, "Cargo.lock")
    if os.path.exists(lock):
        os.remove(lock)
    meta = json.loads(subprocess.check_output(
        ["cargo", "metadata", "--format-version", "1"], cwd=workdir))
    root = meta["resolve"]["root"]
    node = next(n for n in meta["resolve"]["nodes"] if n["id"] == root)
    pkgs = {p["id"]: p for p in meta["packages"]}
    for dep in node["deps"]:
        p = pkgs[dep["pkg"]]
        if p["name"] == name:
            print(p["version"], os.path.dirname(p["manifest_path"]))
            return
    sys.exit("cannot resolve %s %s" % (name, req))

HEADER = "\n// ---- added by objimpl's scripts/crate-suites.sh ----\n"
DECL = {
    "2018": """#[cfg(test)]
#[global_allocator]
static __OBJIMPL_GLOBAL: ::objimpl_core::alloc::PyMalloc = ::objimpl_core::alloc::PyMalloc;
""",
    "2015": """#[cfg(test)]
#[global_allocator]
static __OBJIMPL_GLOBAL: __objimpl_core::alloc::PyMalloc = __objimpl_core::alloc::PyMalloc;
""",
}
EXTERN_2015 = """#[cfg(test)]
#[allow(unused_extern_crates)]
extern crate objimpl_core as __objimpl_core;
"""
CHECK_TEST = """
#[cfg(test)]
mod __objimpl_check {
    #[test]
    fn global_allocator_in_use() {
        let stats = %s::alloc::stats();
        assert!(
            stats.arenas_allocated_total > 0,
            "objimpl's PyMalloc is not this binary's global allocator"
        );
    }
}
"""
# A test binary that has a global allocator of its own (a counter wrapped
# around `System`) keeps it, wrapped around PyMalloc instead.
SYSTEM_CALL = re.compile(r'\b(?:std::alloc::|alloc::)?System\s*\.\s*(alloc|alloc_zeroed|dealloc|realloc)\s*\(')

def test_targets(crate_dir):
    meta = json.loads(subprocess.check_output(
        ["cargo", "metadata", "--no-deps", "--format-version", "1"], cwd=crate_dir))
    pkg = meta["packages"][0]
    out = []
    for t in pkg["targets"]:
        if "custom-build" in t["kind"] or not t.get("test", False):
            continue
        out.append(t)
    return pkg, out

def cmd_patch(crate_dir, objimpl_core):
    """Makes PyMalloc the global allocator of every test binary of the crate."""
    manifest = os.path.join(crate_dir, "Cargo.toml")
    text = open(manifest).read()
    if re.search(r'^\s*\[(target\..*\.)?dev-dependencies\.objimpl-core\]', text, re.M) \
            or re.search(r'^\s*objimpl-core\s*=', text, re.M):
        sys.exit("%s already names objimpl-core" % manifest)
    with open(manifest, "a") as f:
        f.write('\n[dev-dependencies.objimpl-core]\npath = "%s"\n' % objimpl_core)
    pkg, targets = test_targets(crate_dir)
    done = set()
    for t in targets:
        path = os.path.realpath(t["src_path"])
        if path in done:
            continue
        done.add(path)
        src = open(path).read()
        ed2015 = t.get("edition", pkg["edition"]) == "2015"
        objimpl = "super::__objimpl_core" if ed2015 else "::objimpl_core"
        what = "PyMalloc"
        if "#[global_allocator]" in src:
            wrapped, n = SYSTEM_CALL.subn(
                lambda m: "%s::alloc::PyMalloc.%s(" % (objimpl.replace("super::", ""), m.group(1)), src)
            if n == 0:
                sys.exit("%s declares a global allocator that does not wrap System" % path)
            src = wrapped
            decl = ""
            what = "its own global allocator, %d System calls -> PyMalloc" % n
        else:
            decl = DECL["2015" if ed2015 else "2018"]
        block = HEADER + (EXTERN_2015 if ed2015 else "") + decl + CHECK_TEST % objimpl
        with open(path, "w") as f:
            f.write(src + ("" if src.endswith("\n") else "\n") + block)
        kind = t["kind"][0]
        print("patched %-12s %s (%s)" % (kind if kind == "test" else "unit/" + kind,
                                        os.path.relpath(path, crate_dir), what))
    # A module shared by several test binaries may declare an allocator too.
    for root, _, files in (w for d in ("src", "tests") for w in os.walk(os.path.join(crate_dir, d))):
        for fn in files:
            p = os.path.realpath(os.path.join(root, fn))
            if fn.endswith(".rs") and p not in done and "#[global_allocator]" in open(p, errors="replace").read():
                sys.exit("%s declares a global allocator; not patched" % p)

def cmd_selectors(crate_dir):
    """Prints `src_path<TAB>cargo selector` for every test target."""
    _, targets = test_targets(crate_dir)
    for t in targets:
        kind = t["kind"][0]
        if kind == "test":
            sel = "--test " + t["name"]
        elif kind == "bin":
            sel = "--bin " + t["name"]
        elif kind == "example":
            sel = "--example " + t["name"]
        elif kind == "bench":
            sel = "--bench " + t["name"]
        else:
            sel = "--lib"
        print("%s\t%s" % (os.path.relpath(t["src_path"], crate_dir), sel))

RUNNING = re.compile(r'^\s*Running (?:unittests )?(\S+) \(([^)]*)\)')
RESULT = re.compile(r'^test result: (\w+)\. (\d+) passed; (\d+) failed; (\d+) ignored')
TESTLINE = re.compile(r'^test (\S+) \.\.\. (ok|FAILED|ignored)')
CHECK = "__objimpl_check::global_allocator_in_use"

def parse_log(path):
    """Counts of one `cargo test` log; the check test is counted apart."""
    r = dict(passed=0, failed=0, ignored=0, binaries=0, results=0,
             check_ok=0, check_failed=0, failed_tests=[], crashed=[])
    cur = None
    seen_result = True
    for line in open(path, errors="replace"):
        m = RUNNING.match(line)
        if m:
            if cur is not None and not seen_result:
                r["crashed"].append(cur)
            cur = m.group(1)
            r["binaries"] += 1
            seen_result = False
            continue
        m = TESTLINE.match(line)
        if m:
            name, st = m.groups()
            if name == CHECK:
                if st == "ok":
                    r["check_ok"] += 1
                    r["passed"] -= 1
                elif st == "FAILED":
                    r["check_failed"] += 1
                    r["failed"] -= 1
            elif st == "FAILED":
                r["failed_tests"].append((cur, name))
            continue
        m = RESULT.match(line)
        if m:
            r["results"] += 1
            seen_result = True
            r["passed"] += int(m.group(2))
            r["failed"] += int(m.group(3))
            r["ignored"] += int(m.group(4))
    if cur is not None and not seen_result:
        r["crashed"].append(cur)
    return r

def cmd_report(scratch, manifest_file):
    """manifest lines: crate version status (then per run: variant log rc secs)."""
    rows, notes, reruns = [], [], []
    for line in open(manifest_file):
        parts = line.rstrip("\n").split("\t")
        if parts[0] == "RERUN":
            reruns.append(parts[1:])
            continue
        crate, version, status = parts[:3]
        runs = {"system": [], "pymalloc": []}
        for rec in parts[3:]:
            variant, log, rc, secs = rec.split("|")
            runs[variant].append((log, int(rc), float(secs)))
        rows.append((crate, version, status, runs))
    out = []
    hdr = ("crate", "version", "System p/f/i", "PyMalloc p/f/i", "check",
           "System s", "PyMalloc s", "ratio")
    table = [hdr]
    for crate, version, status, runs in rows:
        if status != "ok":
            table.append((crate, version, status, "", "", "", "", ""))
            continue
        cells = {}
        for variant in ("system", "pymalloc"):
            parsed = [parse_log(l) for l, _, _ in runs[variant]]
            counts = [(p["passed"], p["failed"], p["ignored"]) for p in parsed]
            c = counts[0]
            s = "%d/%d/%d" % c + ("*" if len(set(counts)) > 1 else "")
            times = [t for _, _, t in runs[variant]]
            med = statistics.median(times)
            cells[variant] = (s, med, parsed)
            if len(set(counts)) > 1:
                notes.append("%s %s: counts vary between runs: %s" % (
                    crate, variant, ", ".join("%d/%d/%d" % x for x in counts)))
            for i, ((log, rc, _), p) in enumerate(zip(runs[variant], parsed)):
                if any(l.lstrip().startswith("Compiling ") for l in open(log, errors="replace")):
                    notes.append("%s %s run %d: cargo rebuilt something inside the timed run (%s)"
                                 % (crate, variant, i + 1, log))
                if rc == 124 or rc == 137:
                    notes.append("%s %s run %d: TIMEOUT (%s)" % (crate, variant, i + 1, log))
                for b in p["crashed"]:
                    notes.append("%s %s run %d: %s ended without a test result (crash?) (%s)"
                                 % (crate, variant, i + 1, b, log))
                for b, t in p["failed_tests"]:
                    notes.append("%s %s run %d: FAILED %s :: %s" % (crate, variant, i + 1, b, t))
        pparsed = cells["pymalloc"][2]
        nbin = pparsed[0]["binaries"]
        ok = min(p["check_ok"] for p in pparsed)
        bad = max(p["check_failed"] for p in pparsed)
        check = "%d/%d" % (ok, nbin) + (" FAIL" if bad else "")
        ratio = cells["pymalloc"][1] / cells["system"][1] if cells["system"][1] else float("nan")
        table.append((crate, version, cells["system"][0], cells["pymalloc"][0], check,
                      "%.2f" % cells["system"][1], "%.2f" % cells["pymalloc"][1],
                      "%.2f" % ratio))
    widths = [max(len(r[i]) for r in table) for i in range(len(hdr))]
    for i, r in enumerate(table):
        out.append("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
        if i == 0:
            out.append("  ".join("-" * w for w in widths))
    out.append("")
    out.append("p/f/i = tests passed/failed/ignored (the check test not included), of run 1;")
    out.append("* = the counts differ between runs; check = test binaries whose")
    out.append("global_allocator_in_use test passed / test binaries run; times = median wall")
    out.append("seconds of the `cargo test` runs (build excluded); ratio = PyMalloc / System.")
    if notes:
        out.append("")
        out.append("Notes:")
        out.extend("  " + n for n in notes)
    if reruns:
        out.append("")
        out.append("Failed only under PyMalloc, re-run alone (passes/runs):")
        for crate, sel, test, sysres, pymres, cmdline in reruns:
            out.append("  %s %s %s: System %s, PyMalloc %s" % (crate, sel, test, sysres, pymres))
            out.append("    reproduce: %s" % cmdline)
    print("\n".join(out))

def cmd_pym_only(manifest_file, crate):
    """Prints `binary<TAB>test` failing under PyMalloc in some run, under System in none."""
    for line in open(manifest_file):
        parts = line.rstrip("\n").split("\t")
        if parts[0] != crate or parts[2] != "ok":
            continue
        fails = {"system": set(), "pymalloc": set()}
        for rec in parts[3:]:
            variant, log, rc, secs = rec.split("|")
            fails[variant].update(parse_log(log)["failed_tests"])
        for b, t in sorted(fails["pymalloc"] - fails["system"]):
            print("%s\t%s" % (b, t))

def cmd_snapshot_manifest(src, dst):
    """The workspace tables of the root manifest, objimpl-core its only member."""
    keep, out = False, []
    for line in open(src):
        m = re.match(r'^\s*\[\[?([^\]]+)\]\]?', line)
        if m:
            keep = m.group(1).strip().split(".")[0] == "workspace"
        if keep:
            if re.match(r'^\s*members\s*=', line):
                line = 'members = ["objimpl-core"]\n'
            out.append(line)
    open(dst, "w").write("".join(out))

cmd = sys.argv[1]
globals()["cmd_" + cmd.replace("-", "_")](*sys.argv[2:])
PYEOF
)
py() { python3 -c "$PY" "$@"; }

# ---- objimpl-core, frozen for the whole run ----
SNAP=$SCRATCH/objimpl-snapshot
rm -rf "$SNAP"
mkdir -p "$SNAP"
if [[ -n $OBJIMPL_REV ]]; then
    git -C "$REPO" archive "$OBJIMPL_REV" Cargo.toml objimpl-core | tar -x -C "$SNAP"
    OBJIMPL_DESC="$(git -C "$REPO" rev-parse --short "$OBJIMPL_REV")"
else
    cp "$REPO/Cargo.toml" "$SNAP/Cargo.toml"
    mkdir -p "$SNAP/objimpl-core"
    cp -r "$REPO/objimpl-core/Cargo.toml" "$REPO/objimpl-core/src" "$SNAP/objimpl-core/"
    dirty=$(git -C "$REPO" --no-optional-locks status --porcelain -- objimpl-core Cargo.toml | wc -l)
    OBJIMPL_DESC="$(git -C "$REPO" rev-parse --short HEAD) work tree"
    if [[ $dirty -gt 0 ]]; then
        OBJIMPL_DESC+=" ($dirty uncommitted changes in objimpl-core)"
    fi
fi
py snapshot-manifest "$SNAP/Cargo.toml" "$SNAP/Cargo.toml.ws"
mv "$SNAP/Cargo.toml.ws" "$SNAP/Cargo.toml"
rm -rf "$SNAP/objimpl-core/tests" "$SNAP/objimpl-core/benches"
OBJIMPL_CORE=$SNAP/objimpl-core

echo "objimpl: $OBJIMPL_DESC (snapshot in $SNAP)"
echo "rustc:   $(rustc --version)"
echo "profile: $PROFILE, $RUNS timed runs per allocator, target dir $CARGO_TARGET_DIR"

# ---- crates ----
if [[ $# -gt 0 ]]; then
    SPECS=()
    for arg in "$@"; do
        name=${arg%@*}
        feats=""
        for d in "${DEFAULT_CRATES[@]}"; do
            [[ ${d%%|*} == "$name" ]] && feats=${d#*|}
        done
        SPECS+=("$arg|$feats")
    done
else
    SPECS=("${DEFAULT_CRATES[@]}")
fi

MANIFEST=$SCRATCH/runs.tsv
: >"$MANIFEST"

prepare_copy() { # SRC DST
    rm -rf "$2"
    cp -r "$1" "$2"
    chmod -R u+w "$2"
    # A pinned toolchain would make rustup fetch another compiler.
    rm -f "$2/rust-toolchain" "$2/rust-toolchain.toml"
    grep -q '^\[workspace\]' "$2/Cargo.toml" || printf '\n[workspace]\n' >>"$2/Cargo.toml"
}

build() { # DIR LOG FEATURES...
    local dir=$1 log=$2
    shift 2
    (cd "$dir" && "${CARGO[@]}" test "${PROFILE_ARGS[@]}" --tests --no-run -j "$JOBS" "$@") </dev/null >"$log" 2>&1
}

declare -a OK_CRATES=()
declare -A CRATE_DIR CRATE_FEATS CRATE_VER

for spec in "${SPECS[@]}"; do
    nv=${spec%%|*}
    feats=${spec#*|}
    name=${nv%@*}
    req="*"
    [[ $nv == *@* ]] && req="=${nv#*@}"
    echo
    echo "== $name ($req) features: ${feats:-default}"
    if ! read -r version src < <(py resolve "$name" "$req" "$SCRATCH/resolve-$name" 2>"$LOGS/$name-resolve.log"); then
        echo "   cannot resolve; see $LOGS/$name-resolve.log"
        printf '%s\t%s\t%s\n' "$name" "?" "RESOLVE-FAILED" >>"$MANIFEST"
        continue
    fi
    echo "   $name $version from $src"
    base=$SCRATCH/$name-$version
    mkdir -p "$base"
    prepare_copy "$src" "$base/system"
    [[ -f $base/system/Cargo.lock ]] || (cd "$base/system" && cargo generate-lockfile -q)
    prepare_copy "$base/system" "$base/pymalloc"
    if ! py patch "$base/pymalloc" "$OBJIMPL_CORE" | sed 's/^/   /'; then
        echo "   patching failed"
        printf '%s\t%s\t%s\n' "$name" "$version" "PATCH-FAILED" >>"$MANIFEST"
        continue
    fi
    fargs=()
    [[ -n $feats ]] && fargs=(--features "$feats")
    status=ok
    for variant in system pymalloc; do
        log=$LOGS/$name-$variant-build.log
        echo "   building ($variant)..."
        if ! build "$base/$variant" "$log" "${fargs[@]}"; then
            echo "   build failed with the published Cargo.lock; retrying with a fresh one"
            (cd "$base/$variant" && cargo update -q) >>"$log" 2>&1 || true
            if ! build "$base/$variant" "$log" "${fargs[@]}"; then
                echo "   BUILD FAILED ($variant); see $log"
                status="BUILD-FAILED($variant)"
                break
            fi
        fi
    done
    if [[ $status != ok ]]; then
        printf '%s\t%s\t%s\n' "$name" "$version" "$status" >>"$MANIFEST"
        continue
    fi
    OK_CRATES+=("$name")
    CRATE_DIR[$name]=$base
    CRATE_FEATS[$name]=$feats
    CRATE_VER[$name]=$version
done

# ---- timed runs ----
for name in "${OK_CRATES[@]}"; do
    base=${CRATE_DIR[$name]}
    fargs=()
    [[ -n ${CRATE_FEATS[$name]} ]] && fargs=(--features "${CRATE_FEATS[$name]}")
    line="$name"$'\t'"${CRATE_VER[$name]}"$'\t'ok
    for ((run = 1; run <= RUNS; run++)); do
        # Alternate the order so that drifting load favours neither side.
        if ((run % 2)); then order=(system pymalloc); else order=(pymalloc system); fi
        for variant in "${order[@]}"; do
            log=$LOGS/$name-$variant-run$run.log
            t0=$(date +%s.%N)
            rc=0
            (cd "$base/$variant" && timeout -k 30 "$TIMEOUT" "${CARGO[@]}" test "${PROFILE_ARGS[@]}" \
                --tests --no-fail-fast -j "$JOBS" "${fargs[@]}" -- "${TEST_ARGS[@]}") </dev/null >"$log" 2>&1 || rc=$?
            t1=$(date +%s.%N)
            secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
            printf '   %-18s run %d %-8s rc=%-3d %7.2fs\n' "$name" "$run" "$variant" "$rc" "$secs"
            line+=$'\t'"$variant|$log|$rc|$secs"
        done
    done
    printf '%s\n' "$line" >>"$MANIFEST"
done

# ---- failures under PyMalloc only: alone, several times, both allocators ----
for name in "${OK_CRATES[@]}"; do
    base=${CRATE_DIR[$name]}
    fargs=()
    [[ -n ${CRATE_FEATS[$name]} ]] && fargs=(--features "${CRATE_FEATS[$name]}")
    declare -A SEL=()
    while IFS=$'\t' read -r path sel; do SEL[$path]=$sel; done < <(py selectors "$base/pymalloc")
    while IFS=$'\t' read -r bin test; do
        [[ -n $bin ]] || continue
        sel=${SEL[$bin]:-}
        if [[ -z $sel ]]; then
            echo "   $name: no cargo target for $bin; not re-run"
            continue
        fi
        res=()
        for variant in system pymalloc; do
            pass=0 absent=0
            for ((i = 1; i <= RERUNS; i++)); do
                log=$LOGS/$name-$variant-rerun-${test//[^A-Za-z0-9_]/_}-$i.log
                # shellcheck disable=SC2086
                if (cd "$base/$variant" && timeout -k 30 "$TIMEOUT" "${CARGO[@]}" test "${PROFILE_ARGS[@]}" \
                    -j "$JOBS" "${fargs[@]}" $sel -- --exact "$test") </dev/null >"$log" 2>&1 &&
                    grep -q '^test result: ok\. 1 passed' "$log"; then
                    pass=$((pass + 1))
                elif grep -q '^running 0 tests' "$log"; then
                    absent=$((absent + 1))
                fi
            done
            if ((absent == RERUNS)); then res+=("absent"); else res+=("$pass/$RERUNS"); fi
        done
        cmdline="cd $base/pymalloc && CARGO_TARGET_DIR=$CARGO_TARGET_DIR cargo test ${PROFILE_ARGS[*]} ${fargs[*]} $sel -- --exact $test"
        echo "   $name: $test alone: System ${res[0]}, PyMalloc ${res[1]}"
        printf 'RERUN\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$sel" "$test" "${res[0]}" "${res[1]}" "$cmdline" >>"$MANIFEST"
    done < <(py pym-only "$MANIFEST" "$name")
    unset SEL
done

echo
{
    echo "objimpl $OBJIMPL_DESC; $(rustc --version); cargo test --tests, $PROFILE profile, $RUNS runs each"
    echo
    py report "$SCRATCH" "$MANIFEST"
} | tee "$SCRATCH/results.txt"
