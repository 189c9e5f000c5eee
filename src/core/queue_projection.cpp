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

    // Waiting items as a singly linked list in start order; `none` ends it.
    constexpr auto none = std::numeric_limits<std::uint32_t>::max();
    next_.resize(queued.size() + 1); // next_[0] is the head sentinel; item i is node i + 1
    for (std::size_t i = 0; i <= queued.size(); ++i)
        next_[i] = i < queued.size() ? static_cast<std::uint32_t>(i + 1) : none;
    std::size_t waiting = queued.size();

    std::int64_t now = 0;
    const auto start_ready = [&] {
        std::uint32_t prev = 0;
        while (running_total < global && next_[prev] != none) {
            const auto node = next_[prev];
            const auto& item = queued[node - 1];
            if (function_running_[item.function] >=
                    limit_at(limits.function_concurrency, item.function) ||
                client_running_[item.client] >= limit_at(limits.client_concurrency, item.client)) {
                prev = node; // held back by its function or client: look further
                continue;
            }
            next_[prev] = next_[node]; // unlink: it starts now
            --waiting;
            auto& times = out_[node - 1];
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
