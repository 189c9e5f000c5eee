// The container kind: parses a container function's fields; runs on container_runtime.
#include "runtime/container/container_kind.hpp"

#include "core/limits.hpp"
#include "core/log.hpp"
#include "runtime/container/container_runtime.hpp"
#include "runtime/container/engine_client.hpp"
#include "runtime/registry.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

namespace spear::runtime {
namespace {

using namespace core::fields;
namespace limits = core::limits;

/// Docker's network names: a name, "none", "bridge", "host", or "container:NAME".
bool network_name(std::string_view s) {
    return !s.empty() && s.size() <= 128 && printable(s);
}
constexpr text_rule network_rule{network_name,
                                 "must be a network name: \"none\" (the default), \"bridge\", "
                                 "\"host\" or a network of the engine"};

function_settings parse(object_reader& r) {
    container_function f;
    if (!r.has("image"))
        r.fail("image", "required for container functions: the name of an image the engine "
                        "already has (images are never pulled at invoke)");
    read_text(r, "image", f.image, non_empty_text);
    read_text_list(r, "command", f.command, any_text);
    if (const json::value* v = r.get("command");
        v && v->is_array() && !v->get_array().empty() && v->get_array()[0] == "")
        r.fail("command", "its first element (the program) must not be empty; omit command "
                          "for the image's own");
    read_text(r, "working_dir", f.working_dir, any_text);
    if (!f.working_dir.empty() && f.working_dir.front() != '/')
        r.fail("working_dir", "must be an absolute path inside the container");
    read_text(r, "network", f.network, network_rule);
    read_bool(r, "read_only", f.read_only);
    read_int(r, "memory_bytes", f.memory_bytes, limits::container_memory_bytes_min,
             limits::container_memory_bytes_max,
             "omit it for container.memory_bytes; the engines refuse less than 6 MiB");
    read_int(r, "milli_cpus", f.milli_cpus, 1, limits::container_milli_cpus_max,
             "1000 = one CPU; omit it for container.milli_cpus");
    read_int(r, "pids_limit", f.pids_limit, 1, limits::container_pids_max,
             "omit it for container.pids_limit");
    return f;
}

json::object describe(const function_spec& spec) {
    const auto& f = std::get<container_function>(spec.settings);
    json::object o;
    o["image"] = f.image;
    o["network"] = f.network;
    o["read_only"] = f.read_only;
    if (f.memory_bytes != 0)
        o["memory_bytes"] = f.memory_bytes;
    if (f.milli_cpus != 0)
        o["milli_cpus"] = f.milli_cpus;
    if (f.pids_limit != 0)
        o["pids_limit"] = f.pids_limit;
    return o;
}

/// --check-config: GET /images/{name}/json for each container function's image, on an
/// io_context of its own (nothing else runs during a check).
std::vector<core::config_error> check_images(const core::config& cfg,
                                             const std::vector<function_spec>& functions) {
    std::vector<core::config_error> problems;
    std::vector<std::size_t> ours;
    for (std::size_t i = 0; i < functions.size(); ++i)
        if (std::holds_alternative<container_function>(functions[i].settings))
            ours.push_back(i);
    if (ours.empty())
        return problems;
    boost::asio::io_context io;
    const container::engine_client client(io.get_executor(), container::options_for(cfg.container));
    auto ask = [&]() -> boost::asio::awaitable<void> {
        for (const auto i : ours) {
            const auto& image = std::get<container_function>(functions[i].settings).image;
            const auto r = co_await client.request("GET", "/images/" + image + "/json");
            if (r.status == 404)
                problems.push_back({"functions[" + std::to_string(i) + "].image",
                                    "image '" + image + "' is not in the container engine at " +
                                        cfg.container.engine +
                                        " (images are never pulled at invoke: pull or load it)"});
            else if (r.status != 200)
                problems.push_back({"functions[" + std::to_string(i) + "].image",
                                    "the container engine could not look up image '" + image +
                                        "': " + container::engine_client::error_text(r)});
        }
    };
    boost::asio::co_spawn(io, ask, [&](std::exception_ptr e) {
        if (!e)
            return;
        try {
            std::rethrow_exception(e);
        } catch (const container::engine_error& failure) {
            log::warn(std::string(failure.what()) + ": the images of container functions were "
                                                    "not checked");
        }
    });
    io.run();
    return problems;
}

} // namespace

runtime_kind container_kind::descriptor() {
    return {"container",
            {"image", "command", "working_dir", "network", "read_only", "memory_bytes",
             "milli_cpus", "pids_limit"},
            parse,
            nullptr,
            describe,
            [](const boost::asio::any_io_executor& ex) {
                return std::make_unique<container_runtime>(ex);
            },
            check_images};
}

} // namespace spear::runtime
