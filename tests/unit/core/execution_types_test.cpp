// Tests of the execution vocabulary: mode and status text forms, parsing, terminal states.
#include "core/execution_types.hpp"

#include <boost/test/unit_test.hpp>

#include <set>
#include <string>
#include <string_view>

using namespace spear::core;

namespace {

constexpr ExecutionMode all_modes[] = {ExecutionMode::sync, ExecutionMode::async,
                                       ExecutionMode::stream};

std::string upper(std::string_view text) {
    std::string out(text);
    for (auto& c : out)
        if (c >= 'a' && c <= 'z')
            c = static_cast<char>(c - 'a' + 'A');
    return out;
}

} // namespace

BOOST_AUTO_TEST_SUITE(execution_types)

BOOST_AUTO_TEST_CASE(parses_mode_names_enum_names_and_numbers) {
    BOOST_TEST((parse_execution_mode("sync") == ExecutionMode::sync));
    BOOST_TEST((parse_execution_mode("async") == ExecutionMode::async));
    BOOST_TEST((parse_execution_mode("stream") == ExecutionMode::stream));
    BOOST_TEST((parse_execution_mode("EXECUTION_MODE_SYNC") == ExecutionMode::sync));
    BOOST_TEST((parse_execution_mode("EXECUTION_MODE_ASYNC") == ExecutionMode::async));
    BOOST_TEST((parse_execution_mode("EXECUTION_MODE_STREAM") == ExecutionMode::stream));
    BOOST_TEST((parse_execution_mode("1") == ExecutionMode::sync));
    BOOST_TEST((parse_execution_mode("2") == ExecutionMode::async));
    BOOST_TEST((parse_execution_mode("3") == ExecutionMode::stream));
}

BOOST_AUTO_TEST_CASE(rejects_other_mode_texts) {
    for (std::string_view text : {"SYNC",
                                  "sync ",
                                  " sync",
                                  "Sync",
                                  "0",
                                  "4",
                                  "-1",
                                  "+1",
                                  " 1",
                                  "1.0",
                                  "1x",
                                  "",
                                  "EXECUTION_MODE_",
                                  "EXECUTION_MODE_sync",
                                  "execution_mode_sync",
                                  "EXECUTION_MODE_UNSPECIFIED",
                                  "EXECUTION_MODE_SYNCX",
                                  "EXECUTION_MODE_1",
                                  "syncs",
                                  "99999999999999999999"})
        BOOST_TEST(!parse_execution_mode(text).has_value(), "accepted '" << text << "'");
    // An embedded NUL is not a prefix match.
    BOOST_TEST(!parse_execution_mode(std::string_view("sync\0", 5)).has_value());
}

BOOST_AUTO_TEST_CASE(mode_numbers) {
    BOOST_TEST((execution_mode_from_number(1) == ExecutionMode::sync));
    BOOST_TEST((execution_mode_from_number(2) == ExecutionMode::async));
    BOOST_TEST((execution_mode_from_number(3) == ExecutionMode::stream));
    for (std::int64_t n : {0LL, 4LL, -1LL, 257LL, 259LL})
        BOOST_TEST(!execution_mode_from_number(n).has_value(), "accepted " << n);
}

BOOST_AUTO_TEST_CASE(parses_status_names_enum_names_and_numbers) {
    int number = 1;
    for (auto status : all_statuses) {
        const auto name = to_string(status);
        BOOST_TEST((parse_execution_status(name) == status));
        BOOST_TEST((parse_execution_status("EXECUTION_STATUS_" + upper(name)) == status));
        BOOST_TEST((parse_execution_status(std::to_string(number)) == status));
        BOOST_TEST(static_cast<int>(status) == number);
        ++number;
    }
    BOOST_TEST(
        (parse_execution_status("EXECUTION_STATUS_COMPLETED") == ExecutionStatus::completed));
}

BOOST_AUTO_TEST_CASE(rejects_other_status_texts) {
    for (std::string_view text :
         {"COMPLETED", "completed ", "Completed", "0", "7", "-3", "", "EXECUTION_STATUS_",
          "EXECUTION_STATUS_completed", "EXECUTION_STATUS_UNSPECIFIED", "EXECUTION_MODE_SYNC",
          "sync", "done", "cancelled\n", "canceled"})
        BOOST_TEST(!parse_execution_status(text).has_value(), "accepted '" << text << "'");
}

BOOST_AUTO_TEST_CASE(to_string_round_trips) {
    std::set<std::string_view> mode_names;
    for (auto mode : all_modes) {
        const auto name = to_string(mode);
        mode_names.insert(name);
        BOOST_TEST((parse_execution_mode(name) == mode));
        BOOST_TEST((parse_execution_mode("EXECUTION_MODE_" + upper(name)) == mode));
        BOOST_TEST((parse_execution_mode(std::to_string(static_cast<int>(mode))) == mode));
        BOOST_TEST(valid_modes_text.find(name) != std::string_view::npos);
    }
    BOOST_TEST(mode_names.size() == 3u);
    BOOST_TEST(to_string(ExecutionMode::async) == "async");

    std::set<std::string_view> status_names;
    for (auto status : all_statuses)
        status_names.insert(to_string(status));
    BOOST_TEST(status_names.size() == status_count);
    BOOST_TEST(std::size(all_statuses) == status_count);
    BOOST_TEST(to_string(ExecutionStatus::timeout) == "timeout");
    BOOST_TEST(to_string(ExecutionStatus::cancelled) == "cancelled");
}

BOOST_AUTO_TEST_CASE(terminal_statuses) {
    static_assert(!is_terminal(ExecutionStatus::pending));
    BOOST_TEST(!is_terminal(ExecutionStatus::pending));
    BOOST_TEST(!is_terminal(ExecutionStatus::running));
    BOOST_TEST(is_terminal(ExecutionStatus::completed));
    BOOST_TEST(is_terminal(ExecutionStatus::failed));
    BOOST_TEST(is_terminal(ExecutionStatus::cancelled));
    BOOST_TEST(is_terminal(ExecutionStatus::timeout));
}

BOOST_AUTO_TEST_SUITE_END()
