// Scheduling policy (sans-io): per-function concurrency and bounded FIFO queues under a global
// limit. Decides what starts and what waits; the service layer performs the starts.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

namespace spear::core {

/// A queued or running unit, identified by the caller's key (the record's seq is used).
struct scheduled_item {
    std::uint32_t function = 0; ///< index of the function in config order
    std::uint64_t key = 0;      ///< unique per submission; lower = submitted earlier
};

enum class admit_result : std::uint8_t {
    start_now, ///< a slot was free: the caller starts it at once (counted as running)
    queued,    ///< placed at the back of the function's queue
    queue_full ///< refused: the function's queue is at its depth limit
};

class scheduler_policy {
public:
    struct function_limits {
        std::size_t max_concurrency = 4; ///< >= 1
        std::size_t queue_depth = 64;    ///< pending items allowed (0 = never queue)
    };

    /// Throws std::invalid_argument when global_concurrency or any max_concurrency is 0.
    /// Functions are indexed in vector order; admit/finish/running/queued/
    /// effective_concurrency throw std::out_of_range for an index outside it.
    scheduler_policy(std::vector<function_limits> functions, std::size_t global_concurrency);

    /// Starts at once when both the function and the global limit allow it and nothing of
    /// this function waits ahead; else queues it (FIFO) or refuses when the queue is full.
    admit_result admit(scheduled_item item);

    /// A running item ended: frees its slot and returns the items to start now, in order
    /// (global FIFO by key among functions that have a free slot). They count as running.
    /// A finish for a function with nothing running frees nothing (no underflow).
    std::vector<scheduled_item> finish(std::uint32_t function);

    /// Removes a queued item (cancel while pending). False if it is not queued (or the function
    /// index is unknown). Starts nothing: removing a waiter frees no slot.
    bool remove_queued(scheduled_item item);

    /// Undoes admit() of an item that never ran (its record could not be created): a queued
    /// item leaves its queue, a started one gives its slot back. Starts nothing: the slot was
    /// free before this item took it.
    void withdraw(scheduled_item item);

    /// 0-based position of a queued item in its function's queue, nullopt if not queued.
    std::optional<std::size_t> queue_position(scheduled_item item) const;

    std::size_t running(std::uint32_t function) const;
    std::size_t queued(std::uint32_t function) const;
    std::size_t running_total() const noexcept { return running_total_; }
    std::size_t queued_total() const noexcept;
    /// min(function's max_concurrency, global limit): what estimates should assume.
    std::size_t effective_concurrency(std::uint32_t function) const;

private:
    std::vector<scheduled_item> start_ready();
    struct function_state {
        function_limits limits;
        std::size_t running = 0;
        std::deque<std::uint64_t> queue;
    };
    std::vector<function_state> functions_;
    std::size_t global_concurrency_;
    std::size_t running_total_ = 0;
};

} // namespace spear::core
