"""Turns bench/out/raw.tsv into bench/RESULTS.md: medians, spread, ratios to direct and nginx."""
import csv
import platform
import statistics
import subprocess
import sys
from collections import defaultdict

raw, rounds, duration, conns = sys.argv[1:5]
rows = list(csv.DictReader(open(raw), delimiter="\t"))
by = defaultdict(list)
for r in rows:
    by[(r["target"], r["body"])].append(r)
targets = list(dict.fromkeys(r["target"] for r in rows))


def med(key, field):
    return statistics.median(float(r[field]) for r in by[key])


def spread(key, field):
    vals = [float(r[field]) for r in by[key]]
    return min(vals), max(vals)


cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], capture_output=True, text=True).stdout.strip()
print("# Benchmark results\n")
print(f"Produced by `ROUNDS={rounds} DURATION={duration} CONNS={conns} bench/run.sh` on {platform.node()} "
      f"({cpu or 'unknown CPU'}, kernel {platform.release()}).\n")
print("The proxy under test runs alone on CPU 0 (one worker: nginx `worker_processes 1`, HAProxy `nbthread 1`, "
      "Envoy `--concurrency 1`, wasmgate `--workers 1`); wrk (1 thread, keep-alive) and the backend share CPU 1. "
      "`direct` is a second backend alone on CPU 0: the physical limit. Rounds are interleaved; figures are medians "
      "over rounds, with the min–max spread of requests/s. Ratios compare medians from this same run.\n")
for body in ("small", "16k"):
    keys = [(t, body) for t in targets if (t, body) in by]
    if not keys:
        continue
    direct = med(("direct", body), "rps") if ("direct", body) in by else None
    nginx = med(("nginx", body), "rps") if ("nginx", body) in by else None
    print(f"## {'13-byte' if body == 'small' else '16 KiB'} responses\n")
    print("| target | requests/s (median) | spread | × direct | × nginx | p50 ms | p99 ms |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for key in keys:
        rps = med(key, "rps")
        lo, hi = spread(key, "rps")
        vs_direct = f"{rps / direct:.2f}" if direct else "–"
        vs_nginx = f"{rps / nginx:.2f}" if nginx else "–"
        print(f"| {key[0]} | {rps:,.0f} | {lo:,.0f}–{hi:,.0f} | {vs_direct} | {vs_nginx} | "
              f"{med(key, 'p50_ms'):.3f} | {med(key, 'p99_ms'):.3f} |")
    print()
