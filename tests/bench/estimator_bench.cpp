// Benchmark (not a test): accuracy of estimated_completion_ms on synthetic workloads.
// For each workload it replays a sequence of runs through runtime_history, asks for the
// estimate a new submission would get before each run, and prints the error against the
// run's real duration: median and p90 absolute error, and the mean signed bias.
#include "core/runtime_history.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <random>
#include <string>
#include <vector>

using namespace spear::core;

namespace {

struct workload {
    std::string name;
    std::function<std::int64_t(std::size_t, std::mt19937&)> duration; ///< run i -> ms
};

void measure(const workload& w, std::size_t runs, std::size_t window) {
    std::mt19937 rng(42);
    runtime_history history(window, 0, 1000);
    std::vector<double> abs_pct;
    double bias = 0;
    for (std::size_t i = 0; i < runs; ++i) {
        const auto actual = w.duration(i, rng);
        const auto estimate = estimate_new_completion_ms(history.typical_ms(), {}, 0, 1);
        if (i >= window) { // after warm-up: what a client sees in steady state
            const double err = static_cast<double>(estimate - actual);
            abs_pct.push_back(std::abs(err) / static_cast<double>(std::max<std::int64_t>(actual, 1)));
            bias += err;
        }
        history.record_run(actual);
    }
    std::sort(abs_pct.begin(), abs_pct.end());
    const auto pct = [&](double q) {
        return 100.0 * abs_pct[static_cast<std::size_t>(q * static_cast<double>(abs_pct.size() - 1))];
    };
    std::printf("%-34s median |error| %6.1f %%   p90 |error| %6.1f %%   mean bias %+8.1f ms\n",
                w.name.c_str(), pct(0.5), pct(0.9), bias / static_cast<double>(abs_pct.size()));
}

} // namespace

int main() {
    const std::size_t runs = 5000, window = 32;
    std::printf("estimate accuracy, window %zu, %zu runs per workload (after warm-up)\n", window,
                runs);
    const std::vector<workload> workloads = {
        {"constant 200 ms", [](std::size_t, std::mt19937&) { return std::int64_t{200}; }},
        {"200 ms +-10 % noise",
         [](std::size_t, std::mt19937& r) {
             return static_cast<std::int64_t>(std::normal_distribution<double>(200, 20)(r));
         }},
        {"drifting 100 -> 1000 ms",
         [](std::size_t i, std::mt19937&) { return static_cast<std::int64_t>(100 + i * 900 / 5000); }},
        {"step 200 -> 800 ms at run 2500",
         [](std::size_t i, std::mt19937&) { return std::int64_t{i < 2500 ? 200 : 800}; }},
        {"bimodal 70 % 100 ms / 30 % 900 ms",
         [](std::size_t, std::mt19937& r) {
             return std::int64_t{std::bernoulli_distribution(0.7)(r) ? 100 : 900};
         }},
        {"200 ms with 5 % 10x outliers",
         [](std::size_t, std::mt19937& r) {
             return std::int64_t{std::bernoulli_distribution(0.05)(r) ? 2000 : 200};
         }},
    };
    for (const auto& w : workloads)
        measure(w, runs, window);
    return 0;
}
