"""Soak and abuse suite (issue 12), against the real binary on loopback, with figures printed.

    /usr/bin/python3 tests/soak/soak.py [--quick] [--only SECTION,...]

Sections: load (wrk on a mix of health, status reads, sync and async invokes: no non-2xx
beyond 429, RSS flat, no fd growth), connections (slowloris plus idle keep-alive connections:
/health p99 within 2x idle, the connection limit answers 429), websocket (a viewer that never
reads, an oversize message, a ping flood, one-byte fragments: right close codes, others
unaffected), bursts (many viewers, then a queue of async requests: RSS returns within 1.5x).
Full run: 5 min of load and 1000+1000 connections; --quick (CTest, label soak) about 60 s in
all. Hostile functions are tests/functional/test_hostile.py. Needs SPEARLET (the binary) and
wrk on PATH. Exits 1 if an invariant fails; the figures go to stdout either way."""
import argparse
import base64
import json
import os
import resource
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "functional"))
from spear_harness import Spearlet, base_config, sh  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
failures = []
judge_memory = True  # False with --sanitized: ASan's allocator keeps freed memory (quarantine)


def check_memory(ok, what):
    """RSS and latency figures: judged on a release build only. Under ASan the allocator keeps
    freed memory and every request is several times slower, and CTest runs other tests beside
    this one: there they are printed, not judged (a figure is not a unit test)."""
    if judge_memory:
        check(ok, what)
    else:
        print("  n/a   " + what + " (sanitized build: figure printed, not judged)", flush=True)


def check(ok, what):
    print(("  ok    " if ok else "  FAIL  ") + what, flush=True)
    if not ok:
        failures.append(what)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


class rss_sampler:
    def __init__(self, pid):
        self.pid, self.samples, self.stop = pid, [], threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop.is_set():
            self.samples.append(rss_kib(self.pid))
            self.stop.wait(0.2)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


def health_latencies(port, n):
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
            c.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                chunk = c.recv(4096)
                if not chunk:
                    break
                data += chunk
        out.append((time.perf_counter() - t0) * 1000)
        if not data.startswith(b"HTTP/1.1 200"):
            raise AssertionError("health answered " + data[:40].decode(errors="replace"))
    return out


def p99(values):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * 0.99))]


# --- load ---------------------------------------------------------------------------------

def section_load(quick):
    seconds = 15 if quick else 300
    cfg = base_config([{"name": "echo", "command": ["cat"], "queue_depth": 1024,
                        "max_concurrency": 8}],
                      limits={"global_concurrency": 8}, status_table={"slots": 1024})
    with Spearlet(cfg) as s:
        pid = s.proc.pid
        s.execute("echo", "warm")
        time.sleep(0.5)
        fds0, rss0 = fd_count(pid), rss_kib(pid)
        with rss_sampler(pid) as sampler:
            r = subprocess.run(["wrk", "-t1", "-c16", f"-d{seconds}s", "-s",
                                os.path.join(HERE, "mix.lua"), f"http://127.0.0.1:{s.port}"],
                               capture_output=True, text=True, timeout=seconds + 60)
        time.sleep(1.0)  # async runs finish, connections close
        fds1, rss1 = fd_count(pid), rss_kib(pid)
        counts = [l for l in r.stdout.splitlines() if l.startswith("SOAK_COUNTS")]
        rate = [l for l in r.stdout.splitlines() if "Requests/sec" in l]
        print(f"load: {seconds} s of wrk -c16 on the mix; {rate[0].strip() if rate else '?'}; "
              f"{counts[0] if counts else r.stdout}")
        # The status table fills during the first part (its records are kept by design); after
        # that RSS must stay flat: compare the end with the sample a quarter into the run.
        quarter = sampler.samples[len(sampler.samples) // 4] if sampler.samples else rss0
        print(f"load: RSS start {rss0} KiB, at 1/4 {quarter} KiB, peak {max(sampler.samples)} KiB, "
              f"end {rss1} KiB; fds {fds0} -> {fds1}")
        fields = dict(kv.split("=") for kv in counts[0].split()[1:]) if counts else {}
        check(r.returncode == 0 and counts, "wrk ran the mix")
        check(int(fields.get("bad", 1)) == 0, "no response other than 2xx and 429")
        check(int(fields.get("ok", 0)) > 0, "requests were served")
        check(fds1 <= fds0 + 2, f"no fd growth ({fds0} -> {fds1})")
        check_memory(rss1 <= quarter * 1.2, "RSS flat once the status table is full (end <= 1.2x at 1/4)")


# --- connections --------------------------------------------------------------------------

def section_connections(quick):
    n = 200 if quick else 1000
    limit = 2 * n + 8
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 4 * n + 256)), hard))
    cfg = base_config([{"name": "echo", "command": ["cat"]}],
                      http={"max_connections": limit, "header_timeout_ms": 30000,
                            "idle_timeout_ms": 60000})
    with Spearlet(cfg) as s:
        idle = health_latencies(s.port, 200)
        held = []
        for i in range(n):  # slowloris: a partial request line, then a byte now and then
            c = socket.create_connection(("127.0.0.1", s.port))
            c.sendall(b"GET /health HTTP/1.1\r\nX-Slow: ")
            held.append(c)
        for i in range(n):  # idle keep-alive connections after one complete request
            c = socket.create_connection(("127.0.0.1", s.port))
            c.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            c.recv(4096)
            held.append(c)
        for c in held[:n]:
            c.sendall(b"a")
        loaded = health_latencies(s.port, 200)
        print(f"connections: {n} slowloris + {n} idle keep-alive; /health p99 idle "
              f"{p99(idle):.2f} ms, loaded {p99(loaded):.2f} ms (median {statistics.median(idle):.2f}"
              f" / {statistics.median(loaded):.2f} ms)")
        check_memory(p99(loaded) <= 2 * p99(idle) + 1.0, "health p99 within 2x idle (+1 ms)")
        # Fill the table to the limit, then one more: a prompt 429, not a hang.
        extra = []
        while len(held) + len(extra) < limit:
            extra.append(socket.create_connection(("127.0.0.1", s.port)))
        time.sleep(0.3)
        t0 = time.monotonic()
        over = socket.create_connection(("127.0.0.1", s.port), timeout=5)
        answer = over.recv(4096)
        elapsed = time.monotonic() - t0
        print(f"connections: over the limit of {limit}: {answer[:12]!r} in {elapsed * 1000:.1f} ms")
        check(answer.startswith(b"HTTP/1.1 429"), "the connection limit answers 429")
        check(elapsed < 1.0, "promptly")
        for c in held + extra + [over]:
            c.close()


# --- websocket ----------------------------------------------------------------------------

def ws_connect(port, path):
    c = socket.create_connection(("127.0.0.1", port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    c.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
               "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += c.recv(1)
    if not head.startswith(b"HTTP/1.1 101"):
        raise AssertionError("no upgrade: " + head.decode(errors="replace"))
    return c


def ws_frame(opcode, payload, fin=True):
    mask = os.urandom(4)
    first = (0x80 if fin else 0) | opcode
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", first, 0x80 | n)
    elif n < 65536:
        header = struct.pack("!BBH", first, 0x80 | 126, n)
    else:
        header = struct.pack("!BBQ", first, 0x80 | 127, n)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload)) if n < 65536 else \
        (int.from_bytes(payload, "big") ^ int.from_bytes((mask * (n // 4 + 1))[:n], "big")).to_bytes(n, "big")
    return header + mask + masked


def buf_fin(first_byte):
    return bool(first_byte & 0x80)


def ws_read_frames(c, until_close=True, timeout=10.0):
    """Reads frames; returns (messages, close_code)."""
    c.settimeout(timeout)
    buf, messages, partial = b"", [], b""

    def need(k):
        nonlocal buf
        while len(buf) < k:
            chunk = c.recv(65536)
            if not chunk:
                raise EOFError
            buf += chunk

    try:
        while True:
            need(2)
            first_byte = buf[0]
            op, n = buf[0] & 0x0F, buf[1] & 0x7F
            off = 2
            if n == 126:
                need(4)
                n, off = struct.unpack("!H", buf[2:4])[0], 4
            elif n == 127:
                need(10)
                n, off = struct.unpack("!Q", buf[2:10])[0], 10
            need(off + n)
            payload, buf = buf[off:off + n], buf[off + n:]
            if op == 8:
                return messages, struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
            if op in (0, 1):  # text, or a continuation of it
                partial += payload
                if buf_fin(first_byte):
                    messages.append(json.loads(partial))
                    partial = b""
    except (EOFError, socket.timeout, ConnectionResetError):
        return messages, None


def section_websocket(quick):
    cfg = base_config([{"name": "echo", "command": ["cat"]},
                       sh("i=0; while [ $i -lt 400 ]; do printf '%01000d\\n' $i; i=$((i+1)); done",
                          "ticker"),
                       sh("sleep 2; echo done", "slow")],
                      stream={"write_timeout_ms": 2000, "max_message_bytes": 1 << 20})
    with Spearlet(cfg) as s:
        # An oversize first message: 1009.
        c = ws_connect(s.port, "/stream")
        frame = ws_frame(1, b"x" * ((2 if quick else 10) << 20))
        try:
            # The server may close (1009) before the 10 MB are sent: the write then fails with
            # EPIPE or a reset, and the close frame is already in our receive buffer.
            for at in range(0, len(frame), 64 << 10):
                c.sendall(frame[at:at + (64 << 10)])
        except (BrokenPipeError, ConnectionResetError):
            pass
        _, code = ws_read_frames(c)
        c.close()
        check(code == 1009, f"an oversize message closes with 1009 (got {code})")
        # One-byte fragments of a valid first message: assembled, the stream runs.
        c = ws_connect(s.port, "/stream")
        msg = json.dumps({"function_name": "echo", "input": "frag"}).encode()
        for i, b in enumerate(msg):
            c.sendall(ws_frame(1 if i == 0 else 0, bytes([b]), fin=(i == len(msg) - 1)))
        messages, code = ws_read_frames(c)
        c.close()
        check(any(m.get("type") == "final" and m.get("status") == "completed" for m in messages)
              and code == 1000, f"one-byte fragments make one message (close {code})")
        # A ping flood during a stream: the stream still completes, health stays fast.
        c = ws_connect(s.port, "/stream")
        c.sendall(ws_frame(1, json.dumps({"function_name": "slow"}).encode()))
        t0 = time.monotonic()
        pings = 0
        while time.monotonic() - t0 < 1.0:
            c.sendall(ws_frame(9, b"p" * 16))
            pings += 1
        h = health_latencies(s.port, 50)
        messages, code = ws_read_frames(c)
        c.close()
        print(f"websocket: {pings} pings in 1 s during a stream; /health p99 {p99(h):.2f} ms")
        check(any(m.get("type") == "final" for m in messages) and code == 1000,
              f"a ping flood does not break the stream (close {code})")
        # A viewer that never reads, beside one that does, on a 400 KB ticker.
        r = s.execute("slow", mode="async")
        r = s.execute("ticker", mode="async")
        execution_id = r.json()["execution_id"]
        lazy = ws_connect(s.port, f"/executions/{execution_id}/stream")
        lazy.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        t0 = time.monotonic()
        reader = ws_connect(s.port, f"/executions/{execution_id}/stream")
        messages, code = ws_read_frames(reader)
        elapsed = time.monotonic() - t0
        print(f"websocket: reading viewer beside a non-reading one got {len(messages)} messages "
              f"in {elapsed:.2f} s")
        check(code == 1000 and messages and messages[-1].get("type") == "final",
              "the reading viewer gets everything up to final")
        lazy.close()
        reader.close()


# --- bursts -------------------------------------------------------------------------------

def section_bursts(quick):
    viewers = 300 if quick else 1000
    queued = 1000 if quick else 10000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 2 * viewers + 256)), hard))
    cfg = base_config([sh("sleep 3; echo done", "long"),
                       {"name": "echo", "command": ["true"], "queue_depth": queued + 8,
                        "max_concurrency": 4}],
                      http={"max_connections": viewers + 64},
                      stream={"max_viewers_per_execution": viewers + 8},
                      status_table={"slots": queued + 64},
                      limits={"global_concurrency": 8})
    with Spearlet(cfg) as s:
        pid = s.proc.pid
        # Steady state first: the status table holds `slots` records by design, so fill it
        # once; the bursts must then give back what they took.
        conn = s.connection(30)
        for i in range(queued + 64):
            s.post("/functions/echo/invoke?mode=async", body=b"w", conn=conn)
        wait_drained(s)
        time.sleep(1.0)
        rss0 = rss_kib(pid)
        execution_id = s.execute("long", mode="async").json()["execution_id"]
        socks = []
        for _ in range(viewers):
            c = socket.create_connection(("127.0.0.1", s.port))
            c.sendall((f"GET /executions/{execution_id}/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                       "Accept: text/event-stream\r\n\r\n").encode())
            socks.append(c)
        time.sleep(1.0)
        rss_viewers = rss_kib(pid)
        s.wait_status(execution_id)
        for c in socks:
            c.close()
        time.sleep(3.0)
        rss_after_viewers = rss_kib(pid)
        for i in range(queued):
            s.post("/functions/echo/invoke?mode=async", body=b"q" * 64, conn=conn)
        rss_queue = rss_kib(pid)
        wait_drained(s)
        time.sleep(3.0)
        rss1 = rss_kib(pid)
        print(f"bursts: RSS steady {rss0} KiB; with {viewers} SSE viewers {rss_viewers} KiB, "
              f"3 s after they left {rss_after_viewers} KiB; with {queued} queued async "
              f"{rss_queue} KiB, 3 s after they ran {rss1} KiB")
        check_memory(rss_after_viewers <= rss0 * 1.5, "memory returns within 1.5x after the viewers")
        check_memory(rss1 <= rss0 * 1.5, "memory returns within 1.5x after the queue")


def wait_drained(s, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        h = s.get("/health").json()
        if not h.get("pending") and not h.get("running"):
            return
        time.sleep(0.1)
    raise AssertionError("the queue did not drain")


SECTIONS = {"load": section_load, "connections": section_connections,
            "websocket": section_websocket, "bursts": section_bursts}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="the ~60 s version CI runs")
    ap.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections")
    ap.add_argument("--sanitized", action="store_true",
                    help="an ASan build: print RSS and latency figures without judging them")
    args = ap.parse_args()
    global judge_memory
    judge_memory = not args.sanitized
    if not shutil.which("wrk") and "load" in args.only:
        print("wrk is not installed (tools/dev deps installs it)")
        return 1
    for name in args.only.split(","):
        print(f"== {name}", flush=True)
        t0 = time.monotonic()
        try:
            SECTIONS[name](args.quick)
        except Exception as e:  # a broken section is a failure, the rest still runs
            check(False, f"{name}: {type(e).__name__}: {e}")
        print(f"   ({time.monotonic() - t0:.1f} s)")
    print("soak: " + ("all invariants held" if not failures else f"{len(failures)} failed"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
