// Tests of UTF-8 validation and base64.
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

BOOST_AUTO_TEST_SUITE_END()
