#!/usr/bin/python3
"""wasm runtime benchmark (not a test): prints figures for docs/performance.md.

  1. tiny wasm invoke latency: sequential raw invokes of the echo guest on one keep-alive
     connection (p50, p99), in the interpreter and in the AOT tier (a worker process per
     invoke), beside the same for a process function (`cat`) for scale
  2. guest compute speed: the primes guest in the AOT tier and in the interpreter against the
     same C built natively with cc -O2 (ratios of run times), in one run
  3. GET /health latency (p50, p99) while a CPU-bound guest runs in either tier, against idle

Usage: tools/bench/wasm_bench.py [path/to/spearlet]   (default: build/release/src/spearlet)
The guests are looked up next to the binary (../share/spear-edge/functions/wasm) unless
SPEAR_WASM_DIR says otherwise. Env: INVOKES (default 2000), HEALTH (default 2000),
PRIMES_N (default 2000000), SKIP_INTERPRETER=1 (skip the interpreter's primes run, ~15 s).
Uses Debian's python3 (stdlib only), cc and wasm2c (the AOT functions compile at start into a
temporary node.data_dir).

The server (and the workers and functions it starts) is pinned to core SERVER_CORE (0) and this
client to CLIENT_CORE (1) (PIN=0: unpinned). Section 3 runs ROUNDS (3) alternating rounds of
idle and busy /health and prints medians with their spread (min-max), then the guest's own
cost: the time of primes up to COOP_N (300 000) in the interpreter alone and while /health is
requested back to back (the slices are short while other work waits). ONLY_COOP=1 runs
section 3 alone.
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
SKIP_INTERPRETER = os.environ.get("SKIP_INTERPRETER") == "1"
ROUNDS = int(os.environ.get("ROUNDS", "3"))
COOP_N = int(os.environ.get("COOP_N", "300000"))
ONLY_COOP = os.environ.get("ONLY_COOP") == "1"
PIN = os.environ.get("PIN", "1") == "1" and (os.cpu_count() or 1) >= 2
SERVER_CORE = int(os.environ.get("SERVER_CORE", "0"))
CLIENT_CORE = int(os.environ.get("CLIENT_CORE", "1"))


def spread(values, fmt="{:.3f}"):
    """median [min-max]"""
    med = statistics.median(values)
    if len(values) == 1:
        return fmt.format(med)
    return f"{fmt.format(med)} [{fmt.format(min(values))}-{fmt.format(max(values))}]"


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
        "node": {"data_dir": work.name},
        "functions": [
            {"name": "wecho", "runtime": "wasm", "module": os.path.join(GUESTS, "echo.wasm")},
            {"name": "wecho_aot", "runtime": "wasm", "tier": "aot",
             "module": os.path.join(GUESTS, "echo.wasm")},
            {"name": "primes", "runtime": "wasm", "timeout_ms": 3600000,
             "module": os.path.join(GUESTS, "primes.wasm")},
            {"name": "primes_aot", "runtime": "wasm", "timeout_ms": 3600000, "tier": "aot",
             "module": os.path.join(GUESTS, "primes.wasm")},
            {"name": "cat", "command": ["cat"]},
        ],
    }
    if ONLY_COOP:  # no AOT compile at start
        config["functions"] = [f for f in config["functions"] if f.get("tier") != "aot"]
    cfg_path = os.path.join(work.name, "config.json")
    with open(cfg_path, "w") as f:
        json.dump(config, f)
    log = open(os.path.join(work.name, "spearlet.log"), "wb")
    env = dict(os.environ, SPEAR_LOG_LEVEL="warn")
    pin = ["taskset", "-c", str(SERVER_CORE)] if PIN else []
    if PIN:
        os.sched_setaffinity(0, {CLIENT_CORE})
    print(f"server pinned to core {SERVER_CORE}, client to core {CLIENT_CORE}" if PIN else
          "unpinned", f"; load average {os.getloadavg()[0]:.1f}")
    proc = subprocess.Popen(pin + [SPEARLET, "--config", cfg_path], stdout=log, stderr=log, env=env)
    try:
        for _ in range(2400):  # the AOT functions compile first (a few seconds)
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                if proc.poll() is not None:
                    log.flush()
                    sys.exit("spearlet exited:\n" +
                             open(os.path.join(work.name, "spearlet.log")).read()[-2000:])
                time.sleep(0.05)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)

        def run_primes(function):
            body = json.dumps({"function_name": function,
                               "input": {"content_type": "text/plain", "data": str(PRIMES_N)}})
            conn.request("POST", "/functions/execute", body=body,
                         headers={"Content-Type": "application/json"})
            res = json.loads(conn.getresponse().read())["result"]
            if res["status"] != "completed":
                raise RuntimeError(f"{function}: {res}")
            return res["execution_time_ms"] / 1000, res["output"]["data"]

        if not ONLY_COOP:
            # 1. tiny invoke latency
            timed_requests(conn, "POST", "/functions/wecho/invoke", b"ping", 100)  # warm up
            timed_requests(conn, "POST", "/functions/wecho_aot/invoke", b"ping", 20)
            wasm_lat = timed_requests(conn, "POST", "/functions/wecho/invoke", b"ping", INVOKES)
            aot_lat = timed_requests(conn, "POST", "/functions/wecho_aot/invoke", b"ping",
                                     INVOKES // 4)
            paced = []  # a spare worker has had time to get ready before each invoke
            for _ in range(200):
                time.sleep(0.02)
                paced += timed_requests(conn, "POST", "/functions/wecho_aot/invoke", b"ping", 1)
            proc_lat = timed_requests(conn, "POST", "/functions/cat/invoke", b"ping", INVOKES // 4)
            print(f"tiny wasm invoke, interpreter (echo.wasm, {INVOKES} sequential): "
                  f"p50 {ms(statistics.median(wasm_lat))}  p99 {ms(pct(wasm_lat, 99))}")
            print(f"tiny wasm invoke, AOT worker (echo.wasm, {INVOKES // 4} sequential): "
                  f"p50 {ms(statistics.median(aot_lat))}  p99 {ms(pct(aot_lat, 99))}")
            print(f"tiny wasm invoke, AOT worker, 20 ms apart (200): "
                  f"p50 {ms(statistics.median(paced))}  p99 {ms(pct(paced, 99))}")
            print(f"tiny process invoke (cat, {INVOKES // 4} sequential):  "
                  f"p50 {ms(statistics.median(proc_lat))}  p99 {ms(pct(proc_lat, 99))}")

            # 2. guest compute speed against native, both tiers in one run
            native = os.path.join(work.name, "primes_native")
            subprocess.run(["cc", "-O2", "-o", native,
                            os.path.join(ROOT, "tools/functions/wasm/primes.c")], check=True)
            native_runs = []
            for _ in range(3):
                t0 = time.perf_counter()
                native_out = subprocess.run([native], input=str(PRIMES_N).encode(),
                                            capture_output=True, check=True).stdout.decode()
                native_runs.append(time.perf_counter() - t0)
            native_s = min(native_runs)
            aot_runs = [run_primes("primes_aot") for _ in range(3)]
            aot_s = min(t for t, _ in aot_runs)
            if any(out != native_out for _, out in aot_runs):
                raise RuntimeError(f"outputs differ: {native_out!r} vs {aot_runs[0][1]!r}")
            print(f"primes up to {PRIMES_N} (best of 3): AOT {aot_s:.3f} s, native {native_s:.3f} s: "
                  f"AOT/native {aot_s / native_s:.2f}x")
            if not SKIP_INTERPRETER:
                wasm_s, out = run_primes("primes")
                if out != native_out:
                    raise RuntimeError(f"outputs differ: {native_out!r} vs {out!r}")
                print(f"primes up to {PRIMES_N}: interpreter {wasm_s:.3f} s: "
                      f"interpreter/native {wasm_s / native_s:.1f}x, interpreter/AOT "
                      f"{wasm_s / aot_s:.1f}x")

        # 3. /health while a CPU-bound guest runs, against idle: alternating rounds
        def start_guest(function):
            body = json.dumps({"function_name": function, "execution_mode": "async",
                               "input": {"content_type": "text/plain", "data": "4000000000"}})
            conn.request("POST", "/functions/execute", body=body,
                         headers={"Content-Type": "application/json"})
            return json.loads(conn.getresponse().read())["execution_id"]

        def stop_guest(eid):
            conn.request("GET", f"/status/{eid}")
            still = json.loads(conn.getresponse().read())["status"]
            conn.request("POST", f"/executions/{eid}/cancel")
            conn.getresponse().read()
            return still

        timed_requests(conn, "GET", "/health", None, 200)  # warm up
        tiers = (("primes", "interpreter"),) + ((("primes_aot", "AOT"),) if not ONLY_COOP else ())
        figures = {"idle": ([], [])}
        for _, label in tiers:
            figures[label] = ([], [])
        for r in range(ROUNDS):
            idle = timed_requests(conn, "GET", "/health", None, HEALTH)
            figures["idle"][0].append(statistics.median(idle) * 1000)
            figures["idle"][1].append(pct(idle, 99) * 1000)
            line = [f"round {r + 1}: idle p50 {ms(statistics.median(idle))} p99 {ms(pct(idle, 99))}"]
            for function, label in tiers:
                eid = start_guest(function)
                time.sleep(0.2)
                busy = timed_requests(conn, "GET", "/health", None, HEALTH)
                still = stop_guest(eid)
                figures[label][0].append(statistics.median(busy) * 1000)
                figures[label][1].append(pct(busy, 99) * 1000)
                line.append(f"{label} guest ({still} throughout) p50 {ms(statistics.median(busy))}"
                            f" p99 {ms(pct(busy, 99))}")
            print("; ".join(line))
        print(f"GET /health, {HEALTH} sequential per round, medians over {ROUNDS} rounds [min-max], ms:")
        idle_p99 = statistics.median(figures["idle"][1])
        for label, (p50s, p99s) in figures.items():
            what = "idle" if label == "idle" else f"while the {label} guest computes"
            ratio = "" if label == "idle" else f"  p99/idle p99 {statistics.median(p99s) / idle_p99:.2f}x"
            print(f"  {what:<40} p50 {spread(p50s)}  p99 {spread(p99s)}{ratio}")

        # The guest's own cost of sharing: primes up to COOP_N in the interpreter, alone and
        # while /health is requested back to back (alternating, ROUNDS each).
        def primes_time(function, n):
            body = json.dumps({"function_name": function,
                               "input": {"content_type": "text/plain", "data": str(n)}})
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
            c.request("POST", "/functions/execute", body=body,
                      headers={"Content-Type": "application/json"})
            res = json.loads(c.getresponse().read())["result"]
            c.close()
            if res["status"] != "completed":
                raise RuntimeError(f"{function}: {res}")
            return res["execution_time_ms"] / 1000

        import threading
        alone, shared, served = [], [], []
        for r in range(ROUNDS):
            alone.append(primes_time("primes", COOP_N))
            result = {}
            worker = threading.Thread(target=lambda: result.update(t=primes_time("primes", COOP_N)))
            worker.start()
            count = 0
            while worker.is_alive():
                timed_requests(conn, "GET", "/health", None, 20)
                count += 20
            worker.join()
            shared.append(result["t"])
            served.append(count / result["t"])
        print(f"guest primes up to {COOP_N} (interpreter), s: alone {spread(alone)}, while "
              f"/health is requested back to back {spread(shared)} "
              f"({spread(served, '{:.0f}')} /health per s served meanwhile): guest slowdown "
              f"{statistics.median(shared) / statistics.median(alone):.2f}x")
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()
        work.cleanup()


if __name__ == "__main__":
    main()
