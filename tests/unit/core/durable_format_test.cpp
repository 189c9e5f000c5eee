// Tests of the durable results format: record round trip, torn and corrupt slots, the header
// (wrong magic, version, checksum), history slots, and the table's export/restore across boots.
#include "core/durable_format.hpp"
#include "core/limits.hpp"
#include "core/ring_status_table.hpp"
#include "core/runtime_history.hpp"

#include <boost/test/unit_test.hpp>

#include <ostream>
#include <random>
#include <string>
#include <vector>

using namespace spear::core;
namespace durable = spear::core::durable;
using namespace std::chrono_literals;

namespace {

durable::record sample_record() {
    durable::record r;
    r.boot = 0xdeadbeef;
    r.seq = 42;
    r.status = ExecutionStatus::completed;
    r.mode = ExecutionMode::async;
    r.ran = true;
    r.function_name = "uppercase";
    r.client_execution_id = "device-7.job_1";
    r.request_hash = 0x0123456789abcdefULL;
    r.content_type = "text/plain";
    r.error = error_code::interrupted;
    r.error_message = "restarted \xc3\xa9";
    r.exit_code = -3;
    r.signal = 9;
    r.queued_wall_ms = 1'800'000'000'000;
    r.started_wall_ms = 1'800'000'000'010;
    r.completed_wall_ms = 1'800'000'000'250;
    r.queue_ms = 10;
    r.execution_time_ms = 240;
    r.estimate_ms = 300;
    r.output = std::string("HELLO\0WORLD", 11);
    r.output_size = 99;
    r.stderr_tail = "warning: x\n";
    r.input = "hello";
    r.timeout_ms = 5000;
    r.environment = {{"LANG", "C"}, {"MODE", "fast"}};
    return r;
}

constexpr std::size_t slot_size = 1024;

} // namespace

namespace spear::core::durable {
std::ostream& operator<<(std::ostream& os, slot_state s) {
    return os << (s == slot_state::empty ? "empty" : s == slot_state::valid ? "valid" : "corrupt");
}
} // namespace spear::core::durable

BOOST_AUTO_TEST_SUITE(durable_format)

BOOST_AUTO_TEST_CASE(crc32_matches_the_standard_check_value) {
    const std::string check = "123456789";
    BOOST_TEST(durable::crc32(check) == 0xCBF43926u);
}

BOOST_AUTO_TEST_CASE(record_round_trips_through_a_slot) {
    std::vector<char> slot(slot_size, '\x55');
    const auto r = sample_record();
    BOOST_REQUIRE(durable::encode_slot(r, 7, slot));
    durable::record back;
    std::uint64_t gen = 0;
    BOOST_TEST(durable::decode_slot(slot, back, &gen) == durable::slot_state::valid);
    BOOST_TEST(gen == 7u);
    BOOST_TEST((back == r));

    // Optional fields left empty survive as empty.
    durable::record minimal;
    minimal.seq = 1;
    BOOST_REQUIRE(durable::encode_slot(minimal, 8, slot));
    BOOST_TEST(durable::decode_slot(slot, back) == durable::slot_state::valid);
    BOOST_TEST((back == minimal));
    BOOST_TEST(!back.exit_code.has_value());
    BOOST_TEST(!back.timeout_ms.has_value());
}

BOOST_AUTO_TEST_CASE(zeroed_and_cleared_slots_are_empty) {
    std::vector<char> slot(slot_size, '\0');
    durable::record out;
    BOOST_TEST(durable::decode_slot(slot, out) == durable::slot_state::empty);
    BOOST_REQUIRE(durable::encode_slot(sample_record(), 1, slot));
    durable::clear_slot(slot);
    BOOST_TEST(durable::decode_slot(slot, out) == durable::slot_state::empty);
}

BOOST_AUTO_TEST_CASE(a_record_too_large_for_the_slot_is_refused_and_the_slot_untouched) {
    std::vector<char> slot(64, '\0');
    BOOST_TEST(!durable::encode_slot(sample_record(), 1, slot));
    durable::record out;
    BOOST_TEST(durable::decode_slot(slot, out) == durable::slot_state::empty);
}

BOOST_AUTO_TEST_CASE(a_torn_write_is_detected_by_the_checksum) {
    // The previous record, then a new one whose write stopped part way: every prefix of the
    // new bytes over the old ones must read as corrupt (or, when nothing changed, the old).
    const auto old_record = sample_record();
    auto new_record = sample_record();
    new_record.seq = 43;
    new_record.output = std::string(300, 'x');
    new_record.output_size = 300;
    std::vector<char> before(slot_size, '\0');
    BOOST_REQUIRE(durable::encode_slot(old_record, 1, before));
    std::vector<char> after = before;
    BOOST_REQUIRE(durable::encode_slot(new_record, 2, after));
    for (std::size_t cut = 0; cut < slot_size; cut += 7) {
        // Bytes [0, cut) of the new write landed; the rest still hold the old record.
        std::vector<char> torn = before;
        std::copy(after.begin(), after.begin() + static_cast<std::ptrdiff_t>(cut), torn.begin());
        durable::record out;
        const auto state = durable::decode_slot(torn, out);
        if (state == durable::slot_state::valid)
            BOOST_TEST((out == old_record || out == new_record), "cut at " << cut);
        else
            BOOST_TEST((state == durable::slot_state::corrupt), "cut at " << cut);
    }
}

BOOST_AUTO_TEST_CASE(any_flipped_byte_reads_corrupt_never_a_different_record) {
    std::mt19937 rng(1234);
    const auto r = sample_record();
    std::vector<char> clean(slot_size, '\0');
    BOOST_REQUIRE(durable::encode_slot(r, 3, clean));
    const auto used = durable::slot_prefix_bytes + durable::encoded_size(r);
    for (int trial = 0; trial < 2000; ++trial) {
        auto slot = clean;
        const auto at = std::uniform_int_distribution<std::size_t>(0, used - 1)(rng);
        slot[at] = static_cast<char>(slot[at] ^ (1 + static_cast<int>(rng() % 255)));
        durable::record out;
        const auto state = durable::decode_slot(slot, out);
        BOOST_TEST((state == durable::slot_state::corrupt), "byte " << at);
    }
}

BOOST_AUTO_TEST_CASE(a_length_past_the_slot_is_corrupt_not_an_overread) {
    std::vector<char> slot(slot_size, '\0');
    BOOST_REQUIRE(durable::encode_slot(sample_record(), 1, slot));
    slot[4] = '\xff';
    slot[5] = '\xff';
    slot[6] = '\xff';
    slot[7] = '\x7f';
    durable::record out;
    BOOST_TEST((durable::decode_slot(slot, out) == durable::slot_state::corrupt));
}

BOOST_AUTO_TEST_CASE(header_round_trips_and_keeps_the_newest_boots) {
    std::vector<char> file(durable::header_bytes, '\0');
    durable::file_header h;
    h.slot_count = 1024;
    h.slot_bytes = 70'000;
    h.boot_counter = 5;
    for (std::uint32_t i = 0; i < durable::max_boots + 3; ++i)
        h.boots.push_back({0x1000 + i, 100 * i + 1});
    durable::encode_header(h, file);
    durable::write_seq_hint(file, 12345);
    auto decoded = durable::decode_header(file, durable::results_magic);
    BOOST_REQUIRE(std::holds_alternative<durable::file_header>(decoded));
    const auto& back = std::get<durable::file_header>(decoded);
    BOOST_TEST(back.slot_count == 1024u);
    BOOST_TEST(back.slot_bytes == 70'000u);
    BOOST_TEST(back.boot_counter == 5u);
    BOOST_REQUIRE(back.boots.size() == durable::max_boots);
    BOOST_TEST((back.boots.front() == durable::boot_entry{0x1003, 301}));
    BOOST_TEST((back.boots.back() == h.boots.back()));
    BOOST_TEST(durable::read_seq_hint(file) == 12345u);
}

BOOST_AUTO_TEST_CASE(header_of_another_version_magic_or_damaged_is_refused_with_a_reason) {
    std::vector<char> file(durable::header_bytes, '\0');
    durable::file_header h;
    h.slot_count = 8;
    h.slot_bytes = 1024;
    durable::encode_header(h, file);

    auto wrong_magic = durable::decode_header(file, durable::history_magic);
    BOOST_REQUIRE(std::holds_alternative<std::string>(wrong_magic));
    BOOST_TEST(std::get<std::string>(wrong_magic).find("magic") != std::string::npos);

    auto other_version = file;
    other_version[4] = 9; // version 9
    auto v = durable::decode_header(other_version, durable::results_magic);
    BOOST_REQUIRE(std::holds_alternative<std::string>(v));
    BOOST_TEST(std::get<std::string>(v).find("version 9") != std::string::npos);

    auto damaged = file;
    damaged[9] ^= 1; // slot count changed behind the checksum's back
    auto d = durable::decode_header(damaged, durable::results_magic);
    BOOST_REQUIRE(std::holds_alternative<std::string>(d));
    BOOST_TEST(std::get<std::string>(d).find("checksum") != std::string::npos);

    auto short_file = std::vector<char>(100, '\0');
    BOOST_TEST(std::holds_alternative<std::string>(durable::decode_header(short_file,
                                                                          durable::results_magic)));
}

BOOST_AUTO_TEST_CASE(slot_size_holds_the_largest_record_a_config_allows) {
    const std::size_t out = 4096, err = 512, in = 2048;
    const auto bytes = durable::results_slot_bytes(out, err, in);
    BOOST_TEST(bytes % 64 == 0u);
    durable::record r = sample_record();
    r.function_name.assign(limits::function_name_bytes, 'f');
    r.client_execution_id.assign(limits::client_execution_id_bytes, 'c');
    r.content_type.assign(durable::content_type_bytes_max + 50, 't'); // cut when persisted
    r.error_message.assign(limits::error_message_bytes, 'e');
    r.output.assign(out, 'o');
    r.stderr_tail.assign(err, 's');
    r.environment.clear();
    std::size_t env_bytes = 0;
    for (std::size_t i = 0; i < limits::request_env_entries; ++i) {
        r.environment.emplace_back("K" + std::to_string(i), "v");
        env_bytes += r.environment.back().first.size() + 1;
    }
    r.input.assign(in - env_bytes, 'i');
    std::vector<char> slot(bytes, '\0');
    BOOST_TEST(durable::encode_slot(r, 1, slot));
    durable::record back;
    BOOST_REQUIRE(durable::decode_slot(slot, back) == durable::slot_state::valid);
    BOOST_TEST(back.content_type.size() == durable::content_type_bytes_max);
}

BOOST_AUTO_TEST_CASE(history_slot_round_trips_and_detects_corruption) {
    durable::history_state h{"slow", 77, {10, 20, 30}, {1, 2}};
    std::vector<char> slot(durable::history_slot_bytes(4), '\0');
    BOOST_REQUIRE(durable::encode_history_slot(h, slot));
    durable::history_state back;
    BOOST_TEST((durable::decode_history_slot(slot, back) == durable::slot_state::valid));
    BOOST_TEST((back == h));
    slot[durable::slot_prefix_bytes + 6] ^= 0x20;
    BOOST_TEST((durable::decode_history_slot(slot, back) == durable::slot_state::corrupt));
}

BOOST_AUTO_TEST_CASE(runtime_history_state_restores_the_same_estimates) {
    runtime_history a(4, 0, 1000);
    for (auto d : {100, 200, 300, 400, 500, 600})
        a.record_run(d);
    a.record_queue_wait(7);
    std::vector<std::int64_t> durations, waits;
    std::uint64_t runs = 0;
    a.export_state(durations, waits, runs);
    BOOST_TEST((durations == std::vector<std::int64_t>{300, 400, 500, 600}));
    BOOST_TEST(runs == 6u);
    runtime_history b(4, 0, 1000);
    b.restore_state(durations, waits, runs);
    BOOST_TEST(b.typical_ms() == a.typical_ms());
    BOOST_TEST(b.p95_ms() == a.p95_ms());
    BOOST_TEST(b.typical_queue_ms() == 7);
    BOOST_TEST((b.source() == estimate_source::history));
    // A smaller window keeps the newest samples.
    runtime_history c(2, 0, 1000);
    c.restore_state(durations, waits, runs);
    BOOST_TEST(c.samples() == 2u);
    BOOST_TEST(c.typical_ms() == 500);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(ring_status_table_durable)

namespace {
const steady_time t0 = steady_time{} + std::chrono::hours(1000);
const wall_time w0 = wall_time{} + std::chrono::seconds(1'800'000'000);

ring_status_table_options opts(std::uint32_t boot, std::uint64_t first_seq,
                               std::vector<durable::boot_entry> earlier) {
    ring_status_table_options o;
    o.slots = 4;
    o.max_output_bytes = 16;
    o.stderr_tail_bytes = 8;
    o.ttl = 0s;
    o.boot = boot;
    o.first_seq = first_seq;
    o.earlier_boots = std::move(earlier);
    return o;
}
} // namespace

BOOST_AUTO_TEST_CASE(records_exported_by_one_boot_resolve_in_the_next_and_dropped_ones_are_410) {
    ring_status_table first(opts(0xaaaa0001, 1, {}));
    std::vector<std::pair<std::uint32_t, durable::record>> saved;
    std::vector<std::string> ids;
    for (int i = 0; i < 6; ++i) { // 6 inserts into 4 slots: the first two are evicted
        auto ref = std::get<record_ref>(first.insert({"f", i == 5 ? "key-5" : "", ExecutionMode::async, t0, 99}, t0, w0));
        first.append_output(ref, "out" + std::to_string(i));
        first.append_stderr(ref, "e");
        if (i != 5) {
            first.mark_running(ref, t0 + 1ms, w0 + 1ms);
            first.finish(ref, {ExecutionStatus::completed, error_code::none, "", 0, std::nullopt},
                         t0 + 5ms, w0 + 5ms);
        }
        ids.push_back(first.execution_id(ref));
    }
    for (std::uint32_t slot = 0; slot < 4; ++slot)
        for (const auto& id : ids) {
            auto found = first.find(id, t0 + 10ms);
            if (found.status == lookup_status::found && found.ref.slot == slot)
                saved.emplace_back(slot, first.export_record(found.ref, t0 + 10ms));
        }
    BOOST_REQUIRE(saved.size() == 4u);

    // The next boot: seqs continue after the first boot's.
    ring_status_table second(opts(0xbbbb0002, first.next_seq(), {{0xaaaa0001, 1}}));
    BOOST_TEST(second.restore(saved, t0 + 1h, w0 + 1h) == 0u);
    BOOST_TEST(second.size() == 4u);
    for (int i = 0; i < 6; ++i) {
        auto found = second.find(ids[static_cast<std::size_t>(i)], t0 + 1h);
        if (i < 2) {
            BOOST_TEST((found.status == lookup_status::evicted), "id " << i);
            continue;
        }
        BOOST_REQUIRE((found.status == lookup_status::found));
        BOOST_TEST(second.execution_id(found.ref) == ids[static_cast<std::size_t>(i)]);
        auto snap = second.snapshot(found.ref, true, t0 + 1h);
        BOOST_TEST(snap.output == "out" + std::to_string(i));
        BOOST_TEST(snap.logs == "e");
        if (i < 5) {
            BOOST_TEST((snap.status == ExecutionStatus::completed));
            BOOST_TEST(snap.execution_time_ms == 4);
        } else {
            BOOST_TEST((snap.status == ExecutionStatus::pending));
        }
    }
    // The client key survives, bound to its request hash.
    auto by_key = second.find_client_id("key-5", "f", t0 + 1h);
    BOOST_REQUIRE((by_key.status == lookup_status::found));
    BOOST_TEST(second.request_hash(by_key.ref) == 99u);
    // Never issued: another boot's nonce, or a seq of this boot not issued yet.
    BOOST_TEST((second.find("0000000100000000010000000", t0 + 1h).status == lookup_status::not_found));
    BOOST_TEST((second.find("cccc0003" "0000000001" "000000", t0 + 1h).status == lookup_status::not_found));
    BOOST_TEST((second.find("aaaa0001" "0000000001" "000003", t0 + 1h).status == lookup_status::evicted));
    // Past the earlier boot's last seq: that boot never issued it.
    BOOST_TEST((second.find("aaaa0001" "00000000ff" "000000", t0 + 1h).status == lookup_status::not_found));
    BOOST_TEST((second.find("bbbb0002" "00000000ff" "000000", t0 + 1h).status == lookup_status::not_found));

    // New records take the free order as before: the oldest terminal first.
    auto fresh = std::get<record_ref>(second.insert({"f", "", ExecutionMode::sync, t0, 0}, t0 + 1h, w0 + 1h));
    BOOST_TEST(fresh.seq == first.next_seq());
    BOOST_TEST(second.execution_id(fresh).substr(0, 8) == "bbbb0002");
    BOOST_TEST((second.find(ids[2], t0 + 1h).status == lookup_status::evicted));
}

BOOST_AUTO_TEST_CASE(restore_expires_records_past_their_ttl_and_skips_duplicates) {
    auto o = opts(2, 100, {{1, 1}});
    o.ttl = 60s;
    ring_status_table table(o);
    durable::record old_one;
    old_one.boot = 1;
    old_one.seq = 5;
    old_one.status = ExecutionStatus::completed;
    old_one.function_name = "f";
    old_one.completed_wall_ms = std::chrono::duration_cast<millis>(w0.time_since_epoch()).count();
    auto recent = old_one;
    recent.seq = 6;
    recent.completed_wall_ms += 3'590'000; // 10 s before "now"
    auto dup = recent;
    auto future = recent;
    future.seq = 100; // at or past first_seq: not from an earlier boot
    const auto skipped = table.restore({{0, old_one}, {1, recent}, {2, dup}, {3, future}}, t0,
                                       w0 + 3600s);
    BOOST_TEST(skipped == 2u);
    BOOST_TEST(table.size() == 1u); // old_one expired by its TTL
    BOOST_TEST((table.find("00000001" "0000000005" "000000", t0).status == lookup_status::evicted));
    BOOST_TEST((table.find("00000001" "0000000006" "000001", t0).status == lookup_status::found));
}

BOOST_AUTO_TEST_SUITE_END()
