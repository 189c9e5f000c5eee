"""The wasm AOT tier (issue 15) beyond the shared suite of test_wasm.py (which runs every wasm
test in both tiers): the compiled-module cache (hit, and a new compile when the module
changes), the fallback of "auto" and the refusal of "aot" without a C compiler, the default
config's primes demo compiled, `spearlet compile`, the worker's seccomp filter refusing
forbidden system calls and its descriptors (probes linked against the worker's ABI), and a
CPU-bound guest's worker gone after a timeout and after a cancel.
"""
import glob
import json
import os
import shutil
import signal
import struct
import subprocess
import tempfile
import time
import unittest

from spear_harness import SPEARLET, Spearlet, base_config, wait_until

import test_wasm
from test_wasm import GUESTS

HERE = os.path.dirname(os.path.abspath(__file__))
ABI_DIR = os.path.join(os.environ.get("SPEAR_SOURCE_DIR", os.path.join(HERE, "..", "..")),
                       "src", "runtime", "wasm", "aot")
SPEARLET_DIR = os.path.dirname(os.path.abspath(SPEARLET)) if os.path.sep in SPEARLET \
    else os.path.dirname(shutil.which(SPEARLET) or ".")
WORKER = os.path.normpath(os.path.join(SPEARLET_DIR, "..", "libexec", "spear-edge",
                                       "spear-wasm-worker"))
NO_CC = {"SPEAR_CC": "/nonexistent/cc"}


def setUpModule():
    test_wasm.setUpModule()
    if not shutil.which("cc") or not shutil.which("wasm2c"):
        raise unittest.SkipTest("no cc or wasm2c: the AOT tier cannot compile here")


def tearDownModule():
    test_wasm.tearDownModule()


def children_of(pid):
    """Pids of the live children of `pid` (all its threads)."""
    out = set()
    for task in glob.glob(f"/proc/{pid}/task/*/children"):
        try:
            with open(task) as f:
                out.update(int(x) for x in f.read().split())
        except OSError:
            pass
    return out


def check_config(config, env=None):
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(config, f)
    try:
        return subprocess.run([SPEARLET, "--config", f.name, "--check-config"],
                              capture_output=True, text=True, timeout=300,
                              env={**os.environ, **(env or {})})
    finally:
        os.unlink(f.name)


class AotCacheAndToolchainTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="spear-aot-")
        self.module = os.path.join(self.tmp.name, "guest.wasm")
        shutil.copy(os.path.join(GUESTS, "echo.wasm"), self.module)
        self.data = os.path.join(self.tmp.name, "data")

    def tearDown(self):
        self.tmp.cleanup()

    def config(self, tier):
        return base_config([{"name": "m", "runtime": "wasm", "module": self.module,
                             "tier": tier, "content_type": "text/plain"}],
                           node={"data_dir": self.data})

    def compiled(self):
        return sorted(glob.glob(os.path.join(self.data, "wasm-aot", "*.so")))

    def test_compiled_once_then_from_the_cache_and_again_when_the_module_changes(self):
        with Spearlet(self.config("aot"), start_timeout=60) as s:
            self.assertIn("tier aot: compiled in", s.log())
            self.assertEqual(s.post("/functions/m/invoke", body=b"first").body, b"first")
        first = self.compiled()
        self.assertEqual(len(first), 1, first)
        with Spearlet(self.config("aot"), start_timeout=60) as s:
            self.assertIn("tier aot: compiled module from the cache", s.log())
            self.assertNotIn("compiled in", s.log())
            self.assertEqual(s.post("/functions/m/invoke", body=b"again").body, b"again")
        self.assertEqual(self.compiled(), first)
        # Another module at the same path: a new key (its sha256), compiled afresh.
        shutil.copy(os.path.join(GUESTS, "trap.wasm"), self.module)
        with Spearlet(self.config("aot"), start_timeout=60) as s:
            self.assertIn("tier aot: compiled in", s.log())
            res = s.execute("m", "div0").json()["result"]
            self.assertIn("wasm trap: integer divide by zero", res["error_message"])
        self.assertEqual(len(self.compiled()), 2)

    def test_auto_falls_back_to_the_interpreter_without_a_compiler(self):
        with Spearlet(self.config("auto"), env=NO_CC) as s:
            line = next((l for l in s.log().splitlines() if "falls back" in l), "")
            self.assertIn("tier auto falls back to the interpreter", line, s.log())
            self.assertIn("no C compiler", line)
            fn = s.get("/functions").json()["functions"][0]["runtime_config"]
            self.assertEqual((fn["tier"], fn["tier_in_use"]), ("auto", "interpreter"))
            self.assertEqual(s.post("/functions/m/invoke", body=b"still runs").body,
                             b"still runs")
        self.assertEqual(self.compiled(), [])
        self.assertEqual(check_config(self.config("auto"), NO_CC).returncode, 0)

    def test_aot_without_a_compiler_fails_check_config_clearly(self):
        p = check_config(self.config("aot"), NO_CC)
        self.assertEqual(p.returncode, 1, p)
        self.assertIn("functions[0].tier", p.stderr)
        self.assertIn("no C compiler ('cc') was found (install gcc)", p.stderr)
        # A start logs it, and the function fails clearly instead of running elsewhere.
        with Spearlet(self.config("aot"), env=NO_CC) as s:
            self.assertIn("tier aot is not available", s.log())
            res = s.execute("m", "x").json()["result"]
            self.assertEqual((res["status"], res["error_code"]), ("failed", "function_failed"))
            self.assertIn("could not be compiled", res["error_message"])

    def test_aot_refuses_fuel(self):
        cfg = self.config("aot")
        cfg["functions"][0]["fuel"] = 1000
        p = check_config(cfg)
        self.assertEqual(p.returncode, 1, p)
        self.assertIn("functions[0].tier", p.stderr)
        self.assertIn("fuel applies to the interpreter tier only", p.stderr)

    def test_the_default_config_runs_the_primes_demo_compiled(self):
        cache = os.path.join(self.tmp.name, "xdg")
        with Spearlet(None, args=["--port", "0", "--frame-port", "0"],
                      env={"XDG_CACHE_HOME": cache}, start_timeout=60) as s:
            fns = {f["name"]: f for f in s.get("/functions").json()["functions"]}
            cfg = fns["wasm-primes"]["runtime_config"]
            self.assertEqual((cfg["tier"], cfg["tier_in_use"]), ("auto", "aot"))
            res = s.execute("wasm-primes", "100000").json()["result"]
            self.assertEqual(res["output"]["data"], "9592 primes up to 100000\n")
        self.assertEqual(len(glob.glob(os.path.join(cache, "spear-edge", "wasm-aot", "*.so"))), 1)

    def test_compile_subcommand(self):
        out = os.path.join(self.tmp.name, "echo.so")
        p = subprocess.run([SPEARLET, "compile", self.module, "-o", out],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p)
        self.assertTrue(os.path.getsize(out) > 0)
        bad = os.path.join(self.tmp.name, "bad.wasm")
        with open(bad, "wb") as f:
            f.write(b"\0asm\x01\0\0\0nonsense")
        p = subprocess.run([SPEARLET, "compile", bad, "-o", out + "2"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 1, p)
        self.assertIn("not a valid WebAssembly module", p.stderr)
        self.assertFalse(os.path.exists(out + "2"))


PROBE_C = r"""
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include "aot_abi.h"

static const char* written;
static int instantiate(spear_aot_host_fn h, void* c, uint32_t m, char* e, size_t n) {
  (void)h; (void)c; (void)m; (void)e; (void)n; written = getenv("PROBE_FILE"); return 0;
}
static int call(uint32_t index, int32_t* result, const char** message) {
  (void)message;
  *result = 2; /* the call came back: the filter let it through */
  switch (index) {
  case 0: *result = 7; break;
  case 1: if (socket(AF_INET, SOCK_STREAM, 0) >= 0) *result = 1; break;
  case 2: if (open("PROBE_PATH", O_WRONLY | O_CREAT, 0600) >= 0) *result = 1; break;
  case 3: { char* argv[] = {"/bin/true", 0}; execv("/bin/true", argv); break; }
  case 4: if (fork() >= 0) *result = 1; break;
  case 5: if (mmap(0, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
              != MAP_FAILED) *result = 1; break;
  case 6: /* descriptors open beyond stdin, stdout and stderr */
    *result = 0;
    for (int fd = 3; fd < 1024; ++fd)
      if (fcntl(fd, F_GETFD) >= 0) ++*result;
    break;
  }
  return 0;
}
static void pages(uint32_t* p, uint32_t* m) { *p = 0; *m = 0; }
static const struct spear_aot_import imports[] = {{0, 0, 0, 0}};
static const struct spear_aot_export exports[] = {
  {"ok", 1}, {"socket", 1}, {"open_write", 1}, {"exec", 1}, {"fork", 1}, {"mmap_exec", 1},
  {"fds", 1}};
__attribute__((visibility("default"))) const struct spear_aot_module spear_aot_module_v1 = {
  SPEAR_AOT_ABI_VERSION, 0, imports, 7, exports, instantiate, call, pages};
"""


def worker_request(calls, inp=b"", pages=16):
    def text(b):
        b = b.encode() if isinstance(b, str) else b
        return struct.pack("<I", len(b)) + b

    def lst(items):
        return struct.pack("<I", len(items)) + b"".join(text(x) for x in items)
    return (b"SPEAR-AOT-1\n" + struct.pack("<I", pages) + lst(calls) + lst(["probe"]) + lst([])
            + struct.pack("<I", 0) + text(inp))


def frames(out):
    result = []
    while len(out) >= 5:
        kind, n = out[0], struct.unpack("<I", out[1:5])[0]
        result.append((kind, out[5:5 + n]))
        out = out[5 + n:]
    return result


class AotWorkerSandboxTest(unittest.TestCase):
    """The worker's seccomp filter, probed by a module linked against its ABI by hand."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="spear-aot-probe-")
        cls.forbidden_file = os.path.join(cls.tmp.name, "written-by-the-probe")
        src = os.path.join(cls.tmp.name, "probe.c")
        with open(src, "w") as f:
            f.write(PROBE_C.replace("PROBE_PATH", cls.forbidden_file))
        cls.probe = os.path.join(cls.tmp.name, "probe.so")
        subprocess.run(["cc", "-O1", "-fPIC", "-shared", "-fvisibility=hidden", "-I" + ABI_DIR,
                        src, "-o", cls.probe], check=True, timeout=60)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def run_worker(self, call):
        return subprocess.run([WORKER, self.probe, "16"], input=worker_request([call]),
                              capture_output=True, timeout=30, env={})

    def test_an_allowed_path_completes(self):
        p = self.run_worker("ok")
        self.assertEqual(p.returncode, 0, p.stderr)
        kind, payload = frames(p.stdout)[-1]
        self.assertEqual((kind, struct.unpack("<I", payload[:4])[0]), (3, 7))  # exit code 7

    def test_forbidden_system_calls_kill_the_worker(self):
        for call in ("socket", "open_write", "exec", "fork", "mmap_exec"):
            p = self.run_worker(call)
            self.assertEqual(p.returncode, -signal.SIGSYS, (call, p.stdout, p.stderr[-500:]))
            self.assertEqual(frames(p.stdout), [], call)  # no result: it died in the call
        self.assertFalse(os.path.exists(self.forbidden_file))

    def plant(self, guest_name, entry_export):
        """A config running a copy of `guest_name` in the AOT tier whose compiled form in the
        cache is replaced by the probe, with `entry_export` as its _start (which is why the
        cache directory must be private: docs/wasm.md)."""
        data = os.path.join(self.tmp.name, "data-" + entry_export)
        module = os.path.join(self.tmp.name, guest_name + ".wasm")
        shutil.copy(os.path.join(GUESTS, guest_name + ".wasm"), module)
        cfg = base_config([{"name": "m", "runtime": "wasm", "module": module, "tier": "aot",
                            "entry": "_start"}], node={"data_dir": data})
        self.assertEqual(check_config(cfg).returncode, 0)
        compiled = glob.glob(os.path.join(data, "wasm-aot", "*.so"))
        self.assertEqual(len(compiled), 1)
        src = os.path.join(self.tmp.name, "probe_" + entry_export + ".c")
        with open(src, "w") as f:
            f.write(PROBE_C.replace("PROBE_PATH", self.forbidden_file)
                    .replace('{"%s", 1}' % entry_export, '{"_start", 1}'))
        subprocess.run(["cc", "-fPIC", "-shared", "-fvisibility=hidden", "-I" + ABI_DIR, src,
                        "-o", compiled[0]], check=True, timeout=60)
        return cfg

    def test_spearlet_reports_a_worker_killed_by_its_filter(self):
        with Spearlet(self.plant("echo", "socket"), start_timeout=60) as s:
            res = s.execute("m", "x").json()["result"]
            self.assertEqual((res["status"], res["error_code"]), ("failed", "function_failed"))
            self.assertIn("killed by signal 31 (SIGSYS)", res["error_message"])
            self.assertIn("system call its sandbox forbids", res["error_message"])
            self.assertEqual(s.get("/health").status, 200)

    def test_the_worker_holds_no_descriptor_beyond_its_pipes(self):
        # Started by spearlet (which holds listening sockets, the client's connection, the
        # other workers' pipes): the guest's code finds nothing open beyond 0, 1 and 2.
        with Spearlet(self.plant("trap", "fds"), start_timeout=60) as s:
            res = s.execute("m", "x").json()["result"]
            self.assertEqual((res["status"], res["exit_code"]), ("completed", 0), res)


class AotWorkerLifetimeTest(unittest.TestCase):
    """A CPU-bound guest's worker is killed by timeout and by cancel, and is gone after."""

    @classmethod
    def setUpClass(cls):
        cls.data = tempfile.TemporaryDirectory(prefix="spear-aot-life-")
        fs = [{"name": "primes", "runtime": "wasm", "module": test_wasm.guest("primes"),
               "tier": "aot", "timeout_ms": 1000, "content_type": "text/plain"},
              {"name": "primes_long", "runtime": "wasm", "module": test_wasm.guest("primes"),
               "tier": "aot", "timeout_ms": 120000, "content_type": "text/plain"}]
        cls.s = Spearlet(base_config(fs, node={"data_dir": cls.data.name}), start_timeout=60)

    @classmethod
    def tearDownClass(cls):
        cls.s.close()
        cls.data.cleanup()

    def workers(self):
        return children_of(self.s.proc.pid)

    def spares(self):
        """The idle workers (one per function, started ahead of need), once both are up."""
        self.assertTrue(wait_until(lambda: len(self.workers()) == 2, timeout=10), self.workers())
        return self.workers()

    def test_timeout_kills_the_worker(self):
        before = self.spares()
        t0 = time.monotonic()
        res = self.s.execute("primes", "4000000000").json()["result"]
        self.assertEqual((res["status"], res["error_code"]), ("timeout", "timeout"))
        self.assertLess(time.monotonic() - t0, 5)
        # The worker that ran (one of the spares) is gone; a new spare took its place.
        after = self.spares()
        self.assertEqual(len(before - after), 1, (before, after))
        for pid in before - after:
            self.assertFalse(os.path.exists(f"/proc/{pid}"), pid)

    def test_cancel_kills_the_worker(self):
        before = self.spares()
        eid = self.s.execute("primes_long", "4000000000", mode="async").json()["execution_id"]
        self.assertTrue(wait_until(
            lambda: self.s.get(f"/status/{eid}").json()["status"] == "running", timeout=10))
        self.assertEqual(self.workers(), before)  # the spare runs it; the next starts after
        t0 = time.monotonic()
        self.assertEqual(self.s.post(f"/executions/{eid}/cancel").status, 200)
        self.assertEqual(self.s.wait_status(eid, timeout=10)["status"], "cancelled")
        self.assertLess(time.monotonic() - t0, 2.0)
        after = self.spares()
        self.assertEqual(len(before - after), 1, (before, after))
        for pid in before - after:
            self.assertFalse(os.path.exists(f"/proc/{pid}"), pid)


if __name__ == "__main__":
    unittest.main()
