#!/usr/bin/env bash
# System calls per request of nginx and wasmgate's HTTP_PROXY, each proxy as bench/run.sh
# starts it (one worker on CPU 0, the backend and wrk on CPU 1): `strace -c` on the proxy
# while wrk drives it with 64 connections for 4 s, each call's count divided by the requests
# served, for 13-byte and 16 KiB responses. strace slows the proxy down; the counts per
# request are what this is for (bench/PROFILE.md, session 14).
#
#   bench/syscalls.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
# shellcheck source=bench/configs.sh
source "$ROOT/bench/configs.sh"
start_workdir

command -v strace >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq strace >/dev/null; }
command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
command -v nginx >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null; }
cargo build --release -q -p wasmgate -p wasmgate-bench
BIN=$ROOT/target/release
AUTHORIZER=$ROOT/target/wasm/wasm32-wasip2/release/quickstart_authorizer.wasm

BACKEND=127.0.0.1:28280
taskset -c 1 "$BIN/bench-backend" $BACKEND & PIDS+=($!)
nginx_conf "$WORK" 127.0.0.1:28281 "$BACKEND"
gateway_toml "$WORK" 127.0.0.1:28284 "$BACKEND" "$AUTHORIZER"
RUST_LOG=warn taskset -c 0 "$BIN/wasmgate" serve --workers 1 --no-watch "$WORK/gateway.toml" & GATEWAY=$!
PIDS+=("$GATEWAY")
taskset -c 0 nginx -c "$WORK/nginx.conf" & PIDS+=($!)
for _ in $(seq 300); do
  curl -sf -o /dev/null http://127.0.0.1:28284/prod/proxy/small && curl -sf -o /dev/null http://127.0.0.1:28281/small && break
  sleep 0.2
done
NGINX_WORKER=$(pgrep -f "nginx: worker" -n)

printf 'proxy\tbody\trequests\tsyscall\tper_request\n'
for body in small 16k; do
  for proxy in nginx wasmgate-proxy; do
    if [ "$proxy" = nginx ]; then pid=$NGINX_WORKER url=http://127.0.0.1:28281/$body
    else pid=$GATEWAY url=http://127.0.0.1:28284/prod/proxy/$body; fi
    strace -c -f -p "$pid" -o "$WORK/strace" 2>/dev/null & tracer=$!
    sleep 0.5
    n=$(taskset -c 1 wrk -t1 -c64 -d4s "$url" | awk '/requests in/ {print $1}')
    kill -INT "$tracer"; wait "$tracer" 2>/dev/null || true
    # strace -c: calls are the fourth column; rows with an errors column have one more.
    awk -v p="$proxy" -v b="$body" -v n="$n" '$NF ~ /^[a-z_0-9]+$/ && $4 ~ /^[0-9]+$/ && $NF != "total" {
      printf "%s\t%s\t%d\t%s\t%.2f\n", p, b, n, $NF, $4 / n }' "$WORK/strace" | awk -F'\t' '$5 >= 0.01'
  done
done
