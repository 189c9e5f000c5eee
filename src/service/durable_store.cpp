// Durable results: open, check and read back the files at start; write slots; msync per level.
#include "service/durable_store.hpp"

#include "core/log.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <map>
#include <stdexcept>

namespace spear::service {

namespace durable = core::durable;

namespace {

/// Where to start again when a file cannot be used (the message ends with it).
std::string move_away_hint(const std::string& path) {
    return "; restore the config (or spearlet version) that wrote it, or move " + path +
           " away to start with an empty status table (its records are then lost)";
}

} // namespace

durable_store::durable_store(const core::config& cfg, std::uint32_t nonce)
    : dir_(cfg.node.data_dir)
    , level_(cfg.node.durability)
    , interval_ms_(cfg.node.sync_interval_ms) {
    platform::ensure_directory(dir_);
    lock_ = std::make_unique<platform::dir_lock>(dir_);
    open_results(cfg, nonce);
    open_history(cfg);
}

durable_store::~durable_store() {
    *alive_ = false;
}

void durable_store::open_results(const core::config& cfg, std::uint32_t nonce) {
    const auto& t = cfg.status_table;
    slot_bytes_ = durable::results_slot_bytes(t.max_output_bytes, t.stderr_tail_bytes,
                                              t.max_input_bytes);
    results_bytes_ = durable::file_bytes(t.slots + 1, slot_bytes_); // + the journal slot
    results_ = std::make_unique<platform::mapped_file>(dir_ + "/results.bin");
    const auto& path = results_->path();

    durable::file_header header;
    header.slot_count = static_cast<std::uint32_t>(t.slots);
    header.slot_bytes = static_cast<std::uint32_t>(slot_bytes_);
    slot_count_ = header.slot_count;
    recovered_.first_seq = 1;
    if (results_->size_at_open() == 0) {
        results_->create(results_bytes_, true);
    } else {
        results_->map_existing();
        auto decoded = durable::decode_header(results_->bytes(), durable::results_magic);
        if (auto* reason = std::get_if<std::string>(&decoded))
            throw std::runtime_error("results file " + path + " cannot be used: " + *reason +
                                     move_away_hint(path));
        const auto& old = std::get<durable::file_header>(decoded);
        if (old.slot_count != header.slot_count || old.slot_bytes != header.slot_bytes)
            throw std::runtime_error(
                "results file " + path + " was made for " + std::to_string(old.slot_count) +
                " slots of " + std::to_string(old.slot_bytes) + " bytes; this config needs " +
                std::to_string(header.slot_count) + " slots of " +
                std::to_string(header.slot_bytes) +
                " bytes (status_table.slots, max_output_bytes, stderr_tail_bytes, "
                "max_input_bytes)" + move_away_hint(path));
        if (results_->size_at_open() != results_bytes_)
            throw std::runtime_error("results file " + path + " is " +
                                     std::to_string(results_->size_at_open()) +
                                     " bytes, its header says " + std::to_string(results_bytes_) +
                                     " (truncated?)" + move_away_hint(path));
        header.boot_counter = old.boot_counter;
        header.boots = old.boots;
        recovered_.earlier_boots = old.boots;

        // Read every slot: valid records come back, torn or damaged ones are dropped (and
        // cleared, so they are counted once), empty ones are free.
        std::uint64_t next = durable::read_seq_hint(results_->bytes());
        if (!old.boots.empty())
            next = std::max(next, old.boots.back().first_seq);
        // The journal holds the last record written; if the crash tore its own slot's copy
        // (or came before it), the journal's is the newer one.
        durable::record journal;
        std::uint32_t journal_target = 0;
        std::uint64_t journal_gen = 0;
        const bool journal_valid =
            durable::decode_journal_slot(durable::slot_span(results_->bytes(), slot_bytes_,
                                                            header.slot_count),
                                         journal, journal_target, journal_gen) ==
                durable::slot_state::valid &&
            journal_target < header.slot_count;
        std::vector<std::uint32_t> bad;
        for (std::uint32_t i = 0; i < header.slot_count; ++i) {
            auto slot = durable::slot_span(results_->bytes(), slot_bytes_, i);
            durable::record r;
            std::uint64_t gen = 0;
            auto state = durable::decode_slot(slot, r, &gen);
            if (journal_valid && journal_target == i &&
                (state != durable::slot_state::valid || gen < journal_gen)) {
                durable::encode_slot(journal, journal_gen, slot); // finish the torn write
                state = durable::decode_slot(slot, r, &gen);
                log::info("results file " + path + ": slot " + std::to_string(i) +
                          " completed from the journal (a write was cut short)");
            }
            switch (state) {
            case durable::slot_state::empty:
                break;
            case durable::slot_state::corrupt:
                durable::clear_slot(slot);
                bad.push_back(i);
                break;
            case durable::slot_state::valid:
                next = std::max(next, r.seq + 1);
                generation_ = std::max(generation_, gen);
                recovered_.records.emplace_back(i, std::move(r));
                break;
            }
        }
        recovered_.dropped = bad.size();
        dropped_at_start_ = bad.size();
        if (!bad.empty()) {
            std::string which;
            for (std::size_t k = 0; k < std::min<std::size_t>(bad.size(), 16); ++k)
                which += (k ? ", " : "") + std::to_string(bad[k]);
            log::error("results file " + path + ": dropped " + std::to_string(bad.size()) +
                       " torn or corrupt record(s) (bad checksum) in slot(s) " + which +
                       (bad.size() > 16 ? ", ..." : ""));
        }
        recovered_.first_seq = std::max<std::uint64_t>(next, 1);
    }
    // This boot's entry, written and forced to disk before anything is served.
    ++header.boot_counter;
    header.boots.push_back({nonce, recovered_.first_seq});
    if (header.boots.size() > durable::max_boots)
        header.boots.erase(header.boots.begin());
    durable::encode_header(header, results_->bytes());
    durable::write_seq_hint(results_->bytes(), recovered_.first_seq);
    if (auto ec = results_->sync_all())
        throw std::runtime_error("cannot write results file " + path + ": " + ec.message());
    log::info("durable results in " + path + " (" + std::to_string(header.slot_count) +
              " slots, " + std::to_string(results_bytes_) + " bytes, durability " +
              std::string(core::to_string(level_)) + ", boot " +
              std::to_string(header.boot_counter) + "): " +
              std::to_string(recovered_.records.size()) + " record(s) read back");
}

void durable_store::open_history(const core::config& cfg) {
    // The history file is a cache of estimates: its layout follows the config (one slot per
    // function), so it is read whatever its geometry and written anew.
    history_ = std::make_unique<platform::mapped_file>(dir_ + "/history.bin");
    std::map<std::string, durable::history_state, std::less<>> old;
    if (history_->size_at_open() >= durable::header_bytes) {
        history_->map_existing();
        auto decoded = durable::decode_header(history_->bytes(), durable::history_magic);
        if (auto* h = std::get_if<durable::file_header>(&decoded)) {
            const auto fits = durable::file_bytes(h->slot_count, h->slot_bytes);
            for (std::uint32_t i = 0; h->slot_bytes > 0 && fits <= history_->size_at_open() &&
                                      i < h->slot_count;
                 ++i) {
                durable::history_state s;
                if (durable::decode_history_slot(
                        durable::slot_span(history_->bytes(), h->slot_bytes, i), s) ==
                    durable::slot_state::valid)
                    old.emplace(s.function_name, std::move(s));
            }
        } else {
            log::warn("history file " + history_->path() + " ignored: " +
                      std::get<std::string>(decoded));
        }
    }
    history_slot_bytes_ = durable::history_slot_bytes(cfg.history.window);
    const auto count = std::max<std::size_t>(cfg.functions.size(), 1);
    history_->create(durable::file_bytes(count, history_slot_bytes_), true);
    durable::file_header header;
    header.magic = durable::history_magic;
    header.slot_count = static_cast<std::uint32_t>(count);
    header.slot_bytes = static_cast<std::uint32_t>(history_slot_bytes_);
    durable::encode_header(header, history_->bytes());
    for (std::size_t i = 0; i < cfg.functions.size(); ++i) {
        auto it = old.find(cfg.functions[i].name);
        if (it == old.end())
            continue;
        auto& s = it->second;
        const auto keep = [&](std::vector<std::int64_t>& v) {
            if (v.size() > cfg.history.window)
                v.erase(v.begin(), v.end() - static_cast<std::ptrdiff_t>(cfg.history.window));
        };
        keep(s.durations);
        keep(s.waits);
        durable::encode_history_slot(s, durable::slot_span(history_->bytes(), history_slot_bytes_, i));
        recovered_.histories.push_back(s);
    }
    if (auto ec = history_->sync_all())
        throw std::runtime_error("cannot write history file " + history_->path() + ": " +
                                 ec.message());
}

void durable_store::degrade(const std::string& what) {
    if (degraded_)
        return;
    degraded_ = true;
    log::error("durable results degraded to memory only: " + what +
               " (records keep working in memory; /health shows durable.degraded)");
}

void durable_store::save(std::uint32_t slot, const durable::record& r) {
    if (degraded_)
        return;
    auto span = durable::slot_span(results_->bytes(), slot_bytes_, slot);
    auto journal = durable::slot_span(results_->bytes(), slot_bytes_, slot_count_);
    const auto gen = ++generation_;
    // The journal first, sealed, then the slot: a crash tears at most one of the two copies.
    if (durable::encode_journal_slot(r, slot, gen, journal) &&
        level_ == core::durability_level::every_change) {
        const auto at = static_cast<std::uint64_t>(journal.data() - results_->bytes().data());
        if (auto ec = results_->sync(at, durable::slot_prefix_bytes + 4 + durable::encoded_size(r)))
            degrade("msync of " + results_->path() + " failed: " + ec.message());
    }
    journal_dirty_ = true;
    if (!durable::encode_slot(r, gen, span)) {
        // Cannot happen for records the service accepted (inputs are capped at admission);
        // a stale copy must not come back after a restart.
        durable::clear_slot(span);
        log::error("durable results: record " + std::to_string(r.seq) + " (" +
                   std::to_string(durable::encoded_size(r)) + " bytes) does not fit a slot of " +
                   std::to_string(slot_bytes_) + " bytes; not persisted");
    }
    ++writes_;
    const auto offset = static_cast<std::uint64_t>(span.data() - results_->bytes().data());
    const auto length = durable::slot_prefix_bytes + durable::encoded_size(r);
    if (level_ == core::durability_level::every_change) {
        if (auto ec = results_->sync(offset, length))
            degrade("msync of " + results_->path() + " failed: " + ec.message());
        return;
    }
    dirty_begin_ = std::min(dirty_begin_, offset);
    dirty_end_ = std::max<std::uint64_t>(dirty_end_, offset + length);
}

void durable_store::clear(std::uint32_t slot) {
    if (degraded_)
        return;
    auto span = durable::slot_span(results_->bytes(), slot_bytes_, slot);
    durable::clear_slot(span);
    // The journal may hold this slot's last record: it must not bring it back.
    durable::clear_slot(durable::slot_span(results_->bytes(), slot_bytes_, slot_count_));
    journal_dirty_ = true;
    const auto offset = static_cast<std::uint64_t>(span.data() - results_->bytes().data());
    dirty_begin_ = std::min(dirty_begin_, offset);
    dirty_end_ = std::max<std::uint64_t>(dirty_end_, offset + durable::slot_prefix_bytes);
}

void durable_store::note_next_seq(std::uint64_t next_seq) {
    if (degraded_)
        return;
    durable::write_seq_hint(results_->bytes(), next_seq);
    dirty_begin_ = 0;
    dirty_end_ = std::max<std::uint64_t>(dirty_end_, durable::header_bytes);
}

void durable_store::save_history(std::size_t index, const durable::history_state& h) {
    if (degraded_ || history_slot_bytes_ == 0)
        return;
    durable::encode_history_slot(h, durable::slot_span(history_->bytes(), history_slot_bytes_, index));
    history_dirty_ = true;
    if (level_ == core::durability_level::every_change) {
        if (auto ec = history_->sync_all())
            degrade("msync of " + history_->path() + " failed: " + ec.message());
        history_dirty_ = false;
    }
}

void durable_store::sync_dirty() {
    if (degraded_)
        return;
    if (journal_dirty_) {
        journal_dirty_ = false;
        const auto at = durable::file_bytes(slot_count_, slot_bytes_);
        if (auto ec = results_->sync(at, slot_bytes_)) {
            degrade("msync of " + results_->path() + " failed: " + ec.message());
            return;
        }
    }
    if (dirty_end_ > dirty_begin_) {
        const auto begin = dirty_begin_;
        const auto end = dirty_end_;
        dirty_begin_ = UINT64_MAX;
        dirty_end_ = 0;
        if (auto ec = results_->sync(begin, end - begin)) {
            degrade("msync of " + results_->path() + " failed: " + ec.message());
            return;
        }
    }
    if (history_dirty_) {
        history_dirty_ = false;
        if (auto ec = history_->sync_all())
            degrade("msync of " + history_->path() + " failed: " + ec.message());
    }
}

void durable_store::sync_now() {
    if (degraded_)
        return;
    dirty_begin_ = UINT64_MAX;
    dirty_end_ = 0;
    history_dirty_ = false;
    journal_dirty_ = false;
    if (auto ec = results_->sync_all())
        degrade("msync of " + results_->path() + " failed: " + ec.message());
    else if (auto ec2 = history_->sync_all())
        degrade("msync of " + history_->path() + " failed: " + ec2.message());
}

boost::asio::awaitable<void> durable_store::run_flusher() {
    if (level_ != core::durability_level::batched)
        co_return;
    auto alive = alive_;
    boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
    for (;;) {
        timer.expires_after(std::chrono::milliseconds(interval_ms_));
        co_await timer.async_wait(boost::asio::use_awaitable);
        if (!*alive || degraded_)
            co_return;
        sync_dirty();
    }
}

} // namespace spear::service
