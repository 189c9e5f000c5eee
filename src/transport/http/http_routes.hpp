// HTTP routes: a request-to-response function over the execution service (docs/api.md).
#pragma once

#include "service/execution_service.hpp"
#include "transport/http/http_errors.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

namespace spear::transport::http {

using request = beast_http::request<beast_http::string_body>;

/// The viewer page served at GET / (src/transport/http/viewer_page.html, embedded at build).
std::string_view viewer_page_html();

class router {
public:
    router(service::execution_service& service, const core::http_config& config);

    /// Answers one request. Sync invokes, long-polls and cancels await the service; nothing
    /// else suspends. Never throws for client errors: they become JSON error responses.
    boost::asio::awaitable<response> handle(request req);
    /// Bearer-token check (`Authorization: Bearer T`, or `?access_token=T` for browsers'
    /// WebSocket and EventSource, which cannot set headers). True when no token is configured.
    bool authorized(const request& req) const;

private:
    service::execution_service& service_;
    const core::http_config& config_;
};

} // namespace spear::transport::http
