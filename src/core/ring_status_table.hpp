// Fixed-capacity ring status table of execution records (docs/architecture.md): memory fixed at start,
// O(1) lookup by id, pending/running never evicted, TTL expiry, cursor-paginated listing.
#pragma once

#include "core/clock.hpp"
#include "core/durable_format.hpp"
#include "core/error_code.hpp"
#include "core/execution_id.hpp"
#include "core/execution_result.hpp"
#include "core/execution_types.hpp"

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

namespace spear::core {

struct ring_status_table_options {
    std::size_t slots = 1024;                ///< fixed capacity (>= 1, <= execution_id_max_slot+1)
    std::size_t max_output_bytes = 64 << 10; ///< output kept per record
    std::size_t stderr_tail_bytes = 4 << 10; ///< stderr tail kept per record
    std::chrono::seconds ttl{3600};          ///< terminal records expire after this (0 = never)
    std::uint32_t boot = 0;                  ///< boot nonce written into every id
    /// The first seq this boot issues: 1 in memory; with durable results, seqs continue
    /// across boots (the file's seq hint), so one seq names one execution ever.
    std::uint64_t first_seq = 1;
    /// Earlier boots whose ids may still be asked for (durable results), oldest first: boot i
    /// issued seqs [first_seq_i, first_seq_{i+1}) and the last one up to `first_seq`. Their
    /// ids answer found while held, 410 once dropped; other ids 404.
    std::vector<durable::boot_entry> earlier_boots{};
};

/// Data for a new record (status pending).
struct new_execution {
    std::string_view function_name;
    std::string_view client_execution_id; ///< may be empty; scoped to the function
    ExecutionMode mode = ExecutionMode::sync;
    steady_time expected_completion{}; ///< used to compute Retry-After when the table is full
    std::uint64_t request_hash = 0;    ///< binds the client id to one request (idempotency)
};

/// A reference to a live record: its slot and the seq it was issued with.
struct record_ref {
    std::uint32_t slot = 0;
    std::uint64_t seq = 0;
    friend bool operator==(const record_ref&, const record_ref&) = default;
};

enum class lookup_status : std::uint8_t {
    found,     ///< the record is held
    not_found, ///< never issued by this boot (or not an id at all)
    evicted,   ///< issued, but the slot was reused or the record expired
    ambiguous, ///< a client id that records of several functions carry
};

struct lookup_result {
    lookup_status status = lookup_status::not_found;
    record_ref ref{};
};

struct list_query {
    std::optional<std::string> function_name; ///< exact match
    std::optional<ExecutionStatus> status;
    std::optional<std::string> client; ///< exact match of the record's client name
    std::optional<std::uint64_t> start_after_seq; ///< newest-first: only seq < this
    std::size_t limit = 50;
};

struct list_page {
    std::vector<ExecutionResult> executions; ///< newest first, output omitted
    bool has_more = false;
    std::string next_start_after; ///< id of the last item when has_more, else empty
};

class ring_status_table {
public:
    /// Allocates every buffer; throws std::invalid_argument for slots outside
    /// [1, execution_id_max_slot + 1] or buffer sizes whose product overflows.
    explicit ring_status_table(const ring_status_table_options& options);
    ~ring_status_table(); // out of line: `slot` is defined in the .cpp

    ring_status_table(const ring_status_table&) = delete;
    ring_status_table& operator=(const ring_status_table&) = delete;

    /// Takes an empty slot, else the slot whose record became terminal earliest, and records
    /// `e` as pending. Expires TTL'd records first. When every slot is pending or running it
    /// refuses with status_table_full and retry_after_ms = time until the earliest
    /// expected_completion among them (at least 1000).
    std::variant<record_ref, error> insert(const new_execution& e, steady_time now, wall_time wall);

    /// Resolves an id: ours, else a client-supplied execution id (found when the records
    /// that carry it belong to one function, ambiguous when to several, evicted when its
    /// record was dropped not long ago: see find_client_id).
    lookup_result find(std::string_view id, steady_time now);
    /// Resolves a client-supplied execution id within one function (client ids are scoped to
    /// their function): the newest held record of `function_name` carrying it; evicted when
    /// such a record was dropped and no newer one holds the id (the table remembers the last
    /// `slots` dropped client ids, by 64-bit hash); else not_found.
    lookup_result find_client_id(std::string_view client_id, std::string_view function_name,
                                 steady_time now);
    /// The seq the next successful insert will take (keys the scheduler before the insert).
    std::uint64_t next_seq() const noexcept { return next_seq_; }
    /// The request hash the record was inserted with.
    std::uint64_t request_hash(record_ref ref) const;
    /// Drops a record that was inserted but never handed out (a submission the scheduler
    /// refused): its slot is free again and its id is as if never issued. Ignored unless
    /// `ref` is held and pending.
    void discard(record_ref ref);
    /// True if `ref` still names a held record.
    bool holds(record_ref ref) const noexcept;

    // Mutators ignore a ref that is no longer held (its record ended and was dropped).
    // Readers (snapshot, status, function_name, *_steady) throw std::out_of_range for one;
    // execution_id() formats any ref.

    /// pending -> running. Records started_at and queue_ms.
    void mark_running(record_ref ref, steady_time now, wall_time wall);
    /// Appends output; bytes beyond max_output_bytes are counted, not kept (output_truncated).
    void append_output(record_ref ref, std::string_view bytes);
    /// Sets who submitted it and the priority it was scheduled with (default: "" and 0).
    void set_client(record_ref ref, std::string_view client, int priority);
    /// Sets the output content type (defaults to "application/octet-stream").
    void set_content_type(record_ref ref, std::string_view content_type);
    /// Appends to the stderr tail; only the last stderr_tail_bytes are kept.
    void append_stderr(record_ref ref, std::string_view bytes);
    /// Updates the expected completion time (service calls it as estimates change).
    void set_expected_completion(record_ref ref, steady_time when);
    /// pending|running -> terminal. Records completed_at, execution_time_ms, outcome.
    /// A record ended while pending keeps execution_time_ms = 0.
    void finish(record_ref ref, const execution_outcome& outcome, steady_time now, wall_time wall);

    /// The record's current state; `include_output=false` leaves output empty (size still set).
    /// Times of a live record (queue_ms / execution_time_ms so far) are computed against `now`.
    ExecutionResult snapshot(record_ref ref, bool include_output, steady_time now) const;
    ExecutionStatus status(record_ref ref) const;
    std::string_view function_name(record_ref ref) const;
    std::string_view client(record_ref ref) const; ///< the submitting client's name
    std::string execution_id(record_ref ref) const;
    steady_time started_steady(record_ref ref) const; ///< valid once running
    steady_time queued_steady(record_ref ref) const;

    /// Newest-first page of held records matching the filters (expires TTL'd records first).
    list_page list(const list_query& query, steady_time now);

    /// Held records per status, indexed by static_cast<size_t>(status) - 1.
    std::array<std::size_t, status_count> counts() const noexcept;
    std::size_t capacity() const noexcept;
    std::size_t size() const noexcept;        ///< held records
    std::uint64_t evictions() const noexcept; ///< records dropped to make room or by TTL
    /// Bytes allocated at construction for output and stderr buffers (the table's memory).
    std::size_t arena_bytes() const noexcept;

    /// Drops terminal records whose completion is older than the TTL.
    void expire(steady_time now);

    // --- durable results (service/durable_store persists what these export) --------------

    /// The record as persisted (no input: the service adds what re-running needs). Wall
    /// times as ms since the epoch; queue and run times final or measured against `now`.
    durable::record export_record(record_ref ref, steady_time now) const;
    /// Places records read back at start into their slots (on an empty table, before any
    /// insert): pending ones stay pending (the service starts them), terminal ones go into
    /// the eviction order by completion time, running ones must have been resolved by the
    /// caller (restored as given). Steady times are rebuilt from wall times against (now,
    /// wall); expired records are dropped. Records with a seq at or past `first_seq`, a slot
    /// out of range or a seq already restored are skipped and counted in the result.
    std::size_t restore(std::vector<std::pair<std::uint32_t, durable::record>> records,
                        steady_time now, wall_time wall);

private:
    struct slot;
    slot& at(record_ref ref);
    const slot& at(record_ref ref) const;
    slot* held_slot(record_ref ref) noexcept; ///< nullptr unless `ref` is held
    void release(std::uint32_t index);
    void push_terminal(std::uint32_t index) noexcept;
    std::uint32_t pop_terminal() noexcept;
    error full_error(steady_time now) const;
    /// The boot nonce of the ids with this seq (the current boot unless an earlier one
    /// issued it); nullopt when no known boot did.
    std::optional<std::uint32_t> boot_of(std::uint64_t seq) const noexcept;

    ring_status_table_options options_;
    std::vector<slot> slots_;
    std::unique_ptr<char[]> output_arena_;
    std::unique_ptr<char[]> stderr_arena_;
    std::vector<std::uint32_t> free_;          ///< never-used or released slots (stack)
    std::vector<std::uint32_t> terminal_fifo_; ///< ring of slots in order of becoming terminal
    std::size_t terminal_head_ = 0;
    std::size_t terminal_count_ = 0;
    /// Lets client_ids_ be searched with a string_view, without building a string.
    struct string_hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept {
            return std::hash<std::string_view>{}(s);
        }
    };
    /// client id -> slot, one entry per held record carrying it (of any function)
    std::unordered_multimap<std::string, std::uint32_t, string_hash, std::equal_to<>> client_ids_;
    /// Client ids of dropped records, newest last: a ring of `slots` entries, counted by hash
    /// so a lookup is O(1). `scoped` hashes the function name with the id.
    struct dropped_client_id {
        std::uint64_t plain = 0;
        std::uint64_t scoped = 0;
    };
    std::vector<dropped_client_id> dropped_ring_;
    std::size_t dropped_next_ = 0;
    std::unordered_map<std::uint64_t, std::uint32_t> dropped_plain_;
    std::unordered_map<std::uint64_t, std::uint32_t> dropped_scoped_;
    void remember_dropped(std::string_view function_name, std::string_view client_id);
    void erase_client_entry(std::uint32_t index);
    std::array<std::size_t, status_count> counts_{};
    std::uint64_t next_seq_ = 1;
    std::uint64_t evictions_ = 0;
    std::vector<std::uint32_t> scratch_; ///< list() matches; reserved to slots, reused
};

} // namespace spear::core
