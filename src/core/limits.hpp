// Every limit of the appliance in one place: its default, its hard ceiling, and why (docs/operations.md).
// Config may lower a limit (or raise it up to the ceiling); nothing else defines one.
// Every duration has a ceiling too: no config value or header can make a timer deadline or a
// sum of durations overflow (the largest sum, the sync wait bound, stays below 2^63 ns).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace spear::core::limits {

// --- HTTP ---------------------------------------------------------------------------------
/// Request body: inputs for gateway functions are small; 1 MiB bounds memory per connection.
inline constexpr std::size_t http_body_bytes = 1 << 20;
inline constexpr std::size_t http_body_bytes_max = 64 << 20;
/// Request header block: Beast's default; devices send a handful of short headers.
inline constexpr std::size_t http_header_bytes = 8 << 10;
/// Concurrent HTTP connections: each holds a buffer and a coroutine frame; bounds memory and fds.
inline constexpr std::size_t http_connections = 256;
inline constexpr std::size_t http_connections_max = 10000;
/// Time to receive a whole request header: a half-sent request cannot hold a slot forever.
inline constexpr std::uint32_t http_header_timeout_ms = 10'000;
inline constexpr std::uint32_t http_header_timeout_ms_max = 300'000; // 5 min: the peer is stuck
/// Idle keep-alive time between requests before the server closes the connection.
inline constexpr std::uint32_t http_idle_timeout_ms = 60'000;
inline constexpr std::uint32_t http_idle_timeout_ms_max = 3'600'000; // 1 h of an idle fd is plenty
/// Longest `?wait_ms=` long-poll: long enough to save chatter, short enough for proxies.
inline constexpr std::uint32_t long_poll_ms = 30'000;
inline constexpr std::uint32_t long_poll_ms_max = 300'000;
/// Grace period on SIGTERM for in-flight sync requests before their executions are cancelled.
inline constexpr std::uint32_t shutdown_grace_ms = 5'000;
/// At shutdown, time for connections to write their last responses (and again to close).
inline constexpr std::chrono::milliseconds connection_drain{1'000};
/// 5 min: a service manager's stop timeout (systemd: 90 s by default) must exceed the grace.
inline constexpr std::uint32_t shutdown_grace_ms_max = 300'000;
/// Time allowed to write one HTTP response: a client that stops reading cannot hold a slot.
inline constexpr std::chrono::seconds http_write_timeout{30};
/// Time to write the 429 answer to a connection over the limit before it is closed: the
/// refusal must not become a slot of its own (HTTP and frame listeners alike).
inline constexpr std::chrono::seconds refusal_write_timeout{2};
/// After a failed accept (EMFILE and friends), the listener pauses this long and goes on:
/// long enough not to spin, short enough to serve again as soon as a descriptor frees.
inline constexpr std::chrono::milliseconds accept_retry_pause{50};
/// How often the appliance looks at its allocator's free heap, and how much free heap it keeps
/// before returning pages to the OS: after a burst RSS comes back within seconds, and an
/// appliance at rest never trims (a trim costs about a millisecond per 20 MB returned).
inline constexpr std::chrono::milliseconds heap_trim_period{2'000};
inline constexpr std::size_t heap_trim_free_bytes = 8u << 20;
/// Node id (the `node_id` config field, echoed in headers): a host name fits.
inline constexpr std::size_t node_id_bytes = 128;
/// Records in one page of `GET /executions`: with stderr tails of 4 KiB this bounds one
/// listing response to a few MiB, whatever the query asks.
inline constexpr std::size_t list_page_records_max = 1000;
/// Longest `Prefer: respond-async, wait=N` (seconds): no execution may run longer than the
/// longest timeout, so a larger N means nothing more; it is capped to this, never rejected.
inline constexpr std::uint32_t prefer_wait_s_max = 3'600;

// --- Status table -------------------------------------------------------------------------
/// Ring status table slots: 1024 recent executions is hours of history on a busy gateway.
inline constexpr std::size_t status_slots = 1024;
inline constexpr std::size_t status_slots_max = 1 << 20;
/// Output kept per record: 64 KiB covers sensor payloads; larger output is truncated and flagged.
inline constexpr std::size_t output_bytes = 64 << 10;
inline constexpr std::size_t output_bytes_max = 16 << 20;
/// Stderr tail kept per record: the last lines are the ones that explain a failure.
inline constexpr std::size_t stderr_tail_bytes = 4 << 10;
/// Error message kept per record; longer ones are cut.
inline constexpr std::size_t error_message_bytes = 512;
/// Terminal records expire after this long even if their slot is not needed (0 = never).
inline constexpr std::uint32_t record_ttl_s = 3600;
/// 30 days: older records help nobody, and ttl_s * 1000 still fits 32 bits.
inline constexpr std::uint32_t record_ttl_s_max = 2'592'000;

// --- Durable results (node.data_dir) ------------------------------------------------------
/// Input (plus request environment) kept per slot so a pending execution can run after a
/// restart: as much as the output cap by default; a larger input is refused (413) when
/// results are durable, since "accepted" promises it will run.
inline constexpr std::size_t persisted_input_bytes = 64 << 10;
inline constexpr std::size_t persisted_input_bytes_max = 16 << 20;
/// `durability: batched` msyncs dirty pages at most this often: a power cut loses at most
/// this much of the newest changes, and one msync of a few pages costs the loop ~1 ms.
inline constexpr std::uint32_t durable_sync_interval_ms = 200;
inline constexpr std::uint32_t durable_sync_interval_ms_max = 60'000;

// --- History and estimates ----------------------------------------------------------------
/// Rolling window of recent runs per function: enough for a stable median, quick to follow drift.
inline constexpr std::size_t history_window = 32;
inline constexpr std::size_t history_window_max = 1024;
/// Typical duration assumed for a function with no history and no `expected_ms`.
inline constexpr std::uint32_t default_expected_ms = 1'000;

// --- Scheduling and execution -------------------------------------------------------------
/// Executions running at once across all functions: a 2-core gateway saturates quickly.
inline constexpr std::size_t global_concurrency = 16;
inline constexpr std::size_t global_concurrency_max = 4096;
/// Executions of one function running at once, unless its config says otherwise.
inline constexpr std::size_t function_concurrency = 4;
/// Pending executions queued per function; beyond it callers get 429 with Retry-After.
inline constexpr std::size_t queue_depth = 64;
inline constexpr std::size_t queue_depth_max = 100'000;
/// Priorities run 0..9 (higher starts first): ten levels are plenty for a gateway and keep
/// the aging bound (9 x priority_aging_ms) easy to state.
inline constexpr int priority_max = 9;
/// One priority level is worth this much waiting (aging): a waiting execution's effective
/// priority rises one level per this many ms, so a priority-0 execution is overtaken only by
/// executions submitted less than 9 x this after it (docs/architecture.md).
inline constexpr std::uint32_t priority_aging_ms = 1'000;
inline constexpr std::uint32_t priority_aging_ms_max = 3'600'000; // 1 h per level: no aging
/// Named client tokens (http.tokens): each is checked on every request; a handful is usual.
inline constexpr std::size_t http_tokens_max = 64;
/// Highest rate_per_s of a client token: beyond it the HTTP server is the limit anyway.
inline constexpr std::uint32_t client_rate_per_s_max = 100'000;
/// Execution timeout when neither the function nor the request sets one.
inline constexpr std::uint32_t execution_timeout_ms = 30'000;
/// Longest timeout a function or request may ask for: 1 hour.
inline constexpr std::uint32_t execution_timeout_ms_max = 3'600'000;
/// SIGTERM-to-SIGKILL grace when stopping a process group.
inline constexpr std::uint32_t kill_grace_ms = 2'000;
/// Escaped processes (setsid out of their group) are swept when a run ends, and again at this
/// interval while sweeps still kill some: a killed escapee's children come back one level at a
/// time. 40 rounds of 50 ms cover a 40-deep chain of daemonising forks in 2 s.
inline constexpr std::chrono::milliseconds escape_sweep_interval{50};
inline constexpr int escape_sweep_rounds = 40;
/// A cancel waits the kill grace plus this for the runtime to confirm the stop (reaping a
/// SIGKILLed group is quick; a runtime that takes longer is reported as still stopping).
inline constexpr std::chrono::milliseconds cancel_confirm_margin{2'000};
/// Shutdown waits the kill grace plus this for every killed execution to report its end.
inline constexpr std::chrono::milliseconds shutdown_stop_margin{3'000};
/// 1 min: a function still handling SIGTERM after that is stuck; every stop, every sync wait
/// bound (times the queue depth) and the shutdown wait add it.
inline constexpr std::uint32_t kill_grace_ms_max = 60'000;
/// Smallest retry hint when the status table is full: even if the earliest expected end is
/// now, a client that retries at once only finds the table full again.
inline constexpr std::int64_t status_full_retry_ms_min = 1'000;
/// Function and execution-id strings: short enough for microcontroller frames.
inline constexpr std::size_t function_name_bytes = 64;
inline constexpr std::size_t client_execution_id_bytes = 64;
/// Request `environment` entries accepted per call.
inline constexpr std::size_t request_env_entries = 32;

// --- Streaming (WebSocket / SSE viewers) --------------------------------------------------
/// Largest WebSocket message accepted from a client (the invoke request).
inline constexpr std::size_t ws_message_bytes = 1 << 20;
/// Viewers attached to one execution: each holds a queue and a socket.
inline constexpr std::size_t viewers_per_execution = 64;
inline constexpr std::size_t viewers_per_execution_max = 4096;
/// Messages queued per viewer before the oldest chunks are dropped (slow-viewer policy).
inline constexpr std::size_t viewer_queue_messages = 256;
/// Queued messages a WebSocket viewer that is behind takes into one write (one system call):
/// 32 frames are 64 buffers, Asio's most per gathered write; at 1000 viewers one call per
/// message per viewer was what bounded the fan-out.
inline constexpr std::size_t viewer_write_batch = 32;
/// Recent chunks kept per execution for late joiners.
inline constexpr std::size_t replay_chunks = 64;
/// A viewer whose socket accepts nothing for this long is disconnected (its queue already
/// drops chunks; this frees the connection of one that stopped reading altogether).
inline constexpr std::uint32_t viewer_write_timeout_ms = 30'000;
inline constexpr std::uint32_t viewer_write_timeout_ms_max = 300'000; // 5 min: the viewer is gone
/// WebSocket opening and closing handshakes (the 101 write; the client's answer to our close):
/// the data is already sent, a peer that does not answer within 5 s is gone. Beast's own
/// default is 30 s. stream.write_timeout_ms lowers it further.
inline constexpr std::uint32_t ws_handshake_ms = 5'000;
/// A /stream client must send its request this soon after the upgrade: a connection that
/// answers pings but never asks would otherwise hold a slot until the idle timeout.
inline constexpr std::uint32_t stream_first_message_ms = 10'000;
/// Largest chunk forwarded in one stream message; longer reads are split.
inline constexpr std::size_t stream_chunk_bytes = 16 << 10;
/// Time to write the HTTP error that refuses a /stream request before the upgrade: a client
/// that sent a bad request and stopped reading cannot hold the connection.
inline constexpr std::chrono::seconds stream_refusal_write_timeout{10};
/// An SSE viewer gets a comment line this often while no event flows: proxies close
/// connections idle for ~30-60 s, and a dead client is found by the failing write.
inline constexpr std::chrono::seconds sse_keepalive{15};
/// The WebSocket write watchdog ticks at a quarter of the write timeout, but never more often
/// than this: a tiny timeout must not turn the watchdog into a busy loop.
inline constexpr std::chrono::milliseconds write_watchdog_period_min{50};

// --- Frames (nanopb over TCP / serial) ----------------------------------------------------
/// Largest frame accepted or sent: fits a microcontroller's static buffer.
inline constexpr std::size_t frame_bytes = 4 << 10;
/// Frame link keys (frame.peers): at least 128 bits; at most one SHA-256 block (longer keys
/// are hashed by HMAC anyway). Key ids fit LinkHello.key_id (max_size 33 in the .options).
inline constexpr std::size_t frame_key_bytes_min = 16;
inline constexpr std::size_t frame_key_bytes_max = 64;
inline constexpr std::size_t frame_key_id_bytes = 32;
/// Peers with keys: the hello's key lookup is linear, and a gateway has a few dozen at most.
inline constexpr std::size_t frame_peers_max = 1024;
/// Authentication rejections logged per link per window (the rest are counted only): a
/// hostile peer must not flood the log.
inline constexpr std::size_t frame_auth_log_burst = 5;
inline constexpr std::chrono::milliseconds frame_auth_log_window{60'000};
/// Smallest frame limit: every answer (an error, a cut output, a split chunk) must fit.
inline constexpr std::size_t frame_bytes_min = 512;
inline constexpr std::size_t frame_bytes_max = 64 << 10;
/// Requests one frame link may have outstanding at once.
inline constexpr std::size_t frame_outstanding = 8;
/// TCP frame links served at once: each holds max_outstanding + 4 frames of buffers and a
/// coroutine per request; the microcontrollers of one gateway are tens, not thousands.
inline constexpr std::size_t frame_tcp_links = 128;
/// Longest status long-poll (`status_request.wait_ms`) a frame peer may ask for; as for HTTP.
inline constexpr std::uint32_t frame_long_poll_ms = long_poll_ms;
inline constexpr std::uint32_t frame_long_poll_ms_max = long_poll_ms_max;
/// A frame peer that accepts no byte for this long is cut off (its link is closed); as for
/// viewers, since a frame link streams output like one.
inline constexpr std::uint32_t frame_write_timeout_ms = viewer_write_timeout_ms;
inline constexpr std::uint32_t frame_write_timeout_ms_max = viewer_write_timeout_ms_max;
/// A serial port that failed to open or closed is opened again after this long: an unplugged
/// USB adapter comes back within seconds, and a retry costs one failing open().
inline constexpr std::chrono::milliseconds frame_serial_reopen_delay{1'000};
/// Bytes asked of the OS per frame-link read: a few frames of a fast peer, one syscall per burst.
inline constexpr std::size_t frame_read_chunk_bytes = 4 << 10;
/// Retry hint of a request refused for frame.max_outstanding: a microcontroller's requests
/// end within milliseconds, so a short pause frees a slot.
inline constexpr std::int64_t frame_outstanding_retry_ms = 100;
/// Frames queued for a link's writer beyond one per outstanding request: room for the Error
/// frames and pongs the reader sends itself.
inline constexpr std::size_t frame_queue_headroom = 4;
/// A frame link with no traffic for this long is closed (TCP only).
inline constexpr std::uint32_t frame_idle_timeout_ms = 300'000;
inline constexpr std::uint32_t frame_idle_timeout_ms_max = 86'400'000; // 1 day; 0 = never

// --- Process runtime ----------------------------------------------------------------------
/// Bytes read from a function's stdout/stderr per read, and the largest chunk handed to the
/// sink: one stream chunk (the caller caps what is stored).
inline constexpr std::size_t process_read_bytes = stream_chunk_bytes;
/// Once the process group is gone, how long its pipes may still deliver before they are
/// closed: a process that escaped the group (setsid) may hold them open indefinitely.
inline constexpr std::chrono::milliseconds process_drain_bound{500};
/// Exit polling interval, only used when the kernel has no pidfd_open (before Linux 5.3).
inline constexpr std::chrono::milliseconds process_exit_poll_interval{20};
/// The highest descriptor number a child closes one by one before exec: fs.nr_open's default.
/// Only reached with neither close_range nor /proc; a soft RLIMIT_NOFILE above it fails the
/// spawn instead of spending seconds in close().
inline constexpr std::uint64_t child_close_fds_max = 1 << 20;
/// Per-execution cgroups (process.cgroups): after the kill a run waits this long for its
/// cgroup to empty (SIGKILLed processes exit in microseconds; one stuck in the kernel, D state,
/// may not) before it ends; removal then goes on in the background.
inline constexpr std::chrono::milliseconds cgroup_empty_wait{2'000};
/// Polling the emptying cgroup: from the first interval, doubling up to the last.
inline constexpr std::chrono::milliseconds cgroup_poll_first{1};
inline constexpr std::chrono::milliseconds cgroup_poll_last{50};
/// The background removal gives up after this (logged); the next start's sweep removes it.
inline constexpr std::chrono::milliseconds cgroup_remove_bound{60'000};
/// Without cgroup.kill (Linux < 5.14): passes of SIGKILL to each pid in cgroup.procs, one
/// call; a fork between reading and killing is caught by the next pass (or the next poll).
inline constexpr int cgroup_kill_passes = 8;
/// exec-<n> names tried when one exists already (a leftover the start sweep could not remove).
inline constexpr int cgroup_name_attempts = 16;

// --- Container runtime (docs/operations.md "Containers") ---------------------------------
/// Connecting to the engine's unix socket is local and instant when it listens: a longer
/// wait only delays the "engine not reachable" answer.
inline constexpr std::uint32_t container_connect_timeout_ms = 2'000;
inline constexpr std::uint32_t container_connect_timeout_ms_max = 60'000;
/// One engine request (create, start, inspect, remove): a busy engine takes seconds to
/// create a container; beyond this it is stuck and the execution fails.
inline constexpr std::uint32_t container_request_timeout_ms = 30'000;
inline constexpr std::uint32_t container_request_timeout_ms_max = 300'000;
/// Memory of a container unless its function says otherwise: 256 MiB, a fair share of a
/// gateway's RAM; the container is killed by the kernel beyond it.
inline constexpr std::uint64_t container_memory_bytes = 256ULL << 20;
/// The smallest memory limit: the engines refuse less than 6 MiB.
inline constexpr std::uint64_t container_memory_bytes_min = 6ULL << 20;
inline constexpr std::uint64_t container_memory_bytes_max = 1ULL << 40;
/// CPU of a container in thousandths of a CPU (1000 = one core): a 2-core gateway keeps a
/// core for the appliance and the other functions.
inline constexpr std::uint64_t container_milli_cpus = 1'000;
inline constexpr std::uint64_t container_milli_cpus_max = 1'024'000;
/// Processes in a container: stops a fork bomb; a function needs a handful.
inline constexpr std::uint64_t container_pids = 256;
inline constexpr std::uint64_t container_pids_max = 4'194'304; // Linux's pid_max ceiling
/// Largest engine answer read (an inspect is ~10 KiB, a container list a few per container).
inline constexpr std::size_t container_response_bytes = 4 << 20;
/// Bytes asked of the OS per read of an engine connection (and the largest output chunk).
inline constexpr std::size_t container_read_bytes = stream_chunk_bytes;
/// GET /health looks at the engine again when its last look is older than this: a health
/// probe every few seconds must not become an engine request each.
inline constexpr std::chrono::milliseconds container_health_interval{5'000};
/// Once a container's output has ended, its state is inspected until it no longer runs, the
/// pause doubling from 2 ms up to this: the exit is recorded within milliseconds, and a
/// process that closed its output but runs on costs one inspect per this long.
inline constexpr std::chrono::milliseconds container_exit_poll_max{50};

// --- WebAssembly execution (docs/wasm.md) ---------------------------------------------------
/// Instructions a guest runs before the io_context gets the thread back. wabt's interpreter
/// runs ~100-130 M instructions/s on this class of core (release build), so 30 000 is
/// ~0.25 ms. An HTTP request takes a few io_context rounds, each waiting up to one slice
/// per running guest: measured, GET /health beside a computing guest answered at p50
/// 3.7 ms with 100 000, 1.0 ms with 30 000 and 0.4 ms with 10 000, while the guest lost
/// < 2 % at 30 000 and 13 % at 10 000 (tools/bench/wasm_bench.py).
inline constexpr std::uint64_t wasm_slice_instructions = 30'000;
/// A slice also ends once it has run this long (checked every sub-slice), so a slower
/// build (sanitizers: ~10x) or a slower core keeps the same latency bound.
inline constexpr std::chrono::microseconds wasm_slice_time{300};
/// Instructions between two clock reads within a slice: a clock read is ~20 ns, 10 000
/// instructions ~0.1 ms, so the check costs nothing and the slice time overshoots little.
inline constexpr std::uint64_t wasm_sub_slice_instructions = 10'000;
/// The slice while other work is ready (see wasm_contention_gap): an HTTP request takes a
/// few io_context rounds, each waiting up to one slice, so 300 us slices made GET /health
/// ~10x slower beside a computing guest; 25 us keeps it within 2x of idle while the guest
/// pays the per-slice cost (a post and a reactor poll, a few us) only while others wait.
inline constexpr std::chrono::microseconds wasm_slice_time_contended{25};
/// Sub-slice while contended: 2 048 instructions are ~20 us, so the 25 us bound holds.
inline constexpr std::uint64_t wasm_sub_slice_instructions_contended = 2'048;
/// A guest's continuation that comes back later than this after its post found other
/// handlers run in between (an idle round trip, a post and a reactor poll, is ~1-3 us).
inline constexpr std::chrono::microseconds wasm_contention_gap{15};
/// After a contended round the short slices last this long: a client's request arrives in
/// several rounds, and the first round of the next request should not wait a long slice.
inline constexpr std::chrono::milliseconds wasm_contention_window{20};
/// Instructions the engine runs between two looks at the slice budget (instruction counting
/// is by these chunks): small beside a slice, large enough that the check costs nothing.
inline constexpr std::uint64_t wasm_instruction_chunk = 1'024;
/// Largest module file read (a decoded module takes ~3x its size in memory).
inline constexpr std::size_t wasm_module_bytes = 64 << 20;
/// Linear memory a function gets unless its `max_memory_pages` says otherwise: 256 pages of
/// 64 KiB = 16 MiB, plenty for a filter, small beside a gateway's RAM.
inline constexpr std::uint32_t wasm_memory_pages = 256;
/// wasm32 linear memory: 65536 pages of 64 KiB is the whole 4 GiB address space.
inline constexpr std::uint64_t wasm_memory_pages_max = 65536;
/// Function-table entries a module may declare (8 bytes each: 512 KiB at most).
inline constexpr std::uint32_t wasm_table_elements = 65536;
/// Files a guest may have open at once (beyond it: EMFILE); each is a host fd.
inline constexpr std::size_t wasm_open_files = 32;
/// iovec entries per WASI read or write call (Linux's IOV_MAX).
inline constexpr std::uint32_t wasm_iovecs = 1024;

// --- WebAssembly host calls (docs/wasm.md "Metering") --------------------------------------
/// Guest memory one WASI call may touch: reads and writes beyond it are short (as POSIX
/// allows), other calls answer EINVAL. 64 KiB is ~0.1 ms of copying: less than one slice.
inline constexpr std::size_t wasm_host_call_bytes = 64 << 10;
/// Instructions every WASI call is charged: a host call is never free work.
inline constexpr std::uint64_t wasm_host_call_cost = 100;
/// Bytes of guest memory a WASI call touches per instruction charged (a copy moves ~8 bytes
/// in the time the interpreter runs one instruction, and output is copied again downstream).
inline constexpr std::uint64_t wasm_host_bytes_per_instruction = 8;
/// Instructions charged per file-system operation (open, stat, read of a mapped file): a
/// syscall walking a path costs about as much as 1 000 interpreted instructions.
inline constexpr std::uint64_t wasm_host_fs_op_cost = 1'000;
/// Instructions charged per directory entry read from the host (delivered or skipped).
inline constexpr std::uint64_t wasm_host_dirent_cost = 16;
/// Longest path a WASI call accepts (Linux's PATH_MAX): a longer one is ENAMETOOLONG.
inline constexpr std::size_t wasm_path_bytes = 4096;

// --- WebAssembly AOT tier (docs/wasm.md "Tiers") ---------------------------------------------
/// Call depth of compiled modules (wasm2c's counted depth): the interpreter's 1 638 frames
/// (wabt's 64 KiB call stack), so a recursion traps at the same depth in both tiers.
inline constexpr std::uint32_t wasm_aot_call_depth = 1638;
/// The AOT worker's own memory beyond the guest's pages (RLIMIT_DATA): libc, the module's
/// data, the WASI layer's 64 KiB buffers; generous, since the guest's pages are capped apart.
inline constexpr std::uint64_t wasm_aot_worker_overhead_bytes = 64ull << 20;
/// Address space wasm-rt reserves per memory for its guard pages (PROT_NONE, not memory):
/// RLIMIT_AS is this plus the guest's pages plus 4x the overhead.
inline constexpr std::uint64_t wasm_aot_guard_reservation_bytes = 8ull << 30;
/// Descriptors the worker may hold (RLIMIT_NOFILE): stdio, the mapped directories and the
/// guest's wasm_open_files, with room to spare.
inline constexpr std::uint64_t wasm_aot_worker_fds = 64;
/// The worker's own stderr kept for the log (a crash report, a sanitizer's): enough for a
/// diagnosis, bounded so a misbehaving worker cannot grow the log line.
inline constexpr std::size_t wasm_aot_diagnostics_bytes = 8 << 10;

// --- Memory ceilings (docs/operations.md "Memory") ------------------------------------------
// Every config integer has a ceiling: no value can ask for memory the appliance cannot hold.
/// Input bytes held by accepted executions that have not started yet, across all functions
/// (beyond it a submission gets 429): without it each function could hold queue_depth x
/// max_body_bytes (64 MiB by default). 64 MiB is the same figure, shared by all functions.
inline constexpr std::size_t queued_input_bytes = 64 << 20;
/// 1 GiB: more queued input than that is a backlog, not a queue, on a gateway.
inline constexpr std::size_t queued_input_bytes_max = std::size_t{1} << 30;
/// Request header block ceiling: 64 KiB is eight times Beast's default; no device needs more.
inline constexpr std::size_t http_header_bytes_max = 64 << 10;
/// WebSocket message ceiling: the same as the HTTP body ceiling (both carry an input).
inline constexpr std::size_t ws_message_bytes_max = 64 << 20;
/// Per-viewer queue ceiling: 4096 messages x a 16 KiB chunk = 64 MiB for one slow viewer.
inline constexpr std::size_t viewer_queue_messages_max = 4096;
/// Replay buffer ceiling: 4096 chunks x 16 KiB = 64 MiB per live execution.
inline constexpr std::size_t replay_chunks_max = 4096;
/// Outstanding requests per frame link: each holds a coroutine and a frame buffer.
inline constexpr std::size_t frame_outstanding_max = 256;
/// An HTTP connection's read buffer starts at its first read (4 KiB) and grows to hold a
/// whole header block (bodies stream through it); after a request that made it larger than
/// this (the default header limit plus the first read) its capacity is released, so an idle
/// keep-alive connection does not keep the high-water mark of its largest request.
inline constexpr std::size_t http_buffer_keep_bytes = 16 << 10;

// --- cluster (NATS JetStream; docs/architecture.md "Cluster") ------------------------------
/// A runner must heartbeat a shared execution within this; after it the work is redelivered
/// (retry_interrupted) or marked node_lost. Heartbeats go every ack_wait / 4.
inline constexpr std::uint32_t cluster_ack_wait_ms = 10'000;
inline constexpr std::uint32_t cluster_ack_wait_ms_min = 1'000;   ///< 4 heartbeats of 250 ms
inline constexpr std::uint32_t cluster_ack_wait_ms_max = 600'000;
/// Every NATS request and JetStream call; the first server answers in a few ms on a LAN.
inline constexpr std::uint32_t cluster_request_timeout_ms = 2'000;
inline constexpr std::uint32_t cluster_request_timeout_ms_max = 60'000;
/// NATS servers a node lists (a site's cluster is 3 or 5).
inline constexpr std::size_t cluster_servers = 8;
/// Output bytes a record carries in the cluster's bucket: a remote status read shows at most
/// this (output_truncated says so; the whole output stays on the node that ran it). NATS's
/// default max_payload is 1 MiB.
inline constexpr std::size_t cluster_record_output_bytes = 64 * 1024;
/// Records of other nodes a node mirrors from the bucket (oldest forgotten first): ~10 ring
/// tables' worth at the default 4096 slots, a few MB.
inline constexpr std::size_t cluster_mirror_records = 40'000;
/// A pull waits at most this on the server before asking again (bounds how late a node
/// notices it should stop pulling).
inline constexpr std::chrono::milliseconds cluster_pull_wait{1'000};
/// How often a node with no free slot checks again before pulling, at the latest (every local
/// record change wakes its pullers at once).
inline constexpr std::chrono::milliseconds cluster_slot_poll{20};
/// Cancels forwarded to the running node wait this for its answer (its own cancel waits the
/// kill grace first).
inline constexpr std::chrono::milliseconds cluster_cancel_wait{15'000};

// --- NATS link (src/cluster/nats_link, jetstream) -------------------------------------------
/// Publishes libnats holds while reconnecting (its default): a few seconds of cluster traffic;
/// beyond it publish() fails and the caller falls back to local work.
inline constexpr std::size_t nats_reconnect_buffer_bytes = 8 << 20;
/// A KV watch's ephemeral consumer is deleted by the server this long after its subscriber
/// vanished (the node died): long enough to ride out a reconnect, short enough not to pile up.
inline constexpr std::uint32_t nats_watch_inactive_ms = 30'000;
/// A KV watch's idle heartbeat: two missed ones (its consumer vanished while the link stayed up,
/// e.g. the NATS server holding it died in a cluster) re-create the watch within ~10 s.
inline constexpr std::uint32_t nats_watch_heartbeat_ms = 5'000;

} // namespace spear::core::limits
