// Streaming endpoints taken over from an HTTP session: GET /stream (WebSocket invoke-and-
// stream) and GET /executions/{id}/stream (WebSocket or Server-Sent Events viewer).
#pragma once

#include "core/config.hpp"
#include "service/execution_service.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <functional>

namespace spear::transport::ws {

using request = boost::beast::http::request<boost::beast::http::string_body>;

/// True for the two streaming routes; the HTTP session then hands the connection over.
bool is_stream_route(const request& req);

/// Serves a streaming route to its end on `stream` (the connection is not reused for HTTP
/// afterwards). Writes plain HTTP errors itself (401, 404, 410, 400, 429) before any upgrade.
/// `authenticate` is the HTTP layer's bearer-token check: the client the request comes from,
/// or nullopt (401). A stream runs as that client; a viewer sees only its executions unless
/// it is an admin (another client's id answers 404).
boost::asio::awaitable<void>
serve_stream_route(boost::beast::tcp_stream& stream, request req,
                   service::execution_service& service, const core::config& config,
                   const std::function<std::optional<core::client_identity>(const request&)>&
                       authenticate);

} // namespace spear::transport::ws
