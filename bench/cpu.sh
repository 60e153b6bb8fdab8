#!/usr/bin/env bash
# CPU time a running proxy spends per request: user and system time from /proc/<pid>/stat over
# a wrk run (client pinned to CPU 1), divided by the requests served, and the TCP segments the
# machine sent per request (`nstat`, all of loopback: client, proxy and backend). Less disturbed
# by a noisy machine than requests/s; bench/PROFILE.md quotes it.
#
#   bench/cpu.sh <pid of the proxy> <url> [seconds]
set -euo pipefail
PID=$1; URL=$2; D=${3:-5}
read -r u0 s0 < <(awk '{print $14, $15}' "/proc/$PID/stat")
nstat -n
OUT=$(taskset -c 1 wrk -t1 -c64 -d"${D}s" -H 'Authorization: allow' "$URL")
read -r u1 s1 < <(awk '{print $14, $15}' "/proc/$PID/stat")
SEGS=$(nstat TcpOutSegs | awk '/^TcpOutSegs/ {print $2}')
N=$(echo "$OUT" | awk '/requests in/ {print $1}')
RPS=$(echo "$OUT" | awk '/Requests\/sec/ {print $2}')
python3 - "$u0" "$s0" "$u1" "$s1" "$N" "$RPS" "$(getconf CLK_TCK)" "$URL" "${SEGS:-0}" <<'PY'
import sys
u0, s0, u1, s1, n, rps, tck, url, segs = sys.argv[1:]
user = (int(u1) - int(u0)) / int(tck) * 1e6 / int(n)
system = (int(s1) - int(s0)) / int(tck) * 1e6 / int(n)
print(f"{url}: {float(rps):,.0f} requests/s, user {user:.2f} µs, system {system:.2f} µs, total {user + system:.2f} µs per request, {int(segs) / int(n):.2f} TCP segments per request")
PY
