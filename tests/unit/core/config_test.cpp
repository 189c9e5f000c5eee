// Tests of config parsing: defaults, JSON syntax errors, field paths and reasons, every rule of
// the common fields, and the hand-over of runtime-specific fields to the runtime layer (here a
// recording stand-in; the real kinds are tested in tests/unit/runtime/registry_test.cpp).
#include "core/config.hpp"
#include "core/limits.hpp"

#include "support/config_errors.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

using namespace spear::core;

namespace {

using spear::test::has_error;
using spear::test::reason_at;
using spear::test::with_function;

/// Stands in for runtime::registry: accepts every runtime field and records what it was given.
struct recording_runtimes final : function_fields_parser {
    struct call {
        std::string path;
        std::string name;
        std::vector<std::string> keys;
    };
    mutable std::vector<call> calls;
    void parse(function_config& f, const std::string& path,
               std::vector<config_error>&) const override {
        call c{path, f.name, {}};
        for (const auto& field : f.runtime_fields)
            c.keys.emplace_back(field.key());
        calls.push_back(std::move(c));
        f.runtime = "recorded";
    }
};

config_result parse_config(std::string_view text) {
    static const recording_runtimes runtimes;
    return spear::core::parse_config(text, runtimes);
}

std::string describe(const config_result& r) {
    std::string all;
    for (const auto& e : r.errors)
        all += e.to_string() + "\n";
    return all;
}

config must_parse(std::string_view text) {
    auto r = parse_config(text);
    BOOST_TEST_INFO("errors:\n" << describe(r));
    BOOST_REQUIRE(r.value.has_value());
    BOOST_REQUIRE(r.errors.empty());
    return *r.value;
}

std::vector<config_error> must_fail(std::string_view text) {
    auto r = parse_config(text);
    BOOST_REQUIRE(!r.value.has_value());
    BOOST_REQUIRE(!r.errors.empty());
    return r.errors;
}

std::string process_function(const std::string& extra = {}) {
    return with_function(R"("command": ["cat"])" + (extra.empty() ? "" : ", " + extra));
}

} // namespace

BOOST_AUTO_TEST_SUITE(config_parsing)

BOOST_AUTO_TEST_CASE(embedded_default_config_is_valid) {
    const auto cfg = must_parse(embedded_default_config());
    BOOST_TEST(cfg.http.enabled);
    BOOST_TEST(cfg.http.address == "127.0.0.1");
    BOOST_TEST(cfg.http.port == 8080);
    BOOST_TEST(cfg.http.auth_token.empty());
    // Frames on TCP too, on loopback (so no token is needed): all three ingress paths.
    BOOST_TEST(cfg.frame.tcp_enabled);
    BOOST_TEST(cfg.frame.tcp_address == "127.0.0.1");
    BOOST_TEST(cfg.frame.tcp_port == 7070);
    for (const char* name : {"echo", "uppercase", "wordcount", "slow", "fail", "ticker"}) {
        BOOST_TEST_INFO(name);
        const auto index = cfg.find_function(name);
        BOOST_REQUIRE(index.has_value());
        const auto& f = cfg.functions[*index];
        BOOST_TEST(f.runtime_fields.contains("command")); // typed in registry_test.cpp
        BOOST_TEST(!f.description.empty());
    }
    const auto& echo = cfg.functions[*cfg.find_function("echo")];
    BOOST_TEST(echo.content_type == "text/plain");
    const auto& slow = cfg.functions[*cfg.find_function("slow")];
    BOOST_TEST(slow.expected_ms == 1000u);
    BOOST_TEST(slow.timeout_ms == 65000u);
}

BOOST_AUTO_TEST_CASE(example_config_is_valid) {
    // CTest names the source tree; else __FILE__ (absolute in a build without ccache).
    std::string root = __FILE__;
    root = root.substr(0, root.rfind("tests/unit/core/"));
    if (const char* dir = std::getenv("SPEAR_SOURCE_DIR"))
        root = std::string(dir) + "/";
    std::ifstream in(root + "config/example.jsonc");
    BOOST_REQUIRE_MESSAGE(in.good(), "cannot open " << root << "config/example.jsonc");
    std::stringstream text;
    text << in.rdbuf();
    const auto cfg = must_parse(text.str());
    BOOST_TEST(cfg.functions.size() == 3u);
    BOOST_TEST(cfg.http.address == "0.0.0.0");
    BOOST_TEST(!cfg.http.auth_token.empty());
    BOOST_TEST(cfg.frame.serial.size() == 1u);
    // Typed runtime fields of the example: registry_test.cpp.
    BOOST_TEST(cfg.functions[1].runtime_fields.at("runtime").as_string() == "wasm");
    BOOST_TEST(cfg.functions[2].runtime_fields.at("runtime").as_string() == "container");
}

BOOST_AUTO_TEST_CASE(minimal_config_uses_defaults) {
    const auto cfg = must_parse("{}");
    const config defaults;
    BOOST_TEST(cfg.node.id == "spear-edge");
    BOOST_TEST(cfg.http.enabled);
    BOOST_TEST(cfg.http.address == "127.0.0.1");
    BOOST_TEST(cfg.http.port == 8080);
    BOOST_TEST(cfg.http.max_body_bytes == limits::http_body_bytes);
    BOOST_TEST(cfg.http.max_connections == limits::http_connections);
    BOOST_TEST(cfg.stream.replay_chunks == limits::replay_chunks);
    BOOST_TEST(cfg.frame.max_frame_bytes == limits::frame_bytes);
    BOOST_TEST(cfg.frame.max_long_poll_ms == 30'000u); // today's values, now frame's own
    BOOST_TEST(cfg.frame.write_timeout_ms == 30'000u);
    BOOST_TEST(cfg.status_table.slots == limits::status_slots);
    BOOST_TEST(cfg.status_table.max_output_bytes == limits::output_bytes);
    BOOST_TEST(cfg.history.window == limits::history_window);
    BOOST_TEST(cfg.limits.global_concurrency == limits::global_concurrency);
    BOOST_TEST(cfg.limits.default_timeout_ms == limits::execution_timeout_ms);
    BOOST_TEST(cfg.limits.max_timeout_ms == limits::execution_timeout_ms_max);
    BOOST_TEST(cfg.functions.empty());

    // A function with only the required fields takes the per-function defaults.
    const auto one = must_parse(process_function());
    BOOST_REQUIRE(one.functions.size() == 1u);
    const auto& f = one.functions[0];
    BOOST_TEST(f.name == "f");
    BOOST_TEST(f.content_type == "application/octet-stream");
    BOOST_TEST(f.timeout_ms == 0u);
    BOOST_TEST(f.max_concurrency == limits::function_concurrency);
    BOOST_TEST(f.queue_depth == limits::queue_depth);
    BOOST_TEST(f.expected_ms == 0u);
}

BOOST_AUTO_TEST_CASE(fields_are_read_into_the_struct) {
    const auto cfg = must_parse(R"({
        "node": {"id": "gw", "data_dir": "/tmp/x"},
        "http": {"port": 0, "max_body_bytes": 1000, "max_long_poll_ms": 0, "address": "::1"},
        "stream": {"replay_chunks": 0, "write_timeout_ms": 5},
        "frame": {"tcp": {"enabled": true, "port": 7071}, "serial": [{"device": "/dev/ttyS0"}],
                  "max_long_poll_ms": 0, "write_timeout_ms": 7},
        "status_table": {"ttl_s": 0, "stderr_tail_bytes": 0},
        "limits": {"max_timeout_ms": 5000, "default_timeout_ms": 4000, "kill_grace_ms": 0},
        "functions": [{"name": "f", "command": ["a", "b"], "env": {"X": "1"}, "stdout": "pty",
                       "queue_depth": 0, "rlimits": {"cpu_seconds": 3}}]
    })");
    BOOST_TEST(cfg.node.id == "gw");
    BOOST_TEST(cfg.node.data_dir == "/tmp/x");
    BOOST_TEST(cfg.http.port == 0);
    BOOST_TEST(cfg.http.max_body_bytes == 1000u);
    BOOST_TEST(cfg.http.max_long_poll_ms == 0u);
    BOOST_TEST(cfg.http.address == "::1");
    BOOST_TEST(cfg.stream.replay_chunks == 0u);
    BOOST_TEST(cfg.stream.write_timeout_ms == 5u);
    BOOST_TEST(cfg.frame.tcp_enabled);
    BOOST_TEST(cfg.frame.tcp_port == 7071);
    BOOST_REQUIRE(cfg.frame.serial.size() == 1u);
    BOOST_TEST(cfg.frame.serial[0].device == "/dev/ttyS0");
    BOOST_TEST(cfg.frame.serial[0].baud == 115200u);
    BOOST_TEST(cfg.frame.max_long_poll_ms == 0u); // its own field, not http's or stream's
    BOOST_TEST(cfg.frame.write_timeout_ms == 7u);
    BOOST_TEST(cfg.status_table.ttl_s == 0u);
    BOOST_TEST(cfg.limits.max_timeout_ms == 5000u);
    BOOST_TEST(cfg.limits.default_timeout_ms == 4000u);
    BOOST_TEST(cfg.limits.kill_grace_ms == 0u);
    const auto& f = cfg.functions.at(0);
    BOOST_TEST(f.env.at("X") == "1");
    BOOST_TEST(f.queue_depth == 0u);
    // The runtime's fields are handed on as written (typed: registry_test.cpp).
    BOOST_TEST(f.runtime_fields.size() == 3u);
    BOOST_TEST(f.runtime_fields.at("stdout").as_string() == "pty");
    BOOST_TEST(f.runtime_fields.at("rlimits").as_object().at("cpu_seconds").as_int64() == 3);
    BOOST_TEST(f.runtime == "recorded");
}

BOOST_AUTO_TEST_CASE(cluster_section_is_optional_and_read_with_defaults) {
    BOOST_TEST(!must_parse("{}").cluster.has_value()); // a single appliance: no NATS
    const auto cfg = must_parse(R"({"cluster": {"node_id": "gw-a",
        "nats": ["nats://127.0.0.1:4222", "tls://10.0.0.6:4222"], "token": "s3cret",
        "replicas": 3}})");
    BOOST_REQUIRE(cfg.cluster.has_value());
    BOOST_TEST(cfg.cluster->node_id == "gw-a");
    BOOST_TEST(cfg.cluster->servers.size() == 2u);
    BOOST_TEST(cfg.cluster->token == "s3cret");
    BOOST_TEST(cfg.cluster->replicas == 3u);
    BOOST_TEST(cfg.cluster->work_stream == "SPEAR_WORK");
    BOOST_TEST(cfg.cluster->records_bucket == "spear_records");
    BOOST_TEST(cfg.cluster->ack_wait_ms == spear::core::limits::cluster_ack_wait_ms);
    BOOST_TEST(must_parse(process_function(R"("share": true)")).functions[0].share);
}

BOOST_AUTO_TEST_CASE(cluster_section_errors_name_the_field) {
    auto errors = must_fail(R"({"cluster": {}})");
    BOOST_TEST(has_error(errors, "cluster.node_id", "required"));
    BOOST_TEST(has_error(errors, "cluster.nats", "required"));
    errors = must_fail(R"({"cluster": {"node_id": "GW A", "nats": ["http://x"],
        "token": "t", "user": "u", "ack_wait_ms": 5, "records_bucket": "a.b"}})");
    BOOST_TEST(has_error(errors, "cluster.node_id", "[a-z0-9_-]"));
    BOOST_TEST(has_error(errors, "cluster.nats[0]", "NATS server URL"));
    BOOST_TEST(has_error(errors, "cluster.token", "at most one"));
    BOOST_TEST(has_error(errors, "cluster.password", "go together"));
    BOOST_TEST(has_error(errors, "cluster.ack_wait_ms"));
    BOOST_TEST(has_error(errors, "cluster.records_bucket"));
    BOOST_TEST(!has_error(errors, "cluster.nats", "1..8")); // one bad URL, not a count error
    errors = must_fail(R"({"cluster": {"node_id": "a", "nats": []}})");
    BOOST_TEST(has_error(errors, "cluster.nats", "1..8"));
}

BOOST_AUTO_TEST_CASE(comments_and_trailing_commas_accepted) {
    const auto cfg = must_parse(R"(// leading comment
        {
            /* block comment */
            "http": {"port": 9000,}, // trailing comma in an object
            "functions": [
                {"name": "a", "command": ["cat",],},
            ],
        })");
    BOOST_TEST(cfg.http.port == 9000);
    BOOST_TEST(cfg.functions.size() == 1u);
}

BOOST_AUTO_TEST_CASE(syntax_error_reports_position) {
    const auto errors = must_fail("{\n  \"http\": {\"port\": 80\n  \"x\": 1}\n}");
    BOOST_REQUIRE(errors.size() == 1u);
    BOOST_TEST(errors[0].path == "");
    BOOST_TEST(errors[0].reason.find("line 3, column 3") != std::string::npos, errors[0].reason);

    const auto truncated = must_fail("{\"http\": {");
    BOOST_REQUIRE(truncated.size() == 1u);
    BOOST_TEST(truncated[0].reason.find("line 1, column 11") != std::string::npos,
               truncated[0].reason);

    const auto empty = must_fail("");
    BOOST_TEST(empty[0].reason.find("line 1, column 1") != std::string::npos);

    const auto not_object = must_fail("[1, 2]");
    BOOST_TEST(not_object[0].path == "");
    BOOST_TEST(not_object[0].reason.find("object") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(unknown_field_names_path) {
    const auto errors = must_fail(R"({"http": {"prot": 80}, "bogus": 1,
        "frame": {"tcp": {"adress": "x"}, "serial": [{"device": "/d", "bad": 1}]},
        "functions": [{"name": "f", "command": ["c"], "rlimits": {"cpu": 1}, "nme": 2}]})");
    BOOST_TEST(reason_at(errors, "http.prot") == "unknown field");
    BOOST_TEST(reason_at(errors, "bogus") == "unknown field");
    BOOST_TEST(reason_at(errors, "frame.tcp.adress") == "unknown field");
    BOOST_TEST(reason_at(errors, "frame.serial[0].bad") == "unknown field");
    // A function's other fields are the runtime's to judge (registry_test.cpp reports
    // functions[0].rlimits.cpu and functions[0].nme for this same document).
    BOOST_TEST(errors.size() == 4u, describe({std::nullopt, errors}));
}

BOOST_AUTO_TEST_CASE(runtime_fields_are_handed_to_the_runtime_layer) {
    recording_runtimes runtimes;
    const auto r = spear::core::parse_config(
        R"({"functions": [{"name": "a", "command": ["c"], "nme": 2, "timeout_ms": 5},
                          {"name": "b", "runtime": "x", "description": "d"}]})",
        runtimes);
    BOOST_REQUIRE(r.value.has_value());
    BOOST_REQUIRE(runtimes.calls.size() == 2u);
    BOOST_TEST(runtimes.calls[0].path == "functions[0]");
    BOOST_TEST(runtimes.calls[0].name == "a");
    BOOST_TEST((runtimes.calls[0].keys == std::vector<std::string>{"command", "nme"}));
    BOOST_TEST(runtimes.calls[1].path == "functions[1]");
    BOOST_TEST((runtimes.calls[1].keys == std::vector<std::string>{"runtime"}));
    BOOST_TEST(r.value->functions[0].timeout_ms == 5u);
    BOOST_TEST(r.value->functions[1].runtime == "recorded");
}

BOOST_AUTO_TEST_CASE(wrong_type_names_path_and_reason) {
    const auto errors =
        must_fail(R"({"http": {"port": "80", "enabled": "yes", "max_body_bytes": 1.5},
                                      "node": {"id": 7}, "status_table": [],
        "functions": [{"name": "f", "command": "cat", "env": {"FOO": 1}}]})");
    BOOST_TEST(reason_at(errors, "http.port") == "must be an integer in 0..65535");
    BOOST_TEST(reason_at(errors, "http.enabled") == "must be true or false");
    BOOST_TEST(reason_at(errors, "http.max_body_bytes").starts_with("must be an integer in 1.."));
    BOOST_TEST(!reason_at(errors, "node.id").empty());
    BOOST_TEST(reason_at(errors, "status_table") == "must be an object");
    // functions[0].command ("must be an array of strings"): registry_test.cpp.
    BOOST_TEST(reason_at(errors, "functions[0].env.FOO").find("string") != std::string::npos);

    const auto negative = must_fail(R"({"http": {"port": -1}})");
    BOOST_TEST(reason_at(negative, "http.port") == "must be an integer in 0..65535");
}

BOOST_AUTO_TEST_CASE(out_of_range_limit_names_path) {
    const auto errors = must_fail(R"({"http": {"port": 65536, "max_body_bytes": 67108865,
                                               "max_connections": 0},
                                      "status_table": {"slots": 0},
                                      "history": {"window": 1025},
                                      "limits": {"global_concurrency": 4097}})");
    BOOST_TEST(reason_at(errors, "http.port") == "must be an integer in 0..65535");
    BOOST_TEST(reason_at(errors, "http.max_body_bytes").find("1..67108864") != std::string::npos);
    BOOST_TEST(reason_at(errors, "http.max_connections").starts_with("must be > 0"));
    BOOST_TEST(reason_at(errors, "status_table.slots").starts_with("must be > 0"));
    BOOST_TEST(reason_at(errors, "history.window").find("1..1024") != std::string::npos);
    BOOST_TEST(reason_at(errors, "limits.global_concurrency").find("1..4096") != std::string::npos);
    BOOST_TEST(errors.size() == 6u, describe({std::nullopt, errors}));

    // Ceilings themselves are accepted.
    const auto at_max =
        must_parse(R"({"http": {"max_body_bytes": 67108864}, "history": {"window": 1024}})");
    BOOST_TEST(at_max.http.max_body_bytes == limits::http_body_bytes_max);
}

BOOST_AUTO_TEST_CASE(timeouts_are_capped_by_max_timeout) {
    const auto errors =
        must_fail(R"({"limits": {"max_timeout_ms": 1000, "default_timeout_ms": 2000},
        "functions": [{"name": "f", "command": ["c"], "timeout_ms": 1001},
                      {"name": "g", "command": ["c"], "timeout_ms": 0}]})");
    BOOST_TEST(reason_at(errors, "limits.default_timeout_ms").find("1..1000") != std::string::npos);
    BOOST_TEST(reason_at(errors, "functions[0].timeout_ms").find("1..1000") != std::string::npos);
    BOOST_TEST(reason_at(errors, "functions[1].timeout_ms").starts_with("must be > 0"));
    BOOST_TEST(errors.size() == 3u, describe({std::nullopt, errors}));

    const auto over = must_fail(R"({"limits": {"max_timeout_ms": 3600001}})");
    BOOST_TEST(reason_at(over, "limits.max_timeout_ms").find("1..3600000") != std::string::npos);

    // expected_ms 0 means "not configured" and is fine.
    must_parse(process_function(R"("expected_ms": 0)"));
}

BOOST_AUTO_TEST_CASE(durations_have_ceilings) {
    // 4294967295 fits the uint32 fields but would overflow every sum and deadline built from
    // it (the sync wait bound multiplies kill_grace_ms by the queue depth): refused, with the
    // field path and the allowed range. A number beyond 64 bits is refused the same way.
    const auto errors = must_fail(R"({
        "limits": {"kill_grace_ms": 4294967295},
        "http": {"header_timeout_ms": 4294967295, "idle_timeout_ms": 4294967295,
                 "shutdown_grace_ms": 99999999999999999999},
        "stream": {"write_timeout_ms": 4294967295},
        "frame": {"idle_timeout_ms": 4294967295, "max_long_poll_ms": 4294967295,
                  "write_timeout_ms": 4294967295},
        "status_table": {"ttl_s": 4294967295}})");
    BOOST_TEST(reason_at(errors, "limits.kill_grace_ms") ==
               "must be an integer in 0..60000 (0 sends SIGKILL at once)");
    BOOST_TEST(reason_at(errors, "http.header_timeout_ms") == "must be an integer in 1..300000");
    BOOST_TEST(reason_at(errors, "http.idle_timeout_ms") == "must be an integer in 1..3600000");
    BOOST_TEST(reason_at(errors, "http.shutdown_grace_ms") == "must be an integer in 0..300000");
    BOOST_TEST(reason_at(errors, "stream.write_timeout_ms") == "must be an integer in 1..300000");
    BOOST_TEST(reason_at(errors, "frame.idle_timeout_ms") ==
               "must be an integer in 0..86400000 (0 = never)");
    BOOST_TEST(reason_at(errors, "status_table.ttl_s") ==
               "must be an integer in 0..2592000 (0 keeps terminal records until evicted)");
    BOOST_TEST(reason_at(errors, "frame.max_long_poll_ms") ==
               "must be an integer in 0..300000 (0 disables long-polls)");
    BOOST_TEST(reason_at(errors, "frame.write_timeout_ms") == "must be an integer in 1..300000");
    BOOST_TEST(errors.size() == 9u, describe({std::nullopt, errors}));

    // The ceilings themselves are accepted, and every sum the service builds from them fits.
    const auto at_max = must_parse(R"({
        "limits": {"kill_grace_ms": 60000},
        "http": {"header_timeout_ms": 300000, "idle_timeout_ms": 3600000,
                 "shutdown_grace_ms": 300000},
        "stream": {"write_timeout_ms": 300000},
        "frame": {"idle_timeout_ms": 86400000, "max_long_poll_ms": 300000,
                  "write_timeout_ms": 300000},
        "status_table": {"ttl_s": 2592000}})");
    BOOST_TEST(at_max.frame.max_long_poll_ms == limits::frame_long_poll_ms_max);
    BOOST_TEST(at_max.frame.write_timeout_ms == limits::frame_write_timeout_ms_max);
    BOOST_TEST(at_max.limits.kill_grace_ms == limits::kill_grace_ms_max);
    BOOST_TEST(at_max.http.shutdown_grace_ms == limits::shutdown_grace_ms_max);
    BOOST_TEST(at_max.status_table.ttl_s == limits::record_ttl_s_max);
    // The sync wait bound: (timeout + kill grace) x (queue depth + 2), in nanoseconds.
    const auto worst_ms =
        (std::uint64_t{limits::execution_timeout_ms_max} + limits::kill_grace_ms_max) *
        (limits::queue_depth_max + 2);
    BOOST_TEST(worst_ms < std::uint64_t{INT64_MAX} / 1'000'000);
}

BOOST_AUTO_TEST_CASE(collects_every_error) {
    const auto errors = must_fail(R"({
        "http": {"port": "x", "prot": 1},
        "limits": {"global_concurrency": 0},
        "functions": [
            {"name": "ok", "command": ["c"]},
            {"name": "bad name", "command": []},
            {"name": "w", "runtime": "wasm"},
            {"name": "c", "runtime": "container", "stdout": "file"}
        ]
    })");
    BOOST_TEST(has_error(errors, "http.port"));
    BOOST_TEST(has_error(errors, "http.prot", "unknown field"));
    BOOST_TEST(has_error(errors, "limits.global_concurrency"));
    BOOST_TEST(has_error(errors, "functions[1].name"));
    // The runtime errors of this document (command, module, image, stdout): registry_test.cpp.
    BOOST_TEST(errors.size() == 4u, describe({std::nullopt, errors}));
}

BOOST_AUTO_TEST_CASE(duplicate_function_name) {
    const auto errors = must_fail(R"({"functions": [{"name": "a", "command": ["c"]},
                                                     {"name": "b", "command": ["c"]},
                                                     {"name": "a", "command": ["c"]}]})");
    BOOST_REQUIRE(errors.size() == 1u);
    BOOST_TEST(errors[0].path == "functions[2].name");
    BOOST_TEST(errors[0].reason.find("duplicate") != std::string::npos);
    BOOST_TEST(errors[0].reason.find("functions[0]") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(bad_function_name) {
    for (const char* bad :
         {R"("")", R"("has space")", R"("slash/name")", R"("é")", "42",
          R"("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")"}) {
        BOOST_TEST_INFO(bad);
        const auto errors = must_fail(R"({"functions": [{"name": )" + std::string(bad) +
                                      R"(, "command": ["c"]}]})");
        BOOST_TEST(reason_at(errors, "functions[0].name") == "must match [A-Za-z0-9_.-]{1,64}");
    }
    const auto missing = must_fail(R"({"functions": [{"command": ["c"]}]})");
    BOOST_TEST(reason_at(missing, "functions[0].name") == "required");
    // 64 characters and every allowed character class are fine.
    must_parse(R"({"functions": [{"name": "A-z_0.9", "command": ["c"]},
                   {"name": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                    "command": ["c"]}]})");
}

// process_function_requires_command, runtime_specific_fields_are_checked: registry_test.cpp.

BOOST_AUTO_TEST_CASE(env_names_and_values_are_checked) {
    const auto errors =
        must_fail(process_function(R"("env": {"A=B": "1", "OK": "2", "NUL": "a\u0000b"},
                                                       "allow_request_env": ["X", ""])"));
    BOOST_TEST(has_error(errors, "functions[0].env.A=B", "name"));
    BOOST_TEST(has_error(errors, "functions[0].env.NUL", "NUL"));
    BOOST_TEST(has_error(errors, "functions[0].allow_request_env[1]"));
    BOOST_TEST(errors.size() == 3u, describe({std::nullopt, errors}));
    BOOST_TEST(has_error(must_fail(process_function(R"("content_type": "text/plain\r\nX: y")")),
                         "functions[0].content_type"));
}

BOOST_AUTO_TEST_CASE(serial_ports_are_checked) {
    const auto errors = must_fail(R"({"frame": {"serial": [{"device": "/dev/a", "baud": 12345},
                                                            {"baud": 9600},
                                                            {"device": "/dev/a"}, 5]}})");
    BOOST_TEST(has_error(errors, "frame.serial[0].baud", "standard rate"));
    BOOST_TEST(has_error(errors, "frame.serial[1].device", "required"));
    BOOST_TEST(has_error(errors, "frame.serial[2].device", "duplicate"));
    BOOST_TEST(has_error(errors, "frame.serial[3]", "object"));
    BOOST_TEST(errors.size() == 4u, describe({std::nullopt, errors}));
}

BOOST_AUTO_TEST_CASE(http_allowed_hosts_and_origins) {
    const auto defaults = must_parse("{}");
    BOOST_TEST(defaults.http.allowed_hosts.empty());
    BOOST_TEST(defaults.http.allowed_origins.empty());

    const auto cfg = must_parse(R"({"http": {
        "allowed_hosts": ["gateway.local", "gateway.local:8080", "[fe80::1]:80", "10.0.0.7", "*"],
        "allowed_origins": ["http://gateway.local:8080", "HTTPS://Dash.Example", "*"]}})");
    BOOST_TEST(cfg.http.allowed_hosts.size() == 5u);
    BOOST_TEST(cfg.http.allowed_hosts[1] == "gateway.local:8080");
    BOOST_TEST(cfg.http.allowed_origins.size() == 3u);

    const auto errors = must_fail(R"({"http": {
        "allowed_hosts": ["ok.local", "http://x", "a b", "x:0", "x:65536", "[::1", "", 3],
        "allowed_origins": ["http://ok.local", "http://x/", "ftp://x", "x.local", "null",
                            "http://x:99999", "http://"],
        }})");
    for (int i = 1; i <= 7; ++i)
        BOOST_TEST(has_error(errors, "http.allowed_hosts[" + std::to_string(i) + "]", "Host header"), i);
    for (int i = 1; i <= 6; ++i)
        BOOST_TEST(has_error(errors, "http.allowed_origins[" + std::to_string(i) + "]", "origin"), i);
    BOOST_TEST(errors.size() == 13u, describe({std::nullopt, errors}));
    BOOST_TEST(has_error(must_fail(R"({"http": {"allowed_hosts": "x"}})"), "http.allowed_hosts",
                         "array"));
}

BOOST_AUTO_TEST_CASE(non_loopback_without_token_refused) {
    const auto errors = must_fail(R"({"http": {"address": "0.0.0.0"}})");
    BOOST_REQUIRE(errors.size() == 1u);
    BOOST_TEST(errors[0].path == "http.address");
    BOOST_TEST(errors[0].reason.find("auth_token") != std::string::npos);
    BOOST_TEST(errors[0].reason.find("allow_unauthenticated") != std::string::npos);

    for (const char* address : {"192.168.1.10", "::", "fe80::1%eth0", "10.0.0.1"})
        BOOST_TEST(has_error(must_fail(R"({"http": {"address": ")" + std::string(address) + "\"}}"),
                             "http.address", "loopback"),
                   address);
    for (const char* address :
         {"127.0.0.1", "127.1.2.3", "::1", "0:0:0:0:0:0:0:1", "localhost", "::ffff:127.0.0.1"})
        BOOST_TEST(parse_config(R"({"http": {"address": ")" + std::string(address) + "\"}}")
                       .value.has_value(),
                   address);

    // Accepted with a token, with allow_unauthenticated, or when the listener is disabled.
    const auto token = must_parse(R"({"http": {"address": "0.0.0.0", "auth_token": "s3cret"}})");
    BOOST_TEST(token.http.auth_token == "s3cret");
    must_parse(R"({"http": {"address": "0.0.0.0", "allow_unauthenticated": true}})");
    must_parse(R"({"http": {"address": "0.0.0.0", "enabled": false}})");

    // Frames carry no token: only allow_unauthenticated opens a non-loopback frame listener.
    const auto frame = must_fail(R"({"frame": {"tcp": {"enabled": true, "address": "0.0.0.0"}}})");
    BOOST_TEST(has_error(frame, "frame.tcp.address", "allow_unauthenticated"));
    const auto frame_ok = must_parse(
        R"({"frame": {"tcp": {"enabled": true, "address": "0.0.0.0",
                              "allow_unauthenticated": true}}})");
    BOOST_TEST(frame_ok.frame.tcp_allow_unauthenticated);
    must_parse(R"({"frame": {"tcp": {"enabled": false, "address": "0.0.0.0"}}})");
}

BOOST_AUTO_TEST_CASE(addresses_must_be_ip_literals) {
    for (const char* bad : {"gateway.local", "", "1.2.3", "1.2.3.256", "01.2.3.4", "1::2::3",
                            "12345::", "1:2:3:4:5:6:7:8:9"}) {
        const auto errors = must_fail(R"({"http": {"address": ")" + std::string(bad) + "\"}}");
        BOOST_TEST(has_error(errors, "http.address", "IP address"), bad);
    }
    // localhost is stored as the literal the listener can bind.
    BOOST_TEST(must_parse(R"({"http": {"address": "localhost"}})").http.address == "127.0.0.1");
    BOOST_TEST(
        must_parse(R"({"http": {"address": "::ffff:10.0.0.1", "auth_token": "t"}})").http.address ==
        "::ffff:10.0.0.1");
}

BOOST_AUTO_TEST_CASE(auth_token_must_be_header_safe) {
    BOOST_TEST(has_error(must_fail(R"({"http": {"auth_token": "two words"}})"), "http.auth_token"));
    BOOST_TEST(has_error(must_fail(R"({"http": {"auth_token": "a\nb"}})"), "http.auth_token"));
}

BOOST_AUTO_TEST_CASE(timeout_for_caps_to_max_and_defaults) {
    auto cfg = must_parse(R"({"limits": {"default_timeout_ms": 3000, "max_timeout_ms": 10000},
                              "functions": [{"name": "own", "command": ["c"], "timeout_ms": 7000},
                                            {"name": "dflt", "command": ["c"]}]})");
    BOOST_TEST(cfg.timeout_for(cfg.functions[0]) == 7000u);
    BOOST_TEST(cfg.timeout_for(cfg.functions[1]) == 3000u);
    // A function built outside the parser still never exceeds the maximum.
    function_config big;
    big.timeout_ms = 20000;
    BOOST_TEST(cfg.timeout_for(big) == 10000u);
    cfg.limits.default_timeout_ms = 50000;
    BOOST_TEST(cfg.timeout_for(cfg.functions[1]) == 10000u);
}

BOOST_AUTO_TEST_CASE(find_function) {
    const auto cfg = must_parse(R"({"functions": [{"name": "a", "command": ["c"]},
                                                   {"name": "b", "command": ["c"]}]})");
    BOOST_TEST(cfg.find_function("a").value_or(99) == 0u);
    BOOST_TEST(cfg.find_function("b").value_or(99) == 1u);
    BOOST_TEST(!cfg.find_function("c").has_value());
    BOOST_TEST(!cfg.find_function("").has_value());
    BOOST_TEST(!cfg.find_function("A").has_value());
}

BOOST_AUTO_TEST_CASE(stream_first_message_timeout_may_only_be_lowered) {
    BOOST_TEST(must_parse("{}").stream.first_message_timeout_ms == limits::stream_first_message_ms);
    BOOST_TEST(must_parse(R"({"stream": {"first_message_timeout_ms": 250}})")
                   .stream.first_message_timeout_ms == 250u);
    for (const auto* text : {R"({"stream": {"first_message_timeout_ms": 0}})",
                             R"({"stream": {"first_message_timeout_ms": 10001}})"}) {
        const auto errors = must_fail(text);
        BOOST_REQUIRE(errors.size() == 1u);
        BOOST_TEST(errors[0].path == "stream.first_message_timeout_ms");
    }
}

BOOST_AUTO_TEST_CASE(every_size_limit_has_a_ceiling) {
    // Defect 10.7: these took any 64-bit value; now each has a ceiling in limits.hpp and the
    // error names the field and the range.
    const auto errors = must_fail(R"({
        "http": {"max_header_bytes": 65537},
        "stream": {"max_message_bytes": 67108865, "viewer_queue_messages": 4097,
                   "replay_chunks": 4097},
        "frame": {"max_outstanding": 257}})");
    BOOST_TEST(reason_at(errors, "http.max_header_bytes") == "must be an integer in 1..65536");
    BOOST_TEST(reason_at(errors, "stream.max_message_bytes") ==
               "must be an integer in 1..67108864");
    BOOST_TEST(reason_at(errors, "stream.viewer_queue_messages") == "must be an integer in 1..4096");
    BOOST_TEST(reason_at(errors, "stream.replay_chunks") ==
               "must be an integer in 0..4096 (0 disables replay)");
    BOOST_TEST(reason_at(errors, "frame.max_outstanding") == "must be an integer in 1..256");
    BOOST_TEST(errors.size() == 5u, describe({std::nullopt, errors}));

    const auto at_max = must_parse(R"({
        "http": {"max_header_bytes": 65536},
        "stream": {"max_message_bytes": 67108864, "viewer_queue_messages": 4096,
                   "replay_chunks": 4096},
        "frame": {"max_outstanding": 256}})");
    BOOST_TEST(at_max.http.max_header_bytes == limits::http_header_bytes_max);
    BOOST_TEST(at_max.stream.max_message_bytes == limits::ws_message_bytes_max);
    BOOST_TEST(at_max.stream.viewer_queue_messages == limits::viewer_queue_messages_max);
    BOOST_TEST(at_max.stream.replay_chunks == limits::replay_chunks_max);
    BOOST_TEST(at_max.frame.max_outstanding == limits::frame_outstanding_max);
}

BOOST_AUTO_TEST_CASE(queued_input_budget_is_read_and_bounded) {
    BOOST_TEST(must_parse("{}").limits.queued_input_bytes == limits::queued_input_bytes);
    // The default holds the largest input either transport may accept.
    BOOST_TEST(limits::queued_input_bytes >= limits::http_body_bytes_max);
    BOOST_TEST(limits::queued_input_bytes >= limits::ws_message_bytes_max);
    const auto lowered = must_parse(R"({"http": {"max_body_bytes": 1000},
        "stream": {"max_message_bytes": 2000}, "limits": {"queued_input_bytes": 2000}})");
    BOOST_TEST(lowered.limits.queued_input_bytes == 2000u);

    // Below the largest input: that input could never be queued.
    const auto small = must_fail(R"({"http": {"max_body_bytes": 1000},
        "stream": {"max_message_bytes": 2000}, "limits": {"queued_input_bytes": 1999}})");
    BOOST_REQUIRE(small.size() == 1u);
    BOOST_TEST(small[0].path == "limits.queued_input_bytes");
    BOOST_TEST(small[0].reason == "must be an integer in 2000..1073741824 (at least "
                                  "http.max_body_bytes and stream.max_message_bytes (2000): a "
                                  "larger input could never be queued)");
    const auto large = must_fail(R"({"limits": {"queued_input_bytes": 1073741825}})");
    BOOST_REQUIRE(large.size() == 1u);
    BOOST_TEST(large[0].path == "limits.queued_input_bytes");
}

BOOST_AUTO_TEST_CASE(process_section_is_read_and_checked) {
    const auto d = must_parse("{}");
    BOOST_TEST(d.process.cgroups == "auto");
    BOOST_TEST(d.process.cgroup_path.empty());
    const auto c = must_parse(R"({"process": {"cgroups": "required",
        "cgroup_path": "/sys/fs/cgroup/spearlet.service/run"}})");
    BOOST_TEST(c.process.cgroups == "required");
    BOOST_TEST(c.process.cgroup_path == "/sys/fs/cgroup/spearlet.service/run");
    BOOST_TEST(must_parse(R"({"process": {"cgroups": "off"}})").process.cgroups == "off");
    const auto errors = must_fail(R"({"process": {"cgroups": "yes",
        "cgroup_path": "sys/fs/cgroup", "bogus": 1}})");
    BOOST_TEST(has_error(errors, "process.cgroups", "\"auto\", \"off\" or \"required\""));
    BOOST_TEST(has_error(errors, "process.cgroup_path", "absolute path"));
    BOOST_TEST(has_error(errors, "process.bogus", "unknown field"));
    BOOST_TEST(has_error(must_fail(R"({"process": {"cgroup_path": "/sys/fs/cgroup/../etc"}})"),
                         "process.cgroup_path", "\"..\""));
    BOOST_TEST(has_error(must_fail(R"({"process": {"cgroup_path": ""}})"), "process.cgroup_path"));
    BOOST_TEST(has_error(must_fail(R"({"process": {"cgroups": "off", "cgroup_path": "/x"}})"),
                         "process.cgroup_path", "\"off\""));
}

BOOST_AUTO_TEST_CASE(container_section_is_read_and_checked) {
    const auto d = must_parse("{}");
    BOOST_TEST(d.container.engine == "unix:///run/docker.sock");
    BOOST_TEST(d.container.memory_bytes == limits::container_memory_bytes);
    const auto c = must_parse(R"({"container": {"engine": "unix:///run/podman/podman.sock",
        "connect_timeout_ms": 500, "request_timeout_ms": 9000, "memory_bytes": 67108864,
        "milli_cpus": 500, "pids_limit": 64}})");
    BOOST_TEST(c.container.engine == "unix:///run/podman/podman.sock");
    BOOST_TEST(c.container.connect_timeout_ms == 500u);
    BOOST_TEST(c.container.request_timeout_ms == 9000u);
    BOOST_TEST(c.container.memory_bytes == 67108864u);
    BOOST_TEST(c.container.milli_cpus == 500u);
    BOOST_TEST(c.container.pids_limit == 64u);
    const auto errors = must_fail(R"({"container": {"engine": "tcp://127.0.0.1:2375",
        "connect_timeout_ms": 0, "memory_bytes": 1, "pids_limit": 5000000, "bogus": 1}})");
    BOOST_TEST(has_error(errors, "container.engine", "unix:///PATH"));
    BOOST_TEST(has_error(errors, "container.connect_timeout_ms", "must be > 0"));
    BOOST_TEST(has_error(errors, "container.memory_bytes", "6 MiB"));
    BOOST_TEST(has_error(errors, "container.pids_limit"));
    BOOST_TEST(has_error(errors, "container.bogus", "unknown field"));
    BOOST_TEST(errors.size() == 5u, describe({std::nullopt, errors}));
    // A socket path longer than a sockaddr_un holds.
    BOOST_TEST(has_error(must_fail(R"({"container": {"engine": "unix:///)" + std::string(120, 'a') +
                                   R"("}})"),
                         "container.engine"));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(config_clients_and_priority)

BOOST_AUTO_TEST_CASE(tokens_priority_and_aging_are_read) {
    const auto cfg = must_parse(R"({
        "http": {"auth_token": "root", "tokens": [
            {"name": "plc", "token": "t1", "max_concurrency": 2, "max_queued": 0,
             "rate_per_s": 0.5, "priority_ceiling": 3},
            {"name": "ops", "token": "t2", "admin": true}
        ]},
        "limits": {"priority_aging_ms": 250},
        "functions": [{"name": "f", "command": ["cat"], "priority": 7}]
    })");
    BOOST_TEST_REQUIRE(cfg.http.tokens.size() == 2u);
    const auto& plc = cfg.http.tokens[0];
    BOOST_TEST(plc.name == "plc");
    BOOST_TEST(plc.token == "t1");
    BOOST_TEST(plc.max_concurrency.value_or(99) == 2u);
    BOOST_TEST(plc.max_queued.value_or(99) == 0u);
    BOOST_TEST(plc.rate_per_s.value_or(0) == 0.5);
    BOOST_TEST(plc.priority_ceiling == 3);
    BOOST_TEST(!plc.admin);
    const auto& ops = cfg.http.tokens[1];
    BOOST_TEST(ops.admin);
    BOOST_TEST(!ops.max_concurrency.has_value());
    BOOST_TEST(!ops.rate_per_s.has_value());
    BOOST_TEST(ops.priority_ceiling == 9);
    BOOST_TEST(cfg.limits.priority_aging_ms == 250u);
    BOOST_TEST(cfg.functions[0].priority == 7);
}

BOOST_AUTO_TEST_CASE(bad_tokens_and_priorities_name_their_paths) {
    const auto errors = must_fail(R"({
        "http": {"auth_token": "root", "tokens": [
            {"name": "admin", "token": "a"},
            {"name": "dup", "token": "root"},
            {"name": "dup", "token": "a", "rate_per_s": 0, "max_concurrency": 0,
             "priority_ceiling": 10, "extra": 1},
            {"token": ""}
        ]},
        "limits": {"priority_aging_ms": 0},
        "functions": [{"name": "f", "command": ["cat"], "priority": 10}]
    })");
    BOOST_TEST(has_error(errors, "http.tokens[0].name", "auth_token"));
    BOOST_TEST(has_error(errors, "http.tokens[1].token", "auth_token"));
    BOOST_TEST(has_error(errors, "http.tokens[2].name", "duplicate"));
    BOOST_TEST(has_error(errors, "http.tokens[2].token", "duplicate"));
    BOOST_TEST(has_error(errors, "http.tokens[2].rate_per_s"));
    BOOST_TEST(has_error(errors, "http.tokens[2].max_concurrency"));
    BOOST_TEST(has_error(errors, "http.tokens[2].priority_ceiling"));
    BOOST_TEST(has_error(errors, "http.tokens[2].extra", "unknown field"));
    BOOST_TEST(has_error(errors, "http.tokens[3].name", "required"));
    BOOST_TEST(has_error(errors, "http.tokens[3].token", "empty"));
    BOOST_TEST(has_error(errors, "limits.priority_aging_ms"));
    BOOST_TEST(has_error(errors, "functions[0].priority", "0..9"));
}

BOOST_AUTO_TEST_CASE(tokens_alone_allow_a_non_loopback_listener) {
    must_parse(R"({"http": {"address": "0.0.0.0", "tokens": [{"name": "a", "token": "t"}]}})");
    const auto errors = must_fail(R"({"http": {"address": "0.0.0.0"}})");
    BOOST_TEST(has_error(errors, "http.address", "auth_token"));
}

BOOST_AUTO_TEST_CASE(durable_results_fields_parse_and_bad_values_name_their_path) {
    const auto cfg = must_parse(R"({"node": {"data_dir": "/var/lib/spearlet",
        "durability": "every_change", "sync_interval_ms": 50},
        "status_table": {"max_input_bytes": 2048},
        "functions": [{"name": "f", "command": ["cat"], "retry_interrupted": true}]})");
    BOOST_TEST(cfg.node.data_dir == "/var/lib/spearlet");
    BOOST_TEST((cfg.node.durability == durability_level::every_change));
    BOOST_TEST(cfg.node.sync_interval_ms == 50u);
    BOOST_TEST(cfg.status_table.max_input_bytes == 2048u);
    BOOST_TEST(cfg.functions[0].retry_interrupted);
    const auto defaults = must_parse("{}");
    BOOST_TEST(defaults.node.data_dir.empty());
    BOOST_TEST((defaults.node.durability == durability_level::batched));

    auto errors = must_fail(R"({"node": {"durability": "always"}})");
    BOOST_REQUIRE(errors.size() == 1u);
    BOOST_TEST(errors[0].path == "node.durability");
    BOOST_TEST(errors[0].reason.find("every_change") != std::string::npos);
    errors = must_fail(R"({"node": {"sync_interval_ms": 0}})");
    BOOST_TEST(errors[0].path == "node.sync_interval_ms");
    errors = must_fail(R"({"functions": [{"name": "f", "command": ["cat"], "retry_interrupted": 1}]})");
    BOOST_TEST(errors[0].path == "functions[0].retry_interrupted");
}

BOOST_AUTO_TEST_SUITE_END()
