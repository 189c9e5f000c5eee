// The Docker Engine API's HTTP/1.1 as bytes, sans-io: requests formatted, responses parsed
// (Content-Length, chunked, or up to the close) by Beast's parser behind a pimpl, so that
// engine_http.cpp is the only translation unit of the container runtime that includes Beast.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace spear::runtime::container {

/// The request line and headers (and body) of one engine request on its own connection
/// (`Connection: close`). `upgrade` asks for a hijacked raw stream (attach).
std::string format_request(std::string_view method, std::string_view target,
                           std::string_view json_body, bool upgrade = false);

/// One engine response: its status and its (decoded, de-chunked) body.
struct engine_response {
    unsigned status = 0;
    std::string body;
};

/// Parses one response from bytes as they arrive. In header-only mode (attach) it stops after
/// the header: the bytes after it are the raw stream and are left in leftover().
class response_reader {
public:
    enum class state {
        needs_more, ///< feed more bytes (or feed_eof)
        done,       ///< response() is complete
        error,      ///< error() says why; the connection is unusable
    };
    /// `body_limit`: a longer body is an error (the engine's answers are small JSON).
    explicit response_reader(std::size_t body_limit, bool header_only = false);
    ~response_reader();
    response_reader(const response_reader&) = delete;
    response_reader& operator=(const response_reader&) = delete;

    /// Takes the bytes (all of them: what the parser does not need yet is kept).
    state feed(std::string_view bytes);
    /// The peer closed: ends a body delimited by the close, or is an error.
    state feed_eof();
    state current() const noexcept { return state_; }
    const engine_response& response() const noexcept { return response_; }
    const std::string& error() const noexcept { return error_; }
    /// Header-only mode: the bytes received after the header (the start of the raw stream).
    std::string take_leftover() { return std::move(pending_); }

private:
    struct impl;
    state advance();

    std::unique_ptr<impl> impl_;
    bool header_only_;
    state state_ = state::needs_more;
    std::string pending_; ///< received, not consumed by the parser yet
    engine_response response_;
    std::string error_;
};

} // namespace spear::runtime::container
