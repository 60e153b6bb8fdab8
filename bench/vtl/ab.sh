#!/usr/bin/env bash
# Two vtl-bench binaries by the clock, alternately on CPU 0, so that the machine's drift falls on
# both; the order of the two is swapped every round (running one always first showed 5–10%
# differences on templates neither build changed). Prints, per template, the median and the
# minimum µs per render of each and their ratios (on a noisy machine the minimum is steadier).
#
#   bench/vtl/ab.sh OLD_BINARY NEW_BINARY [ROUNDS] [SECONDS_PER_TEMPLATE]
#
# e.g. build the old commit's `target/release/vtl-bench` (`cargo build --release -p
# wasmgate-bench --bin vtl-bench`), copy it aside, build the new one, then
# `bench/vtl/ab.sh /tmp/vtl-bench.old target/release/vtl-bench 10`.
set -euo pipefail
cd "$(dirname "$0")/../.."
OLD=$(realpath "$1")
NEW=$(realpath "$2")
ROUNDS=${3:-10}
SECS=${4:-0.7}
V=bench/vtl
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
for i in $(seq "$ROUNDS"); do
  order="old new"
  [ $((i % 2)) = 0 ] && order="new old"
  for v in $order; do
    bin=$OLD
    [ "$v" = new ] && bin=$NEW
    taskset -c 0 "$bin" "$V/templates" "$V/input.json" "$V/context.json" "$OUT" "$SECS" | sed "s/^/$v\t/"
  done
done > "$OUT/ab.tsv"
python3 - "$OUT/ab.tsv" <<'PY'
import collections, statistics, sys
d = collections.defaultdict(list)
for line in open(sys.argv[1]):
    v, t, us = line.rstrip("\n").split("\t")
    d[(t, v)].append(float(us))
for t in sorted({k[0] for k in d}):
    o, n = statistics.median(d[(t, "old")]), statistics.median(d[(t, "new")])
    lo, ln = min(d[(t, "old")]), min(d[(t, "new")])
    print(f"{t:18} median: old {o:7.2f}  new {n:7.2f}  new/old {n / o:5.3f}   "
          f"min: old {lo:7.2f}  new {ln:7.2f}  new/old {ln / lo:5.3f}")
PY
