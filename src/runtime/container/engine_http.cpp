// The Docker Engine API's HTTP/1.1 as bytes (engine_http.hpp): Beast's response parser fed by
// hand, so the same code parses a socket's bytes and a unit test's recorded ones.
#include "runtime/container/engine_http.hpp"

#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <boost/asio/buffer.hpp>

namespace spear::runtime::container {

namespace http = boost::beast::http;

std::string format_request(std::string_view method, std::string_view target,
                           std::string_view json_body, bool upgrade) {
    std::string out;
    out.reserve(160 + target.size() + json_body.size());
    out.append(method).append(" ").append(target).append(" HTTP/1.1\r\n");
    // The engine ignores the host of a unix-socket request; HTTP/1.1 requires the header.
    out += "Host: docker\r\n";
    if (!json_body.empty())
        out += "Content-Type: application/json\r\n";
    out += "Content-Length: " + std::to_string(json_body.size()) + "\r\n";
    out += upgrade ? "Connection: Upgrade\r\nUpgrade: tcp\r\n" : "Connection: close\r\n";
    out += "\r\n";
    out.append(json_body);
    return out;
}

struct response_reader::impl {
    http::response_parser<http::string_body> parser;
};

response_reader::response_reader(std::size_t body_limit, bool header_only)
    : impl_(std::make_unique<impl>())
    , header_only_(header_only) {
    impl_->parser.body_limit(body_limit);
    // A 101 or any 1xx has no body; the parser knows. Header-only mode stops after the header
    // whatever the status (eager is off by default: put() returns once the header is parsed).
    impl_->parser.eager(false);
}

response_reader::~response_reader() = default;

response_reader::state response_reader::advance() {
    auto& p = impl_->parser;
    while (state_ == state::needs_more && !pending_.empty()) {
        if (header_only_ && p.is_header_done())
            break;
        boost::system::error_code ec;
        const std::size_t used = p.put(boost::asio::buffer(pending_.data(), pending_.size()), ec);
        pending_.erase(0, used);
        if (ec == http::error::need_more)
            break;
        if (ec) {
            state_ = state::error;
            error_ = "malformed HTTP response from the engine: " + ec.message();
            return state_;
        }
        if (p.is_done())
            break;
        if (used == 0) // nothing more the parser can take from these bytes
            break;
    }
    if (state_ == state::needs_more && (p.is_done() || (header_only_ && p.is_header_done()))) {
        response_.status = p.get().result_int();
        // Beast takes any three digits ("000" too); an engine answers 1xx to 5xx.
        if (response_.status < 100 || response_.status > 599) {
            state_ = state::error;
            error_ = "malformed HTTP response from the engine: status " +
                     std::to_string(response_.status);
            return state_;
        }
        if (!header_only_)
            response_.body = std::move(p.get().body());
        state_ = state::done;
    }
    return state_;
}

response_reader::state response_reader::feed(std::string_view bytes) {
    if (state_ != state::needs_more) {
        if (state_ == state::done && header_only_)
            pending_.append(bytes);
        return state_;
    }
    pending_.append(bytes);
    return advance();
}

response_reader::state response_reader::feed_eof() {
    if (state_ != state::needs_more)
        return state_;
    boost::system::error_code ec;
    if (impl_->parser.is_header_done() && !header_only_)
        impl_->parser.put_eof(ec);
    else
        ec = http::error::partial_message;
    if (ec) {
        state_ = state::error;
        error_ = "the engine closed the connection before a whole response: " + ec.message();
        return state_;
    }
    return advance();
}

} // namespace spear::runtime::container
