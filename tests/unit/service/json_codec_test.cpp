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

BOOST_AUTO_TEST_CASE(health_text_is_the_documented_json) {
    // health_text writes JSON by hand (the hot route builds no JSON values): it must parse
    // and carry every documented member, with the optional ones when present.
    service::health_view h;
    h.uptime_ms = 1234;
    h.running = 2;
    h.pending = 3;
    h.records = 7;
    h.capacity = 1024;
    h.evictions = 5;
    h.by_status = {3, 2, 1, 0, 1, 0};
    h.executions_started = 99;
    auto v = boost::json::parse(service::health_text(h));
    auto& o = v.as_object();
    BOOST_TEST(o.at("status").as_string() == "ok");
    BOOST_TEST(o.at("live").as_bool());
    BOOST_TEST(o.at("ready").as_bool());
    BOOST_TEST(o.at("uptime_ms").to_number<std::int64_t>() == 1234);
    BOOST_TEST(o.at("running").to_number<int>() == 2);
    BOOST_TEST(o.at("pending").to_number<int>() == 3);
    const auto& table = o.at("status_table").as_object();
    BOOST_TEST(table.at("records").to_number<int>() == 7);
    BOOST_TEST(table.at("capacity").to_number<int>() == 1024);
    BOOST_TEST(table.at("evictions").to_number<int>() == 5);
    const auto& by_status = table.at("by_status").as_object();
    BOOST_TEST(by_status.size() == core::status_count);
    BOOST_TEST(by_status.at("pending").to_number<int>() == 3);
    BOOST_TEST(by_status.at("completed").to_number<int>() == 1);
    BOOST_TEST(o.at("executions_started").to_number<int>() == 99);
    BOOST_TEST(!o.contains("runtimes"));
    BOOST_TEST(o.at("durable").as_object().size() == 1u);
    BOOST_TEST(!o.at("durable").at("enabled").as_bool());

    h.ready = false;
    h.runtimes["container"] = boost::json::object{{"engine", "up \"quoted\""}};
    h.durable = true;
    h.durability = "batched";
    h.durable_degraded = true;
    h.durable_dropped_records = 4;
    h.durable_file_bytes = 140509184;
    v = boost::json::parse(service::health_text(h));
    auto& d = v.as_object();
    BOOST_TEST(d.at("status").as_string() == "shutting_down");
    BOOST_TEST(!d.at("ready").as_bool());
    BOOST_TEST(d.at("runtimes").at("container").at("engine").as_string() == "up \"quoted\"");
    const auto& durable = d.at("durable").as_object();
    BOOST_TEST(durable.at("enabled").as_bool());
    BOOST_TEST(durable.at("durability").as_string() == "batched");
    BOOST_TEST(durable.at("degraded").as_bool());
    BOOST_TEST(durable.at("dropped_records").to_number<int>() == 4);
    BOOST_TEST(durable.at("file_bytes").to_number<std::int64_t>() == 140509184);
}

BOOST_AUTO_TEST_SUITE_END()
