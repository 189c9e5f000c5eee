// Tests of the durable results store on real files: read back, a write cut short in the slot
// or in the journal, corrupt slots counted, geometry refused, one store per data dir.
#include "service/durable_store.hpp"

#include "support/temp_dir.hpp"

#include <boost/test/unit_test.hpp>

#include <fstream>
#include <stdexcept>

using namespace spear;
namespace durable = spear::core::durable;

namespace {

core::config small_config(const std::filesystem::path& dir) {
    core::config cfg;
    cfg.node.data_dir = dir.string();
    cfg.node.durability = core::durability_level::none;
    cfg.status_table.slots = 4;
    cfg.status_table.max_output_bytes = 256;
    cfg.status_table.stderr_tail_bytes = 64;
    cfg.status_table.max_input_bytes = 128;
    return cfg;
}

durable::record make_record(std::uint64_t seq, std::string output) {
    durable::record r;
    r.boot = 7;
    r.seq = seq;
    r.status = core::ExecutionStatus::completed;
    r.function_name = "f";
    r.output_size = output.size();
    r.output = std::move(output);
    return r;
}

/// Overwrites `n` bytes at `offset` of `path` with 0x5a, as a crash would leave a torn write.
void smash(const std::filesystem::path& path, std::uint64_t offset, std::size_t n) {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(offset));
    const std::string junk(n, '\x5a');
    f.write(junk.data(), static_cast<std::streamsize>(n));
}

std::uint64_t slot_offset(const core::config& cfg, std::size_t index) {
    const auto& t = cfg.status_table;
    return durable::header_bytes +
           index * durable::results_slot_bytes(t.max_output_bytes, t.stderr_tail_bytes,
                                               t.max_input_bytes);
}

} // namespace

BOOST_AUTO_TEST_SUITE(durable_store_suite)

BOOST_AUTO_TEST_CASE(records_and_boots_come_back_on_the_next_open) {
    test::temp_dir dir;
    const auto cfg = small_config(dir.path() / "data");
    {
        service::durable_store store(cfg, 0x1111);
        BOOST_TEST(store.recovered().first_seq == 1u);
        store.save(2, make_record(1, "one"));
        store.save(3, make_record(2, "two"));
        store.note_next_seq(5);
    }
    service::durable_store store(cfg, 0x2222);
    const auto& got = store.recovered();
    BOOST_REQUIRE(got.records.size() == 2u);
    BOOST_TEST(got.records[0].first == 2u);
    BOOST_TEST(got.records[0].second.output == "one");
    BOOST_TEST(got.records[1].second.output == "two");
    BOOST_TEST(got.first_seq == 5u); // the hint: seq 3 and 4 were issued, then dropped
    BOOST_REQUIRE(got.earlier_boots.size() == 1u);
    BOOST_TEST(got.earlier_boots[0].nonce == 0x1111u);
    BOOST_TEST(got.dropped == 0u);
}

BOOST_AUTO_TEST_CASE(a_slot_write_cut_short_is_finished_from_the_journal) {
    test::temp_dir dir;
    const auto cfg = small_config(dir.path() / "data");
    {
        service::durable_store store(cfg, 1);
        store.save(1, make_record(1, "first version"));
        store.save(1, make_record(1, "second version"));
    }
    // The crash landed while slot 1 was being written: its bytes are half new, half junk.
    smash(dir.path() / "data" / "results.bin", slot_offset(cfg, 1) + 40, 30);
    service::durable_store store(cfg, 2);
    const auto& got = store.recovered();
    BOOST_REQUIRE(got.records.size() == 1u);
    BOOST_TEST(got.records[0].second.output == "second version");
    BOOST_TEST(got.dropped == 0u);
}

BOOST_AUTO_TEST_CASE(a_journal_write_cut_short_leaves_the_previous_version) {
    test::temp_dir dir;
    const auto cfg = small_config(dir.path() / "data");
    {
        service::durable_store store(cfg, 1);
        store.save(0, make_record(1, "kept"));
    }
    // The crash landed while the journal held the next write of slot 0, before the slot.
    smash(dir.path() / "data" / "results.bin", slot_offset(cfg, 4) + 20, 8);
    service::durable_store store(cfg, 2);
    const auto& got = store.recovered();
    BOOST_REQUIRE(got.records.size() == 1u);
    BOOST_TEST(got.records[0].second.output == "kept");
    BOOST_TEST(got.dropped == 0u);
}

BOOST_AUTO_TEST_CASE(corrupt_slots_are_dropped_counted_once_and_the_rest_kept) {
    test::temp_dir dir;
    const auto cfg = small_config(dir.path() / "data");
    {
        service::durable_store store(cfg, 1);
        store.save(0, make_record(1, "a"));
        store.save(1, make_record(2, "b"));
        store.save(2, make_record(3, "c")); // also in the journal
    }
    smash(dir.path() / "data" / "results.bin", slot_offset(cfg, 0) + 30, 1);
    {
        service::durable_store store(cfg, 2);
        BOOST_TEST(store.dropped_at_start() == 1u);
        BOOST_TEST(store.recovered().records.size() == 2u);
    }
    service::durable_store again(cfg, 3); // the dropped slot was cleared: not counted twice
    BOOST_TEST(again.dropped_at_start() == 0u);
    BOOST_TEST(again.recovered().records.size() == 2u);
}

BOOST_AUTO_TEST_CASE(another_geometry_and_a_second_store_are_refused_with_the_reason) {
    test::temp_dir dir;
    auto cfg = small_config(dir.path() / "data");
    {
        service::durable_store store(cfg, 1);
        try {
            service::durable_store second(cfg, 2);
            BOOST_FAIL("a second store on the same dir opened");
        } catch (const std::runtime_error& e) {
            BOOST_TEST(std::string(e.what()).find("in use by another spearlet") !=
                       std::string::npos);
        }
    }
    cfg.status_table.slots = 8;
    try {
        service::durable_store store(cfg, 3);
        BOOST_FAIL("a file of another geometry opened");
    } catch (const std::runtime_error& e) {
        BOOST_TEST(std::string(e.what()).find("4 slots") != std::string::npos);
        BOOST_TEST(std::string(e.what()).find("8 slots") != std::string::npos);
    }
}

BOOST_AUTO_TEST_CASE(history_follows_function_names_across_config_changes) {
    test::temp_dir dir;
    auto cfg = small_config(dir.path() / "data");
    cfg.functions.resize(2);
    cfg.functions[0].name = "a";
    cfg.functions[1].name = "b";
    {
        service::durable_store store(cfg, 1);
        store.save_history(1, {"b", 3, {10, 20, 30}, {1}});
    }
    // "b" moved to index 0 and the window shrank to 2.
    cfg.functions.erase(cfg.functions.begin());
    cfg.history.window = 2;
    service::durable_store store(cfg, 2);
    const auto& h = store.recovered().histories;
    BOOST_REQUIRE(h.size() == 1u);
    BOOST_TEST(h[0].function_name == "b");
    BOOST_TEST((h[0].durations == std::vector<std::int64_t>{20, 30}));
    BOOST_TEST(h[0].runs == 3u);
}

BOOST_AUTO_TEST_SUITE_END()
