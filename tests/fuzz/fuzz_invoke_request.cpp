// libFuzzer target: what a client sends before any function runs. The first byte picks the
// parser: the InvokeFunctionRequest JSON decoder (POST /functions/execute, the /stream first
// message), or the request-target parser with the query parameters the routes read
// (`/invoke?...`, `/status/{id}?wait_ms=`, `/executions?limit=&start_after=&status=`).
#include "fuzz_support.hpp"
#include "service/json_codec.hpp"
#include "transport/http/request_target.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

using spear::fuzz::check;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0)
        return 0;
    const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
    if (data[0] % 2 == 0) {
        const auto parsed = spear::service::parse_invoke_request(text);
        if (const auto* bad = std::get_if<spear::core::error>(&parsed)) {
            check(bad->code != spear::core::error_code::none && !bad->message.empty());
            // The error body a client gets is valid JSON text.
            check(!spear::service::to_text(spear::service::error_body(*bad)).empty());
            return 0;
        }
        const auto& request = std::get<spear::core::InvokeFunctionRequest>(parsed);
        check(!request.function_name.empty());
        return 0;
    }
    const auto parsed = spear::transport::http::parse_request_target(text);
    if (const auto* bad = std::get_if<spear::core::error>(&parsed)) {
        check(bad->code == spear::core::error_code::invalid_request && !bad->message.empty());
        return 0;
    }
    const auto& target = std::get<spear::transport::http::request_target>(parsed);
    check(text.starts_with('/'));
    std::size_t decoded = 0;
    for (const auto& s : target.segments) {
        check(!s.empty());
        decoded += s.size();
    }
    for (const auto& [k, v] : target.params)
        decoded += k.size() + v.size();
    check(decoded <= text.size()); // percent-decoding only shrinks
    for (const auto name : {"wait_ms", "limit", "start_after", "status", "mode", "access_token"})
        if (const auto value = target.param(name))
            check(value->size() <= text.size());
    return 0;
}
