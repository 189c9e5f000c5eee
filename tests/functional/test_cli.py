"""The command line and the embedded default config, as a new user meets them."""
import json
import os
import re
import subprocess
import tempfile
import unittest

from spear_harness import SOURCE_DIR, SPEARLET, Spearlet, base_config

SPEAR_PEER = os.environ.get("SPEAR_PEER") or os.path.join(
    os.path.dirname(os.path.abspath(SPEARLET)), "..", "tools", "peer", "spear-peer")


def run(*args, timeout=20):
    return subprocess.run([SPEARLET, *args], capture_output=True, text=True, timeout=timeout)


class CliTest(unittest.TestCase):
    def test_version_and_help(self):
        p = run("--version")
        self.assertEqual(p.returncode, 0)
        self.assertRegex(p.stdout, r"^spearlet \d+\.\d+\.\d+ \(git ([0-9a-f]{4,40}|unknown)\)\n$")
        inside_checkout = subprocess.run(["git", "-C", SOURCE_DIR, "rev-parse", "--short", "HEAD"],
                                         capture_output=True, text=True)
        if inside_checkout.returncode == 0:  # the revision the build was configured at
            self.assertRegex(p.stdout, r"\(git [0-9a-f]{4,40}\)")
        p = run("--help")
        self.assertEqual(p.returncode, 0)
        self.assertIn("--config", p.stdout)
        self.assertIn("--check-config", p.stdout)

    def test_port_arguments_are_checked(self):
        for flag in ("--port", "--frame-port"):
            for bad in ("x", "-1", "65536", ""):
                p = run(flag, bad)
                self.assertEqual(p.returncode, 2, (flag, bad))
                self.assertIn(flag + " must be 0..65535", p.stderr)
        p = run("--log-format", "xml")
        self.assertEqual(p.returncode, 2)
        self.assertIn("--log-format must be plain or json", p.stderr)

    def test_unknown_argument(self):
        p = run("--frobnicate")
        self.assertEqual(p.returncode, 2)
        self.assertIn("--frobnicate", p.stderr)

    def test_check_default_config(self):
        p = run("--check-config")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("ok", p.stdout)

    def test_check_config_reports_every_error_with_path(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "bad.jsonc")
            with open(path, "w") as f:
                f.write("""{
                  // comments are fine
                  "http": {"prot": 8080, "port": "x",},
                  "functions": [{"name": "a", "command": ["true"], "timeout_ms": 0}],
                }""")
            p = run("--config", path, "--check-config")
            self.assertEqual(p.returncode, 1)
            self.assertIn("http.prot", p.stderr)
            self.assertIn("http.port", p.stderr)
            self.assertIn("functions[0].timeout_ms", p.stderr)

    def test_missing_config_file(self):
        p = run("--config", "/nonexistent/spear.json")
        self.assertEqual(p.returncode, 1)
        self.assertIn("cannot read", p.stderr)

    def test_print_default_config_is_the_embedded_one(self):
        p = run("--print-default-config")
        self.assertEqual(p.returncode, 0)
        self.assertIn('"functions"', p.stdout)
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "default.jsonc")
            with open(path, "w") as f:
                f.write(p.stdout)
            self.assertEqual(run("--config", path, "--check-config").returncode, 0)


class DefaultConfigTest(unittest.TestCase):
    """The README's run command: the embedded default config and its demo functions."""

    def test_demo_functions_work(self):
        # Ports 0: tests run in parallel; the default ports 8080 and 7070 are for users.
        with Spearlet(args=["--port", "0", "--frame-port", "0"]) as s:
            self.assertIn("embedded default config", s.log())
            self.assertEqual(s.host, "127.0.0.1")
            # The start-up line names all the ingress paths: HTTP and frames on TCP.
            line = next(l for l in s.log().splitlines() if "serving HTTP" in l)
            m = re.search(r"serving frames on tcp://127\.0\.0\.1:(\d+)", line)
            self.assertTrue(m, line)
            if os.access(SPEAR_PEER, os.X_OK) or os.environ.get("CI"):
                r = subprocess.run([SPEAR_PEER, "--tcp", f"127.0.0.1:{m.group(1)}", "invoke",
                                    "uppercase", "--mode", "sync", "--input", "frames"],
                                   capture_output=True, text=True, timeout=60)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertIn("output: FRAMES", r.stdout)
            r = s.post("/functions/echo/invoke", body=b"hello")
            self.assertEqual((r.status, r.body), (200, b"hello"))
            r = s.post("/functions/uppercase/invoke", body=b"hello")
            self.assertEqual((r.status, r.body), (200, b"HELLO"))
            r = s.post("/functions/wordcount/invoke", body=b"one two three")
            self.assertEqual(r.status, 200)
            self.assertEqual(r.body.strip(), b"3")
            r = s.execute("slow", "300", mode="async")
            self.assertEqual(r.status, 202)
            done = s.wait_status(r.json()["execution_id"])
            self.assertEqual(done["status"], "completed")
            self.assertGreaterEqual(done["result"]["execution_time_ms"], 250)
            r = s.execute("slow", "abc")
            self.assertEqual(r.status, 500)
            self.assertEqual(r.json()["result"]["exit_code"], 2)
            code = s.stop()
            self.assertEqual(code, 0)


if __name__ == "__main__":
    unittest.main()


class LogFormatTest(unittest.TestCase):
    def test_json_lines(self):
        cfg = base_config([{"name": "echo", "command": ["cat"]}])
        with Spearlet(cfg, args=["--log-format", "json"]) as s:
            self.assertEqual(s.post("/functions/echo/invoke", body=b"x").status, 200)
            self.assertEqual(s.stop(), 0)
            lines = s.log().splitlines()
        self.assertGreaterEqual(len(lines), 2)  # start-up and shutdown at least
        for line in lines:
            entry = json.loads(line)  # every line is one JSON object
            self.assertEqual(set(entry), {"time", "level", "message"}, line)
            self.assertRegex(entry["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
            self.assertIn(entry["level"], ("debug", "info", "warn", "error"))
        self.assertTrue(any("serving HTTP on http://127.0.0.1:" in json.loads(l)["message"]
                            for l in lines))

    def test_config_field_selects_json_and_the_command_line_wins(self):
        cfg = base_config([{"name": "echo", "command": ["cat"]}])
        cfg["node"] = {"log_format": "json"}
        with Spearlet(cfg) as s:
            first = s.log().splitlines()[0]
        self.assertEqual(json.loads(first)["level"], "info")
        with Spearlet(cfg, args=["--log-format", "plain"]) as s:
            first = s.log().splitlines()[0]
        self.assertRegex(first, r"^\d{4}-\d\d-\d\dT[0-9:.]+Z info ")

    def test_bad_config_log_format_names_the_field(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "bad.jsonc")
            with open(path, "w") as f:
                f.write('{"node": {"log_format": "xml"}, "functions": [{"name": "a", "command": ["true"]}]}')
            p = run("--config", path, "--check-config")
        self.assertEqual(p.returncode, 1)
        self.assertIn('node.log_format: must be "plain" or "json"', p.stderr)

    def test_plain_is_the_default(self):
        cfg = base_config([{"name": "echo", "command": ["cat"]}])
        with Spearlet(cfg) as s:
            first = s.log().splitlines()[0]
        self.assertRegex(first, r"^\d{4}-\d\d-\d\dT[0-9:.]+Z info ")
