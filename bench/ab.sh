#!/usr/bin/env bash
# Two wasmgate binaries by the clock, run alternately on the same configuration, so that the
# machine's drift falls on both: for a change that instruction counts call small.
#
#   bench/ab.sh OLD_BINARY NEW_BINARY [ROUNDS] [PATH]
#
# e.g. build the old commit's `target/release/wasmgate`, copy it aside, build the new one, then
# `bench/ab.sh /tmp/wasmgate.old target/release/wasmgate 4 /prod/proxy/small`. Each round runs
# each binary alone on CPU 0, wrk and the backend on CPU 1, the order of the two swapped every
# round so that neither always runs first: a 2 s warm-up, then 6 s measured
# with 64 connections. Prints `old|new <requests/s>` per run.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
OLD=$(realpath "$1")
NEW=$(realpath "$2")
ROUNDS=${3:-4}
URL_PATH=${4:-/prod/proxy/small}
# shellcheck source=bench/configs.sh
source "$ROOT/bench/configs.sh"
start_workdir
cargo build --release -q -p wasmgate-bench
AUTHORIZER=$ROOT/target/wasm/wasm32-wasip2/release/quickstart_authorizer.wasm
BACKEND=127.0.0.1:28280
taskset -c 1 "$ROOT/target/release/bench-backend" $BACKEND & PIDS+=($!)
gateway_toml "$WORK" 127.0.0.1:28284 "$BACKEND" "$AUTHORIZER"
URL=http://127.0.0.1:28284$URL_PATH
for r in $(seq "$ROUNDS"); do
  # The order swapped every round, so that neither binary always runs first.
  order="old new"
  (( r % 2 == 0 )) && order="new old"
  for v in $order; do
    bin=$OLD
    [[ $v == new ]] && bin=$NEW
    RUST_LOG=warn taskset -c 0 "$bin" serve --workers 1 --no-watch "$WORK/gateway.toml" > "$WORK/$v.log" 2>&1 &
    gw=$!
    for _ in $(seq 100); do curl -s -o /dev/null "$URL" && break; sleep 0.1; done
    taskset -c 1 wrk -t1 -c64 -d2s "$URL" > /dev/null
    echo "$v $(taskset -c 1 wrk -t1 -c64 -d6s "$URL" | awk '/Requests\/sec/ {print $2}')"
    kill "$gw"; wait "$gw" 2>/dev/null || true
  done
done
