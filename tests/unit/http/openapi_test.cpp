// Tests that the embedded OpenAPI document and the router's route table name the same routes.
#include "transport/http/http_routes.hpp"

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <set>
#include <string>

using namespace spear;
namespace json = boost::json;
namespace http = transport::http;

namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    std::ranges::transform(out, out.begin(), [](unsigned char c) { return std::tolower(c); });
    return out;
}

/// "get /status/{execution_id}" for each operation of the document.
std::set<std::string> document_operations() {
    const auto doc = json::parse(http::openapi_json()).as_object();
    std::set<std::string> ops;
    for (const auto& [path, item] : doc.at("paths").as_object())
        for (const auto& [method, op] : item.as_object()) {
            (void)op;
            ops.insert(std::string(method) + " " + std::string(path));
        }
    return ops;
}

std::set<std::string> router_operations() {
    std::set<std::string> ops;
    for (const auto& r : http::route_table())
        ops.insert(lower(http::beast_http::to_string(r.method)) + " " + std::string(r.path));
    return ops;
}

} // namespace

BOOST_AUTO_TEST_SUITE(openapi)

BOOST_AUTO_TEST_CASE(document_is_openapi_3_1_json) {
    const auto doc = json::parse(http::openapi_json()).as_object();
    BOOST_TEST(doc.at("openapi").as_string().starts_with("3.1"));
    BOOST_TEST(doc.at("components").as_object().contains("schemas"));
}

BOOST_AUTO_TEST_CASE(every_router_route_is_in_the_document) {
    const auto doc = document_operations();
    for (const auto& op : router_operations())
        BOOST_TEST(doc.contains(op), "missing from openapi.json: " << op);
}

BOOST_AUTO_TEST_CASE(document_names_no_route_the_router_lacks) {
    const auto router = router_operations();
    for (const auto& op : document_operations())
        BOOST_TEST(router.contains(op), "openapi.json names a route the router lacks: " << op);
}

BOOST_AUTO_TEST_CASE(documents_the_issue_schemas) {
    const auto doc = json::parse(http::openapi_json()).as_object();
    const auto& schemas = doc.at("components").as_object().at("schemas").as_object();
    for (const char* name : {"InvokeFunctionRequest", "InvokeFunctionResponse", "ExecutionResult",
                             "Error", "StreamExecutionResult"})
        BOOST_TEST(schemas.contains(name), name);
}

BOOST_AUTO_TEST_CASE(every_operation_documents_its_auth_and_error_codes) {
    const auto doc = json::parse(http::openapi_json()).as_object();
    const auto& paths = doc.at("paths").as_object();
    for (const auto& r : http::route_table()) {
        const auto& op = paths.at(r.path)
                             .as_object()
                             .at(lower(http::beast_http::to_string(r.method)))
                             .as_object();
        const auto& responses = op.at("responses").as_object();
        BOOST_TEST(responses.contains("405"), r.path);
        BOOST_TEST(responses.contains("403"), r.path); // the Host/Origin checks run everywhere
        BOOST_TEST(responses.contains("401") == r.needs_token, r.path);
    }
}

BOOST_AUTO_TEST_SUITE_END()
