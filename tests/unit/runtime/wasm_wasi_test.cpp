// Tests of the in-memory WASI preview1 layer against a plain byte array as guest memory:
// argument layouts, stdio, clocks, poll_oneoff waits, proc_exit, import binding and the
// read-only mapped directories.
#include "runtime/wasm/wasi_abi.hpp"
#include "runtime/wasm/wasi_context.hpp"
#include "support/temp_dir.hpp"

#include <boost/test/unit_test.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <set>
#include <string>
#include <vector>

using namespace spear::runtime::wasm;
namespace wabi = spear::runtime::wasm::wasi_abi;
namespace fs = std::filesystem;

namespace {

struct fake_host final : wasi_host {
    void write_stdout(std::string_view b) override { out.emplace_back(b); }
    void write_stderr(std::string_view b) override { err.emplace_back(b); }
    std::uint64_t realtime_ns() override { return realtime; }
    std::uint64_t monotonic_ns() override { return monotonic; }
    void random_bytes(std::span<std::uint8_t> bytes) override {
        for (auto& b : bytes)
            b = next_random++;
    }
    std::vector<std::string> out;
    std::vector<std::string> err;
    std::uint64_t realtime = 1'700'000'000'000'000'000ull;
    std::uint64_t monotonic = 5'000'000'000ull;
    std::uint8_t next_random = 1;
};

/// A guest memory of 64 KiB plus helpers to place and read values, and to call the layer.
struct guest {
    explicit guest(wasi_config config = {})
        : ctx(std::move(config), host) {}

    std::uint16_t call(wasi_function fn, std::vector<std::uint64_t> params) {
        params.resize(16, 0);
        std::uint64_t results[4] = {};
        last = ctx.call(fn, params.data(), results, memory_view{mem.data(), mem.size()});
        return static_cast<std::uint16_t>(results[0]);
    }
    template <typename T> T load(std::uint32_t at) const {
        T v{};
        std::memcpy(&v, mem.data() + at, sizeof v);
        return v;
    }
    template <typename T> void store(std::uint32_t at, T v) {
        std::memcpy(mem.data() + at, &v, sizeof v);
    }
    void put(std::uint32_t at, std::string_view s) {
        std::memcpy(mem.data() + at, s.data(), s.size());
    }
    std::string get(std::uint32_t at, std::size_t n) const {
        return std::string(reinterpret_cast<const char*>(mem.data() + at), n);
    }
    /// An iovec array at `at` with the given (buffer, length) pairs.
    void iovecs(std::uint32_t at, std::vector<std::pair<std::uint32_t, std::uint32_t>> v) {
        for (std::size_t i = 0; i < v.size(); ++i) {
            store<std::uint32_t>(at + static_cast<std::uint32_t>(8 * i), v[i].first);
            store<std::uint32_t>(at + static_cast<std::uint32_t>(8 * i + 4), v[i].second);
        }
    }
    /// A poll_oneoff clock subscription at `at`.
    void clock_sub(std::uint32_t at, std::uint64_t userdata, std::uint32_t id,
                   std::uint64_t timeout, bool absolute) {
        std::memset(mem.data() + at, 0, wabi::subscription_size);
        store<std::uint64_t>(at, userdata);
        store<std::uint8_t>(at + 8, wabi::eventtype_clock);
        store<std::uint32_t>(at + 16, id);
        store<std::uint64_t>(at + 24, timeout);
        store<std::uint16_t>(at + 40, absolute ? wabi::subclock_abstime : 0);
    }

    fake_host host;
    std::vector<std::uint8_t> mem = std::vector<std::uint8_t>(65536, 0);
    wasi_context ctx;
    host_result last;
};

/// A temporary directory tree for the mapped-directory tests, removed at the end.
struct temp_tree {
    temp_tree() {
        dir.write("data/hello.txt", "hello from the host\n");
        dir.write("data/sub/deep.txt", "deep\n");
        dir.write("secret.txt", "outside the mapped tree\n");
        fs::create_symlink(root / "secret.txt", root / "data" / "link.txt");
    }
    spear::test::temp_dir dir{"spear-wasi-test"};
    fs::path root = dir.path();
};

import_info wasi_import(std::string name, signature type) {
    return import_info{wabi::module_name, std::move(name), import_kind::function, std::move(type)};
}

constexpr auto i32 = value_type::i32;
constexpr auto i64 = value_type::i64;

} // namespace

BOOST_AUTO_TEST_SUITE(wasm_wasi_tests)

BOOST_AUTO_TEST_CASE(args_are_laid_out_as_pointers_then_nul_terminated_strings) {
    wasi_config config;
    config.args = {"fn", "--flag", ""};
    guest g(std::move(config));
    BOOST_TEST(g.call(wasi_function::args_sizes_get, {0, 4}) == wabi::errno_success);
    BOOST_TEST(g.load<std::uint32_t>(0) == 3u);
    BOOST_TEST(g.load<std::uint32_t>(4) == 3u + 7u + 1u);
    BOOST_TEST(g.call(wasi_function::args_get, {100, 200}) == wabi::errno_success);
    BOOST_TEST(g.load<std::uint32_t>(100) == 200u);
    BOOST_TEST(g.load<std::uint32_t>(104) == 203u);
    BOOST_TEST(g.load<std::uint32_t>(108) == 210u);
    BOOST_TEST(g.get(200, 11) == std::string("fn\0--flag\0\0", 11));
}

BOOST_AUTO_TEST_CASE(environ_is_key_equals_value_entries) {
    wasi_config config;
    config.env = {"A=1", "PATH_LIKE=x:y"};
    guest g(std::move(config));
    BOOST_TEST(g.call(wasi_function::environ_sizes_get, {0, 4}) == wabi::errno_success);
    BOOST_TEST(g.load<std::uint32_t>(0) == 2u);
    BOOST_TEST(g.load<std::uint32_t>(4) == 4u + 14u);
    BOOST_TEST(g.call(wasi_function::environ_get, {100, 200}) == wabi::errno_success);
    BOOST_TEST(g.get(g.load<std::uint32_t>(104), 13) == "PATH_LIKE=x:y");
}

BOOST_AUTO_TEST_CASE(pointers_outside_memory_are_efault) {
    wasi_config config;
    config.args = {"fn"};
    guest g(std::move(config));
    BOOST_TEST(g.call(wasi_function::args_sizes_get, {65534, 0}) == wabi::errno_fault);
    BOOST_TEST(g.call(wasi_function::args_get, {0, 65535}) == wabi::errno_fault);
    BOOST_TEST(g.call(wasi_function::clock_time_get, {wabi::clock_monotonic, 0, 0xfffffff0u}) ==
               wabi::errno_fault);
}

BOOST_AUTO_TEST_CASE(fd_write_sends_each_call_to_the_host_as_one_chunk) {
    guest g;
    g.put(1000, "hello ");
    g.put(2000, "world\n");
    g.iovecs(0, {{1000, 6}, {2000, 6}});
    BOOST_TEST(g.call(wasi_function::fd_write, {1, 0, 2, 100}) == wabi::errno_success);
    BOOST_TEST(g.load<std::uint32_t>(100) == 12u);
    BOOST_REQUIRE(g.host.out.size() == 1u);
    BOOST_TEST(g.host.out[0] == "hello world\n");
    g.iovecs(0, {{2000, 5}});
    BOOST_TEST(g.call(wasi_function::fd_write, {2, 0, 1, 100}) == wabi::errno_success);
    BOOST_REQUIRE(g.host.err.size() == 1u);
    BOOST_TEST(g.host.err[0] == "world");
}

BOOST_AUTO_TEST_CASE(fd_write_with_a_bad_buffer_writes_nothing) {
    guest g;
    g.put(1000, "ok");
    g.iovecs(0, {{1000, 2}, {65530, 100}});
    BOOST_TEST(g.call(wasi_function::fd_write, {1, 0, 2, 100}) == wabi::errno_fault);
    BOOST_TEST(g.host.out.empty());
    BOOST_TEST(g.call(wasi_function::fd_write, {0, 0, 1, 100}) == wabi::errno_badf);
    BOOST_TEST(g.call(wasi_function::fd_write, {9, 0, 1, 100}) == wabi::errno_badf);
    BOOST_TEST(g.call(wasi_function::fd_write, {1, 0, wasi_context::max_iovecs + 1, 100}) ==
               wabi::errno_inval);
}

BOOST_AUTO_TEST_CASE(stdin_reads_the_input_in_pieces_then_end_of_file) {
    wasi_config config;
    config.stdin_data = std::string("abc\0defgh", 9);
    guest g(std::move(config));
    g.iovecs(0, {{1000, 4}, {2000, 2}});
    BOOST_TEST(g.call(wasi_function::fd_read, {0, 0, 2, 100}) == wabi::errno_success);
    BOOST_TEST(g.load<std::uint32_t>(100) == 6u);
    BOOST_TEST(g.get(1000, 4) == std::string("abc\0", 4));
    BOOST_TEST(g.get(2000, 2) == "de");
    BOOST_TEST(g.ctx.stdin_remaining() == 3u);
    BOOST_TEST(g.call(wasi_function::fd_read, {0, 0, 2, 100}) == wabi::errno_success);
    BOOST_TEST(g.load<std::uint32_t>(100) == 3u);
    BOOST_TEST(g.call(wasi_function::fd_read, {0, 0, 2, 100}) == wabi::errno_success);
    BOOST_TEST(g.load<std::uint32_t>(100) == 0u);
    BOOST_TEST(g.call(wasi_function::fd_read, {1, 0, 2, 100}) == wabi::errno_badf);
    BOOST_TEST(g.call(wasi_function::fd_pread, {0, 0, 2, 0, 100}) == wabi::errno_spipe);
}

BOOST_AUTO_TEST_CASE(stdio_is_a_character_device_without_seek_rights) {
    guest g;
    BOOST_TEST(g.call(wasi_function::fd_fdstat_get, {1, 0}) == wabi::errno_success);
    BOOST_TEST(g.load<std::uint8_t>(0) == wabi::filetype_character_device);
    const auto rights = g.load<std::uint64_t>(8);
    BOOST_TEST((rights & wabi::right_fd_write) != 0u);
    BOOST_TEST((rights & (wabi::right_fd_seek | wabi::right_fd_tell)) == 0u); // isatty() is true
    BOOST_TEST(g.call(wasi_function::fd_seek, {1, 0, wabi::whence_cur, 0}) == wabi::errno_spipe);
    BOOST_TEST(g.call(wasi_function::fd_fdstat_get, {3, 0}) == wabi::errno_badf);
    BOOST_TEST(g.call(wasi_function::fd_close, {1}) == wabi::errno_success);
    BOOST_TEST(g.call(wasi_function::fd_fdstat_get, {1, 0}) == wabi::errno_badf);
    BOOST_TEST(g.call(wasi_function::fd_write, {1, 0, 0, 100}) == wabi::errno_badf);
}

BOOST_AUTO_TEST_CASE(no_mapped_directories_means_no_preopens) {
    guest g;
    BOOST_TEST(g.call(wasi_function::fd_prestat_get, {3, 0}) == wabi::errno_badf);
    BOOST_TEST(g.call(wasi_function::path_open, {3, 0, 100, 1, 0, 0, 0, 0, 200}) ==
               wabi::errno_badf);
}

BOOST_AUTO_TEST_CASE(clocks_come_from_the_host_and_process_time_starts_at_zero) {
    guest g;
    BOOST_TEST(g.call(wasi_function::clock_time_get, {wabi::clock_realtime, 0, 0}) ==
               wabi::errno_success);
    BOOST_TEST(g.load<std::uint64_t>(0) == g.host.realtime);
    g.host.monotonic += 1234;
    BOOST_TEST(g.call(wasi_function::clock_time_get, {wabi::clock_process_cputime, 0, 8}) ==
               wabi::errno_success);
    BOOST_TEST(g.load<std::uint64_t>(8) == 1234u);
    BOOST_TEST(g.call(wasi_function::clock_time_get, {7, 0, 0}) == wabi::errno_inval);
    BOOST_TEST(g.call(wasi_function::clock_res_get, {wabi::clock_monotonic, 16}) ==
               wabi::errno_success);
    BOOST_TEST(g.load<std::uint64_t>(16) > 0u);
}

BOOST_AUTO_TEST_CASE(random_get_fills_the_buffer_from_the_host) {
    guest g;
    BOOST_TEST(g.call(wasi_function::random_get, {100, 4}) == wabi::errno_success);
    BOOST_TEST(g.get(100, 4) == std::string("\x01\x02\x03\x04", 4));
    BOOST_TEST(g.call(wasi_function::random_get, {65534, 4}) == wabi::errno_fault);
}

BOOST_AUTO_TEST_CASE(a_relative_clock_poll_yields_for_its_timeout) {
    guest g;
    g.clock_sub(0, 42, wabi::clock_monotonic, 25'000'000, false);
    BOOST_TEST(g.call(wasi_function::poll_oneoff, {0, 1000, 1, 2000}) == wabi::errno_success);
    BOOST_TEST((g.last.action == host_action::yield));
    BOOST_TEST(g.ctx.take_wait().count() == 25'000'000);
    BOOST_TEST(g.ctx.take_wait().count() == 0); // taken once
    BOOST_TEST(g.load<std::uint32_t>(2000) == 1u);
    BOOST_TEST(g.load<std::uint64_t>(1000) == 42u);
    BOOST_TEST(g.load<std::uint16_t>(1008) == wabi::errno_success);
    BOOST_TEST(g.load<std::uint8_t>(1010) == wabi::eventtype_clock);
}

BOOST_AUTO_TEST_CASE(the_earliest_clock_wins_and_a_past_deadline_does_not_wait) {
    guest g;
    g.clock_sub(0, 1, wabi::clock_monotonic, 50'000'000, false);
    g.clock_sub(48, 2, wabi::clock_monotonic, g.host.monotonic + 10'000'000, true);
    BOOST_TEST(g.call(wasi_function::poll_oneoff, {0, 1000, 2, 2000}) == wabi::errno_success);
    BOOST_TEST(g.ctx.take_wait().count() == 10'000'000);
    BOOST_TEST(g.load<std::uint32_t>(2000) == 1u);
    BOOST_TEST(g.load<std::uint64_t>(1000) == 2u);

    g.clock_sub(0, 3, wabi::clock_realtime, g.host.realtime - 1, true);
    BOOST_TEST(g.call(wasi_function::poll_oneoff, {0, 1000, 1, 2000}) == wabi::errno_success);
    BOOST_TEST((g.last.action == host_action::proceed));
    BOOST_TEST(g.load<std::uint64_t>(1000) == 3u);
}

BOOST_AUTO_TEST_CASE(stdin_is_always_ready_for_poll) {
    wasi_config config;
    config.stdin_data = "12345";
    guest g(std::move(config));
    g.clock_sub(0, 1, wabi::clock_monotonic, 1'000'000'000, false);
    std::memset(g.mem.data() + 48, 0, wabi::subscription_size);
    g.store<std::uint64_t>(48, 9);
    g.store<std::uint8_t>(56, wabi::eventtype_fd_read);
    g.store<std::uint32_t>(64, 0);
    BOOST_TEST(g.call(wasi_function::poll_oneoff, {0, 1000, 2, 2000}) == wabi::errno_success);
    BOOST_TEST((g.last.action == host_action::proceed));
    BOOST_TEST(g.load<std::uint32_t>(2000) == 1u);
    BOOST_TEST(g.load<std::uint64_t>(1000) == 9u);
    BOOST_TEST(g.load<std::uint64_t>(1016) == 5u);
    BOOST_TEST(g.call(wasi_function::poll_oneoff, {0, 1000, 0, 2000}) == wabi::errno_inval);
}

BOOST_AUTO_TEST_CASE(proc_exit_ends_the_execution_with_its_code) {
    guest g;
    g.call(wasi_function::proc_exit, {3});
    BOOST_TEST((g.last.action == host_action::trap));
    BOOST_REQUIRE(g.ctx.exit_code());
    BOOST_TEST(*g.ctx.exit_code() == 3u);
}

BOOST_AUTO_TEST_CASE(sched_yield_yields_without_waiting) {
    guest g;
    BOOST_TEST(g.call(wasi_function::sched_yield, {}) == wabi::errno_success);
    BOOST_TEST((g.last.action == host_action::yield));
    BOOST_TEST(g.ctx.take_wait().count() == 0);
}

BOOST_AUTO_TEST_CASE(imports_bind_by_name_and_signature) {
    std::string error;
    auto fn = bind_wasi_import(wasi_import("fd_write", {{i32, i32, i32, i32}, {i32}}), error);
    BOOST_TEST((fn == wasi_function::fd_write));
    fn = bind_wasi_import(wasi_import("fd_write", {{i32, i32}, {i32}}), error);
    BOOST_TEST(!fn);
    BOOST_TEST(error.find("fd_write") != std::string::npos);
    fn = bind_wasi_import(wasi_import("sock_accept", {{i32, i32, i32}, {i32}}), error);
    BOOST_TEST((fn == wasi_function::unsupported_nosys));
    fn = bind_wasi_import(wasi_import("path_unlink_file", {{i32, i32, i32}, {i32}}), error);
    BOOST_TEST((fn == wasi_function::unsupported_rofs));
    fn = bind_wasi_import(wasi_import("clock_time_get", {{i32, i64, i32}, {i32}}), error);
    BOOST_TEST((fn == wasi_function::clock_time_get));
    fn = bind_wasi_import(import_info{"env", "log", import_kind::function, {{i32}, {}}}, error);
    BOOST_TEST(!fn);
    BOOST_TEST(error.find("env.log") != std::string::npos);
    fn = bind_wasi_import(import_info{wabi::module_name, "memory", import_kind::memory, {}}, error);
    BOOST_TEST(!fn);
    guest g;
    BOOST_TEST(g.call(wasi_function::unsupported_nosys, {}) == wabi::errno_nosys);
    BOOST_TEST(g.call(wasi_function::unsupported_rofs, {}) == wabi::errno_rofs);
}

BOOST_AUTO_TEST_CASE(a_mapped_directory_is_a_preopen_with_its_guest_name) {
    temp_tree tree;
    wasi_config config;
    config.mapped_dirs = {{"/data", (tree.root / "data").string()}};
    guest g(std::move(config));
    BOOST_TEST(g.call(wasi_function::fd_prestat_get, {3, 0}) == wabi::errno_success);
    BOOST_TEST(g.load<std::uint8_t>(0) == 0u);
    BOOST_TEST(g.load<std::uint32_t>(4) == 5u);
    BOOST_TEST(g.call(wasi_function::fd_prestat_dir_name, {3, 100, 5}) == wabi::errno_success);
    BOOST_TEST(g.get(100, 5) == "/data");
    BOOST_TEST(g.call(wasi_function::fd_prestat_get, {4, 0}) == wabi::errno_badf);
    BOOST_TEST(g.call(wasi_function::fd_fdstat_get, {3, 0}) == wabi::errno_success);
    BOOST_TEST(g.load<std::uint8_t>(0) == wabi::filetype_directory);
}

BOOST_AUTO_TEST_CASE(files_below_a_mapped_directory_open_read_only) {
    temp_tree tree;
    wasi_config config;
    config.mapped_dirs = {{"/data", (tree.root / "data").string()}};
    guest g(std::move(config));
    const std::string path = "sub/../hello.txt";
    g.put(100, path);
    const auto open = [&](std::uint64_t oflags, std::uint64_t rights) {
        return g.call(wasi_function::path_open,
                      {3, 0, 100, path.size(), oflags, rights, 0, 0, 200});
    };
    BOOST_TEST(open(0, wabi::right_fd_read) == wabi::errno_success);
    const auto fd = g.load<std::uint32_t>(200);
    BOOST_TEST(fd == 4u);
    g.iovecs(0, {{1000, 100}});
    BOOST_TEST(g.call(wasi_function::fd_read, {fd, 0, 1, 300}) == wabi::errno_success);
    BOOST_TEST(g.get(1000, g.load<std::uint32_t>(300)) == "hello from the host\n");
    BOOST_TEST(g.call(wasi_function::fd_seek, {fd, 6, wabi::whence_set, 400}) ==
               wabi::errno_success);
    BOOST_TEST(g.call(wasi_function::fd_read, {fd, 0, 1, 300}) == wabi::errno_success);
    BOOST_TEST(g.get(1000, 4) == "from");
    BOOST_TEST(g.call(wasi_function::fd_filestat_get, {fd, 500}) == wabi::errno_success);
    BOOST_TEST(g.load<std::uint8_t>(516) == wabi::filetype_regular_file);
    BOOST_TEST(g.load<std::uint64_t>(532) == 20u);
    BOOST_TEST(g.call(wasi_function::fd_write, {fd, 0, 1, 300}) == wabi::errno_notcapable);

    BOOST_TEST(open(wabi::oflag_creat, wabi::right_fd_read) == wabi::errno_rofs);
    BOOST_TEST(open(0, wabi::right_fd_read | wabi::right_fd_write) == wabi::errno_rofs);
    BOOST_TEST(g.ctx.host_fds_open() == 2u);
    BOOST_TEST(g.call(wasi_function::fd_close, {fd}) == wabi::errno_success);
    BOOST_TEST(g.ctx.host_fds_open() == 1u);
    BOOST_TEST(g.call(wasi_function::fd_read, {fd, 0, 1, 300}) == wabi::errno_badf);
}

BOOST_AUTO_TEST_CASE(paths_cannot_leave_the_mapped_directory) {
    temp_tree tree;
    wasi_config config;
    config.mapped_dirs = {{"/data", (tree.root / "data").string()}};
    guest g(std::move(config));
    const auto open = [&](std::string_view path) {
        g.put(100, path);
        return g.call(wasi_function::path_open, {3, 0, 100, path.size(), 0, 0, 0, 0, 200});
    };
    BOOST_TEST(open("../secret.txt") == wabi::errno_notcapable);
    BOOST_TEST(open("sub/../../secret.txt") == wabi::errno_notcapable);
    BOOST_TEST(open("/etc/passwd") == wabi::errno_notcapable);
    BOOST_TEST(open("link.txt") == wabi::errno_loop); // symlinks are never followed
    BOOST_TEST(open("missing.txt") == wabi::errno_noent);
    BOOST_TEST(g.ctx.host_fds_open() == 1u);
}

BOOST_AUTO_TEST_CASE(a_mapped_directory_can_be_listed_and_stat_ed) {
    temp_tree tree;
    wasi_config config;
    config.mapped_dirs = {{"/data", (tree.root / "data").string()}};
    guest g(std::move(config));
    BOOST_TEST(g.call(wasi_function::fd_readdir, {3, 1000, 4096, 0, 100}) == wabi::errno_success);
    const auto used = g.load<std::uint32_t>(100);
    std::vector<std::string> names;
    for (std::uint32_t at = 1000; at < 1000 + used;) {
        const auto len = g.load<std::uint32_t>(at + 16);
        names.push_back(g.get(at + wabi::dirent_size, len));
        at += wabi::dirent_size + len;
    }
    std::sort(names.begin(), names.end());
    const std::vector<std::string> expected = {".", "..", "hello.txt", "link.txt", "sub"};
    BOOST_TEST(names == expected, boost::test_tools::per_element());

    const std::string path = "sub/deep.txt";
    g.put(100, path);
    BOOST_TEST(g.call(wasi_function::path_filestat_get, {3, 0, 100, path.size(), 500}) ==
               wabi::errno_success);
    BOOST_TEST(g.load<std::uint8_t>(516) == wabi::filetype_regular_file);
    BOOST_TEST(g.load<std::uint64_t>(532) == 5u);
}

BOOST_AUTO_TEST_CASE(every_call_is_charged_for_the_bytes_it_touches) {
    guest g;
    BOOST_TEST(g.call(wasi_function::sched_yield, {}) == wabi::errno_success);
    BOOST_TEST(g.last.cost == spear::core::limits::wasm_host_call_cost);
    BOOST_TEST(g.call(wasi_function::random_get, {0, 32768}) == wabi::errno_success);
    BOOST_TEST(g.last.cost == spear::core::limits::wasm_host_call_cost +
                                  32768 / spear::core::limits::wasm_host_bytes_per_instruction);
    g.put(1000, "x");
    g.iovecs(0, {{1000, 1}});
    BOOST_TEST(g.call(wasi_function::fd_write, {1, 0, 1, 100}) == wabi::errno_success);
    const auto small = g.last.cost;
    g.iovecs(0, {{1000, 40000}});
    BOOST_TEST(g.call(wasi_function::fd_write, {1, 0, 1, 100}) == wabi::errno_success);
    BOOST_TEST(g.last.cost >= small + 39999 / spear::core::limits::wasm_host_bytes_per_instruction);
}

BOOST_AUTO_TEST_CASE(fd_write_of_huge_iovecs_passes_at_most_the_cap_and_says_so) {
    // 64 iovecs each covering the whole (1 MiB) memory: 64 MiB in one call if gathered.
    guest g;
    g.mem.resize(1u << 20);
    std::vector<std::pair<std::uint32_t, std::uint32_t>> iovs(64, {0u, 1u << 20});
    g.iovecs(0, iovs);
    BOOST_TEST(g.call(wasi_function::fd_write, {1, 0, 64, 2000}) == wabi::errno_success);
    BOOST_TEST(g.load<std::uint32_t>(2000) == wasi_context::max_call_bytes); // a short write
    BOOST_REQUIRE(g.host.out.size() == 1u);
    BOOST_TEST(g.host.out[0].size() == wasi_context::max_call_bytes);
    BOOST_TEST(g.last.cost < 2 * wasi_context::max_call_bytes /
                                 spear::core::limits::wasm_host_bytes_per_instruction);
    // stdin reads are capped the same way.
    wasi_config config;
    config.stdin_data = std::string(3 * wasi_context::max_call_bytes, 'i');
    guest in(std::move(config));
    in.mem.resize(1u << 20);
    in.iovecs(0, {{4096, 1u << 19}});
    BOOST_TEST(in.call(wasi_function::fd_read, {0, 0, 1, 100}) == wabi::errno_success);
    BOOST_TEST(in.load<std::uint32_t>(100) == wasi_context::max_call_bytes);
}

BOOST_AUTO_TEST_CASE(random_get_beyond_the_cap_is_refused) {
    guest g;
    g.mem.resize(1u << 20);
    BOOST_TEST(g.call(wasi_function::random_get, {0, wasi_context::max_call_bytes + 1}) ==
               wabi::errno_inval);
    BOOST_TEST(g.call(wasi_function::random_get, {0, wasi_context::max_call_bytes}) ==
               wabi::errno_success);
}

BOOST_AUTO_TEST_CASE(a_fifo_in_a_mapped_directory_is_eacces_without_blocking) {
    temp_tree tree;
    BOOST_REQUIRE(::mkfifo((tree.root / "data" / "pipe").c_str(), 0644) == 0);
    wasi_config config;
    config.mapped_dirs = {{"/data", (tree.root / "data").string()}};
    guest g(std::move(config));
    const std::string path = "pipe";
    g.put(100, path);
    const auto start = std::chrono::steady_clock::now();
    // Without O_NONBLOCK this open waits for a writer that never comes.
    BOOST_TEST(g.call(wasi_function::path_open, {3, 0, 100, path.size(), 0, wabi::right_fd_read, 0,
                                                 0, 200}) == wabi::errno_acces);
    BOOST_TEST((std::chrono::steady_clock::now() - start < std::chrono::seconds(1)));
    BOOST_TEST(g.ctx.host_fds_open() == 1u);
    // Stat-ing it opens nothing for reading: allowed, and it says what it is.
    BOOST_TEST(g.call(wasi_function::path_filestat_get, {3, 0, 100, path.size(), 500}) ==
               wabi::errno_success);
    BOOST_TEST(g.load<std::uint8_t>(516) == wabi::filetype_unknown);
}

BOOST_AUTO_TEST_CASE(a_symlink_anywhere_in_a_path_is_eloop) {
    temp_tree tree;
    fs::create_directory_symlink(tree.root / "data" / "sub", tree.root / "data" / "sublink");
    wasi_config config;
    config.mapped_dirs = {{"/data", (tree.root / "data").string()}};
    guest g(std::move(config));
    const auto open = [&](std::string_view path, std::uint64_t oflags = 0) {
        g.put(100, path);
        return g.call(wasi_function::path_open, {3, 0, 100, path.size(), oflags, 0, 0, 0, 200});
    };
    BOOST_TEST(open("link.txt") == wabi::errno_loop);
    BOOST_TEST(open("sublink/deep.txt") == wabi::errno_loop); // in the middle, too
    BOOST_TEST(open("sublink", wabi::oflag_directory) == wabi::errno_loop);
    BOOST_TEST(open("sub/deep.txt") == wabi::errno_success);
    const auto stat = [&](std::string_view path, std::uint64_t flags) {
        g.put(100, path);
        return g.call(wasi_function::path_filestat_get, {3, flags, 100, path.size(), 500});
    };
    // lstat reports the link itself; stat would follow it, which never happens.
    BOOST_TEST(stat("link.txt", 0) == wabi::errno_success);
    BOOST_TEST(g.load<std::uint8_t>(516) == wabi::filetype_symbolic_link);
    BOOST_TEST(stat("link.txt", wabi::lookupflag_symlink_follow) == wabi::errno_loop);
    BOOST_TEST(stat("sublink/deep.txt", 0) == wabi::errno_loop);
}

namespace {

/// Reads a whole directory the way wasi-libc does: a small buffer, each call resuming at the
/// cookie of the last entry it got whole, the buffer doubled when not even one entry fits.
/// `between` runs after every call.
std::vector<std::string>
list_dir(guest& g, std::uint32_t fd, std::uint32_t buf_len, std::uint64_t& total_cost,
         const std::function<void(const std::vector<std::string>&)>& between = {}) {
    std::vector<std::string> names;
    std::uint64_t cookie = 0;
    for (;;) {
        BOOST_REQUIRE(g.call(wasi_function::fd_readdir, {fd, 1000, buf_len, cookie, 100}) ==
                      wabi::errno_success);
        total_cost += g.last.cost;
        const auto used = g.load<std::uint32_t>(100);
        const auto before = names.size();
        std::uint32_t at = 1000;
        while (at + wabi::dirent_size <= 1000 + used) {
            const auto len = g.load<std::uint32_t>(at + 16);
            if (at + wabi::dirent_size + len > 1000 + used)
                break; // cut short: asked for again next time
            names.push_back(g.get(at + wabi::dirent_size, len));
            cookie = g.load<std::uint64_t>(at);
            at += wabi::dirent_size + len;
        }
        if (between)
            between(names);
        if (used < buf_len)
            return names;
        if (names.size() == before)
            buf_len *= 2;
    }
}

} // namespace

BOOST_AUTO_TEST_CASE(readdir_keeps_a_cursor_instead_of_rescanning) {
    temp_tree tree;
    constexpr int files = 400;
    for (int i = 0; i < files; ++i)
        std::ofstream(tree.root / "data" / ("file-with-a-longish-name-" + std::to_string(i)));
    wasi_config config;
    config.mapped_dirs = {{"/data", (tree.root / "data").string()}};
    guest g(std::move(config));
    std::uint64_t cost = 0;
    // Entries go once the guest has seen them: a listing that rescans from the start and
    // skips `cookie` entries would now skip entries it never returned.
    const auto names = list_dir(g, 3, 200, cost, [&](const std::vector<std::string>& seen) {
        for (const auto& name : seen)
            if (name.starts_with("file-"))
                fs::remove(tree.root / "data" / name);
    });
    const std::set<std::string> unique(names.begin(), names.end());
    BOOST_TEST(unique.size() == names.size()); // each entry once
    BOOST_TEST(names.size() == files + 5u);    // ., .., hello.txt, link.txt, sub
    // Linear work: each entry read from the host once (a rescan is quadratic: ~70 times this).
    BOOST_TEST(cost < 100'000u);

    // rewinddir (cookie 0) starts over: the removed files are gone.
    std::uint64_t again = 0;
    auto rest = list_dir(g, 3, 200, again);
    std::sort(rest.begin(), rest.end());
    const std::vector<std::string> expected = {".", "..", "hello.txt", "link.txt", "sub"};
    BOOST_TEST(rest == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(an_entry_cut_short_by_the_buffer_comes_again) {
    temp_tree tree;
    wasi_config config;
    config.mapped_dirs = {{"/data", (tree.root / "data").string()}};
    guest g(std::move(config));
    std::uint64_t cost = 0;
    // 30 bytes hold a header and part of a name: "hello.txt" and "link.txt" are cut, and
    // come again whole in the doubled buffer.
    auto names = list_dir(g, 3, 30, cost);
    std::sort(names.begin(), names.end());
    const std::vector<std::string> expected = {".", "..", "hello.txt", "link.txt", "sub"};
    BOOST_TEST(names == expected, boost::test_tools::per_element());
    BOOST_TEST(g.call(wasi_function::fd_readdir,
                      {3, 1000, wasi_context::max_call_bytes + 1, 0, 100}) == wabi::errno_inval);
}

BOOST_AUTO_TEST_CASE(an_unreadable_mapped_directory_is_an_error_naming_the_guest_path) {
    wasi_config config;
    config.mapped_dirs = {{"/cfg", "/nonexistent/spear/dir"}};
    fake_host host;
    try {
        wasi_context ctx(std::move(config), host);
        BOOST_FAIL("expected an error");
    } catch (const std::runtime_error& e) {
        BOOST_TEST(std::string(e.what()).find("/cfg") != std::string::npos);
        BOOST_TEST(std::string(e.what()).find("/nonexistent") == std::string::npos);
    }
}

BOOST_AUTO_TEST_SUITE_END()
