// Ring status table: fixed slots and byte arenas, O(1) lookup by id, oldest-terminal eviction.
#include "core/ring_status_table.hpp"

#include "core/limits.hpp"
#include "core/text_encoding.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <stdexcept>

namespace spear::core {
namespace {

constexpr std::string_view default_content_type = "application/octet-stream";
constexpr std::size_t list_limit_max = limits::list_page_records_max;

std::size_t status_index(ExecutionStatus status) noexcept {
    return static_cast<std::size_t>(status) - 1;
}

std::size_t checked_product(std::size_t a, std::size_t b, const char* what) {
    if (b != 0 && a > std::numeric_limits<std::size_t>::max() / b)
        throw std::invalid_argument(std::string("ring_status_table: ") + what + " overflows");
    return a * b;
}

} // namespace

/// One execution record. Its byte buffers live in the table's arenas at slot index * size.
struct ring_status_table::slot {
    std::uint64_t seq = 0; ///< 0 = empty (seqs start at 1)
    std::uint32_t boot = 0; ///< nonce of the boot that issued it (a restored record's own)
    ExecutionStatus status = ExecutionStatus::pending;
    ExecutionMode mode = ExecutionMode::sync;
    bool ran = false; ///< went through running (started_* are valid)
    std::string function_name;
    std::string client_execution_id;
    std::uint64_t request_hash = 0;
    std::string client; ///< the submitting client's name (may be empty)
    int priority = 0;   ///< the priority it was scheduled with
    std::string content_type;
    error_code error = error_code::none;
    std::string error_message;
    std::optional<int> exit_code;
    std::optional<int> signal;
    steady_time queued_steady{};
    steady_time started_steady{};
    steady_time completed_steady{};
    steady_time expected_completion{};
    wall_time queued_wall{};
    wall_time started_wall{};
    wall_time completed_wall{};
    std::int64_t queue_ms = 0;          ///< final once running or terminal
    std::int64_t execution_time_ms = 0; ///< final once terminal
    std::size_t output_kept = 0;
    std::uint64_t output_size = 0;
    std::size_t stderr_begin = 0; ///< oldest byte of the stderr ring
    std::size_t stderr_len = 0;
};

ring_status_table::ring_status_table(const ring_status_table_options& options)
    : options_(options) {
    const std::size_t n = options_.slots;
    if (n < 1 || n > std::size_t{execution_id_max_slot} + 1)
        throw std::invalid_argument("ring_status_table: slots must be in [1, " +
                                    std::to_string(std::size_t{execution_id_max_slot} + 1) + "]");
    if (options_.ttl.count() < 0)
        throw std::invalid_argument("ring_status_table: ttl must be >= 0");
    const auto output_bytes = checked_product(n, options_.max_output_bytes, "output arena");
    const auto stderr_bytes = checked_product(n, options_.stderr_tail_bytes, "stderr arena");
    if (output_bytes > std::numeric_limits<std::size_t>::max() - stderr_bytes)
        throw std::invalid_argument("ring_status_table: arenas overflow");

    // Allocated once, never resized: the table's memory is known at start. Pages are touched
    // only as records write into them.
    output_arena_ = std::make_unique_for_overwrite<char[]>(output_bytes);
    stderr_arena_ = std::make_unique_for_overwrite<char[]>(stderr_bytes);
    slots_.resize(n);
    for (auto& s : slots_) {
        // Strings are reassigned, never shrunk, so after these reserves typical records do
        // not allocate; longer names are refused upstream (limits.hpp).
        s.function_name.reserve(limits::function_name_bytes);
        s.client_execution_id.reserve(limits::client_execution_id_bytes);
        s.content_type.reserve(default_content_type.size());
        s.error_message.reserve(limits::error_message_bytes);
    }
    free_.reserve(n);
    for (std::size_t i = n; i > 0; --i) // slot 0 is taken first
        free_.push_back(static_cast<std::uint32_t>(i - 1));
    next_seq_ = std::max<std::uint64_t>(options_.first_seq, 1);
    terminal_fifo_.resize(n);
    client_ids_.reserve(n);
    dropped_ring_.resize(n);
    scratch_.reserve(n);
}

ring_status_table::~ring_status_table() = default;

// --- slot access --------------------------------------------------------------------------

ring_status_table::slot* ring_status_table::held_slot(record_ref ref) noexcept {
    if (!holds(ref))
        return nullptr;
    return &slots_[ref.slot];
}

ring_status_table::slot& ring_status_table::at(record_ref ref) {
    if (!holds(ref))
        throw std::out_of_range("ring_status_table: record " + execution_id(ref) +
                                " is no longer held");
    return slots_[ref.slot];
}

const ring_status_table::slot& ring_status_table::at(record_ref ref) const {
    if (!holds(ref))
        throw std::out_of_range("ring_status_table: record " + execution_id(ref) +
                                " is no longer held");
    return slots_[ref.slot];
}

bool ring_status_table::holds(record_ref ref) const noexcept {
    return ref.seq != 0 && ref.slot < slots_.size() && slots_[ref.slot].seq == ref.seq;
}

// --- terminal fifo ------------------------------------------------------------------------
// A slot enters the fifo once (when its record becomes terminal) and leaves it only from the
// front (eviction or TTL), so a ring of `slots` entries never overflows and the front is always
// the record that became terminal earliest.

void ring_status_table::push_terminal(std::uint32_t index) noexcept {
    terminal_fifo_[(terminal_head_ + terminal_count_) % terminal_fifo_.size()] = index;
    ++terminal_count_;
}

std::uint32_t ring_status_table::pop_terminal() noexcept {
    const auto index = terminal_fifo_[terminal_head_];
    terminal_head_ = (terminal_head_ + 1) % terminal_fifo_.size();
    --terminal_count_;
    return index;
}

// Drops the (terminal, already unlinked from the fifo) record in `index` and frees the slot.
void ring_status_table::release(std::uint32_t index) {
    auto& s = slots_[index];
    --counts_[status_index(s.status)];
    if (!s.client_execution_id.empty()) {
        erase_client_entry(index);
        remember_dropped(s.function_name, s.client_execution_id);
    }
    s.seq = 0;
    ++evictions_;
    free_.push_back(index);
}

void ring_status_table::erase_client_entry(std::uint32_t index) {
    auto [first, last] = client_ids_.equal_range(std::string_view(slots_[index].client_execution_id));
    for (auto it = first; it != last; ++it)
        if (it->second == index) {
            client_ids_.erase(it);
            return;
        }
}

namespace {

std::uint64_t hash_client_id(std::string_view function_name, std::string_view client_id) {
    std::string scoped;
    scoped.reserve(function_name.size() + 1 + client_id.size());
    scoped.append(function_name).push_back('\0');
    scoped.append(client_id);
    return std::hash<std::string_view>{}(scoped);
}

void count_down(std::unordered_map<std::uint64_t, std::uint32_t>& counts, std::uint64_t key) {
    if (auto it = counts.find(key); it != counts.end() && --it->second == 0)
        counts.erase(it);
}

} // namespace

void ring_status_table::remember_dropped(std::string_view function_name,
                                         std::string_view client_id) {
    auto& entry = dropped_ring_[dropped_next_];
    if (entry.plain != 0 || entry.scoped != 0) { // the ring is full: forget the oldest
        count_down(dropped_plain_, entry.plain);
        count_down(dropped_scoped_, entry.scoped);
    }
    entry = {std::hash<std::string_view>{}(client_id), hash_client_id(function_name, client_id)};
    ++dropped_plain_[entry.plain];
    ++dropped_scoped_[entry.scoped];
    dropped_next_ = (dropped_next_ + 1) % dropped_ring_.size();
}

void ring_status_table::discard(record_ref ref) {
    auto* s = held_slot(ref);
    if (s == nullptr || s->status != ExecutionStatus::pending || s->ran)
        return;
    --counts_[status_index(s->status)];
    if (!s->client_execution_id.empty())
        erase_client_entry(ref.slot);
    s->seq = 0;
    free_.push_back(ref.slot);
}

std::uint64_t ring_status_table::request_hash(record_ref ref) const { return at(ref).request_hash; }

void ring_status_table::expire(steady_time now) {
    if (options_.ttl.count() == 0)
        return;
    // The fifo is in completion order, so the expired records are a prefix of it.
    while (terminal_count_ > 0) {
        const auto index = terminal_fifo_[terminal_head_];
        if (slots_[index].completed_steady + options_.ttl > now)
            break;
        pop_terminal();
        release(index);
    }
}

// --- insert -------------------------------------------------------------------------------

error ring_status_table::full_error(steady_time now) const {
    // Only reached when every slot is pending or running: the earliest of their expected
    // completions is the first moment a slot may become evictable.
    std::optional<steady_time> earliest;
    for (const auto& s : slots_)
        if (s.seq != 0 && (!earliest || s.expected_completion < *earliest))
            earliest = s.expected_completion;
    const auto wait = earliest ? elapsed_ms(now, *earliest) : std::int64_t{0};
    error e = error::make(error_code::status_table_full,
                          "the status table is full: all " + std::to_string(slots_.size()) +
                              " slots hold pending or running executions; retry later");
    e.retry_after_ms = std::max(limits::status_full_retry_ms_min, wait);
    return e;
}

std::variant<record_ref, error> ring_status_table::insert(const new_execution& e, steady_time now,
                                                          wall_time wall) {
    expire(now);
    if (free_.empty()) {
        if (terminal_count_ == 0)
            return full_error(now);
        release(pop_terminal()); // the record that became terminal earliest
    }
    const auto index = free_.back();
    free_.pop_back();

    // seq stays below 2^40 for ~35 years at 1000 executions/s; ids carry its low 40 bits.
    const std::uint64_t seq = next_seq_++;
    auto& s = slots_[index];
    s.seq = seq;
    s.boot = options_.boot;
    s.status = ExecutionStatus::pending;
    s.mode = e.mode;
    s.ran = false;
    s.function_name.assign(e.function_name);
    s.client_execution_id.assign(e.client_execution_id);
    s.request_hash = e.request_hash;
    s.client.clear();
    s.priority = 0;
    s.content_type.assign(default_content_type);
    s.error = error_code::none;
    s.error_message.clear();
    s.exit_code.reset();
    s.signal.reset();
    s.queued_steady = now;
    s.started_steady = {};
    s.completed_steady = {};
    s.expected_completion = e.expected_completion;
    s.queued_wall = wall;
    s.started_wall = {};
    s.completed_wall = {};
    s.queue_ms = 0;
    s.execution_time_ms = 0;
    s.output_kept = 0;
    s.output_size = 0;
    s.stderr_begin = 0;
    s.stderr_len = 0;
    ++counts_[status_index(ExecutionStatus::pending)];
    if (!e.client_execution_id.empty())
        client_ids_.emplace(std::string(e.client_execution_id), index);
    return record_ref{index, seq};
}

// --- lookup -------------------------------------------------------------------------------

lookup_result ring_status_table::find(std::string_view id, steady_time now) {
    expire(now);
    if (auto parts = parse_execution_id(id); parts && boot_of(parts->seq) == parts->boot) {
        const record_ref ref{parts->slot, parts->seq};
        if (parts->seq != 0 && parts->seq < next_seq_ && parts->slot < slots_.size()) {
            if (slots_[parts->slot].seq == parts->seq)
                return {lookup_status::found, ref};
            // Issued (seq is in the past) but the slot now holds another record or none.
            return {lookup_status::evicted, ref};
        }
    }
    // Not one of ours: it may be a caller's own execution id (which may even look like ours).
    if (id.empty())
        return {};
    lookup_result found;
    std::string_view function;
    for (auto [it, last] = client_ids_.equal_range(id); it != last; ++it) {
        const auto& s = slots_[it->second];
        if (!function.empty() && s.function_name != function)
            return {lookup_status::ambiguous, {}};
        function = s.function_name;
        if (s.seq > found.ref.seq)
            found = {lookup_status::found, record_ref{it->second, s.seq}};
    }
    if (found.status == lookup_status::found)
        return found;
    if (dropped_plain_.contains(std::hash<std::string_view>{}(id)))
        return {lookup_status::evicted, {}};
    return {};
}

lookup_result ring_status_table::find_client_id(std::string_view client_id,
                                                std::string_view function_name, steady_time now) {
    expire(now);
    if (client_id.empty())
        return {};
    lookup_result found;
    for (auto [it, last] = client_ids_.equal_range(client_id); it != last; ++it) {
        const auto& s = slots_[it->second];
        if (s.function_name == function_name && s.seq > found.ref.seq)
            found = {lookup_status::found, record_ref{it->second, s.seq}};
    }
    if (found.status == lookup_status::found)
        return found;
    if (dropped_scoped_.contains(hash_client_id(function_name, client_id)))
        return {lookup_status::evicted, {}};
    return {};
}

// --- transitions --------------------------------------------------------------------------

void ring_status_table::mark_running(record_ref ref, steady_time now, wall_time wall) {
    auto* s = held_slot(ref);
    // Only pending records start; a repeated or late call (the record already ran or ended)
    // changes nothing, so a cancel racing a start cannot resurrect a finished record.
    if (s == nullptr || s->status != ExecutionStatus::pending)
        return;
    --counts_[status_index(ExecutionStatus::pending)];
    ++counts_[status_index(ExecutionStatus::running)];
    s->status = ExecutionStatus::running;
    s->ran = true;
    s->started_steady = now;
    s->started_wall = wall;
    s->queue_ms = elapsed_ms(s->queued_steady, now);
}

void ring_status_table::append_output(record_ref ref, std::string_view bytes) {
    auto* s = held_slot(ref);
    if (s == nullptr || is_terminal(s->status)) // a finished record's output is final
        return;
    const std::size_t cap = options_.max_output_bytes;
    const std::size_t take = std::min(bytes.size(), cap - s->output_kept);
    if (take > 0) {
        std::memcpy(output_arena_.get() + std::size_t{ref.slot} * cap + s->output_kept,
                    bytes.data(), take);
        s->output_kept += take;
    }
    s->output_size += bytes.size();
}

void ring_status_table::set_client(record_ref ref, std::string_view client, int priority) {
    if (auto* s = held_slot(ref)) {
        s->client.assign(client);
        s->priority = priority;
    }
}

void ring_status_table::set_content_type(record_ref ref, std::string_view content_type) {
    if (auto* s = held_slot(ref))
        s->content_type.assign(content_type);
}

void ring_status_table::append_stderr(record_ref ref, std::string_view bytes) {
    auto* s = held_slot(ref);
    const std::size_t cap = options_.stderr_tail_bytes;
    if (s == nullptr || is_terminal(s->status) || cap == 0 || bytes.empty())
        return;
    char* ring = stderr_arena_.get() + std::size_t{ref.slot} * cap;
    if (bytes.size() >= cap) { // only its last `cap` bytes survive
        std::memcpy(ring, bytes.data() + (bytes.size() - cap), cap);
        s->stderr_begin = 0;
        s->stderr_len = cap;
        return;
    }
    const std::size_t write = (s->stderr_begin + s->stderr_len) % cap;
    const std::size_t first = std::min(bytes.size(), cap - write);
    std::memcpy(ring + write, bytes.data(), first);
    std::memcpy(ring, bytes.data() + first, bytes.size() - first);
    s->stderr_len += bytes.size();
    if (s->stderr_len > cap) { // the oldest bytes were overwritten
        s->stderr_begin = (s->stderr_begin + (s->stderr_len - cap)) % cap;
        s->stderr_len = cap;
    }
}

void ring_status_table::set_expected_completion(record_ref ref, steady_time when) {
    if (auto* s = held_slot(ref))
        s->expected_completion = when;
}

void ring_status_table::finish(record_ref ref, const execution_outcome& outcome, steady_time now,
                               wall_time wall) {
    auto* s = held_slot(ref);
    // A record ends once: a second finish (e.g. a cancel after the runtime reported) is ignored
    // so the first outcome and the fifo order stay as they were.
    if (s == nullptr || is_terminal(s->status))
        return;
    auto status = outcome.status;
    auto code = outcome.error;
    if (!is_terminal(status)) { // a caller bug; end the record anyway so its slot is not lost
        status = ExecutionStatus::failed;
        if (code == error_code::none)
            code = error_code::internal;
    }
    --counts_[status_index(s->status)];
    ++counts_[status_index(status)];
    if (s->ran) {
        s->execution_time_ms = elapsed_ms(s->started_steady, now);
    } else {
        s->queue_ms = elapsed_ms(s->queued_steady, now);
        s->execution_time_ms = 0;
    }
    s->status = status;
    s->error = code;
    // Cut on a character boundary, so the message stays valid text when it was valid text.
    s->error_message.assign(outcome.error_message, 0,
                            utf8_cut_point(outcome.error_message, limits::error_message_bytes));
    s->exit_code = outcome.exit_code;
    s->signal = outcome.signal;
    s->completed_steady = now;
    s->completed_wall = wall;
    push_terminal(ref.slot);
}

// --- reads --------------------------------------------------------------------------------

ExecutionResult ring_status_table::snapshot(record_ref ref, bool include_output,
                                            steady_time now) const {
    const auto& s = at(ref);
    ExecutionResult r;
    r.execution_id = execution_id(ref);
    r.client_execution_id = s.client_execution_id;
    r.function_name = s.function_name;
    r.mode = s.mode;
    r.status = s.status;
    r.client = s.client;
    r.priority = s.priority;
    r.content_type = s.content_type;
    if (include_output)
        r.output.assign(output_arena_.get() + std::size_t{ref.slot} * options_.max_output_bytes,
                        s.output_kept);
    r.output_size = s.output_size;
    r.output_truncated = s.output_size > s.output_kept;
    if (s.stderr_len > 0) {
        const std::size_t cap = options_.stderr_tail_bytes;
        const char* ring = stderr_arena_.get() + std::size_t{ref.slot} * cap;
        const std::size_t first = std::min(s.stderr_len, cap - s.stderr_begin);
        r.logs.reserve(s.stderr_len);
        r.logs.append(ring + s.stderr_begin, first);
        r.logs.append(ring, s.stderr_len - first);
    }
    r.error = s.error;
    r.error_message = s.error_message;
    r.exit_code = s.exit_code;
    r.signal = s.signal;
    r.queued_at = s.queued_wall;
    if (s.ran)
        r.started_at = s.started_wall;
    if (is_terminal(s.status))
        r.completed_at = s.completed_wall;
    switch (s.status) {
    case ExecutionStatus::pending:
        r.queue_ms = elapsed_ms(s.queued_steady, now);
        r.execution_time_ms = 0;
        break;
    case ExecutionStatus::running:
        r.queue_ms = s.queue_ms;
        r.execution_time_ms = elapsed_ms(s.started_steady, now);
        break;
    default:
        r.queue_ms = s.queue_ms;
        r.execution_time_ms = s.execution_time_ms;
        break;
    }
    r.seq = s.seq;
    return r;
}

ExecutionStatus ring_status_table::status(record_ref ref) const {
    return at(ref).status;
}

std::string_view ring_status_table::function_name(record_ref ref) const {
    return at(ref).function_name;
}

std::string_view ring_status_table::client(record_ref ref) const {
    return at(ref).client;
}

std::string ring_status_table::execution_id(record_ref ref) const {
    const auto boot = holds(ref) ? slots_[ref.slot].boot : boot_of(ref.seq).value_or(options_.boot);
    return format_execution_id({boot, ref.seq, ref.slot});
}

std::optional<std::uint32_t> ring_status_table::boot_of(std::uint64_t seq) const noexcept {
    if (seq >= options_.first_seq)
        return options_.boot;
    const auto& boots = options_.earlier_boots;
    // Newest first: boot i issued [first_seq_i, first_seq_{i+1}); the newest earlier boot up
    // to this boot's first seq.
    for (std::size_t i = boots.size(); i > 0; --i)
        if (seq >= boots[i - 1].first_seq)
            return boots[i - 1].nonce;
    return std::nullopt;
}

steady_time ring_status_table::started_steady(record_ref ref) const {
    return at(ref).started_steady;
}

steady_time ring_status_table::queued_steady(record_ref ref) const {
    return at(ref).queued_steady;
}

list_page ring_status_table::list(const list_query& query, steady_time now) {
    expire(now);
    const std::size_t limit = std::clamp<std::size_t>(query.limit, 1, list_limit_max);
    // O(capacity) scan. The cursor is a seq, and new records always get larger seqs, so pages
    // read while the ring wraps neither repeat nor skip a record that stays held.
    scratch_.clear();
    for (std::uint32_t i = 0; i < slots_.size(); ++i) {
        const auto& s = slots_[i];
        if (s.seq == 0 || (query.start_after_seq && s.seq >= *query.start_after_seq) ||
            (query.status && s.status != *query.status) ||
            (query.function_name && s.function_name != *query.function_name) ||
            (query.client && s.client != *query.client))
            continue;
        scratch_.push_back(i);
    }
    const std::size_t take = std::min(limit, scratch_.size());
    const auto newer = [this](std::uint32_t a, std::uint32_t b) {
        return slots_[a].seq > slots_[b].seq;
    };
    std::partial_sort(scratch_.begin(), scratch_.begin() + static_cast<std::ptrdiff_t>(take),
                      scratch_.end(), newer);

    list_page page;
    page.executions.reserve(take);
    for (std::size_t k = 0; k < take; ++k) {
        const auto index = scratch_[k];
        page.executions.push_back(snapshot(record_ref{index, slots_[index].seq}, false, now));
    }
    page.has_more = scratch_.size() > take;
    if (page.has_more)
        page.next_start_after = page.executions.back().execution_id;
    return page;
}

// --- durable results ----------------------------------------------------------------------

namespace {

std::int64_t to_epoch_ms(wall_time t) noexcept {
    return std::chrono::duration_cast<millis>(t.time_since_epoch()).count();
}

wall_time from_epoch_ms(std::int64_t ms) noexcept {
    return wall_time(std::chrono::duration_cast<wall_time::duration>(millis(ms)));
}

/// The steady point that was `wall_then` when `wall_now` is `now` (a time before this process
/// started maps to a steady point before `now`, as it should).
steady_time steady_from_wall(std::int64_t wall_then_ms, steady_time now, wall_time wall_now) {
    return now - millis(std::max<std::int64_t>(0, to_epoch_ms(wall_now) - wall_then_ms));
}

} // namespace

durable::record ring_status_table::export_record(record_ref ref, steady_time now) const {
    const auto r = snapshot(ref, true, now);
    const auto& s = at(ref);
    durable::record d;
    d.boot = s.boot;
    d.seq = s.seq;
    d.status = s.status;
    d.mode = s.mode;
    d.ran = s.ran;
    d.function_name = s.function_name;
    d.client_execution_id = s.client_execution_id;
    d.request_hash = s.request_hash;
    d.client = s.client;
    d.priority = s.priority;
    d.content_type = s.content_type;
    d.error = s.error;
    d.error_message = s.error_message;
    d.exit_code = s.exit_code;
    d.signal = s.signal;
    d.queued_wall_ms = to_epoch_ms(s.queued_wall);
    d.started_wall_ms = s.ran ? to_epoch_ms(s.started_wall) : 0;
    d.completed_wall_ms = is_terminal(s.status) ? to_epoch_ms(s.completed_wall) : 0;
    d.queue_ms = r.queue_ms;
    d.execution_time_ms = r.execution_time_ms;
    d.output_size = s.output_size;
    d.output = std::move(r.output);
    d.stderr_tail = std::move(r.logs);
    return d;
}

std::size_t ring_status_table::restore(std::vector<std::pair<std::uint32_t, durable::record>> records,
                                       steady_time now, wall_time wall) {
    std::size_t skipped = 0;
    std::vector<bool> used(slots_.size(), false);
    std::vector<std::uint32_t> terminal;
    std::unordered_map<std::uint64_t, bool> seen;
    for (auto& [index, d] : records) {
        if (index >= slots_.size() || used[index] || d.seq == 0 || d.seq >= next_seq_ ||
            !seen.emplace(d.seq, true).second) {
            ++skipped;
            continue;
        }
        used[index] = true;
        auto& s = slots_[index];
        s.seq = d.seq;
        s.boot = d.boot;
        s.status = d.status;
        s.mode = d.mode;
        s.ran = d.ran;
        s.function_name = d.function_name.substr(0, limits::function_name_bytes);
        s.client_execution_id = d.client_execution_id.substr(0, limits::client_execution_id_bytes);
        s.request_hash = d.request_hash;
        s.client = d.client.substr(0, limits::function_name_bytes);
        s.priority = d.priority;
        s.content_type = d.content_type;
        s.error = d.error;
        s.error_message.assign(d.error_message, 0,
                               utf8_cut_point(d.error_message, limits::error_message_bytes));
        s.exit_code = d.exit_code;
        s.signal = d.signal;
        s.queued_wall = from_epoch_ms(d.queued_wall_ms);
        s.started_wall = from_epoch_ms(d.started_wall_ms);
        s.completed_wall = from_epoch_ms(d.completed_wall_ms);
        s.queued_steady = steady_from_wall(d.queued_wall_ms, now, wall);
        s.started_steady = steady_from_wall(d.started_wall_ms, now, wall);
        s.completed_steady = steady_from_wall(d.completed_wall_ms, now, wall);
        s.expected_completion = now + millis(std::max<std::int64_t>(0, d.estimate_ms));
        s.queue_ms = d.queue_ms;
        s.execution_time_ms = d.execution_time_ms;
        const auto kept = std::min(d.output.size(), options_.max_output_bytes);
        if (kept > 0)
            std::memcpy(output_arena_.get() + std::size_t{index} * options_.max_output_bytes,
                        d.output.data(), kept);
        s.output_kept = kept;
        s.output_size = std::max<std::uint64_t>(d.output_size, kept);
        s.stderr_begin = 0;
        s.stderr_len = 0;
        ++counts_[status_index(s.status)];
        if (!s.client_execution_id.empty())
            client_ids_.emplace(s.client_execution_id, index);
        if (is_terminal(s.status))
            terminal.push_back(index);
        if (!d.stderr_tail.empty()) {
            // The record is terminal or about to be resolved by the caller; append_stderr
            // refuses terminal records, so copy the tail in directly.
            const std::size_t cap = options_.stderr_tail_bytes;
            const std::size_t take = std::min(d.stderr_tail.size(), cap);
            std::memcpy(stderr_arena_.get() + std::size_t{index} * cap,
                        d.stderr_tail.data() + (d.stderr_tail.size() - take), take);
            s.stderr_len = take;
        }
    }
    // Eviction order: the terminal records in completion order (earliest first).
    std::sort(terminal.begin(), terminal.end(), [this](std::uint32_t a, std::uint32_t b) {
        const auto& x = slots_[a];
        const auto& y = slots_[b];
        return x.completed_wall != y.completed_wall ? x.completed_wall < y.completed_wall
                                                    : x.seq < y.seq;
    });
    for (auto index : terminal)
        push_terminal(index);
    free_.clear();
    for (std::size_t i = slots_.size(); i > 0; --i)
        if (!used[i - 1])
            free_.push_back(static_cast<std::uint32_t>(i - 1));
    expire(now);
    return skipped;
}

// --- figures ------------------------------------------------------------------------------

std::array<std::size_t, status_count> ring_status_table::counts() const noexcept {
    return counts_;
}

std::size_t ring_status_table::capacity() const noexcept {
    return slots_.size();
}

std::size_t ring_status_table::size() const noexcept {
    return slots_.size() - free_.size();
}

std::uint64_t ring_status_table::evictions() const noexcept {
    return evictions_;
}

std::size_t ring_status_table::arena_bytes() const noexcept {
    return slots_.size() * (options_.max_output_bytes + options_.stderr_tail_bytes);
}

} // namespace spear::core
