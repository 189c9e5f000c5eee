// Tests of the protocol-neutral error codes: names, parsing and default messages.
#include "core/error_code.hpp"

#include <boost/test/unit_test.hpp>

#include <set>
#include <string_view>
#include <vector>

using namespace spear::core;

namespace {

// Every enumerator: none .. interrupted (the last one; extend when the enum grows).
std::vector<error_code> all_codes() {
    std::vector<error_code> codes;
    for (auto i = static_cast<unsigned>(error_code::none);
         i <= static_cast<unsigned>(error_code::node_lost); ++i)
        codes.push_back(static_cast<error_code>(i));
    return codes;
}

} // namespace

BOOST_AUTO_TEST_SUITE(error_codes)

BOOST_AUTO_TEST_CASE(every_code_has_a_distinct_name_that_parses_back) {
    std::set<std::string_view> names;
    const auto codes = all_codes();
    BOOST_TEST(codes.size() == 22u);
    for (auto code : codes) {
        const auto name = to_string(code);
        BOOST_TEST(!name.empty());
        BOOST_TEST(names.insert(name).second, "duplicate name " << name);
        BOOST_TEST((parse_error_code(name) == code), "name " << name);
        // snake_case wire names only.
        for (char c : name)
            BOOST_TEST(((c >= 'a' && c <= 'z') || c == '_'), "name " << name);
    }
}

BOOST_AUTO_TEST_CASE(every_code_has_a_default_message) {
    std::set<std::string_view> messages;
    for (auto code : all_codes()) {
        const auto message = default_message(code);
        BOOST_TEST(!message.empty(), "code " << to_string(code));
        messages.insert(message);
    }
    BOOST_TEST(messages.size() == all_codes().size());
}

BOOST_AUTO_TEST_CASE(design_table_names) {
    BOOST_TEST(to_string(error_code::invalid_request) == "invalid_request");
    BOOST_TEST(to_string(error_code::unknown_execution_mode) == "unknown_execution_mode");
    BOOST_TEST(to_string(error_code::execution_evicted) == "execution_evicted");
    BOOST_TEST(to_string(error_code::too_many_requests) == "too_many_requests");
    BOOST_TEST(to_string(error_code::status_table_full) == "status_table_full");
    BOOST_TEST(to_string(error_code::internal) == "internal");
}

BOOST_AUTO_TEST_CASE(unknown_names_do_not_parse) {
    for (std::string_view name :
         {"", "INVALID_REQUEST", "invalid request", "invalid_request ", "not_a_code", "400"})
        BOOST_TEST(!parse_error_code(name).has_value(), "accepted '" << name << "'");
}

BOOST_AUTO_TEST_CASE(make_uses_default_message_when_none_given) {
    const auto plain = error::make(error_code::function_not_found);
    BOOST_TEST((plain.code == error_code::function_not_found));
    BOOST_TEST(plain.message == default_message(error_code::function_not_found));
    BOOST_TEST(plain.retry_after_ms == 0);

    const auto specific = error::make(error_code::invalid_request, "input: must be an object");
    BOOST_TEST(specific.message == "input: must be an object");
}

BOOST_AUTO_TEST_SUITE_END()
