"""Shutdown journeys: a second signal during the drain stops at once, cleanly (ASan build)."""
import signal
import socket
import threading
import time
import unittest

from spear_harness import Spearlet, base_config, sh, wait_until


class SecondSignalTest(unittest.TestCase):
    def test_second_signal_exits_at_once_without_touching_freed_sessions(self):
        # A sync call that outlives the grace, idle and half-sent connections, a viewer:
        # every kind of suspended session frame is alive when the second signal lands.
        cfg = base_config([sh("echo $$; exec sleep 30", "long")],
                          http={"shutdown_grace_ms": 5000})
        s = Spearlet(cfg)
        try:
            results = {}

            def call():
                try:
                    results["long"] = s.execute("long", "", timeout=20)
                except Exception as e:  # the connection is cut: that is the point
                    results["long"] = e

            worker = threading.Thread(target=call)
            worker.start()
            idle = socket.create_connection((s.host, s.port))
            half = socket.create_connection((s.host, s.port))
            half.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            running = lambda: s.get("/executions?status=running").json()["executions"]
            self.assertTrue(wait_until(lambda: len(running()) == 1, 5))
            t0 = time.monotonic()
            s.proc.send_signal(signal.SIGTERM)
            time.sleep(0.3)  # inside the 5 s grace: the service is draining sync callers
            code = s.stop(signal.SIGTERM, timeout=10)
            elapsed = time.monotonic() - t0
            worker.join(10)
            idle.close()
            half.close()
            log = s.log()
            self.assertNotIn("AddressSanitizer", log, log)
            self.assertNotIn("runtime error", log, log)
            self.assertEqual(code, 0, log)
            self.assertIn("second signal: stopping now", log)
            self.assertLess(elapsed, 4, "the second signal must not wait for the grace")
        finally:
            s.close()

    def test_first_signal_alone_drains_without_polling_delays(self):
        cfg = base_config([sh("echo hi", "quick")])
        s = Spearlet(cfg)
        try:
            self.assertEqual(s.execute("quick", "").status, 200)
            idle = socket.create_connection((s.host, s.port))
            t0 = time.monotonic()
            code = s.stop()
            elapsed = time.monotonic() - t0
            idle.close()
            self.assertEqual(code, 0, s.log())
            self.assertIn("stopped cleanly", s.log())
            # Nothing to wait for: no sleeps or poll ticks stand between the signal and exit.
            self.assertLess(elapsed, 1.0)
        finally:
            s.close()


if __name__ == "__main__":
    unittest.main()
