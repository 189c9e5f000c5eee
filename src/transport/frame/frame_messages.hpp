// Frame messages: nanopb encoding and decoding between spear_edge.Frame (proto/spear_edge.proto)
// and the service's protocol-neutral types; the one mapping of the error enum to the wire.
#pragma once

#include "core/error_code.hpp"
#include "core/execution_result.hpp"
#include "core/invoke_request.hpp"
#include "core/limits.hpp"
#include "service/execution_service.hpp"

#include "spear_edge.pb.h"

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace spear::transport::frame {

using bytes = std::vector<std::uint8_t>;

/// GetExecutionStatusRequest, decoded.
struct status_request {
    std::string execution_id;
    bool include_result = false;
    std::uint32_t wait_ms = 0; ///< 0: answer at once; else long-poll (capped by the service)
};

/// CancelExecutionRequest, decoded.
struct cancel_request {
    std::string execution_id;
    std::string reason;
};

/// Ping: answered by a pong at once.
struct ping_request {};

/// LinkHello: the peer starts (or restarts) an authenticated link (frame_auth.hpp).
struct hello_request {
    std::string key_id;
    std::array<std::uint8_t, 16> peer_nonce{};
};

using request_body = std::variant<core::InvokeFunctionRequest, status_request, cancel_request,
                                  ping_request, hello_request>;

/// A valid request from a peer.
struct peer_request {
    std::uint32_t request_id = 0; ///< 1..2^32-1, chosen by the peer
    request_body body;
};

/// A frame that is not a valid request. `request_id` is the one the frame carried if it could
/// be read (then the peer gets an Error frame with it), else 0.
struct bad_request {
    std::uint32_t request_id = 0;
    core::error error;
};

/// Decodes one Frame message (framing already removed). Errors: invalid_request (not a
/// Frame, no request_id, a response body, a missing field), payload_too_large (a field over
/// its max_size), unknown_execution_mode (mode outside 0..3).
std::variant<peer_request, bad_request> decode_request(std::span<const std::uint8_t> message);

/// One StreamExecutionResult: a status step, a chunk, or the final (`final_result` set).
struct stream_step {
    std::string_view execution_id;
    core::ExecutionStatus status = core::ExecutionStatus::running;
    std::string_view chunk;                              ///< at most max_chunk_bytes()
    std::uint32_t seq = 0;                               ///< per request on the link
    std::uint32_t dropped = 0;                           ///< chunks dropped before this one
    const core::ExecutionResult* final_result = nullptr; ///< the outcome (its output unused)
};

// Encoders. Each returns an encoded Frame message (framing not added) of at most `max_bytes`
// (>= min_frame_bytes): output is cut first (output_truncated set, output_size kept), then
// free text. Strings are sent as valid UTF-8 (invalid bytes become '?'), cut on a character
// boundary to their max_size.
bytes encode_invoke_response(std::uint32_t request_id, const core::RuntimeExecutionResponse& r,
                             std::size_t max_bytes);
bytes encode_status_response(std::uint32_t request_id, const service::status_view& status,
                             std::size_t max_bytes);
bytes encode_cancel_response(std::uint32_t request_id, const service::cancel_view& cancel,
                             std::size_t max_bytes);
bytes encode_stream_result(std::uint32_t request_id, const stream_step& step,
                           std::size_t max_bytes);
bytes encode_error(std::uint32_t request_id, const core::error& e, std::size_t max_bytes);
bytes encode_pong(std::uint32_t request_id);
/// LinkChallenge with the link's nonce (the caller appends the auth trailer).
bytes encode_challenge(std::uint32_t request_id, std::span<const std::uint8_t, 16> link_nonce);

/// Smallest frame limit every answer fits in once its output and text are cut.
inline constexpr std::size_t min_frame_bytes = core::limits::frame_bytes_min;
/// Largest chunk one StreamExecutionResult carries within `max_frame_bytes`.
std::size_t max_chunk_bytes(std::size_t max_frame_bytes) noexcept;

/// The one mapping between the error enum and the wire ErrorCode (both directions).
spear_edge_ErrorCode to_wire(core::error_code code) noexcept;
core::error_code from_wire(spear_edge_ErrorCode code) noexcept;
spear_edge_ExecutionStatus to_wire(core::ExecutionStatus status) noexcept;
spear_edge_ExecutionMode to_wire(core::ExecutionMode mode) noexcept;

} // namespace spear::transport::frame
