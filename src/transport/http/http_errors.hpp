// The one place where the protocol-neutral error enum becomes HTTP status codes and bodies.
#pragma once

#include "core/error_code.hpp"

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/string_body.hpp>

namespace spear::transport::http {

namespace beast_http = boost::beast::http;
using response = beast_http::response<beast_http::string_body>;

/// docs/api.md error table (plus route_not_found 404, method_not_allowed 405, unavailable 503,
/// forbidden 403, unsupported_media_type 415).
beast_http::status status_for(core::error_code code) noexcept;

/// A JSON error response {"error": {code, message}} with Retry-After when the error has one.
response make_error_response(const core::error& e, unsigned version, bool keep_alive);

} // namespace spear::transport::http
