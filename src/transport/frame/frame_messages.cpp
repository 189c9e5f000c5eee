// Frame messages: filling and reading the nanopb structs, cutting answers to the frame limit.
#include "transport/frame/frame_messages.hpp"

#include "core/text_encoding.hpp"

#include <pb_decode.h>
#include <pb_encode.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <initializer_list>

namespace spear::transport::frame {

using core::error;
using core::error_code;

// proto/spear_edge.options sets these sizes. nanopb ignores a missing or unread options file
// without a word and would then generate callback fields: this breaks the build instead.
static_assert(sizeof(spear_edge_InvokeFunctionRequest{}.function_name) == 65,
              "spear_edge.options was not applied (see cmake/nanopb.cmake)");
static_assert(sizeof(spear_edge_ExecutionResult{}.output.bytes) == 3072,
              "spear_edge.options was not applied (see cmake/nanopb.cmake)");

namespace {

// --- the one mapping of the error enum ----------------------------------------------------

struct error_pair {
    error_code core;
    spear_edge_ErrorCode wire;
};

/// Every core code and its wire code. HTTP-only codes (route_not_found, method_not_allowed,
/// forbidden, unsupported_media_type) cannot arise on frames; they travel as invalid_request.
constexpr error_pair error_map[] = {
    {error_code::none, spear_edge_ErrorCode_ERROR_CODE_NONE},
    {error_code::invalid_request, spear_edge_ErrorCode_ERROR_CODE_INVALID_REQUEST},
    {error_code::unknown_execution_mode, spear_edge_ErrorCode_ERROR_CODE_UNKNOWN_EXECUTION_MODE},
    {error_code::use_stream_endpoint, spear_edge_ErrorCode_ERROR_CODE_USE_STREAM_ENDPOINT},
    {error_code::unauthorized, spear_edge_ErrorCode_ERROR_CODE_UNAUTHORIZED},
    {error_code::function_not_found, spear_edge_ErrorCode_ERROR_CODE_FUNCTION_NOT_FOUND},
    {error_code::execution_not_found, spear_edge_ErrorCode_ERROR_CODE_EXECUTION_NOT_FOUND},
    {error_code::execution_evicted, spear_edge_ErrorCode_ERROR_CODE_EXECUTION_EVICTED},
    {error_code::conflict, spear_edge_ErrorCode_ERROR_CODE_CONFLICT},
    {error_code::payload_too_large, spear_edge_ErrorCode_ERROR_CODE_PAYLOAD_TOO_LARGE},
    {error_code::too_many_requests, spear_edge_ErrorCode_ERROR_CODE_TOO_MANY_REQUESTS},
    {error_code::status_table_full, spear_edge_ErrorCode_ERROR_CODE_STATUS_TABLE_FULL},
    {error_code::function_failed, spear_edge_ErrorCode_ERROR_CODE_FUNCTION_FAILED},
    {error_code::timeout, spear_edge_ErrorCode_ERROR_CODE_TIMEOUT},
    {error_code::internal, spear_edge_ErrorCode_ERROR_CODE_INTERNAL},
    {error_code::unavailable, spear_edge_ErrorCode_ERROR_CODE_UNAVAILABLE},
    {error_code::route_not_found, spear_edge_ErrorCode_ERROR_CODE_INVALID_REQUEST},
    {error_code::method_not_allowed, spear_edge_ErrorCode_ERROR_CODE_INVALID_REQUEST},
    {error_code::forbidden, spear_edge_ErrorCode_ERROR_CODE_INVALID_REQUEST},
    {error_code::unsupported_media_type, spear_edge_ErrorCode_ERROR_CODE_INVALID_REQUEST},
    {error_code::interrupted, spear_edge_ErrorCode_ERROR_CODE_FUNCTION_FAILED},
    {error_code::node_lost, spear_edge_ErrorCode_ERROR_CODE_FUNCTION_FAILED},
};

// --- text and bytes into static fields ----------------------------------------------------

/// Copies `text` into a NUL-terminated field of `capacity` bytes as valid UTF-8 (each byte of
/// a malformed sequence becomes '?'), stopping before a character that would not fit.
void put_text(char* dst, std::size_t capacity, std::string_view text) {
    std::size_t out = 0;
    std::size_t i = 0;
    while (i < text.size()) {
        const auto n = core::utf8_sequence_at(text, i);
        const auto width = n == 0 ? std::size_t{1} : n;
        if (out + width > capacity - 1)
            break;
        if (n == 0)
            dst[out++] = '?';
        else
            std::memcpy(dst + out, text.data() + i, n);
        out += n;
        i += width;
    }
    dst[out] = '\0';
}

template <std::size_t N> void put_text(char (&dst)[N], std::string_view text) {
    put_text(dst, N, text);
}

template <class BytesField> void put_bytes(BytesField& dst, std::string_view src) {
    const auto n = std::min(src.size(), sizeof(dst.bytes));
    if (n > 0) // an empty view may hold a null pointer
        std::memcpy(dst.bytes, src.data(), n);
    dst.size = static_cast<pb_size_t>(n);
}

/// Shortens a NUL-terminated field by at least `excess` bytes (on a character boundary);
/// returns the bytes removed.
std::size_t cut_text(char* text, std::size_t excess) {
    const auto length = std::strlen(text);
    const auto keep = core::utf8_cut_point({text, length}, length > excess ? length - excess : 0);
    text[keep] = '\0';
    return length - keep;
}

template <class BytesField> std::size_t cut_bytes(BytesField& field, std::size_t excess) {
    const std::size_t before = field.size;
    field.size = static_cast<pb_size_t>(before > excess ? before - excess : 0);
    return before - field.size;
}

// --- encoding -----------------------------------------------------------------------------

std::size_t encoded_size(const spear_edge_Frame& frame) {
    std::size_t size = 0;
    if (!pb_get_encoded_size(&size, spear_edge_Frame_fields, &frame))
        return SIZE_MAX;
    return size;
}

bytes encode(const spear_edge_Frame& frame) {
    bytes out(encoded_size(frame));
    auto stream = pb_ostream_from_buffer(out.data(), out.size());
    if (!pb_encode(&stream, spear_edge_Frame_fields, &frame))
        return {}; // cannot happen for a filled struct; the link answers nothing
    out.resize(stream.bytes_written);
    return out;
}

/// One way to make a frame smaller: removes at least `excess` bytes if it can, returns how
/// many it removed (0: nothing left to cut).
using trim_step = std::function<std::size_t(std::size_t)>;

/// Encodes `frame`, applying the trims in order while it is over `max_bytes`.
bytes encode_within(spear_edge_Frame& frame, std::size_t max_bytes,
                    std::initializer_list<trim_step> trims) {
    for (const auto& trim : trims) {
        for (;;) {
            const auto size = encoded_size(frame);
            if (size <= max_bytes)
                return encode(frame);
            if (trim(size - max_bytes) == 0)
                break;
        }
    }
    return encode(frame);
}

void fill_result(spear_edge_ExecutionResult& out, const core::ExecutionResult& r) {
    out.status = to_wire(r.status);
    put_bytes(out.output, r.output);
    put_text(out.error_message, r.error_message);
    out.error_code = to_wire(r.error);
    out.execution_time_ms = r.execution_time_ms;
    put_text(out.content_type, r.content_type);
    out.output_size = r.output_size;
    out.output_truncated = out.output.size < r.output_size;
    out.has_exit_code = r.exit_code.has_value();
    out.exit_code = r.exit_code.value_or(0);
    out.has_signal = r.signal.has_value();
    out.signal = r.signal.value_or(0);
    out.queue_ms = r.queue_ms;
}

/// Trim for a result's output: cuts it and marks the result truncated.
trim_step cut_output(spear_edge_ExecutionResult& result) {
    return [&result](std::size_t excess) {
        const auto removed = cut_bytes(result.output, excess);
        if (removed > 0)
            result.output_truncated = true;
        return removed;
    };
}

trim_step cut(char* text) {
    return [text](std::size_t excess) {
        return cut_text(text, excess);
    };
}

/// encode_within for a body that carries a result: what is cut first when the frame is over
/// the limit (output, then messages, then the content type) is the same for all of them.
template <class Body>
bytes encode_result_within(spear_edge_Frame& frame, Body& out, std::size_t max_bytes) {
    return encode_within(frame, max_bytes,
                         {cut_output(out.result), cut(out.message), cut(out.result.error_message),
                          cut(out.result.content_type)});
}

// --- decoding -----------------------------------------------------------------------------

/// Reads the request_id of a frame nanopb refused: field 1 (varint) comes first in every
/// encoder we know of. 0 if it is not there.
std::uint32_t peek_request_id(std::span<const std::uint8_t> message) {
    auto stream = pb_istream_from_buffer(message.data(), message.size());
    pb_wire_type_t type{};
    std::uint32_t tag = 0;
    bool eof = false;
    if (!pb_decode_tag(&stream, &type, &tag, &eof) || tag != spear_edge_Frame_request_id_tag ||
        type != PB_WT_VARINT)
        return 0;
    std::uint32_t id = 0;
    return pb_decode_varint32(&stream, &id) ? id : 0;
}

std::string text_of(const char* field) {
    return std::string(field);
}

bad_request refuse(std::uint32_t id, error_code code, std::string message) {
    return bad_request{id, error::make(code, std::move(message))};
}

std::variant<peer_request, bad_request> read_invoke(std::uint32_t id,
                                                    const spear_edge_InvokeFunctionRequest& in) {
    core::InvokeFunctionRequest request;
    request.function_name = text_of(in.function_name);
    if (request.function_name.empty())
        return refuse(id, error_code::invalid_request, "function_name: required");
    // A peer may send any number; reading it as the C enum would be undefined in C++.
    static_assert(sizeof(in.execution_mode) == sizeof(std::int32_t));
    std::int32_t mode = 0;
    std::memcpy(&mode, &in.execution_mode, sizeof mode);
    if (mode != 0) {
        const auto parsed = core::execution_mode_from_number(mode);
        if (!parsed)
            return refuse(id, error_code::unknown_execution_mode,
                          "execution_mode " + std::to_string(mode) + ": " +
                              std::string(core::valid_modes_text));
        request.execution_mode = *parsed;
        request.execution_mode_given = true;
    }
    request.input.assign(reinterpret_cast<const char*>(in.input.bytes), in.input.size);
    request.input_content_type = text_of(in.content_type);
    if (in.timeout_ms != 0)
        request.timeout_ms = in.timeout_ms;
    request.client_execution_id = text_of(in.execution_id);
    request.detach = in.detach;
    if (in.has_priority) // the range (0..9) is checked by the service, as for HTTP
        request.priority = in.priority;
    // Frame links are the default client until frame pre-shared keys name clients.
    return peer_request{id, std::move(request)};
}

} // namespace

spear_edge_ErrorCode to_wire(error_code code) noexcept {
    for (const auto& pair : error_map)
        if (pair.core == code)
            return pair.wire;
    return spear_edge_ErrorCode_ERROR_CODE_INTERNAL;
}

error_code from_wire(spear_edge_ErrorCode code) noexcept {
    for (const auto& pair : error_map)
        if (pair.wire == code)
            return pair.core; // the first entry wins: invalid_request, not route_not_found
    return error_code::internal;
}

spear_edge_ExecutionStatus to_wire(core::ExecutionStatus status) noexcept {
    // Both follow SPEAR's numbering (1 pending .. 6 timeout).
    return static_cast<spear_edge_ExecutionStatus>(static_cast<int>(status));
}

spear_edge_ExecutionMode to_wire(core::ExecutionMode mode) noexcept {
    return static_cast<spear_edge_ExecutionMode>(static_cast<int>(mode));
}

std::variant<peer_request, bad_request> decode_request(std::span<const std::uint8_t> message) {
    spear_edge_Frame frame{};
    auto stream = pb_istream_from_buffer(message.data(), message.size());
    if (!pb_decode(&stream, spear_edge_Frame_fields, &frame)) {
        const std::string_view why = PB_GET_ERROR(&stream);
        // nanopb's words for a field over its max_size ("varint overflow" is malformed input).
        const bool too_large =
            why == "string overflow" || why == "bytes overflow" || why == "array overflow";
        const auto code = too_large ? error_code::payload_too_large : error_code::invalid_request;
        return refuse(peek_request_id(message), code,
                      "the frame is not a valid spear_edge.Frame (" + std::string(why) + ")");
    }
    const auto id = frame.request_id;
    if (id == 0)
        return refuse(0, error_code::invalid_request, "request_id: must be 1..4294967295");
    switch (frame.which_body) {
    case spear_edge_Frame_invoke_request_tag:
        return read_invoke(id, frame.body.invoke_request);
    case spear_edge_Frame_status_request_tag: {
        const auto& in = frame.body.status_request;
        status_request request{text_of(in.execution_id), in.include_result, in.wait_ms};
        if (request.execution_id.empty())
            return refuse(id, error_code::invalid_request, "execution_id: required");
        return peer_request{id, std::move(request)};
    }
    case spear_edge_Frame_cancel_request_tag: {
        const auto& in = frame.body.cancel_request;
        cancel_request request{text_of(in.execution_id), text_of(in.reason)};
        if (request.execution_id.empty())
            return refuse(id, error_code::invalid_request, "execution_id: required");
        if (request.reason.empty())
            request.reason = "requested by a frame peer";
        return peer_request{id, std::move(request)};
    }
    case spear_edge_Frame_ping_tag:
        return peer_request{id, ping_request{}};
    case spear_edge_Frame_link_hello_tag: {
        const auto& in = frame.body.link_hello;
        hello_request hello{text_of(in.key_id), {}};
        std::copy(std::begin(in.peer_nonce), std::end(in.peer_nonce), hello.peer_nonce.begin());
        if (hello.key_id.empty())
            return refuse(id, error_code::invalid_request, "link_hello.key_id: required");
        return peer_request{id, std::move(hello)};
    }
    case 0:
        return refuse(id, error_code::invalid_request, "the frame has no body");
    default:
        return refuse(id, error_code::invalid_request,
                      "body " + std::to_string(frame.which_body) +
                          " is an answer, not a request (send invoke_request, status_request, "
                          "cancel_request, ping or link_hello)");
    }
}

bytes encode_invoke_response(std::uint32_t request_id, const core::RuntimeExecutionResponse& r,
                             std::size_t max_bytes) {
    spear_edge_Frame frame{};
    frame.request_id = request_id;
    frame.which_body = spear_edge_Frame_invoke_response_tag;
    auto& out = frame.body.invoke_response;
    out.success = r.success();
    std::string message;
    if (out.success)
        message = r.is_async ? "accepted" : "completed";
    else
        message = r.result.error_message.empty()
                      ? std::string(core::default_message(r.result.error))
                      : r.result.error_message;
    put_text(out.message, message);
    put_text(out.execution_id, r.execution_id);
    out.has_result = true;
    fill_result(out.result, r.result);
    put_text(out.status_endpoint, r.status_endpoint);
    out.estimated_completion_ms = r.estimated_completion_ms;
    out.execution_mode = to_wire(r.execution_mode);
    return encode_result_within(frame, out, max_bytes);
}

bytes encode_status_response(std::uint32_t request_id, const service::status_view& status,
                             std::size_t max_bytes) {
    spear_edge_Frame frame{};
    frame.request_id = request_id;
    frame.which_body = spear_edge_Frame_status_response_tag;
    auto& out = frame.body.status_response;
    out.has_result = true;
    fill_result(out.result, status.result);
    std::string message(core::to_string(status.result.status));
    if (status.queue_position)
        message += " (queue position " + std::to_string(*status.queue_position) + ")";
    put_text(out.message, message);
    put_text(out.execution_id, status.result.execution_id);
    put_text(out.function_name, status.result.function_name);
    out.estimated_completion_ms = status.estimated_completion_ms;
    return encode_result_within(frame, out, max_bytes);
}

bytes encode_cancel_response(std::uint32_t request_id, const service::cancel_view& cancel,
                             std::size_t max_bytes) {
    spear_edge_Frame frame{};
    frame.request_id = request_id;
    frame.which_body = spear_edge_Frame_cancel_response_tag;
    auto& out = frame.body.cancel_response;
    out.success = cancel.success;
    put_text(out.message, cancel.message);
    out.final_status = to_wire(cancel.final_status);
    put_text(out.execution_id, cancel.execution_id);
    out.error_code = to_wire(cancel.success ? error_code::none : error_code::conflict);
    return encode_within(frame, max_bytes, {cut(out.message)});
}

bytes encode_stream_result(std::uint32_t request_id, const stream_step& step,
                           std::size_t max_bytes) {
    spear_edge_Frame frame{};
    frame.request_id = request_id;
    frame.which_body = spear_edge_Frame_stream_result_tag;
    auto& out = frame.body.stream_result;
    put_text(out.execution_id, step.execution_id);
    out.status = to_wire(step.status);
    put_bytes(out.chunk, step.chunk);
    out.seq = step.seq;
    out.dropped = step.dropped;
    if (const auto* r = step.final_result) {
        out.is_final = true;
        out.status = to_wire(r->status);
        out.error_code = to_wire(r->error);
        put_text(out.error_message, r->error_message);
        out.has_exit_code = r->exit_code.has_value();
        out.exit_code = r->exit_code.value_or(0);
        out.has_signal = r->signal.has_value();
        out.signal = r->signal.value_or(0);
        out.execution_time_ms = r->execution_time_ms;
        out.output_size = r->output_size;
    }
    // The link splits chunks to max_chunk_bytes(), so only text is ever cut here.
    return encode_within(frame, max_bytes, {cut(out.error_message)});
}

bytes encode_error(std::uint32_t request_id, const core::error& e, std::size_t max_bytes) {
    spear_edge_Frame frame{};
    frame.request_id = request_id;
    frame.which_body = spear_edge_Frame_error_tag;
    auto& out = frame.body.error;
    out.code = to_wire(e.code);
    put_text(out.message, e.message);
    out.retry_after_ms = e.retry_after_ms <= 0 ? 0u
                         : e.retry_after_ms > INT32_MAX
                             ? static_cast<std::uint32_t>(INT32_MAX)
                             : static_cast<std::uint32_t>(e.retry_after_ms);
    return encode_within(frame, max_bytes, {cut(out.message)});
}

bytes encode_pong(std::uint32_t request_id) {
    spear_edge_Frame frame{};
    frame.request_id = request_id;
    frame.which_body = spear_edge_Frame_pong_tag;
    return encode(frame);
}

bytes encode_challenge(std::uint32_t request_id, std::span<const std::uint8_t, 16> link_nonce) {
    static_assert(sizeof(spear_edge_LinkChallenge{}.link_nonce) == 16,
                  "LinkChallenge.link_nonce must be a fixed 16-byte array (spear_edge.options)");
    spear_edge_Frame frame{};
    frame.request_id = request_id;
    frame.which_body = spear_edge_Frame_link_challenge_tag;
    std::copy(link_nonce.begin(), link_nonce.end(), frame.body.link_challenge.link_nonce);
    return encode(frame);
}

std::size_t max_chunk_bytes(std::size_t max_frame_bytes) noexcept {
    // Everything of a chunk frame but the chunk itself: request_id (6), body tag and length
    // (4), execution_id (66), status (2), chunk tag and length (3), seq (6), dropped (6).
    constexpr std::size_t overhead = 96;
    constexpr std::size_t field_max = sizeof(spear_edge_StreamExecutionResult{}.chunk.bytes);
    if (max_frame_bytes <= overhead)
        return 1;
    return std::min(field_max, max_frame_bytes - overhead);
}

} // namespace spear::transport::frame
