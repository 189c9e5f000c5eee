// Tests of frame.peers, frame.require_auth and allow_unauthenticated (authenticated frame
// links): keys read from hex, errors naming the field path and never quoting a key.
#include "core/config.hpp"

#include "support/config_errors.hpp"

#include <boost/test/unit_test.hpp>

#include <string>

using namespace spear::core;
using spear::test::has_error;

namespace {

struct no_runtimes final : function_fields_parser {
    void parse(function_config&, const std::string&, std::vector<config_error>&) const override {}
};

config_result parse(const std::string& frame, const std::string& http = "{}") {
    static const no_runtimes runtimes;
    return parse_config(R"({"http": )" + http + R"(, "frame": )" + frame + "}", runtimes);
}

std::string all(const config_result& r) {
    std::string s;
    for (const auto& e : r.errors)
        s += e.to_string() + "\n";
    return s;
}

const std::string key16 = "00112233445566778899aabbccddeeff";

} // namespace

BOOST_AUTO_TEST_SUITE(frame_peers_config)

BOOST_AUTO_TEST_CASE(peers_are_read_and_require_auth_defaults_to_true) {
    const auto r = parse(R"({"peers": [{"id": "sensor-7", "key": ")" + key16 +
                             R"(", "client": "plant"}, {"id": "b", "key": ")" + key16 + key16 +
                             R"("}], "serial": [{"device": "/dev/ttyS0",
                             "allow_unauthenticated": true}]})",
                         R"({"tokens": [{"name": "other", "token": "t1"},
                                        {"name": "plant", "token": "t2"}]})");
    BOOST_TEST_INFO(all(r));
    BOOST_REQUIRE(r.value.has_value());
    const auto& f = r.value->frame;
    BOOST_REQUIRE(f.peers.size() == 2u);
    BOOST_TEST(f.peers[0].id == "sensor-7");
    BOOST_TEST(f.peers[0].key.size() == 16u);
    BOOST_TEST(static_cast<unsigned char>(f.peers[0].key[15]) == 0xffu);
    BOOST_TEST(f.peers[0].client == "plant");
    BOOST_TEST(f.peers[0].client_index == 2u); // http.tokens[1] is service client 2
    BOOST_TEST(f.peers[1].key.size() == 32u);
    BOOST_TEST(f.peers[1].client_index == 0u);
    BOOST_TEST(f.require_auth);
    BOOST_TEST(f.serial[0].allow_unauthenticated);
}

BOOST_AUTO_TEST_CASE(no_peers_no_auth) {
    const auto r = parse("{}");
    BOOST_REQUIRE(r.value.has_value());
    BOOST_TEST(!r.value->frame.require_auth);
    BOOST_TEST(r.value->frame.peers.empty());
}

BOOST_AUTO_TEST_CASE(bad_keys_ids_and_clients_name_their_path_without_the_key) {
    const std::string secret_short = "a1b2c3d4e5f6a7b8";
    const std::string secret_bad = "zz112233445566778899aabbccddeeff";
    const auto r = parse(R"({"peers": [
        {"id": "a", "key": ")" +
                         secret_short + R"("},
        {"id": "b", "key": ")" +
                         secret_bad + R"("},
        {"id": "a", "key": ")" +
                         key16 + R"("},
        {"id": "bad id!", "key": ")" +
                         key16 + R"(", "client": "nobody"},
        {"key": ")" + key16 +
                         R"(", "extra": 1},
        {"id": "c", "key": 12}]})");
    BOOST_REQUIRE(!r.value.has_value());
    const auto& e = r.errors;
    BOOST_TEST_INFO(all(r));
    BOOST_TEST(has_error(e, "frame.peers[0].key", "16..64 bytes"));
    BOOST_TEST(has_error(e, "frame.peers[1].key", "hex digits"));
    BOOST_TEST(has_error(e, "frame.peers[2].id", "duplicate of frame.peers[0].id"));
    BOOST_TEST(has_error(e, "frame.peers[3].id", "[A-Za-z0-9_.-]{1,32}"));
    BOOST_TEST(has_error(e, "frame.peers[3].client", "not an http.tokens name"));
    BOOST_TEST(has_error(e, "frame.peers[4].id", "required"));
    BOOST_TEST(has_error(e, "frame.peers[4].extra", "unknown field"));
    BOOST_TEST(has_error(e, "frame.peers[5].key", "hex digits"));
    const auto text = all(r);
    BOOST_TEST(text.find(secret_short) == std::string::npos);
    BOOST_TEST(text.find(secret_bad) == std::string::npos);
    BOOST_TEST(text.find(key16) == std::string::npos);
}

BOOST_AUTO_TEST_CASE(require_auth_without_peers_is_an_error) {
    const auto r = parse(R"({"require_auth": true})");
    BOOST_REQUIRE(!r.value.has_value());
    BOOST_TEST(has_error(r.errors, "frame.require_auth", "frame.peers"));
}

BOOST_AUTO_TEST_CASE(non_loopback_tcp_needs_keys_or_allow_unauthenticated) {
    const auto open = parse(R"({"tcp": {"enabled": true, "address": "0.0.0.0"}})");
    BOOST_REQUIRE(!open.value.has_value());
    BOOST_TEST(has_error(open.errors, "frame.tcp.address", "frame.peers"));
    const auto keyed = parse(R"({"tcp": {"enabled": true, "address": "0.0.0.0"},
                                 "peers": [{"id": "a", "key": ")" +
                             key16 + R"("}]})");
    BOOST_TEST_INFO(all(keyed));
    BOOST_TEST(keyed.value.has_value());
    // Keys that are not required do not make an open listener safe.
    const auto optional = parse(R"({"tcp": {"enabled": true, "address": "0.0.0.0"},
                                    "require_auth": false,
                                    "peers": [{"id": "a", "key": ")" +
                                key16 + R"("}]})");
    BOOST_TEST(!optional.value.has_value());
}

BOOST_AUTO_TEST_SUITE_END()
