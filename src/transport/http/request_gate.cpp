// Host, Origin and content-type checks against browser attacks (DNS rebinding, CSRF,
// cross-site WebSocket hijacking).
#include "transport/http/request_gate.hpp"

#include <boost/beast/core/string.hpp>
#include <boost/url/parse.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>

namespace spear::transport::http {

namespace urls = boost::urls;
namespace beast_http = boost::beast::http;
using core::error;
using core::error_code;

namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

/// At most `n` bytes of client text for an error message (the JSON encoder escapes it).
/// A header value as an error message quotes it: its first `n` bytes, each byte outside
/// printable ASCII shown as '?' (the message goes into a JSON string: no raw bytes).
std::string quoted(std::string_view text, std::size_t n = 100) {
    std::string out = "'";
    for (const char c : text.substr(0, n))
        out.push_back(c >= 0x20 && c < 0x7f ? c : '?');
    return out + (text.size() > n ? "...'" : "'");
}

std::uint16_t default_port(std::string_view scheme) { return scheme == "https" ? 443 : 80; }

/// 1..65535 in decimal; Boost.URL's port_number() wraps larger values, so parse here.
std::optional<std::uint16_t> parse_port(std::string_view text) {
    std::uint32_t v = 0;
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc{} || ptr != text.data() + text.size() || v == 0 || v > 65535)
        return std::nullopt;
    return static_cast<std::uint16_t>(v);
}

/// A parsed Host header (or allowed_hosts entry): name plus optional port.
struct host_value {
    std::string name; ///< lowercase; IPv6 kept in brackets
    bool ip_literal = false;
    std::optional<std::uint16_t> port;
};

std::optional<host_value> parse_host(std::string_view text) {
    auto parsed = urls::parse_authority(text);
    if (!parsed || parsed->has_userinfo() || parsed->host_type() == urls::host_type::none)
        return std::nullopt;
    host_value h;
    h.name = lower(std::string_view(parsed->encoded_host()));
    h.ip_literal = parsed->host_type() != urls::host_type::name;
    if (parsed->has_port() && !parsed->port().empty()) {
        h.port = parse_port(parsed->port());
        if (!h.port)
            return std::nullopt;
    }
    return h;
}

bool safe_method(beast_http::verb v) {
    return v == beast_http::verb::get || v == beast_http::verb::head ||
           v == beast_http::verb::options;
}

} // namespace

request_gate::request_gate(const core::http_config& config) {
    for (const auto& entry : config.allowed_hosts) {
        if (entry == "*") {
            any_host_ = true;
            continue;
        }
        if (auto h = parse_host(entry)) {
            if (!h->ip_literal && h->name.ends_with('.'))
                h->name.pop_back();
            hosts_.push_back({std::move(h->name), h->port});
        }
    }
    for (const auto& entry : config.allowed_origins) {
        if (entry == "*")
            any_origin_ = true;
        else if (auto o = parse_origin(entry))
            origins_.push_back(std::move(*o));
    }
}

std::optional<request_gate::origin_value> request_gate::parse_origin(std::string_view text) {
    auto parsed = urls::parse_absolute_uri(text);
    if (!parsed || parsed->has_userinfo() || !parsed->encoded_path().empty() ||
        parsed->has_query() || parsed->has_fragment() ||
        parsed->host_type() == urls::host_type::none)
        return std::nullopt;
    origin_value o;
    o.scheme = lower(std::string_view(parsed->scheme()));
    if (o.scheme != "http" && o.scheme != "https")
        return std::nullopt;
    o.host = lower(std::string_view(parsed->encoded_host()));
    o.port = default_port(o.scheme);
    if (parsed->has_port() && !parsed->port().empty()) {
        const auto port = parse_port(parsed->port());
        if (!port)
            return std::nullopt;
        o.port = *port;
    }
    return o;
}

std::optional<error> request_gate::check(const request_header& req) const {
    // Host: a DNS-rebinding page reaches us under its own name; refuse names we do not serve.
    const auto host_it = req.find(beast_http::field::host);
    std::optional<host_value> host;
    if (host_it != req.end()) {
        const std::string_view raw = host_it->value();
        host = parse_host(raw);
        bool ok = any_host_;
        if (!ok && host) {
            auto name = host->name;
            if (!host->ip_literal && name.ends_with('.'))
                name.pop_back();
            ok = host->ip_literal || name == "localhost" ||
                 std::any_of(hosts_.begin(), hosts_.end(), [&](const host_entry& e) {
                     return e.name == name && (!e.port || e.port == host->port);
                 });
        }
        if (!ok)
            return error::make(error_code::forbidden,
                               "Host " + quoted(raw) +
                                   " is not served here: add it to http.allowed_hosts "
                                   "(loopback names and IP addresses are always allowed)");
    }

    // Origin: a page may talk to the origin it came from, and to nothing else unless listed.
    const auto origin_it = req.find(beast_http::field::origin);
    if (origin_it == req.end()) {
        const auto site = req["Sec-Fetch-Site"];
        if (!any_origin_ && !safe_method(req.method()) &&
            (boost::beast::iequals(site, "cross-site") || boost::beast::iequals(site, "same-site")))
            return error::make(error_code::forbidden,
                               "a " + std::string(site) +
                                   " browser request without an Origin header is refused");
        return std::nullopt;
    }
    if (any_origin_)
        return std::nullopt;
    const std::string_view raw_origin = origin_it->value();
    if (const auto origin = parse_origin(raw_origin)) {
        // Raw names: "name." and "name" are different origins to a browser too.
        if (host && host->name == origin->host &&
                 host->port.value_or(default_port(origin->scheme)) == origin->port)
            return std::nullopt;
        if (std::find(origins_.begin(), origins_.end(), *origin) != origins_.end())
            return std::nullopt;
    }
    return error::make(error_code::forbidden,
                       "cross-origin request from " + quoted(raw_origin) +
                           " refused: add that origin to http.allowed_origins to allow its pages");
}

bool request_gate::from_browser(const request_header& req) {
    return req.find(beast_http::field::origin) != req.end() ||
           req.find("Sec-Fetch-Site") != req.end() || req.find("Sec-Fetch-Mode") != req.end();
}

bool request_gate::is_json(const request_header& req) {
    std::string_view type = req[beast_http::field::content_type];
    type = type.substr(0, type.find(';'));
    while (!type.empty() && (type.back() == ' ' || type.back() == '\t'))
        type.remove_suffix(1);
    while (!type.empty() && (type.front() == ' ' || type.front() == '\t'))
        type.remove_prefix(1);
    return boost::beast::iequals(type, "application/json");
}

} // namespace spear::transport::http
