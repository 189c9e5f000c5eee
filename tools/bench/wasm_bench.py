#!/usr/bin/python3
"""wasm runtime benchmark (not a test): prints figures for docs/performance.md.

  1. tiny wasm invoke latency: sequential raw invokes of the echo guest on one keep-alive
     connection (p50, p99), beside the same for a process function (`cat`) for scale
  2. guest compute speed: the primes guest in the interpreter against the same C built
     natively with cc -O2 (ratio of run times)
  3. GET /health latency (p50, p99) while a CPU-bound guest runs, against idle

Usage: tools/bench/wasm_bench.py [path/to/spearlet]   (default: build/release/src/spearlet)
The guests are looked up next to the binary (../share/spear-edge/functions/wasm) unless
SPEAR_WASM_DIR says otherwise. Env: INVOKES (default 2000), HEALTH (default 2000),
PRIMES_N (default 2000000). Uses Debian's python3 (stdlib only) and cc.
"""
import http.client
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SPEARLET = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build/release/src/spearlet")
GUESTS = os.environ.get("SPEAR_WASM_DIR") or os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(SPEARLET)), "..", "share", "spear-edge",
                 "functions", "wasm"))
INVOKES = int(os.environ.get("INVOKES", "2000"))
HEALTH = int(os.environ.get("HEALTH", "2000"))
PRIMES_N = int(os.environ.get("PRIMES_N", "2000000"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def ms(seconds):
    return f"{seconds * 1000:.3f} ms"


def timed_requests(conn, method, path, body, count):
    out = []
    for _ in range(count):
        t0 = time.perf_counter()
        conn.request(method, path, body=body)
        r = conn.getresponse()
        r.read()
        out.append(time.perf_counter() - t0)
        if r.status != 200:
            raise RuntimeError(f"{method} {path}: HTTP {r.status}")
    return out


def main():
    for f in ("echo.wasm", "primes.wasm"):
        if not os.path.exists(os.path.join(GUESTS, f)):
            sys.exit(f"missing {GUESTS}/{f}: build with the wasm32-wasi toolchain")
    if not os.access(SPEARLET, os.X_OK):
        sys.exit(f"build spearlet first ({SPEARLET})")
    work = tempfile.TemporaryDirectory(prefix="spear-wasm-bench-")
    port = free_port()
    config = {
        "http": {"address": "127.0.0.1", "port": port},
        "functions": [
            {"name": "wecho", "runtime": "wasm", "module": os.path.join(GUESTS, "echo.wasm")},
            {"name": "primes", "runtime": "wasm", "timeout_ms": 3600000,
             "module": os.path.join(GUESTS, "primes.wasm")},
            {"name": "cat", "command": ["cat"]},
        ],
    }
    cfg_path = os.path.join(work.name, "config.json")
    with open(cfg_path, "w") as f:
        json.dump(config, f)
    log = open(os.path.join(work.name, "spearlet.log"), "wb")
    env = dict(os.environ, SPEAR_LOG_LEVEL="warn")
    proc = subprocess.Popen([SPEARLET, "--config", cfg_path], stdout=log, stderr=log, env=env)
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.05)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)

        # 1. tiny invoke latency
        timed_requests(conn, "POST", "/functions/wecho/invoke", b"ping", 100)  # warm up
        wasm_lat = timed_requests(conn, "POST", "/functions/wecho/invoke", b"ping", INVOKES)
        proc_lat = timed_requests(conn, "POST", "/functions/cat/invoke", b"ping", INVOKES // 4)
        print(f"tiny wasm invoke (echo.wasm, {INVOKES} sequential): "
              f"p50 {ms(statistics.median(wasm_lat))}  p99 {ms(pct(wasm_lat, 99))}")
        print(f"tiny process invoke (cat, {INVOKES // 4} sequential):  "
              f"p50 {ms(statistics.median(proc_lat))}  p99 {ms(pct(proc_lat, 99))}")

        # 2. guest compute speed against native
        body = json.dumps({"function_name": "primes",
                           "input": {"content_type": "text/plain", "data": str(PRIMES_N)}})
        conn.request("POST", "/functions/execute", body=body,
                     headers={"Content-Type": "application/json"})
        res = json.loads(conn.getresponse().read())["result"]
        wasm_s = res["execution_time_ms"] / 1000
        native = os.path.join(work.name, "primes_native")
        subprocess.run(["cc", "-O2", "-o", native,
                        os.path.join(ROOT, "tools/functions/wasm/primes.c")], check=True)
        t0 = time.perf_counter()
        native_out = subprocess.run([native], input=str(PRIMES_N).encode(),
                                    capture_output=True, check=True).stdout.decode()
        native_s = time.perf_counter() - t0
        if native_out != res["output"]["data"]:
            raise RuntimeError(f"outputs differ: {native_out!r} vs {res['output']['data']!r}")
        print(f"primes up to {PRIMES_N}: wasm {wasm_s:.3f} s, native {native_s:.3f} s, "
              f"ratio {wasm_s / native_s:.1f}x slower")

        # 3. /health while a CPU-bound guest runs, against idle
        idle = timed_requests(conn, "GET", "/health", None, HEALTH)
        body = json.dumps({"function_name": "primes", "execution_mode": "async",
                           "input": {"content_type": "text/plain", "data": "100000000"}})
        conn.request("POST", "/functions/execute", body=body,
                     headers={"Content-Type": "application/json"})
        eid = json.loads(conn.getresponse().read())["execution_id"]
        time.sleep(0.2)
        busy = timed_requests(conn, "GET", "/health", None, HEALTH)
        conn.request("GET", f"/status/{eid}")
        still = json.loads(conn.getresponse().read())["status"]
        conn.request("POST", f"/executions/{eid}/cancel")
        conn.getresponse().read()
        print(f"GET /health idle ({HEALTH}):          p50 {ms(statistics.median(idle))}  "
              f"p99 {ms(pct(idle, 99))}  max {ms(max(idle))}")
        print(f"GET /health, guest computing ({HEALTH}): p50 {ms(statistics.median(busy))}  "
              f"p99 {ms(pct(busy, 99))}  max {ms(max(busy))}  (guest {still} throughout)")
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()
        work.cleanup()


if __name__ == "__main__":
    main()
