// Tests of the request gate: Host allow-list, Origin check, JSON content type (no sockets).
#include "transport/http/request_gate.hpp"

#include <boost/test/unit_test.hpp>

using namespace spear;
using transport::http::request_gate;
using transport::http::request_header;
namespace beast_http = boost::beast::http;

namespace {

request_header make(beast_http::verb method, std::initializer_list<std::pair<const char*, const char*>> fields) {
    request_header h;
    h.method(method);
    h.target("/functions/execute");
    for (const auto& [name, value] : fields)
        h.set(name, value);
    return h;
}

core::http_config configured() {
    core::http_config c;
    c.allowed_hosts = {"gateway.test", "pinned.test:1234", "[fe80::2]:81", "dot.test."};
    c.allowed_origins = {"http://dashboard.test:3000", "HTTPS://Secure.Test"};
    return c;
}

bool passes(const request_gate& g, const request_header& h) { return !g.check(h).has_value(); }

} // namespace

BOOST_AUTO_TEST_SUITE(request_gate_tests)

BOOST_AUTO_TEST_CASE(host_allows_loopback_names_ip_literals_and_configured_names_only) {
    const request_gate g(configured());
    const auto get = beast_http::verb::get;
    for (const char* host : {"localhost", "localhost:8080", "LocalHost.", "127.0.0.1:1", "[::1]",
                             "[::1]:8080", "192.168.1.10:8080", "[fe80::1]", "gateway.test",
                             "gateway.test:9", "pinned.test:1234", "[fe80::2]:81", "dot.test"})
        BOOST_TEST(passes(g, make(get, {{"Host", host}})), host);
    for (const char* host : {"evil.example", "evil.example:8080", "localhost.evil.example",
                             "pinned.test", "pinned.test:1235", "a@localhost", "localhost:x",
                             "localhost:99999", "localhost:0", "", "local host", "gateway.test.:1/x"})
        BOOST_TEST(!passes(g, make(get, {{"Host", host}})), host);
}

BOOST_AUTO_TEST_CASE(no_host_header_passes) {
    const request_gate g(core::http_config{});
    BOOST_TEST(passes(g, make(beast_http::verb::post, {})));
}

BOOST_AUTO_TEST_CASE(refusal_names_the_host_and_the_config_field) {
    const request_gate g(core::http_config{});
    const auto e = g.check(make(beast_http::verb::get, {{"Host", "rebind.example:8080"}}));
    BOOST_TEST_REQUIRE(e.has_value());
    BOOST_TEST((e->code == core::error_code::forbidden));
    BOOST_TEST(e->message.find("'rebind.example:8080'") != std::string::npos);
    BOOST_TEST(e->message.find("http.allowed_hosts") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(origin_same_origin_or_configured) {
    const request_gate g(configured());
    const auto post = beast_http::verb::post;
    // Same origin: Origin's host:port equals Host's; Host's port defaults from the scheme.
    BOOST_TEST(passes(g, make(post, {{"Host", "127.0.0.1:8080"}, {"Origin", "http://127.0.0.1:8080"}})));
    BOOST_TEST(passes(g, make(post, {{"Host", "localhost"}, {"Origin", "http://localhost:80"}})));
    BOOST_TEST(passes(g, make(post, {{"Host", "[::1]:8080"}, {"Origin", "http://[::1]:8080"}})));
    BOOST_TEST(passes(g, make(post, {{"Host", "gateway.test"}, {"Origin", "https://gateway.test"}})));
    BOOST_TEST(!passes(g, make(post, {{"Host", "127.0.0.1:8080"}, {"Origin", "http://127.0.0.1:8081"}})));
    BOOST_TEST(!passes(g, make(post, {{"Host", "127.0.0.1:8080"}, {"Origin", "http://localhost:8080"}})));
    BOOST_TEST(!passes(g, make(post, {{"Host", "127.0.0.1:8080"}, {"Origin", "null"}})));
    BOOST_TEST(!passes(g, make(post, {{"Host", "127.0.0.1:8080"}, {"Origin", "http://127.0.0.1:8080/x"}})));
    BOOST_TEST(!passes(g, make(post, {{"Host", "127.0.0.1:8080"}, {"Origin", "http://127.0.0.1:73616"}})));
    // Configured origins, compared case-insensitively with default ports filled in.
    BOOST_TEST(passes(g, make(post, {{"Host", "127.0.0.1:8080"}, {"Origin", "http://dashboard.test:3000"}})));
    BOOST_TEST(passes(g, make(post, {{"Host", "127.0.0.1:8080"}, {"Origin", "https://secure.test:443"}})));
    BOOST_TEST(!passes(g, make(post, {{"Host", "127.0.0.1:8080"}, {"Origin", "http://dashboard.test"}})));
    BOOST_TEST(!passes(g, make(post, {{"Host", "127.0.0.1:8080"}, {"Origin", "http://secure.test"}})));
    // Any method: a foreign Origin on a GET (fetch, EventSource, WebSocket) is refused too.
    BOOST_TEST(!passes(g, make(beast_http::verb::get, {{"Host", "127.0.0.1:8080"}, {"Origin", "http://evil.example"}})));
}

BOOST_AUTO_TEST_CASE(fetch_metadata_without_origin) {
    const request_gate g(core::http_config{});
    BOOST_TEST(!passes(g, make(beast_http::verb::post, {{"Sec-Fetch-Site", "cross-site"}})));
    BOOST_TEST(!passes(g, make(beast_http::verb::delete_, {{"Sec-Fetch-Site", "same-site"}})));
    BOOST_TEST(passes(g, make(beast_http::verb::post, {{"Sec-Fetch-Site", "same-origin"}})));
    BOOST_TEST(passes(g, make(beast_http::verb::post, {{"Sec-Fetch-Site", "none"}})));
    BOOST_TEST(passes(g, make(beast_http::verb::get, {{"Sec-Fetch-Site", "cross-site"}})));
}

BOOST_AUTO_TEST_CASE(stars_turn_the_checks_off) {
    core::http_config c;
    c.allowed_hosts = {"*"};
    c.allowed_origins = {"*"};
    const request_gate g(c);
    BOOST_TEST(passes(g, make(beast_http::verb::post, {{"Host", "evil.example"}, {"Origin", "null"}})));
    BOOST_TEST(passes(g, make(beast_http::verb::post, {{"Sec-Fetch-Site", "cross-site"}})));
}

BOOST_AUTO_TEST_CASE(browser_and_json_detection) {
    const auto post = beast_http::verb::post;
    BOOST_TEST(!request_gate::from_browser(make(post, {{"Content-Type", "text/plain"}})));
    BOOST_TEST(request_gate::from_browser(make(post, {{"Origin", "null"}})));
    BOOST_TEST(request_gate::from_browser(make(post, {{"Sec-Fetch-Mode", "cors"}})));
    BOOST_TEST(request_gate::is_json(make(post, {{"Content-Type", "application/json"}})));
    BOOST_TEST(request_gate::is_json(make(post, {{"Content-Type", " Application/JSON ; charset=utf-8"}})));
    BOOST_TEST(!request_gate::is_json(make(post, {{"Content-Type", "text/plain"}})));
    BOOST_TEST(!request_gate::is_json(make(post, {{"Content-Type", "application/jsonx"}})));
    BOOST_TEST(!request_gate::is_json(make(post, {})));
}

BOOST_AUTO_TEST_SUITE_END()
