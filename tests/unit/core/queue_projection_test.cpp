// Tests of the queue projection: hand-checked drains, and equality with a simulation that
// drives the real scheduler_policy on random synthetic queues (exact durations).
#include "core/queue_projection.hpp"
#include "core/scheduler_policy.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <random>
#include <vector>

using namespace spear::core;

namespace {

/// A submission of the synthetic workload.
struct job {
    std::uint32_t function = 0;
    std::uint32_t client = 0;
    std::int64_t rank = 0;
    std::int64_t duration_ms = 0;
};

struct scenario {
    std::size_t global = 1;
    std::vector<std::size_t> function_limits;
    std::vector<std::size_t> client_limits;
    std::vector<job> jobs; ///< admitted at time 0 in this order (key = index + 1)
};

/// Drives the real scheduler: admits every job at time 0, then ends running jobs in time
/// order (ties: earlier started first), calling finish() and timing what it starts. Returns
/// each queued job's (start, completion), in the scheduler's start order, and fills the
/// projection's inputs from the state after admission.
std::vector<projected_times> simulate(const scenario& s, std::vector<projected_running>& running,
                                      std::vector<projected_queued>& queued) {
    std::vector<scheduler_policy::function_limits> fl;
    for (auto c : s.function_limits)
        fl.push_back({c, 1000});
    std::vector<scheduler_policy::client_limits> cl;
    for (auto c : s.client_limits)
        cl.push_back({c, scheduler_policy::unlimited});
    scheduler_policy policy(fl, s.global, cl);

    struct end {
        std::int64_t at;
        std::uint64_t order;
        std::uint64_t key;
    };
    std::vector<end> ends;
    std::uint64_t order = 0;
    for (std::size_t i = 0; i < s.jobs.size(); ++i) {
        const auto& j = s.jobs[i];
        const scheduled_item item{j.function, i + 1, j.client, j.rank};
        if (policy.admit(item) == admit_result::start_now) {
            running.push_back({j.function, j.client, j.duration_ms});
            ends.push_back({j.duration_ms, order++, i + 1});
        }
    }
    std::vector<std::uint64_t> queued_keys;
    policy.for_each_queued([&](const scheduled_item& item) {
        queued_keys.push_back(item.key);
        const auto& j = s.jobs[item.key - 1];
        queued.push_back({j.function, j.client, j.duration_ms});
    });

    std::vector<projected_times> times(queued_keys.size());
    const auto later = [](const end& a, const end& b) {
        return a.at != b.at ? a.at > b.at : a.order > b.order;
    };
    std::make_heap(ends.begin(), ends.end(), later);
    while (!ends.empty()) {
        std::pop_heap(ends.begin(), ends.end(), later);
        const auto e = ends.back();
        ends.pop_back();
        const auto& ended = s.jobs[e.key - 1];
        for (const auto& started : policy.finish(ended.function, ended.client)) {
            const auto& j = s.jobs[started.key - 1];
            const auto at = static_cast<std::size_t>(
                std::find(queued_keys.begin(), queued_keys.end(), started.key) -
                queued_keys.begin());
            times.at(at) = {e.at, e.at + j.duration_ms};
            ends.push_back({e.at + j.duration_ms, order++, started.key});
            std::push_heap(ends.begin(), ends.end(), later);
        }
    }
    BOOST_TEST_REQUIRE(policy.queued_total() == 0u);
    return times;
}

std::vector<projected_times> project(const scenario& s, const std::vector<projected_running>& r,
                                     const std::vector<projected_queued>& q) {
    queue_projection p;
    const projection_limits limits{s.global, s.function_limits, s.client_limits};
    return p.project(limits, r, q);
}

bool same(const std::vector<projected_times>& a, const std::vector<projected_times>& b) {
    if (a.size() != b.size())
        return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (a[i].start_ms != b[i].start_ms || a[i].completion_ms != b[i].completion_ms)
            return false;
    return true;
}

} // namespace

BOOST_AUTO_TEST_SUITE(queue_projection_suite)

BOOST_AUTO_TEST_CASE(two_functions_share_the_global_limit) {
    // Global 2; f0 = 300 ms, f1 = 200 ms, alternating. Each function alone could run 2, but
    // the global limit binds: the per-function model this replaces said 300/200/600/400...
    const std::array<std::size_t, 2> fl{2, 2};
    const std::vector<projected_running> running{{0, 0, 300}, {1, 0, 200}};
    const std::vector<projected_queued> queued{{0, 0, 300}, {1, 0, 200}, {0, 0, 300}, {1, 0, 200}};
    queue_projection p;
    const auto& t = p.project({2, fl, {}}, running, queued);
    BOOST_TEST_REQUIRE(t.size() == 4u);
    BOOST_TEST(t[0].start_ms == 200); // the 200 ms run frees the first slot
    BOOST_TEST(t[0].completion_ms == 500);
    BOOST_TEST(t[1].start_ms == 300);
    BOOST_TEST(t[1].completion_ms == 500);
    BOOST_TEST(t[2].start_ms == 500);
    BOOST_TEST(t[2].completion_ms == 800);
    BOOST_TEST(t[3].start_ms == 500);
    BOOST_TEST(t[3].completion_ms == 700);
}

BOOST_AUTO_TEST_CASE(items_held_by_their_function_let_later_ones_pass) {
    // f0 limit 1 (running, 1000 ms left); global 2. The queued f0 item waits for f0's slot,
    // the f1 item behind it starts at once in the free global slot.
    const std::array<std::size_t, 2> fl{1, 4};
    const std::vector<projected_running> running{{0, 0, 1000}};
    const std::vector<projected_queued> queued{{0, 0, 100}, {1, 0, 50}};
    queue_projection p;
    const auto& t = p.project({2, fl, {}}, running, queued);
    BOOST_TEST(t[0].start_ms == 1000);
    BOOST_TEST(t[1].start_ms == 0);
    BOOST_TEST(t[1].completion_ms == 50);
}

BOOST_AUTO_TEST_CASE(client_limits_hold_items_back) {
    // Client 1 may run one at a time; global 3.
    const std::array<std::size_t, 1> fl{3};
    const std::array<std::size_t, 2> cl{3, 1};
    const std::vector<projected_running> running{{0, 1, 400}};
    const std::vector<projected_queued> queued{{0, 1, 100}, {0, 0, 100}};
    queue_projection p;
    const auto& t = p.project({3, fl, cl}, running, queued);
    BOOST_TEST(t[0].start_ms == 400);
    BOOST_TEST(t[1].start_ms == 0);
}

BOOST_AUTO_TEST_CASE(overdue_running_and_negative_durations_count_as_zero) {
    const std::array<std::size_t, 1> fl{1};
    const std::vector<projected_running> running{{0, 0, -50}};
    const std::vector<projected_queued> queued{{0, 0, -1}, {0, 0, 10}};
    queue_projection p;
    const auto& t = p.project({1, fl, {}}, running, queued);
    BOOST_TEST(t[0].start_ms == 0);
    BOOST_TEST(t[0].completion_ms == 0);
    BOOST_TEST(t[1].start_ms == 0);
    BOOST_TEST(t[1].completion_ms == 10);
}

BOOST_AUTO_TEST_CASE(equals_the_scheduler_on_random_queues) {
    std::mt19937 rng(17);
    for (int round = 0; round < 400; ++round) {
        scenario s;
        const auto functions = std::uniform_int_distribution<std::size_t>(1, 8)(rng);
        const auto clients = std::uniform_int_distribution<std::size_t>(1, 3)(rng);
        s.global = std::uniform_int_distribution<std::size_t>(1, 6)(rng);
        std::vector<std::int64_t> durations;
        for (std::size_t f = 0; f < functions; ++f) {
            s.function_limits.push_back(std::uniform_int_distribution<std::size_t>(1, 4)(rng));
            durations.push_back(std::uniform_int_distribution<std::int64_t>(1, 20)(rng) * 50);
        }
        for (std::size_t c = 0; c < clients; ++c)
            s.client_limits.push_back(std::uniform_int_distribution<std::size_t>(1, 6)(rng));
        const auto count = std::uniform_int_distribution<std::size_t>(0, 60)(rng);
        for (std::size_t i = 0; i < count; ++i) {
            job j;
            j.function = static_cast<std::uint32_t>(
                std::uniform_int_distribution<std::size_t>(0, functions - 1)(rng));
            j.client = static_cast<std::uint32_t>(
                std::uniform_int_distribution<std::size_t>(0, clients - 1)(rng));
            // Submitted 0-99 ms apart in the past, priority 0-9, aging 100 ms per level.
            j.rank = start_rank(static_cast<std::int64_t>(i) * 10,
                                std::uniform_int_distribution<int>(0, 9)(rng), 100);
            j.duration_ms = durations[j.function];
            s.jobs.push_back(j);
        }
        std::vector<projected_running> running;
        std::vector<projected_queued> queued;
        const auto simulated = simulate(s, running, queued);
        const auto projected = project(s, running, queued);
        BOOST_TEST_REQUIRE(same(simulated, projected), "round " << round);
    }
}

BOOST_AUTO_TEST_CASE(reuses_its_buffers_across_calls) {
    const std::array<std::size_t, 1> fl{1};
    const std::vector<projected_queued> big(100, projected_queued{0, 0, 10});
    const std::vector<projected_queued> small(2, projected_queued{0, 0, 10});
    queue_projection p;
    BOOST_TEST(p.project({1, fl, {}}, {}, big).back().completion_ms == 1000);
    const auto& t = p.project({1, fl, {}}, {}, small);
    BOOST_TEST_REQUIRE(t.size() == 2u);
    BOOST_TEST(t[1].completion_ms == 20);
}

BOOST_AUTO_TEST_SUITE_END()
