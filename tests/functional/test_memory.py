"""Memory that grows with traffic (defect 10.7): the queued-input budget, the worst-case memory
of a config, a status table the machine cannot hold, and connection buffers after a large
request."""
import json
import os
import socket
import subprocess
import tempfile
import time
import unittest

from spear_harness import SPEARLET, Spearlet, base_config, sh, wait_until


def write_config(d, cfg):
    path = os.path.join(d, "config.json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    return path


def vm_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


class CheckConfigMemoryTest(unittest.TestCase):
    def test_ok_line_gives_the_worst_case_memory(self):
        p = subprocess.run([SPEARLET, "--check-config"], capture_output=True, text=True, timeout=20)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout, r": ok \(\d+ functions, worst-case memory \d+ [KMG]iB\)")

    def test_a_status_table_the_machine_cannot_hold_is_refused_at_check_and_at_start(self):
        # 1 M slots x 16 MiB = 16 TiB: it used to pass the check and die with bad_alloc.
        cfg = base_config([sh("cat", "echo")],
                          status_table={"slots": 1048576, "max_output_bytes": 16777216})
        with tempfile.TemporaryDirectory() as d:
            path = write_config(d, cfg)
            for args in (["--check-config"], []):
                p = subprocess.run([SPEARLET, "--config", path, *args], capture_output=True,
                                   text=True, timeout=20)
                self.assertEqual(p.returncode, 1, (args, p.stdout, p.stderr))
                self.assertIn("status_table: slots x (max_output_bytes + stderr_tail_bytes) = "
                              "1048576 x (16777216 + 4096)", p.stderr)
                self.assertIn("exceeds this machine's memory", p.stderr)
                self.assertIn("lower status_table.slots or status_table.max_output_bytes",
                              p.stderr)
                self.assertNotIn("bad_alloc", p.stderr)

    def test_size_limits_have_ceilings(self):
        cfg = base_config([], stream={"viewer_queue_messages": 1 << 40, "replay_chunks": 1 << 40},
                          http={"max_header_bytes": 1 << 40})
        with tempfile.TemporaryDirectory() as d:
            p = subprocess.run([SPEARLET, "--config", write_config(d, cfg), "--check-config"],
                               capture_output=True, text=True, timeout=20)
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertIn("stream.viewer_queue_messages: must be an integer in 1..4096", p.stderr)
        self.assertIn("stream.replay_chunks: must be an integer in 0..4096", p.stderr)
        self.assertIn("http.max_header_bytes: must be an integer in 1..65536", p.stderr)


class QueuedInputBudgetTest(unittest.TestCase):
    def test_inputs_waiting_to_start_are_bounded_by_one_budget(self):
        with tempfile.TemporaryDirectory() as d:
            flag = os.path.join(d, "go")
            # One slot: the first call runs until `flag` exists; the next ones wait with
            # their 1000-byte inputs. The budget holds two of them, across both functions.
            hold = f"cat >/dev/null; while [ ! -e {flag} ]; do sleep 0.02; done"
            cfg = base_config(
                [sh(hold, "hold", max_concurrency=1), sh(hold, "other", max_concurrency=1)],
                http={"max_body_bytes": 1024}, stream={"max_message_bytes": 1024},
                limits={"queued_input_bytes": 2000, "global_concurrency": 2})
            with Spearlet(cfg) as s:
                async_ = {"Prefer": "respond-async"}
                payload = b"x" * 1000

                def submit(fn):
                    return s.post(f"/functions/{fn}/invoke", body=payload, headers=async_)

                first = submit("hold")
                self.assertEqual(first.status, 202, first)
                s.wait_status(first.json()["execution_id"], statuses=("running",))
                other = submit("other")
                self.assertEqual(other.status, 202, other)
                s.wait_status(other.json()["execution_id"], statuses=("running",))
                # Both run: their inputs left the budget. Two more wait: 2000 of 2000 bytes.
                waiting = [submit("hold"), submit("other")]
                for r in waiting:
                    self.assertEqual(r.status, 202, r)
                    self.assertEqual(r.json()["result"]["status"], "pending")
                refused = submit("hold")
                self.assertEqual(refused.status, 429, refused)
                self.assertGreaterEqual(int(refused.header("Retry-After")), 1)
                body = refused.json()
                self.assertEqual(body["error"]["code"], "too_many_requests")
                self.assertIn("limits.queued_input_bytes (2000)", body["error"]["message"])
                # No byte is left, for any function.
                self.assertEqual(s.post("/functions/other/invoke", body=b"y",
                                        headers=async_).status, 429)

                # Cancelling a waiting one gives its bytes back.
                eid = waiting[1].json()["execution_id"]
                self.assertEqual(s.post(f"/executions/{eid}/cancel", body=b"").status // 100, 2)
                again = submit("other")
                self.assertEqual(again.status, 202, again)
                self.assertEqual(submit("hold").status, 429)

                # Starting gives them back too: let everything run.
                with open(flag, "w"):
                    pass
                s.wait_status(waiting[0].json()["execution_id"], statuses=("completed",))
                s.wait_status(again.json()["execution_id"], statuses=("completed",))
                last = submit("hold")
                self.assertEqual(last.status, 202, last)
                s.wait_status(last.json()["execution_id"], statuses=("completed",))


class ConnectionBufferTest(unittest.TestCase):
    def test_large_requests_then_small_ones_on_the_same_connection(self):
        cfg = base_config([sh("wc -c", "count")],
                          http={"max_body_bytes": 1 << 20, "max_header_bytes": 65536})
        with Spearlet(cfg) as s:
            c = s.connection()
            big = s.post("/functions/count/invoke", body=b"z" * (1 << 20), conn=c)
            self.assertEqual(big.status, 200, big)
            self.assertEqual(big.body.strip(), str(1 << 20).encode())
            pad = {"X-Pad": "p" * 60000}
            self.assertEqual(s.get("/health", headers=pad, conn=c).status, 200)
            for i in range(3):
                r = s.post("/functions/count/invoke", body=b"abc", conn=c)
                self.assertEqual((r.status, r.body.strip()), (200, b"3"), r)
            c.close()

    def test_idle_connections_do_not_keep_a_large_header_buffer(self):
        # A connection's read buffer grows to hold a whole header block (bodies stream
        # through it). 200 idle keep-alive connections that each sent a 60 KiB header once
        # held ~200 x 64+ KiB before the buffer was released after a large request.
        n = 200
        cfg = base_config([], http={"max_header_bytes": 65536, "max_connections": 256})
        # No ASan quarantine: freed memory must not count as held (a plain build has none).
        env = {"ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=0"}
        pad = {"X-Pad": "p" * 60000}
        with Spearlet(cfg, env=env) as s:
            warm = s.connection()
            self.assertEqual(s.get("/health", headers=pad, conn=warm).status, 200)
            warm.close()
            time.sleep(0.2)
            before = vm_rss_kib(s.proc.pid)
            conns = []
            for _ in range(n):
                c = s.connection()
                self.assertEqual(s.get("/health", headers=pad, conn=c).status, 200)
                conns.append(c)
            time.sleep(0.2)
            growth_mib = (vm_rss_kib(s.proc.pid) - before) / 1024
            print(f"RSS growth {growth_mib:.1f} MiB", flush=True)
            for c in conns:
                c.close()
            self.assertLess(growth_mib, 8, f"RSS grew {growth_mib:.1f} MiB over {n} idle "
                                           f"connections that each sent a 60 KiB header")


if __name__ == "__main__":
    unittest.main()
