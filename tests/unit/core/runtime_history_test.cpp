// Tests of the rolling runtime history (median, p95, sources) and the completion estimator.
#include "core/runtime_history.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <queue>
#include <random>
#include <stdexcept>
#include <vector>

using namespace spear::core;

namespace {

// The model of estimate_new_completion_ms, step by step: a min-heap of server free times.
std::int64_t simulate(std::int64_t typical, std::vector<std::int64_t> running_elapsed,
                      std::size_t queued_ahead, std::size_t concurrency) {
    std::vector<std::int64_t> remaining;
    for (auto e : running_elapsed)
        remaining.push_back(std::max<std::int64_t>(typical - std::max<std::int64_t>(e, 0), 0));
    std::sort(remaining.begin(), remaining.end());
    if (remaining.size() > concurrency)
        remaining.resize(concurrency);
    remaining.resize(concurrency, 0);
    std::priority_queue<std::int64_t, std::vector<std::int64_t>, std::greater<>> servers(
        remaining.begin(), remaining.end());
    for (std::size_t i = 0; i < queued_ahead; ++i) {
        const auto t = servers.top();
        servers.pop();
        servers.push(t + typical);
    }
    return servers.top() + typical;
}

runtime_history history_of(std::size_t window, const std::vector<std::int64_t>& runs) {
    runtime_history h(window, 0, 1000);
    for (auto r : runs)
        h.record_run(r);
    return h;
}

} // namespace

BOOST_AUTO_TEST_SUITE(runtime_history_suite)

BOOST_AUTO_TEST_CASE(history_median_of_constant_sequence) {
    runtime_history h(32, 500, 1000);
    for (int i = 0; i < 100; ++i)
        h.record_run(250);
    BOOST_TEST(h.typical_ms() == 250);
    BOOST_TEST(h.p95_ms() == 250);
    BOOST_TEST(h.samples() == 32u);
    BOOST_TEST(h.runs_recorded() == 100u);
}

BOOST_AUTO_TEST_CASE(even_count_median_is_the_lower_middle_value) {
    BOOST_TEST(history_of(8, {10, 20}).typical_ms() == 10);
    BOOST_TEST(history_of(8, {40, 10, 30, 20}).typical_ms() == 20);
    BOOST_TEST(history_of(8, {30, 10, 20}).typical_ms() == 20);
    BOOST_TEST(history_of(8, {7}).typical_ms() == 7);
}

BOOST_AUTO_TEST_CASE(estimator_follows_drifting_durations) {
    // Durations rise by 10 ms per run: 100, 110, ..., 1090.
    runtime_history h(32, 0, 1000);
    std::int64_t last = 0;
    for (int i = 0; i < 100; ++i) {
        last = 100 + 10 * i;
        h.record_run(last);
    }
    // The window holds runs 68..99 (780..1090); its lower median is run 83.
    BOOST_TEST(h.typical_ms() == 930);
    // Near the recent values (lags by half a window), nowhere near the old ones.
    BOOST_TEST(h.typical_ms() >= last - 10 * 16);
    BOOST_TEST(h.typical_ms() > 780);
    const auto estimate = estimate_new_completion_ms(h.typical_ms(), {}, 0, 4);
    BOOST_TEST(estimate == 930);
}

BOOST_AUTO_TEST_CASE(outlier_does_not_move_the_median) {
    runtime_history h(32, 0, 1000);
    for (int i = 0; i < 31; ++i)
        h.record_run(200);
    h.record_run(10'000);
    BOOST_TEST(h.typical_ms() == 200);
    BOOST_TEST(h.p95_ms() == 200); // rank 31 of 32: one hiccup is below the 95th percentile
}

// What a client sees for a bimodal function: the estimate is one of the two modes, the one
// most recent runs took (the majority); never the mean, which no run ever takes. Runs of the
// minority mode overrun (or undercut) the estimate; p95_ms shows the slow mode.
BOOST_AUTO_TEST_CASE(bimodal_distribution_median_is_a_mode) {
    runtime_history h(32, 0, 1000);
    // 20 fast (50 ms, e.g. cache hit) and 12 slow (2000 ms) runs, interleaved.
    for (int i = 0; i < 32; ++i)
        h.record_run(i % 8 < 5 ? 50 : 2000);
    BOOST_TEST(h.typical_ms() == 50);
    BOOST_TEST(h.p95_ms() == 2000);

    // Slow runs become the majority: the estimate jumps to the slow mode.
    for (int i = 0; i < 20; ++i)
        h.record_run(2000);
    BOOST_TEST(h.typical_ms() == 2000);

    // An exactly even split answers the faster mode (lower median), still an observed value.
    runtime_history even(4, 0, 1000);
    for (auto r : {50, 2000, 50, 2000})
        even.record_run(r);
    BOOST_TEST(even.typical_ms() == 50);
}

BOOST_AUTO_TEST_CASE(window_rolls_and_drops_old_samples) {
    runtime_history h(3, 0, 1000);
    for (int i = 0; i < 3; ++i)
        h.record_run(1000);
    BOOST_TEST(h.typical_ms() == 1000);
    h.record_run(1);
    BOOST_TEST(h.typical_ms() == 1000); // {1000, 1000, 1}
    h.record_run(2);
    BOOST_TEST(h.typical_ms() == 2); // {1000, 1, 2}
    h.record_run(3);
    BOOST_TEST(h.typical_ms() == 2); // {1, 2, 3}: every 1000 is gone
    BOOST_TEST(h.p95_ms() == 3);
    BOOST_TEST(h.samples() == 3u);
    BOOST_TEST(h.runs_recorded() == 6u);

    runtime_history one(1, 0, 1000);
    one.record_run(5);
    one.record_run(9);
    BOOST_TEST(one.typical_ms() == 9);
    BOOST_TEST(one.samples() == 1u);
}

BOOST_AUTO_TEST_CASE(window_zero_is_rejected) {
    BOOST_CHECK_THROW(runtime_history(0, 100, 1000), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(source_history_vs_configured_vs_fallback) {
    runtime_history configured(8, 300, 1000);
    BOOST_TEST((configured.source() == estimate_source::configured));
    BOOST_TEST(configured.typical_ms() == 300);
    BOOST_TEST(configured.p95_ms() == 300);
    BOOST_TEST(configured.samples() == 0u);
    configured.record_run(40);
    BOOST_TEST((configured.source() == estimate_source::history));
    BOOST_TEST(configured.typical_ms() == 40);

    runtime_history fallback(8, 0, 1000);
    BOOST_TEST((fallback.source() == estimate_source::fallback));
    BOOST_TEST(fallback.typical_ms() == 1000);
    fallback.record_run(70);
    BOOST_TEST((fallback.source() == estimate_source::history));
    BOOST_TEST(fallback.typical_ms() == 70);

    runtime_history negative(8, -5, 1000); // negative expected_ms = not configured
    BOOST_TEST((negative.source() == estimate_source::fallback));
    BOOST_TEST(negative.typical_ms() == 1000);

    // Queue waits are not runs: they do not make a history.
    runtime_history waits_only(8, 300, 1000);
    waits_only.record_queue_wait(10);
    BOOST_TEST((waits_only.source() == estimate_source::configured));
    BOOST_TEST(waits_only.runs_recorded() == 0u);

    // The wire form says history or default (docs/architecture.md).
    BOOST_TEST(to_string(estimate_source::history) == "history");
    BOOST_TEST(to_string(estimate_source::configured) == "default");
    BOOST_TEST(to_string(estimate_source::fallback) == "default");
}

BOOST_AUTO_TEST_CASE(queue_wait_median) {
    runtime_history h(4, 0, 1000);
    BOOST_TEST(h.typical_queue_ms() == 0);
    h.record_queue_wait(30);
    h.record_queue_wait(10);
    h.record_queue_wait(20);
    BOOST_TEST(h.typical_queue_ms() == 20);
    h.record_queue_wait(40); // {30, 10, 20, 40}: lower median
    BOOST_TEST(h.typical_queue_ms() == 20);
    h.record_queue_wait(50); // 30 dropped: {10, 20, 40, 50}
    h.record_queue_wait(60); // 10 dropped: {20, 40, 50, 60}
    BOOST_TEST(h.typical_queue_ms() == 40);
    BOOST_TEST(h.samples() == 0u); // durations untouched
}

BOOST_AUTO_TEST_CASE(negative_inputs_clamp_to_zero) {
    runtime_history h(4, 0, 1000);
    h.record_run(-50);
    h.record_queue_wait(-7);
    BOOST_TEST(h.typical_ms() == 0);
    BOOST_TEST(h.typical_queue_ms() == 0);
    BOOST_TEST(h.p95_ms() == 0);
}

BOOST_AUTO_TEST_CASE(p95) {
    std::vector<std::int64_t> runs;
    for (int i = 100; i >= 1; --i)
        runs.push_back(i);
    BOOST_TEST(history_of(100, runs).p95_ms() == 95); // rank ceil(95) = 95
    runs.clear();
    for (int i = 1; i <= 20; ++i)
        runs.push_back(i * 10);
    BOOST_TEST(history_of(20, runs).p95_ms() == 190); // rank ceil(19) = 19
    runs.clear();
    for (int i = 1; i <= 32; ++i)
        runs.push_back(i);
    BOOST_TEST(history_of(32, runs).p95_ms() == 31);  // rank ceil(30.4) = 31
    BOOST_TEST(history_of(32, {5, 9}).p95_ms() == 9); // rank ceil(1.9) = 2
    BOOST_TEST(history_of(32, {42}).p95_ms() == 42);
}

BOOST_AUTO_TEST_CASE(estimate_with_idle_servers_is_typical) {
    BOOST_TEST(estimate_new_completion_ms(100, {}, 0, 4) == 100);
    const std::vector<std::int64_t> two_running{0, 10};
    BOOST_TEST(estimate_new_completion_ms(100, two_running, 0, 4) == 100);
    BOOST_TEST(estimate_new_completion_ms(100, two_running, 1, 4) == 100);
    BOOST_TEST(estimate_new_completion_ms(0, {}, 5, 1) == 0);
}

BOOST_AUTO_TEST_CASE(estimate_accounts_for_running_elapsed) {
    // One server, busy for another 70 ms: we start at 70 and end at 170.
    const std::vector<std::int64_t> one{30};
    BOOST_TEST(estimate_new_completion_ms(100, one, 0, 1) == 170);
    // Two servers, free at 70 and 20: we take the one free at 20.
    const std::vector<std::int64_t> two{30, 80};
    BOOST_TEST(estimate_new_completion_ms(100, two, 0, 2) == 120);
    // More running than servers (limit lowered): the two soonest-free hold the servers.
    // Remaining 10, 90, 50 -> servers free at 10 and 50.
    const std::vector<std::int64_t> three{90, 10, 50};
    BOOST_TEST(estimate_new_completion_ms(100, three, 0, 2) == 110);
    BOOST_TEST(estimate_new_completion_ms(100, three, 1, 2) == 150);
}

BOOST_AUTO_TEST_CASE(estimate_accounts_for_queued_ahead_and_concurrency) {
    // typical 100, 2 servers both busy until 100. Ahead: #1 at 100 on A, #2 at 100 on B,
    // #3 at 200 on A; we start at 200 on B and end at 300.
    const std::vector<std::int64_t> just_started{0, 0};
    BOOST_TEST(estimate_new_completion_ms(100, just_started, 3, 2) == 300);
    // One server, 3 ahead: 100 + 3 * 100 start, +100.
    const std::vector<std::int64_t> single{0};
    BOOST_TEST(estimate_new_completion_ms(100, single, 3, 1) == 500);
    // A huge limit with a short queue: idle servers, start at 0 (and no huge allocation).
    BOOST_TEST(estimate_new_completion_ms(100, just_started, 3, std::size_t{1} << 40) == 100);
    // concurrency 0 behaves as 1.
    BOOST_TEST(estimate_new_completion_ms(100, single, 3, 0) == 500);
    // Servers free at 0 (overran) and 100 (just started): starts go 0, 100, 100, 200, 200, ...
    // so the m-th one ahead (0-based) starts at ceil(m / 2) * 100.
    const std::vector<std::int64_t> uneven{100, 0};
    BOOST_TEST(estimate_new_completion_ms(100, uneven, 0, 2) == 100);
    BOOST_TEST(estimate_new_completion_ms(100, uneven, 1, 2) == 200);
    BOOST_TEST(estimate_new_completion_ms(100, uneven, 9, 2) == 600);
    BOOST_TEST(estimate_new_completion_ms(100, uneven, 10, 2) == 600);
    BOOST_TEST(estimate_new_completion_ms(100, uneven, 11, 2) == 700);
    // Servers beyond the running executions are free at 0.
    BOOST_TEST(estimate_new_completion_ms(100, single, 1, 3) == 100);
    BOOST_TEST(estimate_new_completion_ms(100, single, 2, 3) == 200);
}

BOOST_AUTO_TEST_CASE(estimate_never_negative) {
    const std::vector<std::int64_t> overrun{500};
    BOOST_TEST(estimate_new_completion_ms(100, overrun, 0, 1) == 100);
    BOOST_TEST(estimate_new_completion_ms(100, overrun, 1, 1) == 200);
    BOOST_TEST(estimate_new_completion_ms(-100, overrun, 3, 1) == 0);
    BOOST_TEST(estimate_remaining_ms(100, 500) == 0);
    BOOST_TEST(estimate_remaining_ms(100, 100) == 0);
    BOOST_TEST(estimate_remaining_ms(100, 30) == 70);
    BOOST_TEST(estimate_remaining_ms(100, -5) == 100);
    BOOST_TEST(estimate_remaining_ms(-100, 0) == 0);
}

BOOST_AUTO_TEST_CASE(estimate_matches_step_by_step_simulation) {
    std::mt19937_64 rng(20240607);
    std::uniform_int_distribution<std::int64_t> typical_dist(0, 500);
    std::uniform_int_distribution<std::int64_t> elapsed_dist(0, 800);
    std::uniform_int_distribution<std::size_t> small(0, 12);
    std::uniform_int_distribution<std::size_t> ahead_dist(0, 300);
    for (int round = 0; round < 3000; ++round) {
        const auto typical = typical_dist(rng);
        const auto concurrency = small(rng) % 8 + 1;
        std::vector<std::int64_t> elapsed(small(rng));
        for (auto& e : elapsed)
            e = elapsed_dist(rng);
        const auto ahead = ahead_dist(rng);
        const auto got = estimate_new_completion_ms(typical, elapsed, ahead, concurrency);
        const auto want = simulate(typical, elapsed, ahead, concurrency);
        BOOST_TEST_REQUIRE(got == want, "typical " << typical << " c " << concurrency << " running "
                                                   << elapsed.size() << " ahead " << ahead);
    }
}

BOOST_AUTO_TEST_CASE(large_queue_estimate_is_correct) {
    // Servers free at 100, 75, 50, 25 (spread < typical): round-robin, so job j starts at
    // free[j % 4] + (j / 4) * 100. We are job 100000: 25 + 25000 * 100, ending 100 later.
    const std::vector<std::int64_t> elapsed{0, 25, 50, 75};
    BOOST_TEST(estimate_new_completion_ms(100, elapsed, 100'000, 4) == 2'500'125);
    BOOST_TEST(simulate(100, elapsed, 100'000, 4) == 2'500'125);
    // Speed (closed form, independent of queue depth) is not asserted here: timings belong
    // in benchmarks, not unit tests.
}

BOOST_AUTO_TEST_CASE(huge_figures_saturate_instead_of_overflowing) {
    constexpr auto max = std::numeric_limits<std::int64_t>::max();
    BOOST_TEST(estimate_new_completion_ms(max / 2, {}, 10, 1) == max);
    BOOST_TEST(estimate_new_completion_ms(max, {}, 0, 1) == max);
    BOOST_TEST(estimate_new_completion_ms(1000, {}, std::numeric_limits<std::size_t>::max(), 1) ==
               max);
    BOOST_TEST(retry_after_seconds(max) == max / 1000 + 1);
}

BOOST_AUTO_TEST_CASE(retry_after_rounds_up_min_1) {
    BOOST_TEST(retry_after_seconds(-5) == 1);
    BOOST_TEST(retry_after_seconds(0) == 1);
    BOOST_TEST(retry_after_seconds(1) == 1);
    BOOST_TEST(retry_after_seconds(999) == 1);
    BOOST_TEST(retry_after_seconds(1000) == 1);
    BOOST_TEST(retry_after_seconds(1001) == 2);
    BOOST_TEST(retry_after_seconds(2500) == 3);
    BOOST_TEST(retry_after_seconds(60'000) == 60);
}

BOOST_AUTO_TEST_SUITE_END()
