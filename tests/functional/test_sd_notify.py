"""sd_notify: READY=1 once the listeners are bound, WATCHDOG=1 pings, STOPPING=1 on SIGTERM."""
import os
import re
import socket
import tempfile
import threading
import time
import unittest

from spear_harness import Spearlet, base_config, sh

STATUS_PORT_RE = re.compile(r"serving HTTP on http://127\.0\.0\.1:(\d+)")


class NotifyListener:
    """The service manager's side: a datagram socket at a path in a temp dir, read by a thread
    that records each message with the time it arrived. On READY=1 it connects at once to the
    port named in STATUS=, to prove the listener was bound when READY=1 was sent."""

    def __init__(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="spear-notify-")
        self.path = os.path.join(self.tmp.name, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.1)
        self.messages = []  # (monotonic time, text)
        self.ready_connect = None  # True/False: the port answered when READY=1 arrived
        self.done = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.done:
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            text = data.decode("utf-8", "replace")
            if "READY=1" in text.split("\n") and self.ready_connect is None:
                m = STATUS_PORT_RE.search(text)
                try:
                    socket.create_connection(("127.0.0.1", int(m.group(1))), timeout=2).close()
                    self.ready_connect = True
                except (OSError, AttributeError):
                    self.ready_connect = False
            self.messages.append((time.monotonic(), text))

    def texts(self):
        return [t for _, t in self.messages]

    def wait_for(self, line, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(line in t.split("\n") for t in self.texts()):
                return True
            time.sleep(0.01)
        return False

    def close(self):
        self.done = True
        self.thread.join(timeout=5)
        self.sock.close()
        self.tmp.cleanup()


class SdNotifyTest(unittest.TestCase):
    def setUp(self):
        self.listener = NotifyListener()
        self.addCleanup(self.listener.close)

    def test_ready_after_bind_then_stopping_on_sigterm_and_no_watchdog_unless_asked(self):
        fn = sh("echo ${NOTIFY_SOCKET:-unset} ${WATCHDOG_USEC:-unset}", "env")
        s = Spearlet(base_config([fn]), env={"NOTIFY_SOCKET": self.listener.path})
        try:
            self.assertTrue(self.listener.wait_for("READY=1"), self.listener.texts())
            texts = self.listener.texts()
            self.assertTrue(texts[0].startswith("READY=1\n"), texts)
            self.assertTrue(self.listener.ready_connect, "READY=1 came before the port answered")
            self.assertIn("STATUS=spearlet", texts[0])
            self.assertIn(f":{s.port} ", texts[0])
            # Functions never inherit the service manager's socket.
            r = s.execute("env", "")
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json()["result"]["output"]["data"].strip(), "unset unset", r)
            time.sleep(0.3)
            self.assertFalse(any("WATCHDOG=1" in t for t in self.listener.texts()))
            self.assertEqual(s.stop(), 0, s.log())
            self.assertTrue(self.listener.wait_for("STOPPING=1", timeout=2), self.listener.texts())
            texts = self.listener.texts()
            self.assertEqual([t.split("\n")[0] for t in texts], ["READY=1", "STOPPING=1"], texts)
        finally:
            s.close()

    def test_abstract_socket_gets_ready(self):
        name = "spear-test-notify-%d-%d" % (os.getpid(), time.monotonic_ns())
        abstract = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        abstract.bind("\0" + name)
        abstract.settimeout(10)
        try:
            s = Spearlet(base_config([]), env={"NOTIFY_SOCKET": "@" + name})
            try:
                self.assertTrue(abstract.recv(4096).startswith(b"READY=1\n"))
            finally:
                s.close()
        finally:
            abstract.close()

    def test_watchdog_pings_at_half_the_period(self):
        s = Spearlet(base_config([]), env={"NOTIFY_SOCKET": self.listener.path,
                                           "WATCHDOG_USEC": "200000"})
        try:
            self.assertTrue(self.listener.wait_for("READY=1"))
            time.sleep(1.2)
            pings = [at for at, t in self.listener.messages if t == "WATCHDOG=1"]
            # Every 100 ms: about 12 in 1.2 s; a loaded CI machine may delay a few.
            self.assertGreaterEqual(len(pings), 6, self.listener.texts())
            self.assertLessEqual(len(pings), 16, self.listener.texts())
            gaps = [b - a for a, b in zip(pings, pings[1:])]
            self.assertGreater(min(gaps), 0.05, gaps)  # not a busy loop
        finally:
            s.close()

    def test_watchdog_for_another_pid_is_not_ours(self):
        s = Spearlet(base_config([]), env={"NOTIFY_SOCKET": self.listener.path,
                                           "WATCHDOG_USEC": "200000", "WATCHDOG_PID": "1"})
        try:
            self.assertTrue(self.listener.wait_for("READY=1"))
            time.sleep(0.5)
            self.assertFalse(any(t == "WATCHDOG=1" for t in self.listener.texts()))
        finally:
            s.close()


if __name__ == "__main__":
    unittest.main()
