#!/usr/bin/python3
"""Benchmark (not a test): accuracy of estimated_completion_ms on mixed workloads.

Starts the real spearlet (SPEARLET, default build/release/src/spearlet) with 2, 4 and 8 process
functions that sleep fixed, different times, under a binding global limit, and for each
workload submits async executions (a burst, then steady arrivals at ~90 % of capacity) and
prints the mean and p90 absolute error of each 202's estimated_completion_ms against the time
the execution really took from acceptance to end (queue_ms + execution_time_ms).

usage: tools/bench/scheduler_bench.py [--submissions N] [--global-limit G]
"""
import argparse
import os
import random
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "functional"))
os.environ.setdefault("SPEARLET", os.path.join(ROOT, "build", "release", "src", "spearlet"))

from spear_harness import Spearlet, base_config, sh  # noqa: E402

DURATIONS_MS = [300, 200, 450, 150, 350, 250, 500, 100]


def percentile(sorted_values, q):
    return sorted_values[min(len(sorted_values) - 1, int(q * (len(sorted_values) - 1) + 0.5))]


def run(functions, submissions, global_limit, steady):
    durations = DURATIONS_MS[:functions]
    cfg = base_config([sh(f"sleep {d / 1000}", f"f{d}", max_concurrency=global_limit,
                          queue_depth=256, expected_ms=d) for d in durations],
                      limits={"global_concurrency": global_limit})
    rng = random.Random(17)
    with Spearlet(cfg) as s:
        for d in durations:  # warm-up: the history learns the real durations
            for _ in range(2):
                s.execute(f"f{d}", "", mode="sync")
        mean_ms = sum(durations) / len(durations)
        gap = mean_ms / global_limit / 0.9 / 1000  # arrivals at ~90 % of capacity
        conn = s.connection()
        accepted = []
        for i in range(submissions):
            d = durations[i % len(durations)] if not steady else rng.choice(durations)
            r = s.execute(f"f{d}", "", mode="async", conn=conn)
            if r.status != 202:
                raise SystemExit(f"submission refused: {r}")
            accepted.append((r.json()["execution_id"], r.json()["estimated_completion_ms"]))
            if steady:
                time.sleep(rng.expovariate(1 / gap))
        conn.close()
        errors = []
        for eid, estimate in accepted:
            body = s.wait_status(eid, timeout=120)
            actual = body["result"]["queue_ms"] + body["result"]["execution_time_ms"]
            errors.append(abs(estimate - actual) / max(actual, 1))
    errors.sort()
    return sum(errors) / len(errors), percentile(errors, 0.9)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--submissions", type=int, default=48)
    p.add_argument("--global-limit", type=int, default=3)
    args = p.parse_args()
    print(f"spearlet: {os.environ['SPEARLET']}; global limit {args.global_limit}, "
          f"{args.submissions} submissions per workload")
    print(f"{'functions':>9} {'arrivals':>8} {'mean err':>9} {'p90 err':>8}")
    for functions in (2, 4, 8):
        for steady in (False, True):
            mean, p90 = run(functions, args.submissions, args.global_limit, steady)
            print(f"{functions:>9} {'steady' if steady else 'burst':>8} {mean:>9.1%} {p90:>8.1%}")


if __name__ == "__main__":
    main()
