// The wasm kind: parses module, entry, args, sha256, max_memory_pages, fuel and mapped_dirs;
// --check-config reads and validates the module; runs on wasm_runtime.
#include "runtime/wasm/wasm_kind.hpp"

#include "runtime/registry.hpp"
#include "runtime/wasm/wasm_runtime.hpp"

#include <algorithm>

namespace spear::runtime {
namespace {

using namespace core::fields;

constexpr std::uint64_t wasm_pages_max = core::limits::wasm_memory_pages_max;

bool sha256_text(std::string_view s) {
    return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
               return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
           });
}
constexpr text_rule sha256_rule{sha256_text, "must be 64 lowercase hexadecimal characters"};

bool tier_text(std::string_view s) { return s == "interpreter" || s == "aot" || s == "auto"; }
constexpr text_rule tier_rule{tier_text, "must be \"interpreter\", \"aot\" or \"auto\""};

function_settings parse(object_reader& r) {
    wasm_function f;
    read_text(r, "module", f.module, non_empty_text);
    read_text(r, "entry", f.entry, any_text);
    read_text_list(r, "args", f.args, any_text);
    read_text(r, "sha256", f.sha256, sha256_rule);
    read_int(r, "max_memory_pages", f.max_memory_pages, 1, wasm_pages_max, "64 KiB pages");
    read_int(r, "fuel", f.fuel, 0, u64_max, "0 = unlimited");
    read_text_map(r, "mapped_dirs", f.mapped_dirs, non_empty_text, non_empty_text);
    read_text(r, "tier", f.tier, tier_rule);
    if (f.tier == "aot" && f.fuel > 0)
        r.fail("tier", "\"aot\" cannot count instructions: fuel applies to the interpreter "
                       "tier only (set \"tier\": \"interpreter\" or \"auto\", or drop fuel)");
    if (!r.has("module"))
        r.fail("module", "required for wasm functions: the path of the .wasm file");
    return f;
}

std::optional<core::config_error> check(const function_spec& spec, const std::string& path) {
    if (auto problem = validate_wasm_function(spec))
        return core::config_error{path + ".module", std::move(*problem)};
    // Compiles into the cache now (so the start that follows finds it there).
    std::string problem;
    std::string note;
    resolve_aot_tier(spec, problem, note);
    if (!problem.empty() && std::get<wasm_function>(spec.settings).tier == "aot")
        return core::config_error{path + ".tier", std::move(problem)};
    return std::nullopt;
}

json::object describe(const function_spec& spec) {
    const auto& f = std::get<wasm_function>(spec.settings);
    json::object o;
    o["entry"] = f.entry.empty() ? json::value(nullptr) : json::value(f.entry);
    o["max_memory_pages"] = f.max_memory_pages;
    o["fuel"] = f.fuel;
    o["sha256"] = f.sha256.empty() ? json::value(nullptr) : json::value(f.sha256);
    o["tier"] = f.tier;
    const auto in_use = tier_in_use(spec);
    o["tier_in_use"] = in_use.empty() ? json::value(nullptr) : json::value(in_use);
    return o;
}

} // namespace

runtime_kind wasm_kind::descriptor() {
    return {"wasm",
            {"module", "entry", "args", "sha256", "max_memory_pages", "fuel", "mapped_dirs",
             "tier"},
            parse,
            check,
            describe,
            [](const boost::asio::any_io_executor&) {
                return std::make_unique<wasm_runtime>();
            }};
}

} // namespace spear::runtime
