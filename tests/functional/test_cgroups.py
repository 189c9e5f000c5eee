"""Per-execution cgroups (issue 12, process.cgroups): with a cgroup of its own, the appliance
runs each process execution in <its cgroup>/exec-<n> and kills that cgroup when the run ends,
so processes that left the group (setsid, double forks) die with their own execution at once,
a neighbour's orphan is spared, the directories are removed, and leftovers of a crashed run
are cleaned at start. Needs a writable cgroup2 mount (root); skips with the reason otherwise.

The test makes its own cgroup under the cgroup2 mount (spear-test-<pid>), starts spearlet in
it, and at the end kills what is left in it and removes it; it kills only processes it
started, by PID."""
import os
import json
import signal
import subprocess
import sys
import tempfile
import time
import unittest

from spear_harness import SPEARLET, Spearlet, base_config, marked, sh, wait_until


def cgroup2_mount():
    """The first cgroup2 mount point whose root is the hierarchy's root, or None."""
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                fields = line.split()
                dash = fields.index("-")
                if fields[dash + 1] == "cgroup2" and fields[3] == "/":
                    return fields[4].replace("\\040", " ")
    except (OSError, ValueError, IndexError):
        pass
    return None


MOUNT = cgroup2_mount()
BASE = os.path.join(MOUNT, f"spear-test-{os.getpid()}") if MOUNT else None


def unavailable():
    """Why per-execution cgroups cannot be tested here (a reason string), or None."""
    if os.getuid() != 0:
        return "cgroup tests need root (a writable cgroup2 mount); running as uid %d" % os.getuid()
    if not MOUNT:
        return "no cgroup2 file system is mounted"
    probe = BASE + "-probe"
    try:
        os.mkdir(probe)
        os.rmdir(probe)
    except OSError as e:
        return f"cannot create a cgroup under {MOUNT}: {e}"
    return None


REASON = unavailable()
if REASON:
    print(f"test_cgroups skipped: {REASON}", file=sys.stderr)


def joiner(directory):
    """A preexec_fn that moves the child into cgroup `directory` (writing "0" moves the writer)."""
    def join():
        with open(os.path.join(directory, "cgroup.procs"), "w") as f:
            f.write("0")
    return join


def exec_dirs(directory):
    return sorted(n for n in os.listdir(directory) if n.startswith("exec-"))


def remove_cgroup(directory):
    """Kills what is left in `directory` and below, then removes it (children first)."""
    if not os.path.isdir(directory):
        return
    for name in os.listdir(directory):
        child = os.path.join(directory, name)
        if os.path.isdir(child):
            remove_cgroup(child)
    kill_file = os.path.join(directory, "cgroup.kill")
    if os.path.exists(kill_file):
        with open(kill_file, "w") as f:
            f.write("1")
    else:
        with open(os.path.join(directory, "cgroup.procs")) as f:
            for pid in f.read().split():
                os.kill(int(pid), signal.SIGKILL)

    def removed():
        try:
            os.rmdir(directory)
            return True
        except FileNotFoundError:
            return True
        except OSError:
            return False
    assert wait_until(removed, timeout=5.0), f"cannot remove {directory}"


FUNCTIONS = [
    # Double forks out of the group, seven deep: each level (its own session) starts the next
    # and stays alive as its parent (`exec sleep 321.2<d>`), so when the run ends only the top
    # one is the appliance's child: a sweep alone reaches one level per round (50 ms apart).
    sh('setsid /bin/sh -c "$CHAIN" chain 6 </dev/null >/dev/null 2>&1 & sleep 0.4; echo started',
       "escape",
       env={"CHAIN": 'd=$1; if [ "$d" -gt 0 ]; then setsid /bin/sh -c "$CHAIN" chain $((d-1)) '
                     '</dev/null >/dev/null 2>&1 & fi; exec sleep 321.2$d'}),
    # A neighbour that daemonises a helper (orphaned: the appliance's child), lets another
    # execution end meanwhile, then says whether its helper survived that.
    sh("pid=$(sh -c 'setsid sleep 322.25 </dev/null >/dev/null 2>&1 & echo $!'); "
       "echo ready >&2; sleep 1.5; "
       "if grep -q '^State:[[:space:]]*[^Z]' /proc/$pid/status 2>/dev/null; "
       "then echo helper-alive; else echo helper-dead; fi; kill -9 $pid 2>/dev/null; true",
       "neighbour", timeout_ms=10000),
    sh("sleep 323.25 & setsid sleep 323.5 </dev/null >/dev/null 2>&1 & echo ready; sleep 30",
       "slow", timeout_ms=300),
    # Root may make cgroups inside its own: they are removed with it.
    sh('d=$(sed -n "s/^0:://p" /proc/self/cgroup); mkdir "$CGMOUNT$d/inner" && '
       'echo 0 > "$CGMOUNT$d/inner/cgroup.procs" && '
       '(setsid sleep 325.25 </dev/null >/dev/null 2>&1 &) && echo made',
       "nested", env={"CGMOUNT": MOUNT or ""}),
    {"name": "echo", "command": ["cat"]},
]


@unittest.skipIf(REASON, REASON)
class PerExecutionCgroupsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        os.mkdir(BASE)
        try:
            # What systemd's Delegate=yes marks a unit's cgroup with.
            os.setxattr(BASE, "user.delegate", b"1")
            # A leftover of a crashed run, with a process in it: cleaned at start.
            cls.stale = os.path.join(BASE, "exec-999")
            os.mkdir(cls.stale)
            cls.stale_proc = subprocess.Popen(["sleep", "324.25"], preexec_fn=joiner(cls.stale))
            cls.s = Spearlet(base_config(FUNCTIONS, limits={"kill_grace_ms": 200}),
                             preexec_fn=joiner(BASE))
        except BaseException:
            remove_cgroup(BASE)
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            cls.s.close()
        finally:
            if cls.stale_proc.poll() is None:
                cls.stale_proc.kill()
            cls.stale_proc.wait(timeout=5)
            remove_cgroup(BASE)

    def test_health_and_log_say_where(self):
        cg = self.s.get("/health").json()["runtimes"]["process"]["cgroups"]
        self.assertEqual(cg["active"], True, cg)
        self.assertEqual(cg["mode"], "auto")
        self.assertEqual(cg["directory"], BASE)
        self.assertIn(f"per-execution cgroups: on, exec-<n> in {BASE}", self.s.log())

    def test_stale_execution_cgroup_is_killed_and_removed_at_start(self):
        self.assertTrue(wait_until(lambda: not os.path.exists(self.stale), timeout=5.0),
                        "the stale exec-999 was not removed")
        self.assertEqual(self.stale_proc.wait(timeout=5), -signal.SIGKILL)
        self.assertIn("killing and removing 1 execution cgroup(s) a previous run left",
                      self.s.log())

    def test_double_forked_escapee_dies_with_its_execution(self):
        r = self.s.execute("escape")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["result"]["status"], "completed", r)
        # Right after the response: the run waited until its cgroup was empty (with the sweep
        # alone, "cgroups": "off", deeper levels are still alive here), and no level the
        # chain was still creating can appear later.
        self.assertEqual(marked("sleep 321.2"), [])
        self.assertEqual(exec_dirs(BASE), [])
        time.sleep(0.3)
        self.assertEqual(marked("sleep 321.2"), [])

    def test_timeout_kills_escaped_and_background_children(self):
        r = self.s.execute("slow")
        self.assertEqual(r.json()["result"]["status"], "timeout", r)
        self.assertEqual(marked("323.25"), [])
        self.assertEqual(marked("323.5"), [])
        self.assertEqual(exec_dirs(BASE), [])

    def test_a_neighbours_orphan_survives_another_execution_ending(self):
        r = self.s.execute("neighbour", mode="async")
        self.assertEqual(r.status, 202, r)
        execution_id = r.json()["execution_id"]
        self.assertTrue(wait_until(lambda: marked("322.25"), timeout=5.0))
        # Another execution ends (with an escapee of its own) while the helper is an orphan.
        self.assertEqual(self.s.execute("escape").status, 200)
        self.assertNotEqual(marked("322.25"), [], "the neighbour's helper was killed")
        done = self.s.wait_status(execution_id)
        self.assertEqual(done["status"], "completed", done)
        self.assertEqual(done["result"]["output"]["data"], "helper-alive\n", done)
        self.assertEqual(marked("322.25"), [])
        self.assertTrue(wait_until(lambda: exec_dirs(BASE) == [], timeout=2.0), exec_dirs(BASE))

    def test_cgroups_a_function_makes_inside_its_own_are_removed_with_it(self):
        r = self.s.execute("nested")
        self.assertEqual(r.json()["result"]["output"]["data"], "made\n", r)
        self.assertEqual(marked("325.25"), [])
        self.assertEqual(exec_dirs(BASE), [])

    def test_many_runs_leave_no_directories(self):
        for i in range(5):
            r = self.s.execute("echo", f"run {i}")
            self.assertEqual(r.json()["result"]["output"]["data"], f"run {i}")
        self.assertEqual(exec_dirs(BASE), [])


@unittest.skipIf(REASON, REASON)
class CgroupSettingsTest(unittest.TestCase):
    def test_required_with_an_impossible_path_refuses_to_start(self):
        missing = os.path.join(MOUNT, f"spear-test-{os.getpid()}-missing")
        cfg = base_config(FUNCTIONS, process={"cgroups": "required", "cgroup_path": missing})
        with self.assertRaises(RuntimeError) as ctx:
            Spearlet(cfg, start_timeout=10.0)
        text = str(ctx.exception)
        self.assertIn("exited with 1", text)
        self.assertIn('process.cgroups is "required", but per-execution cgroups cannot be used',
                      text)
        self.assertIn(missing + " is not a cgroup v2 directory", text)

    def test_check_config_names_an_unusable_cgroup_path(self):
        missing = os.path.join(MOUNT, f"spear-test-{os.getpid()}-missing")
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "c.json")
            for mode, rc in (("required", 1), ("auto", 1)):
                with open(path, "w") as f:
                    json.dump(base_config(FUNCTIONS, process={"cgroups": mode,
                                                              "cgroup_path": missing}), f)
                r = subprocess.run([SPEARLET, "--check-config", "--config", path],
                                   capture_output=True, text=True, timeout=30)
                self.assertEqual(r.returncode, rc, r.stderr)
                self.assertIn(f"process.cgroup_path: {missing} is not a cgroup v2 directory",
                              r.stderr)
            with open(path, "w") as f:
                json.dump(base_config(FUNCTIONS, process={"cgroups": "required",
                                                          "cgroup_path": MOUNT}), f)
            r = subprocess.run([SPEARLET, "--check-config", "--config", path],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 0, r.stderr)

    def test_a_cgroup_v1_directory_is_refused(self):
        v1 = "/sys/fs/cgroup/pids"
        if not os.path.exists(os.path.join(v1, "cgroup.procs")) or MOUNT.startswith(v1):
            self.skipTest("no cgroup v1 pids hierarchy here")
        cfg = base_config(FUNCTIONS, process={"cgroups": "required", "cgroup_path": v1})
        with self.assertRaises(RuntimeError) as ctx:
            Spearlet(cfg, start_timeout=10.0)
        self.assertIn(v1 + " is not a cgroup v2 directory", str(ctx.exception))

    def test_auto_in_the_root_cgroup_falls_back_to_the_sweep(self):
        with open("/proc/self/cgroup") as f:
            if "0::/\n" not in f.read():
                self.skipTest("the test does not run in the root cgroup")
        with Spearlet(base_config(FUNCTIONS)) as s:
            cg = s.get("/health").json()["runtimes"]["process"]["cgroups"]
            self.assertEqual(cg["active"], False, cg)
            self.assertIn("root cgroup", cg["reason"])
            self.assertIn("per-execution cgroups: not used: the appliance runs in the root cgroup",
                          s.log())

    def test_auto_in_an_unmarked_cgroup_of_its_own_falls_back(self):
        """Root may write anywhere: without the delegation mark its cgroup is not taken."""
        base = BASE + "-unmarked"
        os.mkdir(base)
        try:
            with Spearlet(base_config(FUNCTIONS), preexec_fn=joiner(base)) as s:
                cg = s.get("/health").json()["runtimes"]["process"]["cgroups"]
                self.assertEqual(cg["active"], False, cg)
                self.assertIn("is not marked as delegated", cg["reason"])
        finally:
            remove_cgroup(base)

    def test_explicit_path_and_the_sweep_alone_for_contrast(self):
        """process.cgroup_path: the appliance stays where it is and makes exec-<n> there; with
        cgroups "off" the same neighbour loses its helper to the sweep (the flaw they fix)."""
        base = BASE + "-explicit"
        os.mkdir(base)
        try:
            cfg = base_config(FUNCTIONS, limits={"kill_grace_ms": 200},
                              process={"cgroups": "required", "cgroup_path": base})
            with Spearlet(cfg) as s:
                self.assertEqual(s.get("/health").json()["runtimes"]["process"]["cgroups"]
                                 ["directory"], base)
                self.assertEqual(self.neighbour_says(s), "helper-alive\n")
                self.assertEqual(exec_dirs(base), [])
            with Spearlet(base_config(FUNCTIONS, process={"cgroups": "off"})) as s:
                self.assertEqual(self.neighbour_says(s), "helper-dead\n")
        finally:
            remove_cgroup(base)

    def neighbour_says(self, s):
        r = s.execute("neighbour", mode="async")
        execution_id = r.json()["execution_id"]
        self.assertTrue(wait_until(lambda: marked("322.25"), timeout=5.0))
        self.assertEqual(s.execute("escape").status, 200)
        done = s.wait_status(execution_id)
        self.assertEqual(done["status"], "completed", done)
        self.assertTrue(wait_until(lambda: not marked("322.25") and not marked("sleep 321.2"),
                                   timeout=3.0))
        return done["result"]["output"]["data"]


if __name__ == "__main__":
    unittest.main()
