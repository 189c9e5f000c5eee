// Queue projection: an event simulation of the scheduler's drain (see the header).
#include "core/queue_projection.hpp"

#include <algorithm>

namespace spear::core {

namespace {

constexpr std::int64_t time_cap = std::numeric_limits<std::int64_t>::max() / 2;

std::int64_t add_capped(std::int64_t a, std::int64_t b) {
    a = std::clamp<std::int64_t>(a, 0, time_cap);
    b = std::clamp<std::int64_t>(b, 0, time_cap);
    return a > time_cap - b ? time_cap : a + b;
}

std::size_t limit_at(std::span<const std::size_t> limits, std::uint32_t index) {
    if (index >= limits.size())
        return std::numeric_limits<std::size_t>::max();
    return std::max<std::size_t>(limits[index], 1);
}

} // namespace

std::vector<projected_times> const&
queue_projection::project(const projection_limits& limits,
                          std::span<const projected_running> running,
                          std::span<const projected_queued> queued) {
    const std::size_t global = std::max<std::size_t>(limits.global_concurrency, 1);
    out_.assign(queued.size(), projected_times{});
    heap_.clear();
    // Sized by the highest index in use, so an index beyond the limits spans is still counted.
    std::uint32_t functions = static_cast<std::uint32_t>(limits.function_concurrency.size());
    std::uint32_t clients = static_cast<std::uint32_t>(limits.client_concurrency.size());
    for (const auto& r : running) {
        functions = std::max(functions, r.function + 1);
        clients = std::max(clients, r.client + 1);
    }
    for (const auto& q : queued) {
        functions = std::max(functions, q.function + 1);
        clients = std::max(clients, q.client + 1);
    }
    function_running_.assign(functions, 0);
    client_running_.assign(clients, 0);

    const auto later = [](const end_event& a, const end_event& b) {
        return a.at != b.at ? a.at > b.at : a.order > b.order;
    };
    std::uint64_t order = 0;
    std::size_t running_total = 0;
    for (const auto& r : running) {
        heap_.push_back({std::clamp<std::int64_t>(r.remaining_ms, 0, time_cap), order++,
                         r.function, r.client});
        ++function_running_[r.function];
        ++client_running_[r.client];
        ++running_total;
    }
    std::make_heap(heap_.begin(), heap_.end(), later);

    // Waiting items per function, in start order (a counting sort: O(queued + functions)).
    fn_begin_.assign(functions + 1, 0);
    for (const auto& q : queued)
        ++fn_begin_[q.function + 1];
    for (std::uint32_t f = 0; f < functions; ++f)
        fn_begin_[f + 1] += fn_begin_[f];
    fn_items_.resize(queued.size());
    fn_head_.assign(fn_begin_.begin(), fn_begin_.end() - 1);
    {
        auto fill = fn_head_;
        for (std::size_t i = 0; i < queued.size(); ++i)
            fn_items_[fill[queued[i].function]++] = static_cast<std::uint32_t>(i);
    }
    started_.assign(queued.size(), 0);
    active_.clear();
    for (std::uint32_t f = 0; f < functions; ++f)
        if (fn_begin_[f + 1] > fn_begin_[f])
            active_.push_back(f);
    std::size_t waiting = queued.size();
    first_ = 0;

    std::int64_t now = 0;
    // What scheduler_policy::start_ready does: while the global limit allows, start the first
    // waiting item (in start order) whose function and client have a free slot. Each round
    // looks at the first eligible item of each function with a free slot: O(functions) per
    // start, plus the items skipped because their client is at its limit.
    const auto start_ready = [&] {
        while (running_total < global) {
            constexpr auto none = std::numeric_limits<std::size_t>::max();
            std::size_t best = none;
            // Fast path (the global limit binds): the first waiting item of all is eligible.
            while (first_ < queued.size() && started_[first_])
                ++first_;
            if (first_ < queued.size()) {
                const auto& head = queued[first_];
                if (function_running_[head.function] <
                        limit_at(limits.function_concurrency, head.function) &&
                    client_running_[head.client] < limit_at(limits.client_concurrency, head.client))
                    best = first_;
            }
            const bool fast = best != none;
            for (std::size_t a = 0; !fast && a < active_.size();) {
                const auto f = active_[a];
                auto& head = fn_head_[f];
                const auto end = fn_begin_[f + 1];
                while (head < end && started_[fn_items_[head]])
                    ++head;
                if (head == end) { // nothing of f waits any more
                    active_[a] = active_.back();
                    active_.pop_back();
                    continue;
                }
                ++a;
                if (function_running_[f] >= limit_at(limits.function_concurrency, f))
                    continue;
                for (auto pos = head; pos < end && fn_items_[pos] < best; ++pos) {
                    const auto i = fn_items_[pos];
                    if (started_[i])
                        continue;
                    if (client_running_[queued[i].client] <
                        limit_at(limits.client_concurrency, queued[i].client)) {
                        best = i;
                        break;
                    }
                }
            }
            if (best == none)
                return;
            const auto& item = queued[best];
            started_[best] = 1;
            --waiting;
            auto& times = out_[best];
            times.start_ms = now;
            times.completion_ms = add_capped(now, item.duration_ms);
            ++function_running_[item.function];
            ++client_running_[item.client];
            ++running_total;
            heap_.push_back({times.completion_ms, order++, item.function, item.client});
            std::push_heap(heap_.begin(), heap_.end(), later);
        }
    };

    start_ready();
    while (waiting > 0 && !heap_.empty()) {
        std::pop_heap(heap_.begin(), heap_.end(), later);
        const auto ended = heap_.back();
        heap_.pop_back();
        now = ended.at;
        --function_running_[ended.function];
        --client_running_[ended.client];
        --running_total;
        start_ready();
    }
    return out_;
}

} // namespace spear::core
