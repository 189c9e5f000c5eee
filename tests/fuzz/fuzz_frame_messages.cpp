// libFuzzer target: the frame message decoder (nanopb spear_edge.Frame -> service requests).
// Every input either decodes into a request or is refused with an error whose Error frame
// encodes within the smallest frame limit.
#include "fuzz_support.hpp"
#include "transport/frame/frame_messages.hpp"

#include <cstddef>
#include <cstdint>
#include <span>

using spear::fuzz::check;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace spear::transport::frame;
    const auto decoded = decode_request(std::span<const std::uint8_t>(data, size));
    if (const auto* bad = std::get_if<bad_request>(&decoded)) {
        check(bad->error.code != spear::core::error_code::none && !bad->error.message.empty());
        const auto answer = encode_error(bad->request_id, bad->error, min_frame_bytes);
        check(!answer.empty() && answer.size() <= min_frame_bytes);
        return 0;
    }
    const auto& request = std::get<peer_request>(decoded);
    check(request.request_id != 0);
    if (const auto* invoke = std::get_if<spear::core::InvokeFunctionRequest>(&request.body)) {
        check(!invoke->function_name.empty() && invoke->function_name.size() <= 64);
        check(invoke->input.size() <= 3072);
    }
    return 0;
}
