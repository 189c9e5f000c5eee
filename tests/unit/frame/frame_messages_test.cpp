// Unit tests of the frame messages: decoding peer requests (and refusing bad ones with the
// right code and request id), encoding answers within the frame limit, the error mapping.
#include "transport/frame/frame_messages.hpp"

#include <boost/test/unit_test.hpp>

#include <pb_decode.h>
#include <pb_encode.h>

#include <cstring>
#include <ostream>
#include <string>
#include <vector>

using namespace spear;
using namespace spear::transport::frame;

namespace spear::core {
std::ostream& operator<<(std::ostream& os, error_code c) {
    return os << to_string(c);
}
std::ostream& operator<<(std::ostream& os, ExecutionMode m) {
    return os << to_string(m);
}
} // namespace spear::core

namespace {

bytes encode_frame(const spear_edge_Frame& frame) {
    bytes out(spear_edge_Frame_size);
    auto stream = pb_ostream_from_buffer(out.data(), out.size());
    BOOST_REQUIRE(pb_encode(&stream, spear_edge_Frame_fields, &frame));
    out.resize(stream.bytes_written);
    return out;
}

spear_edge_Frame decode_frame(const bytes& message) {
    spear_edge_Frame frame{};
    auto stream = pb_istream_from_buffer(message.data(), message.size());
    BOOST_REQUIRE_MESSAGE(pb_decode(&stream, spear_edge_Frame_fields, &frame),
                          PB_GET_ERROR(&stream));
    return frame;
}

spear_edge_Frame invoke_frame(std::uint32_t id, const char* function, std::int32_t mode,
                              std::string_view input) {
    spear_edge_Frame frame{};
    frame.request_id = id;
    frame.which_body = spear_edge_Frame_invoke_request_tag;
    auto& r = frame.body.invoke_request;
    std::strncpy(r.function_name, function, sizeof(r.function_name) - 1);
    std::memcpy(&r.execution_mode, &mode, sizeof mode); // any number, as a peer may send
    std::memcpy(r.input.bytes, input.data(), input.size());
    r.input.size = static_cast<pb_size_t>(input.size());
    return frame;
}

bad_request refused(const std::variant<peer_request, bad_request>& r) {
    BOOST_REQUIRE(std::holds_alternative<bad_request>(r));
    return std::get<bad_request>(r);
}

core::RuntimeExecutionResponse sync_response(std::string output, core::ExecutionStatus status) {
    core::ExecutionResult result;
    result.execution_id = "0123456789abcdef01234567";
    result.function_name = "echo";
    result.status = status;
    result.content_type = "text/plain";
    result.output_size = output.size();
    result.output = std::move(output);
    result.exit_code = status == core::ExecutionStatus::completed ? 0 : 3;
    result.execution_time_ms = 12;
    if (status != core::ExecutionStatus::completed) {
        result.error = core::error_code::function_failed;
        result.error_message = "the function exited with code 3";
    }
    return core::RuntimeExecutionResponse::new_sync(result.execution_id, result, {});
}

} // namespace

BOOST_AUTO_TEST_SUITE(frame_messages)

BOOST_AUTO_TEST_CASE(options_file_sizes_reach_the_generated_structs) {
    BOOST_TEST(sizeof(spear_edge_InvokeFunctionRequest{}.function_name) == 65u);
    BOOST_TEST(spear_edge_Frame_size <= core::limits::frame_bytes);
}

BOOST_AUTO_TEST_CASE(decodes_an_invoke_request_into_the_core_request) {
    auto frame = invoke_frame(7, "echo", 2, "hello");
    auto& r = frame.body.invoke_request;
    r.timeout_ms = 1500;
    std::strcpy(r.execution_id, "client-1");
    std::strcpy(r.content_type, "text/plain");
    const auto decoded = decode_request(encode_frame(frame));
    BOOST_REQUIRE(std::holds_alternative<peer_request>(decoded));
    const auto& request = std::get<peer_request>(decoded);
    BOOST_TEST(request.request_id == 7u);
    const auto& invoke = std::get<core::InvokeFunctionRequest>(request.body);
    BOOST_TEST(invoke.function_name == "echo");
    BOOST_TEST(invoke.execution_mode == core::ExecutionMode::async);
    BOOST_TEST(invoke.execution_mode_given);
    BOOST_TEST(invoke.input == "hello");
    BOOST_TEST(invoke.input_content_type == "text/plain");
    BOOST_TEST(invoke.timeout_ms.value_or(0) == 1500u);
    BOOST_TEST(invoke.client_execution_id == "client-1");
}

BOOST_AUTO_TEST_CASE(mode_zero_means_sync_not_given) {
    const auto decoded = decode_request(encode_frame(invoke_frame(1, "echo", 0, "")));
    const auto invoke = std::get<core::InvokeFunctionRequest>(std::get<peer_request>(decoded).body);
    BOOST_TEST(invoke.execution_mode == core::ExecutionMode::sync);
    BOOST_TEST(!invoke.execution_mode_given);
    BOOST_TEST(!invoke.timeout_ms.has_value());
}

BOOST_AUTO_TEST_CASE(unknown_mode_is_refused_with_its_request_id) {
    const auto bad = refused(decode_request(encode_frame(invoke_frame(9, "echo", 7, ""))));
    BOOST_TEST(bad.request_id == 9u);
    BOOST_TEST(bad.error.code == core::error_code::unknown_execution_mode);
    BOOST_TEST(bad.error.message.find("sync") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(missing_function_name_is_invalid) {
    const auto bad = refused(decode_request(encode_frame(invoke_frame(3, "", 1, ""))));
    BOOST_TEST(bad.request_id == 3u);
    BOOST_TEST(bad.error.code == core::error_code::invalid_request);
    BOOST_TEST(bad.error.message.find("function_name") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(request_id_zero_is_refused) {
    const auto bad = refused(decode_request(encode_frame(invoke_frame(0, "echo", 1, ""))));
    BOOST_TEST(bad.request_id == 0u);
    BOOST_TEST(bad.error.code == core::error_code::invalid_request);
}

BOOST_AUTO_TEST_CASE(garbage_after_a_readable_request_id_keeps_the_id) {
    const bytes message = {0x08, 0x2A, 0x12, 0x7F, 0x01, 0x02}; // id 42, body shorter than said
    const auto bad = refused(decode_request(message));
    BOOST_TEST(bad.request_id == 42u);
    BOOST_TEST(bad.error.code == core::error_code::invalid_request);
}

BOOST_AUTO_TEST_CASE(pure_garbage_has_request_id_zero) {
    const bytes message = {0xFF, 0xFF, 0xFF, 0x07};
    const auto bad = refused(decode_request(message));
    BOOST_TEST(bad.request_id == 0u);
    BOOST_TEST(bad.error.code == core::error_code::invalid_request);
}

BOOST_AUTO_TEST_CASE(overlong_varint_is_invalid_not_too_large) {
    const bytes message(12, 0xFF); // nanopb says "varint overflow": malformed, not oversize
    const auto bad = refused(decode_request(message));
    BOOST_TEST(bad.error.code == core::error_code::invalid_request);
}

BOOST_AUTO_TEST_CASE(field_over_its_max_size_is_payload_too_large) {
    // id 5, invoke_request { function_name: 100 x 'a' } (the options allow 64 characters).
    bytes message = {0x08, 0x05, 0x12, 102, 0x0A, 100};
    message.insert(message.end(), 100, 'a');
    const auto bad = refused(decode_request(message));
    BOOST_TEST(bad.request_id == 5u);
    BOOST_TEST(bad.error.code == core::error_code::payload_too_large);
}

BOOST_AUTO_TEST_CASE(answer_bodies_are_not_requests) {
    spear_edge_Frame frame{};
    frame.request_id = 4;
    frame.which_body = spear_edge_Frame_pong_tag;
    const auto bad = refused(decode_request(encode_frame(frame)));
    BOOST_TEST(bad.request_id == 4u);
    BOOST_TEST(bad.error.code == core::error_code::invalid_request);
    frame.which_body = 0;
    BOOST_TEST(refused(decode_request(encode_frame(frame))).error.message.find("no body") !=
               std::string::npos);
}

BOOST_AUTO_TEST_CASE(decodes_status_cancel_and_ping) {
    spear_edge_Frame frame{};
    frame.request_id = 11;
    frame.which_body = spear_edge_Frame_status_request_tag;
    std::strcpy(frame.body.status_request.execution_id, "abc");
    frame.body.status_request.wait_ms = 2000;
    frame.body.status_request.include_result = true;
    auto status =
        std::get<status_request>(std::get<peer_request>(decode_request(encode_frame(frame))).body);
    BOOST_TEST(status.execution_id == "abc");
    BOOST_TEST(status.wait_ms == 2000u);
    BOOST_TEST(status.include_result);

    frame = {};
    frame.request_id = 12;
    frame.which_body = spear_edge_Frame_cancel_request_tag;
    std::strcpy(frame.body.cancel_request.execution_id, "abc");
    auto cancel =
        std::get<cancel_request>(std::get<peer_request>(decode_request(encode_frame(frame))).body);
    BOOST_TEST(cancel.execution_id == "abc");
    BOOST_TEST(!cancel.reason.empty()); // a default reason for the record

    frame = {};
    frame.request_id = 13;
    frame.which_body = spear_edge_Frame_ping_tag;
    const auto ping = std::get<peer_request>(decode_request(encode_frame(frame)));
    BOOST_TEST(std::holds_alternative<ping_request>(ping.body));

    frame = {};
    frame.request_id = 14;
    frame.which_body = spear_edge_Frame_status_request_tag;
    BOOST_TEST(refused(decode_request(encode_frame(frame))).error.code ==
               core::error_code::invalid_request);
}

BOOST_AUTO_TEST_CASE(sync_response_carries_the_whole_result) {
    const auto response = sync_response("hello\n", core::ExecutionStatus::completed);
    const auto frame = decode_frame(encode_invoke_response(21, response, 4096));
    BOOST_TEST(frame.request_id == 21u);
    BOOST_REQUIRE(frame.which_body == spear_edge_Frame_invoke_response_tag);
    const auto& r = frame.body.invoke_response;
    BOOST_TEST(r.success);
    BOOST_TEST(std::string(r.execution_id) == "0123456789abcdef01234567");
    BOOST_TEST(r.result.status == spear_edge_ExecutionStatus_EXECUTION_STATUS_COMPLETED);
    BOOST_TEST(std::string(reinterpret_cast<const char*>(r.result.output.bytes),
                           r.result.output.size) == "hello\n");
    BOOST_TEST(!r.result.output_truncated);
    BOOST_TEST(r.result.has_exit_code);
    BOOST_TEST(r.result.exit_code == 0);
    BOOST_TEST(r.result.execution_time_ms == 12);
    BOOST_TEST(std::string(r.status_endpoint).empty());
}

BOOST_AUTO_TEST_CASE(failed_sync_response_has_success_false_and_the_error_code) {
    const auto response = sync_response("", core::ExecutionStatus::failed);
    const auto frame = decode_frame(encode_invoke_response(2, response, 4096));
    const auto& r = frame.body.invoke_response;
    BOOST_TEST(!r.success);
    BOOST_TEST(r.result.error_code == spear_edge_ErrorCode_ERROR_CODE_FUNCTION_FAILED);
    BOOST_TEST(r.result.exit_code == 3);
    BOOST_TEST(std::string(r.message).find("exited") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(async_response_has_status_endpoint_and_estimate) {
    core::ExecutionResult pending;
    pending.execution_id = "0123456789abcdef01234567";
    pending.status = core::ExecutionStatus::pending;
    const auto response = core::RuntimeExecutionResponse::new_async(
        pending.execution_id, pending, 250, core::estimate_source::history, {});
    const auto frame = decode_frame(encode_invoke_response(3, response, 4096));
    const auto& r = frame.body.invoke_response;
    BOOST_TEST(r.success);
    BOOST_TEST(std::string(r.status_endpoint) == "/status/0123456789abcdef01234567");
    BOOST_TEST(r.estimated_completion_ms == 250);
    BOOST_TEST(r.execution_mode == spear_edge_ExecutionMode_EXECUTION_MODE_ASYNC);
    BOOST_TEST(r.result.status == spear_edge_ExecutionStatus_EXECUTION_STATUS_PENDING);
}

BOOST_AUTO_TEST_CASE(long_output_is_cut_to_the_frame_limit_and_flagged) {
    for (const std::size_t limit : {std::size_t{512}, std::size_t{1000}, std::size_t{4096}}) {
        const auto response =
            sync_response(std::string(60000, 'x'), core::ExecutionStatus::completed);
        const auto message = encode_invoke_response(1, response, limit);
        BOOST_TEST_CONTEXT("limit " << limit) {
            BOOST_TEST(message.size() <= limit);
            const auto frame = decode_frame(message);
            const auto& r = frame.body.invoke_response.result;
            BOOST_TEST(r.output_truncated);
            BOOST_TEST(r.output_size == 60000u);
            BOOST_TEST(r.output.size > 0u);
            if (limit < spear_edge_Frame_size)
                BOOST_TEST(message.size() + 8 > limit); // cut no more than needed
            else
                BOOST_TEST(r.output.size == sizeof(r.output.bytes)); // the field is the bound
        }
    }
}

BOOST_AUTO_TEST_CASE(invalid_utf8_in_text_becomes_question_marks) {
    const core::error e =
        core::error::make(core::error_code::function_not_found, "no function named 'a\xff\xfe"
                                                                "b\xc3\xa9'");
    const auto frame = decode_frame(encode_error(5, e, 4096));
    BOOST_REQUIRE(frame.which_body == spear_edge_Frame_error_tag);
    BOOST_TEST(std::string(frame.body.error.message) == "no function named 'a??b\xc3\xa9'");
    BOOST_TEST(frame.body.error.code == spear_edge_ErrorCode_ERROR_CODE_FUNCTION_NOT_FOUND);
}

BOOST_AUTO_TEST_CASE(long_text_is_cut_on_a_character_boundary) {
    std::string message;
    for (int i = 0; i < 200; ++i)
        message += "\xc3\xa9"; // 400 bytes of 'é'
    const auto frame =
        decode_frame(encode_error(5, core::error::make(core::error_code::internal, message), 4096));
    const std::string got = frame.body.error.message;
    BOOST_TEST(got.size() == 256u);
    BOOST_TEST(got.size() % 2 == 0u);
}

BOOST_AUTO_TEST_CASE(error_frame_carries_retry_after) {
    auto e = core::error::make(core::error_code::too_many_requests);
    e.retry_after_ms = 1500;
    const auto frame = decode_frame(encode_error(8, e, 4096));
    BOOST_TEST(frame.request_id == 8u);
    BOOST_TEST(frame.body.error.code == spear_edge_ErrorCode_ERROR_CODE_TOO_MANY_REQUESTS);
    BOOST_TEST(frame.body.error.retry_after_ms == 1500u);
}

BOOST_AUTO_TEST_CASE(every_error_code_maps_and_round_trips) {
    for (int i = 0; i <= static_cast<int>(core::error_code::unsupported_media_type); ++i) {
        const auto code = static_cast<core::error_code>(i);
        const auto wire = to_wire(code);
        BOOST_TEST_CONTEXT(core::to_string(code)) {
            if (code == core::error_code::route_not_found ||
                code == core::error_code::method_not_allowed ||
                code == core::error_code::forbidden ||
                code == core::error_code::unsupported_media_type)
                BOOST_TEST(from_wire(wire) == core::error_code::invalid_request);
            else
                BOOST_TEST(from_wire(wire) == code);
        }
    }
}

BOOST_AUTO_TEST_CASE(status_response_and_cancel_response) {
    service::status_view status;
    status.result.execution_id = "0123456789abcdef01234567";
    status.result.function_name = "slow";
    status.result.status = core::ExecutionStatus::running;
    status.estimated_completion_ms = 900;
    auto frame = decode_frame(encode_status_response(30, status, 4096));
    BOOST_REQUIRE(frame.which_body == spear_edge_Frame_status_response_tag);
    BOOST_TEST(std::string(frame.body.status_response.function_name) == "slow");
    BOOST_TEST(frame.body.status_response.estimated_completion_ms == 900);
    BOOST_TEST(frame.body.status_response.result.status ==
               spear_edge_ExecutionStatus_EXECUTION_STATUS_RUNNING);

    service::cancel_view cancel;
    cancel.success = false;
    cancel.final_status = core::ExecutionStatus::completed;
    cancel.execution_id = "0123456789abcdef01234567";
    cancel.message = "execution already ended with status completed";
    frame = decode_frame(encode_cancel_response(31, cancel, 4096));
    BOOST_REQUIRE(frame.which_body == spear_edge_Frame_cancel_response_tag);
    BOOST_TEST(!frame.body.cancel_response.success);
    BOOST_TEST(frame.body.cancel_response.error_code == spear_edge_ErrorCode_ERROR_CODE_CONFLICT);
    BOOST_TEST(frame.body.cancel_response.final_status ==
               spear_edge_ExecutionStatus_EXECUTION_STATUS_COMPLETED);
}

BOOST_AUTO_TEST_CASE(a_full_chunk_always_fits_its_frame) {
    for (const std::size_t limit :
         {min_frame_bytes, std::size_t{700}, std::size_t{4096}, std::size_t{65536}}) {
        const std::string chunk(max_chunk_bytes(limit), '\0');
        stream_step step;
        step.execution_id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        step.chunk = chunk;
        step.seq = UINT32_MAX;
        step.dropped = UINT32_MAX;
        const auto message = encode_stream_result(UINT32_MAX, step, limit);
        BOOST_TEST_CONTEXT("limit " << limit) {
            BOOST_TEST(message.size() <= limit);
            const auto frame = decode_frame(message);
            BOOST_TEST(frame.body.stream_result.chunk.size == chunk.size());
        }
    }
}

BOOST_AUTO_TEST_CASE(final_stream_result_carries_the_outcome) {
    core::ExecutionResult result;
    result.status = core::ExecutionStatus::timeout;
    result.error = core::error_code::timeout;
    result.error_message = "killed after 400 ms";
    result.signal = 9;
    result.output_size = 77;
    stream_step step;
    step.execution_id = "id";
    step.seq = 4;
    step.final_result = &result;
    const auto frame = decode_frame(encode_stream_result(6, step, 4096));
    const auto& s = frame.body.stream_result;
    BOOST_TEST(s.is_final);
    BOOST_TEST(s.seq == 4u);
    BOOST_TEST(s.status == spear_edge_ExecutionStatus_EXECUTION_STATUS_TIMEOUT);
    BOOST_TEST(s.error_code == spear_edge_ErrorCode_ERROR_CODE_TIMEOUT);
    BOOST_TEST(s.has_signal);
    BOOST_TEST(!s.has_exit_code);
    BOOST_TEST(s.output_size == 77u);
}

BOOST_AUTO_TEST_CASE(pong_echoes_the_request_id) {
    const auto frame = decode_frame(encode_pong(77));
    BOOST_TEST(frame.request_id == 77u);
    BOOST_TEST(frame.which_body == spear_edge_Frame_pong_tag);
}

BOOST_AUTO_TEST_SUITE_END()
