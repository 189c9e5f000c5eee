"""Clusters (issue 16): three appliances gw-a, gw-b, gw-c share async work and answer for each
other's executions through one real nats-server with JetStream (started and stopped by PID).

Work spreads when a node is saturated; status (plain and long-poll), cancel and a viewer answer
on a node that does not own the execution; kill -9 of the node running a shared execution, with
and without retry_interrupted; the NATS server killed and restarted while requests flow; a node
only pulls the functions it serves; no cluster section means no NATS.
"""
import asyncio
import collections
import json
import os
import re
import time
import unittest

import websockets

from nats_harness import (NODES, SLEEP_SCRIPT, Appliances, Flow, NatsServer, cluster_functions,
                          cluster_health, health_states, record_node, sse_events, submit_async,
                          unavailable, wait_all_terminal, wait_cluster_state, wait_terminal)
from spear_harness import Spearlet, base_config, sh, wait_until

ACK_WAIT_MS = 3000


def output_of(body):
    return ((body.get("result") or {}).get("output") or {}).get("data", "")


def error_code_of(body):
    result = body.get("result") or {}
    return result.get("error_code") or (result.get("error") or {}).get("code") or body.get("error_code")


class ClusterCase(unittest.TestCase):
    """One nats-server and three appliances per class (a fresh JetStream each time)."""
    functions = None            # node id -> function list (default: cluster_functions(node))
    cluster = {"ack_wait_ms": ACK_WAIT_MS}

    @classmethod
    def setUpClass(cls):
        reason = unavailable()
        if reason:
            raise unittest.SkipTest(reason)
        cls.nats = NatsServer()
        try:
            cls.app = cls.start_appliances()
        except BaseException:
            cls.nats.close()
            raise

    @classmethod
    def start_appliances(cls):
        fns = cls.functions or {n: cluster_functions(n) for n in NODES}
        app = Appliances([cls.nats.url], functions=fns, cluster=cls.cluster)
        if not wait_cluster_state(app.nodes.values(), "connected", timeout=20):
            states = health_states(app.nodes.values())
            app.close()
            raise AssertionError(f"appliances not connected to NATS within 20 s: /health "
                                 f"cluster.state of {list(NODES)} = {states}")
        return app

    @classmethod
    def tearDownClass(cls):
        cls.app.close()
        cls.nats.close()

    def tearDown(self):
        if os.environ.get("SPEAR_TEST_LOGS"):
            self.app.dump_logs()

    def accept(self, node, function, data):
        r = submit_async(self.app[node], function, data)
        self.assertEqual(r.status, 202, f"async {function} on {node}: {r}")
        return r.json()["execution_id"]

    def wait_running(self, node, execution_id, timeout=15.0, where=None):
        """Until the record reads running on `node` (and, with `where`, runs on a node in it);
        returns the status body."""
        s = self.app[node]
        seen = {}

        def running():
            r = s.get(f"/status/{execution_id}", timeout=5)
            seen["last"] = r
            if r.status != 200:
                return False
            body = r.json()
            seen["body"] = body
            return body["status"] == "running" and (where is None or record_node(body) in where)

        self.assertTrue(wait_until(running, timeout=timeout, interval=0.05),
                        f"{execution_id} not running{' on ' + str(where) if where else ''} "
                        f"within {timeout:.0f} s (read on {node}): {seen.get('last')}")
        return seen["body"]


class SharedWorkAndAnyNodeTest(ClusterCase):
    """Three appliances with the same functions (plus sleep_share: "share": true)."""
    functions = {n: cluster_functions(n) + [
        sh(SLEEP_SCRIPT, "sleep_share", max_concurrency=1, queue_depth=20, timeout_ms=60000,
           share=True, env={"SPEAR_NODE": n})] for n in NODES}

    def test_cancel_of_work_still_in_the_shared_queue(self):
        # Every node's one `sleep` slot busy: the fourth waits in the work stream.
        blockers = [self.accept("gw-a", "sleep", 3000) for _ in range(3)]
        for eid in blockers:
            self.wait_running("gw-a", eid)
        ran_on = {record_node(self.app["gw-a"].get(f"/status/{e}").json()) for e in blockers}
        self.assertEqual(ran_on, set(NODES), "the blockers did not fill every node")
        queued = self.accept("gw-a", "sleep", 100)
        time.sleep(0.3)
        r = self.app["gw-c"].post(f"/executions/{queued}/cancel", timeout=15)
        self.assertEqual(r.status, 200, f"cancel on gw-c of work queued in the stream: {r}")
        for eid in blockers:
            wait_terminal(self.app["gw-a"], eid, timeout=15)
        time.sleep(1.0)  # the slots are free: a cancelled item must not run now
        for node, s in self.app.items():
            body = wait_terminal(s, queued, timeout=5)
            self.assertEqual(body["status"], "cancelled", f"{node}: {body}")
            self.assertNotIn("started_at", body["result"], f"{node}: it ran: {body}")
        with self.nats.client() as c:
            self.assertEqual(c.stream_info("SPEAR_WORK")["state"]["messages"], 0)

    def test_health_and_metrics_show_the_cluster(self):
        for node, s in self.app.items():
            health = s.get("/health").json()
            self.assertIn("cluster", health, f"{node}: /health has no cluster section: {health}")
            c = health["cluster"]
            self.assertEqual(c.get("node_id"), node, c)
            self.assertEqual(c.get("state"), "connected", c)
            for key in ("server", "shared_out", "shared_in", "remote_reads"):
                self.assertIn(key, c, f"{node}: /health cluster lacks {key}: {c}")
            metrics = s.get("/metrics").body.decode()
            self.assertRegex(metrics, r"(?m)^spear_cluster_connected(\{[^}]*\})? 1$",
                             f"{node}: /metrics lacks spear_cluster_connected 1")

    def test_work_spreads_when_a_node_is_saturated(self):
        # sleep has max_concurrency 1: gw-a can start one; the others wait unless shared.
        t0 = time.monotonic()
        accepted = [submit_async(self.app["gw-a"], "sleep", 1500) for _ in range(6)]
        self.assertEqual([r.status for r in accepted], [202] * 6, accepted)
        ids = [r.json()["execution_id"] for r in accepted]
        bodies = [wait_terminal(self.app["gw-a"], i, timeout=30) for i in ids]
        elapsed = time.monotonic() - t0
        per_node = collections.Counter(record_node(b) for b in bodies)
        print(f"\nwork spread: 6 x sleep 1500 ms submitted to gw-a ran on {dict(per_node)} "
              f"in {elapsed:.1f} s (9 s on gw-a alone)")
        for b in bodies:
            self.assertEqual(b["status"], "completed", b)
            node = record_node(b)
            self.assertIn(node, NODES, f"record without a valid node: {b}")
            # The function prints the node it really ran on: the record must say the same.
            self.assertEqual(output_of(b).strip(), f"slept 1500 on {node}", b)
        self.assertGreater(len(per_node), 1, f"every execution ran on one node: {dict(per_node)}")
        health = {n: cluster_health(s) for n, s in self.app.items()}
        self.assertGreater(health["gw-a"]["shared_out"], 0, health)
        self.assertGreater(health["gw-b"]["shared_in"] + health["gw-c"]["shared_in"], 0, health)
        metrics = self.app["gw-a"].get("/metrics").body.decode()
        m = re.search(r'(?m)^spear_cluster_shared_total\{direction="out"\} (\d+)', metrics)
        self.assertTrue(m and int(m.group(1)) > 0, "gw-a's /metrics lacks "
                        'spear_cluster_shared_total{direction="out"} > 0')
        # The work stream is a JetStream work queue, empty once everything was acknowledged.
        with self.nats.client() as c:
            info = c.stream_info("SPEAR_WORK")
        self.assertNotIn("error", info, info)
        self.assertEqual(info["config"]["retention"], "workqueue", info["config"])
        self.assertEqual(info["state"]["messages"], 0, info["state"])

    def visible_on(self, node, execution_id, timeout=5.0):
        """Until `node` answers 200 for the execution (another node's records reach it through
        the bucket); the other tests check their own feature, not this delay."""
        s = self.app[node]
        self.assertTrue(wait_until(lambda: s.get(f"/status/{execution_id}").status == 200,
                                   timeout=timeout, interval=0.01),
                        f"{node} does not know {execution_id} {timeout:.0f} s after its 202")

    def test_a_shared_record_keeps_its_acceptance_time(self):
        # The record says when it was accepted (the 202's queued_at) wherever it ran, and its
        # queue_ms counts the time it waited (here ~1 s in the shared queue for the fourth).
        accepted = [submit_async(self.app["gw-a"], "sleep", 1000) for _ in range(4)]
        self.assertEqual([r.status for r in accepted], [202] * 4, accepted)
        for r in accepted:
            b = wait_terminal(self.app["gw-a"], r.json()["execution_id"], timeout=20)
            self.assertEqual(b["status"], "completed", b)
            self.assertEqual((record_node(b), b["result"]["queued_at"]),
                             (record_node(b), r.json()["result"]["queued_at"]),
                             f"queued_at of the record is not the 202's (queue_ms "
                             f"{b['result']['queue_ms']})")

    def test_status_right_after_the_202_on_another_node(self):
        # A device polls its status_endpoint on another node at once: the id names its node.
        misses = []
        for _ in range(3):
            eid = self.accept("gw-b", "quick", 300)
            r = self.app["gw-c"].get(f"/status/{eid}")
            if r.status != 200:
                misses.append(r)
            wait_terminal(self.app["gw-b"], eid, timeout=10)
        self.assertEqual(misses, [], "gw-c answered another node's fresh execution with")

    def test_status_on_a_node_that_does_not_own_it(self):
        eid = self.accept("gw-b", "sleep", 1500)
        self.visible_on("gw-c", eid)
        r = self.app["gw-c"].get(f"/status/{eid}")
        self.assertEqual(r.status, 200, f"gw-c reading gw-b's {eid}: {r}")
        body = r.json()
        self.assertIn(body["status"], ("pending", "running"), body)
        self.assertEqual(record_node(body), "gw-b", body)
        # A long-poll on gw-c returns when gw-b's run ends, not at wait_ms.
        t0 = time.monotonic()
        r = self.app["gw-c"].get(f"/status/{eid}?wait_ms=15000", timeout=30)
        waited = time.monotonic() - t0
        self.assertEqual(r.status, 200, r)
        body = r.json()
        self.assertEqual(body["status"], "completed", f"long-poll on gw-c after {waited:.1f} s: {body}")
        self.assertLess(waited, 8.0, "the long-poll did not return at the completion")
        self.assertEqual(record_node(body), "gw-b", body)
        self.assertEqual(output_of(body).strip(), "slept 1500 on gw-b", body)
        # And on the third node, once finished.
        body = self.app["gw-a"].get(f"/status/{eid}").json()
        self.assertEqual((body["status"], record_node(body)), ("completed", "gw-b"), body)

    def test_sync_runs_elsewhere_only_with_share(self):
        # "share": true: a sync call gw-a cannot start now runs on another node; gw-a answers.
        blocker = self.accept("gw-a", "sleep_share", 6000)
        self.wait_running("gw-a", blocker, where=("gw-a",))
        t0 = time.monotonic()
        r = self.app["gw-a"].execute("sleep_share", "500", timeout=30)
        waited = time.monotonic() - t0
        self.assertEqual(r.status, 200, r)
        body = r.json()
        node = record_node(body)
        self.assertIn(node, ("gw-b", "gw-c"), body)
        self.assertEqual(output_of(body).strip(), f"slept 500 on {node}", body)
        self.assertLess(waited, 5.0, "the shared sync call waited for gw-a's slot")
        # Without share, a sync call waits for gw-a's own slot and runs there.
        blocker = self.accept("gw-a", "sleep", 2500)
        self.wait_running("gw-a", blocker, where=("gw-a",))
        t0 = time.monotonic()
        r = self.app["gw-a"].execute("sleep", "100", timeout=30)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(output_of(r.json()).strip(), "slept 100 on gw-a", r)
        self.assertGreater(time.monotonic() - t0, 1.5, "a sync call without share did not wait")

    def test_stream_executions_stay_local(self):
        # gw-a's `sleep` slot busy, gw-b and gw-c idle: a /stream invoke on gw-a waits for it.
        blocker = self.accept("gw-a", "sleep", 2000)
        self.wait_running("gw-a", blocker, where=("gw-a",))
        a = self.app["gw-a"]

        async def go():
            ws = await websockets.connect(f"ws://{a.host}:{a.port}/stream")
            await ws.send(json.dumps({"function_name": "sleep", "execution_mode": "stream",
                                      "input": {"content_type": "text/plain", "data": "100"}}))
            messages = []
            while not (messages and messages[-1].get("is_final")):
                messages.append(json.loads(await ws.recv()))
            await ws.close()
            return messages

        messages = asyncio.run(asyncio.wait_for(go(), 30))
        text = "".join(m.get("chunk_data", "") for m in messages if m.get("type") == "chunk")
        self.assertEqual(messages[-1].get("status"), "completed", messages)
        self.assertEqual(text.strip(), "slept 100 on gw-a", messages)
        body = a.get(f"/status/{messages[-1]['execution_id']}").json()
        self.assertEqual(record_node(body), "gw-a", body)
        self.assertGreater(body["result"]["queue_ms"], 1000, f"it did not wait for gw-a: {body}")

    def test_unknown_id_is_404_on_every_node(self):
        for node, s in self.app.items():
            r = s.get("/status/00000000000000000000abcd")
            self.assertEqual(r.status, 404, f"{node}: {r}")

    def test_cancel_on_a_node_that_does_not_own_it(self):
        eid = self.accept("gw-b", "sleep", 20000)
        self.wait_running("gw-b", eid, where=("gw-b",))
        self.visible_on("gw-c", eid)
        t0 = time.monotonic()
        r = self.app["gw-c"].post(f"/executions/{eid}/cancel", timeout=15)
        self.assertEqual(r.status, 200, f"cancel on gw-c of gw-b's execution: {r}")
        self.assertTrue(r.json().get("success"), r)
        body = wait_terminal(self.app["gw-b"], eid, timeout=10)
        self.assertEqual(body["status"], "cancelled", body)
        self.assertLess(time.monotonic() - t0, 10.0)
        body = wait_terminal(self.app["gw-c"], eid, timeout=10)
        self.assertEqual(body["status"], "cancelled", f"gw-c's view: {body}")
        # DELETE works the same way from the third node.
        eid = self.accept("gw-b", "sleep", 20000)
        self.wait_running("gw-b", eid, where=("gw-b",))
        self.visible_on("gw-a", eid)
        r = self.app["gw-a"].request("DELETE", f"/executions/{eid}", timeout=15)
        self.assertEqual(r.status, 200, f"DELETE on gw-a of gw-b's execution: {r}")
        self.assertEqual(wait_terminal(self.app["gw-b"], eid, timeout=10)["status"], "cancelled")

    def test_viewer_on_a_node_that_does_not_own_it(self):
        eid = self.accept("gw-b", "ticker", "8 250")
        self.wait_running("gw-b", eid, where=("gw-b",))
        self.visible_on("gw-c", eid)
        c = self.app["gw-c"]
        status, head, events = sse_events(c.host, c.port, f"/executions/{eid}/stream", timeout=20)
        self.assertIn(" 200 ", status, f"SSE viewer on gw-c: {status} {events}")
        kinds = [e for e, _ in events]
        self.assertTrue(kinds and kinds[-1] == "final", f"no final event on gw-c: {kinds}")
        text = "".join(d.get("chunk_data", "") for e, d in events if e == "chunk")
        self.assertEqual(text, "".join(f"tick-{i}\n" for i in range(8)), events)
        final = events[-1][1]
        self.assertEqual(final.get("status"), "completed", final)
        self.assertEqual(final.get("execution_id"), eid, final)


class FunctionSetTest(ClusterCase):
    """gw-c does not serve `sleep`: it never pulls sleep work, however idle it is."""
    functions = {"gw-a": cluster_functions("gw-a"), "gw-b": cluster_functions("gw-b"),
                 "gw-c": cluster_functions("gw-c", omit=("sleep",))}

    def test_a_node_only_pulls_what_it_serves(self):
        ids = [self.accept("gw-a", "sleep", 1000) for _ in range(6)]
        bodies = [wait_terminal(self.app["gw-a"], i, timeout=30) for i in ids]
        per_node = collections.Counter(record_node(b) for b in bodies)
        print(f"\nfunction sets: 6 x sleep to gw-a (gw-c lacks sleep) ran on {dict(per_node)}")
        self.assertTrue(all(b["status"] == "completed" for b in bodies), bodies)
        self.assertNotIn("gw-c", per_node, dict(per_node))
        self.assertGreater(per_node["gw-b"], 0, f"gw-b pulled nothing: the test proves nothing "
                                                 f"{dict(per_node)}")
        self.assertEqual(submit_async(self.app["gw-c"], "sleep", 1).status, 404)
        self.assertEqual(cluster_health(self.app["gw-c"])["shared_in"], 0)


class NodeLossTest(ClusterCase):
    """kill -9 of the node running a shared execution (fresh appliances per test)."""

    @classmethod
    def setUpClass(cls):
        reason = unavailable()
        if reason:
            raise unittest.SkipTest(reason)
        cls.nats = NatsServer()

    @classmethod
    def tearDownClass(cls):
        cls.nats.close()

    def setUp(self):
        self.app = self.start_appliances()

    def tearDown(self):
        super().tearDown()
        self.app.close()

    def shared_run_on_another_node(self, function, ms):
        """Fills gw-a's one slot of `function`, submits another to gw-a (shared) and waits for
        it to run on gw-b or gw-c; returns (execution id, that node)."""
        blocker = self.accept("gw-a", function, 12000)
        self.wait_running("gw-a", blocker, where=("gw-a",))
        eid = self.accept("gw-a", function, ms)
        body = self.wait_running("gw-a", eid, where=("gw-b", "gw-c"))
        return eid, record_node(body)

    def test_kill_9_with_retry_interrupted_runs_again_elsewhere(self):
        eid, victim = self.shared_run_on_another_node("sleep_retry", 4000)
        survivor = "gw-c" if victim == "gw-b" else "gw-b"
        t0 = time.monotonic()
        self.app.kill(victim)
        body = wait_terminal(self.app["gw-a"], eid, timeout=ACK_WAIT_MS / 1000 + 25)
        print(f"\nnode loss with retry_interrupted: ran on {victim} (killed), then "
              f"{body['status']} on {record_node(body)} {time.monotonic() - t0:.1f} s later")
        self.assertEqual(body["status"], "completed", body)
        self.assertIn(record_node(body), ("gw-a", survivor), body)
        self.assertEqual(output_of(body).strip(), f"slept 4000 on {record_node(body)}", body)
        self.assertEqual(wait_terminal(self.app[survivor], eid, timeout=10)["status"], "completed")
        retried = sum(cluster_health(self.app[n])["retried"] for n in ("gw-a", survivor))
        self.assertGreaterEqual(retried, 1, "no survivor counts the retry in /health")

    def test_kill_9_without_retry_ends_node_lost(self):
        eid, victim = self.shared_run_on_another_node("sleep", 15000)
        survivor = "gw-c" if victim == "gw-b" else "gw-b"
        t0 = time.monotonic()
        self.app.kill(victim)
        body = wait_terminal(self.app["gw-a"], eid, timeout=ACK_WAIT_MS / 1000 + 20)
        noticed = time.monotonic() - t0
        print(f"\nnode loss without retry: ran on {victim} (killed), {body['status']} "
              f"{error_code_of(body)} {noticed:.1f} s later")
        self.assertEqual(body["status"], "failed", body)
        self.assertEqual(error_code_of(body), "node_lost", body)
        # Reported before the run would have ended by itself: noticed, not waited out.
        self.assertLess(noticed, 12.0, body)
        other = wait_terminal(self.app[survivor], eid, timeout=10)
        self.assertEqual((other["status"], error_code_of(other)), ("failed", "node_lost"), other)
        lost = sum(cluster_health(self.app[n])["node_lost"] for n in ("gw-a", survivor))
        self.assertEqual(lost, 1, "node_lost is reported once, by the first node that notices")


class NatsRestartTest(ClusterCase):
    """The NATS server is killed (SIGKILL) and restarted while requests flow."""

    def test_nats_killed_and_restarted_while_requests_flow(self):
        a, b, c = (self.app[n] for n in NODES)
        everyone = [a, b, c]
        # Two thirds of the requests go to gw-a (quick: max 1 at once; ~1.1 of its capacity),
        # which shares what it cannot start; gw-b and gw-c have room to pull.
        flow = Flow([a, a, b, a, a, c], "quick", 250, interval=0.15)
        try:
            time.sleep(2.0)
            before_kill = len(flow.accepted)
            self.nats.kill()
            t_down = time.monotonic()
            reconnecting = wait_cluster_state(everyone, "reconnecting", timeout=15)
            states_down = health_states(everyone)
            gauge_down = re.search(r"(?m)^spear_cluster_connected(?:\{[^}]*\})? (\d+)",
                                   b.get("/metrics").body.decode())
            # Local work continues while NATS is down: accepted and completed, here and now.
            local = submit_async(b, "quick", 100)
            self.assertEqual(local.status, 202, f"async on gw-b while NATS is down: {local}")
            done = wait_terminal(b, local.json()["execution_id"], timeout=10)
            self.assertEqual(done["status"], "completed", done)
            self.assertFalse(self.nats.running())
            time.sleep(max(0.0, 4.0 - (time.monotonic() - t_down)))
            during = len(flow.accepted) - before_kill
            self.nats.start()
            connected = wait_cluster_state(everyone, "connected", timeout=30)
            states_up = health_states(everyone)
            time.sleep(2.0)
        finally:
            flow.stop()
        self.assertTrue(reconnecting, f"/health cluster.state with NATS down: {states_down}")
        self.assertEqual(gauge_down and gauge_down.group(1), "0",
                         "spear_cluster_connected is not 0 while NATS is down")
        self.assertTrue(connected, f"/health cluster.state after NATS came back: {states_up}")
        self.assertEqual(flow.refused, [], "requests refused around the NATS restart")
        self.assertGreater(during, 0, "nothing was accepted while NATS was down")
        bodies, stuck = wait_all_terminal(flow.accepted, timeout=45)
        outcomes = collections.Counter(b["status"] for b in bodies)
        per_node = collections.Counter(record_node(b) for b in bodies)
        bad = [b for b in bodies if b["status"] != "completed"]
        print(f"\nNATS restart: {len(flow.accepted)} accepted ({during} while NATS was down), "
              f"outcomes {dict(outcomes)}, {len(stuck)} not ended, ran on {dict(per_node)}")
        self.assertEqual(stuck[:5], [], f"{len(stuck)} accepted requests not ended 45 s later")
        self.assertEqual(bad, [], "accepted requests that did not complete")


class NoClusterTest(unittest.TestCase):
    def test_no_cluster_section_needs_no_nats(self):
        with Spearlet(base_config([sh("cat", "echo")])) as s:
            health = s.get("/health").json()
            self.assertNotIn("cluster", health, health)
            r = s.post("/functions/echo/invoke", body=b"alone")
            self.assertEqual((r.status, r.body), (200, b"alone"))


if __name__ == "__main__":
    unittest.main()
