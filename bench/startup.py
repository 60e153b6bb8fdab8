"""Start-up time and idle memory of wasmgate with 10 APIs x 10 plugins.

    python3 bench/startup.py <wasmgate binary> <work dir> <wasm dir> > startup.tsv

Writes a manifest with 10 APIs, each with 10 plugins of its own (100 plugin entries: authorizers,
transforms and integrations, from the guest components the build produced), then:

- starts the gateway once so that every component is compiled into the cache, and stops it;
- starts it RUNS more times and measures, from the moment the process is spawned, how long
  until the first request is answered 200 (polled every millisecond over a fresh connection);
- on the last start, sends one request through every plugin, waits, and reads VmRSS.

Output: tab-separated `measure<TAB>value` lines (start_ms per run, rss_mib).
"""
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

binary, work, wasm = sys.argv[1:4]
RUNS = int(os.environ.get("STARTUP_RUNS", "7"))
PORT = 18190
APIS, PLUGINS = 10, 10

# (file, kind) for the components the workspace build produces.
COMPONENTS = [
    ("quickstart_authorizer.wasm", "authorizer"),
    ("fixture_upper.wasm", "transform"),
    ("fixture_echo.wasm", "integration"),
    ("token_authorizer.wasm", "authorizer"),
]


def manifest(state_dir):
    out = [
        "version = 1",
        "[gateway]",
        f'state_dir = "{state_dir}"',
        "[[listeners]]",
        f'address = "127.0.0.1:{PORT}"',
    ]
    routes = []  # (api, path, headers)
    for a in range(APIS):
        api = f"api{a}"
        out += [f"[apis.{api}.stages.prod]"]
        for p in range(PLUGINS):
            name = f"{api}_p{p}"
            file, kind = COMPONENTS[(a + p) % len(COMPONENTS)]
            out += [f"[plugins.{name}]", f'path = "{os.path.join(wasm, file)}"']
            if file == "token_authorizer.wasm":
                out += ['config = { tokens = { "allow" = "bench" } }']
            res = f'[apis.{api}.resources."/r{p}".resourceMethods.GET'
            mock = [
                'type = "MOCK"',
                """requestTemplates = { "application/json" = '{"statusCode": 200}' }""",
                """integrationResponses."200".responseTemplates = { "application/json" = "ok" }""",
            ]
            if kind == "authorizer":
                out += [
                    f"[apis.{api}.authorizers.a{p}]",
                    'type = "TOKEN"',
                    f'plugin = "{name}"',
                    f"{res}]",
                    'authorizationType = "CUSTOM"',
                    f'authorizerId = "a{p}"',
                    f"{res}.methodIntegration]",
                    *mock,
                ]
            elif kind == "transform":
                out += [f"{res}.methodIntegration]", *mock, f'response_transform = {{ plugin = "{name}" }}']
            else:
                out += [f"{res}.methodIntegration]", 'type = "PLUGIN"', f'plugin = "{name}"']
            routes.append((api, f"/prod/r{p}"))
    return "\n".join(out) + "\n", routes


def get(api, path, timeout=1.0):
    c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=timeout)
    try:
        c.request("GET", path, headers={"Host": f"{api}.execute-api.local", "Authorization": "allow"})
        r = c.getresponse()
        r.read()
        return r.status
    finally:
        c.close()


def start(path):
    return subprocess.Popen([binary, "serve", "--no-watch", "--workers", "1", path],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "RUST_LOG": "warn"})


def wait_first(t0, proc):
    while True:
        if proc.poll() is not None:
            sys.exit(f"wasmgate exited with {proc.returncode} during start-up")
        try:
            if get("api0", "/prod/r0", timeout=0.5) == 200:
                return (time.monotonic() - t0) * 1000
        except (ConnectionError, socket.timeout, OSError):
            pass
        if time.monotonic() - t0 > 60:
            sys.exit("wasmgate did not answer within 60 s")
        time.sleep(0.001)


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


state = os.path.join(work, "startup-state")
shutil.rmtree(state, ignore_errors=True)
text, routes = manifest(state)
path = os.path.join(work, "startup.toml")
open(path, "w").write(text)

# First start: compiles every component into the cache.
proc = start(path)
wait_first(time.monotonic(), proc)
stop(proc)

for run in range(RUNS):
    t0 = time.monotonic()
    proc = start(path)
    ms = wait_first(t0, proc)
    print(f"start_ms\t{ms:.1f}")
    if run < RUNS - 1:
        stop(proc)

failed = [(a, p) for a, p in routes if get(a, p) != 200]
if failed:
    stop(proc)
    sys.exit(f"requests failed on {failed[:5]}…")
time.sleep(2)
rss_kib = next(int(line.split()[1]) for line in open(f"/proc/{proc.pid}/status") if line.startswith("VmRSS:"))
print(f"rss_mib\t{rss_kib / 1024:.1f}")
print(f"plugins\t{APIS * PLUGINS}")
stop(proc)
