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

template <class Key>
void queue_projection::grouping::build(std::size_t groups, std::size_t n, Key key) {
    begin.assign(groups + 1, 0);
    for (std::size_t i = 0; i < n; ++i)
        ++begin[key(i) + 1];
    for (std::size_t g = 0; g < groups; ++g)
        begin[g + 1] += begin[g];
    items.resize(n);
    head.assign(begin.begin(), begin.end() - 1);
    auto fill = head;
    for (std::size_t i = 0; i < n; ++i)
        items[fill[key(i)]++] = static_cast<std::uint32_t>(i);
    active.clear();
    for (std::size_t g = 0; g < groups; ++g)
        if (begin[g + 1] > begin[g])
            active.push_back(static_cast<std::uint32_t>(g));
}

void queue_projection::grouping::prune(const std::vector<char>& started) {
    for (std::size_t a = 0; a < active.size();) {
        const auto g = active[a];
        auto& h = head[g];
        while (h < begin[g + 1] && started[items[h]])
            ++h;
        if (h == begin[g + 1]) { // nothing of g waits any more
            active[a] = active.back();
            active.pop_back();
        } else {
            ++a;
        }
    }
}

template <class Free> std::size_t queue_projection::grouping::count_free(Free free) const {
    std::size_t n = 0;
    for (const auto g : active)
        if (free(g))
            ++n;
    return n;
}

template <class Free, class Other, class OtherFree>
std::size_t queue_projection::grouping::first_eligible(const std::vector<char>& started, Free free,
                                                       Other other, OtherFree other_free) const {
    auto best = std::numeric_limits<std::size_t>::max();
    for (const auto g : active) {
        if (!free(g))
            continue;
        for (auto pos = head[g]; pos < begin[g + 1] && items[pos] < best; ++pos) {
            const auto i = items[pos];
            if (!started[i] && other_free(other(i))) {
                best = i;
                break;
            }
        }
    }
    return best;
}

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
        heap_.push_back(
            {std::clamp<std::int64_t>(r.remaining_ms, 0, time_cap), order++, r.function, r.client});
        ++function_running_[r.function];
        ++client_running_[r.client];
        ++running_total;
    }
    std::make_heap(heap_.begin(), heap_.end(), later);

    // Waiting items grouped by function and by client, in start order (counting sorts).
    const auto function_of = [&](std::size_t i) {
        return queued[i].function;
    };
    const auto client_of = [&](std::size_t i) {
        return queued[i].client;
    };
    by_function_.build(functions, queued.size(), function_of);
    by_client_.build(clients, queued.size(), client_of);
    started_.assign(queued.size(), 0);
    std::size_t waiting = queued.size();
    first_ = 0;

    const auto function_free = [&](std::uint32_t f) {
        return function_running_[f] < limit_at(limits.function_concurrency, f);
    };
    const auto client_free = [&](std::uint32_t c) {
        return client_running_[c] < limit_at(limits.client_concurrency, c);
    };

    std::int64_t now = 0;
    // What scheduler_policy::start_ready does: while the global limit allows, start the first
    // waiting item (in start order) whose function and client have a free slot. Fast path:
    // the first waiting item of all. Else the first eligible item of each group with a free
    // slot, grouping by whichever of function or client has fewer free groups (each group's
    // scan passes over the items held back by the other dimension).
    const auto start_ready = [&] {
        while (running_total < global) {
            constexpr auto none = std::numeric_limits<std::size_t>::max();
            std::size_t best = none;
            while (first_ < queued.size() && started_[first_])
                ++first_;
            if (first_ < queued.size() && function_free(queued[first_].function) &&
                client_free(queued[first_].client))
                best = first_;
            if (best == none) {
                by_function_.prune(started_);
                by_client_.prune(started_);
                const auto free_functions = by_function_.count_free(function_free);
                const auto free_clients = by_client_.count_free(client_free);
                if (free_functions == 0 || free_clients == 0)
                    return; // every waiting item is held back by its function or its client
                if (free_functions <= free_clients)
                    best = by_function_.first_eligible(started_, function_free, client_of,
                                                       client_free);
                else
                    best = by_client_.first_eligible(started_, client_free, function_of,
                                                     function_free);
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
