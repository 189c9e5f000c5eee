// spearlet's command line: --config, --port, --frame-port, --log-format, --check-config,
// --print-default-config, --version, --help; and `spearlet compile` (the wasm AOT tier).
#include "app/appliance.hpp"
#include "core/config.hpp"
#include "core/log.hpp"
#include "core/memory_estimate.hpp"
#include "platform/memory.hpp"
#include "runtime/registry.hpp"
#include "runtime/wasm/wasm_runtime.hpp"

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

namespace {

constexpr std::string_view usage = R"(usage: spearlet [--config PATH] [--port N] [--frame-port N]
                [--log-format plain|json] [--check-config] [--print-default-config]
                [--version] [--help]
       spearlet compile MODULE.wasm -o MODULE.so

Runs functions (processes) for devices on the local network, in sync, async and stream
modes, over HTTP and nanopb frames. With no --config it runs the embedded default config:
HTTP on 127.0.0.1:8080, frames on TCP 127.0.0.1:7070 and a few demo functions.

  --config PATH            JSON config (comments and trailing commas allowed)
  --port N                 override http.port (0 picks a free port; the log line says which)
  --frame-port N           override frame.tcp.port (0 picks a free port)
  --log-format FORMAT      plain (default: one "TIME LEVEL message" line each) or json
                           (one JSON object a line: time, level, message); overrides
                           the config's node.log_format
  --check-config           validate the config (default or --config) and exit:
                           0 if valid (the line gives the worst-case memory the
                           limits allow, docs/operations.md), 1 with one line per
                           error otherwise
  --print-default-config   print the embedded default config and exit
  --version                print the version and the git revision it was built from
  --help                   print this help and exit

`spearlet compile` validates a WebAssembly module as the wasm runtime would and compiles it
with wasm2c and cc into a shared object for the AOT tier (docs/wasm.md); functions with
"tier": "aot" or "auto" are compiled into a cache at start without it.

Stop with SIGTERM or SIGINT: in-flight sync requests get http.shutdown_grace_ms to
finish, then remaining executions are cancelled and the process exits 0.
)";

/// Parses a port argument 0..65535; nullopt (after a message) when it is not one.
std::optional<long> parse_port(const char* text, std::string_view flag) {
    char* end = nullptr;
    const long port = std::strtol(text, &end, 10);
    if (*text == '\0' || *end != '\0' || port < 0 || port > 65535) {
        std::cerr << "spearlet: " << flag << " must be 0..65535\n";
        return std::nullopt;
    }
    return port;
}

bool read_file(const std::string& path, std::string& out) {
    std::ifstream in(path, std::ios::binary);
    if (!in)
        return false;
    std::ostringstream ss;
    ss << in.rdbuf();
    out = ss.str();
    return true;
}

} // namespace

/// `spearlet compile MODULE.wasm -o OUT.so`: 0, or 1 with the reason; 2 for bad usage.
int compile_command(int argc, char** argv) {
    std::string module;
    std::string out;
    for (int i = 2; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "-o" && i + 1 < argc)
            out = argv[++i];
        else if (module.empty() && !arg.starts_with("-"))
            module = arg;
        else {
            std::cerr << "spearlet compile: unexpected argument '" << arg << "'\n" << usage;
            return 2;
        }
    }
    if (module.empty() || out.empty()) {
        std::cerr << "spearlet compile: needs MODULE.wasm and -o MODULE.so\n" << usage;
        return 2;
    }
    if (auto error = spear::runtime::compile_wasm_module(module, out)) {
        std::cerr << "spearlet compile: " << *error << "\n";
        return 1;
    }
    std::cout << out << "\n";
    return 0;
}

int main(int argc, char** argv) {
    if (argc >= 2 && std::string_view(argv[1]) == "compile")
        return compile_command(argc, argv);
    std::string config_path;
    std::optional<long> port_override;
    std::optional<long> frame_port_override;
    bool check_only = false;
    bool log_format_given = false;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "--help" || arg == "-h") {
            std::cout << usage;
            return 0;
        }
        if (arg == "--version") {
            std::cout << "spearlet " SPEAR_VERSION " (git " SPEAR_GIT_REVISION ")\n";
            return 0;
        }
        if (arg == "--print-default-config") {
            std::cout << spear::core::embedded_default_config();
            return 0;
        }
        if (arg == "--check-config") {
            check_only = true;
        } else if (arg == "--config" && i + 1 < argc) {
            config_path = argv[++i];
        } else if (arg == "--port" && i + 1 < argc) {
            port_override = parse_port(argv[++i], "--port");
            if (!port_override)
                return 2;
        } else if (arg == "--frame-port" && i + 1 < argc) {
            frame_port_override = parse_port(argv[++i], "--frame-port");
            if (!frame_port_override)
                return 2;
        } else if (arg == "--log-format" && i + 1 < argc) {
            const std::string_view f = argv[++i];
            if (f != "plain" && f != "json") {
                std::cerr << "spearlet: --log-format must be plain or json\n";
                return 2;
            }
            spear::log::set_format(f == "json" ? spear::log::format::json
                                               : spear::log::format::plain);
            log_format_given = true;
        } else if (arg.starts_with("--config=")) {
            config_path = std::string(arg.substr(9));
        } else {
            std::cerr << "spearlet: unknown argument '" << arg << "'\n" << usage;
            return 2;
        }
    }

    std::string text;
    std::string source = "embedded default config";
    if (!config_path.empty()) {
        if (!read_file(config_path, text)) {
            std::cerr << "spearlet: cannot read config file '" << config_path << "'\n";
            return 1;
        }
        source = config_path;
    } else {
        text = std::string(spear::core::embedded_default_config());
    }

    const auto& runtimes = spear::runtime::builtin_registry();
    auto parsed = spear::runtime::parse_config(text, runtimes);
    if (!parsed.value) {
        for (const auto& e : parsed.errors)
            std::cerr << source << ": " << e.to_string() << "\n";
        return 1;
    }
    if (!log_format_given)
        spear::log::set_format(parsed.value->node.log_format == "json" ? spear::log::format::json
                                                                       : spear::log::format::plain);
    spear::runtime::configure_wasm_aot_cache(parsed.value->node.data_dir, SPEAR_VERSION);
    if (port_override)
        parsed.value->http.port = static_cast<std::uint16_t>(*port_override);
    if (frame_port_override)
        parsed.value->frame.tcp_port = static_cast<std::uint16_t>(*frame_port_override);
    // The status table is allocated whole at start: a config the machine cannot hold is
    // refused here, by --check-config and at start alike, instead of dying with bad_alloc.
    if (const auto physical = spear::platform::physical_memory_bytes())
        if (auto refused = spear::core::check_fixed_memory(*parsed.value, *physical)) {
            std::cerr << source << ": " << refused->to_string() << "\n";
            return 1;
        }
    if (check_only) {
        // Config errors are syntax and ranges; then each runtime kind checks what a start would
        // find (the wasm kind reads and validates modules, the container kind asks its engine
        // for each image).
        bool ok = true;
        const auto functions = runtimes.resolve_all(*parsed.value);
        for (std::size_t i = 0; i < functions.size(); ++i) {
            const auto& check = functions[i].kind->check;
            if (!check)
                continue;
            if (auto problem = check(functions[i], "functions[" + std::to_string(i) + "]")) {
                std::cerr << source << ": " << problem->to_string() << "\n";
                ok = false;
            }
        }
        // Then what the host lacks (the container kind: images its engine does not have).
        for (const auto& kind : runtimes.kinds()) {
            if (!kind.check_host)
                continue;
            for (const auto& problem : kind.check_host(*parsed.value, functions)) {
                std::cerr << source << ": " << problem.to_string() << "\n";
                ok = false;
            }
        }
        if (!ok)
            return 1;
        const auto memory = spear::core::estimate_memory(*parsed.value);
        std::cout << source << ": ok (" << functions.size() << " functions, worst-case memory "
                  << spear::core::format_bytes(memory.worst_case());
        if (memory.durable_files > 0)
            std::cout << ", durable results files " << spear::core::format_bytes(memory.durable_files)
                      << " in " << parsed.value->node.data_dir;
        std::cout << ")\n";
        return 0;
    }
    return spear::app::run_appliance(*parsed.value, source);
}
