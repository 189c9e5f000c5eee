// HTTP routes: a request-to-response function over the execution service (docs/api.md).
#pragma once

#include "service/execution_service.hpp"
#include "transport/http/http_errors.hpp"
#include "transport/http/request_target.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <string_view>
#include <vector>

namespace spear::transport::http {

using request = beast_http::request<beast_http::string_body>;

/// The viewer page served at GET / (src/transport/http/viewer_page.html, embedded at build).
std::string_view viewer_page_html();
/// The OpenAPI 3.1 document served at GET /openapi.json (src/transport/http/openapi.json).
std::string_view openapi_json();

/// One row of the route table, as the API documents it (docs/api.md, /openapi.json).
struct route_description {
    beast_http::verb method;
    /// OpenAPI-style path template: "/executions/{execution_id}"; a "{...}" segment matches any
    /// one path segment.
    std::string_view path;
    /// True for the routes /stream and /executions/{id}/stream, which the stream endpoints
    /// (transport/ws) serve before the router sees the request.
    bool stream = false;
    /// False only for the routes open without the bearer token (/, /health, /monitoring/health).
    bool needs_token = true;
    std::string_view summary;
};

/// Every route the HTTP server answers, SPEAR-compatible aliases included, in dispatch order.
std::vector<route_description> route_table();

class router {
public:
    router(service::execution_service& service, const core::http_config& config);

    /// Answers one request. Sync invokes, long-polls and cancels await the service; nothing
    /// else suspends. Never throws for client errors: they become JSON error responses.
    boost::asio::awaitable<response> handle(request req);
    /// Bearer-token check (`Authorization: Bearer T`, or `?access_token=T` for browsers'
    /// WebSocket and EventSource, which cannot set headers): the client whose token it is
    /// (http.auth_token: the admin client "admin"; http.tokens: that client), or nullopt.
    /// With no token configured at all, every request is the default (admin) client.
    std::optional<core::client_identity> authenticate(const request& req) const;
    bool authorized(const request& req) const { return authenticate(req).has_value(); }

private:
    // One handler per row kind of the route table (http_routes.cpp).
    response serve_health(const request& req);
    response serve_page(const request& req);
    response serve_openapi(const request& req);
    response serve_stats(const request& req);
    response serve_metrics(const request& req);
    boost::asio::awaitable<response> serve_execute(request& req, core::client_identity who);
    boost::asio::awaitable<response> serve_raw_invoke(request& req, const request_target& t,
                                                      core::client_identity who);
    response serve_functions(const request& req);
    boost::asio::awaitable<response> serve_status(const request& req, const request_target& t,
                                                  core::client_identity who);
    boost::asio::awaitable<response> serve_cancel(const request& req, const request_target& t,
                                                  core::client_identity who);
    response serve_list(const request& req, const request_target& t,
                        const core::client_identity& who);

    service::execution_service& service_;
    const core::http_config& config_;
};

} // namespace spear::transport::http
