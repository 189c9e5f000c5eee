// Scheduling policy: per-function concurrency and bounded FIFO queues under a global limit.
#include "core/scheduler_policy.hpp"

#include <algorithm>
#include <stdexcept>

namespace spear::core {

scheduler_policy::scheduler_policy(std::vector<function_limits> functions,
                                   std::size_t global_concurrency)
    : global_concurrency_(global_concurrency) {
    if (global_concurrency == 0)
        throw std::invalid_argument("scheduler_policy: global concurrency must be >= 1");
    functions_.reserve(functions.size());
    for (const auto& limits : functions) {
        if (limits.max_concurrency == 0)
            throw std::invalid_argument("scheduler_policy: max_concurrency must be >= 1");
        functions_.push_back(function_state{limits, 0, {}});
    }
}

admit_result scheduler_policy::admit(scheduled_item item) {
    auto& fn = functions_.at(item.function);
    if (fn.running < fn.limits.max_concurrency && running_total_ < global_concurrency_ &&
        fn.queue.empty()) {
        ++fn.running;
        ++running_total_;
        return admit_result::start_now;
    }
    if (fn.queue.size() < fn.limits.queue_depth) {
        fn.queue.push_back(item.key);
        return admit_result::queued;
    }
    return admit_result::queue_full;
}

std::vector<scheduled_item> scheduler_policy::finish(std::uint32_t function) {
    auto& fn = functions_.at(function);
    // A finish without a matching start is a caller bug; never let the counters wrap.
    if (fn.running > 0) {
        --fn.running;
        --running_total_;
    }
    return start_ready();
}

std::vector<scheduled_item> scheduler_policy::start_ready() {
    std::vector<scheduled_item> started;
    while (running_total_ < global_concurrency_) {
        // The oldest queue head among functions with a free slot (global FIFO by key).
        function_state* best = nullptr;
        std::uint32_t best_index = 0;
        for (std::size_t i = 0; i < functions_.size(); ++i) {
            auto& fn = functions_[i];
            if (fn.queue.empty() || fn.running >= fn.limits.max_concurrency)
                continue;
            if (best == nullptr || fn.queue.front() < best->queue.front()) {
                best = &fn;
                best_index = static_cast<std::uint32_t>(i);
            }
        }
        if (best == nullptr)
            break;
        started.push_back({best_index, best->queue.front()});
        best->queue.pop_front();
        ++best->running;
        ++running_total_;
    }
    return started;
}

bool scheduler_policy::remove_queued(scheduled_item item) {
    if (item.function >= functions_.size())
        return false;
    auto& queue = functions_[item.function].queue;
    const auto it = std::find(queue.begin(), queue.end(), item.key);
    if (it == queue.end())
        return false;
    queue.erase(it);
    return true;
}

std::optional<std::size_t> scheduler_policy::queue_position(scheduled_item item) const {
    if (item.function >= functions_.size())
        return std::nullopt;
    const auto& queue = functions_[item.function].queue;
    const auto it = std::find(queue.begin(), queue.end(), item.key);
    if (it == queue.end())
        return std::nullopt;
    return static_cast<std::size_t>(it - queue.begin());
}

std::size_t scheduler_policy::running(std::uint32_t function) const {
    return functions_.at(function).running;
}

std::size_t scheduler_policy::queued(std::uint32_t function) const {
    return functions_.at(function).queue.size();
}

std::size_t scheduler_policy::queued_total() const noexcept {
    std::size_t total = 0;
    for (const auto& fn : functions_)
        total += fn.queue.size();
    return total;
}

std::size_t scheduler_policy::effective_concurrency(std::uint32_t function) const {
    return std::min(functions_.at(function).limits.max_concurrency, global_concurrency_);
}

void scheduler_policy::withdraw(scheduled_item item) {
    if (remove_queued(item))
        return;
    auto& fn = functions_.at(item.function);
    if (fn.running > 0) {
        --fn.running;
        --running_total_;
    }
}

} // namespace spear::core
