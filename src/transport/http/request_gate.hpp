// Browser defences checked on every request header before dispatch (docs/api.md "Browsers"):
// a Host allow-list against DNS rebinding, an Origin check against cross-site requests and
// WebSockets, and the JSON content-type rule for browser requests. Sans-io.
#pragma once

#include "core/config.hpp"
#include "core/error_code.hpp"

#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/message.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace spear::transport::http {

using request_header = boost::beast::http::request_header<>;

class request_gate {
public:
    explicit request_gate(const core::http_config& config);

    /// nullopt when the request may go on; otherwise a `forbidden` error whose message names
    /// the refused Host or Origin and the config field that would allow it. Rules:
    /// - Host: absent, an IP literal, "localhost" or an `http.allowed_hosts` entry ("name"
    ///   matches any port, "name:port" that port only; "*" matches all). A DNS name is what
    ///   a rebinding page must send; an IP literal cannot be rebound.
    /// - Origin (when present, on every method and every upgrade): the request's own origin
    ///   (Origin's host:port equals Host's, the port defaulting from Origin's scheme), or an
    ///   `http.allowed_origins` entry ("*" matches all). "null" is never same-origin.
    /// - No Origin, but `Sec-Fetch-Site: cross-site|same-site` on a method other than GET,
    ///   HEAD, OPTIONS: refused like a foreign Origin (a browser that left Origin out).
    std::optional<core::error> check(const request_header& req) const;

    /// True when the request comes from a browser page: it carries Origin or Sec-Fetch-*.
    static bool from_browser(const request_header& req);
    /// True when Content-Type's media type is application/json (parameters allowed).
    static bool is_json(const request_header& req);

private:
    struct host_entry {
        std::string name;                  ///< lowercase, no trailing dot; "[v6]" bracketed
        std::optional<std::uint16_t> port; ///< nullopt: any port
    };
    struct origin_value {
        std::string scheme; ///< lowercase
        std::string host;   ///< lowercase; "[v6]" bracketed
        std::uint16_t port = 0;
        bool operator==(const origin_value&) const = default;
    };

    static std::optional<origin_value> parse_origin(std::string_view text);

    bool any_host_ = false;
    bool any_origin_ = false;
    std::vector<host_entry> hosts_;
    std::vector<origin_value> origins_;
};

} // namespace spear::transport::http
