// What the cluster's nodes tell each other, as JSON on NATS (sans-io, tested alone): an
// execution's record in the bucket, a shared submission on the work stream, a node's beacon,
// a forwarded cancel and a relayed stream event. Every decoder refuses malformed input
// (nullopt) instead of trusting another node.
#pragma once

#include "core/execution_result.hpp"
#include "core/invoke_request.hpp"
#include "service/execution_service.hpp"
#include "service/stream_events.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace spear::cluster {

/// Key of a node's beacon in the records bucket (execution ids never contain a '.').
std::string beacon_key(std::string_view node_id);

/// An execution as the records bucket holds it (key: its id).
struct cluster_record {
    std::string node;   ///< the node running it or that ran it; while shared and queued: the origin
    std::string origin; ///< the node that accepted it from its client
    bool shared = false;      ///< came through the work stream
    std::uint32_t attempt = 1; ///< 2+: run again after its node was lost (retry_interrupted)
    std::int64_t estimate_ms = 0; ///< the estimate it was accepted with (while pending)
    core::ExecutionResult result; ///< output capped at limits::cluster_record_output_bytes
};
std::string encode(const cluster_record& record);
std::optional<cluster_record> decode_record(std::string_view json);

/// A submission on the work stream: the request as the origin validated it.
struct work_item {
    std::string id;     ///< the execution id its client was given
    std::string origin; ///< the accepting node
    core::InvokeFunctionRequest request; ///< client name and admin flag in `request.client`
    std::int64_t queued_wall_ms = 0;
};
std::string encode(const work_item& item);
std::optional<work_item> decode_work(std::string_view json);

/// A node's beacon: it is alive, what it serves and how long each function typically takes.
struct node_beacon {
    std::string node;
    std::int64_t at_wall_ms = 0;
    std::uint32_t boot = 0; ///< its boot nonce: ids it issued carry it
    std::vector<std::pair<std::string, std::int64_t>> typical_ms; ///< per served function
};
std::string encode(const node_beacon& beacon);
std::optional<node_beacon> decode_beacon(std::string_view json);

/// A forwarded cancel and its answer.
struct cancel_request {
    std::string id;
    std::string reason;
    std::string client; ///< the asking client's name; "" with admin
    bool admin = true;
};
std::string encode(const cancel_request& request);
std::optional<cancel_request> decode_cancel(std::string_view json);
std::string encode(const std::variant<service::cancel_view, core::error>& answer);
std::optional<std::variant<service::cancel_view, core::error>> decode_cancel_answer(std::string_view json);

/// A relayed stream event (its id rewritten to the one the viewer asked for).
std::string encode(const service::stream_event& event);
std::optional<service::stream_event> decode_event(std::string_view json, std::string execution_id);

/// A request to relay an execution's events to `subject`, and its answer (an error or none).
struct watch_request {
    std::string id;
    std::string subject;
};
std::string encode(const watch_request& request);
std::optional<watch_request> decode_watch(std::string_view json);

} // namespace spear::cluster
