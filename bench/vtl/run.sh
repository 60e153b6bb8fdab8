#!/usr/bin/env bash
# Template render speed: wasmgate-vtl against airspeed (PyPI; LocalStack's engine) and
# velocityjs (npm; serverless-offline's), on the same templates and inputs, each rendering in a
# loop in its own process on CPU 0. The engines take turns, round after round, so that a noisy
# minute on this shared machine falls on all three alike. Writes bench/out/vtl.tsv (engine,
# template, round, µs per render) and checks that the three engines rendered the same text.
#
#   bench/vtl/run.sh            # ROUNDS=5 rounds of SECONDS_PER_TEMPLATE=1 by default
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
OUT=$ROOT/bench/out
mkdir -p "$OUT/vtl" "$OUT/node"
SECS=${SECONDS_PER_TEMPLATE:-1}
ROUNDS=${ROUNDS:-5}
V=$ROOT/bench/vtl

python3 -c "import airspeed" 2>/dev/null || python3 -m pip install -q airspeed==0.7.1
[ -d "$OUT/node/node_modules/velocityjs" ] || (cd "$OUT/node" && npm install --silent --no-audit --no-fund velocityjs@2.1.7 >/dev/null)
cargo build --release -q -p wasmgate-bench --bin vtl-bench

args=("$V/templates" "$V/input.json" "$V/context.json" "$OUT/vtl" "$SECS")
# Each line `template<TAB>µs` becomes `engine<TAB>template<TAB>round<TAB>µs`.
tag() { awk -v e="$1" -v r="$2" -F'\t' '{ print e "\t" $1 "\t" r "\t" $2 }'; }
for r in $(seq "$ROUNDS"); do
  taskset -c 0 "$ROOT/target/release/vtl-bench" "${args[@]}" | tag wasmgate "$r"
  taskset -c 0 python3 "$V/airspeed_bench.py" "${args[@]}" | tag airspeed "$r"
  NODE_PATH="$OUT/node/node_modules" taskset -c 0 node "$V/velocityjs_bench.js" "${args[@]}" | tag velocityjs "$r"
done > "$OUT/vtl.tsv"
cat "$OUT/vtl.tsv"

# The same text from all three, modulo whitespace (the engines differ on Velocity's whitespace
# rules, which is what wasmgate-vtl's differential tests are about).
python3 - "$OUT/vtl" <<'PY'
import os, re, sys
d = sys.argv[1]
names = sorted({f.split("-", 1)[1] for f in os.listdir(d) if f.endswith(".out")})
norm = lambda s: re.sub(r"\s+", "", s)
for n in names:
    outs = {e: norm(open(os.path.join(d, f"{e}-{n}")).read()) for e in ("wasmgate", "airspeed", "velocityjs")}
    if len(set(outs.values())) != 1:
        for e, o in outs.items():
            print(f"  {e}: {o[:200]}", file=sys.stderr)
        sys.exit(f"{n[:-4]}: the engines rendered different text")
print("== the three engines rendered the same text (modulo whitespace)")
PY
