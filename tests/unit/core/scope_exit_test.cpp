// Tests of the scope guard: runs once on every way out of a scope, never after release().
#include "core/scope_exit.hpp"

#include <boost/test/unit_test.hpp>

#include <stdexcept>
#include <string>

using spear::core::scope_exit;

BOOST_AUTO_TEST_SUITE(scope_exit_suite)

BOOST_AUTO_TEST_CASE(runs_once_when_the_scope_ends) {
    int runs = 0;
    {
        auto guard = scope_exit([&] { ++runs; });
        BOOST_TEST(runs == 0);
    }
    BOOST_TEST(runs == 1);
}

BOOST_AUTO_TEST_CASE(runs_on_early_return_and_on_throw) {
    int runs = 0;
    auto early = [&](bool leave) {
        auto guard = scope_exit([&] { ++runs; });
        if (leave)
            return 1;
        return 2;
    };
    BOOST_TEST(early(true) == 1);
    BOOST_TEST(early(false) == 2);
    BOOST_TEST(runs == 2);
    try {
        auto guard = scope_exit([&] { ++runs; });
        throw std::runtime_error("boom");
    } catch (const std::runtime_error&) {
        BOOST_TEST(runs == 3); // ran during unwinding, before the handler
    }
}

BOOST_AUTO_TEST_CASE(release_cancels_the_cleanup) {
    int runs = 0;
    {
        auto guard = scope_exit([&] { ++runs; });
        guard.release();
    }
    BOOST_TEST(runs == 0);
}

BOOST_AUTO_TEST_CASE(guards_run_in_reverse_order) {
    std::string order;
    {
        auto first = scope_exit([&] { order += 'a'; });
        auto second = scope_exit([&] { order += 'b'; });
    }
    BOOST_TEST(order == "ba");
}

BOOST_AUTO_TEST_SUITE_END()
