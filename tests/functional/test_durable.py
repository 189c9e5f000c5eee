"""Durable results (node.data_dir): records, accepted work, idempotency keys and estimates survive
kill -9 and SIGTERM; corrupt slots are dropped and counted; incompatible files and a second
instance are refused at start."""
import json
import os
import random
import signal
import socket
import struct
import tempfile
import threading
import time
import unittest

from spear_harness import Spearlet, base_config, sh, wait_until

TERMINAL = ("completed", "failed", "cancelled", "timeout")
HEADER_BYTES = 4096


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def functions(counter_file=None):
    fns = [
        sh("tr a-z A-Z", "up"),
        # Sleeps the number of milliseconds given, then prints a checksum of its input.
        # Sleeps the seconds given, then says so.
        sh('read n; sleep "$n"; echo "slept-$n"', "nap", max_concurrency=2, queue_depth=200),
        # Writes its output in pieces, so a kill lands while output is being produced.
        sh('read n; i=0; while [ $i -lt $n ]; do echo "line-$i"; i=$((i+1)); done', "lines"),
        sh("cat >/dev/null; sleep 30", "long", queue_depth=50),
        sh("cat >/dev/null; sleep 2; echo retried", "retry", retry_interrupted=True),
    ]
    if counter_file:
        fns.append(sh(f"cat >/dev/null; echo run >> {counter_file}; sleep 1; echo counted",
                      "counted"))
    return fns


def durable_config(data_dir, port=0, durability="batched", **table):
    status_table = {"slots": 256, "max_output_bytes": 4096, "max_input_bytes": 1024}
    status_table.update(table)
    return base_config(functions(os.path.join(data_dir, "..", "count-" + os.path.basename(data_dir))),
                       http={"port": port},
                       node={"data_dir": data_dir, "durability": durability},
                       status_table=status_table,
                       limits={"global_concurrency": 3})


def expected_output(function, data):
    if function == "up":
        return data.upper()
    if function == "nap":
        return f"slept-{data.strip()}\n"
    if function == "lines":
        return "".join(f"line-{i}\n" for i in range(int(data)))
    return None


class DataDirTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="spear-durable-")
        self.data_dir = os.path.join(self.tmp.name, "data")

    def tearDown(self):
        self.tmp.cleanup()

    def start(self, cfg=None, **kw):
        return Spearlet(cfg or durable_config(self.data_dir, **kw))

    def status(self, s, execution_id):
        return s.get(f"/status/{execution_id}")


class KillLoopTest(DataDirTest):
    def test_kill_9_at_random_points_loses_nothing_clients_were_told(self):
        rng = random.Random(int(os.environ.get("SPEAR_DURABLE_SEED", "20261203")))
        told = {}  # execution_id -> (function, input, "accepted" | "completed", output or None)
        lock = threading.Lock()
        t_start = time.monotonic()
        rounds = 0
        while rounds < 12 and time.monotonic() - t_start < 35:
            rounds += 1
            s = self.start(slots=2048, stderr_tail_bytes=256)
            stop = threading.Event()

            def client(seed):
                crng = random.Random(seed)
                while not stop.is_set():
                    fn = crng.choice(["up", "nap", "lines"])
                    data = {"up": "word%d" % crng.randrange(10**6),
                            "nap": crng.choice(["0.01", "0.05", "0.2", "0.4"]),
                            "lines": str(crng.choice([1, 20, 200]))}[fn]
                    mode = crng.choice(["sync", "async"])
                    time.sleep(0.02)
                    try:
                        r = s.execute(fn, data, mode=mode, timeout=5)
                    except Exception:
                        return  # killed mid-request: the client was told nothing
                    body = r.json()
                    if r.status == 202:
                        with lock:
                            told[body["execution_id"]] = (fn, data, "accepted", None)
                    elif r.status == 200 and body["result"]["status"] == "completed":
                        with lock:
                            told[body["execution_id"]] = (fn, data, "completed",
                                                          body["result"]["output"]["data"])

            workers = [threading.Thread(target=client, args=(rng.random(),)) for _ in range(3)]
            for w in workers:
                w.start()
            time.sleep(rng.uniform(0.15, 1.2))
            s.proc.kill()  # SIGKILL: no drain, no msync
            s.proc.wait(5)
            stop.set()
            for w in workers:
                w.join(10)
            s.stop()
            s.tmp.cleanup()

        # The last restart: everything told must be there, and pending work must finish.
        s = self.start(slots=2048, stderr_tail_bytes=256)
        try:
            self.assertGreater(len(told), 20, "the loop produced too few executions")
            # Fewer executions than slots: none may have been evicted, so every one must be held.
            self.assertLess(max(int(eid[8:18], 16) for eid in told), 2048)
            health = s.get("/health").json()
            self.assertEqual(health["durable"]["dropped_records"], 0, health)
            deadline = time.monotonic() + 20
            interrupted = completed = 0
            for eid, (fn, data, what, output) in told.items():
                r = self.status(s, eid)
                self.assertEqual(r.status, 200, f"{eid} ({fn}, told {what}): {r}")
                body = s.wait_status(eid, timeout=max(1, deadline - time.monotonic()))
                result = body["result"]
                if what == "completed":
                    # Told completed: still completed, with the very output the client got.
                    self.assertEqual(result["status"], "completed", body)
                    self.assertEqual(result["output"]["data"], output, body)
                elif result["status"] == "failed":
                    # Accepted, then running when a kill landed: interrupted, never re-run.
                    self.assertEqual(result["error_code"], "interrupted", body)
                    self.assertIn("restarted", result["error_message"])
                    self.assertIn("started_at", result, body)
                    interrupted += 1
                else:
                    self.assertEqual(result["status"], "completed", body)
                if result["status"] == "completed":
                    # No half-written record: the output is the whole, right output.
                    self.assertEqual(result["output"]["data"], expected_output(fn, data), body)
                    completed += 1
            self.assertGreater(completed, 0)
            log = s.log()
            self.assertNotIn("AddressSanitizer", log)
            self.assertNotIn("runtime error", log)
        finally:
            s.close()


class RestartSemanticsTest(DataDirTest):
    def run_restart(self, kill):
        port = free_port()
        s = self.start(port=port)
        done = s.execute("up", "hello").json()
        self.assertEqual(done["result"]["status"], "completed")
        running = s.execute("long", "x", mode="async").json()["execution_id"]
        self.assertTrue(wait_until(lambda: self.status(s, running).json()["status"] == "running", 5))
        retried = s.execute("retry", "x", mode="async").json()["execution_id"]
        self.assertTrue(wait_until(lambda: self.status(s, retried).json()["status"] == "running", 5))
        # global_concurrency 3 is used up by long, retry and the first nap: the others wait.
        naps = [s.execute("nap", "2", mode="async").json()["execution_id"] for _ in range(4)]
        self.assertTrue(wait_until(
            lambda: self.status(s, naps[0]).json()["status"] == "running", 5))
        self.assertEqual(self.status(s, naps[-1]).json()["status"], "pending")

        # A poller long-polls the last pending one through the restart, on the same port.
        outcome = {"seen": []}

        def poller():
            import http.client
            deadline = time.monotonic() + 40
            while time.monotonic() < deadline:
                try:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                    conn.request("GET", f"/status/{naps[-1]}?wait_ms=2000")
                    r = conn.getresponse()
                    body = json.loads(r.read())
                    conn.close()
                    if r.status != 200:
                        outcome["seen"].append(r.status)
                        continue
                    result = body["result"]
                    # A shutdown reads cancelled/unavailable: the record resumes after the
                    # restart (docs/api.md), so a poller keeps polling.
                    if body["status"] in TERMINAL and result.get("error_code") != "unavailable":
                        outcome["body"] = body
                        return
                except (OSError, ValueError, http.client.HTTPException):
                    time.sleep(0.05)  # the appliance is restarting

        t = threading.Thread(target=poller)
        t.start()
        time.sleep(0.3)
        if kill:
            s.proc.kill()
            s.proc.wait(5)
            s.stop()
        else:
            self.assertEqual(s.stop(signal.SIGTERM), 0, s.log())
            self.assertIn("stopped cleanly", s.log())
        s.tmp.cleanup()

        s2 = self.start(port=port)
        try:
            # Terminal: still there with its output.
            r = self.status(s2, done["execution_id"])
            self.assertEqual(r.status, 200)
            self.assertEqual(r.json()["result"]["output"]["data"], "HELLO")
            # Running: failed/interrupted, with the reason; never run again.
            for eid in (running, naps[0]):
                body = s2.wait_status(eid, timeout=5)
                self.assertEqual(body["status"], "failed", body)
                self.assertEqual(body["result"]["error_code"], "interrupted", body)
            # Running with retry_interrupted: queued again under the same id, and completes.
            body = s2.wait_status(retried, timeout=15)
            self.assertEqual(body["status"], "completed", body)
            self.assertEqual(body["result"]["output"]["data"], "retried\n")
            # Pending: run after the restart with the same id.
            for eid in naps[1:]:
                body = s2.wait_status(eid, timeout=15)
                self.assertEqual(body["result"]["output"]["data"], "slept-2\n", body)
            t.join(30)
            self.assertIn("body", outcome, "the poller never saw the end")
            self.assertEqual(outcome["body"]["result"]["output"]["data"], "slept-2\n")
            self.assertEqual(outcome["seen"], [], "the poller read a non-200 status")
        finally:
            s2.close()

    def test_kill_9_restart(self):
        self.run_restart(kill=True)

    def test_sigterm_restart_behaves_like_kill_9(self):
        self.run_restart(kill=False)

    def test_ids_404_vs_410_across_boots_and_estimates_survive(self):
        s = self.start(slots=4)
        try:
            first = [s.execute("nap", "0.2").json()["execution_id"] for _ in range(3)]
            fns = {f["name"]: f for f in s.get("/functions").json()["functions"]}
            self.assertEqual(fns["nap"]["history"]["estimate_source"], "history")
            typical = fns["nap"]["history"]["typical_ms"]
        finally:
            s.close()
        s = self.start(slots=4)
        try:
            fns = {f["name"]: f for f in s.get("/functions").json()["functions"]}
            # The estimator's windows came back: right from the first request.
            self.assertEqual(fns["nap"]["history"]["estimate_source"], "history")
            self.assertEqual(fns["nap"]["history"]["runs"], 3)
            self.assertEqual(fns["nap"]["history"]["typical_ms"], typical)
            r = s.execute("nap", "0.01", mode="async")
            self.assertEqual(r.json()["estimate_source"], "history")
            # Held from the earlier boot: 200.
            self.assertEqual(self.status(s, first[0]).status, 200)
            # Four new records in four slots evict the earlier boot's: 410, not 404.
            for _ in range(4):
                s.execute("up", "x")
            r = self.status(s, first[0])
            self.assertEqual(r.status, 410, r)
            self.assertEqual(r.json()["error"]["code"], "execution_evicted")
            # Never issued: another boot nonce, or a seq no boot reached: 404.
            never = "0badb00d" + first[0][8:]
            self.assertEqual(self.status(s, never).status, 404)
            beyond = first[0][:8] + "00000fffff" + first[0][18:]
            self.assertEqual(self.status(s, beyond).status, 404)
        finally:
            s.close()

    def test_idempotency_keys_survive_a_kill(self):
        s = self.start()
        counter = os.path.join(self.tmp.name, "count-data")
        try:
            r = s.execute("counted", "x", mode="async", context={"execution_id": "dev-1-job-9"})
            self.assertEqual(r.status, 202)
            eid = r.json()["execution_id"]
            s.wait_status(eid)
            s.proc.kill()
            s.proc.wait(5)
        finally:
            s.close()
        s = self.start()
        try:
            # The device retries after the restart: the same execution, not a second run.
            r = s.execute("counted", "x", mode="async", context={"execution_id": "dev-1-job-9"})
            self.assertEqual(r.status, 202, r)
            self.assertEqual(r.json()["execution_id"], eid)
            self.assertEqual(r.json()["metadata"].get("replayed"), "true")
            # Another request with the key is still a conflict.
            r = s.execute("counted", "other", mode="async", context={"execution_id": "dev-1-job-9"})
            self.assertEqual(r.status, 409, r)
            with open(counter) as f:
                self.assertEqual(f.read().count("run"), 1)
        finally:
            s.close()

    def test_inputs_too_large_to_persist_are_refused_when_durable(self):
        with self.start() as s:
            r = s.execute("up", "x" * 2000, mode="async")
            self.assertEqual(r.status, 413, r)
            self.assertIn("status_table.max_input_bytes", r.json()["error"]["message"])


class FileFaultTest(DataDirTest):
    def fill_and_stop(self, n=30):
        s = self.start()
        ids = {}
        try:
            for i in range(n):
                body = s.execute("up", f"rec{i}").json()
                ids[body["execution_id"]] = f"REC{i}"
        finally:
            self.assertEqual(s.stop(), 0)
            s.tmp.cleanup()
        return ids

    def test_corrupt_bytes_are_dropped_and_counted_never_served(self):
        ids = self.fill_and_stop()
        path = os.path.join(self.data_dir, "results.bin")
        with open(path, "r+b") as f:
            header = f.read(HEADER_BYTES)
            slot_bytes = struct.unpack_from("<I", header, 12)[0]
            rng = random.Random(7)
            damaged = set()
            for _ in range(12):
                slot = rng.randrange(29)  # slot 29's record is also in the journal
                offset = HEADER_BYTES + slot * slot_bytes + rng.randrange(200)
                f.seek(offset)
                b = f.read(1)
                f.seek(offset)
                f.write(bytes([b[0] ^ 0xA5]))
                damaged.add(slot)
        s = self.start()
        try:
            health = s.get("/health").json()["durable"]
            self.assertEqual(health["dropped_records"], len(damaged), health)
            self.assertIn("torn or corrupt", s.log())
            served = gone = 0
            for eid, output in ids.items():
                r = self.status(s, eid)
                if r.status == 200:  # an intact record, with its own output
                    self.assertEqual(r.json()["result"]["output"]["data"], output)
                    served += 1
                else:  # a dropped one: issued and no longer held
                    self.assertEqual(r.status, 410, r)
                    gone += 1
            self.assertEqual(gone, len(damaged))
            self.assertEqual(served, len(ids) - len(damaged))
            # The appliance works on: new records take the freed slots.
            self.assertEqual(s.execute("up", "after").json()["result"]["output"]["data"], "AFTER")
        finally:
            s.close()

    def test_a_file_of_another_version_or_geometry_is_refused_with_the_reason(self):
        self.fill_and_stop(3)
        path = os.path.join(self.data_dir, "results.bin")
        with open(path, "r+b") as f:
            f.seek(4)
            original_version = f.read(4)
            f.seek(4)
            f.write(struct.pack("<I", 99))
        with self.assertRaises(RuntimeError) as refused:
            self.start()
        self.assertIn("format version 99", str(refused.exception))
        self.assertIn("move", str(refused.exception))
        with open(path, "r+b") as f:
            f.seek(4)
            f.write(original_version)
        with self.assertRaises(RuntimeError) as refused:
            self.start(slots=512)
        self.assertIn("slots", str(refused.exception))
        # The original config still starts on it.
        with self.start() as s:
            self.assertEqual(s.get("/health").json()["durable"]["dropped_records"], 0)

    def test_a_second_instance_on_the_same_data_dir_refuses_to_start(self):
        with self.start() as s:
            with self.assertRaises(RuntimeError) as refused:
                self.start()
            self.assertIn("in use by another spearlet", str(refused.exception))
            self.assertEqual(s.get("/health").status, 200)

    def test_an_unusable_data_dir_is_a_clear_error(self):
        blocker = os.path.join(self.tmp.name, "file")
        with open(blocker, "w") as f:
            f.write("x")
        with self.assertRaises(RuntimeError) as refused:
            Spearlet(durable_config(blocker))
        self.assertIn("not a directory", str(refused.exception))
        # A data dir under a path that is a file cannot be created.
        with self.assertRaises(RuntimeError) as refused:
            Spearlet(durable_config(os.path.join(blocker, "sub")))
        self.assertIn("cannot create data directory", str(refused.exception))


if __name__ == "__main__":
    unittest.main()
