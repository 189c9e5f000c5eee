"""GET /metrics (issue 18): the Prometheus text format passes Debian's `promtool check metrics`,
follows the bearer-token rule, and its figures move with invocations; a real `prometheus`
from Debian scrapes it on loopback and answers a query for one series."""
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.parse
import urllib.request

from spear_harness import Spearlet, base_config, sh, wait_until

TOKEN = "metrics-test-token"
AUTH = {"Authorization": "Bearer " + TOKEN}
FUNCTIONS = [
    {"name": "echo", "command": ["cat"]},
    sh("echo no >&2; exit 3", "fail"),
    sh("sleep 1.5", "slow", max_concurrency=1, queue_depth=1),  # long enough to scrape it busy
    # A wasm guest: the one runtime that measures its instance's memory (faas_mem_usage).
    {"name": "wasm-echo", "runtime": "wasm",
     "module": "$ORIGIN/../share/spear-edge/functions/wasm/echo.wasm"},
]
ALLOWED_LINT = {'gateway_service_count non-histogram and non-summary metrics should not have '
                '"_count" suffix'}
SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text):
    """{(name, frozenset of (label, value)): float} for every sample line."""
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE_RE.match(line)
        if not m:
            raise AssertionError("not a sample line: " + line)
        labels = frozenset(LABEL_RE.findall(m.group(3) or ""))
        samples[(m.group(1), labels)] = float(m.group(4))
    return samples


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0.0)


def need_tool(test, name):
    """The tool's path; a missing tool skips locally but FAILS in CI (tools/dev installs it)."""
    path = shutil.which(name)
    if path:
        return path
    if os.environ.get("CI"):
        test.fail(f"{name} is not installed (tools/dev deps installs the prometheus package)")
    test.skipTest(f"{name} is not installed (apt-get install prometheus)")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MetricsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s = Spearlet(base_config(FUNCTIONS, http={"auth_token": TOKEN}))

    @classmethod
    def tearDownClass(cls):
        cls.s.close()

    def scrape(self):
        r = self.s.get("/metrics", headers=AUTH)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("Content-Type"), "text/plain; version=0.0.4; charset=utf-8")
        return r.body.decode()

    def test_metrics_needs_the_token_like_every_route_but_health(self):
        self.assertEqual(self.s.get("/metrics").status, 401)
        self.assertEqual(self.s.get("/metrics", headers={"Authorization": "Bearer wrong"}).status,
                         401)
        self.assertEqual(self.s.get("/health").status, 200)
        self.assertEqual(self.s.post("/metrics", b"", headers=AUTH).status, 405)

    def test_promtool_finds_no_problem(self):
        promtool = need_tool(self, "promtool")
        self.s.execute("echo", "lint me", headers=AUTH)
        text = self.scrape()
        p = subprocess.run([promtool, "check", "metrics"], input=text.encode(),
                           capture_output=True, timeout=30)
        findings = [line for line in (p.stdout + p.stderr).decode().splitlines() if line.strip()]
        # Exit 0: clean; 3: lint findings only (a parse error is 1). The one finding allowed is
        # OpenFaaS's own name, kept so its dashboards work (docs/operations.md, Metrics).
        self.assertIn(p.returncode, (0, 3), findings)
        self.assertEqual([f for f in findings if f not in ALLOWED_LINT], [])

    def test_figures_move_with_invocations(self):
        before = parse(self.scrape())
        for _ in range(3):
            self.assertEqual(self.s.execute("echo", "hi", headers=AUTH).status, 200)
        self.assertEqual(self.s.execute("fail", "x", headers=AUTH).status, 500)
        self.assertEqual(self.s.execute("wasm-echo", "guest", headers=AUTH).status, 200)
        r = self.s.execute("echo", "later", mode="async", headers=AUTH)
        self.assertEqual(r.status, 202, r)
        execution_id = r.json()["execution_id"]
        deadline = time.monotonic() + 20
        while self.s.get(f"/status/{execution_id}", headers=AUTH).json()["status"] != "completed":
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.02)
        after = parse(self.scrape())

        def moved(name, **labels):
            return value(after, name, **labels) - value(before, name, **labels)

        self.assertEqual(moved("spearlet_executions_total", function="echo", mode="sync",
                               status="completed"), 3)
        self.assertEqual(moved("spearlet_executions_total", function="echo", mode="async",
                               status="completed"), 1)
        self.assertEqual(moved("spearlet_executions_total", function="fail", mode="sync",
                               status="failed"), 1)
        self.assertEqual(moved("gateway_function_invocation_total", function_name="echo",
                               code="200"), 4)
        self.assertEqual(moved("gateway_function_invocation_total", function_name="fail",
                               code="500"), 1)
        self.assertEqual(moved("faas_errors_total", faas_name="fail"), 1)
        self.assertEqual(moved("spearlet_execution_duration_seconds_count", function="echo"), 4)
        self.assertEqual(moved("spearlet_queue_wait_seconds_count", function="echo"), 4)
        self.assertEqual(moved("gateway_functions_seconds_count", function_name="echo",
                               code="200"), 4)
        self.assertEqual(moved("spearlet_estimate_error_seconds_count", function="echo"), 4)
        # Every execution starts a fresh instance: one cold start each.
        self.assertEqual(moved("faas_coldstarts_total", faas_name="echo"), 4)
        self.assertEqual(moved("faas_coldstarts_total", faas_name="wasm-echo"), 1)
        # The wasm guest's linear memory (whole 64 KiB pages); processes are not measured.
        self.assertEqual(moved("faas_mem_usage_bytes_count", faas_name="wasm-echo"), 1)
        mem = moved("faas_mem_usage_bytes_sum", faas_name="wasm-echo")
        self.assertGreaterEqual(mem, 65536)
        self.assertEqual(mem % 65536, 0)
        self.assertEqual(value(after, "faas_mem_usage_bytes_count", faas_name="echo"), 0)
        self.assertEqual(value(after, "spearlet_execution_duration_seconds_bucket",
                               function="echo", le="+Inf"),
                         value(after, "spearlet_execution_duration_seconds_count",
                               function="echo"))
        self.assertGreater(moved("spearlet_http_requests_total", route="/functions",
                                 code="200"), 0)
        self.assertEqual(value(after, "gateway_service_count", function_name="slow"), 1)
        self.assertGreater(value(after, "spearlet_status_table_records", status="completed"), 0)
        self.assertGreater(value(after, "process_resident_memory_bytes"), 1 << 20)
        self.assertGreater(value(after, "process_open_fds"), 2)
        self.assertGreater(value(after, "process_start_time_seconds"), time.time() - 3600)
        self.assertLessEqual(value(after, "process_start_time_seconds"), time.time() + 1)

    def test_gauges_and_refusals_while_busy(self):
        before = parse(self.scrape())
        ids = []
        for _ in range(2):  # one runs, one queues (max_concurrency 1, queue_depth 1)
            r = self.s.execute("slow", mode="async", headers=AUTH)
            self.assertEqual(r.status, 202, r)
            ids.append(r.json()["execution_id"])
        refused = self.s.execute("slow", mode="async", headers=AUTH)
        self.assertEqual(refused.status, 429, refused)
        busy = parse(self.scrape())
        self.assertEqual(value(busy, "spearlet_executions_running", function="slow"), 1)
        self.assertEqual(value(busy, "spearlet_executions_queued", function="slow"), 1)
        self.assertEqual(value(busy, "spearlet_refusals_total", code="429", reason="queue_full")
                         - value(before, "spearlet_refusals_total", code="429",
                                 reason="queue_full"), 1)
        for execution_id in ids:
            deadline = time.monotonic() + 20
            while self.s.get(f"/status/{execution_id}",
                             headers=AUTH).json()["status"] != "completed":
                self.assertLess(time.monotonic(), deadline)
                time.sleep(0.02)
        idle = parse(self.scrape())
        self.assertEqual(value(idle, "spearlet_executions_running", function="slow"), 0)
        self.assertEqual(value(idle, "spearlet_executions_queued", function="slow"), 0)


class FrameMetricsTest(unittest.TestCase):
    """Frame links and bad frames (no token: a loopback frame link needs none)."""

    def test_links_and_bad_frames_are_counted(self):
        cfg = base_config([{"name": "echo", "command": ["cat"]}],
                          frame={"tcp": {"enabled": True, "address": "127.0.0.1", "port": 0}})
        with Spearlet(cfg) as s:
            m = re.search(r"serving frames on tcp://([0-9.]+):(\d+)", s.log())
            self.assertTrue(m, s.log())
            before = parse(s.get("/metrics").body.decode())
            self.assertEqual(value(before, "spearlet_frame_links"), 0)
            with socket.create_connection((m.group(1), int(m.group(2))), timeout=10) as c:
                self.assertTrue(wait_until(lambda: value(
                    parse(s.get("/metrics").body.decode()), "spearlet_frame_links") == 1))
                c.sendall(b"\xff" * 11)  # a length prefix over 10 bytes: fatal for the link
                c.settimeout(10)
                while c.recv(4096):  # the error frame, then the close
                    pass
            self.assertTrue(wait_until(lambda: value(
                parse(s.get("/metrics").body.decode()), "spearlet_frame_links") == 0))
            after = parse(s.get("/metrics").body.decode())
            self.assertEqual(value(after, "spearlet_frame_bad_frames_total", reason="bad_varint"),
                             1)


class PrometheusScrapeTest(unittest.TestCase):
    """A real Prometheus (Debian's) scrapes the appliance every second on loopback."""

    def test_prometheus_scrapes_and_answers_a_query(self):
        prometheus = need_tool(self, "prometheus")
        with Spearlet(base_config([{"name": "echo", "command": ["cat"]}],
                                  http={"auth_token": TOKEN})) as s, \
                tempfile.TemporaryDirectory(prefix="spear-prom-") as tmp:
            for _ in range(2):
                self.assertEqual(s.execute("echo", "hi", headers=AUTH).status, 200)
            config = os.path.join(tmp, "prometheus.yml")
            with open(config, "w") as f:  # JSON is YAML
                json.dump({"global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
                           "scrape_configs": [{
                               "job_name": "spearlet",
                               "authorization": {"credentials": TOKEN},
                               "static_configs": [{"targets": [f"{s.host}:{s.port}"]}]}]}, f)
            port = free_port()
            with open(os.path.join(tmp, "prometheus.log"), "wb") as log:
                proc = subprocess.Popen(
                    [prometheus, "--config.file", config, "--storage.tsdb.path",
                     os.path.join(tmp, "data"), "--web.listen-address", f"127.0.0.1:{port}"],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
                try:
                    result = self.query_until_found(
                        proc, port, 'spearlet_executions_total{function="echo"}', tmp)
                finally:
                    proc.terminate()  # by its PID: the process this test started
                    try:
                        proc.wait(timeout=20)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait(timeout=5)
        self.assertEqual(result[0]["metric"]["job"], "spearlet")
        self.assertEqual(result[0]["metric"]["status"], "completed")
        self.assertEqual(float(result[0]["value"][1]), 2)

    def query_until_found(self, proc, port, query, tmp):
        url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": query})
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback only
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                with open(os.path.join(tmp, "prometheus.log")) as f:
                    self.fail("prometheus exited: " + f.read()[-2000:])
            try:
                with opener.open(url, timeout=5) as r:
                    body = json.load(r)
                if body.get("status") == "success" and body["data"]["result"]:
                    return body["data"]["result"]
            except OSError:
                pass  # not listening yet
            time.sleep(0.25)
        with open(os.path.join(tmp, "prometheus.log")) as f:
            self.fail("no sample of " + query + " within 60 s: " + f.read()[-2000:])


if __name__ == "__main__":
    unittest.main()
