// The container kind: parses image. This version has no container runtime, so its runtime
// refuses every invocation; the container runtime replaces `unavailable_runtime` here.
#include "runtime/container/container_kind.hpp"

#include "core/log.hpp"
#include "runtime/registry.hpp"

namespace spear::runtime {
namespace {

using namespace core::fields;

std::string refusal_text(const function_spec& f) {
    return "function '" + f.common.name +
           "' uses the container runtime, which this version of spearlet does not include";
}

class unavailable_runtime final : public runtime {
public:
    void prepare(const function_spec& f) override {
        log::warn("function '" + f.common.name +
                  "': the container runtime is not in this version; "
                  "its invocations will be refused");
    }
    std::optional<std::string> refusal(const function_spec& f) const override {
        return refusal_text(f);
    }
    /// Not reached through the service (refusal() stops it at admission); says the same.
    asio::awaitable<core::execution_outcome> run(run_request request, output_sink&,
                                                 cancel_signal&) override {
        co_return core::execution_outcome{
            core::ExecutionStatus::failed, core::error_code::function_failed,
            refusal_text(*request.function), std::nullopt, std::nullopt};
    }
};

function_settings parse(object_reader& r) {
    container_function f;
    read_text(r, "image", f.image, non_empty_text);
    if (!r.has("image"))
        r.fail("image", "required for container functions: the image name");
    return f;
}

json::object describe(const function_spec& spec) {
    json::object o;
    o["image"] = std::get<container_function>(spec.settings).image;
    return o;
}

} // namespace

runtime_kind container_kind::descriptor() {
    return {
        "container", {"image"}, parse, nullptr, describe, [](const boost::asio::any_io_executor&) {
            return std::make_unique<unavailable_runtime>();
        }};
}

} // namespace spear::runtime
