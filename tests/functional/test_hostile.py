"""Hostile functions (issue 12): processes that leave their group (setsid), daemonise in a
chain, ignore SIGTERM, close stdout but keep running, flood stderr or fork hundreds of
children. After each execution no process of it survives (checked in /proc by a marker in
its command line), the appliance stays responsive, and a neighbour execution is unaffected.
Escapes are caught because the appliance is its functions' child subreaper: orphaned
descendants become its children and the process runtime's sweep ends them."""
import threading
import time
import unittest

from spear_harness import Spearlet, base_config, marked, sh, wait_until


# Each marker is a sleep duration no other process on the machine uses.
FUNCTIONS = [
    sh("setsid sleep 301.25 </dev/null >/dev/null 2>&1 & echo started", "escape"),
    # The escapee keeps the stdout pipe open: without the sweep the run waits for the drain.
    sh("setsid sleep 302.25 & echo started", "escape_holding_stdout"),
    # A daemonising chain: the escaped shell's own child comes back one level later.
    sh("(setsid sh -c 'sleep 303.25 & sleep 303.5' </dev/null >/dev/null 2>&1 &); echo ok",
       "daemon_chain"),
    sh("trap '' TERM; echo ready; sleep 304.25", "ignores_term", timeout_ms=300),
    sh("exec >&-; sleep 305.25", "closes_stdout", timeout_ms=300),
    sh("head -c 20000000 /dev/zero >&2; echo flooded", "stderr_flood"),
    sh("i=0; while [ $i -lt 200 ]; do sleep 306.25 & i=$((i+1)); done; echo forked; wait",
       "many_children", timeout_ms=1500),
    {"name": "echo", "command": ["cat"]},
]


class HostileFunctionsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s = Spearlet(base_config(FUNCTIONS, limits={"kill_grace_ms": 200},
                                     status_table={"stderr_tail_bytes": 4096}))

    @classmethod
    def tearDownClass(cls):
        cls.s.close()

    def assert_none_left(self, *markers, within=3.0):
        for marker in markers:
            ok = wait_until(lambda: not marked(marker), timeout=within)
            self.assertTrue(ok, f"processes with '{marker}' outlived their execution: "
                                f"{marked(marker)}")

    def assert_responsive(self):
        t0 = time.monotonic()
        self.assertEqual(self.s.get("/health").status, 200)
        self.assertEqual(self.s.execute("echo", "still here").json()["result"]["output"]["data"],
                         "still here")
        self.assertLess(time.monotonic() - t0, 2.0)

    def test_setsid_escape_is_killed(self):
        r = self.s.execute("escape")
        self.assertEqual(r.status, 200, r)
        self.assert_none_left("301.25")
        self.assert_responsive()

    def test_escapee_holding_stdout_does_not_hold_the_run(self):
        t0 = time.monotonic()
        r = self.s.execute("escape_holding_stdout")
        elapsed = time.monotonic() - t0
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["result"]["output"]["data"], "started\n")
        self.assertLess(elapsed, 1.5)  # the sweep ends it: no wait for the drain bound
        self.assert_none_left("302.25")

    def test_daemonising_chain_is_killed_level_by_level(self):
        self.assertEqual(self.s.execute("daemon_chain").status, 200)
        self.assert_none_left("303.25", "303.5")
        self.assert_responsive()

    def test_sigterm_ignored_is_killed_after_the_grace(self):
        r = self.s.execute("ignores_term")
        self.assertEqual(r.json()["result"]["status"], "timeout", r)
        self.assert_none_left("304.25")

    def test_closed_stdout_still_times_out_and_dies(self):
        r = self.s.execute("closes_stdout")
        self.assertEqual(r.json()["result"]["status"], "timeout", r)
        self.assert_none_left("305.25")

    def test_stderr_flood_keeps_a_bounded_tail_and_the_appliance_responsive(self):
        r = self.s.execute("stderr_flood", mode="async")
        self.assertEqual(r.status, 202, r)
        worst = 0.0
        execution_id = r.json()["execution_id"]
        deadline = time.monotonic() + 20
        while self.s.get(f"/status/{execution_id}").json()["status"] in ("pending", "running"):
            t0 = time.monotonic()
            self.assertEqual(self.s.get("/health").status, 200)
            worst = max(worst, time.monotonic() - t0)
            self.assertLess(time.monotonic(), deadline)
        done = self.s.wait_status(execution_id)
        self.assertEqual(done["status"], "completed", done)
        self.assertLessEqual(len(done.get("logs", "")), 4096)
        self.assertLess(worst, 0.5, "health was slow while a function flooded stderr")

    def test_hundreds_of_children_are_all_killed(self):
        # RLIMIT_NPROC ("limits": {"processes": N}) does not bind root, so this bounds a
        # burst by the timeout instead: every child is in the group and dies with it.
        r = self.s.execute("many_children")
        self.assertEqual(r.json()["result"]["status"], "timeout", r)
        self.assert_none_left("306.25", within=5.0)

    def test_a_neighbour_is_unaffected_by_an_escape(self):
        results = {}

        def neighbour():
            results["r"] = self.s.execute("echo", "x" * 1000)

        t = threading.Thread(target=neighbour)
        t.start()
        self.s.execute("escape")
        t.join(10)
        self.assertEqual(results["r"].json()["result"]["output"]["data"], "x" * 1000)
        self.assert_none_left("301.25")


if __name__ == "__main__":
    unittest.main()
