"""Reads `scripts/pyperformance.sh`'s pyperf results.

--probe FILE: prints the allocator every worker of the probe reported (the
distinct names, comma-separated).

Otherwise: per benchmark, each configuration's median over rounds of its
mean time, objimpl's ratio to each (the median of the per-round ratios),
objimpl's spread ((max - min) / median over rounds), the peak RSS, and the
geometric mean and the largest of the ratios."""

import argparse
import math
import statistics
import sys

import pyperf


def probe(path):
    suite = pyperf.BenchmarkSuite.load(path)
    seen = set()
    for bench in suite.get_benchmarks():
        common = bench.get_metadata()
        for run in bench.get_runs():
            if run.values:
                seen.add(run.get_metadata().get("allocator", common.get("allocator")))
    print(",".join(sorted(str(name) for name in seen)))


def load(out, rnd, name):
    suite = pyperf.BenchmarkSuite.load(f"{out}/round{rnd}-{name}.json")
    figures = {}
    for bench in suite.get_benchmarks():
        rss = [
            run.get_metadata().get("mem_max_rss")
            for run in bench.get_runs()
            if run.values
        ]
        rss = [r for r in rss if r]
        figures[bench.get_name()] = (bench.mean(), max(rss) if rss else None)
    return figures


def report(out, rounds, names):
    data = {name: [load(out, r, name) for r in range(1, rounds + 1)] for name in names}
    benches = sorted(set.intersection(*(set(d) for runs in data.values() for d in runs)))
    base = names[0]
    head = ["benchmark"] + [f"{n} (ms)" for n in names] + [f"{base} / {n}" for n in names[1:]]
    head += [f"{base} spread", f"{base} / {names[1]} peak RSS"]
    print("| " + " | ".join(head) + " |")
    print("|" + " --- |" * len(head))
    ratios = {n: [] for n in names[1:]}
    rss_ratios = []
    for b in benches:
        times = {n: [data[n][r][b][0] for r in range(rounds)] for n in names}
        row = [b] + [f"{statistics.median(times[n]) * 1e3:.2f}" for n in names]
        for n in names[1:]:
            ratio = statistics.median(times[base][r] / times[n][r] for r in range(rounds))
            ratios[n].append(ratio)
            row.append(f"{ratio:.3f}x")
        mine = times[base]
        row.append(f"{(max(mine) - min(mine)) / statistics.median(mine) * 100:.0f}%")
        rss = [
            (data[base][r][b][1], data[names[1]][r][b][1])
            for r in range(rounds)
            if data[base][r][b][1] and data[names[1]][r][b][1]
        ]
        if rss:
            rss_ratio = statistics.median(m / p for m, p in rss)
            rss_ratios.append(rss_ratio)
            row.append(f"{rss_ratio:.3f}x")
        else:
            row.append("")
        print("| " + " | ".join(row) + " |")
    geo = ["**geometric mean**"] + [""] * len(names)
    for n in names[1:]:
        geo.append(f"**{math.exp(statistics.fmean(math.log(x) for x in ratios[n])):.3f}x**")
    geo.append("")
    geo.append(
        f"**{math.exp(statistics.fmean(math.log(x) for x in rss_ratios)):.3f}x**" if rss_ratios else ""
    )
    print("| " + " | ".join(geo) + " |")
    worst = max(zip(ratios[names[1]], benches))
    print(
        f"\n{len(benches)} benchmarks, {rounds} rounds; largest {base} / {names[1]}: "
        f"{worst[0]:.3f}x ({worst[1]})"
    )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--probe")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--out", default="target/pyperformance")
    parser.add_argument("names", nargs="*")
    args = parser.parse_args()
    if args.probe:
        probe(args.probe)
    else:
        report(args.out, args.rounds, args.names)


if __name__ == "__main__":
    sys.exit(main())
