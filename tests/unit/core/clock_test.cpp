// Tests of RFC 3339 formatting.
#include "core/clock.hpp"

#include <boost/test/unit_test.hpp>

using namespace spear;
using namespace std::chrono;

BOOST_AUTO_TEST_SUITE(rfc3339)

BOOST_AUTO_TEST_CASE(formats_utc_with_milliseconds) {
    BOOST_TEST(core::format_rfc3339(core::wall_time{}) == "1970-01-01T00:00:00.000Z");
    const auto t = sys_days{2026y / December / 3} + 12h + 15min + 30s + 123ms + 999us;
    BOOST_TEST(core::format_rfc3339(t) == "2026-12-03T12:15:30.123Z"); // truncated, not rounded
    const auto leap = sys_days{2024y / February / 29} + 23h + 59min + 59s + 999ms;
    BOOST_TEST(core::format_rfc3339(leap) == "2024-02-29T23:59:59.999Z");
}

BOOST_AUTO_TEST_CASE(times_before_1970_floor) {
    // The last millisecond of 1969 (a division toward zero gave ".-01").
    BOOST_TEST(core::format_rfc3339(core::wall_time{} - 1ms) == "1969-12-31T23:59:59.999Z");
    BOOST_TEST(core::format_rfc3339(core::wall_time{} - 1ms - 1us) == "1969-12-31T23:59:59.998Z");
}

BOOST_AUTO_TEST_SUITE_END()
