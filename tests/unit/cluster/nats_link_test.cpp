// Tests of the NATS link against a real nats-server on loopback: connect and state changes,
// start before the server exists, publish/subscribe with headers, request-reply (answer, no
// responders, timeout), unsubscribe, kill and restart of the server (reconnect, subscriptions
// restored), and close/destruction with requests and deliveries in flight.
#include "cluster/nats_link.hpp"
#include "unit/cluster/nats_test_server.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <fstream>
#include <ostream>
#include <chrono>
#include <memory>
#include <vector>

using namespace spear;
using namespace std::chrono_literals;
namespace asio = boost::asio;
using cluster::link_state;
using cluster::nats_link;
using cluster::nats_message;
using test::await;
using test::nats_test_server;
using test::options_for;
using test::run_until;

namespace spear::cluster {
inline std::ostream& operator<<(std::ostream& os, link_state s) { return os << to_string(s); }
} // namespace spear::cluster

namespace {

/// A started link, connected (the test fails otherwise).
std::unique_ptr<nats_link> connected_link(asio::io_context& io, const nats_test_server& server) {
    auto link = std::make_unique<nats_link>(io.get_executor(), options_for(server.url()));
    link->start();
    BOOST_REQUIRE(run_until(io, [&] { return link->connected(); }));
    return link;
}

} // namespace

BOOST_AUTO_TEST_SUITE(nats_link_suite)

BOOST_AUTO_TEST_CASE(connects_and_reports_the_state_change) {
    nats_test_server server;
    asio::io_context io;
    nats_link link(io.get_executor(), options_for(server.url()));
    std::vector<link_state> seen;
    link.on_state_change([&](link_state s) { seen.push_back(s); });
    BOOST_TEST(link.state() == link_state::connecting);
    BOOST_TEST(!link.publish("x", "y")); // never connected: refused, not buffered
    link.start();
    BOOST_REQUIRE(run_until(io, [&] { return link.connected(); }));
    BOOST_TEST((seen == std::vector<link_state>{link_state::connected}));
    BOOST_TEST(link.counters().connects == 1u);
    BOOST_TEST(link.connected_url().find(std::to_string(server.port())) != std::string::npos);
    BOOST_TEST(to_string(link.state()) == "connected");
    const auto inbox = link.new_inbox();
    BOOST_TEST(inbox.starts_with("_INBOX."));
    BOOST_TEST(inbox != link.new_inbox());
}

BOOST_AUTO_TEST_CASE(start_before_the_server_exists_retries_until_it_does) {
    const int port = test::free_loopback_port();
    asio::io_context io;
    nats_link link(io.get_executor(), options_for("nats://127.0.0.1:" + std::to_string(port)));
    const auto before = std::chrono::steady_clock::now();
    link.start();
    // start() returns at once: a refused connect does not block the loop.
    BOOST_TEST((std::chrono::steady_clock::now() - before < 500ms));
    test::run_for(io, 300ms);
    BOOST_TEST(link.state() == link_state::connecting);
    BOOST_TEST(link.connected_url().empty());
    // The server comes up on that very port: the link connects by itself.
    nats_test_server server(port);
    BOOST_REQUIRE(run_until(io, [&] { return link.connected(); }, 5000ms));
    BOOST_TEST(link.counters().connects == 1u);
    BOOST_TEST(link.counters().disconnects == 0u);
}

BOOST_AUTO_TEST_CASE(publish_and_subscribe_carry_data_reply_and_headers) {
    nats_test_server server;
    asio::io_context io;
    auto link = connected_link(io, server);
    std::vector<nats_message> got;
    const auto id = link->subscribe("demo.>", [&](nats_message&& m) { got.push_back(std::move(m)); });
    BOOST_REQUIRE(id != 0u);
    const cluster::nats_headers headers{{"A", "1"}, {"A", "2"}, {"Trace", "x y"}};
    const std::string binary("a\0b\xff", 4);
    BOOST_REQUIRE(link->publish("demo.one", binary, "reply.here", &headers));
    BOOST_REQUIRE(link->publish("demo.two", "plain"));
    BOOST_REQUIRE(run_until(io, [&] { return got.size() == 2; }));
    BOOST_TEST(got[0].subject == "demo.one");
    BOOST_TEST(got[0].reply == "reply.here");
    BOOST_TEST(got[0].data == binary);
    BOOST_TEST(got[0].status == 0);
    auto h = got[0].headers;
    std::sort(h.begin(), h.end());
    BOOST_TEST((h == cluster::nats_headers{{"A", "1"}, {"A", "2"}, {"Trace", "x y"}}));
    BOOST_TEST(got[0].header("Trace") == "x y");
    BOOST_TEST(got[0].header("Missing").empty());
    BOOST_TEST(got[1].subject == "demo.two");
    BOOST_TEST(got[1].data == "plain");
    BOOST_TEST(got[1].reply.empty());
    BOOST_TEST(got[1].headers.empty());
    BOOST_TEST(link->counters().messages_in >= 2u);
    BOOST_TEST(link->counters().messages_out >= 2u);

    // After unsubscribe nothing more arrives.
    link->unsubscribe(id);
    BOOST_REQUIRE(link->publish("demo.three", "late"));
    test::run_for(io, 200ms);
    BOOST_TEST(got.size() == 2u);
}

BOOST_AUTO_TEST_CASE(queue_group_members_share_the_messages) {
    nats_test_server server;
    asio::io_context io;
    auto link = connected_link(io, server);
    int a = 0;
    int b = 0;
    link->subscribe("work", [&](nats_message&&) { ++a; }, "pool");
    link->subscribe("work", [&](nats_message&&) { ++b; }, "pool");
    test::run_for(io, 50ms);
    for (int i = 0; i < 20; ++i)
        link->publish("work", "x");
    BOOST_REQUIRE(run_until(io, [&] { return a + b == 20; }));
    test::run_for(io, 100ms);
    BOOST_TEST(a + b == 20); // each message once, not once per member
}

BOOST_AUTO_TEST_CASE(request_gets_the_answer_no_responders_or_a_timeout) {
    nats_test_server server;
    asio::io_context io;
    auto link = connected_link(io, server);
    nats_link* raw = link.get();
    raw->subscribe("svc.upper", [raw](nats_message&& m) {
        std::string up = m.data;
        std::transform(up.begin(), up.end(), up.begin(), [](char c) {
            return static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        });
        const cluster::nats_headers h{{"Echo", std::string(m.header("In"))}};
        raw->publish(m.reply, up, {}, &h);
    });
    raw->subscribe("svc.silent", [](nats_message&&) {});
    test::run_for(io, 50ms);

    auto answer = await(io, raw->request("svc.upper", "hello", 2000ms, {{"In", "42"}}));
    BOOST_REQUIRE(answer.has_value());
    BOOST_TEST(answer->data == "HELLO");
    BOOST_TEST(answer->header("Echo") == "42");
    BOOST_TEST(answer->status == 0);

    // Many at once: each gets its own answer.
    std::vector<std::optional<nats_message>> answers(10);
    int done = 0;
    for (int i = 0; i < 10; ++i) {
        auto one = [raw, i, &answers, &done]() -> asio::awaitable<void> {
            answers[static_cast<std::size_t>(i)] =
                co_await raw->request("svc.upper", "m" + std::to_string(i), 2000ms);
            ++done;
        };
        asio::co_spawn(io, one, asio::detached);
    }
    BOOST_REQUIRE(run_until(io, [&] { return done == 10; }));
    for (int i = 0; i < 10; ++i) {
        BOOST_REQUIRE(answers[static_cast<std::size_t>(i)].has_value());
        BOOST_TEST(answers[static_cast<std::size_t>(i)]->data == "M" + std::to_string(i));
    }

    // Nobody listens: the server answers 503 at once (long before the timeout).
    auto start = std::chrono::steady_clock::now();
    auto none = await(io, raw->request("svc.nobody", "x", 3000ms));
    BOOST_REQUIRE(none.has_value());
    BOOST_TEST(none->status == 503);
    BOOST_TEST(none->data.empty());
    BOOST_TEST((std::chrono::steady_clock::now() - start < 1000ms));

    // A listener that never answers: nullopt after the timeout, counted.
    BOOST_TEST(raw->counters().requests_timed_out == 0u);
    start = std::chrono::steady_clock::now();
    auto silent = await(io, raw->request("svc.silent", "x", 300ms));
    BOOST_TEST(!silent.has_value());
    BOOST_TEST((std::chrono::steady_clock::now() - start >= 300ms));
    BOOST_TEST(raw->counters().requests_timed_out == 1u);
}

BOOST_AUTO_TEST_CASE(server_killed_and_restarted_the_link_reconnects_with_its_subscriptions) {
    nats_test_server server;
    asio::io_context io;
    auto link = connected_link(io, server);
    test::run_for(io, 50ms);
    const auto fds_connected = test::open_fd_count();
    std::vector<link_state> seen;
    link->on_state_change([&](link_state s) { seen.push_back(s); });
    int got = 0;
    link->subscribe("after.restart", [&](nats_message&&) { ++got; });
    link->subscribe("svc.silent", [](nats_message&&) {});
    test::run_for(io, 50ms);

    // A request in flight when the server dies ends at once (not after its 10 s timeout).
    std::optional<std::optional<nats_message>> pending;
    auto in_flight = [&]() -> asio::awaitable<void> {
        pending = co_await link->request("svc.silent", "x", 10'000ms);
    };
    asio::co_spawn(io, in_flight, asio::detached);
    test::run_for(io, 50ms);

    const auto killed = std::chrono::steady_clock::now();
    server.kill();
    BOOST_REQUIRE(run_until(io, [&] { return link->state() == link_state::reconnecting; }, 3000ms));
    BOOST_TEST((std::chrono::steady_clock::now() - killed < 2000ms));
    BOOST_REQUIRE(run_until(io, [&] { return pending.has_value(); }, 1000ms));
    BOOST_TEST(!pending->has_value());
    BOOST_TEST(link->counters().disconnects == 1u);
    BOOST_TEST(link->connected_url().empty());
    // While down, a request fails at once.
    auto down = await(io, link->request("svc.silent", "x", 5000ms), 1000ms);
    BOOST_TEST(!down.has_value());

    server.start();
    BOOST_REQUIRE(run_until(io, [&] { return link->connected(); }, 5000ms));
    BOOST_TEST(link->counters().connects == 2u);
    BOOST_TEST((seen == std::vector<link_state>{link_state::reconnecting, link_state::connected}));
    // The subscription made before the restart is live again on the new server.
    BOOST_REQUIRE(run_until(io, [&] {
        link->publish("after.restart", "x");
        test::run_for(io, 20ms);
        return got > 0;
    }, 3000ms));
    // Each connection's socket (libnats's and our dup) is closed: no descriptor leaks.
    test::run_for(io, 50ms);
    BOOST_TEST(test::open_fd_count() == fds_connected);
}

BOOST_AUTO_TEST_CASE(close_with_requests_and_deliveries_in_flight_runs_no_handler_afterwards) {
    nats_test_server server;
    asio::io_context io;
    {
        // The reactor's own descriptors (epoll, eventfd, timerfd) open at its first use.
        asio::steady_timer warm_up(io, 1ms);
        warm_up.async_wait([](boost::system::error_code) {});
        io.run();
        io.restart();
    }
    const auto fds_before = test::open_fd_count();
    auto link = connected_link(io, server);
    std::vector<link_state> seen;
    link->on_state_change([&](link_state s) { seen.push_back(s); });
    int delivered = 0;
    bool closed = false;
    int after_close = 0;
    link->subscribe("flood", [&](nats_message&&) {
        ++delivered;
        if (closed)
            ++after_close;
    });
    link->subscribe("svc.silent", [](nats_message&&) {});
    test::run_for(io, 50ms);

    int ended = 0;
    int answered = 0;
    for (int i = 0; i < 5; ++i) {
        auto one = [&]() -> asio::awaitable<void> {
            auto r = co_await link->request("svc.silent", "x", 10'000ms);
            answered += r.has_value() ? 1 : 0;
            ++ended;
        };
        asio::co_spawn(io, one, asio::detached);
    }
    for (int i = 0; i < 2000; ++i)
        link->publish("flood", "payload");
    test::run_for(io, 20ms); // some deliveries are posted, some still in libnats's threads
    const auto requests_out = ended;
    BOOST_TEST(requests_out == 0);

    const auto before = std::chrono::steady_clock::now();
    link->close();
    closed = true;
    BOOST_TEST((std::chrono::steady_clock::now() - before < 1000ms));
    BOOST_TEST(link->state() == link_state::closed);
    BOOST_TEST(!link->publish("flood", "x"));
    BOOST_TEST(link->subscribe("flood", [](nats_message&&) {}) == 0u);
    link->close(); // idempotent
    link.reset();  // destroyed while the request coroutines still hold its state
    BOOST_REQUIRE(run_until(io, [&] { return ended == 5; }, 2000ms));
    test::run_for(io, 200ms);
    BOOST_TEST(answered == 0);
    BOOST_TEST(after_close == 0);
    BOOST_TEST(seen.empty()); // no state handler after close either
    BOOST_TEST(delivered < 2000);
    BOOST_TEST(test::open_fd_count() == fds_before); // both sockets closed
}

BOOST_AUTO_TEST_CASE(token_user_password_and_nkey_authentication) {
    asio::io_context io;
    {
        nats_test_server server(test::free_loopback_port(), {"--auth", "s3cret"});
        auto good = options_for(server.url());
        good.token = "s3cret";
        nats_link ok(io.get_executor(), good);
        auto bad = options_for(server.url());
        bad.token = "wrong";
        nats_link refused(io.get_executor(), bad);
        ok.start();
        refused.start();
        BOOST_REQUIRE(run_until(io, [&] { return ok.connected(); }));
        test::run_for(io, 300ms);
        BOOST_TEST(!refused.connected());
    }
    {
        nats_test_server server(test::free_loopback_port(), {"--user", "node", "--pass", "pw"});
        auto good = options_for(server.url());
        good.user = "node";
        good.password = "pw";
        nats_link ok(io.get_executor(), good);
        ok.start();
        BOOST_REQUIRE(run_until(io, [&] { return ok.connected(); }));
    }
    {
        // A user nkey pair (the one of the NATS documentation's examples): the server knows the
        // public key only; the link derives it from the seed file and signs the nonce.
        nats_test_server server(
            test::free_loopback_port(), {},
            "authorization { users = [ { nkey: "
            "UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4 } ] }\n");
        const std::string seed_file = server.dir() + "/user.nk";
        std::ofstream(seed_file) << "SUACSSL3UAHUDXKFSNVUZRF5UHPMWZ6BFDTJ7M6USDXIEDNPPQYYYCU3VY\n";
        auto good = options_for(server.url());
        good.nkey_seed_file = seed_file;
        nats_link ok(io.get_executor(), good);
        ok.start();
        BOOST_REQUIRE(run_until(io, [&] { return ok.connected(); }));
        // Without credentials the same server refuses.
        nats_link anonymous(io.get_executor(), options_for(server.url()));
        anonymous.start();
        test::run_for(io, 300ms);
        BOOST_TEST(!anonymous.connected());
    }
}

BOOST_AUTO_TEST_SUITE_END()
