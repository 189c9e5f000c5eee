"""Container functions against the real binary and a real Docker Engine API (issue 13):
podman's `system service` on a temporary unix socket (tests/functional/podman_engine.py) with
a local busybox image. Sync, binary input, async + poll, live stream chunks, a viewer, cancel,
timeout, memory limit, non-zero exit, missing image, the engine not running, SIGTERM while
containers run, and the sweep of containers an earlier run left behind. After each journey
the engine lists no container of ours.

Needs root (rootful podman); skipped with the reason otherwise.
"""
import asyncio
import base64
import json
import os
import signal
import subprocess
import tempfile
import time
import unittest

import websockets

import podman_engine
from podman_engine import IMAGE, PodmanEngine
from spear_harness import SPEARLET, Spearlet, base_config, wait_until

ENGINE = None


def setUpModule():
    global ENGINE
    reason = podman_engine.unavailable()
    if reason:
        raise unittest.SkipTest(reason)
    ENGINE = PodmanEngine()


def tearDownModule():
    if ENGINE:
        ENGINE.close()


def container(name, command, **extra):
    f = {"name": name, "runtime": "container", "image": IMAGE, "command": command,
         "content_type": "text/plain"}
    f.update(extra)
    return f


def sh(name, script, **extra):
    return container(name, ["/bin/sh", "-c", script], **extra)


FUNCTIONS = [
    container("upper", ["/bin/tr", "a-z", "A-Z"]),
    container("cat", ["/bin/cat"], content_type="application/octet-stream"),
    sh("gap", "echo first; sleep 1; echo second"),
    sh("ticker", "for i in 1 2 3 4 5 6 7 8; do echo tick $i; sleep 0.2; done"),
    container("forever", ["/bin/sleep", "60"], timeout_ms=60000),
    container("short_timeout", ["/bin/sleep", "60"], timeout_ms=800),
    sh("fails", "echo partial; echo oops >&2; exit 3"),
    sh("hog", 'a=$(head -c 64000000 /dev/zero | tr "\\0" a); echo survived',
       memory_bytes=16 * 1024 * 1024),
    sh("env", "echo $SPEAR_FUNCTION_NAME $GREETING $FROM_REQUEST",
       env={"GREETING": "hello"}, allow_request_env=["FROM_REQUEST"]),
    # /etc: root owns it (0755); "/" of an imported rootfs is 0555, which root cannot write
    # once every capability is dropped.
    sh("readonly", "echo x > /etc/written && echo wrote || echo refused"),
    sh("writable", "echo x > /etc/written && echo wrote || echo refused", read_only=False),
    sh("netns", "cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' '"),
    container("missing", ["/bin/true"], image="localhost/spear-no-such-image:1"),
]


def our_containers(execution_id=None):
    label = "spear-edge.execution" + (f"={execution_id}" if execution_id else "")
    return ENGINE.containers(label)


def run(coro, timeout=30):
    return asyncio.run(asyncio.wait_for(coro, timeout))


class ContainerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s = Spearlet(base_config(FUNCTIONS, container={"engine": ENGINE.uri},
                                     limits={"kill_grace_ms": 500}))
        cls.ws_url = f"ws://{cls.s.host}:{cls.s.port}"

    @classmethod
    def tearDownClass(cls):
        cls.s.close()

    def tearDown(self):
        # Every journey ends with its containers removed (the run returns after the remove).
        self.assertEqual(our_containers(), [])

    def test_sync_uppercase(self):
        r = self.s.execute("upper", "hello container")
        self.assertEqual(r.status, 200, r)
        res = r.json()["result"]
        self.assertEqual(res["status"], "completed")
        self.assertEqual(res["output"]["data"], "HELLO CONTAINER")
        self.assertEqual(res["exit_code"], 0)
        # The raw form too.
        raw = self.s.post("/functions/upper/invoke", body=b"abc")
        self.assertEqual(raw.body, b"ABC")

    def test_binary_input_round_trip(self):
        data = bytes(range(256)) * 64
        r = self.s.execute("cat", data_base64=base64.b64encode(data).decode())
        self.assertEqual(r.status, 200, r)
        out = r.json()["result"]["output"]
        self.assertEqual(base64.b64decode(out["data_base64"]), data)

    def test_async_and_poll(self):
        r = self.s.execute("upper", "async input", mode="async")
        self.assertEqual(r.status, 202, r)
        eid = r.json()["execution_id"]
        st = self.s.wait_status(eid)
        self.assertEqual(st["status"], "completed", st)
        self.assertEqual(st["result"]["output"]["data"], "ASYNC INPUT")

    def test_stream_chunks_arrive_live(self):
        async def go():
            ws = await websockets.connect(self.ws_url + "/stream")
            await ws.send(json.dumps({"function_name": "gap"}))
            t0 = time.monotonic()
            times, final = {}, None
            while True:
                m = json.loads(await ws.recv())
                if m["type"] == "chunk":
                    for line in m["chunk_data"].split():
                        times[line] = time.monotonic() - t0
                if m.get("is_final"):
                    final = m
                    break
            await ws.close()
            return times, final
        times, final = run(go())
        self.assertEqual(final["status"], "completed", final)
        self.assertIn("first", times)
        self.assertIn("second", times)
        # "first" reached the client while the container slept: live, not at the end.
        self.assertGreater(times["second"] - times["first"], 0.7, times)

    def test_viewer_attached_to_container_execution(self):
        eid = self.s.execute("ticker", "", mode="async").json()["execution_id"]

        async def go():
            v = await websockets.connect(f"{self.ws_url}/executions/{eid}/stream")
            msgs = []
            while True:
                m = json.loads(await v.recv())
                msgs.append(m)
                if m.get("is_final"):
                    return msgs
        msgs = run(go())
        text = "".join(m["chunk_data"] for m in msgs if m["type"] == "chunk")
        self.assertTrue(text.endswith("tick 8\n"), text)
        self.assertEqual(msgs[-1]["status"], "completed")

    def test_cancel_removes_the_container(self):
        eid = self.s.execute("forever", "", mode="async").json()["execution_id"]
        self.assertTrue(wait_until(lambda: len(our_containers(eid)) == 1
                                   and self.s.get(f"/status/{eid}").json()["status"] == "running",
                                   15))
        r = self.s.post(f"/executions/{eid}/cancel")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["final_status"], "cancelled")
        # The cancel answered after the container was gone.
        self.assertEqual(our_containers(eid), [])
        self.assertEqual(self.s.get(f"/status/{eid}").json()["status"], "cancelled")

    def test_timeout_kills_and_removes(self):
        t0 = time.monotonic()
        r = self.s.execute("short_timeout", "")
        self.assertEqual(r.status, 504, r)
        res = r.json()["result"]
        self.assertEqual(res["status"], "timeout")
        self.assertEqual(res["error_code"], "timeout")
        self.assertIn("800 ms timeout", res["error_message"])
        self.assertLess(time.monotonic() - t0, 10)
        self.assertEqual(our_containers(r.json()["execution_id"]), [])

    def test_memory_limit_exceeded_is_an_oom_failure(self):
        enforced = ENGINE.memory_limit_enforced()
        if enforced is not True:
            self.skipTest(enforced)
        r = self.s.execute("hog", "")
        self.assertEqual(r.status, 500, r)
        res = r.json()["result"]
        self.assertEqual(res["status"], "failed")
        self.assertEqual(res["error_code"], "function_failed")
        self.assertEqual(res["signal"], 9)
        self.assertIn("memory limit of 16777216 bytes", res["error_message"])
        self.assertIn("out of memory", res["error_message"])
        self.assertNotIn("survived", res.get("output", {}).get("data", ""))

    def test_non_zero_exit_with_stderr_tail(self):
        r = self.s.execute("fails", "")
        self.assertEqual(r.status, 500, r)
        res = r.json()["result"]
        self.assertEqual(res["status"], "failed")
        self.assertEqual(res["error_code"], "function_failed")
        self.assertEqual(res["exit_code"], 3)
        self.assertEqual(res["error_message"], "exited with code 3")
        self.assertEqual(res["output"]["data"], "partial\n")
        self.assertIn("oops", res["stderr_tail"])

    def test_missing_image_is_named_and_not_pulled(self):
        r = self.s.execute("missing", "")
        self.assertEqual(r.status, 500, r)
        res = r.json()["result"]
        self.assertEqual(res["error_code"], "function_failed")
        self.assertIn("localhost/spear-no-such-image:1", res["error_message"])
        self.assertIn("never pulled", res["error_message"])
        status, _ = ENGINE.api("GET", "/images/localhost/spear-no-such-image:1/json")
        self.assertEqual(status, 404)

    def test_environment_as_for_processes(self):
        r = self.s.execute("env", "", context={"environment": {"FROM_REQUEST": "req"}})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["result"]["output"]["data"], "env hello req\n")

    def test_root_is_read_only_unless_opted_out(self):
        self.assertEqual(self.s.execute("readonly", "").json()["result"]["output"]["data"],
                         "refused\n")
        self.assertEqual(self.s.execute("writable", "").json()["result"]["output"]["data"],
                         "wrote\n")

    def test_no_network_by_default(self):
        r = self.s.execute("netns", "")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["result"]["output"]["data"].split(), ["lo"])

    def test_health_reports_the_engine_up(self):
        h = self.s.get("/health").json()
        self.assertEqual(h["runtimes"]["container"]["state"], "up", h)
        self.assertEqual(h["runtimes"]["container"]["engine"], ENGINE.uri)
        self.assertIn("Podman", h["runtimes"]["container"]["version"])

    def test_functions_entry_describes_the_container(self):
        fs = self.s.get("/functions").json()["functions"]
        hog = next(f for f in fs if f["name"] == "hog")
        self.assertEqual(hog["runtime_config"]["image"], IMAGE)
        self.assertEqual(hog["runtime_config"]["network"], "none")
        self.assertEqual(hog["runtime_config"]["memory_bytes"], 16 * 1024 * 1024)


class EngineLifecycleTest(unittest.TestCase):
    def test_engine_not_running(self):
        with tempfile.TemporaryDirectory() as d:
            uri = "unix://" + os.path.join(d, "no-engine.sock")
            with Spearlet(base_config([container("upper", ["/bin/tr", "a-z", "A-Z"])],
                                      container={"engine": uri})) as s:
                r = s.execute("upper", "x")
                self.assertEqual(r.status, 500, r)
                res = r.json()["result"]
                self.assertEqual(res["error_code"], "function_failed")
                self.assertIn("container engine not reachable at " + uri, res["error_message"])
                self.assertTrue(wait_until(
                    lambda: s.get("/health").json()["runtimes"]["container"]["state"] == "down",
                    5))
                h = s.get("/health")
                self.assertEqual(h.status, 200)  # the appliance itself is fine
                self.assertIn("not reachable", h.json()["runtimes"]["container"]["error"])

    def test_sigterm_leaves_no_container_behind(self):
        s = Spearlet(base_config([container("forever", ["/bin/sleep", "60"], timeout_ms=60000)],
                                 container={"engine": ENGINE.uri},
                                 limits={"kill_grace_ms": 500}))
        try:
            ids = [s.execute("forever", "", mode="async").json()["execution_id"] for _ in range(3)]
            # Running, and their containers created (the runtime is called before the create).
            self.assertTrue(wait_until(
                lambda: all(s.get(f"/status/{i}").json()["status"] == "running" for i in ids)
                and len(our_containers()) == 3, 15), our_containers())
            self.assertEqual(s.stop(signal.SIGTERM), 0)
        finally:
            s.close()
        self.assertEqual(our_containers(), [])

    def check_config(self, cfg):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "config.json")
            with open(path, "w") as f:
                json.dump(cfg, f)
            r = subprocess.run([SPEARLET, "--config", path, "--check-config"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
            return r.returncode, r.stdout.decode(), r.stderr.decode()

    def test_check_config_reports_images_the_engine_lacks(self):
        functions = [container("present", ["/bin/true"]),
                     container("absent", ["/bin/true"], image="localhost/spear-no-such-image:1")]
        rc, out, err = self.check_config(base_config(functions, container={"engine": ENGINE.uri}))
        self.assertEqual(rc, 1, out + err)
        self.assertIn("functions[1].image: image 'localhost/spear-no-such-image:1' is not in "
                      "the container engine", err)
        self.assertNotIn("functions[0]", err)
        # Every image present: ok.
        rc, out, err = self.check_config(base_config(functions[:1],
                                                     container={"engine": ENGINE.uri}))
        self.assertEqual(rc, 0, out + err)
        # No engine: the images cannot be checked; said, but not an error (it may start later).
        with tempfile.TemporaryDirectory() as d:
            rc, out, err = self.check_config(base_config(
                functions, container={"engine": "unix://" + os.path.join(d, "none.sock")}))
        self.assertEqual(rc, 0, out + err)
        self.assertIn("not reachable", err)
        self.assertIn("not checked", err)

    def test_start_removes_containers_left_by_a_crash(self):
        # A container as an earlier (killed) appliance of this node would have left it.
        status, body = ENGINE.api("POST", "/containers/create?name=spear-leftover", {
            "Image": IMAGE, "Cmd": ["/bin/sleep", "60"],
            "Labels": {"spear-edge.execution": "leftover", "spear-edge.node": "sweep-node",
                       "spear-edge.instance": "0000000000000000"},
            "HostConfig": {"NetworkMode": "none"}})
        self.assertEqual(status, 201, body)
        ENGINE.api("POST", f"/containers/{body['Id']}/start")
        # Another node's container on the same engine is not ours to remove.
        status, other = ENGINE.api("POST", "/containers/create?name=spear-other-node", {
            "Image": IMAGE, "Cmd": ["/bin/true"],
            "Labels": {"spear-edge.execution": "other", "spear-edge.node": "another-node"},
            "HostConfig": {"NetworkMode": "none"}})
        self.assertEqual(status, 201, other)
        try:
            with Spearlet(base_config([container("upper", ["/bin/tr", "a-z", "A-Z"])],
                                      node={"id": "sweep-node"},
                                      container={"engine": ENGINE.uri})) as s:
                self.assertTrue(wait_until(lambda: our_containers("leftover") == [], 15),
                                our_containers())
                self.assertIn("removed 1 container(s) left by an earlier run", s.log())
                self.assertEqual(len(our_containers("other")), 1)
        finally:
            ENGINE.api("DELETE", f"/containers/{other['Id']}?force=true")
            ENGINE.api("DELETE", f"/containers/{body['Id']}?force=true")


if __name__ == "__main__":
    unittest.main()
