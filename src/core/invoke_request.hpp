// InvokeFunctionRequest: a protocol-neutral invocation, built by every transport's decoder.
#pragma once

#include "core/client_quota.hpp"
#include "core/execution_types.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace spear::core {

struct InvokeFunctionRequest {
    std::string function_name;
    ExecutionMode execution_mode = ExecutionMode::sync;
    bool execution_mode_given = false;          ///< false: the default (sync) was used
    std::string input;                          ///< raw bytes
    std::string input_content_type;             ///< as sent; informative
    std::string client_execution_id;            ///< context.execution_id (idempotency key)
    std::optional<std::uint32_t> timeout_ms;    ///< context.timeout_ms
    std::map<std::string, std::string> environment; ///< context.environment
    bool detach = false;                        ///< stream: keep running if the caller leaves
    /// Sync only: answer as async (202) if not finished within this time ("Prefer:
    /// respond-async, wait=N", RFC 7240). Opt-in: a sync call is never promoted otherwise.
    std::optional<std::uint32_t> respond_async_after_ms;
    /// context.priority as sent (the service checks 0..9); nullopt: the function's default.
    std::optional<std::int64_t> priority;
    /// Who sent it (the transport's authentication); the default client when not set.
    client_identity client;
};

} // namespace spear::core
