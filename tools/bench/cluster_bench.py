#!/usr/bin/python3
"""Benchmark (not a test): clusters (issue 16) on one nats-server with JetStream.

1. Async accept-to-completion throughput for 1, 2 and 3 appliances on a CPU-bound function
   (`cpu`, a mawk busy loop, max_concurrency 1 per node: one core's worth of work per node).
   Every submission goes to gw-a, which runs one and shares what it cannot start; the others
   pull. Throughput = executions / (last completed_at of the records - first submission).
   Per-node counts are printed.
2. The added latency of the shared path: the median accept-to-completion (as the client sees
   it: from the POST to gw-a until a `GET /status/{id}?wait_ms=` long-poll on gw-a answers the
   end) of a short function run locally on an idle gw-a, then with gw-a's slot held by a long
   run so that each one is shared and runs on gw-b.

Pinning (default on; --no-pin): each appliance and its children are pinned with `taskset -a -p`
to a core, gw-a on core 0, gw-b on core 1, gw-c on core 0 again (a 2-core machine has no third
core); nats-server and this client are not pinned. THIS MACHINE HAS 2 CORES: the 3-node figure
cannot scale beyond 2 cores, and nats-server and the client compete for them too. Figures from
a machine shared with builds are not final: run it on a quiet machine.

Uses SPEARLET (default build/release/src/spearlet) and Debian's nats-server.
usage: tools/bench/cluster_bench.py [--jobs N] [--work ITERATIONS] [--samples N] [--no-pin]
"""
import argparse
import collections
import datetime
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "functional"))
os.environ.setdefault("SPEARLET", os.path.join(ROOT, "build", "release", "src", "spearlet"))

from nats_harness import (NODES, TERMINAL, Appliances, NatsServer, cluster_functions,  # noqa: E402
                          record_node, submit_async, unavailable, wait_cluster_state,
                          wait_terminal)

CORES = {"gw-a": 0, "gw-b": 1, "gw-c": 0}


def when(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def pin(app, enabled):
    if not enabled:
        return
    ncpu = os.cpu_count() or 1
    for node, s in app.items():
        core = CORES[node] % ncpu
        subprocess.run(["taskset", "-a", "-p", "-c", str(core), str(s.proc.pid)], check=True,
                       stdout=subprocess.DEVNULL)


def start(nodes, pinned):
    nats = NatsServer()
    try:
        fns = {n: cluster_functions(n, quick={"timeout_ms": 600000}) for n in nodes}
        app = Appliances([nats.url], nodes=nodes, functions=fns,
                         cluster={"ack_wait_ms": 10000}, limits={"global_concurrency": 4})
    except BaseException:
        nats.close()
        raise
    if not wait_cluster_state(app.nodes.values(), "connected", timeout=30):
        app.close()
        nats.close()
        sys.exit(f"appliances {nodes} did not connect to NATS")
    pin(app, pinned)
    return nats, app


def calibrate(s, target_ms):
    """The loop count of `cpu` that runs about target_ms on this machine (one local run)."""
    n = 200000
    for _ in range(6):
        eid = submit_async(s, "cpu", n).json()["execution_id"]
        ms = max(1, wait_terminal(s, eid, timeout=120)["result"]["execution_time_ms"])
        if ms > target_ms / 3:
            return max(1000, int(n * target_ms / ms))
        n *= 4
    return n


def throughput(nodes, jobs, work, pinned):
    nats, app = start(nodes, pinned)
    try:
        a = app["gw-a"]
        conn = a.connection()
        ids = []
        t_first = time.time()
        for _ in range(jobs):
            r = a.post("/functions/cpu/invoke?mode=async", body=str(work).encode(), conn=conn)
            if r.status != 202:
                sys.exit(f"submission refused: {r}")
            ids.append(r.json()["execution_id"])
        conn.close()
        bodies = []
        for eid in ids:  # one poller at a time: the client stays light
            bodies.append(wait_terminal(a, eid, timeout=600, interval=0.1))
        bad = [b for b in bodies if b["status"] != "completed"]
        if bad:
            sys.exit(f"{len(bad)} did not complete: {bad[:2]}")
        # From the first submission (a shared record's queued_at may be its pull time).
        first = t_first
        last = max(when(b["result"]["completed_at"]) for b in bodies)
        per_node = collections.Counter(record_node(b) for b in bodies)
        run_ms = statistics.median(b["result"]["execution_time_ms"] for b in bodies)
        return jobs / (last - first), last - first, per_node, run_ms
    finally:
        app.close()
        nats.close()


def shared_latency(samples, pinned):
    nats, app = start(("gw-a", "gw-b"), pinned)
    try:
        a = app["gw-a"]

        def one():
            # As a client sees it: from sending the request to the long-poll on gw-a answering
            # with the end (the same two requests on both paths).
            t0 = time.monotonic()
            eid = submit_async(a, "quick", 1).json()["execution_id"]
            body = {"status": "pending"}
            while body["status"] not in TERMINAL:
                body = a.get(f"/status/{eid}?wait_ms=30000", timeout=40).json()
            return (time.monotonic() - t0) * 1000, record_node(body)

        local = [one() for _ in range(samples)]
        blocker = submit_async(a, "quick", 590000).json()["execution_id"]
        t0 = time.monotonic()
        while a.get(f"/status/{blocker}").json()["status"] != "running":
            if time.monotonic() - t0 > 10:
                sys.exit("the blocker did not start")
            time.sleep(0.02)
        shared = [one() for _ in range(samples)]
        a.post(f"/executions/{blocker}/cancel")
        return local, shared
    finally:
        app.close()
        nats.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=24, help="cpu executions per run")
    ap.add_argument("--work", type=int, default=0, help="cpu loop count (0: calibrate to ~250 ms)")
    ap.add_argument("--samples", type=int, default=20, help="latency samples per path")
    ap.add_argument("--no-pin", action="store_true")
    args = ap.parse_args()
    reason = unavailable()
    if reason:
        sys.exit(reason)
    pinned = not args.no_pin
    print(f"cluster_bench: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; "
          f"spearlet {os.environ['SPEARLET']}")
    print("NOTE: this machine has 2 cores: scaling past 2 nodes is bounded by the hardware "
          "(gw-c shares core 0 with gw-a; nats-server and the client share both cores)."
          if (os.cpu_count() or 1) <= 2 else "")
    print(("pinned: gw-a core 0, gw-b core 1, gw-c core 0 (taskset -a); nats-server and client "
           "unpinned") if pinned else "unpinned")
    work = args.work
    if not work:
        nats, app = start(("gw-a",), pinned)
        try:
            work = calibrate(app["gw-a"], 250)
        finally:
            app.close()
            nats.close()
    print(f"\n1. async throughput: {args.jobs} x cpu({work}) submitted to gw-a")
    base = None
    for n in (1, 2, 3):
        rate, span, per_node, run_ms = throughput(NODES[:n], args.jobs, work, pinned)
        base = base or rate
        counts = ", ".join(f"{k}: {v}" for k, v in sorted(per_node.items()))
        print(f"  {n} node{'s' if n > 1 else ' '}: {rate:6.2f} executions/s ({span:5.2f} s, "
              f"x{rate / base:.2f} of 1 node; median run {run_ms:.0f} ms)  per node {{{counts}}}")
    print(f"\n2. accept-to-completion of `quick` (sleep 1 ms), median of {args.samples}: "
          "from the POST to gw-a until its GET /status?wait_ms= long-poll answers the end")
    local, shared = shared_latency(args.samples, pinned)
    lm = statistics.median(ms for ms, _ in local)
    sm = statistics.median(ms for ms, _ in shared)
    print(f"  local  (ran on {dict(collections.Counter(n for _, n in local))}): {lm:7.1f} ms "
          f"(p90 {sorted(ms for ms, _ in local)[int(0.9 * (len(local) - 1))]:.1f})")
    print(f"  shared (ran on {dict(collections.Counter(n for _, n in shared))}): {sm:7.1f} ms "
          f"(p90 {sorted(ms for ms, _ in shared)[int(0.9 * (len(shared) - 1))]:.1f})")
    print(f"  added by the shared path: {sm - lm:.1f} ms")
    if os.getloadavg()[0] > 0.5:
        print(f"\n(load average {os.getloadavg()[0]:.1f}: the machine was busy; these figures are "
              "not final)")


if __name__ == "__main__":
    main()
