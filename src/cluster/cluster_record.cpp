// The cluster's JSON messages: encoders and strict decoders (cluster_record.hpp).
#include "cluster/cluster_record.hpp"

#include "core/limits.hpp"
#include "core/text_encoding.hpp"

#include <boost/json.hpp>

namespace spear::cluster {

namespace json = boost::json;
using core::wall_time;

namespace {

std::int64_t to_ms(wall_time t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
wall_time from_ms(std::int64_t ms) {
    return wall_time(std::chrono::milliseconds(ms));
}

std::optional<json::object> parse_object(std::string_view text) {
    json::error_code ec;
    auto v = json::parse(text, ec);
    if (ec || !v.is_object())
        return std::nullopt;
    return std::move(v.get_object());
}

/// Strict field reads: a missing or wrongly typed field fails the whole decode.
struct reader {
    const json::object& o;
    bool ok = true;

    std::string text(std::string_view key) {
        const auto* v = o.if_contains(key);
        if (!v || !v->is_string()) {
            ok = false;
            return {};
        }
        return std::string(v->get_string());
    }
    std::string bytes(std::string_view key) { // base64
        auto decoded = core::base64_decode(text(key));
        if (!decoded) {
            ok = false;
            return {};
        }
        return std::move(*decoded);
    }
    std::int64_t number(std::string_view key) {
        const auto* v = o.if_contains(key);
        if (!v || !v->is_int64()) {
            if (v && v->is_uint64() && v->get_uint64() <= INT64_MAX)
                return static_cast<std::int64_t>(v->get_uint64());
            ok = false;
            return 0;
        }
        return v->get_int64();
    }
    std::optional<std::int64_t> maybe_number(std::string_view key) {
        if (!o.contains(key) || o.at(key).is_null())
            return std::nullopt;
        return number(key);
    }
    bool flag(std::string_view key) {
        const auto* v = o.if_contains(key);
        if (!v || !v->is_bool()) {
            ok = false;
            return false;
        }
        return v->get_bool();
    }
    const json::object& object(std::string_view key) {
        static const json::object empty;
        const auto* v = o.if_contains(key);
        if (!v || !v->is_object()) {
            ok = false;
            return empty;
        }
        return v->get_object();
    }
};

json::value maybe(const std::optional<int>& v) {
    return v ? json::value(*v) : json::value(nullptr);
}

json::object result_to_json(const core::ExecutionResult& r) {
    json::object o;
    o["id"] = r.execution_id;
    o["client_id"] = r.client_execution_id;
    o["function"] = r.function_name;
    o["mode"] = static_cast<int>(r.mode);
    o["status"] = std::string(core::to_string(r.status));
    o["content_type"] = r.content_type;
    const auto kept = std::min(r.output.size(), core::limits::cluster_record_output_bytes);
    o["output"] = core::base64_encode(std::string_view(r.output).substr(0, kept));
    o["output_size"] = r.output_size;
    o["output_truncated"] = r.output_truncated || kept < r.output.size();
    o["logs"] = core::base64_encode(r.logs);
    o["error"] = std::string(core::to_string(r.error));
    o["error_message"] = r.error_message;
    o["exit_code"] = maybe(r.exit_code);
    o["signal"] = maybe(r.signal);
    o["queued_at"] = to_ms(r.queued_at);
    o["started_at"] = r.started_at ? json::value(to_ms(*r.started_at)) : json::value(nullptr);
    o["completed_at"] =
        r.completed_at ? json::value(to_ms(*r.completed_at)) : json::value(nullptr);
    o["queue_ms"] = r.queue_ms;
    o["execution_time_ms"] = r.execution_time_ms;
    o["seq"] = r.seq;
    o["client"] = r.client;
    o["priority"] = r.priority;
    return o;
}

std::optional<core::ExecutionResult> result_from_json(const json::object& o) {
    reader in{o};
    core::ExecutionResult r;
    r.execution_id = in.text("id");
    r.client_execution_id = in.text("client_id");
    r.function_name = in.text("function");
    const auto mode = core::execution_mode_from_number(in.number("mode"));
    const auto status = core::parse_execution_status(in.text("status"));
    const auto error = core::parse_error_code(in.text("error"));
    if (!mode || !status || !error)
        return std::nullopt;
    r.mode = *mode;
    r.status = *status;
    r.error = *error;
    r.content_type = in.text("content_type");
    r.output = in.bytes("output");
    r.output_size = static_cast<std::uint64_t>(in.number("output_size"));
    r.output_truncated = in.flag("output_truncated");
    r.logs = in.bytes("logs");
    r.error_message = in.text("error_message");
    if (auto v = in.maybe_number("exit_code"))
        r.exit_code = static_cast<int>(*v);
    if (auto v = in.maybe_number("signal"))
        r.signal = static_cast<int>(*v);
    r.queued_at = from_ms(in.number("queued_at"));
    if (auto v = in.maybe_number("started_at"))
        r.started_at = from_ms(*v);
    if (auto v = in.maybe_number("completed_at"))
        r.completed_at = from_ms(*v);
    r.queue_ms = in.number("queue_ms");
    r.execution_time_ms = in.number("execution_time_ms");
    r.seq = static_cast<std::uint64_t>(in.number("seq"));
    r.client = in.text("client");
    r.priority = static_cast<int>(in.number("priority"));
    if (!in.ok)
        return std::nullopt;
    return r;
}

} // namespace

std::string beacon_key(std::string_view node_id) {
    return "node." + std::string(node_id);
}

std::string encode(const cluster_record& record) {
    json::object o;
    o["v"] = 1;
    o["node"] = record.node;
    o["origin"] = record.origin;
    o["shared"] = record.shared;
    o["attempt"] = record.attempt;
    o["estimate_ms"] = record.estimate_ms;
    o["result"] = result_to_json(record.result);
    return json::serialize(o);
}

std::optional<cluster_record> decode_record(std::string_view text) {
    auto o = parse_object(text);
    if (!o)
        return std::nullopt;
    reader in{*o};
    cluster_record r;
    if (in.number("v") != 1)
        return std::nullopt;
    r.node = in.text("node");
    r.origin = in.text("origin");
    r.shared = in.flag("shared");
    r.attempt = static_cast<std::uint32_t>(in.number("attempt"));
    r.estimate_ms = in.number("estimate_ms");
    auto result = result_from_json(in.object("result"));
    if (!in.ok || !result)
        return std::nullopt;
    r.result = std::move(*result);
    return r;
}

std::string encode(const work_item& item) {
    json::object o;
    o["v"] = 1;
    o["id"] = item.id;
    o["origin"] = item.origin;
    o["queued_at"] = item.queued_wall_ms;
    const auto& q = item.request;
    o["function"] = q.function_name;
    o["mode"] = static_cast<int>(q.execution_mode);
    o["input"] = core::base64_encode(q.input);
    o["input_content_type"] = q.input_content_type;
    o["client_id"] = q.client_execution_id;
    o["timeout_ms"] = q.timeout_ms ? json::value(*q.timeout_ms) : json::value(nullptr);
    json::object env;
    for (const auto& [k, v] : q.environment)
        env[k] = v;
    o["environment"] = std::move(env);
    o["priority"] = q.priority ? json::value(*q.priority) : json::value(nullptr);
    o["client"] = q.client.name;
    o["admin"] = q.client.admin;
    o["priority_ceiling"] = q.client.priority_ceiling;
    return json::serialize(o);
}

std::optional<work_item> decode_work(std::string_view text) {
    auto o = parse_object(text);
    if (!o)
        return std::nullopt;
    reader in{*o};
    work_item w;
    if (in.number("v") != 1)
        return std::nullopt;
    w.id = in.text("id");
    w.origin = in.text("origin");
    w.queued_wall_ms = in.number("queued_at");
    auto& q = w.request;
    q.function_name = in.text("function");
    const auto mode = core::execution_mode_from_number(in.number("mode"));
    if (!mode)
        return std::nullopt;
    q.execution_mode = *mode;
    q.execution_mode_given = true;
    q.input = in.bytes("input");
    q.input_content_type = in.text("input_content_type");
    q.client_execution_id = in.text("client_id");
    if (auto v = in.maybe_number("timeout_ms")) {
        if (*v <= 0 || *v > UINT32_MAX)
            return std::nullopt;
        q.timeout_ms = static_cast<std::uint32_t>(*v);
    }
    for (const auto& [k, v] : in.object("environment")) {
        if (!v.is_string())
            return std::nullopt;
        q.environment.emplace(std::string(k), std::string(v.get_string()));
    }
    q.priority = in.maybe_number("priority");
    q.client.name = in.text("client");
    q.client.admin = in.flag("admin");
    q.client.priority_ceiling = static_cast<int>(in.number("priority_ceiling"));
    if (!in.ok || w.id.empty())
        return std::nullopt;
    return w;
}

std::string encode(const node_beacon& beacon) {
    json::object o;
    o["v"] = 1;
    o["node"] = beacon.node;
    o["at"] = beacon.at_wall_ms;
    o["boot"] = beacon.boot;
    json::object typical;
    for (const auto& [name, ms] : beacon.typical_ms)
        typical[name] = ms;
    o["typical_ms"] = std::move(typical);
    return json::serialize(o);
}

std::optional<node_beacon> decode_beacon(std::string_view text) {
    auto o = parse_object(text);
    if (!o)
        return std::nullopt;
    reader in{*o};
    node_beacon b;
    if (in.number("v") != 1)
        return std::nullopt;
    b.node = in.text("node");
    b.at_wall_ms = in.number("at");
    b.boot = static_cast<std::uint32_t>(in.number("boot"));
    for (const auto& [name, ms] : in.object("typical_ms")) {
        if (!ms.is_int64())
            return std::nullopt;
        b.typical_ms.emplace_back(std::string(name), ms.get_int64());
    }
    if (!in.ok)
        return std::nullopt;
    return b;
}

std::string encode(const cancel_request& request) {
    json::object o;
    o["id"] = request.id;
    o["reason"] = request.reason;
    o["client"] = request.client;
    o["admin"] = request.admin;
    return json::serialize(o);
}

std::optional<cancel_request> decode_cancel(std::string_view text) {
    auto o = parse_object(text);
    if (!o)
        return std::nullopt;
    reader in{*o};
    cancel_request c;
    c.id = in.text("id");
    c.reason = in.text("reason");
    c.client = in.text("client");
    c.admin = in.flag("admin");
    if (!in.ok)
        return std::nullopt;
    return c;
}

std::string encode(const std::variant<service::cancel_view, core::error>& answer) {
    json::object o;
    if (const auto* e = std::get_if<core::error>(&answer)) {
        o["error"] = std::string(core::to_string(e->code));
        o["message"] = e->message;
        return json::serialize(o);
    }
    const auto& c = std::get<service::cancel_view>(answer);
    o["success"] = c.success;
    o["message"] = c.message;
    o["final_status"] = std::string(core::to_string(c.final_status));
    o["execution_id"] = c.execution_id;
    o["still_stopping"] = c.still_stopping;
    return json::serialize(o);
}

std::optional<std::variant<service::cancel_view, core::error>>
decode_cancel_answer(std::string_view text) {
    auto o = parse_object(text);
    if (!o)
        return std::nullopt;
    reader in{*o};
    if (o->contains("error")) {
        const auto code = core::parse_error_code(in.text("error"));
        auto message = in.text("message");
        if (!in.ok || !code)
            return std::nullopt;
        return core::error::make(*code, std::move(message));
    }
    service::cancel_view c;
    c.success = in.flag("success");
    c.message = in.text("message");
    const auto status = core::parse_execution_status(in.text("final_status"));
    c.execution_id = in.text("execution_id");
    c.still_stopping = in.flag("still_stopping");
    if (!in.ok || !status)
        return std::nullopt;
    c.final_status = *status;
    return c;
}

std::string encode(const service::stream_event& event) {
    json::object o;
    o["type"] = static_cast<int>(event.type);
    o["seq"] = event.seq;
    o["status"] = std::string(core::to_string(event.status));
    o["bytes"] = core::base64_encode(event.bytes);
    o["replayed"] = event.replayed;
    if (event.result)
        o["result"] = result_to_json(*event.result);
    return json::serialize(o);
}

std::optional<service::stream_event> decode_event(std::string_view text,
                                                  std::string execution_id) {
    auto o = parse_object(text);
    if (!o)
        return std::nullopt;
    reader in{*o};
    service::stream_event e;
    const auto type = in.number("type");
    if (type < 0 || type > 2)
        return std::nullopt;
    e.type = static_cast<service::stream_event::kind>(type);
    e.seq = static_cast<std::uint64_t>(in.number("seq"));
    const auto status = core::parse_execution_status(in.text("status"));
    e.bytes = in.bytes("bytes");
    e.replayed = in.flag("replayed");
    if (!in.ok || !status)
        return std::nullopt;
    e.status = *status;
    if (o->contains("result")) {
        auto result = result_from_json(in.object("result"));
        if (!result)
            return std::nullopt;
        result->execution_id = execution_id;
        e.result = std::make_shared<const core::ExecutionResult>(std::move(*result));
    } else if (e.type == service::stream_event::kind::final) {
        return std::nullopt;
    }
    e.execution_id = std::move(execution_id);
    return e;
}

std::string encode(const watch_request& request) {
    json::object o;
    o["id"] = request.id;
    o["subject"] = request.subject;
    return json::serialize(o);
}

std::optional<watch_request> decode_watch(std::string_view text) {
    auto o = parse_object(text);
    if (!o)
        return std::nullopt;
    reader in{*o};
    watch_request w;
    w.id = in.text("id");
    w.subject = in.text("subject");
    if (!in.ok || w.subject.empty())
        return std::nullopt;
    return w;
}

} // namespace spear::cluster
