// The engine's answers read into plain values (engine_answers.hpp).
#include "runtime/container/engine_answers.hpp"

#include <boost/json/parse.hpp>

namespace spear::runtime::container {
namespace {

namespace json = boost::json;

std::optional<json::object> json_object_of(const engine_response& r) {
    boost::system::error_code ec;
    auto v = json::parse(r.body, ec);
    if (ec || !v.is_object())
        return std::nullopt;
    return std::move(v.get_object());
}

std::int64_t int_field(const json::object& o, std::string_view key, std::int64_t fallback) {
    if (const auto* v = o.if_contains(key)) {
        if (v->is_int64())
            return v->get_int64();
        if (v->is_uint64())
            return static_cast<std::int64_t>(v->get_uint64());
    }
    return fallback;
}

} // namespace

std::optional<std::string> created_id(const engine_response& r) {
    if (r.status != 201)
        return std::nullopt;
    const auto o = json_object_of(r);
    if (!o)
        return std::nullopt;
    const auto* id = o->if_contains("Id");
    if (!id || !id->is_string())
        return std::nullopt;
    return std::string(id->get_string());
}

std::optional<container_state> inspected_state(const engine_response& r) {
    if (r.status != 200)
        return std::nullopt;
    const auto o = json_object_of(r);
    if (!o)
        return std::nullopt;
    const auto* v = o->if_contains("State");
    if (!v || !v->is_object())
        return std::nullopt;
    const auto& st = v->get_object();
    container_state out;
    const auto* running = st.if_contains("Running");
    out.running = running && running->is_bool() && running->get_bool();
    out.exit_code = int_field(st, "ExitCode", -1);
    if (const auto* oom = st.if_contains("OOMKilled"); oom && oom->is_bool())
        out.oom_killed = oom->get_bool();
    return out;
}

std::string engine_version(const engine_response& r) {
    const auto o = json_object_of(r);
    if (!o)
        return {};
    std::string version;
    if (const auto* v = o->if_contains("Version"); v && v->is_string())
        version = std::string(v->get_string());
    if (const auto* c = o->if_contains("Components");
        c && c->is_array() && !c->get_array().empty() && c->get_array()[0].is_object())
        if (const auto* n = c->get_array()[0].get_object().if_contains("Name"); n && n->is_string())
            version = std::string(n->get_string()) + " " + version;
    return version;
}

} // namespace spear::runtime::container
