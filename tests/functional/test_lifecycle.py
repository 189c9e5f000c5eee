"""Cancel, timeout, spawn errors, back-pressure, eviction and pagination (issue 3)."""
import time
import unittest

from spear_harness import Spearlet, base_config, pid_alive, sh, wait_until

# Prints its pid and its background child's pid, then waits: cancel must end both.
TREE = "sleep 30 & echo $$ $!; wait"


class CancelTimeoutTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s = Spearlet(base_config([
            sh(TREE, "tree", max_concurrency=1, queue_depth=4),
            sh("trap '' TERM; echo $$; while :; do sleep 0.05; done", "stubborn",
               timeout_ms=400),
            sh(TREE, "tree_timeout", timeout_ms=300),
            {"name": "ghost", "command": ["/nonexistent/binary-xyz"]},
            {"name": "notexec", "command": ["/etc/hostname"]},
        ], limits={"kill_grace_ms": 300}))

    @classmethod
    def tearDownClass(cls):
        cls.s.close()

    def running_pids(self, eid):
        def have_output():
            out = self.s.get(f"/status/{eid}").json()["result"]["output"].get("data", "")
            return len(out.split()) >= 1 and out.endswith("\n")
        self.assertTrue(wait_until(have_output, 10))
        out = self.s.get(f"/status/{eid}").json()["result"]["output"]["data"]
        return [int(p) for p in out.split()]

    def test_cancel_running_kills_whole_group(self):
        eid = self.s.execute("tree", "", mode="async").json()["execution_id"]
        pids = self.running_pids(eid)
        self.assertEqual(len(pids), 2)
        self.assertTrue(all(pid_alive(p) for p in pids))
        r = self.s.post(f"/executions/{eid}/cancel")
        self.assertEqual(r.status, 200, r)
        body = r.json()
        self.assertTrue(body["success"])
        self.assertEqual(body["final_status"], "cancelled")
        self.assertTrue(wait_until(lambda: not any(pid_alive(p) for p in pids), 5), pids)
        st = self.s.get(f"/status/{eid}").json()
        self.assertEqual(st["status"], "cancelled")
        # Cancelling again: 409 with the final status.
        again = self.s.request("DELETE", f"/executions/{eid}")
        self.assertEqual(again.status, 409)
        self.assertEqual(again.json()["final_status"], "cancelled")
        self.assertEqual(again.json()["error"]["code"], "conflict")

    def test_cancel_pending_removes_from_queue(self):
        first = self.s.execute("tree", "", mode="async").json()["execution_id"]
        second = self.s.execute("tree", "", mode="async").json()
        sid = second["execution_id"]
        st = self.s.get(f"/status/{sid}").json()
        self.assertEqual(st["status"], "pending")
        self.assertEqual(st["queue_position"], 0)
        self.assertGreater(st["estimated_completion_ms"], 0)
        r = self.s.request("DELETE", f"/executions/{sid}")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["final_status"], "cancelled")
        st = self.s.get(f"/status/{sid}").json()
        self.assertEqual(st["status"], "cancelled")
        self.assertNotIn("started_at", st["result"])
        self.s.post(f"/executions/{first}/cancel")
        self.s.wait_status(first)

    def test_timeout_kills_group_and_reports_504(self):
        t0 = time.monotonic()
        r = self.s.execute("tree_timeout", "")
        self.assertEqual(r.status, 504, r)
        res = r.json()["result"]
        self.assertEqual(res["status"], "timeout")
        self.assertEqual(res["error_code"], "timeout")
        self.assertLess(time.monotonic() - t0, 5)
        pids = [int(p) for p in res["output"]["data"].split()]
        self.assertTrue(wait_until(lambda: not any(pid_alive(p) for p in pids), 5))

    def test_sigterm_ignoring_child_is_killed_after_grace(self):
        t0 = time.monotonic()
        r = self.s.execute("stubborn", "")
        self.assertEqual(r.status, 504, r)
        self.assertLess(time.monotonic() - t0, 4)
        pid = int(r.json()["result"]["output"]["data"].split()[0])
        self.assertTrue(wait_until(lambda: not pid_alive(pid), 5))

    def test_request_timeout_shorter_than_function(self):
        r = self.s.execute("tree", "", context={"timeout_ms": 200})
        self.assertEqual(r.status, 504, r)

    def test_missing_and_non_executable_command_fail_cleanly(self):
        for name in ("ghost", "notexec"):
            r = self.s.execute(name, "x")
            self.assertEqual(r.status, 500, r)
            res = r.json()["result"]
            self.assertEqual(res["status"], "failed")
            self.assertEqual(res["error_code"], "function_failed")
            self.assertIn("not found or is not executable", res["error_message"])
        self.assertEqual(self.s.get("/health").status, 200)


class BackPressureTest(unittest.TestCase):
    def test_queue_full_answers_429_with_retry_after(self):
        with Spearlet(base_config([sh("sleep 1", "one", max_concurrency=1, queue_depth=2,
                                     expected_ms=1000)])) as s:
            ids = [s.execute("one", "", mode="async") for _ in range(3)]
            self.assertEqual([r.status for r in ids], [202, 202, 202])
            r = s.execute("one", "", mode="async")
            self.assertEqual(r.status, 429, r)
            self.assertEqual(r.json()["error"]["code"], "too_many_requests")
            # Retry-After comes from the queue projection: a place in the queue frees when
            # the first queued execution starts, ~1 s from now (the running one's end).
            self.assertIn(int(r.header("Retry-After")), (1, 2))
            # Estimates grow with the queue position.
            ests = [x.json()["estimated_completion_ms"] for x in ids]
            self.assertLess(ests[0], ests[1])
            self.assertLess(ests[1], ests[2])
            for x in ids:
                s.post(f"/executions/{x.json()['execution_id']}/cancel")

    def test_table_full_503_then_eviction_410(self):
        cfg = base_config([sh("sleep 2", "half", max_concurrency=2, queue_depth=8),
                           {"name": "echo", "command": ["cat"]}],
                          status_table={"slots": 2})
        with Spearlet(cfg) as s:
            a = s.execute("half", "", mode="async").json()["execution_id"]
            b = s.execute("half", "", mode="async").json()["execution_id"]
            r = s.execute("echo", "x", mode="async")
            self.assertEqual(r.status, 503, r)
            self.assertEqual(r.json()["error"]["code"], "status_table_full")
            self.assertGreaterEqual(int(r.header("Retry-After")), 1)
            s.wait_status(a)
            s.wait_status(b)
            # Now terminal slots are reused: the oldest terminal record is evicted -> 410.
            c = s.execute("echo", "x")
            self.assertEqual(c.status, 200)
            d = s.execute("echo", "y")
            self.assertEqual(d.status, 200)
            gone = [s.get(f"/status/{x}").status for x in (a, b)]
            self.assertEqual(sorted(gone), [410, 410])
            self.assertEqual(s.get(f"/status/{a}").json()["error"]["code"], "execution_evicted")
            self.assertEqual(s.get(f"/status/{c.json()['execution_id']}").status, 200)

    def test_ttl_expiry_answers_410(self):
        cfg = base_config([{"name": "echo", "command": ["cat"]}], status_table={"ttl_s": 1})
        with Spearlet(cfg) as s:
            eid = s.execute("echo", "x").json()["execution_id"]
            self.assertEqual(s.get(f"/status/{eid}").status, 200)
            self.assertTrue(wait_until(lambda: s.get(f"/status/{eid}").status == 410, 5))


class ListTest(unittest.TestCase):
    def test_pagination_with_filters_and_wraparound(self):
        cfg = base_config([{"name": "echo", "command": ["cat"]},
                           sh("exit 1", "bad")], status_table={"slots": 16})
        with Spearlet(cfg) as s:
            for i in range(10):
                s.execute("echo", str(i))
            for i in range(3):
                s.execute("bad", "")
            seen = []
            cursor = None
            while True:
                q = "/executions?function=echo&limit=3"
                if cursor:
                    q += f"&start_after={cursor}"
                page = s.get(q).json()
                seen += [e["execution_id"] for e in page["executions"]]
                # Meanwhile the ring wraps: new records must not disturb later pages.
                for i in range(4):
                    s.execute("bad", "")
                if not page["has_more"]:
                    self.assertIsNone(page["next_start_after"])
                    break
                cursor = page["next_start_after"]
            self.assertEqual(len(seen), len(set(seen)))
            self.assertEqual(seen, sorted(seen, key=lambda x: int(x[8:18], 16), reverse=True))
            self.assertGreaterEqual(len(seen), 3)
            failed = s.get("/executions?status=failed&limit=1000").json()["executions"]
            self.assertTrue(failed)
            self.assertTrue(all(e["status"] == "failed" and e["function_name"] == "bad"
                                for e in failed))


class AuthAndShutdownTest(unittest.TestCase):
    def test_bearer_token_required(self):
        cfg = base_config([{"name": "echo", "command": ["cat"]}],
                          http={"auth_token": "s3cret-token"})
        with Spearlet(cfg) as s:
            r = s.execute("echo", "x")
            self.assertEqual(r.status, 401)
            self.assertEqual(r.json()["error"]["code"], "unauthorized")
            self.assertIn("Bearer", r.header("WWW-Authenticate"))
            r = s.execute("echo", "x", headers={"Authorization": "Bearer wrong"})
            self.assertEqual(r.status, 401)
            r = s.execute("echo", "x", headers={"Authorization": "Bearer s3cret-token"})
            self.assertEqual(r.status, 200)
            self.assertEqual(s.get("/health").status, 200)  # liveness stays open

    def test_non_loopback_without_token_refuses_to_start(self):
        import json, subprocess, tempfile, os
        from spear_harness import SPEARLET
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "c.json")
            with open(path, "w") as f:
                json.dump({"http": {"address": "0.0.0.0", "port": 0}}, f)
            p = subprocess.run([SPEARLET, "--config", path, "--check-config"],
                               capture_output=True, text=True, timeout=20)
            self.assertEqual(p.returncode, 1)
            self.assertIn("http.address", p.stderr)

    def test_sigterm_drains_sync_then_cancels_rest(self):
        cfg = base_config([sh("sleep 0.6; echo done", "short"),
                           sh(TREE, "long")], http={"shutdown_grace_ms": 2000})
        s = Spearlet(cfg)
        try:
            import threading
            results = {}

            def call(name):
                results[name] = s.execute(name, "", timeout=20)

            long_async = s.execute("long", "", mode="async").json()["execution_id"]
            t_short = threading.Thread(target=call, args=("short",))
            t_long = threading.Thread(target=call, args=("long",))
            t_short.start()
            t_long.start()
            time.sleep(0.3)
            out = s.get(f"/status/{long_async}").json()["result"]["output"].get("data", "")
            pids = [int(p) for p in out.split()]
            t0 = time.monotonic()
            code = s.stop()
            elapsed = time.monotonic() - t0
            t_short.join(10)
            t_long.join(10)
            self.assertEqual(code, 0, s.log())
            self.assertEqual(results["short"].status, 200, results["short"])
            self.assertEqual(results["short"].json()["result"]["output"]["data"], "done\n")
            self.assertEqual(results["long"].json()["result"]["status"], "cancelled")
            self.assertLess(elapsed, 8)
            self.assertTrue(wait_until(lambda: not any(pid_alive(p) for p in pids), 5))
            self.assertIn("stopped cleanly", s.log())
        finally:
            s.close()


if __name__ == "__main__":
    unittest.main()
