// Benchmark of the ring status table: insert+finish cycles, lookups by id and list pages on a
// 1024-slot table. Prints operations per second; takes about two seconds.
#include "core/ring_status_table.hpp"

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

using namespace spear::core;

namespace {

using bench_clock = std::chrono::steady_clock;

// Keeps results observable so the optimiser cannot drop the work being timed.
std::uint64_t sink = 0;

void report(const char* name, std::size_t ops, bench_clock::duration took) {
    const double seconds = std::chrono::duration<double>(took).count();
    std::printf("%s: %.0f ops/s (%zu ops in %.3f s)\n", name, static_cast<double>(ops) / seconds,
                ops, seconds);
}

} // namespace

int main() {
    ring_status_table_options options;
    options.slots = 1024;
    options.boot = 0xbe4c0001;
    ring_status_table table(options);
    std::printf("table: %zu slots, %zu arena bytes\n", table.capacity(), table.arena_bytes());

    const std::string output(200, 'o');
    const std::string stderr_line = "warning: sensor 3 slow to answer\n";
    auto now = bench_clock::now();
    const auto wall = std::chrono::system_clock::now();

    // Each cycle takes a slot (evicting the oldest terminal record once the ring is full),
    // runs the record, writes some output and stderr, and finishes it.
    constexpr std::size_t cycles = 3'000'000;
    auto start = bench_clock::now();
    for (std::size_t i = 0; i < cycles; ++i) {
        now += std::chrono::microseconds(10);
        const new_execution e{i % 2 == 0 ? "read_sensor" : "resize_image",
                              {},
                              ExecutionMode::async,
                              now + std::chrono::milliseconds(5)};
        const auto inserted = table.insert(e, now, wall);
        const auto* ref = std::get_if<record_ref>(&inserted);
        if (ref == nullptr) {
            std::fprintf(stderr, "unexpected refusal at cycle %zu\n", i);
            return 1;
        }
        table.mark_running(*ref, now, wall);
        table.append_output(*ref, output);
        table.append_stderr(*ref, stderr_line);
        table.finish(*ref, {ExecutionStatus::completed, error_code::none, {}, 0, std::nullopt}, now,
                     wall);
        sink += ref->seq;
    }
    report("insert+finish", cycles, bench_clock::now() - start);

    // Lookups: the held ids and as many evicted ones, as a status-polling client mix would be.
    std::vector<std::string> ids;
    list_query all;
    all.limit = 1000;
    for (const auto& r : table.list(all, now).executions)
        ids.push_back(r.execution_id);
    for (std::uint64_t seq = 1; seq <= 1000; ++seq)
        ids.push_back(
            format_execution_id({options.boot, seq, static_cast<std::uint32_t>(seq % 1024)}));
    constexpr std::size_t lookups = 10'000'000;
    start = bench_clock::now();
    for (std::size_t i = 0; i < lookups; ++i) {
        const auto found = table.find(ids[i % ids.size()], now);
        sink += static_cast<std::uint64_t>(found.status) + found.ref.seq;
    }
    report("find by id", lookups, bench_clock::now() - start);

    // First pages of the listing, alternately unfiltered and filtered by function.
    constexpr std::size_t pages = 50'000;
    list_query first;
    first.limit = 50;
    list_query filtered = first;
    filtered.function_name = "read_sensor";
    start = bench_clock::now();
    for (std::size_t i = 0; i < pages; ++i) {
        const auto page = table.list(i % 2 == 0 ? first : filtered, now);
        sink += page.executions.size();
    }
    report("list(limit 50)", pages, bench_clock::now() - start);

    std::printf("(checksum %llu)\n", static_cast<unsigned long long>(sink));
    return 0;
}
