"""SPEAR gateway routes: a client written for SPEAR's spearlet HTTP gateway works unchanged."""
import json
import unittest

from spear_harness import Spearlet, base_config, sh

FUNCTIONS = [
    {"name": "echo", "command": ["cat"]},
    sh("exit 3", "fail"),
    sh("sleep 30", "slow", timeout_ms=60000),
]


class SpearCompatTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s = Spearlet(base_config(FUNCTIONS))

    @classmethod
    def tearDownClass(cls):
        cls.s.close()

    def test_execution_status_alias(self):
        r = self.s.execute("echo", "hi", mode="async")
        self.assertEqual(r.status, 202, r)
        eid = r.json()["execution_id"]
        self.s.wait_status(eid)
        a = self.s.get(f"/functions/executions/{eid}")
        self.assertEqual(a.status, 200, a)
        self.assertEqual(a.header("X-Execution-Id"), eid)
        body = a.json()
        self.assertEqual(body["status"], "completed")
        self.assertEqual(body["result"]["output"]["data"], "hi")
        self.assertEqual(body, self.s.get(f"/status/{eid}").json())
        # long-poll and include_result work on the alias as on /status
        b = self.s.get(f"/functions/executions/{eid}?include_result=false&wait_ms=10").json()
        self.assertNotIn("output", b["result"])
        missing = self.s.get("/functions/executions/000000000000000000000000")
        self.assertEqual(missing.status, 404)
        self.assertEqual(missing.json()["error"]["code"], "execution_not_found")

    def test_cancel_alias(self):
        r = self.s.execute("slow", mode="async")
        eid = r.json()["execution_id"]
        self.s.wait_status(eid, statuses=("running",))
        c = self.s.post(f"/functions/executions/{eid}/cancel")
        self.assertEqual(c.status, 200, c)
        self.assertTrue(c.json()["success"])
        self.assertEqual(self.s.wait_status(eid)["status"], "cancelled")
        again = self.s.post(f"/functions/executions/{eid}/cancel")
        self.assertEqual(again.status, 409, again)

    def test_alias_methods(self):
        r = self.s.request("DELETE", "/functions/executions/000000000000000000000000")
        self.assertEqual(r.status, 405, r)
        self.assertEqual(r.header("Allow"), "GET")
        r = self.s.get("/functions/executions/000000000000000000000000/cancel")
        self.assertEqual(r.status, 405, r)
        self.assertEqual(r.header("Allow"), "POST")
        r = self.s.post("/monitoring/stats")
        self.assertEqual(r.status, 405, r)
        # the existing routes keep their Allow lists, now computed from the one table
        r = self.s.request("PUT", "/executions/000000000000000000000000")
        self.assertEqual(r.header("Allow"), "GET, DELETE")

    def test_monitoring_health_alias(self):
        a = self.s.get("/monitoring/health")
        self.assertEqual(a.status, 200, a)
        h = a.json()
        self.assertEqual(h["status"], "ok")
        self.assertEqual(set(h), set(self.s.get("/health").json()))

    def test_openapi_alias(self):
        a = self.s.get("/api/openapi.json")
        self.assertEqual(a.status, 200, a)
        self.assertEqual(a.header("Content-Type"), "application/json")
        doc = a.json()
        self.assertTrue(doc["openapi"].startswith("3.1"))
        self.assertEqual(a.body, self.s.get("/openapi.json").body)
        self.assertIn("/functions/executions/{execution_id}", doc["paths"])


class StatsTest(unittest.TestCase):
    """Its own appliance, so the totals are exactly what this test did."""

    def test_totals_move_with_real_executions(self):
        with Spearlet(base_config(FUNCTIONS)) as s:
            zero = s.get("/monitoring/stats")
            self.assertEqual(zero.status, 200, zero)
            z = zero.json()
            for k in ("total_executions", "successful_executions", "failed_executions",
                      "active_executions"):
                self.assertEqual(z[k], 0, (k, z))
            self.assertEqual(s.execute("echo", "a").status, 200)
            self.assertEqual(s.execute("echo", "b").status, 200)
            self.assertEqual(s.execute("fail").status, 500)
            slow = s.execute("slow", mode="async").json()["execution_id"]
            s.wait_status(slow, statuses=("running",))
            st = s.get("/monitoring/stats").json()
            self.assertEqual(st["total_executions"], 4, st)
            self.assertEqual(st["successful_executions"], 2, st)
            self.assertEqual(st["failed_executions"], 1, st)
            self.assertEqual(st["active_executions"], 1, st)
            self.assertEqual(st["running_executions"], 1, st)
            s.post(f"/executions/{slow}/cancel")
            st = s.get("/monitoring/stats").json()
            self.assertEqual(st["active_executions"], 0, st)
            self.assertEqual(st["cancelled_executions"], 1, st)

    def test_token_rule(self):
        cfg = base_config(FUNCTIONS, http={"auth_token": "sekrit"})
        with Spearlet(cfg) as s:
            self.assertEqual(s.get("/monitoring/health").status, 200)  # open, like /health
            for path in ("/monitoring/stats", "/api/openapi.json", "/openapi.json",
                         "/functions/executions/000000000000000000000000"):
                self.assertEqual(s.get(path).status, 401, path)
            auth = {"Authorization": "Bearer sekrit"}
            self.assertEqual(s.get("/monitoring/stats", headers=auth).status, 200)
            self.assertEqual(s.post("/functions/executions/000000000000000000000000/cancel",
                                    headers=auth).status, 404)


if __name__ == "__main__":
    unittest.main()
