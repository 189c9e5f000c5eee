// Benchmark of durable results: async accepts through execution_service (the fake runtime
// completes each one at once, so every accepted execution also runs and finishes: 3 record
// writes each) in memory and with durability none / batched / every_change, in one run;
// start-up time with a full table of 1024 and 65536 slots; the default config's file size.
#include "service/durable_store.hpp"
#include "service/execution_service.hpp"

#include "support/fake_runtime.hpp"

#include "core/durable_format.hpp"
#include "core/log.hpp"
#include "core/memory_estimate.hpp"

#include <boost/asio/io_context.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

using namespace spear;
namespace asio = boost::asio;
using bench_clock = std::chrono::steady_clock;

namespace {

std::filesystem::path make_temp_dir() {
    auto pattern = (std::filesystem::temp_directory_path() / "spear-durable-bench-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
        std::perror("mkdtemp");
        std::exit(1);
    }
    return pattern;
}

core::config make_config(runtime::registry& registry, const std::string& data_dir,
                         const char* durability, std::size_t slots, std::size_t output_bytes,
                         std::size_t stderr_bytes, std::size_t input_bytes) {
    const std::string text = R"({"node": {"data_dir": ")" + data_dir + R"(", "durability": ")" +
                             durability + R"("},
        "status_table": {"slots": )" + std::to_string(slots) +
                             R"(, "max_output_bytes": )" + std::to_string(output_bytes) +
                             R"(, "stderr_tail_bytes": )" + std::to_string(stderr_bytes) +
                             R"(, "max_input_bytes": )" + std::to_string(input_bytes) + R"(},
        "limits": {"global_concurrency": 64},
        "functions": [{"name": "up", "runtime": "fake", "max_concurrency": 64,
                       "queue_depth": 10000}]})";
    auto parsed = runtime::parse_config(text, registry);
    if (!parsed.value) {
        std::fprintf(stderr, "bad bench config: %s\n", parsed.errors[0].to_string().c_str());
        std::exit(1);
    }
    return *parsed.value;
}

double percentile(std::vector<double>& v, double p) {
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

/// Runs the loop until nothing is pending or running (restart: a loop that ran out of work
/// is stopped, and poll() would then run nothing).
void drain(asio::io_context& io, service::execution_service& service) {
    for (auto h = service.health(); h.pending + h.running > 0; h = service.health()) {
        io.restart();
        io.poll();
    }
}

/// Accepts `n` async executions in batches of 32, running the loop between batches so they
/// start and finish; prints throughput (accepts with their runs, end to end) and the accept
/// call's latency percentiles.
void accept_run(const char* label, const char* durability, bool durable, std::size_t n) {
    auto log = std::make_shared<test::fake_log>();
    runtime::registry registry{{test::fake_kind(log)}};
    const auto dir = make_temp_dir();
    // The default geometry: 1024 slots, 64 KiB output, 4 KiB stderr, 64 KiB input.
    const auto cfg = make_config(registry, durable ? (dir / "data").string() : std::string(),
                                 durability, 1024, 64 << 10, 4 << 10, 64 << 10);
    std::vector<double> latency_us;
    latency_us.reserve(n);
    double seconds = 0;
    {
        asio::io_context io;
        service::execution_service service(io.get_executor(), cfg, registry);
        const std::string input(200, 'a'); // a sensor-sized payload; output the same size
        const auto t0 = bench_clock::now();
        std::size_t refused = 0;
        for (std::size_t i = 0; i < n; ++i) {
            core::InvokeFunctionRequest r;
            r.function_name = "up";
            r.execution_mode = core::ExecutionMode::async;
            r.input = input;
            const auto a = bench_clock::now();
            auto answer = service.handle_async_execution(std::move(r));
            const auto b = bench_clock::now();
            latency_us.push_back(std::chrono::duration<double, std::micro>(b - a).count());
            if (!std::holds_alternative<core::RuntimeExecutionResponse>(answer))
                ++refused;
            if (i % 32 == 31) // let the batch start and finish before the next one
                drain(io, service);
        }
        drain(io, service);
        seconds = std::chrono::duration<double>(bench_clock::now() - t0).count();
        if (refused > 0)
            std::printf("  (%zu refused)\n", refused);
        io.stop();
    }
    std::printf("%-22s %9.0f accepts/s (each run and finished)  accept p50 %7.1f us  p99 %7.1f us\n",
                label, static_cast<double>(n) / seconds, percentile(latency_us, 0.50),
                percentile(latency_us, 0.99));
    std::filesystem::remove_all(dir);
}

/// Fills a results file of `slots` slots with terminal records (1 KiB output each), then times
/// an appliance's start on it: open, check, read every slot, restore the table.
void startup_run(std::size_t slots, std::size_t output_bytes, std::size_t stderr_bytes,
                 std::size_t input_bytes) {
    auto log = std::make_shared<test::fake_log>();
    runtime::registry registry{{test::fake_kind(log)}};
    const auto dir = make_temp_dir();
    const auto cfg = make_config(registry, (dir / "data").string(), "none", slots, output_bytes,
                                 stderr_bytes, input_bytes);
    std::uint64_t file = 0;
    {
        service::durable_store store(cfg, 1);
        file = store.results_file_bytes();
        const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count();
        for (std::size_t i = 0; i < slots; ++i) {
            core::durable::record r;
            r.boot = 1;
            r.seq = i + 1;
            r.status = core::ExecutionStatus::completed;
            r.function_name = "up";
            r.queued_wall_ms = r.started_wall_ms = r.completed_wall_ms = now_ms;
            r.output.assign(1024, 'o');
            r.output_size = 1024;
            r.stderr_tail = "warning: sensor 3 slow to answer\n";
            store.save(static_cast<std::uint32_t>(i), r);
        }
        store.note_next_seq(slots + 1);
        store.sync_now();
    }
    const auto t0 = bench_clock::now();
    {
        asio::io_context io;
        service::execution_service service(io.get_executor(), cfg, registry);
        const auto took = std::chrono::duration<double, std::milli>(bench_clock::now() - t0);
        const auto h = service.health();
        std::printf("start-up with a full table of %6zu slots (%zu restored, file %s): %8.1f ms\n",
                    slots, h.records, core::format_bytes(file).c_str(), took.count());
        io.stop();
    }
    std::filesystem::remove_all(dir);
}

} // namespace

int main(int argc, char** argv) {
    std::setvbuf(stdout, nullptr, _IOLBF, 0); // figures appear as they are measured
    const bool quick = argc > 1 && std::string(argv[1]) == "--quick";
    log::set_level(log::level::warn);
    const std::size_t n = quick ? 2000 : 20000;
    std::printf("async accepts through execution_service, default slot geometry (1024 x %s):\n",
                core::format_bytes(core::durable::results_slot_bytes(64 << 10, 4 << 10, 64 << 10))
                    .c_str());
    accept_run("in memory", "batched", false, n);
    accept_run("durability none", "none", true, n);
    accept_run("durability batched", "batched", true, n);
    accept_run("durability every_change", "every_change", true, quick ? 200 : n / 10);

    std::printf("\nstart-up (read back and restore):\n");
    startup_run(1024, 64 << 10, 4 << 10, 64 << 10);        // the default geometry
    startup_run(65536, 4 << 10, 512, 1 << 10);              // small slots, or 8.6 GiB of file
    std::printf("\ndefault config with node.data_dir: results file %s + history file\n",
                core::format_bytes(core::durable::file_bytes(
                                       1025, core::durable::results_slot_bytes(64 << 10, 4 << 10,
                                                                               64 << 10)))
                    .c_str());
    return 0;
}
