// Tests of the worst-case memory estimate and the fixed-allocation check (defect 10.7).
#include "core/memory_estimate.hpp"

#include "core/config.hpp"

#include <boost/test/unit_test.hpp>

using namespace spear::core;

namespace {
constexpr std::uint64_t kib = 1024;
constexpr std::uint64_t mib = 1024 * kib;
} // namespace

BOOST_AUTO_TEST_SUITE(memory_estimate_suite)

BOOST_AUTO_TEST_CASE(each_part_follows_its_formula) {
    config cfg;
    cfg.status_table.slots = 100;
    cfg.status_table.max_output_bytes = 1000;
    cfg.status_table.stderr_tail_bytes = 24;
    cfg.limits.queued_input_bytes = 5 * mib;
    cfg.limits.global_concurrency = 3;
    cfg.http.max_body_bytes = 1000;
    cfg.stream.max_message_bytes = 2000;
    cfg.http.max_header_bytes = 96;
    cfg.http.max_connections = 10;
    cfg.stream.viewer_queue_messages = 4;
    cfg.stream.replay_chunks = 2;
    cfg.frame.tcp_enabled = false;
    cfg.frame.serial = {{"/dev/ttyUSB0", 115200}, {"/dev/ttyUSB1", 115200}};
    cfg.frame.max_outstanding = 6;
    cfg.frame.max_frame_bytes = 512;

    const auto m = estimate_memory(cfg);
    BOOST_TEST(m.status_table == 100u * 1024u);
    BOOST_TEST(m.fixed() == m.status_table);
    BOOST_TEST(m.queued_input == 5 * mib);
    BOOST_TEST(m.running_input == 3u * 2000u);
    BOOST_TEST(m.http_connections == 10u * (96u + 2000u + 4096u));
    BOOST_TEST(m.viewer_queues == 10u * 4u * limits::stream_chunk_bytes);
    BOOST_TEST(m.replay == 3u * 2u * limits::stream_chunk_bytes);
    BOOST_TEST(m.frame_links == 2u * (6u + 4u) * 2u * 512u);
    BOOST_TEST(m.worst_case() == m.status_table + m.queued_input + m.running_input +
                                     m.http_connections + m.viewer_queues + m.replay +
                                     m.frame_links);

    cfg.http.enabled = false; // no connections, no viewers
    cfg.frame.tcp_enabled = true;
    const auto n = estimate_memory(cfg);
    BOOST_TEST(n.http_connections == 0u);
    BOOST_TEST(n.viewer_queues == 0u);
    BOOST_TEST(n.frame_links == (limits::frame_tcp_links + 2u) * (6u + 4u) * 2u * 512u);
}

BOOST_AUTO_TEST_CASE(the_largest_config_does_not_overflow) {
    config cfg;
    cfg.status_table.slots = limits::status_slots_max;
    cfg.status_table.max_output_bytes = limits::output_bytes_max;
    cfg.status_table.stderr_tail_bytes = limits::output_bytes_max;
    cfg.http.max_connections = limits::http_connections_max;
    cfg.http.max_body_bytes = limits::http_body_bytes_max;
    cfg.stream.viewer_queue_messages = limits::viewer_queue_messages_max;
    const auto m = estimate_memory(cfg);
    BOOST_TEST(m.status_table == std::uint64_t{limits::status_slots_max} * 2 * 16 * mib);
    BOOST_TEST(m.worst_case() > m.status_table);
    BOOST_TEST(m.worst_case() < std::uint64_t{1} << 50);
}

BOOST_AUTO_TEST_CASE(a_status_table_beyond_the_machine_is_refused_naming_the_fields) {
    config cfg;
    cfg.status_table.slots = 1'048'576;
    cfg.status_table.max_output_bytes = 16 * mib;
    cfg.status_table.stderr_tail_bytes = 4 * kib;
    const auto refused = check_fixed_memory(cfg, 8192 * mib);
    BOOST_REQUIRE(refused.has_value());
    BOOST_TEST(refused->path == "status_table");
    const auto text = refused->to_string();
    BOOST_TEST(text.find("status_table: slots x (max_output_bytes + stderr_tail_bytes) = "
                         "1048576 x (16777216 + 4096) = 16388 GiB") == 0u,
               text);
    BOOST_TEST(text.find("exceeds this machine's memory (8192 MiB)") != std::string::npos);
    BOOST_TEST(text.find("lower status_table.slots or status_table.max_output_bytes") !=
               std::string::npos);

    // The default table (1024 x 68 KiB = 68 MiB) fits, and so does exactly the memory there is.
    const config defaults;
    BOOST_TEST(!check_fixed_memory(defaults, 8192 * mib).has_value());
    BOOST_TEST(!check_fixed_memory(defaults, estimate_memory(defaults).fixed()).has_value());
    BOOST_TEST(check_fixed_memory(defaults, estimate_memory(defaults).fixed() - 1).has_value());
}

BOOST_AUTO_TEST_CASE(bytes_are_formatted_rounded_up) {
    BOOST_TEST(format_bytes(0) == "0 KiB");
    BOOST_TEST(format_bytes(1) == "1 KiB");
    BOOST_TEST(format_bytes(1024 * kib - 1) == "1024 KiB");
    BOOST_TEST(format_bytes(mib) == "1 MiB");
    BOOST_TEST(format_bytes(212 * mib) == "212 MiB");
    BOOST_TEST(format_bytes(212 * mib + 1) == "213 MiB");
    BOOST_TEST(format_bytes(10 * 1024 * mib) == "10 GiB");
}

BOOST_AUTO_TEST_CASE(durable_files_are_counted_only_with_a_data_dir) {
    config cfg;
    BOOST_TEST(estimate_memory(cfg).durable_files == 0u);
    cfg.node.data_dir = "/var/lib/spearlet";
    cfg.status_table.slots = 10;
    const auto m = estimate_memory(cfg);
    // header + 11 slots (one is the journal) of at least output + stderr + input bytes.
    const auto per_slot = cfg.status_table.max_output_bytes + cfg.status_table.stderr_tail_bytes +
                          cfg.status_table.max_input_bytes;
    BOOST_TEST(m.durable_files > 4096u + 11u * per_slot);
    BOOST_TEST(m.durable_files < 4096u + 11u * (per_slot + 4096u) + 64u * kib);
    auto in_memory = cfg;
    in_memory.node.data_dir.clear();
    BOOST_TEST(m.worst_case() == estimate_memory(in_memory).worst_case()); // disk, not memory
}

BOOST_AUTO_TEST_SUITE_END()
