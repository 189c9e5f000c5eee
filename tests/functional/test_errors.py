"""Bad input gets a clear JSON error with the right status, and never hurts the appliance."""
import json
import socket
import time
import unittest

from spear_harness import Spearlet, base_config, raw_exchange

FUNCTIONS = [{"name": "echo", "command": ["cat"]}]


class ErrorTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s = Spearlet(base_config(FUNCTIONS, http={"max_body_bytes": 4096,
                                                      "header_timeout_ms": 700}))

    @classmethod
    def tearDownClass(cls):
        cls.s.close()

    def assertError(self, r, status, code, message_part=None):
        self.assertEqual(r.status, status, r)
        self.assertEqual(r.header("Content-Type"), "application/json")
        err = r.json()["error"]
        self.assertEqual(err["code"], code, err)
        self.assertTrue(err["message"])
        if message_part:
            self.assertIn(message_part, err["message"])
        return err

    def test_unknown_function(self):
        self.assertError(self.s.execute("nope", "x"), 404, "function_not_found", "nope")
        self.assertError(self.s.post("/functions/nope/invoke", body=b"x"), 404,
                         "function_not_found")

    def test_unknown_mode_lists_valid_modes(self):
        err = self.assertError(self.s.execute("echo", "x", mode="turbo"), 400,
                               "unknown_execution_mode")
        for m in ("sync", "async", "stream"):
            self.assertIn(m, err["message"])
        self.assertError(self.s.execute("echo", "x", mode=7), 400, "unknown_execution_mode")
        self.assertError(self.s.post("/functions/echo/invoke?mode=fast", body=b"x"), 400,
                         "unknown_execution_mode")

    def test_spear_mode_spellings_accepted(self):
        for mode in ("EXECUTION_MODE_SYNC", 1, "1", "sync"):
            r = self.s.execute("echo", "m", mode=mode)
            self.assertEqual(r.status, 200, (mode, r))
        r = self.s.execute("echo", "m", mode="EXECUTION_MODE_ASYNC")
        self.assertEqual(r.status, 202)

    def test_stream_mode_points_to_websocket(self):
        err = self.assertError(self.s.execute("echo", "x", mode="stream"), 400,
                               "use_stream_endpoint")
        self.assertIn("/stream", err["message"])

    def test_malformed_json(self):
        r = self.s.post("/functions/execute", body=b'{"function_name": "echo",',
                        headers={"Content-Type": "application/json"})
        self.assertError(r, 400, "invalid_request", "JSON")
        r = self.s.post("/functions/execute", body=b"[1,2]")
        self.assertError(r, 400, "invalid_request")

    def test_wrong_field_types_name_the_field(self):
        cases = [
            ({"function_name": 5}, "function_name"),
            ({"function_name": "echo", "input": 5}, "input"),
            ({"function_name": "echo", "input": {"data": 5}}, "input.data"),
            ({"function_name": "echo", "input": {"data_base64": "!!!"}}, "input.data_base64"),
            ({"function_name": "echo", "context": {"timeout_ms": "soon"}}, "context.timeout_ms"),
            ({"function_name": "echo", "context": {"timeout_ms": -5}}, "context.timeout_ms"),
            ({"function_name": "echo", "context": {"execution_id": "a b/c"}},
             "context.execution_id"),
            ({"function_name": "echo", "functon": 1}, "functon"),
            ({}, "function_name"),
        ]
        for body, field in cases:
            r = self.s.post("/functions/execute", body)
            self.assertError(r, 400, "invalid_request", field)

    def test_timeout_over_max_refused(self):
        r = self.s.execute("echo", "x", context={"timeout_ms": 10 ** 9})
        self.assertError(r, 400, "invalid_request", "context.timeout_ms")

    def test_oversize_body_413(self):
        r = self.s.post("/functions/echo/invoke", body=b"x" * 5000)
        self.assertError(r, 413, "payload_too_large")
        # The appliance is fine afterwards.
        self.assertEqual(self.s.post("/functions/echo/invoke", body=b"ok").body, b"ok")

    def test_oversize_chunked_body_413(self):
        chunk = b"x" * 3000
        req = (b"POST /functions/echo/invoke HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
               + b"%x\r\n" % len(chunk) + chunk + b"\r\n" + b"%x\r\n" % len(chunk) + chunk +
               b"\r\n0\r\n\r\n")
        out = raw_exchange(self.s.host, self.s.port, req)
        self.assertTrue(out.startswith(b"HTTP/1.1 413"), out[:100])

    def test_unknown_route_and_method(self):
        self.assertError(self.s.get("/nowhere"), 404, "route_not_found")
        r = self.s.request("PUT", "/functions/execute", body=b"{}")
        self.assertError(r, 405, "method_not_allowed")
        self.assertEqual(r.header("Allow"), "POST")

    def test_status_of_unknown_ids(self):
        self.assertError(self.s.get("/status/000000000000000000000000"), 404,
                         "execution_not_found")
        self.assertError(self.s.get("/status/not-an-id"), 404, "execution_not_found")
        self.assertError(self.s.get("/status/abc?wait_ms=soon"), 400, "invalid_request")

    def test_bad_list_parameters(self):
        self.assertError(self.s.get("/executions?status=great"), 400, "invalid_request", "status")
        self.assertError(self.s.get("/executions?limit=0"), 400, "invalid_request", "limit")
        self.assertError(self.s.get("/executions?start_after=xyz"), 400, "invalid_request",
                         "start_after")

    def test_garbage_request_line(self):
        out = raw_exchange(self.s.host, self.s.port, b"HELLO THERE\r\n\r\n")
        self.assertTrue(out.startswith(b"HTTP/1.1 400"), out[:100])
        self.assertEqual(self.s.get("/health").status, 200)

    def test_half_sent_request_is_dropped_after_header_timeout(self):
        with socket.create_connection((self.s.host, self.s.port), timeout=5) as sock:
            sock.sendall(b"POST /functions/echo/invoke HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le")
            t0 = time.monotonic()
            data = sock.recv(100)  # the server closes the connection
            self.assertEqual(data, b"")
            self.assertLess(time.monotonic() - t0, 3.0)

    def test_pipelined_requests_answered_in_order(self):
        req = b"".join(
            b"POST /functions/echo/invoke HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n\r\n%s"
            % (len(p), p) for p in (b"one", b"two", b"three"))
        req += b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        out = raw_exchange(self.s.host, self.s.port, req)
        self.assertEqual(out.count(b"HTTP/1.1 200"), 4, out)
        self.assertLess(out.index(b"\r\n\r\none"), out.index(b"\r\n\r\ntwo"))
        self.assertLess(out.index(b"\r\n\r\ntwo"), out.index(b"\r\n\r\nthree"))

    def test_keep_alive_serves_many_requests_on_one_connection(self):
        conn = self.s.connection()
        try:
            for i in range(20):
                r = self.s.post("/functions/echo/invoke", body=str(i).encode(), conn=conn)
                self.assertEqual(r.body, str(i).encode())
        finally:
            conn.close()

    def test_error_body_has_no_internal_paths(self):
        r = self.s.post("/functions/execute", body=b"{bad")
        text = json.dumps(r.json())
        self.assertNotIn("/src/", text)
        self.assertNotIn(".cpp", text)


class ConnectionLimitTest(unittest.TestCase):
    def test_connection_limit_and_idle_timeout(self):
        cfg = base_config(FUNCTIONS, http={"max_connections": 2, "idle_timeout_ms": 800})
        with Spearlet(cfg) as s:
            held = [socket.create_connection((s.host, s.port), timeout=5) for _ in range(2)]
            time.sleep(0.2)
            out = raw_exchange(s.host, s.port, b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            self.assertTrue(out.startswith(b"HTTP/1.1 429"), out[:80])
            self.assertIn(b"too_many_requests", out)
            # Idle connections are closed after idle_timeout_ms, freeing their slots.
            for sock in held:
                self.assertEqual(sock.recv(10), b"")
                sock.close()
            self.assertEqual(s.get("/health").status, 200)


if __name__ == "__main__":
    unittest.main()
