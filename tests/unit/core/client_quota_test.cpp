// Tests of the per-client pieces: the rate token bucket and the visibility rule.
#include "core/client_quota.hpp"

#include <boost/test/unit_test.hpp>

using namespace spear::core;
using std::chrono::milliseconds;

BOOST_AUTO_TEST_SUITE(client_quota_suite)

BOOST_AUTO_TEST_CASE(bucket_allows_a_burst_then_paces) {
    const steady_time t0{};
    token_bucket bucket(2.0, 2.0, t0); // 2 per second, holds 2
    BOOST_TEST(!bucket.take(t0).has_value());
    BOOST_TEST(!bucket.take(t0).has_value());
    const auto wait = bucket.take(t0);
    BOOST_TEST_REQUIRE(wait.has_value());
    BOOST_TEST(*wait == 500); // one token per 500 ms
    BOOST_TEST(bucket.take(t0 + milliseconds(499)).has_value());
    BOOST_TEST(!bucket.take(t0 + milliseconds(500)).has_value());
    // Refill never exceeds the burst: after a long pause, two again, then a wait.
    const auto later = t0 + milliseconds(60'000);
    BOOST_TEST(!bucket.take(later).has_value());
    BOOST_TEST(!bucket.take(later).has_value());
    BOOST_TEST(bucket.take(later).has_value());
}

BOOST_AUTO_TEST_CASE(slow_rates_wait_whole_periods) {
    const steady_time t0{};
    token_bucket bucket(0.5, 0.5, t0); // burst counts as 1; one per 2 s
    BOOST_TEST(!bucket.take(t0).has_value());
    const auto wait = bucket.take(t0 + milliseconds(500));
    BOOST_TEST_REQUIRE(wait.has_value());
    BOOST_TEST(*wait == 1500);
}

BOOST_AUTO_TEST_CASE(only_admins_see_other_clients_records) {
    client_identity plc{1, "plc", false, 9};
    client_identity ops{2, "ops", true, 9};
    BOOST_TEST(plc.may_access("plc"));
    BOOST_TEST(!plc.may_access("ops"));
    BOOST_TEST(!plc.may_access(""));
    BOOST_TEST(ops.may_access("plc"));
    BOOST_TEST(client_identity{}.may_access("anyone")); // the default client is an admin
}

BOOST_AUTO_TEST_SUITE_END()
