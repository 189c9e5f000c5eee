// Tests of the ring status table: lookup, eviction order, wraparound, TTL, buffers, listing.
#include "core/limits.hpp"
#include "core/ring_status_table.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <limits>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

using namespace spear::core;
using namespace std::chrono_literals;

namespace {

constexpr std::uint32_t test_boot = 0x5bee1234;
const steady_time t0 = steady_time{} + std::chrono::hours(1000);
const wall_time w0 = wall_time{} + std::chrono::seconds(1'800'000'000);

ring_status_table_options small_options(std::size_t slots, std::chrono::seconds ttl = 0s) {
    ring_status_table_options o;
    o.slots = slots;
    o.max_output_bytes = 16;
    o.stderr_tail_bytes = 8;
    o.ttl = ttl;
    o.boot = test_boot;
    return o;
}

record_ref must_insert(ring_status_table& table, std::string_view function, steady_time now,
                       std::string_view client_id = {}, steady_time expected = {}) {
    auto inserted =
        table.insert({function, client_id, ExecutionMode::async, expected}, now, w0 + (now - t0));
    BOOST_REQUIRE(std::holds_alternative<record_ref>(inserted));
    return std::get<record_ref>(inserted);
}

execution_outcome outcome(ExecutionStatus status, std::string message = {}) {
    execution_outcome o;
    o.status = status;
    o.error = status == ExecutionStatus::completed ? error_code::none : error_code::function_failed;
    o.error_message = std::move(message);
    o.exit_code = status == ExecutionStatus::completed ? 0 : 1;
    return o;
}

// Runs a record to completion at `now`.
void complete(ring_status_table& table, record_ref ref, steady_time now) {
    table.mark_running(ref, now, w0 + (now - t0));
    table.finish(ref, outcome(ExecutionStatus::completed), now, w0 + (now - t0));
}

std::size_t count_of(const ring_status_table& table, ExecutionStatus status) {
    return table.counts()[static_cast<std::size_t>(status) - 1];
}

} // namespace

BOOST_AUTO_TEST_SUITE(ring_status_table_suite)

BOOST_AUTO_TEST_CASE(rejects_invalid_options) {
    BOOST_CHECK_THROW(ring_status_table(small_options(0)), std::invalid_argument);
    BOOST_CHECK_THROW(ring_status_table(small_options(std::size_t{execution_id_max_slot} + 2)),
                      std::invalid_argument);
    auto huge = small_options(4);
    huge.max_output_bytes = std::numeric_limits<std::size_t>::max() / 2;
    BOOST_CHECK_THROW(ring_status_table{huge}, std::invalid_argument);
    ring_status_table one(small_options(1));
    BOOST_TEST(one.capacity() == 1u);
}

BOOST_AUTO_TEST_CASE(inserts_and_finds_by_id) {
    ring_status_table table(small_options(4));
    BOOST_TEST(table.arena_bytes() == 4u * (16 + 8));
    const auto a = must_insert(table, "alpha", t0);
    const auto b = must_insert(table, "beta", t0 + 1ms);
    BOOST_TEST(a.seq == 1u);
    BOOST_TEST(b.seq == 2u);
    BOOST_TEST(a.slot != b.slot);
    BOOST_TEST(table.size() == 2u);

    const auto id = table.execution_id(b);
    BOOST_TEST(id.size() == execution_id_length);
    const auto parts = parse_execution_id(id);
    BOOST_REQUIRE(parts.has_value());
    BOOST_TEST(parts->boot == test_boot);
    BOOST_TEST(parts->seq == b.seq);
    BOOST_TEST(parts->slot == b.slot);

    const auto found = table.find(id, t0 + 2ms);
    BOOST_TEST((found.status == lookup_status::found));
    BOOST_TEST((found.ref == b));
    BOOST_TEST(table.holds(b));
    BOOST_TEST(table.function_name(b) == "beta");
    BOOST_TEST((table.status(b) == ExecutionStatus::pending));

    const auto snap = table.snapshot(a, true, t0 + 2ms);
    BOOST_TEST(snap.execution_id == table.execution_id(a));
    BOOST_TEST(snap.function_name == "alpha");
    BOOST_TEST((snap.mode == ExecutionMode::async));
    BOOST_TEST((snap.status == ExecutionStatus::pending));
    BOOST_TEST(snap.content_type == "application/octet-stream");
    BOOST_TEST(snap.seq == a.seq);
    BOOST_TEST((snap.queued_at == w0));
}

BOOST_AUTO_TEST_CASE(wraps_around_over_many_generations) {
    ring_status_table table(small_options(4));
    std::vector<std::string> ids;
    std::vector<record_ref> refs;
    auto now = t0;
    for (int i = 0; i < 10'000; ++i) {
        now += 1ms;
        const auto ref = must_insert(table, "f", now);
        refs.push_back(ref);
        ids.push_back(table.execution_id(ref));
        table.append_output(ref, "x");
        complete(table, ref, now);
        BOOST_REQUIRE(table.size() <= 4u);
    }
    BOOST_TEST(table.size() == 4u);
    BOOST_TEST(table.evictions() == 10'000u - 4u);
    BOOST_TEST(count_of(table, ExecutionStatus::completed) == 4u);
    std::set<std::string> unique(ids.begin(), ids.end());
    BOOST_TEST(unique.size() == ids.size());
    std::size_t evicted = 0;
    for (std::size_t i = 0; i < ids.size(); ++i) {
        const auto found = table.find(ids[i], now);
        if (i + 4 < ids.size()) {
            evicted += found.status == lookup_status::evicted;
            BOOST_TEST(!table.holds(refs[i]));
        } else {
            BOOST_TEST((found.status == lookup_status::found));
            BOOST_TEST((found.ref == refs[i]));
            BOOST_TEST(table.snapshot(found.ref, true, now).output == "x");
        }
    }
    BOOST_TEST(evicted == ids.size() - 4);
}

BOOST_AUTO_TEST_CASE(never_evicts_running_or_pending) {
    ring_status_table table(small_options(3));
    const auto pending = must_insert(table, "p", t0);
    const auto running = must_insert(table, "r", t0);
    table.mark_running(running, t0, w0);
    // The one remaining slot cycles; the two live records must survive every round.
    for (int i = 0; i < 50; ++i) {
        const auto ref = must_insert(table, "t", t0 + 1ms);
        BOOST_TEST(ref.slot != pending.slot);
        BOOST_TEST(ref.slot != running.slot);
        table.finish(ref, outcome(ExecutionStatus::failed), t0 + 2ms, w0);
    }
    BOOST_TEST(table.holds(pending));
    BOOST_TEST(table.holds(running));
    BOOST_TEST((table.status(pending) == ExecutionStatus::pending));
    BOOST_TEST((table.status(running) == ExecutionStatus::running));
    BOOST_TEST(table.evictions() == 49u);
}

BOOST_AUTO_TEST_CASE(refuses_when_full_with_retry_after_from_earliest_expected_completion) {
    ring_status_table table(small_options(3));
    const auto a = must_insert(table, "a", t0, {}, t0 + 9s);
    const auto b = must_insert(table, "b", t0, {}, t0 + 7s);
    must_insert(table, "c", t0, {}, t0 + 8s);
    table.mark_running(b, t0, w0);

    auto refused = table.insert({"d", {}, ExecutionMode::sync, t0 + 1s}, t0 + 2s, w0);
    BOOST_REQUIRE(std::holds_alternative<error>(refused));
    const auto& e = std::get<error>(refused);
    BOOST_TEST((e.code == error_code::status_table_full));
    BOOST_TEST(e.retry_after_ms == 5000); // b is expected at t0+7s, it is t0+2s now
    BOOST_TEST(e.message.find("pending or running") != std::string::npos);
    BOOST_TEST(table.size() == 3u);
    BOOST_TEST(table.evictions() == 0u);

    // Estimates move: the earliest is now close, so the floor of one second applies.
    table.set_expected_completion(a, t0 + 2s + 200ms);
    refused = table.insert({"d", {}, ExecutionMode::sync, {}}, t0 + 2s, w0);
    BOOST_REQUIRE(std::holds_alternative<error>(refused));
    BOOST_TEST(std::get<error>(refused).retry_after_ms == 1000);

    // Once one ends, its slot is taken.
    table.finish(b, outcome(ExecutionStatus::completed), t0 + 3s, w0);
    const auto d = must_insert(table, "d", t0 + 3s);
    BOOST_TEST(d.slot == b.slot);
}

BOOST_AUTO_TEST_CASE(stale_id_answers_evicted_and_unknown_answers_not_found) {
    ring_status_table table(small_options(2));
    const auto a = must_insert(table, "f", t0);
    const auto a_id = table.execution_id(a);
    complete(table, a, t0);
    const auto b = must_insert(table, "f", t0);
    complete(table, b, t0);
    const auto c = must_insert(table, "f", t0); // takes a's slot
    BOOST_TEST(c.slot == a.slot);
    complete(table, c, t0);

    BOOST_TEST((table.find(a_id, t0).status == lookup_status::evicted));
    BOOST_TEST((table.find(table.execution_id(b), t0).status == lookup_status::found));

    // Another boot's id with the same seq and slot.
    const auto other_boot = format_execution_id({test_boot + 1, b.seq, b.slot});
    BOOST_TEST((table.find(other_boot, t0).status == lookup_status::not_found));
    // A seq not issued yet.
    const auto future = format_execution_id({test_boot, c.seq + 1, c.slot});
    BOOST_TEST((table.find(future, t0).status == lookup_status::not_found));
    // seq 0 is never issued.
    BOOST_TEST((table.find(format_execution_id({test_boot, 0, 0}), t0).status ==
                lookup_status::not_found));
    // A slot beyond the capacity.
    BOOST_TEST((table.find(format_execution_id({test_boot, 1, 2}), t0).status ==
                lookup_status::not_found));
    // Not an id at all.
    BOOST_TEST((table.find("", t0).status == lookup_status::not_found));
    BOOST_TEST((table.find("not-an-id", t0).status == lookup_status::not_found));
    auto upper = table.execution_id(b);
    std::transform(upper.begin(), upper.end(), upper.begin(), [](char ch) {
        return ch >= 'a' && ch <= 'f' ? static_cast<char>(ch - 32) : ch;
    });
    BOOST_TEST((table.find(upper, t0).status == lookup_status::not_found));
    BOOST_TEST((table.find(table.execution_id(b) + "0", t0).status == lookup_status::not_found));
}

BOOST_AUTO_TEST_CASE(ttl_expiry_releases_terminal_records_only) {
    ring_status_table table(small_options(4, 10s));
    const auto done = must_insert(table, "f", t0);
    const auto done_id = table.execution_id(done);
    complete(table, done, t0 + 1s);
    const auto later = must_insert(table, "f", t0);
    table.finish(later, outcome(ExecutionStatus::cancelled), t0 + 5s, w0);
    const auto running = must_insert(table, "f", t0);
    table.mark_running(running, t0, w0);
    const auto pending = must_insert(table, "f", t0);

    table.expire(t0 + 10s + 999ms);
    BOOST_TEST(table.size() == 4u);
    table.expire(t0 + 11s); // done completed at t0+1s: its ttl is up
    BOOST_TEST(table.size() == 3u);
    BOOST_TEST(!table.holds(done));
    BOOST_TEST(table.evictions() == 1u);
    BOOST_TEST((table.find(done_id, t0 + 11s).status == lookup_status::evicted));
    BOOST_TEST(count_of(table, ExecutionStatus::completed) == 0u);

    // Lookups expire too; live records stay however old they are.
    BOOST_TEST((table.find(table.execution_id(later), t0 + 1h).status == lookup_status::evicted));
    BOOST_TEST(table.holds(running));
    BOOST_TEST(table.holds(pending));
    BOOST_TEST(table.size() == 2u);
    BOOST_TEST(table.evictions() == 2u);

    // Released slots are free again: two inserts take them without evicting anything.
    must_insert(table, "g", t0 + 1h);
    must_insert(table, "g", t0 + 1h);
    BOOST_TEST(table.size() == 4u);
    BOOST_TEST(table.evictions() == 2u);
}

BOOST_AUTO_TEST_CASE(ttl_zero_never_expires) {
    ring_status_table table(small_options(2, 0s));
    const auto ref = must_insert(table, "f", t0);
    complete(table, ref, t0);
    table.expire(t0 + 24h * 365);
    BOOST_TEST(table.holds(ref));
    BOOST_TEST(table.evictions() == 0u);
}

BOOST_AUTO_TEST_CASE(output_truncation_keeps_true_size) {
    ring_status_table table(small_options(2)); // 16 output bytes per record
    const auto ref = must_insert(table, "f", t0);
    table.append_output(ref, "0123456789");
    table.append_output(ref, "abcdef");
    auto snap = table.snapshot(ref, true, t0);
    BOOST_TEST(snap.output == "0123456789abcdef");
    BOOST_TEST(snap.output_size == 16u);
    BOOST_TEST(!snap.output_truncated);

    table.append_output(ref, "overflow");
    table.append_output(ref, std::string(1000, 'z'));
    snap = table.snapshot(ref, true, t0);
    BOOST_TEST(snap.output == "0123456789abcdef");
    BOOST_TEST(snap.output_size == 1024u);
    BOOST_TEST(snap.output_truncated);

    snap = table.snapshot(ref, false, t0);
    BOOST_TEST(snap.output.empty());
    BOOST_TEST(snap.output_size == 1024u);

    table.set_content_type(ref, "application/json");
    BOOST_TEST(table.snapshot(ref, false, t0).content_type == "application/json");

    // A finished record's output is final, and the next record in the slot starts empty.
    complete(table, ref, t0);
    table.append_output(ref, "late");
    BOOST_TEST(table.snapshot(ref, false, t0).output_size == 1024u);
    const auto other = must_insert(table, "f", t0);
    const auto reused = must_insert(table, "f", t0);
    BOOST_TEST(reused.slot == ref.slot);
    (void)other;
    snap = table.snapshot(reused, true, t0);
    BOOST_TEST(snap.output.empty());
    BOOST_TEST(snap.output_size == 0u);
    BOOST_TEST(snap.content_type == "application/octet-stream");
}

BOOST_AUTO_TEST_CASE(stderr_keeps_last_bytes) {
    ring_status_table table(small_options(2)); // 8 stderr bytes per record
    const auto ref = must_insert(table, "f", t0);
    table.append_stderr(ref, "abc");
    BOOST_TEST(table.snapshot(ref, false, t0).logs == "abc");
    table.append_stderr(ref, "defgh");
    BOOST_TEST(table.snapshot(ref, false, t0).logs == "abcdefgh");
    table.append_stderr(ref, "ij");
    BOOST_TEST(table.snapshot(ref, false, t0).logs == "cdefghij");
    table.append_stderr(ref, "0123456789ABCDEFGHIJ");
    BOOST_TEST(table.snapshot(ref, false, t0).logs == "CDEFGHIJ");

    // Against a reference over many chunk sizes, so every wrap position is exercised.
    const auto other = must_insert(table, "g", t0);
    std::string all;
    for (std::size_t i = 0; i < 200; ++i) {
        std::string chunk((i * 7) % 11, static_cast<char>('a' + i % 26));
        table.append_stderr(other, chunk);
        all += chunk;
        const auto expected = all.size() > 8 ? all.substr(all.size() - 8) : all;
        BOOST_REQUIRE_EQUAL(table.snapshot(other, false, t0).logs, expected);
    }
    // The neighbouring record's tail is untouched.
    BOOST_TEST(table.snapshot(ref, false, t0).logs == "CDEFGHIJ");
}

BOOST_AUTO_TEST_CASE(error_message_is_cut_to_the_limit_on_a_character_boundary) {
    ring_status_table table(small_options(1));
    const auto ref = must_insert(table, "f", t0);
    std::string message = "x";
    while (message.size() < 2 * limits::error_message_bytes)
        message += "\xc3\xa9"; // 'é': two bytes, so the cut falls inside one
    table.finish(ref, outcome(ExecutionStatus::failed, message), t0, w0);
    const auto kept = table.snapshot(ref, false, t0).error_message;
    BOOST_TEST(kept.size() <= limits::error_message_bytes);
    BOOST_TEST(kept.size() >= limits::error_message_bytes - 1);
    BOOST_TEST(kept.size() % 2 == 1u); // "x" then whole two-byte characters
    BOOST_TEST(message.compare(0, kept.size(), kept) == 0);
}

BOOST_AUTO_TEST_CASE(evicts_oldest_terminal_first) {
    ring_status_table table(small_options(3));
    const auto a = must_insert(table, "a", t0);
    const auto b = must_insert(table, "b", t0 + 1ms);
    const auto c = must_insert(table, "c", t0 + 2ms);
    // Completion order c, a, b differs from insertion order a, b, c.
    complete(table, c, t0 + 10ms);
    complete(table, a, t0 + 20ms);
    complete(table, b, t0 + 30ms);

    const auto d = must_insert(table, "d", t0 + 40ms);
    BOOST_TEST(d.slot == c.slot);
    BOOST_TEST(!table.holds(c));
    BOOST_TEST(table.holds(a));
    BOOST_TEST(table.holds(b));

    const auto e = must_insert(table, "e", t0 + 50ms);
    BOOST_TEST(e.slot == a.slot);
    BOOST_TEST(table.holds(b));

    // d and e are live; b is the only terminal record left, whatever its age.
    const auto f = must_insert(table, "f", t0 + 60ms);
    BOOST_TEST(f.slot == b.slot);
    BOOST_TEST(table.evictions() == 3u);
    auto refused = table.insert({"g", {}, ExecutionMode::sync, {}}, t0 + 70ms, w0);
    BOOST_TEST(std::holds_alternative<error>(refused));
}

BOOST_AUTO_TEST_CASE(client_execution_id_lookup_and_eviction) {
    ring_status_table table(small_options(2));
    const auto a = must_insert(table, "f", t0, "order-42");
    auto found = table.find_client_id("order-42", "f", t0);
    BOOST_TEST((found.status == lookup_status::found));
    BOOST_TEST((found.ref == a));
    found = table.find("order-42", t0); // find falls back to client ids
    BOOST_TEST((found.status == lookup_status::found));
    BOOST_TEST((found.ref == a));
    BOOST_TEST(table.snapshot(a, false, t0).client_execution_id == "order-42");
    BOOST_TEST((table.find_client_id("order-43", "f", t0).status == lookup_status::not_found));
    BOOST_TEST((table.find_client_id("", "f", t0).status == lookup_status::not_found));

    // A client id that happens to look like one of ours, from another boot.
    const auto lookalike = format_execution_id({test_boot + 7, 1, 0});
    const auto b = must_insert(table, "f", t0, lookalike);
    found = table.find(lookalike, t0);
    BOOST_TEST((found.status == lookup_status::found));
    BOOST_TEST((found.ref == b));

    complete(table, a, t0);
    complete(table, b, t0 + 1ms);
    must_insert(table, "f", t0 + 2ms); // evicts a
    BOOST_TEST((table.find_client_id("order-42", "f", t0).status == lookup_status::evicted));
    BOOST_TEST((table.find("order-42", t0).status == lookup_status::evicted));
    BOOST_TEST((table.find_client_id("order-42", "g", t0).status == lookup_status::not_found));
    BOOST_TEST((table.find_client_id(lookalike, "f", t0).status == lookup_status::found));

    // The same client id twice: the newest record answers; dropping the older one keeps it.
    ring_status_table dup(small_options(3));
    const auto first = must_insert(dup, "f", t0, "same");
    complete(dup, first, t0);
    const auto second = must_insert(dup, "f", t0, "same");
    BOOST_TEST((dup.find_client_id("same", "f", t0).ref == second));
    must_insert(dup, "f", t0);
    must_insert(dup, "f", t0); // evicts first
    BOOST_TEST(!dup.holds(first));
    found = dup.find_client_id("same", "f", t0);
    BOOST_TEST((found.status == lookup_status::found));
    BOOST_TEST((found.ref == second));
}

BOOST_AUTO_TEST_CASE(client_ids_are_scoped_to_their_function) {
    ring_status_table table(small_options(4));
    const auto a = must_insert(table, "f", t0, "key");
    BOOST_TEST((table.find_client_id("key", "g", t0).status == lookup_status::not_found));
    BOOST_TEST((table.find("key", t0).ref == a)); // one function carries it: unambiguous
    const auto b = must_insert(table, "g", t0, "key");
    BOOST_TEST((table.find_client_id("key", "f", t0).ref == a));
    BOOST_TEST((table.find_client_id("key", "g", t0).ref == b));
    BOOST_TEST((table.find("key", t0).status == lookup_status::ambiguous));
}

BOOST_AUTO_TEST_CASE(request_hash_is_kept_with_the_record) {
    ring_status_table table(small_options(2));
    auto inserted = table.insert({"f", "key", ExecutionMode::async, {}, 0xfeedu}, t0, w0);
    const auto ref = std::get<record_ref>(inserted);
    BOOST_TEST(table.request_hash(ref) == 0xfeedu);
}

BOOST_AUTO_TEST_CASE(dropped_client_ids_are_remembered_for_a_ring_of_slots) {
    ring_status_table table(small_options(1));
    const auto a = must_insert(table, "f", t0, "k1");
    complete(table, a, t0);
    const auto b = must_insert(table, "f", t0 + 1ms, "k2"); // drops k1
    BOOST_TEST((table.find_client_id("k1", "f", t0).status == lookup_status::evicted));
    complete(table, b, t0 + 1ms);
    must_insert(table, "f", t0 + 2ms); // drops k2; the one-entry ring forgets k1
    BOOST_TEST((table.find_client_id("k1", "f", t0).status == lookup_status::not_found));
    BOOST_TEST((table.find_client_id("k2", "f", t0).status == lookup_status::evicted));
}

BOOST_AUTO_TEST_CASE(discard_frees_the_slot_as_if_never_issued) {
    ring_status_table table(small_options(1));
    const auto a = must_insert(table, "f", t0, "key");
    const auto id = table.execution_id(a);
    table.discard(a);
    BOOST_TEST(!table.holds(a));
    BOOST_TEST(table.size() == 0u);
    BOOST_TEST(table.evictions() == 0u);
    BOOST_TEST((table.find_client_id("key", "f", t0).status == lookup_status::not_found));
    const auto b = must_insert(table, "f", t0); // the slot is free again, nothing was evicted
    BOOST_TEST(b.slot == a.slot);
    BOOST_TEST(table.evictions() == 0u);
    BOOST_TEST((table.find(id, t0).status == lookup_status::evicted)); // its seq is in the past
}

BOOST_AUTO_TEST_CASE(list_filters_by_function_and_status) {
    ring_status_table table(small_options(8));
    std::vector<record_ref> refs;
    for (int i = 0; i < 6; ++i)
        refs.push_back(
            must_insert(table, i % 2 == 0 ? "even" : "odd", t0 + std::chrono::milliseconds(i)));
    table.append_output(refs[0], "payload");
    complete(table, refs[0], t0 + 10ms);
    complete(table, refs[2], t0 + 10ms);
    table.mark_running(refs[4], t0 + 10ms, w0);

    auto page = table.list({}, t0 + 20ms);
    BOOST_TEST(page.executions.size() == 6u);
    BOOST_TEST(!page.has_more);
    BOOST_TEST(page.next_start_after.empty());
    BOOST_TEST(page.executions.front().seq == refs[5].seq); // newest first
    BOOST_TEST(page.executions.back().seq == refs[0].seq);
    BOOST_TEST(page.executions.back().output.empty()); // output omitted, size kept
    BOOST_TEST(page.executions.back().output_size == 7u);

    list_query q;
    q.function_name = "even";
    page = table.list(q, t0 + 20ms);
    BOOST_TEST(page.executions.size() == 3u);
    for (const auto& r : page.executions)
        BOOST_TEST(r.function_name == "even");

    q.status = ExecutionStatus::completed;
    page = table.list(q, t0 + 20ms);
    BOOST_REQUIRE(page.executions.size() == 2u);
    BOOST_TEST(page.executions[0].seq == refs[2].seq);
    BOOST_TEST(page.executions[1].seq == refs[0].seq);

    q.function_name = "odd";
    BOOST_TEST(table.list(q, t0 + 20ms).executions.empty());
    q.function_name.reset();
    q.status = ExecutionStatus::running;
    page = table.list(q, t0 + 20ms);
    BOOST_REQUIRE(page.executions.size() == 1u);
    BOOST_TEST(page.executions[0].seq == refs[4].seq);

    // Limit is clamped to at least one; has_more and the cursor point at the last item.
    list_query small;
    small.limit = 0;
    page = table.list(small, t0 + 20ms);
    BOOST_REQUIRE(page.executions.size() == 1u);
    BOOST_TEST(page.has_more);
    BOOST_TEST(page.next_start_after == table.execution_id(refs[5]));
    small.limit = 2;
    small.start_after_seq = refs[5].seq;
    page = table.list(small, t0 + 20ms);
    BOOST_REQUIRE(page.executions.size() == 2u);
    BOOST_TEST(page.executions[0].seq == refs[4].seq);
    BOOST_TEST(page.executions[1].seq == refs[3].seq);
    BOOST_TEST(page.next_start_after == table.execution_id(refs[3]));
    small.limit = 100000;
    page = table.list(small, t0 + 20ms);
    BOOST_TEST(page.executions.size() == 5u);
    BOOST_TEST(!page.has_more);
}

BOOST_AUTO_TEST_CASE(pagination_stays_correct_during_wraparound) {
    ring_status_table table(small_options(16));
    auto now = t0;
    std::vector<record_ref> live; // running records: never evicted, so always held
    for (int i = 0; i < 16; ++i) {
        now += 1ms;
        const auto ref = must_insert(table, "f", now);
        if (i % 5 == 0) {
            table.mark_running(ref, now, w0);
            live.push_back(ref);
        } else {
            complete(table, ref, now);
        }
    }
    // Everything held when paging starts.
    std::map<std::uint64_t, record_ref> held_at_start;
    list_query everything;
    everything.limit = 1000;
    for (const auto& r : table.list(everything, now).executions) {
        const auto found = table.find(r.execution_id, now);
        held_at_start.emplace(r.seq, found.ref);
    }
    BOOST_TEST(held_at_start.size() == 16u);

    list_query q;
    q.limit = 3;
    std::vector<std::uint64_t> seen;
    std::uint64_t head = 0;
    for (int page_no = 0; page_no < 100; ++page_no) {
        const auto page = table.list(q, now);
        if (page_no == 0) {
            BOOST_REQUIRE(!page.executions.empty());
            head = page.executions.front().seq;
        }
        for (const auto& r : page.executions) {
            BOOST_TEST((seen.empty() || r.seq < seen.back())); // strictly decreasing, no repeats
            seen.push_back(r.seq);
        }
        if (!page.has_more)
            break;
        const auto cursor = parse_execution_id(page.next_start_after);
        BOOST_REQUIRE(cursor.has_value());
        q.start_after_seq = cursor->seq;
        // Between pages the ring moves on: new records evict the oldest terminal ones.
        for (int k = 0; k < 2; ++k) {
            now += 1ms;
            const auto ref = must_insert(table, "f", now);
            complete(table, ref, now);
        }
        // And one running record ends, becoming evictable later.
        if (!live.empty() && page_no % 2 == 0) {
            table.finish(live.back(), outcome(ExecutionStatus::failed), now, w0);
            live.pop_back();
        }
    }
    BOOST_TEST(std::set<std::uint64_t>(seen.begin(), seen.end()).size() == seen.size());
    for (const auto seq : seen)
        BOOST_TEST(seq <= head); // nothing newer than the first page's head appears later
    std::size_t must_see = 0;
    for (const auto& [seq, ref] : held_at_start) {
        if (seq >= head || !table.holds(ref))
            continue; // newer than the head, or dropped along the way
        ++must_see;
        BOOST_TEST(std::count(seen.begin(), seen.end(), seq) == 1);
    }
    BOOST_TEST(must_see > 0u);
    BOOST_TEST(table.evictions() > 0u);
}

BOOST_AUTO_TEST_CASE(counters_track_transitions) {
    ring_status_table table(small_options(3));
    const auto zero = std::array<std::size_t, status_count>{};
    BOOST_TEST((table.counts() == zero));
    const auto a = must_insert(table, "f", t0);
    const auto b = must_insert(table, "f", t0);
    BOOST_TEST(count_of(table, ExecutionStatus::pending) == 2u);
    table.mark_running(a, t0, w0);
    BOOST_TEST(count_of(table, ExecutionStatus::pending) == 1u);
    BOOST_TEST(count_of(table, ExecutionStatus::running) == 1u);
    table.mark_running(a, t0, w0); // not pending any more: ignored
    BOOST_TEST(count_of(table, ExecutionStatus::running) == 1u);
    table.finish(a, outcome(ExecutionStatus::timeout), t0 + 1s, w0);
    BOOST_TEST(count_of(table, ExecutionStatus::running) == 0u);
    BOOST_TEST(count_of(table, ExecutionStatus::timeout) == 1u);
    table.finish(a, outcome(ExecutionStatus::completed), t0 + 2s, w0); // ends once: ignored
    BOOST_TEST(count_of(table, ExecutionStatus::completed) == 0u);
    BOOST_TEST((table.status(a) == ExecutionStatus::timeout));
    table.mark_running(a, t0 + 3s, w0); // a terminal record never restarts
    BOOST_TEST((table.status(a) == ExecutionStatus::timeout));

    table.finish(b, outcome(ExecutionStatus::cancelled), t0 + 1s, w0);
    BOOST_TEST(count_of(table, ExecutionStatus::pending) == 0u);
    BOOST_TEST(count_of(table, ExecutionStatus::cancelled) == 1u);
    const auto c = must_insert(table, "f", t0 + 2s);
    table.mark_running(c, t0 + 2s, w0);
    must_insert(table, "f", t0 + 2s); // evicts a (timeout)
    BOOST_TEST(count_of(table, ExecutionStatus::timeout) == 0u);
    BOOST_TEST(count_of(table, ExecutionStatus::pending) == 1u);

    std::size_t total = 0;
    for (auto n : table.counts())
        total += n;
    BOOST_TEST(total == table.size());
}

BOOST_AUTO_TEST_CASE(snapshot_reports_times_so_far) {
    ring_status_table table(small_options(2));
    const auto ref = must_insert(table, "f", t0);
    auto snap = table.snapshot(ref, false, t0 + 250ms);
    BOOST_TEST(snap.queue_ms == 250);
    BOOST_TEST(snap.execution_time_ms == 0);
    BOOST_TEST(!snap.started_at.has_value());
    BOOST_TEST(!snap.completed_at.has_value());

    table.mark_running(ref, t0 + 400ms, w0 + 400ms);
    BOOST_TEST((table.started_steady(ref) == t0 + 400ms));
    BOOST_TEST((table.queued_steady(ref) == t0));
    snap = table.snapshot(ref, false, t0 + 1000ms);
    BOOST_TEST(snap.queue_ms == 400);
    BOOST_TEST(snap.execution_time_ms == 600);
    BOOST_REQUIRE(snap.started_at.has_value());
    BOOST_TEST((*snap.started_at == w0 + 400ms));

    auto end = outcome(ExecutionStatus::failed, "exit status 3");
    end.exit_code = 3;
    end.signal = 9;
    table.finish(ref, end, t0 + 1500ms, w0 + 1500ms);
    snap = table.snapshot(ref, false, t0 + 5000ms); // times are final once terminal
    BOOST_TEST(snap.queue_ms == 400);
    BOOST_TEST(snap.execution_time_ms == 1100);
    BOOST_REQUIRE(snap.completed_at.has_value());
    BOOST_TEST((*snap.completed_at == w0 + 1500ms));
    BOOST_TEST((snap.status == ExecutionStatus::failed));
    BOOST_TEST((snap.error == error_code::function_failed));
    BOOST_TEST(snap.error_message == "exit status 3");
    BOOST_TEST(snap.exit_code.value() == 3);
    BOOST_TEST(snap.signal.value() == 9);

    // Ended while pending: it never ran, so its whole life was queue time.
    const auto never = must_insert(table, "f", t0);
    table.finish(never, outcome(ExecutionStatus::cancelled), t0 + 700ms, w0 + 700ms);
    snap = table.snapshot(never, false, t0 + 9s);
    BOOST_TEST(snap.queue_ms == 700);
    BOOST_TEST(snap.execution_time_ms == 0);
    BOOST_TEST(!snap.started_at.has_value());
    BOOST_TEST(snap.completed_at.has_value());
}

BOOST_AUTO_TEST_CASE(stale_refs_are_ignored_by_mutators_and_refused_by_readers) {
    ring_status_table table(small_options(1));
    const auto old = must_insert(table, "f", t0);
    complete(table, old, t0);
    const auto fresh = must_insert(table, "g", t0);
    BOOST_TEST(!table.holds(old));
    table.append_output(old, "stray");
    table.append_stderr(old, "stray");
    table.mark_running(old, t0, w0);
    table.finish(old, outcome(ExecutionStatus::completed), t0, w0);
    const auto snap = table.snapshot(fresh, true, t0);
    BOOST_TEST(snap.output.empty());
    BOOST_TEST(snap.logs.empty());
    BOOST_TEST((snap.status == ExecutionStatus::pending));
    BOOST_CHECK_THROW(table.snapshot(old, false, t0), std::out_of_range);
    BOOST_CHECK_THROW(table.status(old), std::out_of_range);
    BOOST_TEST(table.execution_id(old) == format_execution_id({test_boot, old.seq, old.slot}));
}

BOOST_AUTO_TEST_CASE(finish_with_a_live_status_still_ends_the_record) {
    ring_status_table table(small_options(1));
    const auto ref = must_insert(table, "f", t0);
    table.mark_running(ref, t0, w0);
    table.finish(ref, outcome(ExecutionStatus::running), t0 + 1s, w0); // a caller bug
    BOOST_TEST((table.status(ref) == ExecutionStatus::failed));
    BOOST_TEST(count_of(table, ExecutionStatus::running) == 0u);
    BOOST_TEST(count_of(table, ExecutionStatus::failed) == 1u);
    must_insert(table, "g", t0 + 2s); // the slot is evictable, not lost
    BOOST_TEST(!table.holds(ref));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(ring_status_table_clients)

BOOST_AUTO_TEST_CASE(records_keep_client_and_priority_and_list_filters_by_client) {
    ring_status_table table(small_options(4));
    const auto a = must_insert(table, "f", t0);
    const auto b = must_insert(table, "f", t0);
    table.set_client(a, "plc", 7);
    table.set_client(b, "ops", 0);
    BOOST_TEST(table.client(a) == "plc");
    const auto snap = table.snapshot(a, false, t0);
    BOOST_TEST(snap.client == "plc");
    BOOST_TEST(snap.priority == 7);
    list_query q;
    q.client = "ops";
    const auto page = table.list(q, t0);
    BOOST_TEST_REQUIRE(page.executions.size() == 1u);
    BOOST_TEST(page.executions[0].execution_id == table.execution_id(b));
    // A reused slot starts with no client.
    complete(table, a, t0);
    complete(table, b, t0);
    ring_status_table one(small_options(1));
    const auto c = must_insert(one, "f", t0);
    one.set_client(c, "plc", 3);
    complete(one, c, t0);
    const auto d = must_insert(one, "f", t0);
    BOOST_TEST(one.client(d).empty());
    BOOST_TEST(one.snapshot(d, false, t0).priority == 0);
}

BOOST_AUTO_TEST_SUITE_END()
