"""Sync and async invocation over HTTP against the real binary (issue 3)."""
import base64
import time
import unittest

from spear_harness import Spearlet, base_config, sh

FUNCTIONS = [
    {"name": "echo", "command": ["cat"], "content_type": "text/plain"},
    {"name": "upper", "command": ["tr", "[:lower:]", "[:upper:]"]},
    sh("sleep 0.2; cat", "nap200", expected_ms=1000, max_concurrency=4),
    sh("read ms; sleep $(($ms / 1000)).$(printf %03d $(($ms % 1000)))", "sleepy",
       max_concurrency=2),
    sh("echo failing >&2; exit 3", "fail"),
    sh("printf 'partial'; kill -KILL $$", "selfkill"),
    sh("echo $HELLO-$SECRET", "envy", env={"HELLO": "hi"}, allow_request_env=["SECRET"]),
]


class InvokeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s = Spearlet(base_config(FUNCTIONS))

    @classmethod
    def tearDownClass(cls):
        cls.s.close()

    def test_sync_echo_text(self):
        r = self.s.execute("echo", "hello gateway")
        self.assertEqual(r.status, 200, r)
        body = r.json()
        self.assertTrue(body["success"])
        self.assertEqual(body["status_endpoint"], "")
        self.assertEqual(body["estimated_completion_ms"], 0)
        res = body["result"]
        self.assertEqual(res["status"], "completed")
        self.assertEqual(res["output"], {"content_type": "text/plain", "data": "hello gateway"})
        self.assertEqual(res["exit_code"], 0)
        self.assertFalse(res["output_truncated"])
        for key in ("queued_at", "started_at", "completed_at", "execution_time_ms", "queue_ms"):
            self.assertIn(key, res)
        self.assertEqual(r.header("X-Execution-Id"), body["execution_id"])
        self.assertEqual(len(body["execution_id"]), 24)

    def test_sync_echo_binary_base64_round_trip(self):
        data = bytes(range(256)) * 4
        r = self.s.execute("echo", data_base64=base64.b64encode(data).decode())
        self.assertEqual(r.status, 200, r)
        out = r.json()["result"]["output"]
        self.assertIn("data_base64", out)
        self.assertEqual(base64.b64decode(out["data_base64"]), data)

    def test_raw_invoke_binary_body_and_headers(self):
        data = bytes(range(256)) * 3
        r = self.s.post("/functions/echo/invoke", body=data,
                        headers={"Content-Type": "application/octet-stream"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, data)
        self.assertEqual(r.header("X-Execution-Status"), "completed")
        self.assertIsNotNone(r.header("X-Execution-Id"))
        self.assertIsNotNone(r.header("X-Execution-Time-Ms"))
        self.assertEqual(r.header("Content-Type"), "text/plain")

    def test_raw_invoke_transforms(self):
        r = self.s.post("/functions/upper/invoke", body=b"shout")
        self.assertEqual((r.status, r.body), (200, b"SHOUT"))

    def test_raw_invoke_async_by_query_and_prefer_header(self):
        for path, headers in (("/functions/echo/invoke?mode=async", {}),
                              ("/functions/echo/invoke", {"Prefer": "respond-async"})):
            r = self.s.post(path, body=b"later", headers=headers)
            self.assertEqual(r.status, 202, r)
            body = r.json()
            done = self.s.wait_status(body["execution_id"])
            self.assertEqual(done["result"]["output"]["data"], "later")

    def test_prefer_wait_promotes_a_slow_sync_call_only_when_asked(self):
        prefer = {"Prefer": "respond-async, wait=1"}
        # Finishes within the wait: an ordinary sync answer.
        r = self.s.post("/functions/sleepy/invoke", body=b"100", headers=prefer)
        self.assertEqual(r.status, 200, r)
        # Still running after 1 s: promoted to async, and it says so.
        t0 = time.monotonic()
        r = self.s.post("/functions/sleepy/invoke", body=b"2500", headers=prefer)
        elapsed = time.monotonic() - t0
        self.assertEqual(r.status, 202, r)
        self.assertGreater(elapsed, 0.9)
        self.assertLess(elapsed, 2.2)
        self.assertEqual(r.header("Preference-Applied"), "respond-async")
        body = r.json()
        self.assertEqual(body["metadata"]["promoted"], "true")
        self.assertEqual(body["result"]["status"], "running")
        self.assertEqual(r.header("Location"), f"/status/{body['execution_id']}")
        self.assertEqual(self.s.wait_status(body["execution_id"])["status"], "completed")
        # The JSON endpoint honours the same header.
        r = self.s.execute("sleepy", "2000", headers=prefer)
        self.assertEqual(r.status, 202, r)
        self.s.wait_status(r.json()["execution_id"])

    def test_async_returns_202_then_status_resolves(self):
        r = self.s.execute("nap200", "zzz", mode="async")
        self.assertEqual(r.status, 202, r)
        body = r.json()
        eid = body["execution_id"]
        self.assertTrue(body["success"])
        self.assertTrue(body["is_async"])
        self.assertEqual(body["status_endpoint"], f"/status/{eid}")
        self.assertEqual(r.header("Location"), f"/status/{eid}")
        self.assertGreaterEqual(int(r.header("Retry-After")), 1)
        self.assertGreater(body["estimated_completion_ms"], 0)
        self.assertIn(body["estimate_source"], ("history", "default"))
        self.assertIn(body["result"]["status"], ("pending", "running"))
        self.assertNotIn("completed_at", body["result"])
        # The status endpoint resolves at once, and to the final record later.
        first = self.s.get(body["status_endpoint"])
        self.assertEqual(first.status, 200, first)
        self.assertTrue(first.json()["found"])
        done = self.s.wait_status(eid)
        self.assertEqual(done["status"], "completed")
        self.assertEqual(done["result"]["output"]["data"], "zzz")
        alias = self.s.get(f"/executions/{eid}")
        self.assertEqual(alias.json()["result"]["execution_id"], eid)

    def test_estimate_tracks_history(self):
        # A ~200 ms function: after several runs, the estimate is within 30 % of its duration.
        durations = []
        for _ in range(6):
            r = self.s.execute("nap200", "x")
            self.assertEqual(r.status, 200, r)
            durations.append(r.json()["result"]["execution_time_ms"])
        typical = sorted(durations)[len(durations) // 2]
        r = self.s.execute("nap200", "x", mode="async")
        body = r.json()
        self.assertEqual(body["estimate_source"], "history")
        est = body["estimated_completion_ms"]
        self.assertLess(abs(est - typical), 0.3 * typical, (est, durations))
        self.assertLess(abs(est - 200), 0.3 * 200 + 60, (est, durations))
        self.s.wait_status(body["execution_id"])
        funcs = {f["name"]: f for f in self.s.get("/functions").json()["functions"]}
        self.assertGreaterEqual(funcs["nap200"]["history"]["runs"], 6)
        self.assertEqual(funcs["nap200"]["history"]["estimate_source"], "history")

    def test_status_while_running_has_fresh_estimate(self):
        r = self.s.execute("sleepy", "800", mode="async")
        eid = r.json()["execution_id"]
        self.s.wait_status(eid, statuses=("running",))
        s1 = self.s.get(f"/status/{eid}").json()
        self.assertEqual(s1["status"], "running")
        self.assertGreaterEqual(s1["estimated_completion_ms"], 0)
        self.assertIn("started_at", s1["result"])
        self.s.wait_status(eid)

    def test_long_poll_returns_when_done(self):
        r = self.s.execute("sleepy", "300", mode="async")
        eid = r.json()["execution_id"]
        t0 = time.monotonic()
        s = self.s.get(f"/status/{eid}?wait_ms=5000")
        elapsed = time.monotonic() - t0
        self.assertEqual(s.status, 200)
        self.assertEqual(s.json()["status"], "completed")
        self.assertLess(elapsed, 3.0)

    def test_long_poll_times_out_with_live_record(self):
        r = self.s.execute("sleepy", "1500", mode="async")
        eid = r.json()["execution_id"]
        t0 = time.monotonic()
        s = self.s.get(f"/status/{eid}?wait_ms=200")
        elapsed = time.monotonic() - t0
        self.assertIn(s.json()["status"], ("pending", "running"))
        self.assertGreaterEqual(elapsed, 0.15)
        self.assertLess(elapsed, 1.2)
        self.s.wait_status(eid)

    def test_include_result_false_omits_output(self):
        r = self.s.execute("echo", "secret-ish")
        eid = r.json()["execution_id"]
        s = self.s.get(f"/status/{eid}?include_result=false").json()
        self.assertNotIn("output", s["result"])
        self.assertEqual(s["result"]["output_size"], len("secret-ish"))

    def test_failing_function_reports_code_and_stderr(self):
        r = self.s.execute("fail", "")
        self.assertEqual(r.status, 500, r)
        body = r.json()
        self.assertFalse(body["success"])
        res = body["result"]
        self.assertEqual(res["status"], "failed")
        self.assertEqual(res["error_code"], "function_failed")
        self.assertEqual(res["exit_code"], 3)
        self.assertIn("failing", res["stderr_tail"])
        st = self.s.get(f"/status/{body['execution_id']}").json()
        self.assertIn("failing", st["logs"])

    def test_death_by_signal(self):
        r = self.s.execute("selfkill", "")
        self.assertEqual(r.status, 500, r)
        res = r.json()["result"]
        self.assertEqual(res["signal"], 9)
        self.assertEqual(res["signal_name"], "SIGKILL")
        self.assertEqual(res["output"]["data"], "partial")

    def test_raw_invoke_failure_is_json_error(self):
        r = self.s.post("/functions/fail/invoke", body=b"")
        self.assertEqual(r.status, 500)
        self.assertEqual(r.json()["error"]["code"], "function_failed")
        self.assertEqual(r.header("X-Execution-Status"), "failed")

    def test_request_environment_only_where_allowed(self):
        r = self.s.execute("envy", "", context={"environment": {"SECRET": "s3"}})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["result"]["output"]["data"].strip(), "hi-s3")
        r = self.s.execute("envy", "", context={"environment": {"PATH": "/tmp"}})
        self.assertEqual(r.status, 400)
        self.assertEqual(r.json()["error"]["code"], "invalid_request")
        self.assertIn("context.environment.PATH", r.json()["error"]["message"])

    def test_idempotent_client_execution_id(self):
        ctx = {"execution_id": "dev-42-reading-7"}
        r1 = self.s.execute("nap200", "once", mode="async", context=ctx)
        self.assertEqual(r1.status, 202)
        r2 = self.s.execute("nap200", "once", mode="async", context=ctx)
        self.assertEqual(r2.status, 202)
        self.assertEqual(r1.json()["execution_id"], r2.json()["execution_id"])
        self.assertEqual(r2.json()["metadata"]["replayed"], "true")
        self.s.wait_status(r1.json()["execution_id"])
        r3 = self.s.execute("nap200", "once", context=ctx)  # sync retry: same record
        self.assertEqual(r3.json()["execution_id"], r1.json()["execution_id"])
        self.assertEqual(r3.json()["result"]["output"]["data"], "once")
        # The client id also resolves on the status endpoint.
        self.assertEqual(self.s.get("/status/dev-42-reading-7").json()["execution_id"],
                         r1.json()["execution_id"])

    def test_list_functions_and_health(self):
        funcs = self.s.get("/functions").json()["functions"]
        names = [f["name"] for f in funcs]
        self.assertIn("echo", names)
        echo = funcs[names.index("echo")]
        self.assertEqual(echo["runtime"], "process")
        self.assertIn("current_estimate_ms", echo)
        h = self.s.get("/health")
        self.assertEqual(h.status, 200)
        body = h.json()
        self.assertEqual(body["status"], "ok")
        self.assertTrue(body["ready"])
        for key in ("running", "pending", "uptime_ms", "status_table"):
            self.assertIn(key, body)


if __name__ == "__main__":
    unittest.main()
