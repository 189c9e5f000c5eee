"""Stream mode over WebSocket and SSE against the real binary (issue 4).

Uses Debian's python3-websockets (asyncio API of version 10).
"""
import asyncio
import json
import re
import socket
import struct
import time
import unittest

import websockets

from spear_harness import Spearlet, base_config, pid_alive, sh, wait_until

FUNCTIONS = [
    sh("for i in 1 2 3 4 5; do echo line $i; sleep 0.1; done", "lines"),
    sh("echo first; sleep 1; echo second", "gap"),
    sh("echo before; exit 4", "fails", content_type="text/plain"),
    sh("echo $$; sleep 30", "forever", timeout_ms=60000),
    sh("echo $$; sleep 0.5; echo tick; sleep 30", "slowstart", timeout_ms=400),
    sh("yes 0123456789abcdefghijklmnopqrstuvwxyz | head -c 8000000", "flood"),
    sh("sleep 0.4; printf '\\377\\376binary'", "binary"),
    sh("for i in $(seq 1 40); do echo v$i; sleep 0.05; done", "ticker"),
    # A program that block-buffers stdout unless it is a terminal (like most C and Python).
    {"name": "buffered_pipe", "command": ["/usr/bin/python3", "-c",
                                          "import time; print('a'); time.sleep(1); print('b')"]},
    {"name": "buffered_pty", "stdout": "pty",
     "command": ["/usr/bin/python3", "-c", "import time; print('a'); time.sleep(1); print('b')"]},
]


def raw_ws_connect(host, port, path, rcvbuf=4096):
    """A WebSocket client socket with a tiny receive buffer (a viewer that stalls)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(30)
    sock.connect((host, port))
    sock.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                  "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    return sock


def raw_ws_read_all(sock):
    """Reads the handshake and every (unmasked, server) frame until the close frame."""
    data = b""
    while True:
        b = sock.recv(1 << 20)
        if not b:
            break
        data += b
        if b"\r\n\r\n" in data:
            head, rest = data.split(b"\r\n\r\n", 1)
            pos, frames, parts = 0, [], []
            while True:
                if len(rest) - pos < 2:
                    break
                fin, op, ln = rest[pos] & 0x80, rest[pos] & 0x0F, rest[pos + 1] & 0x7F
                hdr = 2
                if ln == 126:
                    ln, hdr = int.from_bytes(rest[pos + 2:pos + 4], "big"), 4
                elif ln == 127:
                    ln, hdr = int.from_bytes(rest[pos + 2:pos + 10], "big"), 10
                if len(rest) - pos < hdr + ln:
                    break
                payload = rest[pos + hdr:pos + hdr + ln]
                pos += hdr + ln
                if op == 8:
                    frames.append((8, payload))
                    sock.close()
                    return frames
                # Messages may be fragmented: op 1 starts, op 0 continues, FIN ends.
                if op != 0:
                    parts = [op]
                parts.append(payload)
                if fin:
                    frames.append((parts[0], b"".join(parts[1:])))
                    parts = []
    sock.close()
    raise AssertionError("connection ended without a close frame")


def run(coro, timeout=30):
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def collect(ws, until_final=True, limit=100000):
    """Receives messages until the final one (then the close)."""
    messages = []
    while len(messages) < limit:
        msg = json.loads(await ws.recv())
        messages.append(msg)
        if until_final and msg.get("is_final"):
            break
    return messages


class StreamTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s = Spearlet(base_config(FUNCTIONS, stream={"replay_chunks": 8,
                                                        "viewer_queue_messages": 16,
                                                        "max_viewers_per_execution": 5}))
        cls.ws_url = f"ws://{cls.s.host}:{cls.s.port}"

    @classmethod
    def tearDownClass(cls):
        cls.s.close()

    async def invoke(self, request):
        ws = await websockets.connect(self.ws_url + "/stream", max_size=2 ** 22)
        await ws.send(json.dumps(request))
        return ws

    def test_stream_multiline_ordered_seq_final_and_normal_close(self):
        async def go():
            ws = await self.invoke({"function_name": "lines", "execution_mode": "stream"})
            msgs = await collect(ws)
            await ws.wait_closed()
            return msgs, ws.close_code
        msgs, code = run(go())
        self.assertEqual(code, 1000)
        self.assertEqual(msgs[0]["type"], "status")
        self.assertEqual(msgs[0]["status"], "running")
        eid = msgs[0]["execution_id"]
        self.assertEqual([m["seq"] for m in msgs], list(range(len(msgs))))
        text = "".join(m["chunk_data"] for m in msgs if m["type"] == "chunk")
        self.assertEqual(text, "".join(f"line {i}\n" for i in range(1, 6)))
        final = msgs[-1]
        self.assertTrue(final["is_final"])
        self.assertEqual(final["status"], "completed")
        self.assertEqual(final["exit_code"], 0)
        self.assertIn("execution_time_ms", final)
        # The stream is an ordinary record.
        st = self.s.get(f"/status/{eid}").json()
        self.assertEqual(st["result"]["execution_mode"], "stream")
        self.assertEqual(st["result"]["output"]["data"], text)

    def test_chunks_arrive_live(self):
        async def go():
            ws = await self.invoke({"function_name": "gap"})
            t0 = time.monotonic()
            times = {}
            while True:
                m = json.loads(await ws.recv())
                if m["type"] == "chunk":
                    times[m["chunk_data"].strip()] = time.monotonic() - t0
                if m.get("is_final"):
                    break
            await ws.close()
            return times
        times = run(go())
        self.assertLess(times["first"], 0.7, times)
        self.assertGreater(times["second"] - times["first"], 0.7, times)

    def test_pty_stdout_streams_line_by_line(self):
        async def go(name):
            ws = await self.invoke({"function_name": name})
            t0 = time.monotonic()
            first_chunk_at = None
            text = ""
            while True:
                m = json.loads(await ws.recv())
                if m["type"] == "chunk":
                    first_chunk_at = first_chunk_at or time.monotonic() - t0
                    text += m["chunk_data"]
                if m.get("is_final"):
                    break
            return first_chunk_at, text
        pty_first, pty_text = run(go("buffered_pty"))
        pipe_first, pipe_text = run(go("buffered_pipe"))
        self.assertEqual(pty_text, "a\nb\n")  # raw pty: no \r\n translation
        self.assertEqual(pipe_text, "a\nb\n")
        self.assertLess(pty_first, 0.8)    # "a" arrived before "b" was written
        self.assertGreater(pipe_first, 0.9)  # the pipe buffered until exit

    def test_failure_and_timeout_outcomes_in_final(self):
        async def go(name):
            ws = await self.invoke({"function_name": name})
            msgs = await collect(ws)
            await ws.wait_closed()
            return msgs[-1], ws.close_code
        final, code = run(go("fails"))
        self.assertEqual((final["status"], final["exit_code"], final["error_code"]),
                         ("failed", 4, "function_failed"))
        self.assertEqual(code, 1000)
        final, code = run(go("slowstart"))
        self.assertEqual((final["status"], final["error_code"]), ("timeout", "timeout"))

    def test_binary_chunks_are_base64(self):
        async def go():
            ws = await self.invoke({"function_name": "binary"})
            return await collect(ws)
        msgs = run(go())
        chunks = [m for m in msgs if m["type"] == "chunk"]
        self.assertEqual(chunks[0]["encoding"], "base64")
        import base64
        self.assertEqual(base64.b64decode(chunks[0]["chunk_data"]), b"\xff\xfebinary")

    def test_three_viewers_receive_identical_chunks(self):
        async def go():
            ws = await self.invoke({"function_name": "ticker"})
            first = json.loads(await ws.recv())
            eid = first["execution_id"]
            viewers = [await websockets.connect(f"{self.ws_url}/executions/{eid}/stream")
                       for _ in range(3)]
            results = await asyncio.gather(collect(ws), *(collect(v) for v in viewers))
            return results
        caller, *views = run(go())
        chunks = [[(m["seq"], m["chunk_data"]) for m in v if m["type"] == "chunk"]
                  for v in views]
        self.assertEqual(chunks[0], chunks[1])
        self.assertEqual(chunks[1], chunks[2])
        self.assertTrue(chunks[0])
        for v in views:
            self.assertEqual(v[-1]["status"], "completed")
        caller_chunks = [(m["seq"], m["chunk_data"]) for m in caller if m["type"] == "chunk"]
        # Viewers joined late: what they saw is a suffix (replay + live) of the caller's.
        self.assertEqual(caller_chunks[-len(chunks[0]):], chunks[0])

    def test_late_viewer_gets_replay_then_live_then_final(self):
        eid = self.s.execute("ticker", "", mode="async").json()["execution_id"]
        time.sleep(0.8)  # ~16 lines written, more than replay_chunks (8)

        async def go():
            v = await websockets.connect(f"{self.ws_url}/executions/{eid}/stream")
            return await collect(v)
        msgs = run(go())
        chunks = [m for m in msgs if m["type"] == "chunk"]
        seqs = [m["seq"] for m in chunks]
        self.assertEqual(seqs, list(range(seqs[0], seqs[0] + len(seqs))))
        self.assertGreater(seqs[0], 1)  # older chunks were not kept
        self.assertEqual(msgs[-1]["status"], "completed")
        self.assertTrue(chunks[-1]["chunk_data"].endswith("v40\n"))

    def test_viewer_of_finished_execution_gets_replay_and_final(self):
        eid = self.s.execute("lines", "").json()["execution_id"]

        async def go():
            v = await websockets.connect(f"{self.ws_url}/executions/{eid}/stream")
            msgs = await collect(v)
            await v.wait_closed()
            return msgs, v.close_code
        msgs, code = run(go())
        self.assertEqual(code, 1000)
        text = "".join(m["chunk_data"] for m in msgs if m["type"] == "chunk")
        self.assertEqual(text, "".join(f"line {i}\n" for i in range(1, 6)))
        self.assertTrue(msgs[-1]["is_final"])

    def test_stalled_viewer_does_not_delay_others(self):
        async def go():
            ws = await self.invoke({"function_name": "flood", "detach": True})
            eid = json.loads(await ws.recv())["execution_id"]
            # A viewer that never reads, with a tiny receive window.
            stalled = socket.create_connection((self.s.host, self.s.port))
            stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            stalled.sendall((f"GET /executions/{eid}/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                             "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                             "Sec-WebSocket-Version: 13\r\n\r\n").encode())
            reader = await websockets.connect(f"{self.ws_url}/executions/{eid}/stream",
                                              max_size=2 ** 22)
            t0 = time.monotonic()
            caller_msgs = await collect(ws)
            reader_msgs = await collect(reader)
            elapsed = time.monotonic() - t0
            stalled.close()
            return caller_msgs, reader_msgs, elapsed, eid
        caller, reader, elapsed, eid = run(go(), timeout=60)
        self.assertEqual(caller[-1]["status"], "completed")
        self.assertEqual(reader[-1]["status"], "completed")
        self.assertLess(elapsed, 10)
        st = self.s.get(f"/status/{eid}?include_result=false").json()
        self.assertEqual(st["status"], "completed")
        self.assertEqual(self.s.get("/health").status, 200)

    def test_slow_viewer_is_told_what_was_dropped(self):
        eid = self.s.execute("flood", "", mode="async").json()["execution_id"]
        sock = raw_ws_connect(self.s.host, self.s.port, f"/executions/{eid}/stream")
        # Read nothing until the execution has ended: the queue (16) must drop chunks.
        self.assertEqual(self.s.get(f"/status/{eid}?wait_ms=20000").json()["status"], "completed")
        frames = raw_ws_read_all(sock)
        msgs = [json.loads(p) for op, p in frames if op == 1]
        dropped = [m for m in msgs if m["type"] == "dropped"]
        self.assertTrue(dropped, "a queue of 16 cannot hold 8 MB of output")
        self.assertGreater(sum(m["dropped"] for m in dropped), 0)
        self.assertEqual(msgs[-1]["type"], "final")
        self.assertEqual(msgs[-1]["status"], "completed")
        self.assertEqual(frames[-1][0], 8)  # and a close frame
        chunk_seqs = [m["seq"] for m in msgs if m["type"] == "chunk"]
        self.assertEqual(chunk_seqs, sorted(chunk_seqs))

    def test_pings_during_batched_writes_never_split_a_frame(self):
        # A viewer that reads slowly gets its queued events several frames per write, written
        # by spearlet itself; Beast's pongs must wait for such a write to end (issue 11).
        eid = self.s.execute("flood", "", mode="async").json()["execution_id"]
        sock = raw_ws_connect(self.s.host, self.s.port, f"/executions/{eid}/stream",
                              rcvbuf=16384)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        mask = b"\x01\x02\x03\x04"
        data, pings, deadline = b"", 0, time.monotonic() + 20
        while time.monotonic() < deadline:
            payload = b"ping%05d" % pings
            sock.sendall(bytes([0x89, 0x80 | len(payload)]) + mask +
                         bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
            pings += 1
            chunk = sock.recv(8192)
            if not chunk:
                break
            tail = data[-64:] + chunk
            data += chunk
            if b"\"is_final\":true" in tail:
                break
            time.sleep(0.001)
        sock.settimeout(0.5)
        drain_until = time.monotonic() + 1
        try:  # what is still in flight, briefly: the pongs of queued pings trickle in for long
            while time.monotonic() < drain_until and (chunk := sock.recv(1 << 20)):
                data += chunk
        except (socket.timeout, ConnectionResetError):
            pass
        sock.close()
        head, rest = data.split(b"\r\n\r\n", 1)
        self.assertIn(b" 101 ", head.split(b"\r\n", 1)[0] + b" ")
        pos, msgs, pongs, parts = 0, [], 0, []
        while len(rest) - pos >= 2:
            b0, ln = rest[pos], rest[pos + 1] & 0x7F
            self.assertEqual(b0 & 0x70, 0, f"reserved bits set at byte {pos}: a split frame")
            self.assertIn(b0 & 0x0F, (0, 1, 8, 10), f"opcode {b0 & 0x0F} at byte {pos}")
            hdr = 2
            if ln == 126:
                ln, hdr = int.from_bytes(rest[pos + 2:pos + 4], "big"), 4
            elif ln == 127:
                ln, hdr = int.from_bytes(rest[pos + 2:pos + 10], "big"), 10
            if len(rest) - pos < hdr + ln:
                break
            payload = rest[pos + hdr:pos + hdr + ln]
            pos += hdr + ln
            if b0 & 0x0F in (0, 1):  # a message may come in fragments
                parts.append(payload)
                if b0 & 0x80:
                    msgs.append(json.loads(b"".join(parts)))  # a cut frame would not parse
                    parts = []
            elif b0 & 0x0F == 10:
                self.assertRegex(payload, rb"^ping\d{5}$")
                pongs += 1
            else:
                break
        self.assertGreater(pongs, 0)
        self.assertEqual(msgs[-1]["type"], "final")
        seqs = [m["seq"] for m in msgs if m["type"] != "dropped"]
        self.assertEqual(seqs, sorted(seqs))

    def test_caller_disconnect_cancels(self):
        async def go():
            ws = await self.invoke({"function_name": "forever"})
            first = json.loads(await ws.recv())
            pid_msg = json.loads(await ws.recv())
            await ws.close()
            return first["execution_id"], int(pid_msg["chunk_data"])
        eid, pid = run(go())
        st = self.s.wait_status(eid, timeout=10)
        self.assertEqual(st["status"], "cancelled")
        self.assertTrue(wait_until(lambda: not pid_alive(pid), 5))

    def test_detached_stream_survives_disconnect(self):
        async def go():
            ws = await self.invoke({"function_name": "lines", "detach": True})
            first = json.loads(await ws.recv())
            await ws.close()
            return first["execution_id"]
        eid = run(go())
        self.assertEqual(self.s.wait_status(eid)["status"], "completed")

    def test_cancel_message_stops_and_reports(self):
        async def go():
            ws = await self.invoke({"function_name": "forever"})
            await ws.recv()
            await ws.recv()
            await ws.send(json.dumps({"type": "cancel"}))
            msgs = await collect(ws)
            await ws.wait_closed()
            return msgs[-1], ws.close_code
        final, code = run(go())
        self.assertEqual(final["status"], "cancelled")
        self.assertEqual(code, 1000)

    def test_malformed_first_message_errors_then_1008(self):
        async def go(payload):
            ws = await websockets.connect(self.ws_url + "/stream")
            await ws.send(payload)
            msg = json.loads(await ws.recv())
            await ws.wait_closed()
            return msg, ws.close_code
        msg, code = run(go("{not json"))
        self.assertEqual((msg["type"], msg["error"]["code"], code), ("error", "invalid_request", 1008))
        msg, code = run(go(json.dumps({"function_name": "nope"})))
        self.assertEqual((msg["error"]["code"], code), ("function_not_found", 1008))
        msg, code = run(go(json.dumps({"function_name": "lines", "execution_mode": "turbo"})))
        self.assertEqual((msg["error"]["code"], code), ("unknown_execution_mode", 1008))
        msg, code = run(go(json.dumps({"function_name": "lines", "execution_mode": "sync"})))
        self.assertEqual((msg["error"]["code"], code), ("invalid_request", 1008))

    def test_invalid_utf8_text_frame_closes_1007(self):
        # A raw client: masked text frame with bytes that are not UTF-8.
        sock = socket.create_connection((self.s.host, self.s.port), timeout=5)
        sock.sendall(b"GET /stream HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                     b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     b"Sec-WebSocket-Version: 13\r\n\r\n")
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(1024)
        self.assertIn(b"101", head.split(b"\r\n")[0])
        payload = b"\xff\xfe\xfd"
        mask = b"\x01\x02\x03\x04"
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        sock.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + masked)
        data = b""
        try:
            while True:
                b = sock.recv(1024)
                if not b:
                    break
                data += b
        except socket.timeout:
            pass
        sock.close()
        self.assertGreaterEqual(len(data), 4, data)
        self.assertEqual(data[0] & 0x0F, 0x8)  # close frame
        self.assertEqual(int.from_bytes(data[2:4], "big"), 1007)

    def test_oversize_message_closes_1009(self):
        async def go():
            ws = await websockets.connect(self.ws_url + "/stream", max_size=None)
            try:  # the server may close while the message is still being sent
                await ws.send("x" * (2 ** 20 + 10))
                await ws.recv()
            except websockets.ConnectionClosed:
                pass
            await ws.wait_closed()
            return ws.close_code
        self.assertEqual(run(go()), 1009)

    def test_unknown_execution_id_404_before_upgrade(self):
        async def go():
            try:
                await websockets.connect(f"{self.ws_url}/executions/000000000000000000000000/stream")
            except websockets.InvalidStatusCode as e:
                return e.status_code
            return None
        self.assertEqual(run(go()), 404)

    def test_viewer_limit(self):
        eid = self.s.execute("ticker", "", mode="async").json()["execution_id"]

        async def go():
            viewers = [await websockets.connect(f"{self.ws_url}/executions/{eid}/stream")
                       for _ in range(5)]
            try:
                await websockets.connect(f"{self.ws_url}/executions/{eid}/stream")
                status = None
            except websockets.InvalidStatusCode as e:
                status = e.status_code
            for v in viewers:
                await v.close()
            return status
        self.assertEqual(run(go()), 429)
        self.s.wait_status(eid)

    def test_sse_viewer(self):
        eid = self.s.execute("lines", "", mode="async").json()["execution_id"]
        conn = self.s.connection(timeout=10)
        conn.request("GET", f"/executions/{eid}/stream", headers={"Accept": "text/event-stream"})
        r = conn.getresponse()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.getheader("Content-Type"), "text/event-stream")
        body = r.read().decode()
        conn.close()
        events = [blk for blk in body.split("\n\n") if blk.strip() and not blk.startswith(":")]
        datas = [json.loads(line[6:]) for blk in events for line in blk.split("\n")
                 if line.startswith("data: ")]
        self.assertEqual(datas[-1]["type"], "final")
        self.assertEqual(datas[-1]["status"], "completed")
        text = "".join(d["chunk_data"] for d in datas if d["type"] == "chunk")
        self.assertTrue(text.endswith("line 5\n"))

    def test_stream_endpoint_without_upgrade_is_400(self):
        r = self.s.get("/stream")
        self.assertEqual(r.status, 400)
        self.assertEqual(r.json()["error"]["code"], "invalid_request")
        eid = self.s.execute("lines", "").json()["execution_id"]
        r = self.s.get(f"/executions/{eid}/stream")
        self.assertEqual(r.status, 400)


# --- lifecycle of a /stream connection (issue 9 item 4, audit 10.5, 10.10, item 6) ---------

def masked_text_frame(text):
    """A client (masked) WebSocket text frame."""
    payload = text.encode()
    mask = b"\x11\x22\x33\x44"
    if len(payload) < 126:
        head = bytes([0x81, 0x80 | len(payload)])
    else:
        head = bytes([0x81, 0x80 | 126]) + len(payload).to_bytes(2, "big")
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


class StreamLifecycleTest(unittest.TestCase):
    """How a /stream connection ends decides what happens to its execution."""

    @classmethod
    def setUpClass(cls):
        cls.s = Spearlet(base_config([
            # Output as fast as the appliance reads it, for a minute.
            sh("yes spear-edge-firehose", "firehose", timeout_ms=60000),
            sh("echo $$; sleep 30", "forever", timeout_ms=60000),
        ], stream={"first_message_timeout_ms": 300}))
        cls.ws_url = f"ws://{cls.s.host}:{cls.s.port}"

    @classmethod
    def tearDownClass(cls):
        cls.s.close()

    def test_client_reset_with_unread_data_cancels_the_execution(self):
        # Audit 10.5: the writer's failed write used to count as a normal end, leaving the
        # execution running to its timeout (here 60 s).
        sock = raw_ws_connect(self.s.host, self.s.port, "/stream")
        data = b""
        while b"\r\n\r\n" not in data:  # the handshake answer comes before any message
            data += sock.recv(4096)
        self.assertIn(b" 101 ", data.split(b"\r\n", 1)[0])
        sock.sendall(masked_text_frame(json.dumps({"function_name": "firehose"})))
        m = None
        while m is None:
            chunk = sock.recv(4096)
            self.assertTrue(chunk, "the connection closed before the first message")
            data += chunk
            m = re.search(rb'"execution_id":"([0-9a-f]+)"', data)
        eid = m.group(1).decode()
        time.sleep(1.0)  # stop reading: the appliance's writes back up
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()  # RST with data unread
        t0 = time.monotonic()
        st = self.s.wait_status(eid, timeout=10)
        self.assertEqual(st["status"], "cancelled")
        self.assertLess(time.monotonic() - t0, 10)

    def test_a_silent_client_is_closed_after_the_first_message_deadline(self):
        # Audit 10.10: a client that answers pings but never sends its request held a slot.
        async def go():
            ws = await websockets.connect(self.ws_url + "/stream")
            t0 = time.monotonic()
            msg = json.loads(await ws.recv())
            await ws.wait_closed()
            return msg, ws.close_code, ws.close_reason, time.monotonic() - t0
        msg, code, reason, elapsed = run(go(), timeout=20)
        self.assertEqual(msg["type"], "error")
        self.assertEqual(msg["error"]["code"], "invalid_request")
        self.assertIn("first_message_timeout_ms", msg["error"]["message"])
        self.assertEqual(code, 1008)
        self.assertLess(elapsed, 5)

    def test_only_a_cancel_message_cancels(self):
        async def go():
            ws = await websockets.connect(self.ws_url + "/stream")
            await ws.send(json.dumps({"function_name": "forever"}))
            eid = json.loads(await ws.recv())["execution_id"]
            await ws.recv()  # the pid chunk: it runs
            for text in ('{"note":"do not cancel"}', '{"type":"note","text":"cancel"}',
                         '"cancel"', '["cancel"]', '{"type":"cancelled"}',
                         '{"type":["cancel"]}', "cancel", '{"type":"cancel"'):
                await ws.send(text)
            await asyncio.sleep(0.5)
            before = self.s.get(f"/status/{eid}").json()["status"]
            await ws.send(json.dumps({"type": "cancel"}))
            msgs = await collect(ws)
            await ws.wait_closed()
            return before, msgs[-1], ws.close_code
        before, final, code = run(go())
        self.assertEqual(before, "running")
        self.assertEqual(final["status"], "cancelled")
        self.assertEqual(code, 1000)


if __name__ == "__main__":
    unittest.main()
