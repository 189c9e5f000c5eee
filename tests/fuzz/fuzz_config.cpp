// libFuzzer target: the config parser (`--check-config` on arbitrary bytes). Every input is
// either a valid config or refused with at least one error, and every error names a field
// path, a JSON position, or the one top-level rule (the config must be an object).
#include "fuzz_support.hpp"
#include "runtime/registry.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

using spear::fuzz::check;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const auto& runtimes = spear::runtime::builtin_registry();
    const auto result = spear::runtime::parse_config(text, runtimes);
    if (result.value) {
        check(result.errors.empty());
        const auto& cfg = *result.value;
        check(cfg.status_table.slots > 0 && cfg.limits.global_concurrency > 0);
        for (const auto& f : cfg.functions) {
            check(!f.name.empty() && f.name.size() <= 64 && !f.runtime.empty());
            check(cfg.timeout_for(f) > 0 && cfg.timeout_for(f) <= cfg.limits.max_timeout_ms);
        }
        // Resolving the functions (what a start does next) never throws for a valid config.
        (void)runtimes.resolve_all(cfg);
        return 0;
    }
    check(!result.errors.empty());
    for (const auto& e : result.errors) {
        check(!e.reason.empty());
        check(!e.path.empty() || e.reason.starts_with("invalid JSON at line ") ||
              e.reason == "the config must be a JSON object");
    }
    return 0;
}
