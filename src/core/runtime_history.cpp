// Rolling runtime history of one function and the completion estimates built on it.
#include "core/runtime_history.hpp"

#include <algorithm>
#include <limits>
#include <stdexcept>

namespace spear::core {
namespace {

constexpr std::int64_t max_ms = std::numeric_limits<std::int64_t>::max();

std::int64_t non_negative(std::int64_t value) noexcept {
    return value < 0 ? 0 : value;
}

// a + b for non-negative operands, saturating at max_ms instead of overflowing.
std::int64_t saturating_add(std::int64_t a, std::int64_t b) noexcept {
    return a > max_ms - b ? max_ms : a + b;
}

// a * b for non-negative operands, saturating at max_ms.
std::int64_t saturating_mul(std::int64_t a, std::int64_t b) noexcept {
    if (a == 0 || b == 0)
        return 0;
    return a > max_ms / b ? max_ms : a * b;
}

// Stores `value` (clamped to >= 0) at the ring's next position, overwriting the oldest.
void push_ring(std::vector<std::int64_t>& ring, std::size_t& next, std::size_t& count,
               std::int64_t value) noexcept {
    ring[next] = non_negative(value);
    next = (next + 1) % ring.size();
    if (count < ring.size())
        ++count;
}

// The value of 1-based rank `rank` (1 <= rank <= count) among the first `count` ring entries.
// Ring order does not matter: the occupied entries are always the first `count` ones, because
// the ring fills from index 0 and only overwrites once full.
std::int64_t ranked(const std::vector<std::int64_t>& ring, std::size_t count, std::size_t rank) {
    std::vector<std::int64_t> scratch(ring.begin(),
                                      ring.begin() + static_cast<std::ptrdiff_t>(count));
    auto nth = scratch.begin() + static_cast<std::ptrdiff_t>(rank - 1);
    std::nth_element(scratch.begin(), nth, scratch.end());
    return *nth;
}

// How many elements of the multiset {free[i] + k * typical : k >= 0} are <= t, stopping once
// `enough` is reached (so the sum cannot overflow). `free` is sorted ascending, typical > 0.
std::uint64_t starts_by(const std::vector<std::int64_t>& free, std::int64_t typical, std::int64_t t,
                        std::uint64_t enough) noexcept {
    std::uint64_t count = 0;
    for (auto f : free) {
        if (f > t)
            break;
        const auto here = static_cast<std::uint64_t>((t - f) / typical) + 1;
        if (here >= enough - count)
            return enough;
        count += here;
    }
    return count;
}

} // namespace

runtime_history::runtime_history(std::size_t window, std::int64_t expected_ms,
                                 std::int64_t default_ms)
    : window_(window)
    , expected_ms_(non_negative(expected_ms))
    , default_ms_(non_negative(default_ms)) {
    if (window == 0)
        throw std::invalid_argument("runtime_history: window must be >= 1");
    durations_.assign(window, 0);
    waits_.assign(window, 0);
}

namespace {

/// The ring's samples, oldest first.
void ring_in_order(const std::vector<std::int64_t>& ring, std::size_t next, std::size_t count,
                   std::vector<std::int64_t>& out) {
    out.clear();
    const std::size_t start = count < ring.size() ? 0 : next;
    for (std::size_t i = 0; i < count; ++i)
        out.push_back(ring[(start + i) % ring.size()]);
}

} // namespace

void runtime_history::export_state(std::vector<std::int64_t>& durations,
                                   std::vector<std::int64_t>& waits, std::uint64_t& runs) const {
    ring_in_order(durations_, durations_next_, durations_count_, durations);
    ring_in_order(waits_, waits_next_, waits_count_, waits);
    runs = runs_;
}

void runtime_history::restore_state(std::span<const std::int64_t> durations,
                                    std::span<const std::int64_t> waits, std::uint64_t runs) {
    durations_.assign(window_, 0);
    waits_.assign(window_, 0);
    durations_next_ = durations_count_ = waits_next_ = waits_count_ = 0;
    for (auto d : durations.subspan(durations.size() - std::min(durations.size(), window_)))
        push_ring(durations_, durations_next_, durations_count_, d);
    for (auto w : waits.subspan(waits.size() - std::min(waits.size(), window_)))
        push_ring(waits_, waits_next_, waits_count_, w);
    runs_ = std::max<std::uint64_t>(runs, durations_count_);
}

void runtime_history::record_run(std::int64_t execution_ms) {
    push_ring(durations_, durations_next_, durations_count_, execution_ms);
    ++runs_;
}

void runtime_history::record_queue_wait(std::int64_t queue_ms) {
    push_ring(waits_, waits_next_, waits_count_, queue_ms);
}

std::int64_t runtime_history::median(const std::vector<std::int64_t>& ring, std::size_t count) {
    // Lower median: rank ceil(count / 2), an observed value (see the class comment).
    return ranked(ring, count, (count + 1) / 2);
}

std::int64_t runtime_history::typical_ms() const {
    if (durations_count_ > 0)
        return median(durations_, durations_count_);
    return expected_ms_ > 0 ? expected_ms_ : default_ms_;
}

estimate_source runtime_history::source() const noexcept {
    if (durations_count_ > 0)
        return estimate_source::history;
    return expected_ms_ > 0 ? estimate_source::configured : estimate_source::fallback;
}

std::int64_t runtime_history::typical_queue_ms() const {
    return waits_count_ > 0 ? median(waits_, waits_count_) : 0;
}

std::int64_t runtime_history::p95_ms() const {
    if (durations_count_ == 0)
        return typical_ms();
    // Nearest rank: ceil(0.95 * n), computed in integers.
    const auto rank = (95 * durations_count_ + 99) / 100;
    return ranked(durations_, durations_count_, rank);
}

std::uint64_t runtime_history::runs_recorded() const noexcept {
    return runs_;
}

std::size_t runtime_history::samples() const noexcept {
    return durations_count_;
}

std::int64_t estimate_new_completion_ms(std::int64_t typical_ms,
                                        std::span<const std::int64_t> running_elapsed_ms,
                                        std::size_t queued_ahead, std::size_t concurrency) {
    const auto typical = non_negative(typical_ms);
    // Servers beyond running + queued_ahead + 1 could only be idle at 0, and that many idle
    // servers already give a start at 0: capping bounds the memory for huge limits.
    const auto running = running_elapsed_ms.size();
    constexpr auto max_size = std::numeric_limits<std::size_t>::max();
    const auto relevant =
        queued_ahead >= max_size - running - 1 ? max_size : running + queued_ahead + 1;
    const auto servers = std::min(std::max<std::size_t>(concurrency, 1), relevant);

    // When each server is first free.
    std::vector<std::int64_t> free;
    free.reserve(std::max(servers, running));
    for (auto elapsed : running_elapsed_ms)
        free.push_back(std::max<std::int64_t>(typical - non_negative(elapsed), 0));
    if (free.size() > servers) {
        std::nth_element(free.begin(), free.begin() + static_cast<std::ptrdiff_t>(servers),
                         free.end());
        free.resize(servers);
    }
    free.resize(servers, 0);
    std::sort(free.begin(), free.end());

    // Greedy earliest-free assignment pops server free times in ascending order, and server i
    // is free at free[i], free[i] + typical, free[i] + 2 * typical, ... So the new execution
    // starts at the (queued_ahead + 1)-th smallest element of that merged multiset: binary
    // search the smallest t with at least that many elements <= t. Equal to the heap
    // simulation, but independent of queued_ahead.
    if (typical == 0)
        return free.front(); // every start is at the earliest free time
    constexpr auto max_count = std::numeric_limits<std::uint64_t>::max();
    const auto needed = queued_ahead >= max_count ? max_count : std::uint64_t{queued_ahead} + 1;
    std::int64_t lo = free.front();
    // Server 0 alone has queued_ahead + 1 free times by this point.
    std::int64_t hi =
        saturating_add(lo, saturating_mul(typical, queued_ahead > static_cast<std::uint64_t>(max_ms)
                                                       ? max_ms
                                                       : static_cast<std::int64_t>(queued_ahead)));
    if (starts_by(free, typical, hi, needed) < needed)
        return max_ms; // the start does not fit in int64 milliseconds
    while (lo < hi) {
        const auto mid = lo + (hi - lo) / 2;
        if (starts_by(free, typical, mid, needed) >= needed)
            hi = mid;
        else
            lo = mid + 1;
    }
    return saturating_add(lo, typical);
}

std::int64_t estimate_remaining_ms(std::int64_t typical_ms, std::int64_t elapsed_ms) {
    const auto typical = non_negative(typical_ms);
    const auto elapsed = non_negative(elapsed_ms);
    return elapsed >= typical ? 0 : typical - elapsed;
}

std::int64_t retry_after_seconds(std::int64_t estimate_ms) {
    if (estimate_ms <= 1000)
        return 1;
    return estimate_ms / 1000 + (estimate_ms % 1000 != 0 ? 1 : 0);
}

} // namespace spear::core
