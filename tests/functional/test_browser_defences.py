"""Browser attacks on the default config (issue 10.6): DNS rebinding (Host), cross-site
requests and WebSockets (Origin), text/plain or form bodies from pages (Content-Type).

Each refused request is checked not to have run anything (GET /executions)."""
import json
import unittest

from spear_harness import Spearlet, base_config, raw_exchange, sh

FUNCTIONS = [
    {"name": "echo", "command": ["cat"]},
    sh("echo hi", "hi"),
]

WS_HEADERS = ("Upgrade: websocket\r\nConnection: Upgrade\r\n"
              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n")


def parse_raw(data):
    """(status, headers dict, body bytes) of the first response in raw bytes."""
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return status, headers, body


class DefaultConfigTest(unittest.TestCase):
    """The default rules plus a few configured hosts and origins."""

    @classmethod
    def setUpClass(cls):
        cls.s = Spearlet(base_config(FUNCTIONS, http={
            "allowed_hosts": ["gateway.test", "pinned.test:1234"],
            "allowed_origins": ["http://dashboard.test:3000"],
        }))
        cls.own = f"127.0.0.1:{cls.s.port}"

    @classmethod
    def tearDownClass(cls):
        cls.s.close()

    def count(self, function="echo"):
        r = self.s.get(f"/executions?function={function}&limit=1000")
        self.assertEqual(r.status, 200, r)
        return len(r.json()["executions"])

    def assertRefused(self, r, status, code, *parts):
        self.assertEqual(r.status, status, r)
        self.assertEqual(r.header("Content-Type"), "application/json")
        err = r.json()["error"]
        self.assertEqual(err["code"], code, err)
        for part in parts:
            self.assertIn(part, err["message"])
        self.assertIsNone(r.header("Access-Control-Allow-Origin"))
        return err

    def execute(self, headers, body=None, path="/functions/execute"):
        if body is None:
            body = json.dumps({"function_name": "echo", "input": {"data": "x"}}).encode()
        return self.s.post(path, body=body, headers=headers)

    # --- Host ----------------------------------------------------------------------------

    def test_rebinding_host_is_refused_on_every_route(self):
        before = self.count()
        evil = {"Host": f"evil.example:{self.s.port}"}
        self.assertRefused(self.s.get("/executions", headers=evil), 403, "forbidden",
                           "evil.example", "http.allowed_hosts")
        self.assertRefused(self.s.get("/functions", headers=evil), 403, "forbidden")
        self.assertRefused(self.execute(dict(evil, **{"Content-Type": "application/json"})),
                           403, "forbidden")
        self.assertRefused(self.s.post("/functions/echo/invoke", body=b"x", headers=evil),
                           403, "forbidden")
        self.assertRefused(self.s.get("/", headers=evil), 403, "forbidden")
        self.assertEqual(self.count(), before)

    def test_rebinding_host_is_refused_on_stream_routes(self):
        for path in ("/stream", "/executions/000000000000000000000000/stream"):
            raw = raw_exchange(self.s.host, self.s.port,
                               (f"GET {path} HTTP/1.1\r\nHost: evil.example\r\n" + WS_HEADERS +
                                "\r\n").encode())
            status, headers, body = parse_raw(raw)
            self.assertEqual(status, 403, raw)
            self.assertEqual(json.loads(body)["error"]["code"], "forbidden")
        raw = raw_exchange(self.s.host, self.s.port,
                           b"GET /executions/000000000000000000000000/stream HTTP/1.1\r\n"
                           b"Host: evil.example\r\nAccept: text/event-stream\r\n\r\n")
        self.assertEqual(parse_raw(raw)[0], 403, raw)

    def test_loopback_names_and_ip_literals_are_allowed(self):
        for host in (self.own, f"localhost:{self.s.port}", "localhost", "LOCALHOST",
                     "localhost.", f"[::1]:{self.s.port}", "127.0.0.1", "10.1.2.3:8080",
                     "[fe80::1]"):
            r = self.s.get("/health", headers={"Host": host})
            self.assertEqual(r.status, 200, (host, r))
            r = self.s.get("/executions", headers={"Host": host})
            self.assertEqual(r.status, 200, (host, r))

    def test_configured_hosts(self):
        for host in ("gateway.test", "gateway.test:8080", "Gateway.Test", "pinned.test:1234"):
            self.assertEqual(self.s.get("/executions", headers={"Host": host}).status, 200, host)
        for host in ("pinned.test", "pinned.test:999", "other.gateway.test", "gateway.test.evil"):
            self.assertRefused(self.s.get("/executions", headers={"Host": host}), 403,
                               "forbidden")

    # --- Origin --------------------------------------------------------------------------

    def test_cross_origin_posts_are_refused_and_run_nothing(self):
        before = self.count()
        other_port = f"http://127.0.0.1:{self.s.port + 1 if self.s.port < 65535 else 1}"
        for origin in (other_port, "http://evil.example", "null", "http://localhost:1"):
            err = self.assertRefused(
                self.execute({"Origin": origin, "Content-Type": "application/json"}),
                403, "forbidden", "http.allowed_origins")
            self.assertIn(origin, err["message"])
            self.assertRefused(self.execute({"Origin": origin, "Content-Type": "text/plain"},
                                            body=b"x", path="/functions/echo/invoke"),
                               403, "forbidden")
        self.assertRefused(self.s.request("DELETE", "/executions/000000000000000000000000",
                                          headers={"Origin": "http://evil.example"}),
                           403, "forbidden")
        self.assertEqual(self.count(), before)

    def test_same_origin_and_configured_origin_are_allowed(self):
        before = self.count()
        cases = [
            ({"Origin": f"http://{self.own}"}, 200),
            ({"Origin": f"http://localhost:{self.s.port}", "Host": f"localhost:{self.s.port}"}, 200),
            ({"Origin": "http://gateway.test", "Host": "gateway.test:80"}, 200),
            ({"Origin": "http://dashboard.test:3000"}, 200),
            ({"Origin": "http://dashboard.test:3001"}, 403),
            ({"Origin": "http://dashboard.test"}, 403),
            ({"Origin": "https://dashboard.test:3000"}, 403),
        ]
        allowed = 0
        for headers, status in cases:
            r = self.execute(dict(headers, **{"Content-Type": "application/json"}))
            self.assertEqual(r.status, status, (headers, r))
            allowed += status == 200
        self.assertEqual(self.count(), before + allowed)

    def test_browser_post_without_origin_but_cross_site_fetch_metadata_is_refused(self):
        before = self.count()
        self.assertRefused(self.execute({"Sec-Fetch-Site": "cross-site",
                                         "Content-Type": "application/json"}), 403, "forbidden")
        self.assertRefused(self.execute({"Sec-Fetch-Site": "same-site"}, body=b"x",
                                        path="/functions/echo/invoke"), 403, "forbidden")
        self.assertEqual(self.count(), before)
        # A link followed from another site is a GET without Origin: the page still opens.
        self.assertEqual(self.s.get("/", headers={"Sec-Fetch-Site": "cross-site"}).status, 200)

    def test_cross_origin_websocket_upgrades_are_refused(self):
        before = self.count()
        for path in ("/stream", "/executions/000000000000000000000000/stream"):
            raw = raw_exchange(self.s.host, self.s.port,
                               (f"GET {path} HTTP/1.1\r\nHost: {self.own}\r\n"
                                "Origin: http://evil.example\r\n" + WS_HEADERS + "\r\n").encode())
            status, headers, body = parse_raw(raw)
            self.assertEqual(status, 403, raw)
            err = json.loads(body)["error"]
            self.assertEqual(err["code"], "forbidden")
            self.assertIn("http://evil.example", err["message"])
        self.assertEqual(self.count(), before)

    def test_same_origin_websocket_upgrade_is_accepted(self):
        for origin in (f"http://{self.own}", "http://dashboard.test:3000"):
            raw = raw_exchange(self.s.host, self.s.port,
                               (f"GET /stream HTTP/1.1\r\nHost: {self.own}\r\n"
                                f"Origin: {origin}\r\n" + WS_HEADERS + "\r\n").encode(),
                               timeout=1.0, read_until_close=False)
            self.assertEqual(parse_raw(raw)[0], 101, raw)

    def test_no_cors_headers_are_sent(self):
        r = self.s.get("/executions", headers={"Origin": f"http://{self.own}"})
        self.assertEqual(r.status, 200)
        self.assertIsNone(r.header("Access-Control-Allow-Origin"))
        r = self.s.request("OPTIONS", "/functions/execute",
                           headers={"Origin": "http://evil.example",
                                    "Access-Control-Request-Method": "POST"})
        self.assertRefused(r, 403, "forbidden")

    # --- Content-Type --------------------------------------------------------------------

    def test_browser_requests_to_json_routes_need_application_json(self):
        before = self.count()
        same = {"Origin": f"http://{self.own}"}
        for ctype in ("text/plain", "application/x-www-form-urlencoded",
                      "multipart/form-data; boundary=x", None):
            headers = dict(same)
            if ctype:
                headers["Content-Type"] = ctype
            self.assertRefused(self.execute(headers), 415, "unsupported_media_type",
                               "application/json")
        self.assertRefused(self.execute({"Sec-Fetch-Site": "same-origin",
                                         "Content-Type": "text/plain"}), 415,
                           "unsupported_media_type")
        self.assertEqual(self.count(), before)
        r = self.execute(dict(same, **{"Content-Type": "Application/JSON; charset=utf-8"}))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.count(), before + 1)

    def test_plain_clients_keep_any_content_type(self):
        # curl -d sends application/x-www-form-urlencoded; no Origin, no Sec-Fetch-*.
        before = self.count()
        for ctype in ("application/x-www-form-urlencoded", "text/plain", None):
            headers = {"Content-Type": ctype} if ctype else {}
            self.assertEqual(self.execute(headers).status, 200, ctype)
        # The raw invoke route takes any body type, from a same-origin page too.
        r = self.execute({"Origin": f"http://{self.own}", "Content-Type": "text/plain"},
                         body=b"raw", path="/functions/echo/invoke")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, b"raw")
        self.assertEqual(self.count(), before + 4)


class WildcardTest(unittest.TestCase):
    """"*" turns a check off."""

    def test_star_allows_every_host_and_origin(self):
        with Spearlet(base_config(FUNCTIONS, http={"allowed_hosts": ["*"],
                                                   "allowed_origins": ["*"]})) as s:
            r = s.post("/functions/execute",
                       body=json.dumps({"function_name": "hi"}).encode(),
                       headers={"Host": "evil.example", "Origin": "http://evil.example",
                                "Content-Type": "application/json"})
            self.assertEqual(r.status, 200, r)

    def test_bad_entries_are_config_errors(self):
        import subprocess, tempfile, os
        from spear_harness import SPEARLET
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "c.json")
            with open(path, "w") as f:
                json.dump(base_config(FUNCTIONS, http={
                    "allowed_hosts": ["ok.test", "http://x"],
                    "allowed_origins": ["http://ok.test:1", "http://x/"]}), f)
            p = subprocess.run([SPEARLET, "--config", path, "--check-config"],
                               capture_output=True, text=True, timeout=20)
        self.assertNotEqual(p.returncode, 0)
        out = p.stdout + p.stderr
        self.assertIn("http.allowed_hosts[1]", out)
        self.assertIn("http.allowed_origins[1]", out)
        self.assertNotIn("allowed_hosts[0]", out)


if __name__ == "__main__":
    unittest.main()
