// The on-disk format of durable results (docs/architecture.md "Durable results"), sans-io: a
// file header, fixed-size checksummed slots, and the one encoder/decoder pair of a record.
// Works on byte spans only; platform/mapped_file maps the file these spans point into.
#pragma once

#include "core/error_code.hpp"
#include "core/execution_types.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace spear::core::durable {

/// "SPRS" (results) and "SPRH" (runtime history), little-endian in the first 4 bytes.
inline constexpr std::uint32_t results_magic = 0x53525053;
inline constexpr std::uint32_t history_magic = 0x48525053;
/// Bumped whenever the layout of the header, a slot or a record changes.
inline constexpr std::uint32_t format_version = 2; ///< 2: records carry client and priority
/// The header takes one page so slots start page-aligned (msync works on pages).
inline constexpr std::size_t header_bytes = 4096;
/// Earlier boots remembered (nonce and first seq) so their ids answer 410, not 404.
inline constexpr std::size_t max_boots = 32;
/// Per-slot prefix: crc32 (4), payload length (4), generation (8).
inline constexpr std::size_t slot_prefix_bytes = 16;
/// Content types longer than this are cut when persisted (config values, rarely > 100).
inline constexpr std::size_t content_type_bytes_max = 256;

/// CRC-32 (IEEE 802.3, reflected, as zlib's crc32) of `bytes`, continuing from `crc`.
std::uint32_t crc32(std::span<const char> bytes, std::uint32_t crc = 0) noexcept;

/// One boot of the appliance: ids it issued carry `nonce` and seqs from `first_seq` up to
/// the next boot's first_seq (seqs continue across boots when results are durable).
struct boot_entry {
    std::uint32_t nonce = 0;
    std::uint64_t first_seq = 1;
    friend bool operator==(const boot_entry&, const boot_entry&) = default;
};

/// The file header: what the file is, its geometry, and the boots that wrote it.
struct file_header {
    std::uint32_t magic = results_magic;
    std::uint32_t version = format_version;
    std::uint32_t slot_count = 0;
    std::uint32_t slot_bytes = 0;
    std::uint64_t boot_counter = 0; ///< starts of an appliance on this file
    std::vector<boot_entry> boots;  ///< oldest first, at most max_boots
};

/// Writes `h` (with its checksum) into the first header_bytes of `file`. The seq hint
/// (write_seq_hint) is outside the checksum and left alone.
void encode_header(const file_header& h, std::span<char> file);
/// Reads and checks the header: nullopt-free; the string is a clear reason when it is not a
/// readable header of this version (bad magic, bad checksum, other version).
std::variant<file_header, std::string> decode_header(std::span<const char> file,
                                                     std::uint32_t expected_magic);
/// The seq the next record will take, stored on each insert (one 8-byte store, outside the
/// header checksum: a hint, combined at recovery with the largest seq found in the slots).
void write_seq_hint(std::span<char> file, std::uint64_t next_seq) noexcept;
std::uint64_t read_seq_hint(std::span<const char> file) noexcept;

/// Geometry of the results file for a config: slot bytes holds the largest record (fixed
/// fields, names, error message, input, output and stderr tail at their caps), rounded up to
/// 64 bytes; the file is header + (slots + 1 journal slot) x slot bytes.
std::size_t results_slot_bytes(std::size_t max_output_bytes, std::size_t stderr_tail_bytes,
                               std::size_t max_input_bytes) noexcept;
std::uint64_t file_bytes(std::size_t slot_count, std::size_t slot_bytes) noexcept;
/// The span of slot `index` within `file`.
std::span<char> slot_span(std::span<char> file, std::size_t slot_bytes, std::size_t index);
std::span<const char> slot_span(std::span<const char> file, std::size_t slot_bytes,
                                std::size_t index);

/// One execution record as persisted. Times are wall clock (ms since the Unix epoch): steady
/// times mean nothing in another process.
struct record {
    std::uint32_t boot = 0;
    std::uint64_t seq = 0;
    ExecutionStatus status = ExecutionStatus::pending;
    ExecutionMode mode = ExecutionMode::sync;
    bool ran = false;
    std::string function_name;
    std::string client_execution_id;
    std::uint64_t request_hash = 0;
    std::string content_type;
    error_code error = error_code::none;
    std::string error_message;
    std::optional<std::int32_t> exit_code;
    std::optional<std::int32_t> signal;
    std::int64_t queued_wall_ms = 0;
    std::int64_t started_wall_ms = 0;
    std::int64_t completed_wall_ms = 0;
    std::int64_t queue_ms = 0;
    std::int64_t execution_time_ms = 0;
    std::int64_t estimate_ms = 0; ///< the estimate the submission was accepted with
    std::uint64_t output_size = 0; ///< true size; `output` holds at most the cap
    std::string output;
    std::string stderr_tail;
    /// What re-running needs (kept while pending or running, empty once terminal).
    std::string input;
    std::optional<std::uint32_t> timeout_ms;
    std::vector<std::pair<std::string, std::string>> environment;
    std::string client;        ///< the submitting client's name (http.tokens), "" or "admin"
    std::int32_t priority = 0; ///< the priority it was scheduled with (0-9)

    friend bool operator==(const record&, const record&) = default;
};

/// Bytes a record's payload takes when encoded.
std::size_t encoded_size(const record& r) noexcept;

/// The slot states decode_slot tells apart.
enum class slot_state : std::uint8_t {
    empty,   ///< never written or cleared
    valid,   ///< checksum and payload are good
    corrupt, ///< torn or damaged: bad checksum, length or payload
};

/// Serialises `r` into `slot`, checksum last (a torn write leaves a bad checksum). False (slot
/// untouched) when the record does not fit.
bool encode_slot(const record& r, std::uint64_t generation, std::span<char> slot);
/// Marks the slot empty (its prefix zeroed).
void clear_slot(std::span<char> slot) noexcept;
/// Reads a slot; `out` and `generation` are set only when valid.
slot_state decode_slot(std::span<const char> slot, record& out, std::uint64_t* generation = nullptr);

/// The journal slot (the file's last slot): each record write goes there first, sealed, then
/// into its own slot. A write torn by a crash is then either the journal's (the record's own
/// slot still holds its previous version) or the slot's (the journal holds the new one, and
/// recovery copies it over when its generation is newer). `target` is the record's slot.
bool encode_journal_slot(const record& r, std::uint32_t target, std::uint64_t generation,
                         std::span<char> slot);
slot_state decode_journal_slot(std::span<const char> slot, record& out, std::uint32_t& target,
                               std::uint64_t& generation);

/// One function's runtime history as persisted (runtime_history::export_state).
struct history_state {
    std::string function_name;
    std::uint64_t runs = 0;
    std::vector<std::int64_t> durations; ///< oldest first
    std::vector<std::int64_t> waits;     ///< oldest first
    friend bool operator==(const history_state&, const history_state&) = default;
};
/// Slot bytes for one function's history with `window` samples.
std::size_t history_slot_bytes(std::size_t window) noexcept;
bool encode_history_slot(const history_state& h, std::span<char> slot);
slot_state decode_history_slot(std::span<const char> slot, history_state& out);

} // namespace spear::core::durable
