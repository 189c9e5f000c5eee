// The one request-target parser: an origin-form target ("/a/b?x=1") into decoded path segments
// and query parameters, shared by the HTTP routes and the /stream endpoints.
#pragma once

#include "core/error_code.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace spear::transport::http {

/// What a route needs from the request line, decoded once (percent-escapes resolved).
struct request_target {
    /// Path segments without the empty ones: "/a//b/" and "/a/b" both give {"a", "b"}.
    std::vector<std::string> segments;
    /// Query parameters in order; a key without '=' has an empty value.
    std::vector<std::pair<std::string, std::string>> params;

    /// The first value of `name`, if the query has it.
    std::optional<std::string_view> param(std::string_view name) const;
    /// True if the segments are exactly `expected` ("*" matches any one segment).
    bool matches(std::initializer_list<std::string_view> expected) const;
};

/// Parses an origin-form target (RFC 9112 §3.2.1). Anything else (an absolute URL, "*", a bad
/// percent-escape, a space) is an invalid_request error with a client-safe message.
std::variant<request_target, core::error> parse_request_target(std::string_view text);

} // namespace spear::transport::http
