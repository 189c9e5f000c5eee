#!/usr/bin/python3
"""Container runtime benchmark (not a test): prints figures for docs/performance.md.

Sync invoke latency (p50, p99) of a trivial container function (`tr a-z A-Z` in the busybox
test image, through the Docker Engine API of a podman service) beside the same program as a
process function (/usr/bin/tr), in one run, sequential requests on one keep-alive connection.
Also: the cold-start share, i.e. the container's time minus the process's.

Usage: tools/bench/container_bench.py [path/to/spearlet]   (default: build/release/src/spearlet)
Env: INVOKES (default 100). Needs root and podman (tests/functional/podman_engine.py starts
the engine on a temporary socket and stops it by PID). Uses Debian's python3 (stdlib only).
"""
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "functional"))
import podman_engine  # noqa: E402

SPEARLET = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build/release/src/spearlet")
INVOKES = int(os.environ.get("INVOKES", "100"))


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100.0 * (len(values) - 1))))]


def measure(conn, name, n):
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        conn.request("POST", f"/functions/{name}/invoke", body=b"hello container %d" % i)
        r = conn.getresponse()
        body = r.read()
        times.append((time.perf_counter() - t0) * 1000)
        if r.status != 200 or not body.startswith(b"HELLO"):
            raise SystemExit(f"{name}: unexpected answer {r.status} {body[:200]!r}")
    return times


def main():
    reason = podman_engine.unavailable()
    if reason:
        raise SystemExit("container_bench: " + reason)
    engine = podman_engine.PodmanEngine()
    tmp = tempfile.mkdtemp(prefix="spear-container-bench-")
    proc = None
    try:
        cfg = {"http": {"address": "127.0.0.1", "port": 0},
               "container": {"engine": engine.uri},
               "functions": [
                   {"name": "upper_container", "runtime": "container",
                    "image": podman_engine.IMAGE, "command": ["/bin/tr", "a-z", "A-Z"]},
                   {"name": "upper_process", "command": ["/usr/bin/tr", "a-z", "A-Z"]}]}
        path = os.path.join(tmp, "config.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        log = open(os.path.join(tmp, "spearlet.log"), "wb")
        proc = subprocess.Popen([SPEARLET, "--config", path], stdout=log, stderr=subprocess.STDOUT)
        port = None
        for _ in range(500):
            m = re.search(r"serving HTTP on http://127\.0\.0\.1:(\d+)",
                          open(os.path.join(tmp, "spearlet.log")).read())
            if m:
                port = int(m.group(1))
                break
            time.sleep(0.02)
        if port is None:
            raise SystemExit("spearlet did not start")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        measure(conn, "upper_container", 3)  # warm the engine's caches
        measure(conn, "upper_process", 3)
        results = {}
        for name in ("upper_container", "upper_process"):
            results[name] = measure(conn, name, INVOKES)
        print(f"sync invoke, {INVOKES} sequential requests each ({os.path.basename(SPEARLET)}, "
              f"podman {engine.runtime}):")
        for name, times in results.items():
            print(f"  {name:16s} p50 {percentile(times, 50):8.1f} ms   p99 "
                  f"{percentile(times, 99):8.1f} ms   mean {statistics.mean(times):8.1f} ms")
        share = statistics.median(results["upper_container"]) - statistics.median(
            results["upper_process"])
        print(f"  container start-up share (median difference): {share:.1f} ms")
    finally:
        if proc:
            proc.terminate()
            proc.wait(timeout=30)
        engine.close()


if __name__ == "__main__":
    main()
