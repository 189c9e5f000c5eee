// Tests of execution id formatting and parsing.
#include "core/execution_id.hpp"

#include <boost/test/unit_test.hpp>

#include <string>

using namespace spear::core;

BOOST_AUTO_TEST_SUITE(execution_id)

BOOST_AUTO_TEST_CASE(formats_boot_seq_and_slot_as_fixed_width_lowercase_hex) {
    BOOST_TEST(format_execution_id({1, 2, 3}) == "00000001"
                                                 "0000000002"
                                                 "000003");
    BOOST_TEST(format_execution_id({0xdeadbeef, 0xabcdef0123, 0xfedcba}) ==
               "deadbeefabcdef0123fedcba");
    BOOST_TEST(format_execution_id({}).size() == execution_id_length);
}

BOOST_AUTO_TEST_CASE(format_parse_round_trip) {
    const execution_id_parts samples[] = {
        {0, 0, 0},
        {1, 1, 1},
        {0x5bee1234, 123456789, 1023},
        {0x80000000, std::uint64_t{1} << 39, 1u << 23},
    };
    for (const auto& parts : samples) {
        const auto text = format_execution_id(parts);
        BOOST_TEST(text.size() == execution_id_length);
        const auto parsed = parse_execution_id(text);
        BOOST_REQUIRE(parsed.has_value());
        BOOST_TEST((*parsed == parts));
    }
}

BOOST_AUTO_TEST_CASE(max_values_round_trip) {
    const execution_id_parts max{0xffffffffu, execution_id_max_seq, execution_id_max_slot};
    const auto text = format_execution_id(max);
    BOOST_TEST(text == std::string(execution_id_length, 'f'));
    const auto parsed = parse_execution_id(text);
    BOOST_REQUIRE(parsed.has_value());
    BOOST_TEST((*parsed == max));
}

BOOST_AUTO_TEST_CASE(format_keeps_only_the_bits_the_layout_has) {
    const auto text = format_execution_id({7, execution_id_max_seq + 2, execution_id_max_slot + 5});
    const auto parsed = parse_execution_id(text);
    BOOST_REQUIRE(parsed.has_value());
    BOOST_TEST(parsed->seq == 1u);
    BOOST_TEST(parsed->slot == 4u);
}

BOOST_AUTO_TEST_CASE(rejects_wrong_length) {
    const auto good = format_execution_id({1, 2, 3});
    BOOST_TEST(!parse_execution_id("").has_value());
    BOOST_TEST(!parse_execution_id(good.substr(0, 23)).has_value());
    BOOST_TEST(!parse_execution_id(good + "0").has_value());
    BOOST_TEST(!parse_execution_id(" " + good.substr(1)).has_value());
}

BOOST_AUTO_TEST_CASE(rejects_uppercase_and_non_hex) {
    BOOST_TEST(parse_execution_id("deadbeefabcdef0123fedcba").has_value());
    BOOST_TEST(!parse_execution_id("DEADBEEFABCDEF0123FEDCBA").has_value());
    BOOST_TEST(!parse_execution_id("deadbeefabcdef0123fedcbA").has_value());
    BOOST_TEST(!parse_execution_id("deadbeefabcdef0123fedcbg").has_value());
    BOOST_TEST(!parse_execution_id("0000000g0000000000000000").has_value());
    BOOST_TEST(!parse_execution_id("00000000-000000000000000").has_value());
    BOOST_TEST(!parse_execution_id("0x000000000000000000000a").has_value());
    std::string with_nul(execution_id_length, '0');
    with_nul[10] = '\0';
    BOOST_TEST(!parse_execution_id(with_nul).has_value());
}

BOOST_AUTO_TEST_SUITE_END()
