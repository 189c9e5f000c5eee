"""Functional-test harness: starts the real spearlet on a loopback port and talks HTTP to it.

Only the Python standard library is used (Debian's /usr/bin/python3). Every wait is bounded.
"""
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import time

SPEARLET = os.environ.get("SPEARLET", "spearlet")
SOURCE_DIR = os.environ.get("SPEAR_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))

LISTEN_RE = re.compile(r"serving HTTP on http://([0-9a-fA-F.:\[\]]+):(\d+)")


def base_config(functions=None, **sections):
    """A config dict on 127.0.0.1 with a free port (port 0) and the given functions."""
    cfg = {"http": {"address": "127.0.0.1", "port": 0}}
    for name, value in sections.items():
        cfg.setdefault(name, {}).update(value)
    if functions is not None:
        cfg["functions"] = functions
    return cfg


def sh(script, name, **extra):
    """A process function running `script` with /bin/sh (input arrives on stdin only)."""
    f = {"name": name, "command": ["/bin/sh", "-c", script]}
    f.update(extra)
    return f


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def __repr__(self):
        return f"<Response {self.status} {self.body[:300]!r}>"


class Spearlet:
    """A running spearlet process started by the test (stopped by PID in stop())."""

    def __init__(self, config=None, args=(), env=None, start_timeout=20.0, preexec_fn=None):
        self.tmp = tempfile.TemporaryDirectory(prefix="spear-test-")
        self.log_path = os.path.join(self.tmp.name, "spearlet.log")
        cmd = [SPEARLET]
        if config is not None:
            self.config_path = os.path.join(self.tmp.name, "config.json")
            with open(self.config_path, "w") as f:
                json.dump(config, f)
            cmd += ["--config", self.config_path]
        cmd += list(args)
        self.log_file = open(self.log_path, "wb")
        full_env = dict(os.environ)
        full_env.update(env or {})
        # preexec_fn runs in the child before exec (test_cgroups moves it into a cgroup).
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self.log_file,
                                     stderr=subprocess.STDOUT, env=full_env,
                                     preexec_fn=preexec_fn)
        self.host, self.port = self._wait_for_listen(start_timeout)
        self.exit_code = None

    def _wait_for_listen(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log()
            m = LISTEN_RE.search(text)
            if m:
                return m.group(1), int(m.group(2))
            if self.proc.poll() is not None:
                raise RuntimeError(f"spearlet exited with {self.proc.returncode}: {text}")
            time.sleep(0.02)
        self.proc.kill()
        raise RuntimeError("spearlet did not start listening: " + self.log())

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def connection(self, timeout=30.0):
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, timeout=30.0, conn=None):
        own = conn is None
        conn = conn or self.connection(timeout)
        try:
            if isinstance(body, (dict, list)):
                body = json.dumps(body).encode()
                headers = dict(headers or {})
                headers.setdefault("Content-Type", "application/json")
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            return Response(r.status, r.getheaders(), r.read())
        finally:
            if own:
                conn.close()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body=body, **kw)

    def execute(self, function, data=None, mode=None, context=None, data_base64=None, **kw):
        body = {"function_name": function}
        if mode is not None:
            body["execution_mode"] = mode
        if data is not None:
            body["input"] = {"content_type": "text/plain", "data": data}
        if data_base64 is not None:
            body["input"] = {"content_type": "application/octet-stream", "data_base64": data_base64}
        if context is not None:
            body["context"] = context
        return self.post("/functions/execute", body, **kw)

    def wait_status(self, execution_id, statuses=("completed", "failed", "cancelled", "timeout"),
                    timeout=20.0):
        """Polls /status/{id} until its status is one of `statuses`; returns the JSON body."""
        deadline = time.monotonic() + timeout
        while True:
            r = self.get(f"/status/{execution_id}")
            if r.status != 200:
                raise AssertionError(f"status read failed: {r}")
            body = r.json()
            if body["status"] in statuses:
                return body
            if time.monotonic() > deadline:
                raise AssertionError(f"execution {execution_id} still {body['status']}")
            time.sleep(0.02)

    def stop(self, sig=signal.SIGTERM, timeout=20.0):
        """Signals the process this harness started and returns its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
                raise AssertionError("spearlet did not stop within %.0f s" % timeout)
        self.exit_code = self.proc.returncode
        self.log_file.close()
        return self.exit_code

    def close(self):
        try:
            self.stop()
        finally:
            self.tmp.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def pid_alive(pid):
    """True if a process with this pid exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except FileNotFoundError:
        return False


def wait_until(predicate, timeout=10.0, interval=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def raw_exchange(host, port, data, timeout=5.0, read_until_close=True):
    """Sends raw bytes and returns what the server answers (until close or timeout)."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(data)
        chunks = []
        try:
            while True:
                b = s.recv(65536)
                if not b:
                    break
                chunks.append(b)
                if not read_until_close:
                    break
        except socket.timeout:
            pass
        return b"".join(chunks)


def marked(marker):
    """Pids (not zombies) whose command line contains `marker`."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
            with open(f"/proc/{name}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if marker in cmdline and state != "Z":
            found.append(int(name))
    return found
