// Tests of config parsing: defaults, JSON syntax errors, field paths and reasons, every rule.
#include "core/config.hpp"
#include "core/limits.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

using namespace spear::core;

namespace {

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

/// The reason given for `path`, or "" when no error names that path.
std::string reason_at(const std::vector<config_error>& errors, std::string_view path) {
    for (const auto& e : errors) {
        if (e.path == path)
            return e.reason;
    }
    return {};
}

bool has_error(const std::vector<config_error>& errors, std::string_view path,
               std::string_view reason_part = {}) {
    return std::any_of(errors.begin(), errors.end(), [&](const config_error& e) {
        return e.path == path && e.reason.find(reason_part) != std::string::npos;
    });
}

/// A config with one function whose body is `fields` (JSON members without braces).
std::string with_function(const std::string& fields) {
    return R"({"functions": [{"name": "f", )" + fields + "}]}";
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
    BOOST_TEST(!cfg.frame.tcp_enabled);
    for (const char* name : {"echo", "uppercase", "wordcount", "slow", "fail", "ticker"}) {
        BOOST_TEST_INFO(name);
        const auto index = cfg.find_function(name);
        BOOST_REQUIRE(index.has_value());
        const auto& f = cfg.functions[*index];
        BOOST_TEST((f.runtime == runtime_kind::process));
        BOOST_TEST(!f.command.empty());
        BOOST_TEST(!f.description.empty());
    }
    const auto& echo = cfg.functions[*cfg.find_function("echo")];
    BOOST_TEST(echo.command == std::vector<std::string>{"cat"});
    BOOST_TEST(echo.content_type == "text/plain");
    const auto& slow = cfg.functions[*cfg.find_function("slow")];
    BOOST_TEST(slow.expected_ms == 1000u);
    BOOST_TEST(slow.timeout_ms == 65000u);
    BOOST_TEST(slow.command.at(0) == "/bin/sh");
    BOOST_TEST(slow.command.at(1) == "-c");
}

BOOST_AUTO_TEST_CASE(example_config_is_valid) {
    // __FILE__ is absolute in the CMake build and in the documented hand build.
    std::string root = __FILE__;
    root = root.substr(0, root.rfind("tests/unit/core/"));
    std::ifstream in(root + "config/example.jsonc");
    BOOST_REQUIRE_MESSAGE(in.good(), "cannot open " << root << "config/example.jsonc");
    std::stringstream text;
    text << in.rdbuf();
    const auto cfg = must_parse(text.str());
    BOOST_TEST(cfg.functions.size() == 3u);
    BOOST_TEST(cfg.http.address == "0.0.0.0");
    BOOST_TEST(!cfg.http.auth_token.empty());
    BOOST_TEST(cfg.frame.serial.size() == 1u);
    BOOST_TEST((cfg.functions[1].runtime == runtime_kind::wasm));
    BOOST_TEST(cfg.functions[1].mapped_dirs.at("/data") == "/var/lib/spearlet/data");
    BOOST_TEST((cfg.functions[2].runtime == runtime_kind::container));
    BOOST_TEST(cfg.functions[0].rlimits.open_files == 64u);
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
    BOOST_TEST((f.runtime == runtime_kind::process));
    BOOST_TEST(f.stdout_mode == "pipe");
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
        "frame": {"tcp": {"enabled": true, "port": 7071}, "serial": [{"device": "/dev/ttyS0"}]},
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
    BOOST_TEST(cfg.status_table.ttl_s == 0u);
    BOOST_TEST(cfg.limits.max_timeout_ms == 5000u);
    BOOST_TEST(cfg.limits.default_timeout_ms == 4000u);
    BOOST_TEST(cfg.limits.kill_grace_ms == 0u);
    const auto& f = cfg.functions.at(0);
    BOOST_TEST((f.command == std::vector<std::string>{"a", "b"}));
    BOOST_TEST(f.env.at("X") == "1");
    BOOST_TEST(f.stdout_mode == "pty");
    BOOST_TEST(f.queue_depth == 0u);
    BOOST_TEST(f.rlimits.cpu_seconds == 3u);
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
    BOOST_TEST(reason_at(errors, "functions[0].rlimits.cpu") == "unknown field");
    BOOST_TEST(reason_at(errors, "functions[0].nme") == "unknown field");
    BOOST_TEST(errors.size() == 6u, describe({std::nullopt, errors}));
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
    BOOST_TEST(reason_at(errors, "functions[0].command") == "must be an array of strings");
    BOOST_TEST(reason_at(errors, "functions[0].env.FOO").find("string") != std::string::npos);

    const auto elements = must_fail(with_function(R"("command": ["cat", 3])"));
    BOOST_TEST(has_error(elements, "functions[0].command[1]", "string"));
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
    BOOST_TEST(has_error(errors, "functions[1].command"));
    BOOST_TEST(has_error(errors, "functions[2].module", "required"));
    BOOST_TEST(has_error(errors, "functions[3].image", "required"));
    BOOST_TEST(has_error(errors, "functions[3].stdout"));
    BOOST_TEST(errors.size() == 8u, describe({std::nullopt, errors}));
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

BOOST_AUTO_TEST_CASE(process_function_requires_command) {
    BOOST_TEST(has_error(must_fail(with_function(R"("description": "x")")), "functions[0].command",
                         "required"));
    BOOST_TEST(has_error(must_fail(with_function(R"("command": [])")), "functions[0].command",
                         "non-empty"));
    BOOST_TEST(has_error(must_fail(with_function(R"("command": [""])")), "functions[0].command",
                         "non-empty"));
    BOOST_TEST(has_error(must_fail(process_function(R"("stdout": "file")")), "functions[0].stdout",
                         R"("pipe" or "pty")"));
    BOOST_TEST(has_error(must_fail(process_function(R"("runtime": "docker")")),
                         "functions[0].runtime", "process"));
}

BOOST_AUTO_TEST_CASE(runtime_specific_fields_are_checked) {
    const auto wasm = must_parse(with_function(
        R"("runtime": "wasm", "module": "/m.wasm", "sha256": ")" + std::string(64, 'a') +
        R"(", "max_memory_pages": 16, "fuel": 5, "args": ["x"], "mapped_dirs": {"/d": "/h"})"));
    BOOST_TEST((wasm.functions[0].runtime == runtime_kind::wasm));
    BOOST_TEST(wasm.functions[0].module == "/m.wasm");
    BOOST_TEST(wasm.functions[0].max_memory_pages == 16u);

    const auto bad_hash = must_fail(with_function(
        R"("runtime": "wasm", "module": "m", "sha256": ")" + std::string(64, 'A') + "\""));
    BOOST_TEST(reason_at(bad_hash, "functions[0].sha256") ==
               "must be 64 lowercase hexadecimal characters");
    const auto short_hash =
        must_fail(with_function(R"("runtime": "wasm", "module": "m", "sha256": "abc")"));
    BOOST_TEST(has_error(short_hash, "functions[0].sha256"));

    // A field of another runtime would do nothing: it is reported.
    const auto wrong = must_fail(process_function(R"("module": "m.wasm", "image": "i")"));
    BOOST_TEST(has_error(wrong, "functions[0].module", "only for wasm functions"));
    BOOST_TEST(has_error(wrong, "functions[0].image", "only for container functions"));
    const auto container_cmd =
        must_fail(with_function(R"("runtime": "container", "image": "i", "command": ["x"])"));
    BOOST_TEST(has_error(container_cmd, "functions[0].command", "only for process functions"));
}

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

BOOST_AUTO_TEST_SUITE_END()
