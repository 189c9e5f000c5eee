"""A real Docker Engine API for the container tests: `podman system service` on a unix socket
under a temporary directory, with its own storage and a containers.conf that works in an
unprivileged CI sandbox (docs/operations.md "Containers"), and a local busybox image built by
`podman import` of a rootfs made from Debian's busybox-static (no registry is reachable).

Needs root (podman's rootful mode with cgroupfs); `unavailable()` says why it cannot run.
The service is stopped by the PID this helper started.
"""
import http.client
import json
import os
import shutil
import socket
import subprocess
import tarfile
import tempfile
import time
import urllib.parse

IMAGE = "localhost/spear-busybox:test"
BUSYBOX = "/bin/busybox"
APPLETS = ["sh", "tr", "cat", "sleep", "echo", "head", "printf", "true", "false", "yes", "dd",
           "wc", "seq", "env", "pwd", "ls", "id"]

CONTAINERS_CONF = """[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "{runtime}"
"""


def unavailable():
    """Why the engine cannot run here (a reason string), or None."""
    if os.getuid() != 0:
        return "container tests need root (rootful podman with cgroupfs); running as uid %d" % os.getuid()
    if not shutil.which("podman"):
        return "podman is not installed (tools/dev deps installs it)"
    if not os.path.exists(BUSYBOX):
        return "busybox-static is not installed (tools/dev deps installs it)"
    if not (shutil.which("runc") or shutil.which("crun")):
        return "neither runc nor crun is installed"
    return None


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=30):
        super().__init__("docker", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        try:
            s.connect(self.unix_path)
        except OSError:
            s.close()
            raise
        self.sock = s


class PodmanEngine:
    """Starts the service in __init__; close() stops it and removes its storage."""

    def __init__(self, start_timeout=30.0):
        self.tmp = tempfile.mkdtemp(prefix="spear-podman-")
        self.socket_path = os.path.join(self.tmp, "podman.sock")
        self.uri = "unix://" + self.socket_path
        self.root = os.path.join(self.tmp, "root")
        self.runroot = os.path.join(self.tmp, "run")
        self.proc = None
        self.runtime = self._pick_runtime()
        self.conf = os.path.join(self.tmp, "containers.conf")
        with open(self.conf, "w") as f:
            f.write(CONTAINERS_CONF.format(runtime=self.runtime))
        self.env = dict(os.environ, CONTAINERS_CONF=self.conf)
        self._build_image()
        self.start(start_timeout)

    @staticmethod
    def _pick_runtime():
        # crun refuses cgroup v1 "hybrid" hosts ("cgroups in hybrid mode not supported"); runc
        # works there. Prefer runc when both exist.
        return "runc" if shutil.which("runc") else "crun"

    def podman(self, *args, check=True, timeout=120, **kw):
        cmd = ["podman", "--root", self.root, "--runroot", self.runroot, *args]
        return subprocess.run(cmd, env=self.env, check=check, timeout=timeout,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)

    def _build_image(self):
        rootfs = os.path.join(self.tmp, "rootfs.tar")
        with tarfile.open(rootfs, "w") as tar:
            for d in ("bin", "tmp", "etc", "proc", "sys", "dev"):
                info = tarfile.TarInfo(d)
                info.type = tarfile.DIRTYPE
                info.mode = 0o1777 if d == "tmp" else 0o755
                tar.addfile(info)
            tar.add(BUSYBOX, arcname="bin/busybox")
            for applet in APPLETS:
                info = tarfile.TarInfo("bin/" + applet)
                info.type = tarfile.SYMTYPE
                info.linkname = "busybox"
                tar.addfile(info)
        self.podman("import", rootfs, IMAGE)

    def start(self, timeout=30.0):
        self.log_path = os.path.join(self.tmp, "service.log")
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            ["podman", "--root", self.root, "--runroot", self.runroot, "system", "service",
             "--time=0", self.uri], env=self.env, stdin=subprocess.DEVNULL, stdout=self.log,
            stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.api("GET", "/_ping")[0] == 200:
                    return
            except OSError:
                pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError("podman system service did not start: " + open(self.log_path).read())

    def stop(self):
        """Stops the service (by the PID this helper started); the storage stays."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None
        if getattr(self, "log", None):
            self.log.close()
            self.log = None
        if os.path.exists(self.socket_path):
            os.unlink(self.socket_path)

    def close(self):
        self.stop()
        # Remove whatever is left (which unmounts the layers), then the private storage. Not
        # `podman system reset`: it also touches host-wide state (networks), not only --root.
        self.podman("rm", "-a", "-f", check=False)
        self.podman("rmi", "-a", "-f", check=False)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def api(self, method, path, body=None, timeout=30):
        conn = UnixHTTPConnection(self.socket_path, timeout=timeout)
        try:
            data = json.dumps(body).encode() if body is not None else None
            headers = {"Content-Type": "application/json"} if data is not None else {}
            conn.request(method, "/v1.41" + path, body=data, headers=headers)
            r = conn.getresponse()
            raw = r.read()
            try:
                return r.status, json.loads(raw) if raw else None
            except ValueError:
                return r.status, raw
        finally:
            conn.close()

    def containers(self, label="spear-edge.execution"):
        """Every container (running or not) with this label, as the engine lists them."""
        filters = urllib.parse.quote(json.dumps({"label": [label]}))
        status, body = self.api("GET", "/containers/json?all=true&filters=" + filters)
        if status != 200:
            raise AssertionError(f"container list failed: {status} {body}")
        return body

    def memory_limit_enforced(self):
        """True if a container over its memory limit is killed here (cgroup memory controller
        usable by the runtime); the reason otherwise."""
        r = self.podman("run", "--rm", "--network", "none", "--memory", "16m", IMAGE,
                        "/bin/sh", "-c", 'a=$(head -c 64000000 /dev/zero | tr "\\0" a); echo survived',
                        check=False, timeout=60)
        if r.returncode == 137:
            return True
        return ("a container over a 16 MiB memory limit was not killed (exit %d: %s): this "
                "sandbox's cgroup setup does not enforce memory limits"
                % (r.returncode, (r.stdout + r.stderr).decode(errors="replace").strip()[:200]))
