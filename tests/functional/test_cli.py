"""The command line and the embedded default config, as a new user meets them."""
import json
import os
import subprocess
import tempfile
import unittest

from spear_harness import SPEARLET, Spearlet


def run(*args, timeout=20):
    return subprocess.run([SPEARLET, *args], capture_output=True, text=True, timeout=timeout)


class CliTest(unittest.TestCase):
    def test_version_and_help(self):
        p = run("--version")
        self.assertEqual(p.returncode, 0)
        self.assertRegex(p.stdout, r"^spearlet \d+\.\d+\.\d+")
        p = run("--help")
        self.assertEqual(p.returncode, 0)
        self.assertIn("--config", p.stdout)
        self.assertIn("--check-config", p.stdout)

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
        with Spearlet(args=["--port", "0"]) as s:
            self.assertIn("embedded default config", s.log())
            self.assertEqual(s.host, "127.0.0.1")
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
