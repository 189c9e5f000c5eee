// HTTP routes: a request-to-response function over the execution service (docs/api.md).
#pragma once

#include "service/execution_service.hpp"
#include "transport/http/http_errors.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

namespace spear::transport::http {

using request = beast_http::request<beast_http::string_body>;

class router {
public:
    router(service::execution_service& service, const core::http_config& config);

    /// Answers one request. Sync invokes, long-polls and cancels await the service; nothing
    /// else suspends. Never throws for client errors: they become JSON error responses.
    boost::asio::awaitable<response> handle(request req);

private:
    bool authorized(const request& req) const;

    service::execution_service& service_;
    const core::http_config& config_;
};

} // namespace spear::transport::http
