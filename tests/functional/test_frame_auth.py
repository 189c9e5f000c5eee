"""Authenticated frame links (issue 12): pre-shared keys per peer (frame.peers), the
link_hello/link_challenge handshake and a truncated HMAC-SHA256 trailer on every frame, against
the real binary over TCP and over a pty standing in for a UART.

The protocol is implemented here a second time with Python's hmac module (stdlib), so the
appliance's C code (tools/peer/spear_hmac.c) is checked against an independent implementation;
the spear-peer tests run the C peer tool itself.
"""
import hashlib
import hmac
import os
import pty
import re
import select
import shutil
import signal
import subprocess
import tempfile
import time
import tty
import unittest

import test_frames as tf
from spear_harness import Spearlet, base_config, wait_until

tf.SCHEMA["Frame"][12] = ("link_hello", "LinkHello")
tf.SCHEMA["Frame"][13] = ("link_challenge", "LinkChallenge")
tf.SCHEMA["LinkHello"] = {1: ("key_id", "str"), 2: ("peer_nonce", "bytes")}
tf.SCHEMA["LinkChallenge"] = {1: ("link_nonce", "bytes")}

KEY = bytes(range(0x10, 0x30))  # 32 bytes
KEY_HEX = KEY.hex()
OTHER_KEY_HEX = bytes(range(0x40, 0x50)).hex()  # 16 bytes
UNAUTHORIZED = 4
TOKENS = [{"name": "plant", "token": "plant-token"},
          {"name": "ops", "token": "ops-token", "admin": True}]
PEERS = [{"id": "sensor-7", "key": KEY_HEX, "client": "plant"},
         {"id": "gw", "key": OTHER_KEY_HEX}]
TRAILER = 25


def trailer(key, peer_nonce, link_nonce, direction, counter, message):
    c = counter.to_bytes(4, "little")
    mac = hmac.new(key, peer_nonce + link_nonce + direction + c + message,
                   hashlib.sha256).digest()[:16]
    return b"\x7a\x17\x0d" + c + b"\x12\x10" + mac


def split_trailer(message):
    """(body, counter, mac) of a sealed message; asserts the trailer's fixed bytes."""
    t = message[-TRAILER:]
    assert len(message) > TRAILER and t[:3] == b"\x7a\x17\x0d" and t[7:9] == b"\x12\x10", \
        f"no auth trailer on {message!r}"
    return message[:-TRAILER], int.from_bytes(t[3:7], "little"), t[9:]


class SerialLink(tf.SerialPeer):
    """The master side of a pty, handing out whole messages (CRC checked)."""

    def recv_message(self, timeout=20.0):
        deadline = time.monotonic() + timeout
        while True:
            while b"\x00" in self.buf:
                raw, self.buf = self.buf.split(b"\x00", 1)
                if not raw:
                    continue
                decoded = tf.cobs_decode(raw)
                message, crc = decoded[:-2], decoded[-2:]
                assert tf.crc16(message) == int.from_bytes(crc, "big"), "bad crc"
                return message
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no frame from the appliance")
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                self.buf += os.read(self.fd, 65536)


class AuthPeer:
    """One end of an authenticated link over a TcpPeer or SerialLink."""

    def __init__(self, link, framed):
        self.link = link
        self.framed = framed  # message -> wire bytes
        self.key = None
        self.sent = 0
        self.received = 0
        self.peer_nonce = self.link_nonce = b""

    def handshake(self, key_id, key, request_id=100):
        """Sends link_hello; returns the answer (challenge or error) as a dict. With a key the
        challenge must verify (unless check=False is wanted: see handshake_unchecked)."""
        self.peer_nonce = os.urandom(16)
        self.link.send_raw(self.framed(tf.frame(request_id, "link_hello",
                                                {"key_id": key_id,
                                                 "peer_nonce": self.peer_nonce})))
        message = self.link.recv_message()
        f = tf.decode("Frame", message)
        if "link_challenge" in f:
            self.link_nonce = f["link_challenge"]["link_nonce"]
            body, counter, mac = split_trailer(message)
            self.key = key
            self.sent = self.received = 0
            expected = trailer(key, self.peer_nonce, self.link_nonce, b"A", 0, body)
            f["verified"] = counter == 0 and hmac.compare_digest(expected[9:], mac)
        return f

    def seal(self, message):
        self.sent += 1
        return message + trailer(self.key, self.peer_nonce, self.link_nonce, b"P", self.sent,
                                 message)

    def send(self, message):
        wire = self.framed(self.seal(message))
        self.link.send_raw(wire)
        return wire

    def recv(self, verify=True):
        """The next frame; with verify, its trailer must carry our key's MAC and a counter
        above the last one (the appliance's answers are authenticated too)."""
        message = self.link.recv_message()
        if not verify:
            return tf.decode("Frame", message)
        body, counter, mac = split_trailer(message)
        expected = trailer(self.key, self.peer_nonce, self.link_nonce, b"A", counter, body)
        assert hmac.compare_digest(expected[9:], mac), "an answer's MAC does not verify"
        assert counter > self.received, (counter, self.received)
        self.received = counter
        return tf.decode("Frame", body)


def error_of(f):
    assert "error" in f, f
    return f["error"]


def metric(s, name, labels=""):
    text = s.get("/metrics", headers={"Authorization": "Bearer ops-token"}).body.decode()
    m = re.search(r"^" + re.escape(name + labels) + r" (\d+)", text, re.M)
    return int(m.group(1)) if m else 0


def rejected(s, reason):
    return metric(s, "spearlet_frame_auth_rejected_total", '{reason="' + reason + '"}')


class FrameAuthTcpTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s = Spearlet(base_config(tf.FUNCTIONS, http={"tokens": TOKENS}, frame={
            "tcp": {"enabled": True, "address": "127.0.0.1", "port": 0}, "peers": PEERS}))
        cls.host, cls.port = tf.frame_port(cls.s)

    @classmethod
    def tearDownClass(cls):
        log = cls.s.log()
        tf.stop_clean(cls.s)
        assert KEY_HEX not in log and OTHER_KEY_HEX not in log, "a key reached the log"

    def link(self):
        p = tf.TcpPeer(self.host, self.port)
        self.addCleanup(p.close)
        return AuthPeer(p, tf.tcp_framed)

    def authed(self, key_id="sensor-7", key=KEY):
        a = self.link()
        f = a.handshake(key_id, key)
        self.assertTrue(f.get("verified"), f)
        return a

    def test_authenticated_sync_round_trip_and_answers_are_sealed(self):
        a = self.authed()
        a.send(tf.invoke(1, "echo", data=b"signed"))
        f = a.recv()  # recv checks the appliance's MAC and counter
        self.assertEqual(f["request_id"], 1)
        self.assertEqual(f["invoke_response"]["result"]["output"], b"signed")
        a.send(tf.frame(2, "ping", {}))
        self.assertEqual(a.recv()["request_id"], 2)

    def test_authenticated_peer_runs_as_its_configured_client(self):
        a = self.authed()
        a.send(tf.invoke(3, "echo", mode="async", data=b"who"))
        eid = a.recv()["invoke_response"]["execution_id"]
        r = self.s.get(f"/status/{eid}", headers={"Authorization": "Bearer plant-token"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["client"], "plant")
        # A peer without a client runs as the default client (as unauthenticated links do).
        g = self.authed("gw", bytes.fromhex(OTHER_KEY_HEX))
        g.send(tf.invoke(4, "echo", mode="async", data=b"gw"))
        eid = g.recv()["invoke_response"]["execution_id"]
        r = self.s.get(f"/status/{eid}", headers={"Authorization": "Bearer ops-token"})
        self.assertEqual(r.json()["client"], "", r)

    def test_unauthenticated_frames_are_refused_when_keys_exist(self):
        before = rejected(self.s, "unauthenticated")
        p = self.link()
        p.link.send(tf.invoke(5, "echo", data=b"no key"))
        e = error_of(p.recv(verify=False))
        self.assertEqual(e["code"], UNAUTHORIZED)
        self.assertIn("requires authentication", e["message"])
        self.assertEqual(rejected(self.s, "unauthenticated"), before + 1)
        # After a handshake, a frame without its trailer is refused as well.
        a = self.authed()
        a.link.send(tf.invoke(6, "echo", data=b"plain"))
        self.assertEqual(error_of(a.recv())["code"], UNAUTHORIZED)

    def test_unknown_key_id_is_refused(self):
        before = rejected(self.s, "unknown_key")
        f = self.link().handshake("nobody", KEY)
        self.assertEqual(error_of(f)["code"], UNAUTHORIZED)
        self.assertIn("unknown key id", error_of(f)["message"])
        self.assertEqual(rejected(self.s, "unknown_key"), before + 1)

    def test_wrong_key_is_rejected(self):
        before = rejected(self.s, "bad_mac")
        a = self.link()
        wrong = bytes(range(0x70, 0x90))
        f = a.handshake("sensor-7", wrong)
        self.assertFalse(f["verified"])  # the peer can tell: the challenge does not verify
        a.send(tf.invoke(7, "echo", data=b"forged"))
        e = error_of(a.recv(verify=False))
        self.assertEqual(e["code"], UNAUTHORIZED)
        self.assertIn("does not verify", e["message"])
        self.assertEqual(rejected(self.s, "bad_mac"), before + 1)

    def echo_count(self):
        r = self.s.get("/executions?function=echo&limit=1000",
                       headers={"Authorization": "Bearer ops-token"})
        self.assertEqual(r.status, 200, r)
        return len(r.json()["executions"])

    def test_replayed_frame_is_rejected_on_its_link_and_on_another(self):
        before_replay = rejected(self.s, "replay")
        before_mac = rejected(self.s, "bad_mac")
        a = self.authed()
        wire = a.send(tf.invoke(8, "echo", data=b"once"))
        self.assertEqual(a.recv()["invoke_response"]["result"]["output"], b"once")
        ran = self.echo_count()
        a.link.send_raw(wire)  # the captured bytes, again
        e = error_of(a.recv())
        self.assertEqual(e["code"], UNAUTHORIZED)
        self.assertIn("replayed", e["message"])
        self.assertEqual(rejected(self.s, "replay"), before_replay + 1)
        # The same bytes on a new link (new nonce) do not verify at all.
        b = self.authed()
        b.link.send_raw(wire)
        self.assertEqual(error_of(b.recv())["code"], UNAUTHORIZED)
        self.assertEqual(rejected(self.s, "bad_mac"), before_mac + 1)
        self.assertEqual(self.echo_count(), ran)  # the replays started nothing

    def test_tampered_frame_is_rejected_and_the_link_goes_on(self):
        before = rejected(self.s, "bad_mac")
        a = self.authed()
        message = tf.invoke(9, "echo", data=b"pay 10")
        sealed = bytearray(a.seal(message))
        sealed[sealed.index(b"pay 10") + 4] ^= 0x08  # "pay 10" -> "pay 90"
        a.link.send_raw(tf.tcp_framed(bytes(sealed)))
        e = error_of(a.recv())
        self.assertEqual(e["code"], UNAUTHORIZED)
        self.assertEqual(rejected(self.s, "bad_mac"), before + 1)
        a.send(tf.invoke(10, "echo", data=b"honest"))
        self.assertEqual(a.recv()["invoke_response"]["result"]["output"], b"honest")

    def test_counters_are_in_metrics_and_health_without_keys(self):
        text = self.s.get("/metrics", headers={"Authorization": "Bearer ops-token"}).body.decode()
        self.assertIn("spearlet_frame_auth_rejected_total", text)
        self.assertIn("spearlet_frame_auth_handshakes_total", text)
        before = metric(self.s, "spearlet_frame_auth_handshakes_total")
        self.authed()
        self.assertEqual(metric(self.s, "spearlet_frame_auth_handshakes_total"), before + 1)
        r = self.s.get("/health")
        self.assertNotIn(KEY_HEX.encode(), r.body)
        self.assertNotIn(OTHER_KEY_HEX.encode(), r.body)
        auth = r.json()["frame"]["auth"]
        self.assertEqual((auth["peers"], auth["required"]), (2, True))
        self.assertEqual(auth["handshakes"], before + 1)
        # The same counters as /metrics, by reason.
        a = self.link()
        a.link.send(tf.invoke(11, "echo"))
        error_of(a.recv(verify=False))
        health = self.s.get("/health").json()["frame"]
        self.assertEqual(health["auth"]["rejected"]["unauthenticated"],
                         rejected(self.s, "unauthenticated"))
        self.assertGreaterEqual(health["auth"]["rejected"]["unauthenticated"], 1)
        self.assertIn("bad_crc", health["bad_frames"])


@unittest.skipUnless(os.access(tf.SPEAR_PEER, os.X_OK) or os.environ.get("CI"),
                     "spear-peer is not built")
class SpearPeerAuthTest(unittest.TestCase):
    """The C peer tool with --key-id/--key over TCP and over a socat pty pair."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="spear-peer-auth-")
        cls.key_file = os.path.join(cls.tmp.name, "sensor-7.key")
        with open(cls.key_file, "w") as f:
            f.write(KEY_HEX + "\n")
        cls.socat = None
        serial = []
        if shutil.which("socat"):
            cls.uart_app = os.path.join(cls.tmp.name, "uart-appliance")
            cls.uart_peer = os.path.join(cls.tmp.name, "uart-peer")
            cls.socat = subprocess.Popen(
                ["socat", f"pty,raw,echo=0,link={cls.uart_app}",
                 f"pty,raw,echo=0,link={cls.uart_peer}"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            wait_until(lambda: os.path.exists(cls.uart_app) and os.path.exists(cls.uart_peer),
                       10)
            serial = [{"device": cls.uart_app, "baud": 115200}]
        cls.s = Spearlet(base_config(tf.FUNCTIONS, http={"tokens": TOKENS}, frame={
            "tcp": {"enabled": True, "address": "127.0.0.1", "port": 0}, "peers": PEERS,
            "serial": serial}))
        host, port = tf.frame_port(cls.s)
        cls.tcp = ["--tcp", f"{host}:{port}"]
        if serial:
            wait_until(lambda: "serving frames on serial" in cls.s.log(), 10)

    @classmethod
    def tearDownClass(cls):
        log = cls.s.log()
        tf.stop_clean(cls.s)
        if cls.socat:
            cls.socat.send_signal(signal.SIGTERM)
            cls.socat.wait(timeout=10)
        cls.tmp.cleanup()
        assert KEY_HEX not in log, "a key reached the log"

    def peer(self, *args, link=None, key=("--key-id", "sensor-7", "--key", KEY_HEX)):
        return subprocess.run([tf.SPEAR_PEER] + (link or self.tcp) + list(key) + list(args),
                              capture_output=True, timeout=60)

    def fields(self, out):
        return dict(line.split(": ", 1) for line in out.decode().splitlines() if ": " in line)

    def test_sync_async_status_and_stream_with_the_key(self):
        r = self.peer("invoke", "echo", "--input", "hello")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.fields(r.stdout)["output"], "hello")
        r = self.peer("invoke", "slow", "--mode", "async", "--input", "x")
        self.assertEqual(r.returncode, 0, r.stderr)
        eid = self.fields(r.stdout)["execution_id"]
        r = self.peer("status", eid, "--wait-ms", "5000", "--result",
                      key=("--key-id", "sensor-7", "--key-file", self.key_file))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.fields(r.stdout)["output"], "x")
        r = self.peer("invoke", "lines", "--mode", "stream")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, b"".join(f"line {i}\n".encode() for i in range(1, 5)))

    def test_wrong_key_unknown_id_and_no_key_fail(self):
        r = self.peer("ping", key=("--key-id", "sensor-7", "--key", OTHER_KEY_HEX))
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"does not verify", r.stderr)
        r = self.peer("ping", key=("--key-id", "nobody", "--key", KEY_HEX))
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"unknown key id", r.stderr)
        r = self.peer("invoke", "echo", key=())
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"unauthorized", r.stderr)
        r = self.peer("ping", key=("--key-id", "sensor-7", "--key", "abcd"))
        self.assertEqual(r.returncode, 2)

    def test_serial_with_the_key_through_socat(self):
        if not self.socat:
            if os.environ.get("CI"):
                self.fail("socat is not installed")
            self.skipTest("socat is not installed")
        link = ["--serial", self.uart_peer, "--baud", "115200"]
        r = self.peer("invoke", "echo", "--input", "via uart", link=link)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.fields(r.stdout)["output"], "via uart")
        r = self.peer("invoke", "lines", "--mode", "stream", link=link)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(b"line 4", r.stdout)


class FrameAuthSerialTest(unittest.TestCase):
    """Two ptys as UARTs: one requires authentication, one is trusted wiring
    (allow_unauthenticated)."""

    @classmethod
    def setUpClass(cls):
        cls.master, cls.slave = pty.openpty()
        cls.master2, cls.slave2 = pty.openpty()
        tty.setraw(cls.master)
        tty.setraw(cls.master2)
        cls.device = os.ttyname(cls.slave)
        cls.trusted = os.ttyname(cls.slave2)
        cls.s = Spearlet(base_config(tf.FUNCTIONS, http={"tokens": TOKENS}, frame={
            "peers": PEERS,
            "serial": [{"device": cls.device, "baud": 115200},
                       {"device": cls.trusted, "baud": 115200, "allow_unauthenticated": True}]}))
        for d in (cls.device, cls.trusted):
            assert wait_until(lambda: f"serving frames on serial {d}" in cls.s.log(), 10), \
                cls.s.log()
        cls.uart = SerialLink(cls.master)
        cls.plain = SerialLink(cls.master2)

    @classmethod
    def tearDownClass(cls):
        tf.stop_clean(cls.s)
        for fd in (cls.master, cls.slave, cls.master2, cls.slave2):
            os.close(fd)

    def test_serial_auth_replay_tamper_and_unauthenticated(self):
        a = AuthPeer(self.uart, tf.serial_framed)
        # Unauthenticated first: refused.
        self.uart.send(tf.invoke(1, "echo", data=b"plain"))
        self.assertEqual(error_of(a.recv(verify=False))["code"], UNAUTHORIZED)
        # Handshake, then a signed request works.
        self.assertTrue(a.handshake("sensor-7", KEY).get("verified"))
        wire = a.send(tf.invoke(2, "echo", data=b"over the uart"))
        self.assertEqual(a.recv()["invoke_response"]["result"]["output"], b"over the uart")
        # The captured frame again: replay.
        self.uart.send_raw(wire)
        self.assertIn("replayed", error_of(a.recv())["message"])
        # A flipped byte (the CRC recomputed, as an attacker would): bad MAC.
        sealed = bytearray(a.seal(tf.invoke(3, "echo", data=b"abc")))
        sealed[sealed.index(b"abc")] ^= 0x01
        self.uart.send_raw(tf.serial_framed(bytes(sealed)))
        self.assertIn("does not verify", error_of(a.recv())["message"])
        # A stream under auth: every step is sealed with increasing counters.
        a.send(tf.invoke(4, "lines", mode="stream"))
        frames = []
        while True:
            f = a.recv()
            frames.append(f["stream_result"])
            if f["stream_result"].get("is_final"):
                break
        self.assertEqual(b"".join(x.get("chunk", b"") for x in frames),
                         b"".join(f"line {i}\n".encode() for i in range(1, 5)))
        # A peer that restarts sends a new hello on the same UART: a new session.
        self.assertTrue(a.handshake("sensor-7", KEY, request_id=101).get("verified"))
        a.send(tf.invoke(5, "echo", data=b"again"))
        self.assertEqual(a.recv()["invoke_response"]["result"]["output"], b"again")

    def test_trusted_wiring_accepts_unauthenticated_frames(self):
        self.plain.send(tf.invoke(6, "echo", data=b"trusted"))
        f = tf.decode("Frame", self.plain.recv_message())
        self.assertEqual(f["invoke_response"]["result"]["output"], b"trusted")


if __name__ == "__main__":
    unittest.main()
