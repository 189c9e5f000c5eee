// Tests of the request-target parser shared by the HTTP routes and the /stream endpoints.
#include "support/print_types.hpp"
#include "transport/http/request_target.hpp"

#include <boost/test/unit_test.hpp>

using namespace spear;
using transport::http::parse_request_target;
using transport::http::request_target;

namespace {

request_target ok(std::string_view text) {
    auto parsed = parse_request_target(text);
    BOOST_REQUIRE_MESSAGE(std::holds_alternative<request_target>(parsed), text);
    return std::get<request_target>(std::move(parsed));
}

core::error bad(std::string_view text) {
    auto parsed = parse_request_target(text);
    BOOST_REQUIRE_MESSAGE(std::holds_alternative<core::error>(parsed), text);
    return std::get<core::error>(std::move(parsed));
}

} // namespace

BOOST_AUTO_TEST_SUITE(request_target_suite)

BOOST_AUTO_TEST_CASE(splits_the_path_into_decoded_segments) {
    const auto t = ok("/functions/my%20fn/invoke");
    BOOST_TEST(t.segments == (std::vector<std::string>{"functions", "my fn", "invoke"}));
    BOOST_TEST(t.params.empty());
    BOOST_TEST(ok("/").segments.empty());
    // Empty segments are dropped: a doubled or trailing slash names the same route.
    BOOST_TEST(ok("//executions//abc/").segments ==
               (std::vector<std::string>{"executions", "abc"}));
}

BOOST_AUTO_TEST_CASE(reads_query_parameters_in_order_and_decoded) {
    const auto t = ok("/status/x?wait_ms=100&include_result=false&q=a%26b&flag&wait_ms=7");
    BOOST_TEST(t.segments == (std::vector<std::string>{"status", "x"}));
    BOOST_TEST(t.param("wait_ms").value() == "100"); // the first of a repeated key
    BOOST_TEST(t.param("include_result").value() == "false");
    BOOST_TEST(t.param("q").value() == "a&b");
    BOOST_TEST(t.param("flag").value() == ""); // present without a value
    BOOST_TEST(!t.param("missing").has_value());
    BOOST_TEST(t.params.size() == 5u);
}

BOOST_AUTO_TEST_CASE(matches_routes_with_wildcard_segments) {
    const auto t = ok("/executions/abc/stream?x=1");
    BOOST_TEST(t.matches({"executions", "*", "stream"}));
    BOOST_TEST(!t.matches({"executions", "*"}));
    BOOST_TEST(!t.matches({"executions", "abc", "cancel"}));
    BOOST_TEST(ok("/stream").matches({"stream"}));
    BOOST_TEST(ok("/").matches({}));
}

BOOST_AUTO_TEST_CASE(refuses_targets_that_are_not_origin_form_with_a_clear_error) {
    for (std::string_view text : {"http://host/health", "*", "health", "/a b", "/%zz", ""}) {
        const auto e = bad(text);
        BOOST_TEST(e.code == core::error_code::invalid_request, text);
        BOOST_TEST(e.message == "the request target is not a valid path", text);
    }
}

BOOST_AUTO_TEST_SUITE_END()
