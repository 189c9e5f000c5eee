// Scheduling policy: per-function and per-client concurrency, bounded queues in priority order
// with aging, under a global limit.
#include "core/scheduler_policy.hpp"

#include <algorithm>
#include <stdexcept>

namespace spear::core {

scheduler_policy::scheduler_policy(std::vector<function_limits> functions,
                                   std::size_t global_concurrency,
                                   std::vector<client_limits> clients)
    : global_concurrency_(global_concurrency) {
    if (global_concurrency == 0)
        throw std::invalid_argument("scheduler_policy: global concurrency must be >= 1");
    functions_.reserve(functions.size());
    for (const auto& limits : functions) {
        if (limits.max_concurrency == 0)
            throw std::invalid_argument("scheduler_policy: max_concurrency must be >= 1");
        functions_.push_back(function_state{limits, 0, 0});
    }
    if (clients.empty())
        clients.emplace_back();
    clients_.reserve(clients.size());
    for (const auto& limits : clients) {
        if (limits.max_concurrency == 0)
            throw std::invalid_argument(
                "scheduler_policy: a client's max_concurrency must be >= 1");
        clients_.push_back(client_state{limits, 0, 0});
    }
}

bool scheduler_policy::can_start(const scheduled_item& item) const {
    const auto& fn = functions_[item.function];
    const auto& cl = clients_[item.client];
    return running_total_ < global_concurrency_ && fn.running < fn.limits.max_concurrency &&
           cl.running < cl.limits.max_concurrency;
}

void scheduler_policy::take_slot(const scheduled_item& item) {
    ++functions_[item.function].running;
    ++clients_[item.client].running;
    ++running_total_;
}

admit_result scheduler_policy::admit(scheduled_item item) {
    auto& fn = functions_.at(item.function);
    auto& cl = clients_.at(item.client);
    // Nothing queued can start while a slot is free (start_ready runs after every finish), so
    // a free slot for this item is not owed to anything waiting.
    if (can_start(item)) {
        take_slot(item);
        return admit_result::start_now;
    }
    if (fn.queued >= fn.limits.queue_depth)
        return admit_result::queue_full;
    if (cl.queued >= cl.limits.max_queued)
        return admit_result::client_queue_full;
    queue_.emplace(order_key{item.rank, item.key}, item);
    rank_[item.key] = item.rank;
    ++fn.queued;
    ++cl.queued;
    return admit_result::queued;
}

std::vector<scheduled_item> scheduler_policy::finish(std::uint32_t function, std::uint32_t client) {
    auto& fn = functions_.at(function);
    auto& cl = clients_.at(client);
    // A finish without a matching start is a caller bug; never let the counters wrap.
    if (fn.running > 0 && running_total_ > 0) {
        --fn.running;
        --running_total_;
        if (cl.running > 0)
            --cl.running;
    }
    return start_ready();
}

std::vector<scheduled_item> scheduler_policy::start_ready() {
    // O(queued) per start: the first item in start order whose function and client have a
    // free slot (the queue is bounded by the functions' queue_depth).
    std::vector<scheduled_item> started;
    while (running_total_ < global_concurrency_) {
        auto it = std::find_if(queue_.begin(), queue_.end(),
                               [this](const auto& entry) { return can_start(entry.second); });
        if (it == queue_.end())
            break;
        const auto item = it->second;
        queue_.erase(it);
        rank_.erase(item.key);
        --functions_[item.function].queued;
        --clients_[item.client].queued;
        take_slot(item);
        started.push_back(item);
    }
    return started;
}

bool scheduler_policy::remove_queued(scheduled_item item) {
    const auto rank = rank_.find(item.key);
    if (rank == rank_.end())
        return false;
    const auto it = queue_.find(order_key{rank->second, item.key});
    if (it == queue_.end() || it->second.function != item.function)
        return false;
    --functions_[it->second.function].queued;
    --clients_[it->second.client].queued;
    queue_.erase(it);
    rank_.erase(rank);
    return true;
}

std::optional<std::size_t> scheduler_policy::queue_position(scheduled_item item) const {
    const auto rank = rank_.find(item.key);
    if (rank == rank_.end())
        return std::nullopt;
    const auto it = queue_.find(order_key{rank->second, item.key});
    if (it == queue_.end() || it->second.function != item.function)
        return std::nullopt;
    return static_cast<std::size_t>(std::distance(queue_.begin(), it));
}

std::size_t scheduler_policy::running(std::uint32_t function) const {
    return functions_.at(function).running;
}

std::size_t scheduler_policy::queued(std::uint32_t function) const {
    return functions_.at(function).queued;
}

std::size_t scheduler_policy::client_running(std::uint32_t client) const {
    return clients_.at(client).running;
}

std::size_t scheduler_policy::client_queued(std::uint32_t client) const {
    return clients_.at(client).queued;
}

std::size_t scheduler_policy::max_concurrency(std::uint32_t function) const {
    return functions_.at(function).limits.max_concurrency;
}

std::size_t scheduler_policy::client_max_concurrency(std::uint32_t client) const {
    return clients_.at(client).limits.max_concurrency;
}

std::size_t scheduler_policy::effective_concurrency(std::uint32_t function) const {
    return std::min(functions_.at(function).limits.max_concurrency, global_concurrency_);
}

void scheduler_policy::withdraw(scheduled_item item) {
    if (remove_queued(item))
        return;
    auto& fn = functions_.at(item.function);
    auto& cl = clients_.at(item.client);
    if (fn.running > 0 && running_total_ > 0) {
        --fn.running;
        --running_total_;
        if (cl.running > 0)
            --cl.running;
    }
}

} // namespace spear::core
