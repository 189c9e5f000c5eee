// The pipe protocol between the wasm runtime and spear-wasm-worker: the request the worker
// reads from its stdin (to end of file), and the frames it writes to its stdout.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace spear::runtime::wasm::aot {

/// One execution as the worker sees it.
struct worker_request {
    std::uint32_t max_memory_pages = 0;
    std::vector<std::string> calls; ///< exports called in order ("_start")
    std::vector<std::string> args;  ///< argv, argv[0] included
    std::vector<std::string> env;   ///< "KEY=VALUE"
    std::vector<std::pair<std::string, std::string>> mapped_dirs; ///< guest -> host, read-only
    std::string input;              ///< stdin
};

/// Frame kinds on the worker's stdout: [kind u8][length u32 LE][payload].
enum class frame_kind : std::uint8_t {
    out = 1,   ///< guest stdout bytes
    err = 2,   ///< guest stderr bytes
    exit = 3,  ///< the guest ended: u32 exit code, u32 pages, u32 max pages (last frame)
    trap = 4,  ///< a trap: u32 pages, u32 max pages, then the message (last frame)
    error = 5, ///< the module could not be loaded or instantiated: the message (last frame)
};

/// Largest payload of one frame (output chunks are at most 64 KiB, see wasi_context).
inline constexpr std::uint32_t max_frame_bytes = 1u << 20;

inline void put_u32(std::string& out, std::uint32_t v) {
    for (unsigned i = 0; i < 4; ++i)
        out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
inline void put_text(std::string& out, std::string_view s) {
    put_u32(out, static_cast<std::uint32_t>(s.size()));
    out.append(s);
}
inline void put_list(std::string& out, const std::vector<std::string>& list) {
    put_u32(out, static_cast<std::uint32_t>(list.size()));
    for (const auto& s : list)
        put_text(out, s);
}

/// Reads values in order; any read past the end sets `ok` false and yields zeros.
class reader {
public:
    explicit reader(std::string_view data)
        : data_(data) {}
    bool ok = true;
    std::uint32_t u32() {
        if (data_.size() < 4) {
            ok = false;
            return 0;
        }
        std::uint32_t v = 0;
        for (std::size_t i = 0; i < 4; ++i)
            v |= static_cast<std::uint32_t>(static_cast<unsigned char>(data_[i])) << (8 * i);
        data_.remove_prefix(4);
        return v;
    }
    std::string text() {
        const auto n = u32();
        if (!ok || data_.size() < n) {
            ok = false;
            return {};
        }
        std::string s(data_.substr(0, n));
        data_.remove_prefix(n);
        return s;
    }
    std::vector<std::string> list() {
        std::vector<std::string> out;
        const auto n = u32();
        for (std::uint32_t i = 0; ok && i < n; ++i)
            out.push_back(text());
        return out;
    }
    std::string_view rest() const noexcept { return data_; }

private:
    std::string_view data_;
};

inline constexpr std::string_view request_magic = "SPEAR-AOT-1\n";

inline std::string encode(const worker_request& r) {
    std::string out(request_magic);
    put_u32(out, r.max_memory_pages);
    put_list(out, r.calls);
    put_list(out, r.args);
    put_list(out, r.env);
    put_u32(out, static_cast<std::uint32_t>(r.mapped_dirs.size()));
    for (const auto& [guest, host] : r.mapped_dirs) {
        put_text(out, guest);
        put_text(out, host);
    }
    put_text(out, r.input);
    return out;
}

inline std::optional<worker_request> decode(std::string_view data) {
    if (!data.starts_with(request_magic))
        return std::nullopt;
    reader in(data.substr(request_magic.size()));
    worker_request r;
    r.max_memory_pages = in.u32();
    r.calls = in.list();
    r.args = in.list();
    r.env = in.list();
    const auto dirs = in.u32();
    for (std::uint32_t i = 0; in.ok && i < dirs; ++i) {
        auto guest = in.text();
        auto host = in.text();
        r.mapped_dirs.emplace_back(std::move(guest), std::move(host));
    }
    r.input = in.text();
    if (!in.ok || !in.rest().empty())
        return std::nullopt;
    return r;
}

} // namespace spear::runtime::wasm::aot
