// Tests of UTF-8 validation and boundaries, and base64.
#include "core/text_encoding.hpp"

#include <boost/test/unit_test.hpp>

using namespace spear::core;

BOOST_AUTO_TEST_SUITE(text_encoding)

BOOST_AUTO_TEST_CASE(accepts_well_formed_utf8) {
    BOOST_TEST(is_valid_utf8(""));
    BOOST_TEST(is_valid_utf8("plain ascii"));
    BOOST_TEST(is_valid_utf8("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80"));
}

BOOST_AUTO_TEST_CASE(rejects_malformed_utf8) {
    BOOST_TEST(!is_valid_utf8("\xff"));
    BOOST_TEST(!is_valid_utf8("\xc3"));              // truncated
    BOOST_TEST(!is_valid_utf8("\xc0\xaf"));          // overlong
    BOOST_TEST(!is_valid_utf8("\xed\xa0\x80"));      // surrogate
    BOOST_TEST(!is_valid_utf8("\xf4\x90\x80\x80"));  // > U+10FFFF
    BOOST_TEST(!is_valid_utf8("\xe2\x28\xa1"));      // bad continuation
}

BOOST_AUTO_TEST_CASE(base64_round_trips_every_length) {
    std::string bytes;
    for (int i = 0; i < 300; ++i) {
        auto encoded = base64_encode(bytes);
        BOOST_TEST(encoded.size() % 4 == 0u);
        auto decoded = base64_decode(encoded);
        BOOST_REQUIRE(decoded.has_value());
        BOOST_TEST(*decoded == bytes);
        bytes.push_back(static_cast<char>(i * 7));
    }
}

BOOST_AUTO_TEST_CASE(base64_known_vectors_and_errors) {
    BOOST_TEST(base64_encode("foobar") == "Zm9vYmFy");
    BOOST_TEST(base64_encode("fo") == "Zm8=");
    BOOST_TEST(base64_decode("Zm8").value() == "fo"); // padding optional
    BOOST_TEST(!base64_decode("Zm9v!").has_value());
    BOOST_TEST(!base64_decode("Z").has_value());
}

BOOST_AUTO_TEST_CASE(cut_point_keeps_text_that_fits) {
    BOOST_TEST(utf8_cut_point("", 0) == 0u);
    BOOST_TEST(utf8_cut_point("abc", 3) == 3u);
    BOOST_TEST(utf8_cut_point("abc", 10) == 3u);
    BOOST_TEST(utf8_cut_point("abc", 2) == 2u);
}

BOOST_AUTO_TEST_CASE(cut_point_never_splits_a_character) {
    const std::string_view text = "a\xe2\x82\xac"
                                  "b"; // a, euro sign (3 bytes), b
    BOOST_TEST(utf8_cut_point(text, 1) == 1u);
    BOOST_TEST(utf8_cut_point(text, 2) == 1u);
    BOOST_TEST(utf8_cut_point(text, 3) == 1u);
    BOOST_TEST(utf8_cut_point(text, 4) == 4u);
    BOOST_TEST(utf8_cut_point("\xf0\x9f\x98\x80", 3) == 0u);
    // Only continuation bytes: nothing can be kept.
    BOOST_TEST(utf8_cut_point("\x80\x80\x80", 2) == 0u);
}

BOOST_AUTO_TEST_CASE(incomplete_tail_counts_a_started_character) {
    BOOST_TEST(incomplete_utf8_tail("") == 0u);
    BOOST_TEST(incomplete_utf8_tail("abc") == 0u);
    BOOST_TEST(incomplete_utf8_tail("a\xe2\x82\xac") == 0u); // complete
    BOOST_TEST(incomplete_utf8_tail("a\xe2\x82") == 2u);
    BOOST_TEST(incomplete_utf8_tail("a\xe2") == 1u);
    BOOST_TEST(incomplete_utf8_tail("\xf0\x9f\x98") == 3u);
    BOOST_TEST(incomplete_utf8_tail("\xc3") == 1u);
    BOOST_TEST(incomplete_utf8_tail("\x80\x80\x80\x80") == 0u); // no lead byte in reach
}

BOOST_AUTO_TEST_CASE(sequence_at_measures_well_formed_characters_only) {
    const std::string_view text = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";
    BOOST_TEST(utf8_sequence_at(text, 0) == 1u);
    BOOST_TEST(utf8_sequence_at(text, 1) == 2u);
    BOOST_TEST(utf8_sequence_at(text, 3) == 3u);
    BOOST_TEST(utf8_sequence_at(text, 6) == 4u);
    BOOST_TEST(utf8_sequence_at(text, 2) == 0u);       // a continuation byte
    BOOST_TEST(utf8_sequence_at("\xe2\x82", 0) == 0u); // truncated
    BOOST_TEST(utf8_sequence_at("\xc0\xaf", 0) == 0u); // overlong
}

BOOST_AUTO_TEST_SUITE_END()
