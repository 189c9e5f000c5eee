// The attach stream of a container without a TTY, sans-io: Docker's multiplexing (an 8-byte
// header per frame: stream type, three zero bytes, the payload length big-endian) split into
// stdout and stderr pieces as the bytes arrive, so output reaches the sink live.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace spear::runtime::container {

class attach_demuxer {
public:
    enum class stream : std::uint8_t {
        stdin_stream = 0,  ///< never sent by the engine towards us; accepted and ignored
        stdout_stream = 1, ///< the function's output
        stderr_stream = 2, ///< its log
    };

    /// Called for each piece of payload, in order. A frame's payload may arrive in several
    /// pieces (it is never buffered whole): `piece` is valid only during the call.
    class handler {
    public:
        virtual ~handler() = default;
        virtual void on_payload(stream which, std::string_view piece) = 0;
    };

    /// Takes bytes in any split. False once the stream is malformed (an unknown stream type
    /// or non-zero padding): every later call is false too and error() says why.
    bool feed(std::string_view bytes, handler& out);
    /// True when the stream ended between frames (a clean end), false inside a frame.
    bool at_frame_boundary() const noexcept { return header_fill_ == 0 && payload_left_ == 0; }
    const std::string& error() const noexcept { return error_; }

private:
    std::array<unsigned char, 8> header_{};
    std::size_t header_fill_ = 0;    ///< bytes of the current header received
    std::uint32_t payload_left_ = 0; ///< payload bytes of the current frame still to come
    stream current_ = stream::stdout_stream;
    std::string error_;
};

} // namespace spear::runtime::container
