// HTTP routes over the execution service: parse the target, call the service, encode JSON.
#include "transport/http/http_routes.hpp"
#include "transport/http/request_gate.hpp"
#include "transport/http/request_target.hpp"

#include "core/execution_id.hpp"
#include "core/limits.hpp"
#include "core/runtime_history.hpp"
#include "service/json_codec.hpp"

#include <algorithm>
#include <charconv>
#include <vector>

namespace spear::transport::http {

namespace asio = boost::asio;
using core::error;
using core::error_code;
using beast_http::field;
using beast_http::status;
using beast_http::verb;

namespace {

response json_response(status code, const boost::json::object& body, const request& req) {
    response res{code, req.version()};
    res.set(field::content_type, "application/json");
    res.keep_alive(req.keep_alive());
    res.body() = service::to_text(body);
    res.prepare_payload();
    return res;
}

response error_response(const error& e, const request& req) {
    return make_error_response(e, req.version(), req.keep_alive());
}

std::optional<std::int64_t> parse_int(std::string_view text) {
    std::int64_t v = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc{} || ptr != text.data() + text.size() || text.empty())
        return std::nullopt;
    return v;
}

/// Status of an invoke response: 200 completed, the error's status when failed, 504 timeout,
/// 409 cancelled, 202 accepted.
status invoke_status(const core::RuntimeExecutionResponse& r) {
    if (r.is_async)
        return status::accepted;
    switch (r.result.status) {
    case core::ExecutionStatus::completed: return status::ok;
    case core::ExecutionStatus::timeout: return status::gateway_timeout;
    case core::ExecutionStatus::cancelled: return status::conflict;
    case core::ExecutionStatus::failed:
        return status_for(r.result.error == error_code::none ? error_code::function_failed
                                                             : r.result.error);
    case core::ExecutionStatus::pending:
    case core::ExecutionStatus::running: return status::accepted; // sync wait bound reached
    }
    return status::internal_server_error;
}

void set_execution_headers(response& res, const core::ExecutionResult& r) {
    res.set("X-Execution-Id", r.execution_id);
    res.set("X-Execution-Status", core::to_string(r.status));
    res.set("X-Execution-Time-Ms", std::to_string(r.execution_time_ms));
}

response invoke_response(const core::RuntimeExecutionResponse& r, const request& req) {
    auto res = json_response(invoke_status(r), service::to_json(r), req);
    set_execution_headers(res, r.result);
    if (r.is_async) {
        if (r.metadata.contains("promoted"))
            res.set("Preference-Applied", "respond-async");
        res.set(field::location, r.status_endpoint);
        res.set(field::retry_after,
                std::to_string(core::retry_after_seconds(r.estimated_completion_ms)));
    }
    return res;
}

response method_not_allowed(const request& req, std::string_view allow) {
    auto res = error_response(error::make(error_code::method_not_allowed,
                                          "use " + std::string(allow) + " on this endpoint"),
                              req);
    res.set(field::allow, allow);
    return res;
}

/// RFC 7240 preferences: "respond-async" and "wait=N" (seconds), from any Prefer header.
struct preferences {
    bool respond_async = false;
    std::optional<std::uint32_t> wait_s; ///< at most limits::prefer_wait_s_max
};

preferences parse_prefer(const request& req) {
    preferences p;
    for (const auto& f : req) {
        if (f.name() != field::prefer)
            continue;
        std::string_view v = f.value();
        while (!v.empty()) {
            const auto comma = v.find(',');
            auto token = v.substr(0, comma);
            while (!token.empty() && token.front() == ' ')
                token.remove_prefix(1);
            while (!token.empty() && token.back() == ' ')
                token.remove_suffix(1);
            if (token == "respond-async")
                p.respond_async = true;
            else if (token.starts_with("wait=")) {
                // Digits only; a value above the ceiling (however many digits) is capped to it
                // here, once, so nothing downstream can overflow. Anything else is ignored
                // (RFC 7240: a preference that cannot be honoured is not an error).
                const auto digits = token.substr(5);
                const bool numeric =
                    !digits.empty() && digits.find_first_not_of("0123456789") == digits.npos;
                if (numeric) {
                    std::uint32_t seconds = 0;
                    const auto [ptr, ec] =
                        std::from_chars(digits.data(), digits.data() + digits.size(), seconds);
                    p.wait_s = ec == std::errc{}
                                   ? std::min(seconds, core::limits::prefer_wait_s_max)
                                   : core::limits::prefer_wait_s_max;
                }
            }
            if (comma == std::string_view::npos)
                break;
            v.remove_prefix(comma + 1);
        }
    }
    return p;
}

/// Applies Prefer to a sync invoke: "respond-async" alone makes it async; with "wait=N" it
/// stays sync for up to N seconds and is answered as async (202) if not finished by then.
void apply_prefer(const request& req, core::InvokeFunctionRequest& invoke) {
    const auto p = parse_prefer(req);
    if (!p.respond_async || invoke.execution_mode != core::ExecutionMode::sync)
        return;
    if (p.wait_s)
        invoke.respond_async_after_ms = *p.wait_s * 1000u; // <= 3'600'000: no overflow
    else
        invoke.execution_mode = core::ExecutionMode::async;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
    if (a.size() != b.size())
        return false;
    unsigned char diff = 0;
    for (std::size_t i = 0; i < a.size(); ++i)
        diff = static_cast<unsigned char>(diff | (a[i] ^ b[i]));
    return diff == 0;
}

} // namespace

router::router(service::execution_service& service, const core::http_config& config)
    : service_(service), config_(config) {}

bool router::authorized(const request& req) const {
    if (config_.auth_token.empty())
        return true;
    const auto header = req[field::authorization];
    constexpr std::string_view scheme = "Bearer ";
    if (header.size() > scheme.size() && header.starts_with(scheme))
        return constant_time_equal(header.substr(scheme.size()), config_.auth_token);
    const auto parsed = parse_request_target(req.target());
    if (const auto* t = std::get_if<request_target>(&parsed))
        if (const auto token = t->param("access_token"))
            return constant_time_equal(*token, config_.auth_token);
    return false;
}

asio::awaitable<response> router::handle(request req) {
    const auto parsed = parse_request_target(req.target());
    if (const auto* bad = std::get_if<error>(&parsed))
        co_return error_response(*bad, req);
    const auto& t = std::get<request_target>(parsed);
    const auto& s = t.segments;
    const auto method = req.method();

    if (t.matches({"health"})) {
        if (method != verb::get)
            co_return method_not_allowed(req, "GET");
        const auto h = service_.health();
        co_return json_response(h.ready ? status::ok : status::service_unavailable,
                                service::to_json(h), req);
    }
    if (s.empty() && method == verb::get) { // the viewer page; its API calls carry the token
        response page{status::ok, req.version()};
        page.set(field::content_type, "text/html; charset=utf-8");
        page.set(field::cache_control, "no-cache");
        page.keep_alive(req.keep_alive());
        page.body() = std::string(viewer_page_html());
        page.prepare_payload();
        co_return page;
    }
    if (!authorized(req))
        co_return error_response(error::make(error_code::unauthorized), req);

    if (t.matches({"metrics"})) { // Prometheus text format; bearer token like the API
        if (method != verb::get)
            co_return method_not_allowed(req, "GET");
        response out{status::ok, req.version()};
        out.set(field::content_type, "text/plain; version=0.0.4; charset=utf-8");
        out.set(field::cache_control, "no-store");
        out.keep_alive(req.keep_alive());
        out.body() = service_.render_metrics();
        out.prepare_payload();
        co_return out;
    }

    // POST /functions/execute
    if (t.matches({"functions", "execute"})) {
        if (method != verb::post)
            co_return method_not_allowed(req, "POST");
        // A page can send text/plain or a form without a preflight; a JSON body cannot. Plain
        // clients (curl -d sends a form type) have no Origin or Sec-Fetch-* and pass.
        if (request_gate::from_browser(req) && !request_gate::is_json(req))
            co_return error_response(
                error::make(error_code::unsupported_media_type,
                            "a browser request to /functions/execute must send Content-Type: "
                            "application/json (got '" +
                                std::string(req[field::content_type].substr(0, 80)) + "')"),
                req);
        auto parsed_request = service::parse_invoke_request(req.body());
        if (auto* bad = std::get_if<error>(&parsed_request))
            co_return error_response(*bad, req);
        auto invoke = std::get<core::InvokeFunctionRequest>(std::move(parsed_request));
        apply_prefer(req, invoke);
        auto result = co_await service_.invoke_function(std::move(invoke));
        if (auto* refused = std::get_if<error>(&result))
            co_return error_response(*refused, req);
        co_return invoke_response(std::get<core::RuntimeExecutionResponse>(result), req);
    }

    // POST /functions/{name}/invoke : raw body in, raw output out (sync)
    if (t.matches({"functions", "*", "invoke"})) {
        if (method != verb::post)
            co_return method_not_allowed(req, "POST");
        core::InvokeFunctionRequest invoke;
        invoke.function_name = s[1];
        invoke.input = std::move(req.body());
        invoke.input_content_type = std::string(req[field::content_type]);
        invoke.execution_mode = core::ExecutionMode::sync;
        if (auto mode = t.param("mode")) {
            auto m = core::parse_execution_mode(*mode);
            if (!m)
                co_return error_response(
                    error::make(error_code::unknown_execution_mode,
                                "mode: unknown mode '" + std::string(mode->substr(0, 40)) + "'; " +
                                    std::string(core::valid_modes_text)),
                    req);
            invoke.execution_mode = *m;
        }
        apply_prefer(req, invoke);
        if (auto timeout = t.param("timeout_ms")) {
            auto v = parse_int(*timeout);
            if (!v || *v <= 0 || *v > UINT32_MAX)
                co_return error_response(error::make(error_code::invalid_request,
                                                     "timeout_ms: must be a positive integer"),
                                         req);
            invoke.timeout_ms = static_cast<std::uint32_t>(*v);
        }
        if (auto id = t.param("execution_id"))
            invoke.client_execution_id = std::string(*id);
        auto result = co_await service_.invoke_function(std::move(invoke));
        if (auto* refused = std::get_if<error>(&result))
            co_return error_response(*refused, req);
        const auto& r = std::get<core::RuntimeExecutionResponse>(result);
        if (r.is_async)
            co_return invoke_response(r, req);
        response res;
        if (r.result.status == core::ExecutionStatus::completed) {
            res = response{status::ok, req.version()};
            res.set(field::content_type, r.result.content_type);
            res.keep_alive(req.keep_alive());
            res.body() = r.result.output;
            if (r.result.output_truncated)
                res.set("X-Output-Truncated", std::to_string(r.result.output_size));
            res.prepare_payload();
        } else {
            auto body = service::error_body(error::make(
                r.result.error == error_code::none ? error_code::function_failed : r.result.error,
                r.result.error_message));
            body["result"] = service::to_json(r.result, true);
            res = json_response(invoke_status(r), body, req);
        }
        set_execution_headers(res, r.result);
        co_return res;
    }

    // GET /functions
    if (t.matches({"functions"})) {
        if (method != verb::get)
            co_return method_not_allowed(req, "GET");
        boost::json::array items;
        for (const auto& f : service_.functions())
            items.push_back(service::to_json(f));
        boost::json::object body;
        body["functions"] = std::move(items);
        co_return json_response(status::ok, body, req);
    }

    // GET /status/{id}, GET|DELETE /executions/{id}
    const bool status_route = t.matches({"status", "*"});
    const bool execution_route = t.matches({"executions", "*"});
    if ((status_route || execution_route) && method == verb::get) {
        bool include_result = true;
        if (auto v = t.param("include_result")) {
            if (*v == "false" || *v == "0")
                include_result = false;
            else if (*v != "true" && *v != "1")
                co_return error_response(error::make(error_code::invalid_request,
                                                     "include_result: must be true or false"),
                                         req);
        }
        std::variant<service::status_view, error> found;
        if (auto wait = t.param("wait_ms")) {
            auto v = parse_int(*wait);
            if (!v || *v < 0)
                co_return error_response(
                    error::make(error_code::invalid_request,
                                "wait_ms: must be a non-negative integer (capped at " +
                                    std::to_string(config_.max_long_poll_ms) + ")"),
                    req);
            const auto capped = std::min<std::int64_t>(*v, config_.max_long_poll_ms);
            found = co_await service_.wait_status(s[1], std::chrono::milliseconds(capped),
                                                  include_result);
        } else {
            found = service_.get_status(s[1], include_result);
        }
        if (auto* missing = std::get_if<error>(&found))
            co_return error_response(*missing, req);
        const auto& view = std::get<service::status_view>(found);
        auto res = json_response(status::ok, service::to_json(view, include_result), req);
        set_execution_headers(res, view.result);
        if (!core::is_terminal(view.result.status))
            res.set(field::retry_after,
                    std::to_string(core::retry_after_seconds(view.estimated_completion_ms)));
        co_return res;
    }
    const bool cancel_route = t.matches({"executions", "*", "cancel"});
    if ((execution_route && method == verb::delete_) || (cancel_route && method == verb::post)) {
        auto outcome = co_await service_.cancel(s[1], "requested by a client");
        if (auto* missing = std::get_if<error>(&outcome))
            co_return error_response(*missing, req);
        const auto& view = std::get<service::cancel_view>(outcome);
        const auto code = view.success          ? status::ok
                          : view.still_stopping ? status::accepted
                                                : status::conflict;
        auto res = json_response(code, service::to_json(view), req);
        res.set("X-Execution-Id", view.execution_id);
        co_return res;
    }
    if (status_route || execution_route)
        co_return method_not_allowed(req, status_route ? "GET" : "GET, DELETE");
    if (cancel_route)
        co_return method_not_allowed(req, "POST");

    // GET /executions
    if (t.matches({"executions"})) {
        if (method != verb::get)
            co_return method_not_allowed(req, "GET");
        core::list_query query;
        if (auto f = t.param("function"); f && !f->empty())
            query.function_name = std::string(*f);
        if (auto st = t.param("status"); st && !st->empty()) {
            auto parsed_status = core::parse_execution_status(*st);
            if (!parsed_status)
                co_return error_response(
                    error::make(error_code::invalid_request,
                                "status: must be one of pending, running, completed, failed, "
                                "cancelled, timeout"),
                    req);
            query.status = *parsed_status;
        }
        if (auto l = t.param("limit")) {
            auto v = parse_int(*l);
            constexpr auto page_max = core::limits::list_page_records_max;
            if (!v || *v < 1 || *v > static_cast<std::int64_t>(page_max))
                co_return error_response(
                    error::make(error_code::invalid_request,
                                "limit: must be in 1.." + std::to_string(page_max)),
                    req);
            query.limit = static_cast<std::size_t>(*v);
        }
        if (auto after = t.param("start_after"); after && !after->empty()) {
            auto id = core::parse_execution_id(*after);
            if (!id)
                co_return error_response(
                    error::make(error_code::invalid_request,
                                "start_after: must be an execution id from next_start_after"),
                    req);
            query.start_after_seq = id->seq;
        }
        co_return json_response(status::ok, service::to_json(service_.list(query)), req);
    }

    co_return error_response(
        error::make(error_code::route_not_found,
                    "no endpoint " + std::string(req.method_string()) + " " +
                        std::string(req.target().substr(0, 200)) + "; see docs/api.md"),
        req);
}

} // namespace spear::transport::http
