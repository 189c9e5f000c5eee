// The on-disk format of durable results: header, checksummed slots, record and history codecs.
#include "core/durable_format.hpp"

#include "core/limits.hpp"

#include <algorithm>
#include <array>
#include <cstring>

namespace spear::core::durable {
namespace {

// --- CRC-32 -------------------------------------------------------------------------------

constexpr std::array<std::uint32_t, 256> make_crc_table() {
    std::array<std::uint32_t, 256> table{};
    for (std::uint32_t i = 0; i < 256; ++i) {
        std::uint32_t c = i;
        for (int k = 0; k < 8; ++k)
            c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        table[i] = c;
    }
    return table;
}
constexpr auto crc_table = make_crc_table();

// --- little-endian writer and bounded reader ----------------------------------------------

/// The one little-endian encoding of every integer in the files.
template <class T>
void put_le(char* p, T v) {
    for (std::size_t i = 0; i < sizeof(T); ++i)
        p[i] = static_cast<char>(v >> (8 * i));
}
template <class T>
T get_le(const char* p) {
    T v = 0;
    for (std::size_t i = 0; i < sizeof(T); ++i)
        v |= static_cast<T>(T{static_cast<unsigned char>(p[i])} << (8 * i));
    return v;
}

class writer {
public:
    explicit writer(std::span<char> out) : out_(out) {}
    void u8(std::uint8_t v) { bytes(&v, 1); }
    void u32(std::uint32_t v) { le(v); }
    void u64(std::uint64_t v) { le(v); }
    void i64(std::int64_t v) { u64(static_cast<std::uint64_t>(v)); }
    void str(std::string_view s) {
        u32(static_cast<std::uint32_t>(s.size()));
        bytes(s.data(), s.size());
    }
    void opt_i32(const std::optional<std::int32_t>& v) {
        u8(v ? 1 : 0);
        u32(static_cast<std::uint32_t>(v.value_or(0)));
    }
    std::size_t size() const noexcept { return at_; }

private:
    template <class T>
    void le(T v) {
        char b[sizeof(T)];
        put_le(b, v);
        bytes(b, sizeof b);
    }
    void bytes(const void* p, std::size_t n) {
        if (n > 0)
            std::memcpy(out_.data() + at_, p, n);
        at_ += n;
    }
    std::span<char> out_;
    std::size_t at_ = 0;
};

/// Every read checks the remaining length; a failed read sets ok() false and returns zeros.
class reader {
public:
    explicit reader(std::span<const char> in) : in_(in) {}
    std::uint8_t u8() {
        unsigned char b = 0;
        bytes(&b, 1);
        return b;
    }
    std::uint32_t u32() { return le<std::uint32_t>(); }
    std::uint64_t u64() { return le<std::uint64_t>(); }
    std::int64_t i64() { return static_cast<std::int64_t>(u64()); }
    std::string str() {
        const auto n = u32();
        if (!ok_ || n > in_.size() - at_) {
            ok_ = false;
            return {};
        }
        std::string s(in_.data() + at_, n);
        at_ += n;
        return s;
    }
    std::optional<std::int32_t> opt_i32() {
        const bool has = u8() != 0;
        const auto v = static_cast<std::int32_t>(u32());
        return has ? std::optional<std::int32_t>(v) : std::nullopt;
    }
    bool ok() const noexcept { return ok_; }
    bool at_end() const noexcept { return at_ == in_.size(); }

private:
    template <class T>
    T le() {
        char b[sizeof(T)] = {};
        bytes(b, sizeof b);
        return get_le<T>(b);
    }
    void bytes(void* p, std::size_t n) {
        if (!ok_ || n > in_.size() - at_) {
            ok_ = false;
            return;
        }
        std::memcpy(p, in_.data() + at_, n);
        at_ += n;
    }
    std::span<const char> in_;
    std::size_t at_ = 0;
    bool ok_ = true;
};

// --- the one record codec -----------------------------------------------------------------
// Add a field: one line in each of encode_record and decode_record (same place), and bump
// format_version (an older file is then refused at start with a clear message).

template <class Writer>
void encode_record(const record& r, Writer& w) {
    w.u32(r.boot);
    w.u64(r.seq);
    w.u8(static_cast<std::uint8_t>(r.status));
    w.u8(static_cast<std::uint8_t>(r.mode));
    w.u8(r.ran ? 1 : 0);
    w.str(r.function_name);
    w.str(r.client_execution_id);
    w.u64(r.request_hash);
    w.str(std::string_view(r.content_type).substr(0, content_type_bytes_max));
    w.u8(static_cast<std::uint8_t>(r.error));
    w.str(r.error_message);
    w.opt_i32(r.exit_code);
    w.opt_i32(r.signal);
    w.i64(r.queued_wall_ms);
    w.i64(r.started_wall_ms);
    w.i64(r.completed_wall_ms);
    w.i64(r.queue_ms);
    w.i64(r.execution_time_ms);
    w.i64(r.estimate_ms);
    w.u64(r.output_size);
    w.str(r.output);
    w.str(r.stderr_tail);
    w.str(r.input);
    w.opt_i32(r.timeout_ms ? std::optional<std::int32_t>(static_cast<std::int32_t>(*r.timeout_ms))
                           : std::nullopt);
    w.u32(static_cast<std::uint32_t>(r.environment.size()));
    for (const auto& [key, value] : r.environment) {
        w.str(key);
        w.str(value);
    }
    w.str(std::string_view(r.client).substr(0, limits::function_name_bytes));
    w.u32(static_cast<std::uint32_t>(r.priority));
}

bool decode_record(reader& in, record& r) {
    r.boot = in.u32();
    r.seq = in.u64();
    const auto status = in.u8();
    const auto mode = in.u8();
    r.ran = in.u8() != 0;
    r.function_name = in.str();
    r.client_execution_id = in.str();
    r.request_hash = in.u64();
    r.content_type = in.str();
    const auto code = in.u8();
    r.error_message = in.str();
    r.exit_code = in.opt_i32();
    r.signal = in.opt_i32();
    r.queued_wall_ms = in.i64();
    r.started_wall_ms = in.i64();
    r.completed_wall_ms = in.i64();
    r.queue_ms = in.i64();
    r.execution_time_ms = in.i64();
    r.estimate_ms = in.i64();
    r.output_size = in.u64();
    r.output = in.str();
    r.stderr_tail = in.str();
    r.input = in.str();
    const auto timeout = in.opt_i32();
    r.timeout_ms = timeout ? std::optional<std::uint32_t>(static_cast<std::uint32_t>(*timeout))
                           : std::nullopt;
    const auto env_count = in.u32();
    r.environment.clear();
    for (std::uint32_t i = 0; i < env_count && in.ok(); ++i) {
        auto key = in.str();
        auto value = in.str();
        r.environment.emplace_back(std::move(key), std::move(value));
    }
    r.client = in.str();
    const auto priority = in.u32();
    if (!in.ok() || !in.at_end() || r.seq == 0 ||
        priority > static_cast<std::uint32_t>(limits::priority_max) || status < 1 || status > status_count ||
        mode < 1 || mode > 3 || code > static_cast<std::uint8_t>(error_code::node_lost))
        return false;
    r.status = static_cast<ExecutionStatus>(status);
    r.mode = static_cast<ExecutionMode>(mode);
    r.error = static_cast<error_code>(code);
    r.priority = static_cast<std::int32_t>(priority);
    return true;
}

/// Counts bytes instead of writing them (encoded_size).
class size_counter {
public:
    void u8(std::uint8_t) { n_ += 1; }
    void u32(std::uint32_t) { n_ += 4; }
    void u64(std::uint64_t) { n_ += 8; }
    void i64(std::int64_t) { n_ += 8; }
    void str(std::string_view s) { n_ += 4 + s.size(); }
    void opt_i32(const std::optional<std::int32_t>&) { n_ += 5; }
    std::size_t size() const noexcept { return n_; }

private:
    std::size_t n_ = 0;
};

// --- slot framing -------------------------------------------------------------------------

void put_u32(char* p, std::uint32_t v) { put_le(p, v); }
void put_u64(char* p, std::uint64_t v) { put_le(p, v); }
std::uint32_t get_u32(const char* p) { return get_le<std::uint32_t>(p); }
std::uint64_t get_u64(const char* p) { return get_le<std::uint64_t>(p); }

/// Writes the payload (already encoded at slot + prefix, `len` bytes), then length and
/// generation, then the checksum over all of it: the checksum is the last store.
void seal_slot(std::span<char> slot, std::size_t len, std::uint64_t generation) {
    put_u32(slot.data() + 4, static_cast<std::uint32_t>(len));
    put_u64(slot.data() + 8, generation);
    const auto crc = crc32(slot.subspan(4, slot_prefix_bytes - 4 + len));
    put_u32(slot.data(), crc);
}

/// The payload of a sealed slot, or nullopt (empty) / an empty optional payload with
/// `corrupt` set.
slot_state open_slot(std::span<const char> slot, std::span<const char>& payload,
                     std::uint64_t* generation) {
    if (slot.size() < slot_prefix_bytes)
        return slot_state::corrupt;
    const auto crc = get_u32(slot.data());
    const auto len = get_u32(slot.data() + 4);
    const auto gen = get_u64(slot.data() + 8);
    if (crc == 0 && len == 0 && gen == 0)
        return slot_state::empty;
    if (len > slot.size() - slot_prefix_bytes)
        return slot_state::corrupt;
    if (crc32(slot.subspan(4, slot_prefix_bytes - 4 + len)) != crc)
        return slot_state::corrupt;
    payload = slot.subspan(slot_prefix_bytes, len);
    if (generation)
        *generation = gen;
    return slot_state::valid;
}

// --- header layout ------------------------------------------------------------------------
// 0 magic u32 | 4 version u32 | 8 slot_count u32 | 12 slot_bytes u32 | 16 boot_counter u64 |
// 24 boots u32 | 28 reserved u32 | 32 boots x {nonce u32, reserved u32, first_seq u64} |
// 32 + max_boots*16: crc32 of bytes [0, here) | seq hint u64 at seq_hint_offset (no checksum).
constexpr std::size_t boots_offset = 32;
constexpr std::size_t header_crc_offset = boots_offset + max_boots * 16;
constexpr std::size_t seq_hint_offset = 2048;
static_assert(header_crc_offset + 4 <= seq_hint_offset && seq_hint_offset + 8 <= header_bytes);

} // namespace

std::uint32_t crc32(std::span<const char> bytes, std::uint32_t crc) noexcept {
    crc = ~crc;
    for (const char c : bytes)
        crc = crc_table[(crc ^ static_cast<unsigned char>(c)) & 0xFF] ^ (crc >> 8);
    return ~crc;
}

void encode_header(const file_header& h, std::span<char> file) {
    char* p = file.data();
    std::memset(p, 0, header_crc_offset + 4);
    put_u32(p + 0, h.magic);
    put_u32(p + 4, h.version);
    put_u32(p + 8, h.slot_count);
    put_u32(p + 12, h.slot_bytes);
    put_u64(p + 16, h.boot_counter);
    const auto n = std::min(h.boots.size(), max_boots);
    const auto first = h.boots.size() - n; // keep the newest
    put_u32(p + 24, static_cast<std::uint32_t>(n));
    for (std::size_t i = 0; i < n; ++i) {
        put_u32(p + boots_offset + i * 16, h.boots[first + i].nonce);
        put_u64(p + boots_offset + i * 16 + 8, h.boots[first + i].first_seq);
    }
    put_u32(p + header_crc_offset, crc32(file.first(header_crc_offset)));
}

std::variant<file_header, std::string> decode_header(std::span<const char> file,
                                                     std::uint32_t expected_magic) {
    if (file.size() < header_bytes)
        return std::string("the file is shorter than its header (") + std::to_string(file.size()) +
               " bytes)";
    const char* p = file.data();
    file_header h;
    h.magic = get_u32(p);
    if (h.magic != expected_magic)
        return std::string("not a spearlet data file of this kind (bad magic number)");
    h.version = get_u32(p + 4);
    if (h.version != format_version)
        return "written in format version " + std::to_string(h.version) +
               ", this spearlet reads version " + std::to_string(format_version);
    if (get_u32(p + header_crc_offset) != crc32(file.first(header_crc_offset)))
        return std::string("its header is damaged (bad checksum)");
    h.slot_count = get_u32(p + 8);
    h.slot_bytes = get_u32(p + 12);
    h.boot_counter = get_u64(p + 16);
    const auto n = std::min<std::size_t>(get_u32(p + 24), max_boots);
    for (std::size_t i = 0; i < n; ++i)
        h.boots.push_back({get_u32(p + boots_offset + i * 16),
                           get_u64(p + boots_offset + i * 16 + 8)});
    return h;
}

void write_seq_hint(std::span<char> file, std::uint64_t next_seq) noexcept {
    put_u64(file.data() + seq_hint_offset, next_seq);
}

std::uint64_t read_seq_hint(std::span<const char> file) noexcept {
    return get_u64(file.data() + seq_hint_offset);
}

std::size_t results_slot_bytes(std::size_t max_output_bytes, std::size_t stderr_tail_bytes,
                               std::size_t max_input_bytes) noexcept {
    // Fixed fields, the length prefixes of every string, and the bounded strings: function
    // name, client id, content type, error message. Environment entries count against the
    // input cap (the service persists input + environment only when they fit it), each with
    // two 4-byte length prefixes: request_env_entries of them at most.
    constexpr std::size_t fixed = 256; // and the journal slot's 4-byte target
    // The client's name is bounded like a function name (the same rule names both).
    const std::size_t bounded = 2 * limits::function_name_bytes + limits::client_execution_id_bytes +
                                content_type_bytes_max + limits::error_message_bytes;
    const std::size_t env_prefixes = limits::request_env_entries * 8;
    const std::size_t total = slot_prefix_bytes + fixed + bounded + env_prefixes +
                              max_output_bytes + stderr_tail_bytes + max_input_bytes;
    return (total + 63) / 64 * 64;
}

std::uint64_t file_bytes(std::size_t slot_count, std::size_t slot_bytes) noexcept {
    return header_bytes + std::uint64_t{slot_count} * slot_bytes;
}

bool encode_journal_slot(const record& r, std::uint32_t target, std::uint64_t generation,
                         std::span<char> slot) {
    const auto len = 4 + encoded_size(r);
    if (slot.size() < slot_prefix_bytes || len > slot.size() - slot_prefix_bytes)
        return false;
    writer w(slot.subspan(slot_prefix_bytes, len));
    w.u32(target);
    encode_record(r, w);
    seal_slot(slot, len, generation);
    return true;
}

slot_state decode_journal_slot(std::span<const char> slot, record& out, std::uint32_t& target,
                               std::uint64_t& generation) {
    std::span<const char> payload;
    std::uint64_t gen = 0;
    const auto state = open_slot(slot, payload, &gen);
    if (state != slot_state::valid)
        return state;
    reader in(payload);
    const auto t = in.u32();
    record r;
    if (!decode_record(in, r))
        return slot_state::corrupt;
    out = std::move(r);
    target = t;
    generation = gen;
    return slot_state::valid;
}

std::span<char> slot_span(std::span<char> file, std::size_t slot_bytes, std::size_t index) {
    return file.subspan(header_bytes + index * slot_bytes, slot_bytes);
}

std::span<const char> slot_span(std::span<const char> file, std::size_t slot_bytes,
                                std::size_t index) {
    return file.subspan(header_bytes + index * slot_bytes, slot_bytes);
}

std::size_t encoded_size(const record& r) noexcept {
    size_counter counter;
    encode_record(r, counter);
    return counter.size();
}

bool encode_slot(const record& r, std::uint64_t generation, std::span<char> slot) {
    const auto len = encoded_size(r);
    if (slot.size() < slot_prefix_bytes || len > slot.size() - slot_prefix_bytes)
        return false;
    writer w(slot.subspan(slot_prefix_bytes, len));
    encode_record(r, w);
    seal_slot(slot, len, generation);
    return true;
}

void clear_slot(std::span<char> slot) noexcept {
    std::memset(slot.data(), 0, slot_prefix_bytes);
}

slot_state decode_slot(std::span<const char> slot, record& out, std::uint64_t* generation) {
    std::span<const char> payload;
    std::uint64_t gen = 0;
    const auto state = open_slot(slot, payload, &gen);
    if (state != slot_state::valid)
        return state;
    reader in(payload);
    record r;
    if (!decode_record(in, r))
        return slot_state::corrupt;
    out = std::move(r);
    if (generation)
        *generation = gen;
    return slot_state::valid;
}

std::size_t history_slot_bytes(std::size_t window) noexcept {
    return slot_prefix_bytes + 4 + limits::function_name_bytes + 8 + 2 * (4 + window * 8);
}

bool encode_history_slot(const history_state& h, std::span<char> slot) {
    const auto len = 4 + h.function_name.size() + 8 + 2 * 4 + (h.durations.size() + h.waits.size()) * 8;
    if (slot.size() < slot_prefix_bytes || len > slot.size() - slot_prefix_bytes)
        return false;
    writer w(slot.subspan(slot_prefix_bytes, len));
    w.str(h.function_name);
    w.u64(h.runs);
    w.u32(static_cast<std::uint32_t>(h.durations.size()));
    for (auto d : h.durations)
        w.i64(d);
    w.u32(static_cast<std::uint32_t>(h.waits.size()));
    for (auto d : h.waits)
        w.i64(d);
    seal_slot(slot, len, 1);
    return true;
}

slot_state decode_history_slot(std::span<const char> slot, history_state& out) {
    std::span<const char> payload;
    const auto state = open_slot(slot, payload, nullptr);
    if (state != slot_state::valid)
        return state;
    reader in(payload);
    history_state h;
    h.function_name = in.str();
    h.runs = in.u64();
    const auto nd = in.u32();
    for (std::uint32_t i = 0; i < nd && in.ok(); ++i)
        h.durations.push_back(in.i64());
    const auto nw = in.u32();
    for (std::uint32_t i = 0; i < nw && in.ok(); ++i)
        h.waits.push_back(in.i64());
    if (!in.ok() || !in.at_end())
        return slot_state::corrupt;
    out = std::move(h);
    return slot_state::valid;
}

} // namespace spear::core::durable
