// Per-function rolling runtime history and the completion estimates built on it (docs/architecture.md).
// Pure: every call takes the figures it needs; no clocks, no I/O.
#pragma once

#include "core/execution_result.hpp"

#include <cstdint>
#include <span>
#include <vector>

namespace spear::core {

/// Rolling windows of one function's recent execution durations and queue waits.
/// Typical duration = median of the window (robust to outliers; with a bimodal
/// distribution it follows the majority mode). For an even count the median is the LOWER of
/// the two middle values: always an observed duration, never a mean between two modes that no
/// run ever took (on an evenly split bimodal window clients see the faster mode).
/// Negative inputs are recorded as 0. Memory fixed at construction.
/// Throws std::invalid_argument for window 0; negative expected_ms/default_ms count as 0.
class runtime_history {
public:
    /// `window` >= 1: how many recent runs are kept. `expected_ms` > 0 is the configured
    /// typical duration (used until history exists); 0 means "not configured".
    runtime_history(std::size_t window, std::int64_t expected_ms, std::int64_t default_ms);

    /// Records one finished run (completed or failed; cancelled runs should not be recorded).
    void record_run(std::int64_t execution_ms);
    /// Records how long an execution waited in the queue before starting.
    void record_queue_wait(std::int64_t queue_ms);

    /// Median of the duration window, else expected_ms, else default_ms.
    std::int64_t typical_ms() const;
    estimate_source source() const noexcept;
    /// Median queue wait over the window (0 with no samples).
    std::int64_t typical_queue_ms() const;
    /// 95th percentile (nearest rank) of the duration window, or typical_ms() with no history.
    std::int64_t p95_ms() const;

    std::uint64_t runs_recorded() const noexcept; ///< total ever recorded
    std::size_t samples() const noexcept;         ///< currently in the window

    /// The windows, oldest sample first, and the run count (durable results persist them).
    void export_state(std::vector<std::int64_t>& durations, std::vector<std::int64_t>& waits,
                      std::uint64_t& runs) const;
    /// Refills the windows from an exported state (oldest first); a longer state than the
    /// window keeps its newest samples, so a changed `history.window` still restores.
    void restore_state(std::span<const std::int64_t> durations,
                       std::span<const std::int64_t> waits, std::uint64_t runs);

private:
    static std::int64_t median(const std::vector<std::int64_t>& ring, std::size_t count);
    std::size_t window_;
    std::int64_t expected_ms_;
    std::int64_t default_ms_;
    std::vector<std::int64_t> durations_; ///< ring, capacity window_
    std::size_t durations_next_ = 0;
    std::size_t durations_count_ = 0;
    std::vector<std::int64_t> waits_;
    std::size_t waits_next_ = 0;
    std::size_t waits_count_ = 0;
    std::uint64_t runs_ = 0;
};

/// Expected milliseconds until a new execution of a function completes, given:
/// `typical_ms` (from its history), the elapsed time of each running execution of that
/// function, how many executions are queued ahead of it, and its concurrency limit.
/// Model: `concurrency` servers; a running execution frees its server after
/// max(typical - elapsed, 0) (if more run than `concurrency`, the soonest-free ones hold the
/// servers; if fewer, the other servers are free at 0); each queued one in turn takes the
/// earliest free server and holds it for typical_ms.
/// Result = start of the new execution + typical_ms, never negative, saturating at INT64_MAX.
/// concurrency 0 is treated as 1; negative typical/elapsed count as 0. Computed in closed form
/// (the start is the (queued_ahead+1)-th smallest of {free_i + k * typical}): the cost is
/// O(running + 64 * c), whatever `queued_ahead` is.
std::int64_t estimate_new_completion_ms(std::int64_t typical_ms,
                                        std::span<const std::int64_t> running_elapsed_ms,
                                        std::size_t queued_ahead, std::size_t concurrency);

/// Remaining milliseconds for a running execution: max(typical - elapsed, 0).
std::int64_t estimate_remaining_ms(std::int64_t typical_ms, std::int64_t elapsed_ms);

/// Retry-After seconds from an estimate: ceil(ms / 1000), at least 1.
std::int64_t retry_after_seconds(std::int64_t estimate_ms);

} // namespace spear::core
