"""Idempotency keys (context.execution_id) as clients use them: scoped to a function, bound to
the request, one check for every submission path; and sync calls answered at their end."""
import json
import time
import unittest

from spear_harness import Spearlet, base_config, sh


class IdempotencyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s = Spearlet(base_config([sh("cat", "echo"), sh("tr a-z A-Z", "upper")],
                                     status_table={"slots": 4}))

    @classmethod
    def tearDownClass(cls):
        cls.s.close()

    def test_same_key_other_input_is_a_conflict_not_someone_elses_output(self):
        ctx = {"execution_id": "meter-9-reading-1"}
        first = self.s.execute("echo", "secret of client A", context=ctx)
        self.assertEqual(first.status, 200)
        other = self.s.execute("echo", "client B", context=ctx)
        self.assertEqual(other.status, 409, other)
        body = other.json()
        self.assertEqual(body["error"]["code"], "conflict")
        self.assertIn("meter-9-reading-1", body["error"]["message"])
        self.assertNotIn("secret", other.body.decode())
        again = self.s.execute("echo", "secret of client A", context=ctx)
        self.assertEqual(again.status, 200)
        self.assertEqual(again.json()["execution_id"], first.json()["execution_id"])
        self.assertEqual(again.json()["metadata"]["replayed"], "true")

    def test_same_key_for_another_function_runs_its_own_execution(self):
        ctx = {"execution_id": "shared-key"}
        a = self.s.execute("echo", "abc", context=ctx).json()
        b = self.s.execute("upper", "abc", context=ctx).json()
        self.assertNotEqual(a["execution_id"], b["execution_id"])
        self.assertEqual(b["result"]["output"]["data"], "ABC")
        # The key alone is ambiguous now: the status endpoint says so instead of guessing.
        r = self.s.get("/status/shared-key")
        self.assertEqual(r.status, 409, r)
        self.assertEqual(r.json()["error"]["code"], "conflict")
        self.assertEqual(self.s.get(f"/status/{a['execution_id']}").status, 200)

    def test_evicted_key_answers_410_like_an_evicted_id(self):
        ctx = {"execution_id": "soon-evicted"}
        first = self.s.execute("echo", "x", context=ctx)
        self.assertEqual(first.status, 200)
        for i in range(5):  # 4 slots: these push the keyed record out
            self.assertEqual(self.s.execute("echo", str(i)).status, 200)
        r = self.s.get("/status/soon-evicted")
        self.assertEqual(r.status, 410, r)
        again = self.s.execute("echo", "x", context=ctx)
        self.assertEqual(again.status, 410, again)
        self.assertEqual(again.json()["error"]["code"], "execution_evicted")


class SyncBoundTest(unittest.TestCase):
    def test_sync_call_with_a_longer_request_timeout_is_answered_at_its_end(self):
        # The function's own timeout is short; the request asks for more. The wait bound used
        # to follow the function's timeout and answered 202 with no Prefer header.
        cfg = base_config([sh("sleep 1.2; echo done", "slowish", timeout_ms=300, queue_depth=0)],
                          limits={"kill_grace_ms": 100})
        with Spearlet(cfg) as s:
            t0 = time.monotonic()
            r = s.execute("slowish", "", context={"timeout_ms": 3000})
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json()["result"]["status"], "completed")
            self.assertEqual(r.json()["result"]["output"]["data"], "done\n")
            self.assertGreater(time.monotonic() - t0, 1.1)


if __name__ == "__main__":
    unittest.main()
