// Unit tests of frame link authentication: SHA-256 and HMAC-SHA256 against FIPS 180-2 and
// RFC 4231 vectors (spear_hmac.c, the file peers copy), the auth trailer, and link_auth's
// handshake, MAC and replay checks as the appliance runs them.
#include "transport/frame/frame_auth.hpp"

#include "spear_hmac.h"

#include <boost/test/unit_test.hpp>

#include <pb_decode.h>

#include <string>
#include <vector>

using namespace spear;
using namespace spear::transport::frame;

namespace {

std::vector<std::uint8_t> unhex(std::string_view hex) {
    std::vector<std::uint8_t> out;
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
        out.push_back(
            static_cast<std::uint8_t>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
    return out;
}

std::string hex(const std::uint8_t* p, std::size_t n) {
    static const char* digits = "0123456789abcdef";
    std::string s;
    for (std::size_t i = 0; i < n; ++i) {
        s += digits[p[i] >> 4];
        s += digits[p[i] & 15];
    }
    return s;
}

std::vector<std::uint8_t> bytes_of(std::string_view s) {
    return {s.begin(), s.end()};
}

std::string hmac_hex(const std::vector<std::uint8_t>& key, const std::vector<std::uint8_t>& data) {
    std::uint8_t out[SPEAR_SHA256_BYTES];
    spear_hmac_sha256(key.data(), key.size(), data.data(), data.size(), out);
    return hex(out, sizeof out);
}

std::string sha_hex(std::string_view s) {
    spear_sha256_t c;
    std::uint8_t out[SPEAR_SHA256_BYTES];
    spear_sha256_init(&c);
    // In uneven pieces: the block buffering must not change the digest.
    std::size_t pos = 0, step = 1;
    while (pos < s.size()) {
        const auto n = std::min(step, s.size() - pos);
        spear_sha256_update(&c, reinterpret_cast<const std::uint8_t*>(s.data()) + pos, n);
        pos += n;
        step = step * 3 + 1;
    }
    spear_sha256_final(&c, out);
    return hex(out, sizeof out);
}

const std::string key_hex = "000102030405060708090a0b0c0d0e0f";

core::frame_config keyed_config() {
    core::frame_config fc;
    core::frame_peer_config p;
    p.id = "sensor-7";
    const auto k = unhex(key_hex);
    p.key.assign(k.begin(), k.end());
    fc.peers.push_back(p);
    fc.require_auth = true;
    return fc;
}

hello_request hello_for(std::string id, std::uint8_t seed) {
    hello_request h;
    h.key_id = std::move(id);
    for (std::size_t i = 0; i < h.peer_nonce.size(); ++i)
        h.peer_nonce[i] = static_cast<std::uint8_t>(seed + i);
    return h;
}

link_nonce nonce_of(std::uint8_t seed) {
    link_nonce n{};
    for (std::size_t i = 0; i < n.size(); ++i)
        n[i] = static_cast<std::uint8_t>(seed * 7 + i);
    return n;
}

/// A peer's side of one link, run with the same C code firmware runs.
struct peer_side {
    std::vector<std::uint8_t> key;
    spear_auth_t state{};

    peer_side(std::string_view key_hex_text, const hello_request& h, const link_nonce& n)
        : key(unhex(key_hex_text)) {
        spear_auth_init(&state, key.data(), key.size(), h.peer_nonce.data(), n.data(),
                        SPEAR_AUTH_FROM_PEER);
    }
    bytes seal(bytes message) {
        const auto body = message.size();
        message.resize(body + SPEAR_AUTH_TRAILER_BYTES);
        BOOST_REQUIRE(spear_auth_seal(&state, message.data(), body, message.size()) ==
                      message.size());
        return message;
    }
};

} // namespace

BOOST_AUTO_TEST_SUITE(frame_auth)

BOOST_AUTO_TEST_CASE(sha256_fips_vectors) {
    BOOST_TEST(sha_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    BOOST_TEST(sha_hex("abc") ==
               "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    BOOST_TEST(sha_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
               "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    BOOST_TEST(sha_hex(std::string(1000000, 'a')) ==
               "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

// RFC 4231 section 4: test cases 1 to 7 (case 5 compares the first 128 bits, as its
// truncated output is specified).
BOOST_AUTO_TEST_CASE(hmac_sha256_rfc4231_vectors) {
    BOOST_TEST(hmac_hex(std::vector<std::uint8_t>(20, 0x0b), bytes_of("Hi There")) ==
               "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    BOOST_TEST(hmac_hex(bytes_of("Jefe"), bytes_of("what do ya want for nothing?")) ==
               "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    BOOST_TEST(hmac_hex(std::vector<std::uint8_t>(20, 0xaa), std::vector<std::uint8_t>(50, 0xdd)) ==
               "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
    BOOST_TEST(hmac_hex(unhex("0102030405060708090a0b0c0d0e0f10111213141516171819"),
                        std::vector<std::uint8_t>(50, 0xcd)) ==
               "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");
    BOOST_TEST(hmac_hex(std::vector<std::uint8_t>(20, 0x0c), bytes_of("Test With Truncation"))
                   .substr(0, 32) == "a3b6167473100ee06e0c796c2955552b");
    BOOST_TEST(hmac_hex(std::vector<std::uint8_t>(131, 0xaa),
                        bytes_of("Test Using Larger Than Block-Size Key - Hash Key First")) ==
               "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    BOOST_TEST(hmac_hex(std::vector<std::uint8_t>(131, 0xaa),
                        bytes_of("This is a test using a larger than block-size key and a "
                                 "larger than block-size data. The key needs to be hashed "
                                 "before being used by the HMAC algorithm.")) ==
               "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
}

BOOST_AUTO_TEST_CASE(hello_answers_a_sealed_challenge_the_peer_verifies) {
    const auto fc = keyed_config();
    link_auth auth(fc, true);
    BOOST_TEST(!auth.active());
    const auto h = hello_for("sensor-7", 1);
    const auto n = nonce_of(3);
    auto answer = auth.hello(42, h, n);
    BOOST_REQUIRE(std::holds_alternative<bytes>(answer));
    BOOST_TEST(auth.active());
    BOOST_TEST(auth.peer()->id == "sensor-7");
    const auto& challenge = std::get<bytes>(answer);

    // The peer decodes the challenge (trailer included: it is protobuf), then verifies it.
    spear_edge_Frame f{};
    auto in = pb_istream_from_buffer(challenge.data(), challenge.size());
    BOOST_REQUIRE(pb_decode(&in, spear_edge_Frame_fields, &f));
    BOOST_TEST(f.request_id == 42u);
    BOOST_REQUIRE(f.which_body == spear_edge_Frame_link_challenge_tag);
    BOOST_TEST(std::equal(n.begin(), n.end(), f.body.link_challenge.link_nonce));
    BOOST_TEST(f.has_auth);
    BOOST_TEST(f.auth.counter == 0u);

    peer_side good(key_hex, h, n);
    std::size_t body = 0;
    BOOST_TEST(spear_auth_open_challenge(&good.state, challenge.data(), challenge.size(), &body) ==
               SPEAR_AUTH_OK);
    BOOST_TEST(body == challenge.size() - SPEAR_AUTH_TRAILER_BYTES);
    peer_side wrong("ff0102030405060708090a0b0c0d0e0f", h, n);
    BOOST_TEST(spear_auth_open_challenge(&wrong.state, challenge.data(), challenge.size(), &body) ==
               SPEAR_AUTH_BAD_MAC);
    // Bound to the peer's nonce: an old challenge does not verify for a new hello.
    peer_side other_hello(key_hex, hello_for("sensor-7", 9), n);
    BOOST_TEST(spear_auth_open_challenge(&other_hello.state, challenge.data(), challenge.size(),
                                         &body) == SPEAR_AUTH_BAD_MAC);
}

BOOST_AUTO_TEST_CASE(unknown_key_and_no_keys_are_refused_and_keep_the_session) {
    const auto fc = keyed_config();
    link_auth auth(fc, true);
    auto refused = auth.hello(1, hello_for("nobody", 1), nonce_of(1));
    BOOST_REQUIRE(std::holds_alternative<auth_failure>(refused));
    BOOST_TEST(to_string(std::get<auth_failure>(refused)) == "unknown_key");
    BOOST_TEST(!auth.active());
    BOOST_REQUIRE(
        std::holds_alternative<bytes>(auth.hello(2, hello_for("sensor-7", 1), nonce_of(1))));
    BOOST_REQUIRE(
        std::holds_alternative<auth_failure>(auth.hello(3, hello_for("x", 1), nonce_of(2))));
    BOOST_TEST(auth.active()); // a failed hello does not end a good session

    core::frame_config none;
    link_auth open(none, false);
    auto no_keys = open.hello(1, hello_for("sensor-7", 1), nonce_of(1));
    BOOST_REQUIRE(std::holds_alternative<auth_failure>(no_keys));
    BOOST_TEST(to_string(std::get<auth_failure>(no_keys)) == "no_keys");
}

BOOST_AUTO_TEST_CASE(frames_verify_once_in_order_and_fail_when_replayed_tampered_or_foreign) {
    const auto fc = keyed_config();
    link_auth auth(fc, true);
    const auto h = hello_for("sensor-7", 5);
    const auto n = nonce_of(5);
    BOOST_REQUIRE(std::holds_alternative<bytes>(auth.hello(1, h, n)));
    peer_side peer(key_hex, h, n);

    const bytes message{0x08, 0x07, 0x52, 0x00}; // request_id 7 and a ping
    const auto first = peer.seal(message);
    auto opened = auth.open(first);
    BOOST_REQUIRE(std::holds_alternative<std::span<const std::uint8_t>>(opened));
    const auto body = std::get<std::span<const std::uint8_t>>(opened);
    BOOST_TEST((bytes(body.begin(), body.end()) == message));

    auto failure = [&](const bytes& m) {
        auto r = auth.open(m);
        return std::holds_alternative<auth_failure>(r)
                   ? std::string(to_string(std::get<auth_failure>(r)))
                   : std::string("ok");
    };
    BOOST_TEST(failure(first) == "replay"); // the same bytes again
    auto tampered = peer.seal(message);
    tampered[1] ^= 0x01; // request_id 7 -> 6
    BOOST_TEST(failure(tampered) == "bad_mac");
    auto bad_counter = peer.seal(message);
    bad_counter[message.size() + 3] ^= 0x10; // the counter itself is covered by the MAC
    BOOST_TEST(failure(bad_counter) == "bad_mac");
    BOOST_TEST(failure(message) == "unauthenticated"); // no trailer
    BOOST_TEST(failure(bytes{0x08}) == "unauthenticated");

    // A frame sealed for another link (another nonce) or with another key.
    peer_side elsewhere(key_hex, h, nonce_of(6));
    BOOST_TEST(failure(elsewhere.seal(message)) == "bad_mac");
    peer_side wrong_key("ff0102030405060708090a0b0c0d0e0f", h, n);
    BOOST_TEST(failure(wrong_key.seal(message)) == "bad_mac");

    // Counters may skip (a serial frame lost to noise) but never go back.
    const auto c4 = peer.seal(message); // counter 4 (2 and 3 were tampered and not accepted)
    const auto c5 = peer.seal(message);
    BOOST_TEST(failure(c5) == "ok");
    BOOST_TEST(failure(c4) == "replay");

    // A new hello is a new session: frames of the old one no longer verify.
    BOOST_REQUIRE(
        std::holds_alternative<bytes>(auth.hello(2, hello_for("sensor-7", 8), nonce_of(8))));
    BOOST_TEST(failure(peer.seal(message)) == "bad_mac");
}

BOOST_AUTO_TEST_CASE(answers_are_sealed_for_the_peer_with_increasing_counters) {
    const auto fc = keyed_config();
    link_auth auth(fc, true);
    bytes plain{0x08, 0x01, 0x5a, 0x00};
    bytes untouched = plain;
    BOOST_TEST(auth.seal(untouched)); // no session: nothing to add
    BOOST_TEST((untouched == plain));

    const auto h = hello_for("sensor-7", 2);
    const auto n = nonce_of(2);
    BOOST_REQUIRE(std::holds_alternative<bytes>(auth.hello(1, h, n)));
    peer_side peer(key_hex, h, n);
    bytes a = plain, b = plain;
    BOOST_REQUIRE(auth.seal(a));
    BOOST_REQUIRE(auth.seal(b));
    BOOST_TEST(a.size() == plain.size() + link_auth::trailer_bytes);
    BOOST_TEST((a != b)); // counters 1 and 2
    std::size_t body = 0;
    std::uint32_t counter = 0;
    BOOST_TEST(spear_auth_open(&peer.state, b.data(), b.size(), &body, &counter) == SPEAR_AUTH_OK);
    BOOST_TEST(counter == 2u);
    BOOST_TEST(body == plain.size());
    BOOST_TEST(spear_auth_open(&peer.state, a.data(), a.size(), &body, &counter) ==
               SPEAR_AUTH_REPLAY); // older than the last accepted
    // The peer's own frames do not verify as the appliance's (the direction is in the MAC).
    auto own = peer.seal(plain);
    peer_side mirror(key_hex, h, n);
    BOOST_TEST(spear_auth_open(&mirror.state, own.data(), own.size(), &body, &counter) ==
               SPEAR_AUTH_BAD_MAC);
}

BOOST_AUTO_TEST_SUITE_END()
