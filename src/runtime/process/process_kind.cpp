// The process kind: parses command, working_dir, stdout and rlimits; runs on process_runtime;
// --check-config checks process.cgroup_path.
#include "runtime/process/process_kind.hpp"

#include "runtime/process/process_runtime.hpp"
#include "runtime/registry.hpp"

#include "platform/cgroup.hpp"

#include <algorithm>
#include <cerrno>
#include <system_error>
#include <variant>

namespace spear::runtime {
namespace {

using namespace core::fields;

void read_rlimits(object_reader& r, rlimit_config& rl) {
    const auto* o = read_object(r, "rlimits");
    if (!o)
        return;
    object_reader lr(*o, r.at("rlimits"), r.errors());
    read_int(lr, "cpu_seconds", rl.cpu_seconds, 0, u64_max, "0 inherits");
    read_int(lr, "address_space_bytes", rl.address_space_bytes, 0, u64_max, "0 inherits");
    read_int(lr, "open_files", rl.open_files, 0, u64_max, "0 inherits");
    read_int(lr, "processes", rl.processes, 0, u64_max, "0 inherits");
    lr.finish();
}

function_settings parse(object_reader& r) {
    process_function f;
    read_text_list(r, "command", f.command, any_text);
    read_text(r, "working_dir", f.working_dir, any_text);
    if (const json::value* v = r.get("stdout")) {
        if (v->is_string() && (v->get_string() == "pipe" || v->get_string() == "pty"))
            f.stdout_mode = std::string(v->get_string());
        else
            r.fail("stdout", "must be \"pipe\" or \"pty\"");
    }
    read_rlimits(r, f.rlimits);

    if (!r.has("command"))
        r.fail("command", "required for process functions: a non-empty array of strings "
                          "(argv; argv[0] is a path or a PATH name)");
    else if (const json::value* v = r.get("command");
             v->is_array() && (v->get_array().empty() || v->get_array()[0] == ""))
        r.fail("command", "must be a non-empty array of strings whose first element (the "
                          "program) is not empty");
    return f;
}

json::object describe(const function_spec& spec) {
    const auto& f = std::get<process_function>(spec.settings);
    json::object rlimits;
    rlimits["cpu_seconds"] = f.rlimits.cpu_seconds;
    rlimits["address_space_bytes"] = f.rlimits.address_space_bytes;
    rlimits["open_files"] = f.rlimits.open_files;
    rlimits["processes"] = f.rlimits.processes;
    json::object o;
    o["stdout"] = f.stdout_mode;
    o["rlimits"] = std::move(rlimits);
    return o;
}

/// --check-config: a process.cgroup_path that a start with process functions could not use
/// ("required" fails the start, "auto" falls back). The own cgroup is not checked: the check
/// runs from a shell, not in the service's cgroup.
std::vector<core::config_error> check_cgroup_path(const core::config& cfg,
                                                  const std::vector<function_spec>& functions) {
    const auto& path = cfg.process.cgroup_path;
    const bool any_process = std::any_of(functions.begin(), functions.end(), [](const auto& f) {
        return std::holds_alternative<process_function>(f.settings);
    });
    if (path.empty() || cfg.process.cgroups == "off" || !any_process)
        return {};
    const int e = platform::cgroup::check_writable(path);
    if (e == 0)
        return {};
    return {{"process.cgroup_path",
             path +
                 (e == ENOTDIR || e == ENOENT
                      ? " is not a cgroup v2 directory"
                      : " cannot be changed: " + std::generic_category().message(e)) +
                 (cfg.process.cgroups == "required"
                      ? " (process.cgroups \"required\": the start would fail)"
                      : " (process.cgroups \"auto\": executions would run without cgroups)")}};
}

} // namespace

runtime_kind process_kind::descriptor() {
    return {"process",
            {"command", "working_dir", "stdout", "rlimits"},
            parse,
            nullptr,
            describe,
            [](const boost::asio::any_io_executor& executor) {
                return std::make_unique<process_runtime>(executor);
            },
            check_cgroup_path};
}

} // namespace spear::runtime
