#!/usr/bin/env bash
# User-space instructions per request, counted by callgrind on the running proxy while wrk
# drives it: a figure this machine's noisy neighbours do not move, for A/B decisions that
# requests/s cannot settle. Kernel time (the loopback TCP path) is not counted; it is about the
# same for every proxy here (same system calls per request, bench/PROFILE.md).
#
# The gateway runs with `max_plugin_instances = 16`: valgrind cannot reserve the address space
# of the default pooling-allocator configuration.
#
#   bench/instructions.sh                 # all targets
#   bench/instructions.sh wasmgate-proxy  # one target
#
# Each profile is kept as bench/out/callgrind.<target> (callgrind_annotate --inclusive=yes reads it).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
# shellcheck source=bench/configs.sh
source "$ROOT/bench/configs.sh"
OUT=$ROOT/bench/out
mkdir -p "$OUT"
start_workdir

command -v valgrind >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null; }
command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
cargo build --release -q -p wasmgate -p wasmgate-bench
BIN=$ROOT/target/release
AUTHORIZER=$ROOT/target/wasm/wasm32-wasip2/release/quickstart_authorizer.wasm

BACKEND=127.0.0.1:28180
taskset -c 1 "$BIN/bench-backend" $BACKEND & PIDS+=($!)

nginx_conf "$WORK" 127.0.0.1:28181 "$BACKEND" "master_process off;"
gateway_toml "$WORK" 127.0.0.1:28184 "$BACKEND" "$AUTHORIZER" "max_plugin_instances = 16"

# measure <name> <url> <command...>: the command runs under callgrind on CPU 0, with
# instrumentation on only while wrk runs (after a warm-up).
measure() {
  local name=$1 url=$2
  shift 2
  RUST_LOG=warn taskset -c 0 valgrind --tool=callgrind --instr-atstart=no \
    --callgrind-out-file="$WORK/cg.$name.%p" "$@" > "$WORK/$name.log" 2>&1 &
  local pid=$!
  for _ in $(seq 600); do curl -s -o /dev/null "$url" && break; sleep 0.5; done
  taskset -c 1 wrk -t1 -c16 -d3s -H 'Authorization: allow' "$url" > /dev/null
  callgrind_control -i on "$pid" > /dev/null
  local log
  log=$(taskset -c 1 wrk -t1 -c16 -d10s -H 'Authorization: allow' "$url")
  callgrind_control -i off "$pid" > /dev/null
  callgrind_control -d "$pid" > /dev/null
  kill "$pid"; wait "$pid" 2>/dev/null || true
  local requests ir
  requests=$(echo "$log" | awk '/requests in/ {print $1}')
  ir=$(callgrind_annotate "$(ls "$WORK"/cg."$name".*.1 | head -1)" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
  printf '%s\t%s\t%s\n' "$name" "$requests" "$((ir / requests))" | tee -a "$OUT/instructions.tsv"
  # The profile itself, for callgrind_annotate: bench/out/callgrind.<target>.
  cp "$(ls "$WORK"/cg."$name".*.1 | head -1)" "$OUT/callgrind.$name"
}

WANT=${1:-all}
printf 'target\trequests\tinstructions_per_request\n' > "$OUT/instructions.tsv"
GW=("$BIN/wasmgate" serve --workers 1 --no-watch "$WORK/gateway.toml")
[[ $WANT == all || $WANT == nginx ]] && measure nginx http://127.0.0.1:28181/ nginx -c "$WORK/nginx.conf"
[[ $WANT == all || $WANT == wasmgate-proxy ]] && measure wasmgate-proxy http://127.0.0.1:28184/prod/proxy/small "${GW[@]}"
[[ $WANT == all || $WANT == wasmgate-proxy+authorizer ]] && measure wasmgate-proxy+authorizer http://127.0.0.1:28184/prod/auth/small "${GW[@]}"
[[ $WANT == all || $WANT == "wasmgate-proxy+authorizer(warm)" ]] && measure "wasmgate-proxy+authorizer(warm)" http://127.0.0.1:28184/prod/warm/small "${GW[@]}"
[[ $WANT == all || $WANT == wasmgate-mock ]] && measure wasmgate-mock http://127.0.0.1:28184/prod/mock "${GW[@]}"
true
