// Benchmark (not a test): the cost of one queue projection (core::queue_projection) at a full
// queue, as a status read of a pending execution or a new submission pays it.
#include "core/queue_projection.hpp"

#include <chrono>
#include <cstdio>
#include <random>
#include <vector>

using namespace spear::core;

namespace {

struct shape {
    const char* name;
    std::size_t functions;
    std::size_t per_function_limit;
    std::size_t global;
    std::size_t queued;
    std::size_t clients;
    std::size_t client_limit;
};

void measure(const shape& s) {
    std::mt19937 rng(7);
    std::vector<std::size_t> fl(s.functions, s.per_function_limit);
    std::vector<std::size_t> cl(s.clients, s.client_limit);
    std::vector<projected_running> running;
    std::vector<std::size_t> busy(s.functions, 0);
    for (std::size_t i = 0; running.size() < s.global; ++i) {
        const auto f = static_cast<std::uint32_t>(i % s.functions);
        if (busy[f] < s.per_function_limit) {
            ++busy[f];
            running.push_back({f, static_cast<std::uint32_t>(i % s.clients),
                               std::uniform_int_distribution<std::int64_t>(0, 500)(rng)});
        }
    }
    std::vector<projected_queued> queued;
    for (std::size_t i = 0; i < s.queued; ++i) {
        const auto f = static_cast<std::uint32_t>(
            std::uniform_int_distribution<std::size_t>(0, s.functions - 1)(rng));
        queued.push_back({f, static_cast<std::uint32_t>(i % s.clients),
                          100 + 50 * static_cast<std::int64_t>(f)});
    }
    queue_projection p;
    const projection_limits limits{s.global, fl, cl};
    std::int64_t sink = 0;
    const int rounds = 2000;
    const auto t0 = std::chrono::steady_clock::now();
    for (int r = 0; r < rounds; ++r)
        sink += p.project(limits, running, queued).back().completion_ms;
    const auto t1 = std::chrono::steady_clock::now();
    const double us =
        std::chrono::duration<double, std::micro>(t1 - t0).count() / static_cast<double>(rounds);
    std::printf("%-44s running %4zu queued %5zu: %8.1f us per projection (%.0f ns per queued) "
                "[%lld]\n",
                s.name, running.size(), queued.size(), us,
                us * 1000.0 / static_cast<double>(s.queued), static_cast<long long>(sink % 10));
}

} // namespace

int main() {
    // Defaults: global 16, max_concurrency 4, queue_depth 64 per function.
    measure({"global limit binds (16 fns x 64 queued)", 16, 4, 16, 1024, 1, 1'000'000});
    measure({"function limits bind (global 64)", 16, 4, 64, 1024, 1, 1'000'000});
    measure({"client limits bind (8 clients x 1)", 16, 4, 16, 1024, 8, 1});
    measure({"small gateway (4 fns x 64, global 4)", 4, 4, 4, 256, 1, 1'000'000});
    return 0;
}
