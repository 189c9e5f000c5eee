// libFuzzer target: the WASI preview1 layer as a hostile guest drives it. The input is the
// guest's linear memory (first 4 KiB) followed by host calls: a function, then its parameters
// (pointers, lengths, iovec counts, flags), mostly small enough to land in or near memory.
// Checked: no host access outside the memory (ASan), errnos in preview1's range, output and
// open files within their limits, and nothing outside the mapped directory ever readable:
// a file and a file name outside it carry markers that must never reach guest memory.
#include "fuzz_support.hpp"
#include "runtime/wasm/wasi_context.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

namespace {

namespace fs = std::filesystem;
namespace wasm = spear::runtime::wasm;
using spear::fuzz::check;

constexpr std::string_view secret_content = "SECRET-CONTENT-9d41c7e2b8";
constexpr std::string_view secret_name = "outside-name-5b7f3a";
constexpr std::size_t memory_bytes = 4096;
constexpr std::size_t max_calls = 64;
constexpr int function_count = static_cast<int>(wasm::wasi_function::unsupported_rofs) + 1;

/// A mapped directory with a file, a subdirectory and a symlink pointing out of it, beside a
/// secret file and a secret name outside. Made once, removed at exit.
struct sandbox_tree {
    fs::path root;
    sandbox_tree() {
        char templ[] = "/tmp/spear-fuzz-wasi-XXXXXX";
        check(::mkdtemp(templ) != nullptr);
        root = templ;
        fs::create_directories(root / "mapped" / "sub");
        std::ofstream(root / "mapped" / "a.txt") << "inside a\n";
        std::ofstream(root / "mapped" / "sub" / "b.txt") << "inside b\n";
        std::ofstream(root / "secret.txt") << secret_content;
        std::ofstream(root / secret_name) << secret_content;
        fs::create_symlink("../secret.txt", root / "mapped" / "link");
        fs::create_symlink(root / "secret.txt", root / "mapped" / "abs-link");
    }
    ~sandbox_tree() {
        std::error_code ec;
        fs::remove_all(root, ec);
    }
};

const sandbox_tree& tree() {
    static sandbox_tree t;
    return t;
}

class fuzz_host final : public wasm::wasi_host {
public:
    void write_stdout(std::string_view bytes) override { written += bytes.size(); }
    void write_stderr(std::string_view bytes) override { written += bytes.size(); }
    std::uint64_t realtime_ns() override { return 1'700'000'000'000'000'000ull; }
    std::uint64_t monotonic_ns() override { return ++ticks * 1000; }
    void random_bytes(std::span<std::uint8_t> out) override {
        std::fill(out.begin(), out.end(), std::uint8_t{0x5a});
    }
    std::size_t written = 0;
    std::uint64_t ticks = 0;
};

/// Reads the input as a stream of small decisions.
class reader {
public:
    reader(const std::uint8_t* data, std::size_t size)
        : data_(data)
        , size_(size) {}
    bool empty() const { return pos_ >= size_; }
    std::uint8_t byte() { return pos_ < size_ ? data_[pos_++] : 0; }
    /// A parameter: usually an offset in or just past memory, sometimes an extreme value.
    std::uint64_t param() {
        const std::uint16_t v = static_cast<std::uint16_t>(byte() | (byte() << 8));
        switch (v >> 12) {
        case 0xf: {
            static constexpr std::array<std::uint64_t, 8> extremes = {
                0xffffffffu, 0x80000000u, memory_bytes - 1, memory_bytes, memory_bytes - 4,
                0x7fffffffffffffffull, 0xffffffffffffffffull, 1u << 20};
            return extremes[v & 7];
        }
        case 0xe:
            return v & 0xff; // small counts, fds and flags
        case 0xd:
            return 1ull << (v & 63); // one flag or rights bit
        default:
            return v % (memory_bytes + 64);
        }
    }

private:
    const std::uint8_t* data_;
    std::size_t size_;
    std::size_t pos_ = 0;
};

bool memory_shows_secret(const std::vector<std::uint8_t>& memory) {
    for (const auto marker : {secret_content, secret_name})
        if (std::search(memory.begin(), memory.end(), marker.begin(), marker.end()) !=
            memory.end())
            return true;
    return false;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto& sandbox = tree();
    std::vector<std::uint8_t> memory(memory_bytes, 0);
    const std::size_t initial = std::min(size, memory_bytes);
    std::memcpy(memory.data(), data, initial);
    // A guest could write the markers itself; such inputs say nothing about the host.
    if (memory_shows_secret(memory))
        return 0;

    wasm::wasi_config config;
    config.args = {"guest", "--flag"};
    config.env = {"A=1", "LONGER_NAME=some value"};
    config.stdin_data = "standard input bytes\n";
    config.mapped_dirs.emplace_back("/data", (sandbox.root / "mapped").string());
    fuzz_host host;
    wasm::wasi_context wasi(config, host);

    reader in(data + initial, size - initial);
    for (std::size_t call = 0; call < max_calls && !in.empty(); ++call) {
        const auto fn = static_cast<wasm::wasi_function>(in.byte() % function_count);
        std::uint64_t params[9];
        for (auto& p : params)
            p = in.param();
        std::uint64_t results[2] = {0, 0};
        const auto r = wasi.call(fn, params, results, wasm::memory_view{memory.data(), memory.size()});
        if (r.action == wasm::host_action::trap)
            break; // proc_exit (or a trap) ends the guest
        if (fn != wasm::wasi_function::sched_yield)
            check(results[0] < 80); // preview1 errnos are 0..76
        (void)wasi.take_wait();
        check(host.written <= (call + 1) * wasm::wasi_context::max_call_bytes);
        check(wasi.host_fds_open() <= 1 + wasm::wasi_context::max_open_files);
        check(!memory_shows_secret(memory));
    }
    return 0;
}
