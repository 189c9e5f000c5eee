// Tests of the runtime registry: each built-in kind parses and checks its own fields (paths and
// reasons as before the registry), reports fields of other kinds and unknown ones, describes its
// functions for GET /functions, checks for --check-config and makes its runtime.
#include "runtime/registry.hpp"

#include <boost/asio/io_context.hpp>
#include "support/config_errors.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

using namespace spear;
using core::config;
using core::config_error;
using core::config_result;
using runtime::container_function;
using runtime::process_function;
using runtime::wasm_function;

namespace {

using spear::test::has_error;
using spear::test::reason_at;
using spear::test::with_function;

std::string describe(const std::vector<config_error>& errors) {
    std::string all;
    for (const auto& e : errors)
        all += e.to_string() + "\n";
    return all;
}

config must_parse(std::string_view text) {
    auto r = runtime::parse_config(text);
    BOOST_TEST_INFO("errors:\n" << describe(r.errors));
    BOOST_REQUIRE(r.value.has_value());
    BOOST_REQUIRE(r.errors.empty());
    return *r.value;
}

std::vector<config_error> must_fail(std::string_view text) {
    auto r = runtime::parse_config(text);
    BOOST_REQUIRE(!r.value.has_value());
    BOOST_REQUIRE(!r.errors.empty());
    return r.errors;
}

std::string process_function_text(const std::string& extra = {}) {
    return with_function(R"("command": ["cat"])" + (extra.empty() ? "" : ", " + extra));
}

/// The typed functions of a parsed config.
std::vector<runtime::function_spec> specs(const config& cfg) {
    return runtime::builtin_registry().resolve_all(cfg);
}

template <class Settings> Settings settings(const config& cfg, std::size_t i) {
    const auto all = specs(cfg);
    BOOST_REQUIRE(i < all.size());
    BOOST_REQUIRE(std::holds_alternative<Settings>(all[i].settings));
    return std::get<Settings>(all[i].settings);
}

} // namespace

BOOST_AUTO_TEST_SUITE(runtime_registry)

BOOST_AUTO_TEST_CASE(builtin_kinds_in_registration_order) {
    const auto& kinds = runtime::builtin_registry().kinds();
    BOOST_REQUIRE(kinds.size() == 3u);
    BOOST_TEST(kinds[0].name == "process"); // the default
    BOOST_TEST(kinds[1].name == "wasm");
    BOOST_TEST(kinds[2].name == "container");
    BOOST_TEST(runtime::builtin_registry().find("wasm") == &kinds[1]);
    BOOST_TEST(runtime::builtin_registry().find("docker") == nullptr);
}

BOOST_AUTO_TEST_CASE(embedded_default_functions_are_process_functions) {
    const auto cfg = must_parse(core::embedded_default_config());
    const auto all = specs(cfg);
    for (const char* name : {"echo", "uppercase", "wordcount", "slow", "fail", "ticker"}) {
        BOOST_TEST_INFO(name);
        const auto index = cfg.find_function(name);
        BOOST_REQUIRE(index.has_value());
        BOOST_TEST(cfg.functions[*index].runtime == "process");
        BOOST_TEST(all[*index].kind->name == "process");
        BOOST_TEST(!std::get<process_function>(all[*index].settings).command.empty());
    }
    const auto echo = settings<process_function>(cfg, *cfg.find_function("echo"));
    BOOST_TEST(echo.command == std::vector<std::string>{"cat"});
    const auto slow = settings<process_function>(cfg, *cfg.find_function("slow"));
    BOOST_TEST(slow.command.at(0) == "/bin/sh");
    BOOST_TEST(slow.command.at(1) == "-c");
}

BOOST_AUTO_TEST_CASE(example_config_runtime_fields) {
    // CTest names the source tree; else __FILE__ (absolute in a build without ccache).
    std::string root = __FILE__;
    root = root.substr(0, root.rfind("tests/unit/runtime/"));
    if (const char* dir = std::getenv("SPEAR_SOURCE_DIR"))
        root = std::string(dir) + "/";
    std::ifstream in(root + "config/example.jsonc");
    BOOST_REQUIRE_MESSAGE(in.good(), "cannot open " << root << "config/example.jsonc");
    std::stringstream text;
    text << in.rdbuf();
    const auto cfg = must_parse(text.str());
    BOOST_TEST(cfg.functions[1].runtime == "wasm");
    BOOST_TEST(settings<wasm_function>(cfg, 1).mapped_dirs.at("/data") == "/var/lib/spearlet/data");
    BOOST_TEST(cfg.functions[2].runtime == "container");
    BOOST_TEST(!settings<container_function>(cfg, 2).image.empty());
    BOOST_TEST(settings<process_function>(cfg, 0).rlimits.open_files == 64u);
}

BOOST_AUTO_TEST_CASE(a_function_without_runtime_is_a_process_function_with_defaults) {
    const auto cfg = must_parse(process_function_text());
    BOOST_TEST(cfg.functions[0].runtime == "process");
    const auto f = settings<process_function>(cfg, 0);
    BOOST_TEST(f.stdout_mode == "pipe");
    BOOST_TEST(f.working_dir.empty());
    BOOST_TEST(f.rlimits.cpu_seconds == 0u);
}

BOOST_AUTO_TEST_CASE(process_fields_are_read_into_the_settings) {
    const auto cfg = must_parse(R"({"functions": [{"name": "f", "command": ["a", "b"],
        "env": {"X": "1"}, "stdout": "pty", "working_dir": "/tmp", "queue_depth": 0,
        "rlimits": {"cpu_seconds": 3, "address_space_bytes": 4, "open_files": 5,
                    "processes": 6}}]})");
    const auto f = settings<process_function>(cfg, 0);
    BOOST_TEST((f.command == std::vector<std::string>{"a", "b"}));
    BOOST_TEST(f.stdout_mode == "pty");
    BOOST_TEST(f.working_dir == "/tmp");
    BOOST_TEST(f.rlimits.cpu_seconds == 3u);
    BOOST_TEST(f.rlimits.address_space_bytes == 4u);
    BOOST_TEST(f.rlimits.open_files == 5u);
    BOOST_TEST(f.rlimits.processes == 6u);
    // Common fields stay in the common part.
    const auto all = specs(cfg);
    BOOST_TEST(all[0].common.env.at("X") == "1");
    BOOST_TEST(all[0].common.queue_depth == 0u);
}

BOOST_AUTO_TEST_CASE(wasm_fields_are_read_into_the_settings) {
    const auto cfg = must_parse(with_function(
        R"("runtime": "wasm", "module": "/m.wasm", "sha256": ")" + std::string(64, 'a') +
        R"(", "max_memory_pages": 16, "fuel": 5, "args": ["x"], "entry": "go",
        "mapped_dirs": {"/d": "/h"})"));
    BOOST_TEST(cfg.functions[0].runtime == "wasm");
    const auto f = settings<wasm_function>(cfg, 0);
    BOOST_TEST(f.module == "/m.wasm");
    BOOST_TEST(f.max_memory_pages == 16u);
    BOOST_TEST(f.fuel == 5u);
    BOOST_TEST(f.sha256 == std::string(64, 'a'));
    BOOST_TEST(f.args == std::vector<std::string>{"x"});
    BOOST_TEST(f.entry == "go");
    BOOST_TEST(f.mapped_dirs.at("/d") == "/h");
    // Defaults.
    const auto plain = settings<wasm_function>(
        must_parse(with_function(R"("runtime": "wasm", "module": "m")")), 0);
    BOOST_TEST(plain.max_memory_pages == 256u);
    BOOST_TEST(plain.fuel == 0u);
    BOOST_TEST(plain.entry.empty());
}

BOOST_AUTO_TEST_CASE(unknown_field_names_path) {
    // The document of config_test.cpp's unknown_field_names_path, now with the runtime's part.
    const auto errors = must_fail(R"({"http": {"prot": 80}, "bogus": 1,
        "frame": {"tcp": {"adress": "x"}, "serial": [{"device": "/d", "bad": 1}]},
        "functions": [{"name": "f", "command": ["c"], "rlimits": {"cpu": 1}, "nme": 2}]})");
    BOOST_TEST(reason_at(errors, "http.prot") == "unknown field");
    BOOST_TEST(reason_at(errors, "bogus") == "unknown field");
    BOOST_TEST(reason_at(errors, "frame.tcp.adress") == "unknown field");
    BOOST_TEST(reason_at(errors, "frame.serial[0].bad") == "unknown field");
    BOOST_TEST(reason_at(errors, "functions[0].rlimits.cpu") == "unknown field");
    BOOST_TEST(reason_at(errors, "functions[0].nme") == "unknown field");
    BOOST_TEST(errors.size() == 6u, describe(errors));
}

BOOST_AUTO_TEST_CASE(unknown_field_in_a_wasm_function_is_reported_with_its_path) {
    const auto errors = must_fail(R"({"functions": [{"name": "ok", "command": ["c"]},
        {"name": "w", "runtime": "wasm", "module": "m.wasm", "fule": 5}]})");
    BOOST_REQUIRE_MESSAGE(errors.size() == 1u, describe(errors));
    BOOST_TEST(errors[0].path == "functions[1].fule");
    BOOST_TEST(errors[0].reason == "unknown field");
    BOOST_TEST(errors[0].to_string() == "functions[1].fule: unknown field");
}

BOOST_AUTO_TEST_CASE(wrong_types_of_runtime_fields) {
    const auto errors = must_fail(with_function(R"("command": "cat", "env": {"FOO": 1})"));
    BOOST_TEST(reason_at(errors, "functions[0].command") == "must be an array of strings");
    BOOST_TEST(reason_at(errors, "functions[0].env.FOO").find("string") != std::string::npos);
    const auto elements = must_fail(with_function(R"("command": ["cat", 3])"));
    BOOST_TEST(has_error(elements, "functions[0].command[1]", "string"));
    const auto pages = must_fail(
        with_function(R"("runtime": "wasm", "module": "m", "max_memory_pages": 0, "fuel": -1)"));
    BOOST_TEST(reason_at(pages, "functions[0].max_memory_pages").starts_with("must be > 0"));
    BOOST_TEST(reason_at(pages, "functions[0].fuel").starts_with("must be an integer in 0.."));
}

BOOST_AUTO_TEST_CASE(collects_every_error) {
    // The document of config_test.cpp's collects_every_error, with the runtime errors.
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
    BOOST_TEST(errors.size() == 8u, describe(errors));
}

BOOST_AUTO_TEST_CASE(process_function_requires_command) {
    BOOST_TEST(has_error(must_fail(with_function(R"("description": "x")")), "functions[0].command",
                         "required"));
    BOOST_TEST(has_error(must_fail(with_function(R"("command": [])")), "functions[0].command",
                         "non-empty"));
    BOOST_TEST(has_error(must_fail(with_function(R"("command": [""])")), "functions[0].command",
                         "non-empty"));
    BOOST_TEST(has_error(must_fail(process_function_text(R"("stdout": "file")")),
                         "functions[0].stdout", R"("pipe" or "pty")"));
    BOOST_TEST(has_error(must_fail(process_function_text(R"("runtime": "docker")")),
                         "functions[0].runtime", "process"));
}

BOOST_AUTO_TEST_CASE(unknown_runtime_lists_the_registered_ones) {
    for (const char* value : {R"("docker")", "5", R"("")", "null"}) {
        const auto errors = must_fail(process_function_text(R"("runtime": )" + std::string(value)));
        BOOST_TEST(reason_at(errors, "functions[0].runtime") ==
                       R"(must be "process", "wasm" or "container")",
                   value);
    }
    // With no known runtime, a field no runtime has is still reported; the others are not
    // checked (they may be right for the runtime meant).
    const auto errors = must_fail(with_function(R"("runtime": "wsam", "module": "", "nme": 1)"));
    BOOST_TEST(reason_at(errors, "functions[0].nme") == "unknown field");
    BOOST_TEST(errors.size() == 2u, describe(errors));
}

BOOST_AUTO_TEST_CASE(runtime_specific_fields_are_checked) {
    const auto bad_hash = must_fail(with_function(
        R"("runtime": "wasm", "module": "m", "sha256": ")" + std::string(64, 'A') + "\""));
    BOOST_TEST(reason_at(bad_hash, "functions[0].sha256") ==
               "must be 64 lowercase hexadecimal characters");
    const auto short_hash =
        must_fail(with_function(R"("runtime": "wasm", "module": "m", "sha256": "abc")"));
    BOOST_TEST(has_error(short_hash, "functions[0].sha256"));

    // A field of another runtime would do nothing: it is reported.
    const auto wrong = must_fail(process_function_text(R"("module": "m.wasm", "image": "i")"));
    BOOST_TEST(reason_at(wrong, "functions[0].module") ==
               "only for wasm functions (this one's runtime is process)");
    BOOST_TEST(has_error(wrong, "functions[0].image", "only for container functions"));
    const auto container_stdout =
        must_fail(with_function(R"("runtime": "container", "image": "i", "stdout": "pty")"));
    BOOST_TEST(has_error(container_stdout, "functions[0].stdout", "only for process functions"));
    // A field two kinds share is reported with both owners for a third kind.
    const auto wasm_cmd =
        must_fail(with_function(R"("runtime": "wasm", "module": "m.wasm", "command": ["x"])"));
    BOOST_TEST(has_error(wasm_cmd, "functions[0].command",
                         "only for process and container functions"));
}

BOOST_AUTO_TEST_CASE(describe_gives_each_kinds_fields_for_get_functions) {
    const auto cfg = must_parse(R"({"functions": [
        {"name": "p", "command": ["/secret/bin", "--token=x"], "stdout": "pty",
         "rlimits": {"open_files": 64}},
        {"name": "w", "runtime": "wasm", "module": "/host/m.wasm", "fuel": 9,
         "mapped_dirs": {"/d": "/host/dir"}},
        {"name": "c", "runtime": "container", "image": "busybox:1"}]})");
    const auto all = specs(cfg);
    const auto p = all[0].kind->describe(all[0]);
    BOOST_TEST(p.at("stdout").as_string() == "pty");
    BOOST_TEST(p.at("rlimits").as_object().at("open_files").as_uint64() == 64u);
    BOOST_TEST(!p.contains("command")); // argv may carry secrets
    const auto w = all[1].kind->describe(all[1]);
    BOOST_TEST(w.at("fuel").as_uint64() == 9u);
    BOOST_TEST(w.at("max_memory_pages").as_uint64() == 256u);
    BOOST_TEST(w.at("entry").is_null());
    BOOST_TEST(w.at("sha256").is_null());
    BOOST_TEST(!w.contains("module")); // no host paths for clients
    BOOST_TEST(!w.contains("mapped_dirs"));
    const auto c = all[2].kind->describe(all[2]);
    BOOST_TEST(c.at("image").as_string() == "busybox:1");
}

BOOST_AUTO_TEST_CASE(every_declared_field_is_read_by_its_kind) {
    // A field a kind declares but does not read would be "unknown" in its own functions.
    for (const auto& kind : runtime::builtin_registry().kinds()) {
        for (const auto& field : kind.fields) {
            core::function_config f;
            f.name = "f";
            f.runtime_fields["runtime"] = kind.name;
            f.runtime_fields[field] = nullptr; // a wrong value: reported as such, not unknown
            std::vector<config_error> errors;
            runtime::builtin_registry().resolve(f, "functions[0]", errors);
            BOOST_TEST_INFO(kind.name << "." << field);
            BOOST_TEST(reason_at(errors, "functions[0]." + field) != "unknown field");
            BOOST_TEST(!reason_at(errors, "functions[0]." + field).empty());
        }
    }
}

BOOST_AUTO_TEST_CASE(check_reads_the_wasm_module) {
    const auto cfg = must_parse(R"({"functions": [{"name": "p", "command": ["c"]},
        {"name": "w", "runtime": "wasm", "module": "/nonexistent/spear/m.wasm"}]})");
    const auto all = specs(cfg);
    BOOST_TEST(!all[0].kind->check); // nothing beyond the config text for a process
    const auto problem = all[1].kind->check(all[1], "functions[1]");
    BOOST_REQUIRE(problem.has_value());
    BOOST_TEST(problem->path == "functions[1].module");
    BOOST_TEST(problem->reason.find("cannot open") != std::string::npos, problem->reason);
}

BOOST_AUTO_TEST_CASE(container_functions_are_not_refused_at_admission) {
    // The container runtime runs them (tests/unit/runtime/container_runtime_test.cpp); an
    // engine that is down fails the run, not the admission.
    const auto cfg = must_parse(with_function(R"("runtime": "container", "image": "i")"));
    const auto all = specs(cfg);
    boost::asio::io_context io;
    const auto rt = all[0].kind->make(io.get_executor());
    BOOST_TEST(!rt->refusal(all[0]).has_value());
    const auto p = specs(must_parse(process_function_text()));
    BOOST_TEST(!p[0].kind->make(io.get_executor())->refusal(p[0]).has_value());
}

BOOST_AUTO_TEST_CASE(container_fields_are_checked_with_paths) {
    const auto cfg = must_parse(with_function(
        R"("runtime": "container", "image": "busybox:1", "command": ["/bin/sh", "-c", "x"],
           "working_dir": "/w", "network": "bridge", "read_only": false,
           "memory_bytes": 67108864, "milli_cpus": 500, "pids_limit": 32)"));
    const auto all = specs(cfg);
    const auto& c = std::get<spear::runtime::container_function>(all[0].settings);
    BOOST_TEST(c.image == "busybox:1");
    BOOST_TEST(c.command.size() == 3u);
    BOOST_TEST(c.network == "bridge");
    BOOST_TEST(!c.read_only);
    BOOST_TEST(c.memory_bytes == 67108864u);
    BOOST_TEST(c.milli_cpus == 500u);
    BOOST_TEST(c.pids_limit == 32u);
    const auto d = std::get<spear::runtime::container_function>(
        specs(must_parse(with_function(R"("runtime": "container", "image": "i")")))[0].settings);
    BOOST_TEST(d.network == "none"); // no network unless asked
    BOOST_TEST(d.read_only);         // read-only root unless asked
    const auto bad = must_fail(with_function(
        R"("runtime": "container", "memory_bytes": 1024, "working_dir": "rel", "pids_limit": 0)"));
    BOOST_TEST(has_error(bad, "functions[0].image", "required for container functions"));
    BOOST_TEST(has_error(bad, "functions[0].memory_bytes", "6 MiB"));
    BOOST_TEST(has_error(bad, "functions[0].working_dir", "absolute"));
    BOOST_TEST(has_error(bad, "functions[0].pids_limit", "must be > 0"));
}

BOOST_AUTO_TEST_CASE(a_registry_refuses_ambiguous_kinds) {
    auto kind = [](std::string name, std::vector<std::string> fields) {
        runtime::runtime_kind k;
        k.name = std::move(name);
        k.fields = std::move(fields);
        k.parse = [](core::fields::object_reader&) {
            return runtime::function_settings{};
        };
        k.make = [](const boost::asio::any_io_executor&) {
            return std::unique_ptr<runtime::runtime>();
        };
        return k;
    };
    BOOST_CHECK_THROW(runtime::registry({}), std::invalid_argument);
    BOOST_CHECK_THROW(runtime::registry({kind("a", {}), kind("a", {})}), std::invalid_argument);
    BOOST_CHECK_THROW(runtime::registry({kind("a", {"x", "x"})}), std::invalid_argument);
    // Kinds may share a field (process and container both read "command").
    BOOST_CHECK_NO_THROW(runtime::registry({kind("a", {"x"}), kind("b", {"x"})}));
    BOOST_CHECK_THROW(runtime::registry({kind("a", {"runtime"})}), std::invalid_argument);
    BOOST_CHECK_NO_THROW(runtime::registry({kind("a", {"x"}), kind("b", {"y"})}));
}

BOOST_AUTO_TEST_SUITE_END()
