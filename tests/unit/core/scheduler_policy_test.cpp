// Tests of the scheduling policy: per-function and global limits, bounded FIFO queues, restarts.
#include "core/scheduler_policy.hpp"

#include <boost/test/unit_test.hpp>

#include <stdexcept>
#include <vector>

using namespace spear::core;

namespace {

using limits = scheduler_policy::function_limits;

limits fn(std::size_t max_concurrency, std::size_t queue_depth = 8) {
    return limits{max_concurrency, queue_depth};
}

std::vector<std::uint64_t> keys(const std::vector<scheduled_item>& items) {
    std::vector<std::uint64_t> out;
    for (const auto& item : items)
        out.push_back(item.key);
    return out;
}

// Queue position, or -1 when the item is not queued (printable in test failures).
long position(const scheduler_policy& s, scheduled_item item) {
    const auto p = s.queue_position(item);
    return p ? static_cast<long>(*p) : -1;
}

} // namespace

BOOST_AUTO_TEST_SUITE(scheduler_policy_suite)

BOOST_AUTO_TEST_CASE(starts_until_function_limit_then_queues) {
    scheduler_policy s({fn(2)}, 10);
    BOOST_TEST((s.admit({0, 1}) == admit_result::start_now));
    BOOST_TEST((s.admit({0, 2}) == admit_result::start_now));
    BOOST_TEST((s.admit({0, 3}) == admit_result::queued));
    BOOST_TEST((s.admit({0, 4}) == admit_result::queued));
    BOOST_TEST(s.running(0) == 2u);
    BOOST_TEST(s.queued(0) == 2u);
    BOOST_TEST(s.running_total() == 2u);
    BOOST_TEST(s.queued_total() == 2u);
    BOOST_TEST(position(s, {0, 3}) == 0);
    BOOST_TEST(position(s, {0, 4}) == 1);
    BOOST_TEST(!s.queue_position({0, 1}).has_value()); // running, not queued
}

BOOST_AUTO_TEST_CASE(queue_full_when_depth_reached) {
    scheduler_policy s({fn(1, 2), fn(1, 0)}, 10);
    BOOST_TEST((s.admit({0, 1}) == admit_result::start_now));
    BOOST_TEST((s.admit({0, 2}) == admit_result::queued));
    BOOST_TEST((s.admit({0, 3}) == admit_result::queued));
    BOOST_TEST((s.admit({0, 4}) == admit_result::queue_full));
    BOOST_TEST(s.queued(0) == 2u);
    BOOST_TEST(!s.queue_position({0, 4}).has_value());

    // Depth 0: never queue, only start or refuse.
    BOOST_TEST((s.admit({1, 5}) == admit_result::start_now));
    BOOST_TEST((s.admit({1, 6}) == admit_result::queue_full));
    BOOST_TEST(s.queued(1) == 0u);

    // A finish makes room in the queue again.
    BOOST_TEST(keys(s.finish(0)) == std::vector<std::uint64_t>{2});
    BOOST_TEST((s.admit({0, 7}) == admit_result::queued));
    BOOST_TEST(position(s, {0, 7}) == 1);
}

BOOST_AUTO_TEST_CASE(global_limit_across_functions) {
    scheduler_policy s({fn(2), fn(2), fn(2)}, 3);
    BOOST_TEST((s.admit({0, 1}) == admit_result::start_now));
    BOOST_TEST((s.admit({0, 2}) == admit_result::start_now));
    BOOST_TEST((s.admit({1, 3}) == admit_result::start_now));
    // Function 1 and 2 have free slots, but the appliance is at its global limit.
    BOOST_TEST((s.admit({1, 4}) == admit_result::queued));
    BOOST_TEST((s.admit({2, 5}) == admit_result::queued));
    BOOST_TEST(s.running_total() == 3u);
    BOOST_TEST(s.running(2) == 0u);
    BOOST_TEST(s.effective_concurrency(0) == 2u);

    scheduler_policy narrow({fn(8), fn(1)}, 3);
    BOOST_TEST(narrow.effective_concurrency(0) == 3u);
    BOOST_TEST(narrow.effective_concurrency(1) == 1u);
}

BOOST_AUTO_TEST_CASE(new_arrivals_wait_behind_the_queue) {
    // Global 1: while something of function 0 waits, a new one of function 0 waits behind it.
    scheduler_policy s({fn(1), fn(1)}, 1);
    BOOST_TEST((s.admit({1, 1}) == admit_result::start_now));
    BOOST_TEST((s.admit({0, 2}) == admit_result::queued));
    BOOST_TEST((s.admit({0, 3}) == admit_result::queued));
    BOOST_TEST(keys(s.finish(1)) == std::vector<std::uint64_t>{2});
    BOOST_TEST(position(s, {0, 3}) == 0);
}

BOOST_AUTO_TEST_CASE(finish_starts_next_in_global_fifo_order) {
    scheduler_policy s({fn(1), fn(1), fn(1)}, 1);
    BOOST_TEST((s.admit({0, 1}) == admit_result::start_now));
    BOOST_TEST((s.admit({2, 2}) == admit_result::queued));
    BOOST_TEST((s.admit({1, 3}) == admit_result::queued));
    BOOST_TEST((s.admit({0, 4}) == admit_result::queued));
    BOOST_TEST((s.admit({2, 5}) == admit_result::queued));

    // Oldest key first, whatever the function.
    auto started = s.finish(0);
    BOOST_TEST_REQUIRE(started.size() == 1u);
    BOOST_TEST(started[0].function == 2u);
    BOOST_TEST(started[0].key == 2u);
    BOOST_TEST(keys(s.finish(2)) == std::vector<std::uint64_t>{3});
    BOOST_TEST(keys(s.finish(1)) == std::vector<std::uint64_t>{4});
    BOOST_TEST(keys(s.finish(0)) == std::vector<std::uint64_t>{5});
    BOOST_TEST(s.finish(2).empty());
    BOOST_TEST(s.running_total() == 0u);
    BOOST_TEST(s.queued_total() == 0u);
}

BOOST_AUTO_TEST_CASE(finish_skips_functions_at_their_own_limit) {
    scheduler_policy s({fn(2), fn(1)}, 2);
    BOOST_TEST((s.admit({0, 1}) == admit_result::start_now));
    BOOST_TEST((s.admit({1, 2}) == admit_result::start_now));
    BOOST_TEST((s.admit({1, 3}) == admit_result::queued)); // function 1 full
    BOOST_TEST((s.admit({0, 4}) == admit_result::queued)); // global full
    BOOST_TEST((s.admit({0, 5}) == admit_result::queued));
    // Function 0 finishes: key 3 is older, but function 1 is at its limit; key 4 starts.
    BOOST_TEST(keys(s.finish(0)) == std::vector<std::uint64_t>{4});
    BOOST_TEST(keys(s.finish(1)) == std::vector<std::uint64_t>{3});
    BOOST_TEST(keys(s.finish(0)) == std::vector<std::uint64_t>{5});
    BOOST_TEST(s.running(0) == 1u);
    BOOST_TEST(s.running(1) == 1u);
}

BOOST_AUTO_TEST_CASE(finish_without_running_does_not_underflow) {
    scheduler_policy s({fn(1), fn(1)}, 4);
    BOOST_TEST((s.admit({1, 1}) == admit_result::start_now));
    BOOST_TEST(s.finish(0).empty());
    BOOST_TEST(s.running(0) == 0u);
    BOOST_TEST(s.running_total() == 1u);
    BOOST_TEST((s.admit({0, 2}) == admit_result::start_now));
    BOOST_TEST((s.admit({0, 3}) == admit_result::queued)); // limit 1 still holds
}

BOOST_AUTO_TEST_CASE(withdraw_undoes_an_admission) {
    scheduler_policy s({fn(1, 2)}, 4);
    BOOST_TEST((s.admit({0, 1}) == admit_result::start_now));
    BOOST_TEST((s.admit({0, 2}) == admit_result::queued));
    s.withdraw({0, 2}); // queued: leaves the queue
    BOOST_TEST(s.queued(0) == 0u);
    BOOST_TEST(s.running(0) == 1u);
    s.withdraw({0, 1}); // started: gives its slot back
    BOOST_TEST(s.running(0) == 0u);
    BOOST_TEST(s.running_total() == 0u);
    BOOST_TEST((s.admit({0, 3}) == admit_result::start_now));
}

BOOST_AUTO_TEST_CASE(remove_queued_and_positions_update) {
    scheduler_policy s({fn(1), fn(1)}, 4);
    BOOST_TEST((s.admit({0, 1}) == admit_result::start_now));
    for (std::uint64_t key = 2; key <= 4; ++key)
        BOOST_TEST((s.admit({0, key}) == admit_result::queued));
    BOOST_TEST(s.remove_queued({0, 3}));
    BOOST_TEST(position(s, {0, 2}) == 0);
    BOOST_TEST(position(s, {0, 4}) == 1);
    BOOST_TEST(!s.queue_position({0, 3}).has_value());
    BOOST_TEST(!s.remove_queued({0, 3})); // already gone
    BOOST_TEST(!s.remove_queued({0, 1})); // running, not queued
    BOOST_TEST(!s.remove_queued({1, 2})); // queued, but under another function
    BOOST_TEST(!s.remove_queued({7, 2})); // no such function
    BOOST_TEST(!s.queue_position({7, 2}).has_value());
    BOOST_TEST(s.queued(0) == 2u);
    BOOST_TEST(s.running(0) == 1u); // removal frees no slot

    BOOST_TEST(keys(s.finish(0)) == std::vector<std::uint64_t>{2});
    BOOST_TEST(position(s, {0, 4}) == 0);
    BOOST_TEST(s.remove_queued({0, 4}));
    BOOST_TEST(s.finish(0).empty());
}

BOOST_AUTO_TEST_CASE(rejects_zero_limits_and_unknown_functions) {
    BOOST_CHECK_THROW(scheduler_policy({fn(0)}, 4), std::invalid_argument);
    BOOST_CHECK_THROW(scheduler_policy({fn(1)}, 0), std::invalid_argument);
    scheduler_policy s({fn(1)}, 4);
    BOOST_CHECK_THROW(s.admit({1, 1}), std::out_of_range);
    BOOST_CHECK_THROW(s.finish(1), std::out_of_range);
    BOOST_CHECK_THROW(static_cast<void>(s.running(1)), std::out_of_range);
    BOOST_TEST(s.running_total() == 0u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(scheduler_priority_and_clients)

BOOST_AUTO_TEST_CASE(higher_priority_starts_first) {
    scheduler_policy s({fn(4)}, 1);
    BOOST_TEST((s.admit({0, 1, 0, start_rank(0, 0, 1000)}) == admit_result::start_now));
    BOOST_TEST((s.admit({0, 2, 0, start_rank(10, 0, 1000)}) == admit_result::queued));
    BOOST_TEST((s.admit({0, 3, 0, start_rank(20, 0, 1000)}) == admit_result::queued));
    BOOST_TEST((s.admit({0, 4, 0, start_rank(30, 5, 1000)}) == admit_result::queued));
    BOOST_TEST(position(s, {0, 4}) == 0);
    BOOST_TEST(position(s, {0, 2}) == 1);
    BOOST_TEST(keys(s.finish(0)) == std::vector<std::uint64_t>{4});
    BOOST_TEST(keys(s.finish(0)) == std::vector<std::uint64_t>{2});
}

BOOST_AUTO_TEST_CASE(aging_bounds_how_long_a_low_priority_item_is_overtaken) {
    // Aging 100 ms per level: a priority-0 item submitted at t=0 is passed by priority-9
    // items submitted before t=900, never by those submitted after.
    scheduler_policy s({fn(4)}, 1);
    BOOST_TEST((s.admit({0, 1, 0, start_rank(0, 9, 100)}) == admit_result::start_now));
    BOOST_TEST((s.admit({0, 2, 0, start_rank(0, 0, 100)}) == admit_result::queued));
    BOOST_TEST((s.admit({0, 3, 0, start_rank(899, 9, 100)}) == admit_result::queued));
    BOOST_TEST((s.admit({0, 4, 0, start_rank(901, 9, 100)}) == admit_result::queued));
    BOOST_TEST(keys(s.finish(0)) == std::vector<std::uint64_t>{3});
    BOOST_TEST(keys(s.finish(0)) == std::vector<std::uint64_t>{2});
    BOOST_TEST(keys(s.finish(0)) == std::vector<std::uint64_t>{4});
}

BOOST_AUTO_TEST_CASE(client_concurrency_holds_its_items_and_lets_others_pass) {
    using cl = scheduler_policy::client_limits;
    scheduler_policy s({fn(8)}, 4, {cl{}, cl{1, 2}});
    BOOST_TEST((s.admit({0, 1, 1}) == admit_result::start_now));
    BOOST_TEST((s.admit({0, 2, 1}) == admit_result::queued)); // client 1 runs one at a time
    BOOST_TEST((s.admit({0, 3, 1}) == admit_result::queued));
    BOOST_TEST((s.admit({0, 4, 1}) == admit_result::client_queue_full));
    BOOST_TEST((s.admit({0, 5, 0}) == admit_result::start_now)); // another client is served
    BOOST_TEST(s.client_running(1) == 1u);
    BOOST_TEST(s.client_queued(1) == 2u);
    BOOST_TEST(s.finish(0, 0).empty()); // a slot of client 0 frees: client 1 is still at 1
    BOOST_TEST(keys(s.finish(0, 1)) == std::vector<std::uint64_t>{2});
    s.withdraw({0, 3, 1});
    BOOST_TEST(s.client_queued(1) == 0u);
    BOOST_CHECK_THROW(s.admit({0, 9, 2}), std::out_of_range);
    BOOST_CHECK_THROW(scheduler_policy({fn(1)}, 1, {cl{0, 1}}), std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()
