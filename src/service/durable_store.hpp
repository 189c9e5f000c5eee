// Durable results (node.data_dir): the results file (header + checksummed record slots) and
// the runtime-history file, mapped shared; reads them back at start, writes a slot per state
// change, and forces them to disk per node.durability. Format: core/durable_format.
#pragma once

#include "core/config.hpp"
#include "core/durable_format.hpp"
#include "platform/mapped_file.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace spear::service {

/// What the files held at start.
struct recovered_state {
    std::vector<std::pair<std::uint32_t, core::durable::record>> records; ///< (slot, record)
    std::vector<core::durable::boot_entry> earlier_boots; ///< oldest first
    std::uint64_t first_seq = 1;                        ///< this boot's first seq
    std::size_t dropped = 0;                            ///< corrupt slots, dropped and cleared
    std::vector<core::durable::history_state> histories; ///< by function name
};

class durable_store {
public:
    /// Opens (creating when missing) `node.data_dir`/results.bin and history.bin for `cfg`,
    /// locks the dir, reads what they hold, and records this boot (`nonce`) in the header.
    /// Throws std::runtime_error with a message for the operator: another instance holds the
    /// dir, it cannot be created or written (read-only, full disk), or the results file has
    /// another format version or geometry (slots, slot size) than this config.
    durable_store(const core::config& cfg, std::uint32_t nonce);
    ~durable_store();
    durable_store(const durable_store&) = delete;
    durable_store& operator=(const durable_store&) = delete;

    /// What was read at start (moved out once by take_recovered).
    const recovered_state& recovered() const noexcept { return recovered_; }
    recovered_state take_recovered() { return std::move(recovered_); }

    /// Writes slot `slot` (every_change: and msyncs it). A record that cannot be written is
    /// logged and its slot cleared; after a disk error the store is degraded (memory only).
    void save(std::uint32_t slot, const core::durable::record& r);
    /// Marks a slot empty.
    void clear(std::uint32_t slot);
    /// The next seq (a hint in the header, so ids of dropped records still answer 410).
    void note_next_seq(std::uint64_t next_seq);
    /// Writes function `index`'s history (config order).
    void save_history(std::size_t index, const core::durable::history_state& h);

    /// `batched`: msyncs what changed, every node.sync_interval_ms, until the store dies.
    boost::asio::awaitable<void> run_flusher();
    /// Forces everything to disk now (clean shutdown), unless degraded.
    void sync_now();

    bool degraded() const noexcept { return degraded_; }
    std::size_t dropped_at_start() const noexcept { return dropped_at_start_; }
    std::uint64_t writes() const noexcept { return writes_; }
    std::uint64_t results_file_bytes() const noexcept { return results_bytes_; }
    core::durability_level level() const noexcept { return level_; }

private:
    void degrade(const std::string& what);
    void open_results(const core::config& cfg, std::uint32_t nonce);
    void open_history(const core::config& cfg);
    void sync_dirty();

    std::string dir_;
    core::durability_level level_;
    std::uint32_t interval_ms_;
    std::unique_ptr<platform::dir_lock> lock_;
    std::unique_ptr<platform::mapped_file> results_;
    std::unique_ptr<platform::mapped_file> history_;
    std::size_t slot_bytes_ = 0;
    std::uint32_t slot_count_ = 0; ///< record slots; the journal slot is the one after them
    std::size_t history_slot_bytes_ = 0;
    std::uint64_t results_bytes_ = 0;
    std::uint64_t generation_ = 0;
    recovered_state recovered_;
    std::size_t dropped_at_start_ = 0;
    std::uint64_t writes_ = 0;
    bool degraded_ = false;
    /// Byte range of the results file written since the last msync (batched).
    std::uint64_t dirty_begin_ = UINT64_MAX;
    std::uint64_t dirty_end_ = 0;
    bool history_dirty_ = false;
    bool journal_dirty_ = false;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true); ///< the flusher's stop flag
};

} // namespace spear::service
