"""Cluster-test harness: real nats-server processes (one, or a 3-server JetStream cluster) on
loopback ports, a tiny raw NATS protocol client to look at JetStream state, and appliances
(spearlets with a `cluster` section) started by spear_harness.

Only the Python standard library is used (Debian's /usr/bin/python3). Every wait is bounded.
Servers are stopped, killed and restarted by the PID this helper started, on the same port and
store directory; `unavailable()` says why they cannot run here.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

from spear_harness import Spearlet, base_config, sh

NATS_SERVER = os.environ.get("NATS_SERVER", shutil.which("nats-server") or "/usr/sbin/nats-server")
NODES = ("gw-a", "gw-b", "gw-c")
TERMINAL = ("completed", "failed", "cancelled", "timeout")


def unavailable():
    """Why nats-server cannot run here (a reason string), or None."""
    if not os.access(NATS_SERVER, os.X_OK):
        return "nats-server is not installed (tools/dev deps installs Debian's nats-server)"
    return None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


# ---------------------------------------------------------------------------------------------
# nats-server processes


class NatsServer:
    """One nats-server with JetStream on 127.0.0.1:port (a cluster member when `cluster_port`
    is given). Started in __init__ unless start=False; close() stops it and removes its files."""

    def __init__(self, name="n1", port=None, cluster_port=None, routes=(), cluster_name=None,
                 tmp=None, start=True, start_timeout=15.0):
        self.name = name
        self.port = port or free_port()
        self.cluster_port = cluster_port
        self.routes = list(routes)
        self.cluster_name = cluster_name
        self.own_tmp = tmp is None
        self.tmp = tmp or tempfile.mkdtemp(prefix="spear-nats-")
        self.store_dir = os.path.join(self.tmp, name, "store")
        os.makedirs(self.store_dir, exist_ok=True)
        self.log_path = os.path.join(self.tmp, name, "nats.log")
        self.conf_path = os.path.join(self.tmp, name, "nats.conf")
        self._write_config()
        self.proc = None
        self.starts = 0
        if start:
            self.start(start_timeout)

    @property
    def url(self):
        return f"nats://127.0.0.1:{self.port}"

    def _write_config(self):
        # A config file rather than flags: JetStream clustering wants server_name, the cluster
        # name and routes together; the same file serves a single server.
        lines = [f"server_name: {json.dumps(self.name)}",
                 f"listen: \"127.0.0.1:{self.port}\"",
                 f"jetstream {{ store_dir: {json.dumps(self.store_dir)} }}"]
        if self.cluster_port:
            routes = ", ".join(json.dumps(r) for r in self.routes)
            lines.append("cluster {\n"
                         f"  name: {json.dumps(self.cluster_name or 'spear')}\n"
                         f"  listen: \"127.0.0.1:{self.cluster_port}\"\n"
                         f"  routes: [{routes}]\n"
                         "}")
        with open(self.conf_path, "w") as f:
            f.write("\n".join(lines) + "\n")

    def start(self, timeout=15.0):
        """Starts (or restarts) the process on the same port and store directory; returns once
        it accepts client connections."""
        assert not self.running(), "already running"
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([NATS_SERVER, "-c", self.conf_path], stdin=subprocess.DEVNULL,
                                     stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.starts += 1
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nats-server {self.name} exited with {self.proc.returncode}: "
                                   + self.log()[-2000:])
            if "Server is ready" in self.log().split("Starting nats-server")[-1] and port_open(self.port):
                return self
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"nats-server {self.name} did not become ready in {timeout:.0f} s: "
                           + self.log()[-2000:])

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def kill(self, sig=signal.SIGKILL, timeout=15.0):
        """Signals the process this helper started (SIGKILL: no goodbye to clients or peers)
        and waits for it to exit."""
        if self.running():
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        return self.proc.returncode if self.proc else None

    def stop(self):
        return self.kill(signal.SIGTERM)

    def restart(self, timeout=15.0):
        self.kill()
        return self.start(timeout)

    def close(self):
        try:
            self.kill()
        finally:
            if self.own_tmp:
                shutil.rmtree(self.tmp, ignore_errors=True)

    def client(self, timeout=5.0):
        return NatsClient("127.0.0.1", self.port, timeout=timeout)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class NatsCluster:
    """Three JetStream servers n1..n3 routed to each other (cluster `spear`). Started and
    waited for (JetStream meta leader elected) in __init__; close() stops them all."""

    def __init__(self, size=3, start_timeout=30.0):
        self.tmp = tempfile.mkdtemp(prefix="spear-nats-cluster-")
        cluster_ports = [free_port() for _ in range(size)]
        self.servers = []
        try:
            for i in range(size):
                routes = [f"nats://127.0.0.1:{p}" for j, p in enumerate(cluster_ports) if j != i]
                self.servers.append(NatsServer(f"n{i + 1}", cluster_port=cluster_ports[i],
                                               routes=routes, cluster_name="spear", tmp=self.tmp,
                                               start=False))
            for s in self.servers:
                s.start(start_timeout)
            self.wait_jetstream(start_timeout)
        except BaseException:
            self.close()
            raise

    @property
    def urls(self):
        return [s.url for s in self.servers]

    def running(self):
        return [s for s in self.servers if s.running()]

    def server(self, name):
        return next(s for s in self.servers if s.name == name)

    def wait_jetstream(self, timeout=30.0):
        """Until every running server answers $JS.API.INFO without an error (the meta group
        has a leader and the servers see each other)."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                ok = True
                for s in self.running():
                    with s.client(timeout=2.0) as c:
                        info = c.js("INFO", timeout=2.0)
                    if "error" in info:
                        ok, last = False, info
                        break
                if ok:
                    return True
            except (OSError, NatsError) as e:
                last = e
            time.sleep(0.2)
        raise RuntimeError(f"JetStream cluster not ready in {timeout:.0f} s: {last}")

    def close(self):
        for s in self.servers:
            try:
                s.kill()
            except Exception:
                pass
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ---------------------------------------------------------------------------------------------
# A raw NATS protocol client (just enough for request-reply to the JetStream API)


class NatsError(Exception):
    pass


class NatsClient:
    """Blocking, one request at a time: CONNECT, PING/PONG, SUB/UNSUB, PUB, MSG/HMSG."""

    def __init__(self, host, port, timeout=5.0, connect_opts=None):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""
        self.sid = 0
        self.inbox = "_INBOX.spear_test_%d_%d" % (os.getpid(), id(self))
        line = self._line(timeout)
        if not line.startswith(b"INFO "):
            raise NatsError(f"expected INFO, got {line!r}")
        self.info = json.loads(line[5:])
        opts = {"verbose": False, "pedantic": False, "headers": True, "no_responders": True,
                "protocol": 1, "name": "spear-test", "lang": "python-raw", "version": "0"}
        opts.update(connect_opts or {})
        self.sock.sendall(b"CONNECT " + json.dumps(opts).encode() + b"\r\nPING\r\n")
        while True:
            op = self._read_op(timeout)
            if op[0] == "PONG":
                break
            if op[0] == "-ERR":
                raise NatsError(op[1])

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _fill(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("NATS read timed out")
        self.sock.settimeout(remaining)
        b = self.sock.recv(65536)
        if not b:
            raise NatsError("connection closed by the server")
        self.buf += b

    def _line(self, timeout):
        deadline = time.monotonic() + timeout
        while b"\r\n" not in self.buf:
            self._fill(deadline)
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n, deadline):
        while len(self.buf) < n + 2:
            self._fill(deadline)
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def _read_op(self, timeout):
        """The next protocol message: ("MSG", subject, sid, reply, headers, payload), ("PING",),
        ("PONG",), ("-ERR", text), ("INFO", dict); answers PINGs itself."""
        deadline = time.monotonic() + timeout
        while True:
            line = self._line(max(0.001, deadline - time.monotonic()))
            parts = line.decode("utf-8", "replace").split(" ")
            op = parts[0].upper()
            if op == "PING":
                self.sock.sendall(b"PONG\r\n")
                continue
            if op in ("PONG", "+OK"):
                if op == "PONG":
                    return ("PONG",)
                continue
            if op == "-ERR":
                return ("-ERR", " ".join(parts[1:]))
            if op == "INFO":
                continue
            if op == "MSG":
                subject, sid = parts[1], parts[2]
                reply = parts[3] if len(parts) == 5 else None
                payload = self._exact(int(parts[-1]), deadline)
                return ("MSG", subject, sid, reply, b"", payload)
            if op == "HMSG":
                subject, sid = parts[1], parts[2]
                reply = parts[3] if len(parts) == 6 else None
                hlen, total = int(parts[-2]), int(parts[-1])
                data = self._exact(total, deadline)
                return ("MSG", subject, sid, reply, data[:hlen], data[hlen:])
            raise NatsError(f"unexpected protocol line {line!r}")

    def request(self, subject, payload=b"", timeout=5.0):
        """Publishes with a reply inbox and returns (headers, payload) of the first answer.
        A 503 status header (no responders) raises NatsError."""
        self.sid += 1
        sid = str(self.sid)
        reply = f"{self.inbox}.{sid}"
        if isinstance(payload, str):
            payload = payload.encode()
        self.sock.sendall(f"SUB {reply} {sid}\r\nUNSUB {sid} 1\r\nPUB {subject} {reply} {len(payload)}\r\n"
                          .encode() + payload + b"\r\n")
        deadline = time.monotonic() + timeout
        while True:
            op = self._read_op(max(0.001, deadline - time.monotonic()))
            if op[0] == "-ERR":
                raise NatsError(op[1])
            if op[0] == "MSG" and op[2] == sid:
                headers, data = op[4], op[5]
                if headers.startswith(b"NATS/1.0 503"):
                    raise NatsError(f"no responders on {subject}")
                return headers, data

    def publish(self, subject, payload=b""):
        if isinstance(payload, str):
            payload = payload.encode()
        self.sock.sendall(f"PUB {subject} {len(payload)}\r\n".encode() + payload + b"\r\n")

    def js(self, api, body=None, timeout=5.0):
        """A JetStream API call ($JS.API.<api>): the decoded JSON answer (errors are in its
        "error" member, as the server sends them)."""
        payload = b"" if body is None else json.dumps(body).encode()
        _, data = self.request("$JS.API." + api, payload, timeout)
        return json.loads(data)

    def stream_info(self, name, timeout=5.0):
        return self.js("STREAM.INFO." + name, timeout=timeout)

    def stream_create(self, name, subjects, replicas=1, retention="workqueue", storage="file",
                      timeout=10.0):
        return self.js("STREAM.CREATE." + name,
                       {"name": name, "subjects": subjects, "retention": retention,
                        "storage": storage, "num_replicas": replicas}, timeout=timeout)

    def stream_delete(self, name, timeout=10.0):
        return self.js("STREAM.DELETE." + name, timeout=timeout)

    def stream_names(self, timeout=5.0):
        return self.js("STREAM.NAMES", {}, timeout=timeout).get("streams") or []


# ---------------------------------------------------------------------------------------------
# Appliances with a cluster section

# Sleeps the milliseconds given as input, then says so (sh arithmetic; GNU sleep takes fractions).
SLEEP_SCRIPT = ('read ms; sleep "$((ms / 1000)).$(printf %03d $((ms % 1000)))"; '
                'echo "slept $ms on $SPEAR_NODE"')
# Counts to the number given (a busy loop in mawk: CPU-bound, one core).
CPU_SCRIPT = "read n; awk -v n=\"$n\" 'BEGIN { s = 0; for (i = 0; i < n; i++) s += i % 7; print s }'"
# Prints `lines` numbered lines, one every `ms` milliseconds (input "LINES MS").
TICKER_SCRIPT = ('read n ms; i=0; while [ $i -lt $n ]; do echo "tick-$i"; i=$((i+1)); '
                 'sleep "$((ms / 1000)).$(printf %03d $((ms % 1000)))"; done')


def cluster_functions(node_id=None, omit=(), **overrides):
    """The function set every appliance of the cluster tests serves (unless `omit` names some):
    `sleep` and `sleep_retry` (max_concurrency 1; the latter with retry_interrupted), `cpu`
    (CPU-bound, max_concurrency 1), `ticker` (output over time) and `quick` (a short run,
    max_concurrency 1). `overrides` maps a function name to extra fields."""
    env = {"SPEAR_NODE": node_id or ""}
    fns = [
        sh(SLEEP_SCRIPT, "sleep", max_concurrency=1, queue_depth=200, timeout_ms=60000, env=env),
        sh(SLEEP_SCRIPT, "sleep_retry", max_concurrency=1, queue_depth=200, timeout_ms=60000,
           retry_interrupted=True, env=env),
        sh(CPU_SCRIPT, "cpu", max_concurrency=1, queue_depth=1000, timeout_ms=60000, env=env),
        sh(TICKER_SCRIPT, "ticker", max_concurrency=2, queue_depth=20, timeout_ms=60000, env=env),
        sh(SLEEP_SCRIPT, "quick", max_concurrency=1, queue_depth=1000, timeout_ms=60000, env=env),
    ]
    out = []
    for f in fns:
        if f["name"] in omit:
            continue
        f.update(overrides.get(f["name"], {}))
        out.append(f)
    return out


def cluster_config(node_id, nats_urls, functions=None, cluster=None, **sections):
    """A spearlet config on a free loopback port with a `cluster` section for node_id."""
    section = {"node_id": node_id, "nats": list(nats_urls)}
    section.update(cluster or {})
    fns = functions if functions is not None else cluster_functions(node_id)
    sections.setdefault("limits", {}).setdefault("global_concurrency", 8)
    return base_config(fns, cluster=section, **sections)


class Appliances:
    """N spearlets gw-a, gw-b, gw-c... each with a cluster section pointing at `nats_urls`.
    `functions` maps a node id to its function list (default: cluster_functions()); `cluster`
    adds fields to every node's cluster section. close() stops them all (by PID)."""

    def __init__(self, nats_urls, nodes=NODES, functions=None, cluster=None, start_timeout=30.0,
                 **sections):
        self.nodes = {}
        try:
            for node in nodes:
                fns = (functions or {}).get(node)
                cfg = cluster_config(node, nats_urls, fns, cluster, **json.loads(json.dumps(sections)))
                self.nodes[node] = Spearlet(cfg, start_timeout=start_timeout)
        except BaseException:
            self.close()
            raise

    def __getitem__(self, node):
        return self.nodes[node]

    def items(self):
        return self.nodes.items()

    def alive(self):
        return {n: s for n, s in self.nodes.items() if s.proc.poll() is None}

    def kill(self, node, sig=signal.SIGKILL):
        s = self.nodes[node]
        if s.proc.poll() is None:
            s.proc.send_signal(sig)
            s.proc.wait(timeout=10)

    def dump_logs(self, lines=40):
        """Prints the last lines of every node's log (SPEAR_TEST_LOGS=1 in the tests)."""
        for node, s in self.nodes.items():
            tail = "\n".join(s.log().splitlines()[-lines:])
            print(f"\n----- {node} (pid {s.proc.pid}) log tail -----\n{tail}")

    def close(self):
        for s in self.nodes.values():
            try:
                s.close()
            except Exception:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def cluster_health(s):
    """The `cluster` section of s's /health (None when absent or unreachable)."""
    try:
        r = s.get("/health", timeout=5)
        return r.json().get("cluster")
    except (OSError, ValueError):
        return None


def wait_cluster_state(spearlets, state, timeout=20.0):
    """Until every spearlet's /health cluster.state is `state`; returns True or False."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = [(cluster_health(s) or {}).get("state") for s in spearlets]
        if all(st == state for st in states):
            return True
        time.sleep(0.1)
    return False


def health_states(spearlets):
    return [(cluster_health(s) or {}).get("state") for s in spearlets]


def record_node(body):
    """The `node` of a status body, a record or a sync answer: top level, in `result` or in
    `metadata` (the spec says the record carries it and the status JSON shows it)."""
    for where in (body, body.get("result") or {}, body.get("metadata") or {}):
        if where.get("node"):
            return where["node"]
    return None


def submit_async(s, function, data, timeout=10.0):
    """POST /functions/{function}/invoke?mode=async; returns the Response."""
    return s.post(f"/functions/{function}/invoke?mode=async", body=str(data).encode(),
                  headers={"Content-Type": "text/plain"}, timeout=timeout)


def wait_terminal(s, execution_id, timeout=30.0, interval=0.05):
    """Polls s's /status/{id} (bounded) until terminal; returns the body, or raises
    AssertionError naming the last state seen."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            r = s.get(f"/status/{execution_id}", timeout=5)
            if r.status == 200:
                last = r.json()
                if last["status"] in TERMINAL:
                    return last
            else:
                last = r
        except OSError as e:
            last = e
        time.sleep(interval)
    raise AssertionError(f"execution {execution_id} not terminal within {timeout:.0f} s on "
                         f"port {s.port}: last {last}")


def wait_all_terminal(accepted, timeout=60.0):
    """Polls every (spearlet, execution id, ...) of `accepted` on its spearlet until all are
    terminal or `timeout`; returns (terminal bodies, [(execution id, last answer)] of the
    others)."""
    remaining = {eid: (s, None) for s, eid, *_ in accepted}
    done = []
    deadline = time.monotonic() + timeout
    while remaining and time.monotonic() < deadline:
        for eid, (s, _) in list(remaining.items()):
            try:
                r = s.get(f"/status/{eid}", timeout=5)
                last = r.json() if r.status == 200 else r
            except (OSError, ValueError) as e:
                last = e
            if isinstance(last, dict) and last.get("status") in TERMINAL:
                done.append(last)
                del remaining[eid]
            else:
                remaining[eid] = (s, last)
        if remaining:
            time.sleep(0.2)
    return done, [(eid, last) for eid, (_, last) in remaining.items()]


def sse_events(host, port, path, timeout=20.0, until_final=True):
    """Reads `GET path` with Accept: text/event-stream; returns (status line, headers text,
    [(event, data dict)]) once a `final` event came (or the server closed, or `timeout`)."""
    deadline = time.monotonic() + timeout
    events = []
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n"
                     .encode())
        buf = b""
        head = None
        while time.monotonic() < deadline:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                b = sock.recv(65536)
            except socket.timeout:
                break
            if not b:
                break
            buf += b
            if head is None:
                if b"\r\n\r\n" not in buf:
                    continue
                head, buf = buf.split(b"\r\n\r\n", 1)
                head = head.decode("utf-8", "replace")
                if " 200 " not in head.split("\r\n")[0]:
                    return head.split("\r\n")[0], head, [("body", buf.decode("utf-8", "replace"))]
            while b"\n\n" in buf:
                block, buf = buf.split(b"\n\n", 1)
                event, data = None, []
                for line in block.decode("utf-8", "replace").split("\n"):
                    if line.startswith("event:"):
                        event = line[6:].strip()
                    elif line.startswith("data:"):
                        data.append(line[5:].strip())
                if data:
                    events.append((event, json.loads("\n".join(data))))
                    if until_final and event == "final":
                        return head.split("\r\n")[0], head, events
        status = head.split("\r\n")[0] if head else "(no answer)"
        return status, head or "", events


class Flow:
    """Submits async requests in a background thread, one every `interval` s, to the spearlets
    in `targets` in turn, until stop(); keeps every answer. Connection errors are recorded as
    status None (a node may be down)."""

    def __init__(self, targets, function, data, interval=0.1):
        self.targets = list(targets)
        self.function = function
        self.data = data
        self.interval = interval
        self.accepted = []      # (spearlet, execution_id, t)
        self.refused = []       # (node index, status, body)
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        i = 0
        while not self._stop.is_set():
            s = self.targets[i % len(self.targets)]
            try:
                r = submit_async(s, self.function, self.data, timeout=10)
                if r.status == 202:
                    self.accepted.append((s, r.json()["execution_id"], time.monotonic()))
                else:
                    self.refused.append((i % len(self.targets), r.status, r.body[:300]))
            except OSError as e:
                self.refused.append((i % len(self.targets), None, repr(e)))
            i += 1
            self._stop.wait(self.interval)

    def stop(self):
        self._stop.set()
        self.thread.join(timeout=20)
