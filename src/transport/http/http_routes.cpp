// HTTP routes over the execution service: parse the target, call the service, encode JSON.
#include "transport/http/http_routes.hpp"
#include "transport/http/request_gate.hpp"
#include "transport/http/request_target.hpp"

#include "core/clock.hpp"
#include "core/execution_id.hpp"
#include "core/limits.hpp"
#include "core/runtime_history.hpp"
#include "service/json_codec.hpp"

#include <boost/json/monotonic_resource.hpp>

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

/// The JSON values of one response in a stack buffer, released at once, instead of an
/// allocation per member and string (a status body has ~25 members). Use it in a plain
/// function, not across a co_await (it would enlarge the coroutine's frame).
class json_arena {
public:
    boost::json::storage_ptr storage() noexcept { return boost::json::storage_ptr(&resource_); }

private:
    unsigned char buffer_[4096];
    boost::json::monotonic_resource resource_{buffer_, sizeof buffer_};
};

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

response status_response(const service::status_view& view, bool include_result,
                         const request& req) {
    json_arena arena;
    auto res = json_response(status::ok, service::to_json(view, include_result, arena.storage()),
                             req);
    set_execution_headers(res, view.result);
    if (!core::is_terminal(view.result.status))
        res.set(field::retry_after,
                std::to_string(core::retry_after_seconds(view.estimated_completion_ms)));
    return res;
}

response invoke_response(const core::RuntimeExecutionResponse& r, const request& req) {
    json_arena arena;
    auto res = json_response(invoke_status(r), service::to_json(r, arena.storage()), req);
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

std::optional<core::client_identity> router::authenticate(const request& req) const {
    if (config_.auth_token.empty() && config_.tokens.empty())
        return service_.client(0);
    std::string_view presented;
    std::string from_query; // keeps the decoded parameter alive
    const auto header = req[field::authorization];
    constexpr std::string_view scheme = "Bearer ";
    if (header.size() > scheme.size() && header.starts_with(scheme)) {
        presented = header.substr(scheme.size());
    } else {
        const auto parsed = parse_request_target(req.target());
        if (const auto* t = std::get_if<request_target>(&parsed))
            if (const auto token = t->param("access_token"))
                from_query = std::string(*token);
        presented = from_query;
    }
    if (presented.empty())
        return std::nullopt;
    // Every token is compared (in constant time each), so the time taken does not say which
    // one matched.
    std::optional<std::uint32_t> match;
    if (!config_.auth_token.empty() && constant_time_equal(presented, config_.auth_token))
        match = 0;
    for (std::size_t i = 0; i < config_.tokens.size(); ++i)
        if (constant_time_equal(presented, config_.tokens[i].token))
            match = static_cast<std::uint32_t>(i + 1);
    if (!match)
        return std::nullopt;
    return service_.client(*match);
}

namespace {

/// True if `t`'s segments match the path template ("{...}" matches any one segment).
bool path_matches(std::string_view path, const request_target& t) {
    std::size_t i = 0;
    while (!path.empty()) {
        path.remove_prefix(1); // '/'
        if (path.empty())
            break; // "/" itself
        const auto slash = path.find('/');
        const auto part = path.substr(0, slash);
        path = slash == std::string_view::npos ? std::string_view{} : path.substr(slash);
        if (i >= t.segments.size())
            return false;
        if (!part.starts_with('{') && part != t.segments[i])
            return false;
        ++i;
    }
    return i == t.segments.size();
}

/// Which handler a row calls; `none` for the stream routes (transport/ws serves them).
enum class handler_id {
    none,      ///< a stream route
    health,    ///< service health, 200 or 503
    page,      ///< the viewer page
    openapi,   ///< the OpenAPI document
    stats,     ///< SPEAR's monitoring totals
    metrics,   ///< Prometheus metrics
    execute,   ///< JSON invoke
    raw,       ///< raw-body invoke
    functions, ///< the function list
    status,    ///< one execution's status
    cancel,    ///< cancel one execution
    list,      ///< the execution list
};

struct route_row {
    route_description info;
    handler_id handler;
};

using verb_t = beast_http::verb;

// The one route table: dispatch, 405 `Allow` headers, route_table() and the OpenAPI test all
// read it. SPEAR gateway aliases sit next to the routes they alias.
const route_row routes[] = {
    {{verb_t::get, "/", false, false, "the viewer page"}, handler_id::page},
    {{verb_t::get, "/health", false, false, "liveness, readiness and counts"}, handler_id::health},
    {{verb_t::get, "/monitoring/health", false, false, "SPEAR alias of GET /health"},
     handler_id::health},
    {{verb_t::get, "/openapi.json", false, true, "this API as OpenAPI 3.1"}, handler_id::openapi},
    {{verb_t::get, "/api/openapi.json", false, true, "SPEAR alias of GET /openapi.json"},
     handler_id::openapi},
    {{verb_t::get, "/monitoring/stats", false, true, "SPEAR execution totals"}, handler_id::stats},
    {{verb_t::get, "/metrics", false, true, "Prometheus metrics (text format 0.0.4)"},
     handler_id::metrics},
    {{verb_t::post, "/functions/execute", false, true, "invoke a function (JSON)"},
     handler_id::execute},
    {{verb_t::post, "/functions/{name}/invoke", false, true, "invoke a function (raw body)"},
     handler_id::raw},
    {{verb_t::get, "/functions", false, true, "the configured functions"}, handler_id::functions},
    {{verb_t::get, "/status/{execution_id}", false, true, "an execution's status"},
     handler_id::status},
    {{verb_t::get, "/executions/{execution_id}", false, true, "alias of GET /status/{id}"},
     handler_id::status},
    {{verb_t::get, "/functions/executions/{execution_id}", false, true,
      "SPEAR alias of GET /status/{id}"},
     handler_id::status},
    {{verb_t::delete_, "/executions/{execution_id}", false, true, "cancel an execution"},
     handler_id::cancel},
    {{verb_t::post, "/executions/{execution_id}/cancel", false, true, "cancel an execution"},
     handler_id::cancel},
    {{verb_t::post, "/functions/executions/{execution_id}/cancel", false, true,
      "SPEAR alias of POST /executions/{id}/cancel"},
     handler_id::cancel},
    {{verb_t::get, "/executions", false, true, "list executions"}, handler_id::list},
    {{verb_t::get, "/stream", true, true, "invoke over a WebSocket, output streamed"},
     handler_id::none},
    {{verb_t::get, "/executions/{execution_id}/stream", true, true,
      "watch an execution (WebSocket or SSE)"},
     handler_id::none},
};

} // namespace

std::vector<route_description> route_table() {
    std::vector<route_description> out;
    for (const auto& r : routes)
        out.push_back(r.info);
    return out;
}

asio::awaitable<response> router::handle(request req) {
    const auto parsed = parse_request_target(req.target());
    if (const auto* bad = std::get_if<error>(&parsed))
        co_return error_response(*bad, req);
    const auto& t = std::get<request_target>(parsed);
    const auto method = req.method();

    const route_row* found = nullptr;
    std::string allow; // methods of the rows whose path matches, for a 405
    bool path_needs_token = true;
    for (const auto& r : routes) {
        if (!path_matches(r.info.path, t))
            continue;
        if (r.info.method == method && r.handler != handler_id::none) {
            found = &r;
            break;
        }
        path_needs_token = path_needs_token && r.info.needs_token;
        const auto name = beast_http::to_string(r.info.method);
        if (allow.find(name) == std::string::npos)
            allow += (allow.empty() ? "" : ", ") + std::string(name);
    }
    if (!found) {
        if (!allow.empty() && (!path_needs_token || authorized(req)))
            co_return method_not_allowed(req, allow);
        if (!authorized(req))
            co_return error_response(error::make(error_code::unauthorized), req);
        co_return error_response(
            error::make(error_code::route_not_found,
                        "no endpoint " + std::string(req.method_string()) + " " +
                            std::string(req.target().substr(0, 200)) + "; see docs/api.md"),
            req);
    }
    const auto who = authenticate(req);
    if (found->info.needs_token && !who)
        co_return error_response(error::make(error_code::unauthorized), req);

    switch (found->handler) {
    case handler_id::health: co_return serve_health(req);
    case handler_id::page: co_return serve_page(req);
    case handler_id::openapi: co_return serve_openapi(req);
    case handler_id::stats: co_return serve_stats(req);
    case handler_id::metrics: co_return serve_metrics(req);
    case handler_id::execute: co_return co_await serve_execute(req, *who);
    case handler_id::raw: co_return co_await serve_raw_invoke(req, t, *who);
    case handler_id::functions: co_return serve_functions(req);
    case handler_id::status: co_return co_await serve_status(req, t, *who);
    case handler_id::cancel: co_return co_await serve_cancel(req, t, *who);
    case handler_id::list: co_return serve_list(req, t, *who);
    case handler_id::none: break;
    }
    co_return error_response(error::make(error_code::internal), req);
}

response router::serve_health(const request& req) {
    const auto h = service_.health();
    response res{h.ready ? status::ok : status::service_unavailable, req.version()};
    res.set(field::content_type, "application/json");
    res.keep_alive(req.keep_alive());
    res.body() = service::health_text(h);
    res.prepare_payload();
    return res;
}

response router::serve_page(const request& req) {
    // The viewer page; its API calls carry the token.
    response page{status::ok, req.version()};
    page.set(field::content_type, "text/html; charset=utf-8");
    page.set(field::cache_control, "no-cache");
    page.keep_alive(req.keep_alive());
    page.body() = std::string(viewer_page_html());
    page.prepare_payload();
    return page;
}

response router::serve_openapi(const request& req) {
    response res{status::ok, req.version()};
    res.set(field::content_type, "application/json");
    res.keep_alive(req.keep_alive());
    res.body() = std::string(openapi_json());
    res.prepare_payload();
    return res;
}

response router::serve_stats(const request& req) {
    // SPEAR's monitoring totals. `total` counts every execution accepted since start; the
    // outcome counts are the status table's records (evicted records no longer count).
    const auto h = service_.health();
    const auto count = [&](core::ExecutionStatus s) {
        return h.by_status[static_cast<std::size_t>(s) - 1];
    };
    boost::json::object body;
    body["total_executions"] = h.executions_started;
    body["successful_executions"] = count(core::ExecutionStatus::completed);
    body["failed_executions"] =
        count(core::ExecutionStatus::failed) + count(core::ExecutionStatus::timeout);
    body["cancelled_executions"] = count(core::ExecutionStatus::cancelled);
    body["active_executions"] = h.running + h.pending;
    body["running_executions"] = h.running;
    body["pending_executions"] = h.pending;
    body["uptime_ms"] = h.uptime_ms;
    body["timestamp"] = core::format_rfc3339(std::chrono::system_clock::now());
    return json_response(status::ok, body, req);
}

response router::serve_metrics(const request& req) {
    // Prometheus text format; the bearer token applies as to the API.
    response out{status::ok, req.version()};
    out.set(field::content_type, "text/plain; version=0.0.4; charset=utf-8");
    out.set(field::cache_control, "no-store");
    out.keep_alive(req.keep_alive());
    out.body() = service_.render_metrics();
    out.prepare_payload();
    return out;
}

asio::awaitable<response> router::serve_execute(request& req, core::client_identity who) {
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
    invoke.client = std::move(who);
    apply_prefer(req, invoke);
    auto result = co_await service_.invoke_function(std::move(invoke));
    if (auto* refused = std::get_if<error>(&result))
        co_return error_response(*refused, req);
    co_return invoke_response(std::get<core::RuntimeExecutionResponse>(result), req);
}

asio::awaitable<response> router::serve_raw_invoke(request& req, const request_target& t,
                                                   core::client_identity who) {
    // Raw body in, raw output out (sync by default).
    core::InvokeFunctionRequest invoke;
    invoke.function_name = t.segments[1];
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
            co_return error_response(
                error::make(error_code::invalid_request, "timeout_ms: must be a positive integer"),
                req);
        invoke.timeout_ms = static_cast<std::uint32_t>(*v);
    }
    if (auto id = t.param("execution_id"))
        invoke.client_execution_id = std::string(*id);
    if (auto priority = t.param("priority")) {
        auto v = parse_int(*priority);
        if (!v)
            co_return error_response(
                error::make(error_code::invalid_request,
                            "priority: must be an integer in 0.." +
                                std::to_string(core::limits::priority_max)),
                req);
        invoke.priority = *v; // the range is checked by the service
    }
    invoke.client = std::move(who);
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

response router::serve_functions(const request& req) {
    boost::json::array items;
    for (const auto& f : service_.functions())
        items.push_back(service::to_json(f));
    boost::json::object body;
    body["functions"] = std::move(items);
    return json_response(status::ok, body, req);
}

asio::awaitable<response> router::serve_status(const request& req, const request_target& t,
                                               core::client_identity who) {
    const auto& id = t.segments.back();
    bool include_result = true;
    if (auto v = t.param("include_result")) {
        if (*v == "false" || *v == "0")
            include_result = false;
        else if (*v != "true" && *v != "1")
            co_return error_response(
                error::make(error_code::invalid_request, "include_result: must be true or false"),
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
        found = co_await service_.wait_status(id, std::chrono::milliseconds(capped),
                                              include_result, std::move(who));
    } else if (service_.clustered()) {
        // Another node's execution may not be mirrored here yet: the cluster reads it.
        found = co_await service_.wait_status(id, std::chrono::milliseconds(0), include_result,
                                              std::move(who));
    } else {
        found = service_.get_status(id, include_result, who);
    }
    if (auto* missing = std::get_if<error>(&found))
        co_return error_response(*missing, req);
    co_return status_response(std::get<service::status_view>(found), include_result, req);
}

asio::awaitable<response> router::serve_cancel(const request& req, const request_target& t,
                                               core::client_identity who) {
    // The id is the segment after "executions" in every cancel path.
    const auto& s = t.segments;
    const auto at = std::find(s.begin(), s.end(), "executions");
    const std::string id = at + 1 < s.end() ? *(at + 1) : std::string{};
    auto outcome = co_await service_.cancel(id, "requested by a client", std::move(who));
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

response router::serve_list(const request& req, const request_target& t,
                            const core::client_identity& who) {
    core::list_query query;
    if (auto f = t.param("function"); f && !f->empty())
        query.function_name = std::string(*f);
    if (auto c = t.param("client"); c && !c->empty())
        query.client = std::string(*c); // a non-admin client's own name is forced by the service
    if (auto st = t.param("status"); st && !st->empty()) {
        auto parsed_status = core::parse_execution_status(*st);
        if (!parsed_status)
            return error_response(error::make(error_code::invalid_request,
                                              "status: must be one of pending, running, "
                                              "completed, failed, cancelled, timeout"),
                                  req);
        query.status = *parsed_status;
    }
    if (auto l = t.param("limit")) {
        auto v = parse_int(*l);
        constexpr auto page_max = core::limits::list_page_records_max;
        if (!v || *v < 1 || *v > static_cast<std::int64_t>(page_max))
            return error_response(error::make(error_code::invalid_request,
                                              "limit: must be in 1.." + std::to_string(page_max)),
                                  req);
        query.limit = static_cast<std::size_t>(*v);
    }
    if (auto after = t.param("start_after"); after && !after->empty()) {
        auto id = core::parse_execution_id(*after);
        if (!id)
            return error_response(
                error::make(error_code::invalid_request,
                            "start_after: must be an execution id from next_start_after"),
                req);
        query.start_after_seq = id->seq;
    }
    return json_response(status::ok, service::to_json(service_.list(std::move(query), who)), req);
}

} // namespace spear::transport::http
