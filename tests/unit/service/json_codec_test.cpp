// Tests of the JSON forms of the service's messages.
#include "service/json_codec.hpp"

#include <boost/json/parse.hpp>
#include <boost/test/unit_test.hpp>

using namespace spear;

namespace {

core::InvokeFunctionRequest parse_ok(std::string_view text) {
    auto parsed = service::parse_invoke_request(text);
    if (auto* e = std::get_if<core::error>(&parsed))
        BOOST_FAIL("unexpected error: " << e->message);
    return std::get<core::InvokeFunctionRequest>(parsed);
}

core::error parse_error(std::string_view text) {
    auto parsed = service::parse_invoke_request(text);
    BOOST_REQUIRE(std::holds_alternative<core::error>(parsed));
    return std::get<core::error>(parsed);
}

} // namespace

BOOST_AUTO_TEST_SUITE(json_codec)

BOOST_AUTO_TEST_CASE(parses_full_invoke_request) {
    auto r = parse_ok(R"({"function_name":"echo","execution_mode":"EXECUTION_MODE_ASYNC",
        "input":{"content_type":"text/plain","data":"hi"},
        "context":{"execution_id":"dev-1","timeout_ms":500,"environment":{"A":"b"}}})");
    BOOST_TEST(r.function_name == "echo");
    BOOST_TEST((r.execution_mode == core::ExecutionMode::async));
    BOOST_TEST(r.input == "hi");
    BOOST_TEST(r.input_content_type == "text/plain");
    BOOST_TEST(r.client_execution_id == "dev-1");
    BOOST_TEST(r.timeout_ms.value() == 500u);
    BOOST_TEST(r.environment.at("A") == "b");
}

BOOST_AUTO_TEST_CASE(mode_defaults_to_sync_and_accepts_numbers) {
    BOOST_TEST((parse_ok(R"({"function_name":"f"})").execution_mode == core::ExecutionMode::sync));
    BOOST_TEST((parse_ok(R"({"function_name":"f","execution_mode":3})").execution_mode ==
                core::ExecutionMode::stream));
}

BOOST_AUTO_TEST_CASE(decodes_base64_input) {
    auto r = parse_ok(R"({"function_name":"f","input":{"data_base64":"AAEC/w=="}})");
    BOOST_TEST(r.input == std::string("\x00\x01\x02\xff", 4));
}

BOOST_AUTO_TEST_CASE(errors_name_the_field) {
    BOOST_TEST(parse_error(R"({"function_name":1})").message.find("function_name") !=
               std::string::npos);
    BOOST_TEST(parse_error(R"({"function_name":"f","input":{"data_base64":"@@"}})")
                   .message.find("input.data_base64") != std::string::npos);
    BOOST_TEST(parse_error(R"({"function_name":"f","context":{"timeout_ms":0}})")
                   .message.find("context.timeout_ms") != std::string::npos);
    BOOST_TEST(parse_error(R"({"function_name":"f","extra":1})").message.find("extra") !=
               std::string::npos);
    BOOST_TEST(parse_error(R"({"input":"x"})").message.find("function_name") !=
               std::string::npos);
    BOOST_TEST((parse_error("{").code == core::error_code::invalid_request));
    BOOST_TEST((parse_error("[]").code == core::error_code::invalid_request));
}

BOOST_AUTO_TEST_CASE(unknown_mode_is_its_own_error) {
    auto e = parse_error(R"({"function_name":"f","execution_mode":"fast"})");
    BOOST_TEST((e.code == core::error_code::unknown_execution_mode));
    BOOST_TEST(e.message.find("sync") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(output_is_text_or_base64) {
    auto text = service::output_to_json("text/plain", "héllo");
    BOOST_TEST(text.at("data").as_string() == "héllo");
    BOOST_TEST(!text.contains("data_base64"));
    auto binary = service::output_to_json("application/octet-stream", std::string("\xff\x00", 2));
    BOOST_TEST(binary.at("data_base64").as_string() == "/wA=");
    BOOST_TEST(!binary.contains("data"));
}

BOOST_AUTO_TEST_CASE(error_body_shape) {
    auto body = service::error_body(core::error::make(core::error_code::timeout));
    BOOST_TEST(body.at("error").at("code").as_string() == "timeout");
    BOOST_TEST(!body.at("error").at("message").as_string().empty());
}

BOOST_AUTO_TEST_SUITE_END()
