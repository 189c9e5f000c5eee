// Config parsing and validation: Boost.JSON with comments, every error collected with its path.
// A function's runtime-specific fields are handed to the runtime layer (function_fields_parser).
#include "core/config.hpp"

#include "core/config_reader.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <limits>
#include <set>

namespace spear::core {
namespace {

using namespace fields;

constexpr std::size_t node_id_bytes = limits::node_id_bytes;

// --- Text rules ---------------------------------------------------------------------------
/// Goes into an HTTP header: no CR/LF or other control bytes.
bool header_value(std::string_view s) {
    return !s.empty() && printable(s);
}
/// A bearer token (RFC 6750 b64token is narrower; visible ASCII is what matters here).
bool token_text(std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}
bool node_id_text(std::string_view s) {
    return !s.empty() && s.size() <= node_id_bytes && printable(s);
}
bool function_name_text(std::string_view s) {
    if (s.empty() || s.size() > limits::function_name_bytes)
        return false;
    return std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               c == '_' || c == '.' || c == '-';
    });
}
/// An environment variable name as execve sees it: anything but '=' and NUL, not empty.
bool env_name(std::string_view s) {
    return non_empty(s) && s.find('=') == std::string_view::npos;
}

bool port_text(std::string_view s) {
    if (s.empty() || s.size() > 5 || !std::all_of(s.begin(), s.end(), [](char c) {
            return c >= '0' && c <= '9';
        }))
        return false;
    const auto n = std::stoul(std::string(s));
    return n >= 1 && n <= 65535;
}
/// "name", "name:port", "[v6]" or "[v6]:port" as a Host header carries them.
bool host_port_text(std::string_view s) {
    std::string_view host = s;
    std::string_view port;
    if (s.starts_with('[')) {
        const auto close = s.find(']');
        if (close == std::string_view::npos || close == 1)
            return false;
        host = s.substr(1, close - 1);
        if (!std::all_of(host.begin(), host.end(), [](char c) {
                return std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.';
            }))
            return false;
        const auto rest = s.substr(close + 1);
        if (rest.empty())
            return true;
        if (rest.front() != ':')
            return false;
        return port_text(rest.substr(1));
    }
    if (const auto colon = s.find(':'); colon != std::string_view::npos) {
        host = s.substr(0, colon);
        port = s.substr(colon + 1);
        if (!port_text(port))
            return false;
    }
    return !host.empty() && std::all_of(host.begin(), host.end(), [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               c == '.' || c == '-' || c == '_';
    });
}
bool allowed_host_text(std::string_view s) { return s == "*" || host_port_text(s); }
/// A browser's serialized origin: scheme "://" host [":" port], no path, no trailing slash.
bool allowed_origin_text(std::string_view s) {
    if (s == "*")
        return true;
    for (std::string_view scheme : {"http://", "https://"})
        if (s.size() > scheme.size() && std::equal(scheme.begin(), scheme.end(), s.begin(),
                                                   [](char a, char b) {
                                                       return a == std::tolower(
                                                                        static_cast<unsigned char>(b));
                                                   }))
            return host_port_text(s.substr(scheme.size()));
    return false;
}

constexpr text_rule header_text{header_value,
                                "must be a non-empty string of printable ASCII characters"};
constexpr text_rule auth_token_text{token_text,
                                    "must be a string of visible ASCII characters (no spaces)"};
static_assert(limits::node_id_bytes == 128 && limits::function_name_bytes == 64,
              "the rule texts below name these limits");
constexpr text_rule node_id_rule{node_id_text, "must be 1..128 printable ASCII characters"};
bool log_format_text(std::string_view s) { return s == "plain" || s == "json"; }
constexpr text_rule log_format_rule{log_format_text, "must be \"plain\" or \"json\""};
constexpr text_rule function_name_rule{function_name_text, "must match [A-Za-z0-9_.-]{1,64}"};
constexpr text_rule env_name_rule{env_name,
                                  "must be a non-empty environment variable name without '='"};
constexpr text_rule allowed_host_rule{
    allowed_host_text, "must be \"*\" or a host name or address with an optional port, as a "
                       "Host header carries it (\"gateway.local\", \"gateway.local:8080\", "
                       "\"[fe80::1]:8080\")"};
constexpr text_rule allowed_origin_rule{
    allowed_origin_text, "must be \"*\" or an origin as browsers send it: http:// or https://, "
                         "a host, an optional port, no path (\"http://gateway.local:8080\")"};

// --- Addresses ----------------------------------------------------------------------------

/// Strict dotted quad as inet_pton reads it: four decimal octets, no leading zeros.
std::optional<std::array<std::uint8_t, 4>> parse_ipv4(std::string_view s) {
    std::array<std::uint8_t, 4> out{};
    std::size_t i = 0;
    for (std::size_t part = 0; part < 4; ++part) {
        if (part > 0) {
            if (i >= s.size() || s[i] != '.')
                return std::nullopt;
            ++i;
        }
        const std::size_t start = i;
        unsigned value = 0;
        while (i < s.size() && s[i] >= '0' && s[i] <= '9' && i - start < 3)
            value = value * 10 + static_cast<unsigned>(s[i++] - '0');
        if (i == start || value > 255 || (i - start > 1 && s[start] == '0'))
            return std::nullopt;
        out[part] = static_cast<std::uint8_t>(value);
    }
    if (i != s.size())
        return std::nullopt;
    return out;
}

int hex_digit(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/// RFC 4291 text form: hex groups, one optional "::", an optional dotted-quad tail and an
/// optional "%zone" suffix (the zone is not checked: the listener resolves it).
std::optional<std::array<std::uint8_t, 16>> parse_ipv6(std::string_view s) {
    if (const auto pct = s.find('%'); pct != std::string_view::npos) {
        if (pct + 1 == s.size())
            return std::nullopt;
        s = s.substr(0, pct);
    }
    std::vector<std::uint16_t> head;
    std::vector<std::uint16_t> tail;
    bool gap = false;
    std::size_t i = 0;
    if (s.starts_with("::")) {
        gap = true;
        i = 2;
    } else if (s.starts_with(":")) {
        return std::nullopt;
    }
    while (i < s.size()) {
        auto& groups = gap ? tail : head;
        const auto rest = s.substr(i);
        if (rest.substr(0, rest.find(':')).find('.') != std::string_view::npos) {
            const auto v4 = parse_ipv4(rest);
            if (!v4)
                return std::nullopt;
            groups.push_back(static_cast<std::uint16_t>(((*v4)[0] << 8) | (*v4)[1]));
            groups.push_back(static_cast<std::uint16_t>(((*v4)[2] << 8) | (*v4)[3]));
            i = s.size();
            break;
        }
        unsigned value = 0;
        const std::size_t start = i;
        while (i < s.size() && i - start < 4 && hex_digit(s[i]) >= 0)
            value = value * 16 + static_cast<unsigned>(hex_digit(s[i++]));
        if (i == start)
            return std::nullopt;
        groups.push_back(static_cast<std::uint16_t>(value));
        if (i == s.size())
            break;
        if (s[i] != ':')
            return std::nullopt;
        ++i;
        if (i < s.size() && s[i] == ':') {
            if (gap)
                return std::nullopt;
            gap = true;
            ++i;
        } else if (i == s.size()) {
            return std::nullopt;
        }
    }
    const std::size_t groups = head.size() + tail.size();
    if (gap ? groups > 7 : groups != 8)
        return std::nullopt;
    std::array<std::uint8_t, 16> out{};
    auto put = [&out](std::size_t group, std::uint16_t value) {
        out[2 * group] = static_cast<std::uint8_t>(value >> 8);
        out[2 * group + 1] = static_cast<std::uint8_t>(value & 0xff);
    };
    for (std::size_t g = 0; g < head.size(); ++g)
        put(g, head[g]);
    for (std::size_t g = 0; g < tail.size(); ++g)
        put(8 - tail.size() + g, tail[g]);
    return out;
}

enum class address_kind : std::uint8_t { invalid, loopback, other };

address_kind classify_address(std::string_view s) {
    if (s == "localhost")
        return address_kind::loopback;
    if (const auto v4 = parse_ipv4(s))
        return (*v4)[0] == 127 ? address_kind::loopback : address_kind::other;
    if (const auto v6 = parse_ipv6(s)) {
        const auto& a = *v6;
        const bool zero_prefix =
            std::all_of(a.begin(), a.begin() + 10, [](auto b) { return b == 0; });
        const bool v6_loopback =
            zero_prefix &&
            std::all_of(a.begin() + 10, a.begin() + 15, [](auto b) { return b == 0; }) &&
            a[15] == 1;
        const bool mapped_loopback = zero_prefix && a[10] == 0xff && a[11] == 0xff && a[12] == 127;
        return v6_loopback || mapped_loopback ? address_kind::loopback : address_kind::other;
    }
    return address_kind::invalid;
}

/// Reads a listener address and returns its kind (the default's when absent, invalid when
/// reported). "localhost" is stored as 127.0.0.1 because the listeners bind IP literals.
address_kind read_address(object_reader& r, std::string_view key, std::string& out) {
    if (const json::value* v = r.get(key)) {
        const auto kind =
            v->is_string() ? classify_address(v->get_string()) : address_kind::invalid;
        if (kind == address_kind::invalid) {
            r.fail(key, "must be an IP address such as \"127.0.0.1\", \"0.0.0.0\" or \"::1\", "
                        "or \"localhost\"");
            return kind;
        }
        out = v->get_string() == "localhost" ? "127.0.0.1" : std::string(v->get_string());
    }
    return classify_address(out);
}

// --- Sections -----------------------------------------------------------------------------

void read_node(object_reader& r, node_config& node) {
    read_text(r, "id", node.id, node_id_rule);
    read_text(r, "data_dir", node.data_dir, any_text);
    if (const json::value* v = r.get("durability")) {
        const auto* text = v->if_string();
        if (text && *text == "none")
            node.durability = durability_level::none;
        else if (text && *text == "batched")
            node.durability = durability_level::batched;
        else if (text && *text == "every_change")
            node.durability = durability_level::every_change;
        else
            r.fail("durability", "must be \"none\", \"batched\" or \"every_change\"");
    }
    read_int(r, "sync_interval_ms", node.sync_interval_ms, 1,
             limits::durable_sync_interval_ms_max);
    read_text(r, "log_format", node.log_format, log_format_rule);
}

/// http.tokens: [{name, token, max_concurrency, max_queued, rate_per_s, priority_ceiling,
/// admin}]; names and tokens unique, "admin" is the auth_token's client.
void read_tokens(object_reader& r, http_config& http) {
    const json::value* v = r.get("tokens");
    if (!v)
        return;
    if (!v->is_array()) {
        r.fail("tokens", "must be an array of {name, token, ...} objects");
        return;
    }
    const auto& items = v->get_array();
    if (items.size() > limits::http_tokens_max) {
        r.fail("tokens", "at most " + std::to_string(limits::http_tokens_max) + " tokens");
        return;
    }
    std::map<std::string, std::size_t, std::less<>> names;
    std::map<std::string, std::size_t, std::less<>> tokens;
    for (std::size_t i = 0; i < items.size(); ++i) {
        const auto path = r.at("tokens[" + std::to_string(i) + "]");
        if (!items[i].is_object()) {
            r.fail_at(path, "must be an object");
            continue;
        }
        client_token_config t;
        object_reader tr(items[i].get_object(), path, r.errors());
        if (!tr.has("name"))
            tr.fail("name", "required");
        if (!tr.has("token"))
            tr.fail("token", "required");
        read_text(tr, "name", t.name, function_name_rule);
        if (read_text(tr, "token", t.token, auth_token_text) && t.token.empty())
            tr.fail("token", "must not be empty");
        std::size_t n = 0;
        if (tr.has("max_concurrency")) {
            read_int(tr, "max_concurrency", n, 1, limits::global_concurrency_max);
            t.max_concurrency = n;
        }
        if (tr.has("max_queued")) {
            n = 0;
            read_int(tr, "max_queued", n, 0, limits::queue_depth_max, "0 never queues");
            t.max_queued = n;
        }
        if (const json::value* rate = tr.get("rate_per_s")) {
            const double max = limits::client_rate_per_s_max;
            if (rate->is_number() && rate->to_number<double>() > 0 &&
                rate->to_number<double>() <= max)
                t.rate_per_s = rate->to_number<double>();
            else
                tr.fail("rate_per_s", "must be a number in (0, " + std::to_string(
                                          limits::client_rate_per_s_max) + "], submissions per second");
        }
        unsigned ceiling = limits::priority_max;
        read_int(tr, "priority_ceiling", ceiling, 0, limits::priority_max);
        t.priority_ceiling = static_cast<int>(ceiling);
        read_bool(tr, "admin", t.admin);
        tr.finish();
        if (t.name == "admin" && !http.auth_token.empty())
            tr.fail("name", "'admin' is the client of http.auth_token; choose another name");
        if (!t.name.empty())
            if (const auto [it, fresh] = names.emplace(t.name, i); !fresh)
                tr.fail("name", "duplicate client name '" + t.name + "' (also tokens[" +
                                    std::to_string(it->second) + "])");
        if (!t.token.empty()) {
            if (t.token == http.auth_token)
                tr.fail("token", "equals http.auth_token; each token names one client");
            else if (const auto [it, fresh] = tokens.emplace(t.token, i); !fresh)
                tr.fail("token", "duplicate token (also tokens[" + std::to_string(it->second) +
                                     "])");
        }
        http.tokens.push_back(std::move(t));
    }
}

void read_http(object_reader& r, http_config& http) {
    read_bool(r, "enabled", http.enabled);
    const auto kind = read_address(r, "address", http.address);
    read_int(r, "port", http.port, 0, u16_max);
    read_text(r, "auth_token", http.auth_token, auth_token_text);
    read_bool(r, "allow_unauthenticated", http.allow_unauthenticated);
    read_int(r, "max_body_bytes", http.max_body_bytes, 1, limits::http_body_bytes_max);
    read_int(r, "max_header_bytes", http.max_header_bytes, 1, limits::http_header_bytes_max);
    read_int(r, "max_connections", http.max_connections, 1, limits::http_connections_max);
    read_int(r, "header_timeout_ms", http.header_timeout_ms, 1, limits::http_header_timeout_ms_max);
    read_int(r, "idle_timeout_ms", http.idle_timeout_ms, 1, limits::http_idle_timeout_ms_max);
    read_int(r, "max_long_poll_ms", http.max_long_poll_ms, 0, limits::long_poll_ms_max,
             "0 disables long-polling");
    read_int(r, "shutdown_grace_ms", http.shutdown_grace_ms, 0, limits::shutdown_grace_ms_max);
    read_text_list(r, "allowed_hosts", http.allowed_hosts, allowed_host_rule);
    read_text_list(r, "allowed_origins", http.allowed_origins, allowed_origin_rule);
    read_tokens(r, http);

    // docs/api.md: never serve an open API beyond this host by accident.
    if (http.enabled && kind == address_kind::other && http.auth_token.empty() &&
        http.tokens.empty() && !http.allow_unauthenticated)
        r.fail("address",
               "'" + http.address +
                   "' is not a loopback address: set http.auth_token (clients then send "
                   "'Authorization: Bearer <token>'), or set http.allow_unauthenticated: true to "
                   "serve without authentication, or listen on 127.0.0.1");
}

void read_stream(object_reader& r, stream_config& stream) {
    read_int(r, "max_message_bytes", stream.max_message_bytes, 1, limits::ws_message_bytes_max);
    read_int(r, "max_viewers_per_execution", stream.max_viewers_per_execution, 1,
             limits::viewers_per_execution_max);
    read_int(r, "viewer_queue_messages", stream.viewer_queue_messages, 1,
             limits::viewer_queue_messages_max);
    read_int(r, "replay_chunks", stream.replay_chunks, 0, limits::replay_chunks_max,
             "0 disables replay");
    read_int(r, "write_timeout_ms", stream.write_timeout_ms, 1,
             limits::viewer_write_timeout_ms_max);
    read_int(r, "first_message_timeout_ms", stream.first_message_timeout_ms, 1,
             limits::stream_first_message_ms);
}

/// Rates the Linux termios API names (B50..B4000000); other rates need non-portable ioctls.
constexpr std::array<std::uint32_t, 30> serial_bauds{
    50,     75,     110,     134,     150,     200,     300,     600,     1200,    1800,
    2400,   4800,   9600,    19200,   38400,   57600,   115200,  230400,  460800,  500000,
    576000, 921600, 1000000, 1152000, 1500000, 2000000, 2500000, 3000000, 3500000, 4000000};

bool standard_baud(std::uint64_t baud) {
    return std::find(serial_bauds.begin(), serial_bauds.end(), baud) != serial_bauds.end();
}

void read_serial(object_reader& r, std::vector<serial_port_config>& ports) {
    const json::value* v = r.get("serial");
    if (!v)
        return;
    if (!v->is_array()) {
        r.fail("serial", "must be an array of {\"device\", \"baud\"} objects");
        return;
    }
    std::map<std::string, std::size_t> seen;
    const auto& items = v->get_array();
    for (std::size_t i = 0; i < items.size(); ++i) {
        const auto path = r.at("serial") + "[" + std::to_string(i) + "]";
        if (!items[i].is_object()) {
            r.fail_at(path, "must be an object with \"device\" and \"baud\"");
            continue;
        }
        serial_port_config port;
        object_reader pr(items[i].get_object(), path, r.errors());
        if (!pr.has("device"))
            pr.fail("device", "required: the serial device path, e.g. /dev/ttyUSB0");
        if (read_text(pr, "device", port.device, non_empty_text)) {
            if (const auto [it, fresh] = seen.emplace(port.device, i); !fresh)
                pr.fail("device",
                        "duplicate of frame.serial[" + std::to_string(it->second) + "].device");
        }
        if (const json::value* b = pr.get("baud")) {
            const auto n = as_unsigned(*b);
            if (n && standard_baud(*n))
                port.baud = static_cast<std::uint32_t>(*n);
            else
                pr.fail("baud", "must be a standard rate such as 9600, 115200 or 921600");
        }
        read_bool(pr, "allow_unauthenticated", port.allow_unauthenticated);
        pr.finish();
        ports.push_back(std::move(port));
    }
}

bool peer_id_text(std::string_view s) {
    return !s.empty() && s.size() <= limits::frame_key_id_bytes && function_name_text(s);
}
constexpr text_rule peer_id_rule{peer_id_text, "must match [A-Za-z0-9_.-]{1,32}"};

/// frame.peers: [{"id", "key" (hex), "client"}]. Errors never quote a key.
void read_peers(object_reader& r, frame_config& frame, const http_config& http) {
    const json::value* v = r.get("peers");
    if (!v)
        return;
    if (!v->is_array()) {
        r.fail("peers", "must be an array of {\"id\", \"key\", \"client\"} objects");
        return;
    }
    const auto& items = v->get_array();
    if (items.size() > limits::frame_peers_max) {
        r.fail("peers", "at most " + std::to_string(limits::frame_peers_max) + " peers");
        return;
    }
    std::map<std::string, std::size_t, std::less<>> seen;
    for (std::size_t i = 0; i < items.size(); ++i) {
        const auto path = r.at("peers") + "[" + std::to_string(i) + "]";
        if (!items[i].is_object()) {
            r.fail_at(path, "must be an object with \"id\" and \"key\"");
            continue;
        }
        frame_peer_config peer;
        object_reader pr(items[i].get_object(), path, r.errors());
        if (!pr.has("id"))
            pr.fail("id", "required: the key id the peer names (spear-peer --key-id)");
        if (!pr.has("key"))
            pr.fail("key", "required: the pre-shared key in hex (" +
                               std::to_string(limits::frame_key_bytes_min) + ".." +
                               std::to_string(limits::frame_key_bytes_max) + " bytes)");
        if (read_text(pr, "id", peer.id, peer_id_rule)) {
            if (const auto [it, fresh] = seen.emplace(peer.id, i); !fresh)
                pr.fail("id", "duplicate of frame.peers[" + std::to_string(it->second) + "].id");
        }
        if (const json::value* k = pr.get("key")) {
            const auto* text = k->if_string();
            const auto hex = text ? std::string_view(*text) : std::string_view();
            const bool is_hex = text && hex.size() % 2 == 0 &&
                                std::all_of(hex.begin(), hex.end(),
                                            [](char c) { return hex_digit(c) >= 0; });
            if (!is_hex)
                pr.fail("key", "must be a string of hex digits (two per byte)");
            else if (hex.size() / 2 < limits::frame_key_bytes_min ||
                     hex.size() / 2 > limits::frame_key_bytes_max)
                pr.fail("key", "must be " + std::to_string(limits::frame_key_bytes_min) + ".." +
                                   std::to_string(limits::frame_key_bytes_max) + " bytes (" +
                                   std::to_string(2 * limits::frame_key_bytes_min) + ".." +
                                   std::to_string(2 * limits::frame_key_bytes_max) +
                                   " hex digits); it has " + std::to_string(hex.size() / 2));
            else
                for (std::size_t j = 0; j < hex.size(); j += 2)
                    peer.key.push_back(
                        static_cast<char>(hex_digit(hex[j]) * 16 + hex_digit(hex[j + 1])));
        }
        if (read_text(pr, "client", peer.client, function_name_rule)) {
            const auto it = std::find_if(http.tokens.begin(), http.tokens.end(),
                                         [&](const auto& t) { return t.name == peer.client; });
            if (it == http.tokens.end())
                pr.fail("client", "'" + peer.client +
                                      "' is not an http.tokens name (its quotas and priority "
                                      "ceiling apply to the peer); omit it for the default client");
            else
                peer.client_index = static_cast<std::uint32_t>(it - http.tokens.begin()) + 1;
        }
        pr.finish();
        frame.peers.push_back(std::move(peer));
    }
}

void read_frame(object_reader& r, frame_config& frame, const http_config& http) {
    read_peers(r, frame, http);
    frame.require_auth = !frame.peers.empty();
    read_bool(r, "require_auth", frame.require_auth);
    if (frame.require_auth && frame.peers.empty())
        r.fail("require_auth", "needs frame.peers (no key to authenticate with)");
    if (const auto* tcp = read_object(r, "tcp")) {
        object_reader tr(*tcp, r.at("tcp"), r.errors());
        read_bool(tr, "enabled", frame.tcp_enabled);
        const auto kind = read_address(tr, "address", frame.tcp_address);
        read_int(tr, "port", frame.tcp_port, 0, u16_max);
        read_bool(tr, "allow_unauthenticated", frame.tcp_allow_unauthenticated);
        if (frame.tcp_enabled && kind == address_kind::other && !frame.tcp_allow_unauthenticated &&
            !frame.require_auth)
            tr.fail("address", "'" + frame.tcp_address +
                                   "' is not a loopback address and frames would be "
                                   "unauthenticated: set frame.peers (pre-shared keys), or set "
                                   "frame.tcp.allow_unauthenticated: true to accept frames "
                                   "from the network, or listen on 127.0.0.1");
        tr.finish();
    }
    read_serial(r, frame.serial);
    read_int(r, "max_frame_bytes", frame.max_frame_bytes, limits::frame_bytes_min,
             limits::frame_bytes_max);
    read_int(r, "max_outstanding", frame.max_outstanding, 1, limits::frame_outstanding_max);
    read_int(r, "idle_timeout_ms", frame.idle_timeout_ms, 0, limits::frame_idle_timeout_ms_max,
             "0 = never");
    read_int(r, "max_long_poll_ms", frame.max_long_poll_ms, 0, limits::frame_long_poll_ms_max,
             "0 disables long-polls");
    read_int(r, "write_timeout_ms", frame.write_timeout_ms, 1, limits::frame_write_timeout_ms_max);
}

void read_status_table(object_reader& r, status_table_config& table) {
    read_int(r, "slots", table.slots, 1, limits::status_slots_max);
    read_int(r, "max_output_bytes", table.max_output_bytes, 1, limits::output_bytes_max);
    read_int(r, "stderr_tail_bytes", table.stderr_tail_bytes, 0, limits::output_bytes_max);
    read_int(r, "ttl_s", table.ttl_s, 0, limits::record_ttl_s_max,
             "0 keeps terminal records until evicted");
    read_int(r, "max_input_bytes", table.max_input_bytes, 0, limits::persisted_input_bytes_max);
}

void read_history(object_reader& r, history_config& history) {
    read_int(r, "window", history.window, 1, limits::history_window_max);
    read_int(r, "default_expected_ms", history.default_expected_ms, 1,
             limits::execution_timeout_ms_max);
}

/// limits.queued_input_bytes: at least the largest input a transport accepts, or that input
/// would be refused forever (the http and stream sections are read before limits). The
/// default (64 MiB) is at least both input ceilings, so it always passes.
void read_queued_input(object_reader& r, limits_config& lim, const http_config& http,
                       const stream_config& stream) {
    const auto largest = std::max(http.max_body_bytes, stream.max_message_bytes);
    read_int(r, "queued_input_bytes", lim.queued_input_bytes, largest,
             limits::queued_input_bytes_max,
             "at least http.max_body_bytes and stream.max_message_bytes (" +
                 std::to_string(largest) + "): a larger input could never be queued");
}

void read_limits(object_reader& r, limits_config& lim, const http_config& http,
                 const stream_config& stream) {
    read_int(r, "global_concurrency", lim.global_concurrency, 1, limits::global_concurrency_max);
    // The maximum first: the default is checked against it.
    read_int(r, "max_timeout_ms", lim.max_timeout_ms, 1, limits::execution_timeout_ms_max);
    read_int(r, "default_timeout_ms", lim.default_timeout_ms, 1, lim.max_timeout_ms,
             "at most limits.max_timeout_ms");
    read_int(r, "kill_grace_ms", lim.kill_grace_ms, 0, limits::kill_grace_ms_max,
             "0 sends SIGKILL at once");
    read_queued_input(r, lim, http, stream);
    read_int(r, "priority_aging_ms", lim.priority_aging_ms, 1, limits::priority_aging_ms_max,
             "one priority level per this many ms waited");
}

/// "unix:///PATH" with an absolute PATH that fits a unix socket address (107 bytes).
bool engine_uri_text(std::string_view s) {
    constexpr std::string_view scheme = "unix://";
    if (!s.starts_with(scheme))
        return false;
    const auto path = s.substr(scheme.size());
    return path.size() >= 2 && path.size() <= 107 && path.front() == '/' && printable(path);
}
constexpr text_rule engine_uri_rule{
    engine_uri_text, "must be \"unix:///PATH\", the unix socket of a Docker Engine API "
                     "(\"unix:///run/docker.sock\", \"unix:///run/podman/podman.sock\"; "
                     "the path at most 107 bytes)"};

void read_container(object_reader& r, container_config& c) {
    read_text(r, "engine", c.engine, engine_uri_rule);
    read_int(r, "connect_timeout_ms", c.connect_timeout_ms, 1,
             limits::container_connect_timeout_ms_max);
    read_int(r, "request_timeout_ms", c.request_timeout_ms, 1,
             limits::container_request_timeout_ms_max);
    read_int(r, "memory_bytes", c.memory_bytes, limits::container_memory_bytes_min,
             limits::container_memory_bytes_max, "the engines refuse less than 6 MiB");
    read_int(r, "milli_cpus", c.milli_cpus, 1, limits::container_milli_cpus_max,
             "1000 = one CPU");
    read_int(r, "pids_limit", c.pids_limit, 1, limits::container_pids_max);
}

bool cluster_node_text(std::string_view s) {
    return !s.empty() && s.size() <= 32 && std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    });
}
constexpr text_rule cluster_node_rule{cluster_node_text, "must match [a-z0-9_-]{1,32}"};
bool nats_url_text(std::string_view s) {
    for (std::string_view scheme : {"nats://", "tls://"})
        if (s.starts_with(scheme))
            return s.size() > scheme.size() && s.size() <= 256 && printable(s) &&
                   s.find_first_of(" ,") == std::string_view::npos;
    return false;
}
constexpr text_rule nats_url_rule{nats_url_text,
                                  "must be a NATS server URL (\"nats://host:port\" or "
                                  "\"tls://host:port\", user:password@ allowed)"};
bool jetstream_name_text(std::string_view s) {
    return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '_' || c == '-';
    });
}
constexpr text_rule jetstream_name_rule{jetstream_name_text, "must match [A-Za-z0-9_-]{1,64}"};

void read_cluster(object_reader& r, cluster_config& c) {
    if (!r.has("node_id"))
        r.fail("node_id", "required: this appliance's id in the cluster, unique");
    read_text(r, "node_id", c.node_id, cluster_node_rule);
    if (!r.has("nats"))
        r.fail("nats", "required: the NATS server URLs, e.g. [\"nats://127.0.0.1:4222\"]");
    read_text_list(r, "nats", c.servers, nats_url_rule);
    if (const auto* v = r.get("nats");
        v && v->is_array() &&
        (v->get_array().empty() || v->get_array().size() > limits::cluster_servers))
        r.fail("nats", "must list 1.." + std::to_string(limits::cluster_servers) + " URLs");
    read_text(r, "token", c.token, any_text);
    read_text(r, "user", c.user, any_text);
    read_text(r, "password", c.password, any_text);
    read_text(r, "credentials_file", c.credentials_file, any_text);
    read_text(r, "nkey_seed_file", c.nkey_seed_file, any_text);
    const int kinds = !c.token.empty() + !(c.user.empty() && c.password.empty()) +
                      !c.credentials_file.empty() + !c.nkey_seed_file.empty();
    if (kinds > 1)
        r.fail("token", "give at most one of token, user/password, credentials_file, "
                        "nkey_seed_file");
    if (c.user.empty() != c.password.empty())
        r.fail(c.user.empty() ? "user" : "password", "user and password go together");
    read_text(r, "work_stream", c.work_stream, jetstream_name_rule);
    read_text(r, "records_bucket", c.records_bucket, jetstream_name_rule);
    read_int(r, "ack_wait_ms", c.ack_wait_ms, limits::cluster_ack_wait_ms_min,
             limits::cluster_ack_wait_ms_max,
             "a runner heartbeats every ack_wait_ms / 4; past it the work is redelivered");
    read_int(r, "request_timeout_ms", c.request_timeout_ms, 1,
             limits::cluster_request_timeout_ms_max);
    read_int(r, "replicas", c.replicas, 1, 5, "3 on a 3-server NATS cluster");
}

bool cgroups_mode_text(std::string_view s) { return s == "auto" || s == "off" || s == "required"; }
constexpr text_rule cgroups_mode_rule{cgroups_mode_text,
                                      "must be \"auto\", \"off\" or \"required\""};
/// An absolute path without "." or ".." components: a cgroup directory as the kernel names it.
bool cgroup_path_text(std::string_view s) {
    if (s.empty() || s.front() != '/' || s.size() > 4096 || !printable(s))
        return false;
    for (std::size_t at = 1; at <= s.size();) {
        const auto end = std::min(s.find('/', at), s.size());
        const auto part = s.substr(at, end - at);
        if (part == "." || part == "..")
            return false;
        at = end + 1;
    }
    return true;
}
constexpr text_rule cgroup_path_rule{
    cgroup_path_text, "must be an absolute path without \".\" or \"..\" (a cgroup v2 "
                      "directory, e.g. \"/sys/fs/cgroup/spearlet.service\")"};

void read_process(object_reader& r, process_config& p) {
    read_text(r, "cgroups", p.cgroups, cgroups_mode_rule);
    read_text(r, "cgroup_path", p.cgroup_path, cgroup_path_rule);
    if (p.cgroups == "off" && !p.cgroup_path.empty())
        r.fail("cgroup_path", "set, but process.cgroups is \"off\"");
}

void read_function(object_reader& r, function_config& f, const limits_config& lim) {
    if (!r.has("name"))
        r.fail("name", "required");
    read_text(r, "name", f.name, function_name_rule);
    read_text(r, "description", f.description, any_text);
    read_text_map(r, "env", f.env, env_name_rule, any_text);
    read_text_list(r, "allow_request_env", f.allow_request_env, env_name_rule);
    read_text(r, "content_type", f.content_type, header_text);
    read_int(r, "timeout_ms", f.timeout_ms, 1, lim.max_timeout_ms,
             "at most limits.max_timeout_ms; omit it for limits.default_timeout_ms");
    read_int(r, "max_concurrency", f.max_concurrency, 1, limits::global_concurrency_max);
    read_int(r, "queue_depth", f.queue_depth, 0, limits::queue_depth_max,
             "0 refuses calls while all slots are busy");
    read_int(r, "expected_ms", f.expected_ms, 0, limits::execution_timeout_ms_max,
             "0 = not configured");
    unsigned priority = 0;
    read_int(r, "priority", priority, 0, limits::priority_max,
             "the default context.priority of its invocations; higher starts first");
    f.priority = static_cast<int>(priority);
    read_bool(r, "retry_interrupted", f.retry_interrupted);
    read_bool(r, "share", f.share);
}

void read_functions(object_reader& r, std::vector<function_config>& functions,
                    const limits_config& lim, const function_fields_parser& runtimes) {
    const json::value* v = r.get("functions");
    if (!v)
        return;
    if (!v->is_array()) {
        r.fail("functions", "must be an array of function objects");
        return;
    }
    std::map<std::string, std::size_t, std::less<>> seen;
    const auto& items = v->get_array();
    for (std::size_t i = 0; i < items.size(); ++i) {
        const auto path = "functions[" + std::to_string(i) + "]";
        if (!items[i].is_object()) {
            r.fail_at(path, "must be an object");
            continue;
        }
        function_config f;
        object_reader fr(items[i].get_object(), path, r.errors());
        read_function(fr, f, lim);
        // Every other field ("runtime" included) belongs to the runtime layer, which reports
        // the unknown ones.
        f.runtime_fields = fr.rest();
        runtimes.parse(f, path, r.errors());
        if (!f.name.empty()) {
            if (const auto [it, fresh] = seen.emplace(f.name, i); !fresh)
                fr.fail("name", "duplicate function name '" + f.name + "' (also functions[" +
                                    std::to_string(it->second) + "])");
        }
        functions.push_back(std::move(f));
    }
}

/// "line L, column C" (1-based, columns in bytes) of a byte offset into `text`.
std::string position(std::string_view text, std::size_t offset) {
    offset = std::min(offset, text.size());
    const auto before = text.substr(0, offset);
    const auto line = 1 + static_cast<std::size_t>(std::count(before.begin(), before.end(), '\n'));
    const auto last_newline = before.rfind('\n');
    const auto column = last_newline == std::string_view::npos ? offset + 1 : offset - last_newline;
    return "line " + std::to_string(line) + ", column " + std::to_string(column);
}

} // namespace

std::string_view to_string(durability_level level) noexcept {
    switch (level) {
    case durability_level::none: return "none";
    case durability_level::batched: return "batched";
    case durability_level::every_change: return "every_change";
    }
    return "batched";
}

std::optional<std::size_t> config::find_function(std::string_view name) const {
    for (std::size_t i = 0; i < functions.size(); ++i) {
        if (functions[i].name == name)
            return i;
    }
    return std::nullopt;
}

std::uint32_t config::timeout_for(const function_config& f) const {
    const std::uint32_t own = f.timeout_ms != 0 ? f.timeout_ms : limits.default_timeout_ms;
    return std::min(own, limits.max_timeout_ms);
}

config_result parse_config(std::string_view json_text, const function_fields_parser& runtimes) {
    config_result result;

    json::parse_options options;
    options.allow_comments = true;
    options.allow_trailing_commas = true;
    json::stream_parser parser({}, options);
    boost::system::error_code ec;
    const std::size_t consumed = parser.write(json_text.data(), json_text.size(), ec);
    std::size_t offset = consumed;
    if (!ec) {
        parser.finish(ec);
        offset = json_text.size();
    }
    if (ec) {
        result.errors.push_back(
            {"", "invalid JSON at " + position(json_text, offset) + ": " + ec.message()});
        return result;
    }
    const json::value document = parser.release();
    if (!document.is_object()) {
        result.errors.push_back({"", "the config must be a JSON object"});
        return result;
    }

    config cfg;
    auto& errors = result.errors;
    object_reader root(document.get_object(), "", errors);
    auto section = [&](std::string_view key, auto read) {
        if (const auto* o = read_object(root, key)) {
            object_reader r(*o, std::string(key), errors);
            read(r);
            r.finish();
        }
    };
    section("node", [&](object_reader& r) { read_node(r, cfg.node); });
    section("http", [&](object_reader& r) { read_http(r, cfg.http); });
    section("stream", [&](object_reader& r) { read_stream(r, cfg.stream); });
    section("frame", [&](object_reader& r) { read_frame(r, cfg.frame, cfg.http); });
    section("status_table", [&](object_reader& r) { read_status_table(r, cfg.status_table); });
    section("history", [&](object_reader& r) { read_history(r, cfg.history); });
    // Limits before functions: function timeouts are checked against limits.max_timeout_ms.
    section("limits", [&](object_reader& r) { read_limits(r, cfg.limits, cfg.http, cfg.stream); });
    section("container", [&](object_reader& r) { read_container(r, cfg.container); });
    section("cluster", [&](object_reader& r) { read_cluster(r, cfg.cluster.emplace()); });
    section("process", [&](object_reader& r) { read_process(r, cfg.process); });
    read_functions(root, cfg.functions, cfg.limits, runtimes);
    root.finish();

    if (errors.empty())
        result.value = std::move(cfg);
    return result;
}

} // namespace spear::core
