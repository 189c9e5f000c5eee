// Tests of JetStream over the NATS link against a real `nats-server -js`: streams (create,
// idempotent, update), PubAcks and expected-sequence failures, a durable pull consumer (fetch,
// ack, nak and redelivery, in-progress against AckWait), the $JS.ACK subject forms, the KV
// bucket (put, get, revisions, compare-and-set) and a watch that survives a server restart.
#include "cluster/jetstream.hpp"
#include "unit/cluster/nats_test_server.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>

using namespace spear;
using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace json = boost::json;
using cluster::js_error;
using cluster::jetstream;
using cluster::kv_entry;
using cluster::nats_link;
using cluster::nats_message;
using test::await;
using test::nats_test_server;
using test::options_for;
using test::run_until;

namespace {

struct fixture {
    nats_test_server server;
    asio::io_context io;
    nats_link link{io.get_executor(), options_for(server.url())};
    jetstream js;

    explicit fixture(std::chrono::milliseconds watch_heartbeat = 5000ms)
        : js(link, 2000ms, watch_heartbeat) {
        link.start();
        BOOST_REQUIRE(run_until(io, [&] { return link.connected(); }));
    }

    template <class T>
    T ok(cluster::js_result<T> r) {
        if (auto* e = std::get_if<js_error>(&r))
            BOOST_FAIL("JetStream error " << e->code << "/" << e->err_code << ": "
                                          << e->description);
        return std::get<T>(std::move(r));
    }
    template <class T>
    js_error fails(cluster::js_result<T> r) {
        BOOST_REQUIRE_MESSAGE(std::holds_alternative<js_error>(r), "expected a JetStream error");
        return std::get<js_error>(std::move(r));
    }

    void work_stream(std::int64_t ack_wait_ms = 30'000) {
        json::object stream{{"name", "WORK"},
                            {"subjects", json::array{"work.>"}},
                            {"retention", "workqueue"},
                            {"storage", "file"}};
        ok(await(io, js.ensure_stream(stream)));
        json::object consumer{{"durable_name", "runners"},
                              {"ack_policy", "explicit"},
                              {"ack_wait", ack_wait_ms * 1'000'000},
                              {"max_deliver", -1},
                              {"filter_subject", "work.>"}};
        ok(await(io, js.ensure_consumer("WORK", consumer)));
    }

    std::optional<nats_message> fetch(std::chrono::milliseconds wait) {
        return ok(await(io, js.fetch_one("WORK", "runners", wait)));
    }
};

nats_message with_reply(std::string reply) {
    nats_message m;
    m.reply = std::move(reply);
    return m;
}

} // namespace

BOOST_AUTO_TEST_SUITE(jetstream_suite)

BOOST_AUTO_TEST_CASE(delivery_count_reads_both_ack_subject_forms) {
    BOOST_TEST(jetstream::delivery_count(with_reply("$JS.ACK.WORK.runners.1.7.7.1700000000.0")) ==
               1u);
    BOOST_TEST(jetstream::delivery_count(with_reply("$JS.ACK.WORK.runners.3.7.9.1700000000.2")) ==
               3u);
    // 2.9+: domain and account hash first (and an optional random token last).
    BOOST_TEST(jetstream::delivery_count(
                   with_reply("$JS.ACK.hub.ACCHASH.WORK.runners.5.7.9.1700000000.2")) == 5u);
    BOOST_TEST(jetstream::delivery_count(
                   with_reply("$JS.ACK.hub.ACCHASH.WORK.runners.4.7.9.1700000000.2.xyz")) == 4u);
    BOOST_TEST(jetstream::delivery_count(with_reply("")) == 0u);
    BOOST_TEST(jetstream::delivery_count(with_reply("_INBOX.abc.1")) == 0u);
    BOOST_TEST(jetstream::delivery_count(with_reply("$JS.ACK.WORK.runners.x.7.9.1.0")) == 0u);
    BOOST_TEST(jetstream::delivery_count(with_reply("$JS.ACK.WORK.runners.1.7.9.1")) == 0u);
}

BOOST_AUTO_TEST_CASE(ensure_stream_is_idempotent_and_updates_a_changed_config) {
    fixture f;
    json::object stream{{"name", "S1"}, {"subjects", json::array{"s1.>"}}, {"storage", "file"}};
    auto first = f.ok(await(f.io, f.js.ensure_stream(stream)));
    BOOST_TEST(first.at("config").at("name").as_string() == "S1");
    auto again = f.ok(await(f.io, f.js.ensure_stream(stream)));
    BOOST_TEST(again.at("config").at("name").as_string() == "S1");
    // A changed config: CREATE answers 10058, ensure_stream updates it.
    stream["max_msgs"] = 5;
    auto updated = f.ok(await(f.io, f.js.ensure_stream(stream)));
    BOOST_TEST(updated.at("config").at("max_msgs").as_int64() == 5);
    auto info = f.ok(await(f.io, f.js.call("STREAM.INFO.S1", {})));
    BOOST_TEST(info.at("config").at("max_msgs").as_int64() == 5);
    // Errors come back as js_error with the server's codes.
    auto missing = f.fails(await(f.io, f.js.call("STREAM.INFO.NOPE", {})));
    BOOST_TEST(missing.code == 404);
    BOOST_TEST(missing.err_code == 10059);
    BOOST_TEST(!missing.description.empty());
    auto bad = f.fails(await(f.io, f.js.ensure_stream(json::object{{"subjects", json::array{"x"}}})));
    BOOST_TEST(bad.code == 400);
}

BOOST_AUTO_TEST_CASE(ensure_consumer_creates_then_updates_a_durable) {
    fixture f;
    f.work_stream(30'000);
    auto info = f.ok(await(f.io, f.js.call("CONSUMER.INFO.WORK.runners", {})));
    BOOST_TEST(info.at("config").at("ack_wait").as_int64() == 30'000'000'000);
    // The same durable with another AckWait (a changed cluster.ack_wait_ms): updated in place.
    json::object consumer{{"durable_name", "runners"},
                          {"ack_policy", "explicit"},
                          {"ack_wait", std::int64_t{10'000'000'000}},
                          {"max_deliver", -1},
                          {"filter_subject", "work.>"}};
    auto updated = f.ok(await(f.io, f.js.ensure_consumer("WORK", consumer)));
    BOOST_TEST(updated.at("config").at("ack_wait").as_int64() == 10'000'000'000);
    info = f.ok(await(f.io, f.js.call("CONSUMER.INFO.WORK.runners", {})));
    BOOST_TEST(info.at("config").at("ack_wait").as_int64() == 10'000'000'000);
    BOOST_TEST(f.fails(await(f.io, f.js.ensure_consumer("WORK", json::object{}))).code == 400);
}

BOOST_AUTO_TEST_CASE(publish_answers_the_sequence_or_the_failure) {
    fixture f;
    f.work_stream();
    BOOST_TEST(f.ok(await(f.io, f.js.publish("work.a", "one"))) == 1u);
    BOOST_TEST(f.ok(await(f.io, f.js.publish("work.a", "two", {{"Nats-Msg-Id", "m2"}}))) == 2u);
    // A duplicate message id is not stored again: the PubAck repeats the first sequence.
    BOOST_TEST(f.ok(await(f.io, f.js.publish("work.a", "two", {{"Nats-Msg-Id", "m2"}}))) == 2u);
    auto wrong = f.fails(
        await(f.io, f.js.publish("work.b", "x", {{"Nats-Expected-Last-Subject-Sequence", "99"}})));
    BOOST_TEST(wrong.err_code == 10071);
    // No stream listens on that subject: 503 from the server.
    auto nowhere = f.fails(await(f.io, f.js.publish("nostream.x", "x")));
    BOOST_TEST(nowhere.code == 503);
}

BOOST_AUTO_TEST_CASE(fetch_ack_nak_and_redelivery) {
    fixture f;
    f.work_stream();
    // Nothing there: nullopt once `wait` has passed on the server.
    auto start = std::chrono::steady_clock::now();
    BOOST_TEST(!f.fetch(300ms).has_value());
    BOOST_TEST((std::chrono::steady_clock::now() - start >= 250ms));
    BOOST_TEST(!f.fetch(0ms).has_value()); // no_wait

    f.ok(await(f.io, f.js.publish("work.fn", "job-1", {{"Spear-Execution", "e1"}})));
    auto m = f.fetch(1000ms);
    BOOST_REQUIRE(m.has_value());
    BOOST_TEST(m->data == "job-1");
    BOOST_TEST(m->subject == "work.fn");
    BOOST_TEST(m->header("Spear-Execution") == "e1");
    BOOST_TEST(jetstream::delivery_count(*m) == 1u);
    BOOST_TEST(m->reply.starts_with("$JS.ACK.WORK.runners."));
    BOOST_TEST(f.js.nak(*m));
    // Redelivered at once, counted.
    auto again = f.fetch(1000ms);
    BOOST_REQUIRE(again.has_value());
    BOOST_TEST(again->data == "job-1");
    BOOST_TEST(jetstream::delivery_count(*again) == 2u);
    BOOST_TEST(f.js.ack(*again));
    // Acked: never again (workqueue: removed from the stream).
    BOOST_TEST(!f.fetch(300ms).has_value());
    auto info = f.ok(await(f.io, f.js.call("STREAM.INFO.WORK", {})));
    BOOST_TEST(info.at("state").at("messages").as_int64() == 0);

    // term: never redelivered either.
    f.ok(await(f.io, f.js.publish("work.fn", "job-2")));
    auto two = f.fetch(1000ms);
    BOOST_REQUIRE(two.has_value());
    BOOST_TEST(f.js.term(*two));
    BOOST_TEST(!f.fetch(300ms).has_value());
    BOOST_TEST(!f.js.ack(nats_message{})); // no reply subject: nothing to send

    // An unknown consumer: the 2.9 server does not answer at all.
    f.fails(await(f.io, f.js.fetch_one("WORK", "nobody", 100ms)));
}

BOOST_AUTO_TEST_CASE(a_fetch_ends_at_once_when_the_link_goes_down) {
    fixture f;
    f.work_stream();
    std::optional<cluster::js_result<std::optional<nats_message>>> result;
    auto pull = [&]() -> asio::awaitable<void> {
        result = co_await f.js.fetch_one("WORK", "runners", 10'000ms);
    };
    asio::co_spawn(f.io, pull, asio::detached);
    test::run_for(f.io, 100ms);
    const auto killed = std::chrono::steady_clock::now();
    f.server.kill();
    BOOST_REQUIRE(run_until(f.io, [&] { return result.has_value(); }, 3000ms));
    BOOST_TEST((std::chrono::steady_clock::now() - killed < 2000ms));
    BOOST_TEST(std::holds_alternative<js_error>(*result));
    // While down: at once too.
    const auto start = std::chrono::steady_clock::now();
    f.fails(await(f.io, f.js.fetch_one("WORK", "runners", 5000ms)));
    BOOST_TEST((std::chrono::steady_clock::now() - start < 100ms));
}

BOOST_AUTO_TEST_CASE(in_progress_holds_a_message_past_its_ack_wait) {
    fixture f;
    f.work_stream(800); // AckWait 0.8 s
    f.ok(await(f.io, f.js.publish("work.fn", "long-run")));
    auto m = f.fetch(1000ms);
    BOOST_REQUIRE(m.has_value());
    // Heartbeats every 0.3 s for 2 s (2.5 AckWaits): no redelivery meanwhile.
    for (int i = 0; i < 7; ++i) {
        BOOST_TEST(f.js.in_progress(*m));
        BOOST_TEST(!f.fetch(300ms).has_value());
    }
    // Heartbeats stop: after AckWait it comes back, delivered twice.
    auto again = f.fetch(2000ms);
    BOOST_REQUIRE(again.has_value());
    BOOST_TEST(again->data == "long-run");
    BOOST_TEST(jetstream::delivery_count(*again) == 2u);
    f.js.ack(*again);
}

BOOST_AUTO_TEST_CASE(kv_put_get_revisions_and_compare_and_set) {
    fixture f;
    cluster::kv_bucket_config config;
    config.bucket = "records";
    config.history = 1;
    config.max_bytes = 1 << 20;
    config.ttl = 60'000ms;
    auto created = f.ok(await(f.io, f.js.kv_create(config)));
    BOOST_TEST(created.at("config").at("name").as_string() == "KV_records");
    f.ok(await(f.io, f.js.kv_create(config))); // idempotent

    BOOST_TEST(!f.ok(await(f.io, f.js.kv_get("records", "e1"))).has_value());
    const auto r1 = f.ok(await(f.io, f.js.kv_put("records", "e1", "{\"status\":\"queued\"}")));
    BOOST_TEST(r1 > 0u);
    auto got = f.ok(await(f.io, f.js.kv_get("records", "e1")));
    BOOST_REQUIRE(got.has_value());
    BOOST_TEST(got->key == "e1");
    BOOST_TEST(got->value == "{\"status\":\"queued\"}");
    BOOST_TEST(got->revision == r1);
    BOOST_TEST(!got->deleted);

    // Compare-and-set on the last revision.
    const auto r2 = f.ok(await(f.io, f.js.kv_put("records", "e1", "running", r1)));
    BOOST_TEST(r2 > r1);
    auto stale = f.fails(await(f.io, f.js.kv_put("records", "e1", "lost", r1)));
    BOOST_TEST(stale.err_code == 10071);
    auto exists = f.fails(await(f.io, f.js.kv_put("records", "e1", "lost", 0u)));
    BOOST_TEST(exists.err_code == 10071);
    BOOST_TEST(f.ok(await(f.io, f.js.kv_put("records", "e2", "new", 0u))) > r2);
    got = f.ok(await(f.io, f.js.kv_get("records", "e1")));
    BOOST_REQUIRE(got.has_value());
    BOOST_TEST(got->value == "running");
    BOOST_TEST(got->revision == r2);

    // A delete marker (as nats.go writes it) reads as deleted.
    f.ok(await(f.io, f.js.publish("$KV.records.e2", "", {{"KV-Operation", "DEL"}})));
    got = f.ok(await(f.io, f.js.kv_get("records", "e2")));
    BOOST_REQUIRE(got.has_value());
    BOOST_TEST(got->deleted);

    // Bad names never reach the server; a missing bucket is an error, not "no value".
    BOOST_TEST(f.fails(await(f.io, f.js.kv_get("records", "a..b"))).code == 400);
    BOOST_TEST(f.fails(await(f.io, f.js.kv_put("bad.bucket", "k", "v"))).code == 400);
    auto missing = f.fails(await(f.io, f.js.kv_get("nobucket", "k")));
    BOOST_TEST(missing.err_code == 10059);
}

BOOST_AUTO_TEST_CASE(kv_watch_sees_existing_keys_then_new_puts_and_survives_a_restart) {
    fixture f;
    cluster::kv_bucket_config config;
    config.bucket = "records";
    f.ok(await(f.io, f.js.kv_create(config)));
    f.ok(await(f.io, f.js.kv_put("records", "a", "a1")));
    f.ok(await(f.io, f.js.kv_put("records", "a", "a2")));
    const auto rb = f.ok(await(f.io, f.js.kv_put("records", "b", "b1")));

    std::vector<kv_entry> seen;
    const auto id = f.js.kv_watch_all("records", [&](kv_entry&& e) { seen.push_back(std::move(e)); });
    BOOST_REQUIRE(id != 0u);
    BOOST_REQUIRE(run_until(f.io, [&] { return seen.size() == 2; }));
    std::map<std::string, kv_entry> last;
    for (auto& e : seen)
        last[e.key] = e;
    BOOST_TEST(last["a"].value == "a2"); // the last value per key only
    BOOST_TEST(last["b"].value == "b1");
    BOOST_TEST(last["b"].revision == rb);

    const auto rc = f.ok(await(f.io, f.js.kv_put("records", "c", "c1")));
    BOOST_REQUIRE(run_until(f.io, [&] { return seen.size() == 3; }));
    BOOST_TEST(seen.back().key == "c");
    BOOST_TEST(seen.back().value == "c1");
    BOOST_TEST(seen.back().revision == rc);
    BOOST_TEST(!seen.back().deleted);
    f.ok(await(f.io, f.js.publish("$KV.records.c", "", {{"KV-Operation", "PURGE"}})));
    BOOST_REQUIRE(run_until(f.io, [&] { return seen.size() == 4; }));
    BOOST_TEST(seen.back().key == "c");
    BOOST_TEST(seen.back().deleted);

    // The server dies and comes back (same store): the watch is re-created and sees new puts.
    f.server.kill();
    BOOST_REQUIRE(run_until(f.io, [&] { return !f.link.connected(); }, 3000ms));
    f.server.start();
    BOOST_REQUIRE(run_until(f.io, [&] { return f.link.connected(); }, 5000ms));
    std::optional<std::uint64_t> rd;
    BOOST_REQUIRE(run_until(f.io, [&] {
        // JetStream may need a moment after the restart to take writes again.
        auto r = await(f.io, f.js.kv_put("records", "d", "after-restart"));
        if (std::holds_alternative<std::uint64_t>(r))
            rd = std::get<std::uint64_t>(r);
        return rd.has_value();
    }, 10'000ms));
    BOOST_REQUIRE(run_until(f.io, [&] {
        return !seen.empty() && seen.back().key == "d";
    }, 5000ms));
    BOOST_TEST(seen.back().value == "after-restart");
    BOOST_TEST(seen.back().revision == *rd);

    // unwatch: no more entries.
    f.js.unwatch(id);
    const auto count = seen.size();
    f.ok(await(f.io, f.js.kv_put("records", "e", "unseen")));
    test::run_for(f.io, 200ms);
    BOOST_TEST(seen.size() == count);
}

BOOST_AUTO_TEST_CASE(a_watch_started_before_its_bucket_exists_starts_when_it_does) {
    fixture f;
    std::vector<kv_entry> seen;
    f.js.kv_watch_all("later", [&](kv_entry&& e) { seen.push_back(std::move(e)); });
    test::run_for(f.io, 300ms);
    cluster::kv_bucket_config config;
    config.bucket = "later";
    f.ok(await(f.io, f.js.kv_create(config)));
    f.ok(await(f.io, f.js.kv_put("later", "k", "v")));
    BOOST_REQUIRE(run_until(f.io, [&] { return !seen.empty(); }, 5000ms));
    BOOST_TEST(seen.front().key == "k");
}

BOOST_AUTO_TEST_CASE(a_watch_whose_consumer_vanished_is_re_created_after_missed_heartbeats) {
    fixture f(300ms);
    cluster::kv_bucket_config config;
    config.bucket = "records";
    f.ok(await(f.io, f.js.kv_create(config)));
    std::vector<kv_entry> seen;
    f.js.kv_watch_all("records", [&](kv_entry&& e) { seen.push_back(std::move(e)); });
    f.ok(await(f.io, f.js.kv_put("records", "a", "1")));
    BOOST_REQUIRE(run_until(f.io, [&] { return seen.size() == 1; }));
    // The link stays up but the consumer goes (as when the server holding it dies in a cluster).
    auto names = f.ok(await(f.io, f.js.call("CONSUMER.NAMES.KV_records", {})));
    BOOST_REQUIRE(names.at("consumers").as_array().size() == 1u);
    for (const auto& name : names.at("consumers").as_array())
        f.ok(await(f.io, f.js.call("CONSUMER.DELETE.KV_records." +
                                       std::string(name.as_string()), {})));
    f.ok(await(f.io, f.js.kv_put("records", "b", "2")));
    // Two missed heartbeats (0.6 s) later the watch is back and catches up.
    BOOST_REQUIRE(run_until(f.io, [&] {
        return std::any_of(seen.begin(), seen.end(), [](const kv_entry& e) { return e.key == "b"; });
    }, 5000ms));
    names = f.ok(await(f.io, f.js.call("CONSUMER.NAMES.KV_records", {})));
    BOOST_TEST(names.at("consumers").as_array().size() == 1u); // the old one is not piling up
}

BOOST_AUTO_TEST_SUITE_END()
