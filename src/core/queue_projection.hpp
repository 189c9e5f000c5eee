// Queue projection (sans-io): simulates how the scheduler will drain its queue, to answer each
// queued execution's projected start and completion (docs/architecture.md "Estimates").
#pragma once

#include <cstdint>
#include <limits>
#include <span>
#include <vector>

namespace spear::core {

/// An execution that is running now.
struct projected_running {
    std::uint32_t function = 0;
    std::uint32_t client = 0;
    std::int64_t remaining_ms = 0; ///< expected time until it ends (negative counts as 0)
};

/// A queued execution, in the order the scheduler will consider it (scheduler_policy's start
/// order: rank, then key).
struct projected_queued {
    std::uint32_t function = 0;
    std::uint32_t client = 0;
    std::int64_t duration_ms = 0; ///< how long it will run once started (negative counts as 0)
};

/// The limits the scheduler applies (scheduler_policy's, by index).
struct projection_limits {
    std::size_t global_concurrency = 1;                ///< >= 1 (0 counts as 1)
    std::span<const std::size_t> function_concurrency; ///< per function, >= 1 (0 counts as 1)
    /// Per client; an index beyond it (or an empty span) has no client limit.
    std::span<const std::size_t> client_concurrency;
};

/// Projected times of one queued execution, in ms from now.
struct projected_times {
    std::int64_t start_ms = 0;
    std::int64_t completion_ms = 0;
};

/// Simulates the drain: at time 0 the running executions hold their slots; whenever one ends
/// (earliest first; ties in the order given, running before started), the slot is freed and
/// the queued executions start exactly as scheduler_policy::start_ready would start them
/// (the first in order whose function and client have a free slot, while the global limit
/// allows). Returns one entry per `queued` item, in the same order. Equals the real drain
/// when durations are exact (tests/unit/core/queue_projection_test.cpp checks it against
/// scheduler_policy). Times saturate at INT64_MAX / 2.
///
/// Cost: O((running + queued) log(running + queued)) for the end events, plus, per start:
/// O(1) when the first waiting item may start (the global limit binds), else
/// O(functions + clients with waiting items) plus, in the groups of the dimension with fewer
/// free groups, the items passed over because the other dimension holds them back. Reuses
/// its buffers across calls (keep one object). docs/performance.md has figures.
class queue_projection {
public:
    std::vector<projected_times> const& project(const projection_limits& limits,
                                                std::span<const projected_running> running,
                                                std::span<const projected_queued> queued);

private:
    struct end_event {
        std::int64_t at = 0;
        std::uint64_t order = 0; ///< tie-break: earlier-started first
        std::uint32_t function = 0;
        std::uint32_t client = 0;
    };
    std::vector<projected_times> out_;
    std::vector<end_event> heap_;
    std::vector<std::size_t> function_running_;
    std::vector<std::size_t> client_running_;
    /// Queued items grouped by one key (function or client), each group in start order.
    struct grouping {
        std::vector<std::size_t> begin;    ///< per group: where its items start in `items`
        std::vector<std::size_t> head;     ///< per group: its first item not yet started
        std::vector<std::uint32_t> items;  ///< queued indices grouped, in order
        std::vector<std::uint32_t> active; ///< groups that may still have waiting items
        template <class Key> void build(std::size_t groups, std::size_t n, Key key);
        /// Advances heads past started items; drops groups with nothing waiting.
        void prune(const std::vector<char>& started);
        template <class Free> std::size_t count_free(Free free) const;
        /// The lowest waiting index, among groups with a free slot, whose other key is free.
        template <class Free, class Other, class OtherFree>
        std::size_t first_eligible(const std::vector<char>& started, Free free, Other other,
                                   OtherFree other_free) const;
    };
    grouping by_function_;
    grouping by_client_;
    std::vector<char> started_; ///< per queued item
    std::size_t first_ = 0;     ///< the first queued item not yet started
};

} // namespace spear::core
