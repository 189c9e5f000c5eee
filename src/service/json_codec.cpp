// JSON encoding and decoding of the service's messages with Boost.JSON.
#include "service/json_codec.hpp"

#include "core/limits.hpp"
#include "core/text_encoding.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <charconv>
#include <csignal>
#include <cstring>
#include <limits>

namespace spear::service {

namespace json = boost::json;
using core::error;
using core::error_code;

namespace {

error invalid(std::string message) { return error::make(error_code::invalid_request, std::move(message)); }

std::string_view kind_name(const json::value& v) {
    switch (v.kind()) {
    case json::kind::null: return "null";
    case json::kind::bool_: return "a boolean";
    case json::kind::int64:
    case json::kind::uint64:
    case json::kind::double_: return "a number";
    case json::kind::string: return "a string";
    case json::kind::array: return "an array";
    case json::kind::object: return "an object";
    }
    return "a value";
}

std::optional<error> expect_string(const json::value& v, std::string_view path) {
    if (!v.is_string())
        return invalid(std::string(path) + ": must be a string, not " + std::string(kind_name(v)));
    return std::nullopt;
}

std::optional<error> parse_mode(const json::value& v, core::InvokeFunctionRequest& out) {
    std::optional<core::ExecutionMode> mode;
    std::string shown;
    if (v.is_string()) {
        shown = std::string(v.get_string().subview().substr(0, 40));
        mode = core::parse_execution_mode(v.get_string());
    } else if (v.is_int64() || v.is_uint64()) {
        const auto n = v.is_int64() ? v.get_int64() : static_cast<std::int64_t>(v.get_uint64());
        shown = std::to_string(n);
        mode = core::execution_mode_from_number(n);
    } else {
        return invalid("execution_mode: must be a string or a number, not " +
                       std::string(kind_name(v)));
    }
    if (!mode)
        return error::make(error_code::unknown_execution_mode,
                           "execution_mode: unknown mode '" + shown + "'; " +
                               std::string(core::valid_modes_text));
    out.execution_mode = *mode;
    out.execution_mode_given = true;
    return std::nullopt;
}

std::optional<error> parse_input(const json::value& v, core::InvokeFunctionRequest& out) {
    if (v.is_null())
        return std::nullopt;
    if (v.is_string()) { // convenience: a bare string is UTF-8 text input
        out.input = std::string(v.get_string());
        return std::nullopt;
    }
    if (!v.is_object())
        return invalid("input: must be an object {content_type, data} or {content_type, "
                       "data_base64}, not " + std::string(kind_name(v)));
    const auto& o = v.get_object();
    bool has_data = false;
    for (const auto& [key, value] : o) {
        if (key == "content_type") {
            if (auto e = expect_string(value, "input.content_type"))
                return e;
            out.input_content_type = std::string(value.get_string());
        } else if (key == "data") {
            if (auto e = expect_string(value, "input.data"))
                return e;
            out.input = std::string(value.get_string());
            has_data = true;
        } else if (key == "data_base64") {
            if (auto e = expect_string(value, "input.data_base64"))
                return e;
            if (has_data)
                return invalid("input: give either data or data_base64, not both");
            auto decoded = core::base64_decode(value.get_string());
            if (!decoded)
                return invalid("input.data_base64: not valid base64");
            out.input = std::move(*decoded);
            has_data = true;
        } else {
            return invalid("input." + std::string(key.substr(0, 40)) + ": unknown field");
        }
    }
    return std::nullopt;
}

std::optional<error> parse_context(const json::value& v, core::InvokeFunctionRequest& out) {
    if (v.is_null())
        return std::nullopt;
    if (!v.is_object())
        return invalid("context: must be an object, not " + std::string(kind_name(v)));
    for (const auto& [key, value] : v.get_object()) {
        if (key == "execution_id") {
            if (auto e = expect_string(value, "context.execution_id"))
                return e;
            out.client_execution_id = std::string(value.get_string());
        } else if (key == "timeout_ms") {
            if (value.is_int64() && value.get_int64() > 0 && value.get_int64() <= UINT32_MAX)
                out.timeout_ms = static_cast<std::uint32_t>(value.get_int64());
            else
                return invalid("context.timeout_ms: must be a positive integer");
        } else if (key == "priority") {
            // The range (0..9) is checked by the service, the same for every transport.
            if (value.is_int64())
                out.priority = value.get_int64();
            else if (value.is_uint64())
                out.priority = std::numeric_limits<std::int64_t>::max();
            else
                return invalid("context.priority: must be an integer in 0.." +
                               std::to_string(core::limits::priority_max) +
                               " (higher starts first)");
        } else if (key == "environment") {
            if (!value.is_object())
                return invalid("context.environment: must be an object of strings");
            for (const auto& [name, entry] : value.get_object()) {
                const auto path = "context.environment." + std::string(name.substr(0, 40));
                if (auto e = expect_string(entry, path))
                    return e;
                if (name.empty() || name.find('=') != json::string_view::npos)
                    return invalid(path + ": not a valid variable name");
                out.environment[std::string(name)] = std::string(entry.get_string());
            }
        } else {
            return invalid("context." + std::string(key.substr(0, 40)) + ": unknown field");
        }
    }
    return std::nullopt;
}

void put_time(json::object& o, std::string_view key, const std::optional<core::wall_time>& t) {
    if (t)
        o[key] = core::format_rfc3339(*t);
}

std::string signal_name(int sig) {
    const char* abbrev = sigabbrev_np(sig);
    return abbrev ? std::string("SIG") + abbrev : "SIG" + std::to_string(sig);
}

/// error_code/error_message (null when none), and exit_code or signal when known.
void put_outcome(json::object& o, const core::ExecutionResult& r) {
    o["error_code"] = r.error != error_code::none ? json::value(core::to_string(r.error))
                                                   : json::value(nullptr);
    o["error_message"] = r.error_message.empty() && r.error == error_code::none
                             ? json::value(nullptr)
                             : json::value(r.error_message);
    if (r.exit_code)
        o["exit_code"] = *r.exit_code;
    if (r.signal) {
        o["signal"] = *r.signal;
        o["signal_name"] = signal_name(*r.signal);
    }
}

} // namespace

std::variant<core::InvokeFunctionRequest, error> parse_invoke_request(std::string_view text) {
    json::parse_options options;
    options.max_depth = 16;
    boost::system::error_code ec;
    const auto doc = json::parse(text, ec, {}, options);
    if (ec)
        return invalid("body is not valid JSON: " + ec.message());
    if (!doc.is_object())
        return invalid("body must be a JSON object (InvokeFunctionRequest)");
    core::InvokeFunctionRequest request;
    bool has_name = false;
    for (const auto& [key, value] : doc.get_object()) {
        std::optional<error> problem;
        if (key == "function_name") {
            problem = expect_string(value, "function_name");
            if (!problem) {
                request.function_name = std::string(value.get_string());
                has_name = true;
            }
        } else if (key == "execution_mode") {
            problem = parse_mode(value, request);
        } else if (key == "input") {
            problem = parse_input(value, request);
        } else if (key == "context") {
            problem = parse_context(value, request);
        } else if (key == "detach") {
            if (!value.is_bool())
                problem = invalid("detach: must be a boolean");
            else
                request.detach = value.get_bool();
        } else if (key == "metadata") {
            if (!value.is_object())
                problem = invalid("metadata: must be an object");
        } else {
            problem = invalid(std::string(key.substr(0, 40)) + ": unknown field");
        }
        if (problem)
            return *problem;
    }
    if (!has_name || request.function_name.empty())
        return invalid("function_name: required (a non-empty string)");
    return request;
}

json::object output_to_json(std::string_view content_type, std::string_view bytes,
                            json::storage_ptr sp) {
    json::object o(std::move(sp));
    o["content_type"] = content_type;
    if (core::is_valid_utf8(bytes))
        o["data"] = bytes;
    else
        o["data_base64"] = core::base64_encode(bytes);
    return o;
}

json::object to_json(const core::ExecutionResult& r, bool include_output, json::storage_ptr sp) {
    json::object o(sp);
    o["execution_id"] = r.execution_id;
    if (!r.client_execution_id.empty())
        o["client_execution_id"] = r.client_execution_id;
    o["function_name"] = r.function_name;
    o["execution_mode"] = core::to_string(r.mode);
    o["status"] = core::to_string(r.status);
    o["client"] = r.client;
    o["priority"] = r.priority;
    if (include_output)
        o["output"] = output_to_json(r.content_type, r.output, sp);
    o["output_size"] = r.output_size;
    o["output_truncated"] = r.output_truncated;
    put_outcome(o, r);
    o["queued_at"] = core::format_rfc3339(r.queued_at);
    put_time(o, "started_at", r.started_at);
    put_time(o, "completed_at", r.completed_at);
    o["queue_ms"] = r.queue_ms;
    o["execution_time_ms"] = r.execution_time_ms;
    o["stderr_tail"] = core::is_valid_utf8(r.logs) ? r.logs : core::base64_encode(r.logs);
    if (!r.node.empty())
        o["node"] = r.node;
    return o;
}

json::object to_json(const core::RuntimeExecutionResponse& response, json::storage_ptr sp) {
    json::object o(sp);
    o["success"] = response.success();
    o["execution_id"] = response.execution_id;
    o["request_id"] = response.request_id;
    o["execution_mode"] = core::to_string(response.execution_mode);
    o["is_async"] = response.is_async;
    o["status_endpoint"] = response.status_endpoint;
    o["estimated_completion_ms"] = response.estimated_completion_ms;
    if (response.is_async)
        o["estimate_source"] = core::to_string(response.source);
    o["result"] = to_json(response.result, !response.is_async, sp);
    if (!response.metadata.empty()) {
        json::object meta;
        for (const auto& [k, v] : response.metadata)
            meta[k] = v;
        o["metadata"] = std::move(meta);
    }
    o["timestamp"] = core::format_rfc3339(response.timestamp);
    return o;
}

json::object to_json(const status_view& status, bool include_output, json::storage_ptr sp) {
    json::object o(sp);
    o["found"] = true;
    o["execution_id"] = status.result.execution_id;
    o["status"] = core::to_string(status.result.status);
    o["client"] = status.result.client;
    o["priority"] = status.result.priority;
    o["result"] = to_json(status.result, include_output, sp);
    o["logs"] = core::is_valid_utf8(status.result.logs) ? status.result.logs
                                                        : core::base64_encode(status.result.logs);
    o["estimated_completion_ms"] = status.estimated_completion_ms;
    if (!core::is_terminal(status.result.status))
        o["estimate_source"] = core::to_string(status.source);
    if (!status.result.node.empty()) // also at the top, beside status: where it runs
        o["node"] = status.result.node;
    if (status.queue_position)
        o["queue_position"] = *status.queue_position;
    return o;
}

json::object to_json(const cancel_view& cancel) {
    json::object o;
    o["success"] = cancel.success;
    o["execution_id"] = cancel.execution_id;
    o["message"] = cancel.message;
    o["final_status"] = core::to_string(cancel.final_status);
    if (cancel.still_stopping)
        o["stopping"] = true;
    else if (!cancel.success) {
        json::object e;
        e["code"] = core::to_string(error_code::conflict);
        e["message"] = cancel.message;
        o["error"] = std::move(e);
    }
    return o;
}

json::object to_json(const core::list_page& page) {
    json::array items;
    items.reserve(page.executions.size());
    for (const auto& r : page.executions)
        items.push_back(to_json(r, false));
    json::object o;
    o["executions"] = std::move(items);
    o["has_more"] = page.has_more;
    o["next_start_after"] =
        page.has_more ? json::value(page.next_start_after) : json::value(nullptr);
    return o;
}

json::object to_json(const function_view& f) {
    const auto& c = *f.config;
    json::object o;
    o["name"] = c.name;
    o["runtime"] = f.spec ? std::string_view(f.spec->kind->name) : std::string_view(c.runtime);
    o["description"] = c.description;
    o["content_type"] = c.content_type;
    json::object limits;
    limits["timeout_ms"] = c.timeout_ms;
    limits["max_concurrency"] = c.max_concurrency;
    limits["effective_concurrency"] = f.effective_concurrency;
    limits["queue_depth"] = c.queue_depth;
    limits["priority"] = c.priority;
    o["limits"] = std::move(limits);
    json::object history;
    history["runs"] = f.runs;
    history["typical_ms"] = f.typical_ms;
    history["p95_ms"] = f.p95_ms;
    history["typical_queue_ms"] = f.typical_queue_ms;
    history["estimate_source"] = core::to_string(f.source);
    o["history"] = std::move(history);
    o["current_estimate_ms"] = f.current_estimate_ms;
    o["running"] = f.running;
    o["queued"] = f.queued;
    // The runtime's own fields, as its registry entry describes them.
    if (f.spec && f.spec->kind->describe)
        o["runtime_config"] = f.spec->kind->describe(*f.spec);
    return o;
}

std::string health_text(const health_view& h) {
    // Written straight into one string (no JSON values built, one allocation): /health is
    // the hottest route, polled by load balancers. Keys and order as the API documents them.
    std::string out;
    out.reserve(448);
    const auto key = [&](std::string_view k) {
        out.push_back('"');
        out.append(k);
        out.append("\":");
    };
    const auto number = [&](std::string_view k, auto v) {
        key(k);
        char digits[24];
        const auto end = std::to_chars(std::begin(digits), std::end(digits), v).ptr;
        out.append(digits, end);
        out.push_back(',');
    };
    const auto boolean = [&](std::string_view k, bool v) {
        key(k);
        out.append(v ? "true," : "false,");
    };
    const auto close = [&](char c) { out.back() = c; out.push_back(','); };
    out.push_back('{');
    key("status");
    out.append(h.ready ? "\"ok\"," : "\"shutting_down\",");
    boolean("live", true);
    boolean("ready", h.ready);
    number("uptime_ms", h.uptime_ms);
    number("running", h.running);
    number("pending", h.pending);
    key("status_table");
    out.push_back('{');
    number("records", h.records);
    number("capacity", h.capacity);
    number("evictions", h.evictions);
    key("by_status");
    out.push_back('{');
    for (auto s : core::all_statuses)
        number(core::to_string(s), h.by_status[static_cast<std::size_t>(s) - 1]);
    close('}');
    close('}');
    number("executions_started", h.executions_started);
    if (!h.runtimes.empty()) {
        key("runtimes");
        out.append(json::serialize(h.runtimes));
        out.push_back(',');
    }
    key("durable");
    out.push_back('{');
    boolean("enabled", h.durable);
    if (h.durable) {
        key("durability");
        out.append(json::serialize(json::string_view(h.durability)));
        out.push_back(',');
        boolean("degraded", h.durable_degraded);
        number("dropped_records", h.durable_dropped_records);
        number("file_bytes", h.durable_file_bytes);
    }
    close('}');
    for (const auto& [name, section] : h.sections) {
        key(name);
        out.append(section);
        out.push_back(',');
    }
    out.back() = '}';
    out.push_back('\n');
    return out;
}

const std::string& stream_event_text(const stream_event& event) {
    if (!event.encoded.empty())
        return event.encoded;
    json::object o;
    o["execution_id"] = event.execution_id;
    o["seq"] = event.seq;
    o["type"] = name_of(event.type);
    switch (event.type) {
    case stream_event::kind::status:
        o["status"] = core::to_string(event.status);
        o["is_final"] = false;
        break;
    case stream_event::kind::chunk:
        if (core::is_valid_utf8(event.bytes)) {
            o["chunk_data"] = event.bytes;
            o["encoding"] = "utf-8";
        } else {
            o["chunk_data"] = core::base64_encode(event.bytes);
            o["encoding"] = "base64";
        }
        if (event.replayed)
            o["replayed"] = true;
        o["is_final"] = false;
        break;
    case stream_event::kind::final: {
        o["is_final"] = true;
        const auto& r = *event.result;
        o["status"] = core::to_string(r.status);
        put_outcome(o, r);
        o["execution_time_ms"] = r.execution_time_ms;
        o["output_size"] = r.output_size;
        o["output_truncated"] = r.output_truncated;
        o["result"] = to_json(r, false);
        break;
    }
    }
    event.encoded = json::serialize(o);
    return event.encoded;
}

std::string dropped_notice_text(std::string_view execution_id, std::uint64_t dropped) {
    json::object o;
    o["type"] = dropped_message_name;
    o["execution_id"] = execution_id;
    o["dropped"] = dropped;
    o["is_final"] = false;
    return json::serialize(o);
}

std::string stream_error_text(const error& e) {
    auto o = error_body(e);
    o["type"] = "error";
    o["is_final"] = true;
    return json::serialize(o);
}

json::object error_body(const error& e) {
    json::object inner;
    inner["code"] = core::to_string(e.code);
    std::string message = e.message.empty() ? std::string(core::default_message(e.code)) : e.message;
    // A message may quote what a client sent; the body must stay valid JSON (UTF-8) anyway.
    if (!core::is_valid_utf8(message))
        for (auto& c : message)
            if (static_cast<unsigned char>(c) >= 0x80)
                c = '?';
    inner["message"] = std::move(message);
    json::object o;
    o["error"] = std::move(inner);
    return o;
}

std::string to_text(const json::object& object) {
    auto text = json::serialize(object);
    text.push_back('\n');
    return text;
}

} // namespace spear::service
