"""Clusters (issue 16) on a 3-server NATS cluster: the appliances gw-a, gw-b, gw-c use a work
stream and records bucket with 3 replicas and survive the loss (kill -9) of one NATS server at
a time while requests flow (first the server gw-a is connected to, then the work stream's
leader, each restarted afterwards): every accepted request completes.
"""
import collections
import os
import time
import unittest

from nats_harness import (NODES, Appliances, Flow, NatsCluster, NatsError, cluster_functions,
                          cluster_health, health_states, record_node, unavailable,
                          wait_all_terminal, wait_cluster_state)


class NatsClusterLossTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        reason = unavailable()
        if reason:
            raise unittest.SkipTest(reason)
        cls.nats = NatsCluster()
        try:
            # The harness's own check: this NATS cluster holds a 3-replica stream.
            with cls.nats.servers[0].client() as c:
                made = c.stream_create("SPEAR_HARNESS_R3", ["spear_harness_r3.>"], replicas=3)
                if "error" in made or made["config"]["num_replicas"] != 3:
                    raise AssertionError(f"the NATS cluster cannot hold an R3 stream: {made}")
                c.stream_delete("SPEAR_HARNESS_R3")
            cls.app = Appliances(cls.nats.urls, functions={n: cluster_functions(n) for n in NODES},
                                 cluster={"replicas": 3, "ack_wait_ms": 3000})
        except BaseException:
            cls.nats.close()
            raise
        if not wait_cluster_state(cls.app.nodes.values(), "connected", timeout=30):
            states = health_states(cls.app.nodes.values())
            cls.tearDownClass()
            raise AssertionError(f"appliances not connected within 30 s: {states}")

    @classmethod
    def tearDownClass(cls):
        cls.app.close()
        cls.nats.close()

    def tearDown(self):
        if os.environ.get("SPEAR_TEST_LOGS"):
            self.app.dump_logs()

    def stream_info(self, name, timeout=20.0):
        """STREAM.INFO through any running server (retried while the cluster elects leaders)."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            for s in self.nats.running():
                try:
                    with s.client(timeout=2) as c:
                        last = c.stream_info(name, timeout=2)
                    if "error" not in last and last.get("cluster", {}).get("leader"):
                        return last
                except (OSError, NatsError) as e:
                    last = e
            time.sleep(0.2)
        raise AssertionError(f"no info for stream {name} within {timeout:.0f} s: {last}")

    def test_streams_have_three_replicas(self):
        for name in ("SPEAR_WORK", "KV_spear_records"):
            info = self.stream_info(name)
            self.assertEqual(info["config"]["num_replicas"], 3, f"{name}: {info['config']}")

    def test_appliances_survive_the_loss_of_one_nats_server(self):
        a, b, c = (self.app[n] for n in NODES)
        everyone = [a, b, c]
        flow = Flow([a, a, b, a, a, c], "quick", 250, interval=0.15)
        rounds = []
        try:
            time.sleep(2.0)
            # Round 1: the server gw-a is connected to (gw-a must move to another one).
            # Round 2: the work stream's leader (JetStream elects another).
            for why in ("gw-a's server", "the SPEAR_WORK leader"):
                server = str((cluster_health(a) or {}).get("server", ""))
                leader = self.stream_info("SPEAR_WORK")["cluster"]["leader"]
                victim = next((s for s in self.nats.servers if str(s.port) in server), None)
                if why != "gw-a's server" or victim is None:
                    victim = self.nats.server(leader)
                victim.kill()
                t_kill = time.monotonic()
                time.sleep(5.0)
                connected = wait_cluster_state(everyone, "connected", timeout=20)
                states = health_states(everyone)
                servers = [str((cluster_health(s) or {}).get("server")) for s in everyone]
                during = sum(1 for _, _, t in flow.accepted if t > t_kill)
                print(f"\nNATS cluster: killed {victim.name} ({why}; gw-a was on {server!r}, "
                      f"stream leader {leader}); appliances then on {servers}, "
                      f"{during} accepted since")
                rounds.append((victim, connected, states, during))
                victim.start()
                self.nats.wait_jetstream(timeout=30)
                time.sleep(2.0)
        finally:
            flow.stop()
        for victim, connected, states, during in rounds:
            self.assertTrue(connected, f"/health cluster.state with {victim.name} down: {states}")
            self.assertGreater(during, 0, f"nothing was accepted while {victim.name} was down")
        self.assertEqual(flow.refused, [], "requests refused while a NATS server was down")
        bodies, stuck = wait_all_terminal(flow.accepted, timeout=45)
        outcomes = collections.Counter(b["status"] for b in bodies)
        per_node = collections.Counter(record_node(b) for b in bodies)
        bad = [b for b in bodies if b["status"] != "completed"]
        print(f"NATS cluster: {len(flow.accepted)} accepted, outcomes {dict(outcomes)}, "
              f"{len(stuck)} not ended, ran on {dict(per_node)}")
        self.assertEqual(stuck[:5], [], f"{len(stuck)} accepted requests not ended 45 s later")
        self.assertEqual(bad, [], "accepted requests that did not complete")
        self.assertGreater(len(per_node), 1, f"nothing was shared: {dict(per_node)}")
        # The restarted servers are back in the stream's replica set.
        info = self.stream_info("SPEAR_WORK")
        members = {info["cluster"]["leader"]} | {r["name"] for r in info["cluster"].get("replicas", [])}
        self.assertEqual(members, {"n1", "n2", "n3"}, info["cluster"])


if __name__ == "__main__":
    unittest.main()
