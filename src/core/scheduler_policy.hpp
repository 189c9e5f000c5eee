// Scheduling policy (sans-io): per-function and per-client concurrency, bounded queues started
// in priority order with aging, under a global limit. Decides what starts and what waits; the
// service layer performs the starts. core/queue_projection models the same order.
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

namespace spear::core {

/// A queued or running unit, identified by the caller's key (the record's seq is used).
struct scheduled_item {
    std::uint32_t function = 0; ///< index of the function in config order
    std::uint64_t key = 0;      ///< unique per submission; lower = submitted earlier
    std::uint32_t client = 0;   ///< index of the client's quota (0: the default client)
    /// Start order among queued items: lower starts first, ties by key. The service passes
    /// start_rank(submitted_ms, priority, aging_ms), so the order never changes while items
    /// wait (docs/architecture.md "Priority and aging"); 0 for all gives FIFO by key.
    std::int64_t rank = 0;
};

/// The rank of an item submitted at `submitted_ms` (any monotonic origin) with `priority`
/// (0-9, higher first) when one priority level is worth `aging_ms` of waiting: an item's
/// effective priority rises by one level per `aging_ms` waited, so comparing effective
/// priorities at any moment is comparing submitted_ms - priority * aging_ms.
constexpr std::int64_t start_rank(std::int64_t submitted_ms, int priority,
                                  std::int64_t aging_ms) noexcept {
    return submitted_ms - static_cast<std::int64_t>(priority) * aging_ms;
}

/// One client's limits in the scheduler (a token's max_concurrency and max_queued).
struct scheduler_client_limits {
    std::size_t max_concurrency = std::numeric_limits<std::size_t>::max(); ///< >= 1: running
    std::size_t max_queued = std::numeric_limits<std::size_t>::max();      ///< waiting (0: never)
};

enum class admit_result : std::uint8_t {
    start_now,        ///< a slot was free: the caller starts it at once (counted as running)
    queued,           ///< placed in the queue at its rank
    queue_full,       ///< refused: the function's queue is at its depth limit
    client_queue_full ///< refused: the client has max_queued executions waiting
};

class scheduler_policy {
public:
    static constexpr std::size_t unlimited = std::numeric_limits<std::size_t>::max();
    struct function_limits {
        std::size_t max_concurrency = 4; ///< >= 1
        std::size_t queue_depth = 64;    ///< pending items allowed (0 = never queue)
    };
    using client_limits = scheduler_client_limits;

    /// Throws std::invalid_argument when global_concurrency or any max_concurrency is 0.
    /// Functions and clients are indexed in vector order (no clients given: one unlimited
    /// client 0); admit/finish/running/queued/effective_concurrency throw std::out_of_range
    /// for an index outside them.
    scheduler_policy(std::vector<function_limits> functions, std::size_t global_concurrency,
                     std::vector<client_limits> clients = {});

    /// Starts at once when the global, the function's and the client's limits all allow it
    /// (then nothing queued could start either: see start_ready); else queues it at its rank,
    /// or refuses when the function's queue or the client's queued allowance is full.
    admit_result admit(scheduled_item item);

    /// A running item of `function` and `client` ended: frees its slot and returns the items
    /// to start now, in start order (lowest rank first among items whose function and client
    /// have a free slot). They count as running. A finish with nothing running frees nothing.
    std::vector<scheduled_item> finish(std::uint32_t function, std::uint32_t client = 0);

    /// Removes a queued item (cancel while pending), found by key. False if it is not queued
    /// under that function. Starts nothing: removing a waiter frees no slot.
    bool remove_queued(scheduled_item item);

    /// Undoes admit() of an item that never ran (its record could not be created): a queued
    /// item leaves the queue, a started one gives its slot back. Starts nothing: the slot was
    /// free before this item took it.
    void withdraw(scheduled_item item);

    /// 0-based position of a queued item in the start order (how many queued items, of any
    /// function, come before it), nullopt if not queued. O(queued).
    std::optional<std::size_t> queue_position(scheduled_item item) const;

    /// Every queued item, in start order (what core::project_queue takes).
    template <class Visit> void for_each_queued(Visit&& visit) const {
        for (const auto& [order, item] : queue_)
            visit(item);
    }

    std::size_t running(std::uint32_t function) const;
    std::size_t queued(std::uint32_t function) const;
    std::size_t client_running(std::uint32_t client) const;
    std::size_t client_queued(std::uint32_t client) const;
    std::size_t running_total() const noexcept { return running_total_; }
    std::size_t queued_total() const noexcept { return queue_.size(); }
    std::size_t global_concurrency() const noexcept { return global_concurrency_; }
    std::size_t max_concurrency(std::uint32_t function) const;
    std::size_t client_max_concurrency(std::uint32_t client) const;
    std::size_t function_count() const noexcept { return functions_.size(); }
    std::size_t client_count() const noexcept { return clients_.size(); }
    /// min(function's max_concurrency, global limit).
    std::size_t effective_concurrency(std::uint32_t function) const;
    /// True when `item` would start at once: the global, its function's and its client's
    /// limits all have a free slot.
    bool can_start(const scheduled_item& item) const;

private:
    std::vector<scheduled_item> start_ready();
    void take_slot(const scheduled_item& item);
    struct function_state {
        function_limits limits;
        std::size_t running = 0;
        std::size_t queued = 0;
    };
    struct client_state {
        client_limits limits;
        std::size_t running = 0;
        std::size_t queued = 0;
    };
    using order_key = std::pair<std::int64_t, std::uint64_t>; ///< (rank, key)
    std::vector<function_state> functions_;
    std::vector<client_state> clients_;
    std::size_t global_concurrency_;
    std::size_t running_total_ = 0;
    std::map<order_key, scheduled_item> queue_;            ///< every queued item, start order
    std::unordered_map<std::uint64_t, std::int64_t> rank_; ///< key -> rank of queued items
};

} // namespace spear::core
