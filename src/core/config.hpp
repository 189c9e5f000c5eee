// The appliance configuration: one JSON document (comments and trailing commas allowed),
// validated with errors that name the field path and the reason (docs/operations.md).
#pragma once

#include "core/limits.hpp"

#include <boost/json/object.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace spear::core {

/// How often durable results are forced to disk (docs/operations.md "Durable results").
enum class durability_level : std::uint8_t {
    none,         ///< never msync: survives a process crash, a power cut loses what the kernel had not written
    batched,      ///< msync at most every node.sync_interval_ms, from a timer
    every_change, ///< msync each state change before the loop goes on
};

struct node_config {
    std::string id = "spear-edge";
    /// Durable results: the status table, accepted work and runtime history live in files
    /// here and survive restarts and kill -9. Empty: in memory only.
    std::string data_dir;
    durability_level durability = durability_level::batched;
    std::uint32_t sync_interval_ms = limits::durable_sync_interval_ms;
    /// "plain" (one "TIME LEVEL message" line each) or "json" (one object a line, for
    /// journald/Loki); `--log-format` on the command line wins over it.
    std::string log_format = "plain";
};

/// A named client token (http.tokens): who a request comes from, and its limits.
struct client_token_config {
    std::string name;  ///< [A-Za-z0-9_.-]{1,64}, unique; kept in records (`client`)
    std::string token; ///< bearer token, unique
    std::optional<std::size_t> max_concurrency; ///< running at once; absent: no limit of its own
    std::optional<std::size_t> max_queued;      ///< waiting at once; absent: no limit of its own
    std::optional<double> rate_per_s; ///< submissions per second (bucket of max(1, rate)); absent: no limit
    int priority_ceiling = limits::priority_max; ///< a higher context.priority is lowered to it
    bool admin = false; ///< sees and cancels every client's executions
};

struct http_config {
    bool enabled = true;
    std::string address = "127.0.0.1";
    std::uint16_t port = 8080;          ///< 0 picks a free port (logged at start)
    std::string auth_token;             ///< empty: no auth; else an admin client "admin"
    std::vector<client_token_config> tokens; ///< named clients with quotas (http.tokens)
    bool allow_unauthenticated = false; ///< needed for a non-loopback listener with no token
    std::size_t max_body_bytes = limits::http_body_bytes;
    std::size_t max_header_bytes = limits::http_header_bytes;
    std::size_t max_connections = limits::http_connections;
    std::uint32_t header_timeout_ms = limits::http_header_timeout_ms;
    std::uint32_t idle_timeout_ms = limits::http_idle_timeout_ms;
    std::uint32_t max_long_poll_ms = limits::long_poll_ms;
    std::uint32_t shutdown_grace_ms = limits::shutdown_grace_ms;
    /// Host header names accepted beyond the loopback names and IP literals (DNS-rebinding
    /// defence): "name" (any port) or "name:port"; "*" accepts every Host.
    std::vector<std::string> allowed_hosts;
    /// Origins (e.g. "http://gateway.local:3000") whose pages may call the API and open
    /// WebSockets besides the page's own origin; "*" accepts every origin.
    std::vector<std::string> allowed_origins;
};

struct stream_config {
    std::size_t max_message_bytes = limits::ws_message_bytes;
    std::size_t max_viewers_per_execution = limits::viewers_per_execution;
    std::size_t viewer_queue_messages = limits::viewer_queue_messages;
    std::size_t replay_chunks = limits::replay_chunks;
    std::uint32_t write_timeout_ms = limits::viewer_write_timeout_ms;
    std::uint32_t first_message_timeout_ms = limits::stream_first_message_ms;
};

struct serial_port_config {
    std::string device; ///< e.g. /dev/ttyUSB0
    std::uint32_t baud = 115200;
    /// Trusted wiring: accept unauthenticated frames here even when frame.require_auth.
    bool allow_unauthenticated = false;
};

/// A constrained peer's pre-shared key (frame.peers; docs/constrained-peers.md). Never logged.
struct frame_peer_config {
    std::string id;  ///< [A-Za-z0-9_.-]{1,32}, unique: the key id the peer names in link_hello
    std::string key; ///< the key's bytes (written in hex in the config), 16..64 bytes
    std::string client; ///< an http.tokens name whose quotas apply; empty: the default client
    std::uint32_t client_index = 0; ///< that token's index + 1 (service client(i)); 0: default
};

struct frame_config {
    bool tcp_enabled = false;
    std::string tcp_address = "127.0.0.1";
    std::uint16_t tcp_port = 7070;
    /// Accept unauthenticated frames on TCP even when frame.require_auth; without keys,
    /// needed off loopback.
    bool tcp_allow_unauthenticated = false;
    std::vector<serial_port_config> serial;
    std::vector<frame_peer_config> peers; ///< pre-shared keys; authenticated links
    /// Refuse unauthenticated frames (except where allow_unauthenticated); default: true
    /// when frame.peers is not empty.
    bool require_auth = false;
    std::size_t max_frame_bytes = limits::frame_bytes;
    std::size_t max_outstanding = limits::frame_outstanding;
    std::uint32_t idle_timeout_ms = limits::frame_idle_timeout_ms;
    std::uint32_t max_long_poll_ms = limits::frame_long_poll_ms;     ///< status_request.wait_ms cap
    std::uint32_t write_timeout_ms = limits::frame_write_timeout_ms; ///< a peer that reads nothing
};

struct status_table_config {
    std::size_t slots = limits::status_slots;
    std::size_t max_output_bytes = limits::output_bytes;
    std::size_t stderr_tail_bytes = limits::stderr_tail_bytes;
    std::uint32_t ttl_s = limits::record_ttl_s; ///< 0 = terminal records never expire
    /// Input + request environment kept per slot to re-run pending work after a restart
    /// (only with node.data_dir).
    std::size_t max_input_bytes = limits::persisted_input_bytes;
};

struct history_config {
    std::size_t window = limits::history_window;
    std::uint32_t default_expected_ms = limits::default_expected_ms;
};

struct limits_config {
    std::size_t global_concurrency = limits::global_concurrency;
    std::uint32_t default_timeout_ms = limits::execution_timeout_ms;
    std::uint32_t max_timeout_ms = limits::execution_timeout_ms_max;
    std::uint32_t kill_grace_ms = limits::kill_grace_ms;
    /// Input bytes held by accepted, not yet started executions, all functions together.
    std::size_t queued_input_bytes = limits::queued_input_bytes;
    /// Aging: a waiting execution gains one priority level per this many ms.
    std::uint32_t priority_aging_ms = limits::priority_aging_ms;
};

/// The container runtime's engine and the defaults of container functions (docs/operations.md).
struct container_config {
    /// The Docker Engine API socket ("unix:///run/podman/podman.sock" for Podman).
    std::string engine = "unix:///run/docker.sock";
    std::uint32_t connect_timeout_ms = limits::container_connect_timeout_ms;
    std::uint32_t request_timeout_ms = limits::container_request_timeout_ms;
    /// Defaults of a function's memory_bytes, milli_cpus and pids_limit.
    std::uint64_t memory_bytes = limits::container_memory_bytes;
    std::uint64_t milli_cpus = limits::container_milli_cpus;
    std::uint64_t pids_limit = limits::container_pids;
};

/// The cluster of appliances sharing work through NATS JetStream (docs/operations.md
/// "Cluster"). Absent: a single appliance, no NATS.
struct cluster_config {
    std::string node_id;              ///< [a-z0-9_-]{1,32}, unique in the cluster
    std::vector<std::string> servers; ///< `nats`: "nats://host:port" URLs, 1..8
    std::string token;                ///< at most one of token, user+password, credentials, nkey
    std::string user;
    std::string password;
    std::string credentials_file;
    std::string nkey_seed_file;
    std::string work_stream = "SPEAR_WORK";
    std::string records_bucket = "spear_records";
    std::uint32_t ack_wait_ms = limits::cluster_ack_wait_ms;
    std::uint32_t request_timeout_ms = limits::cluster_request_timeout_ms;
    std::uint32_t replicas = 1; ///< of the stream and the bucket (3 on a 3-server NATS cluster)
};

/// How process functions are contained (docs/operations.md "Children that leave the process
/// group").
struct process_config {
    /// Per-execution cgroups: "auto" (when the appliance's cgroup is delegated to it, else the
    /// subreaper sweep alone), "off", or "required" (the start fails without them).
    std::string cgroups = "auto";
    /// A cgroup v2 directory for the executions' cgroups (exec-<n> in it) instead of the
    /// appliance's own cgroup; it must belong to this appliance alone. Empty: its own.
    std::string cgroup_path;
};

/// A validation error: the field path ("functions[2].timeout_ms") and the reason.
struct config_error {
    std::string path;
    std::string reason;
    std::string to_string() const { return path.empty() ? reason : path + ": " + reason; }
};

/// A function as core sees it: the fields every runtime shares, and the runtime's own fields
/// as written. Core knows no runtime: the runtime layer (runtime/registry.hpp) parses
/// `runtime_fields` into its typed settings (function_fields_parser below).
struct function_config {
    std::string name;    ///< [A-Za-z0-9_.-]{1,64}
    std::string runtime; ///< the runtime's name, set by the runtime layer
    std::string description;
    std::map<std::string, std::string> env;                ///< set for every run
    std::vector<std::string> allow_request_env;            ///< request environment keys let through
    std::string content_type = "application/octet-stream"; ///< of the output
    std::uint32_t timeout_ms = 0;                          ///< 0 = limits.default_timeout_ms
    std::size_t max_concurrency = limits::function_concurrency;
    std::size_t queue_depth = limits::queue_depth;
    std::uint32_t expected_ms = 0; ///< typical duration before history exists
    int priority = 0; ///< 0..9, the default of context.priority for this function
    /// Durable results: re-queue an execution the appliance was running when it stopped
    /// (else it reads failed/interrupted: it may have had side effects).
    bool retry_interrupted = false;
    /// In a cluster: a sync call this node cannot start now may run on another node.
    bool share = false;
    /// Every other field of the function object, as written ("runtime" included).
    boost::json::object runtime_fields;
};

/// The runtime layer's part of reading a function, so that core needs no list of runtimes
/// (runtime::registry implements it).
class function_fields_parser {
public:
    virtual ~function_fields_parser() = default;
    /// `f` holds the common fields, and in `f.runtime_fields` every other field of the function
    /// object at `path` ("functions[2]"). Checks them (an unknown field is an error too),
    /// appends errors with paths under `path` ("functions[2].module"), and sets `f.runtime` to
    /// the name of the function's runtime when it is known.
    virtual void parse(function_config& f, const std::string& path,
                       std::vector<config_error>& errors) const = 0;
};

struct config {
    node_config node;
    http_config http;
    stream_config stream;
    frame_config frame;
    status_table_config status_table;
    history_config history;
    limits_config limits;
    container_config container;
    std::optional<cluster_config> cluster;
    process_config process;
    std::vector<function_config> functions;

    /// Index of the function named `name`, or nullopt.
    std::optional<std::size_t> find_function(std::string_view name) const;
    /// The effective timeout of a function (its own, else the default), capped by max.
    std::uint32_t timeout_for(const function_config& f) const;
};

/// Parses and validates; on failure returns every error found (at least one).
struct config_result {
    std::optional<config> value;
    std::vector<config_error> errors;
};
/// `runtimes` checks each function's runtime-specific fields (runtime::parse_config passes
/// the built-in registry).
config_result parse_config(std::string_view json_text, const function_fields_parser& runtimes);

std::string_view to_string(durability_level level) noexcept;

/// The embedded default config (loopback listener, demo functions).
std::string_view embedded_default_config();

} // namespace spear::core
