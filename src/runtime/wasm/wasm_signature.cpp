// Function signatures of the engine seam (wasm_engine.hpp): comparison and text. Apart from the
// wabt adapter so the AOT worker, which has no wabt, binds imports with the same code.
#include "runtime/wasm/wasm_engine.hpp"

namespace spear::runtime::wasm {

bool operator==(const signature& a, const signature& b) noexcept {
    return a.params == b.params && a.results == b.results;
}

std::string to_string(const signature& s) {
    auto list = [](const std::vector<value_type>& types) {
        static const char* const names[] = {"i32", "i64", "f32", "f64", "other"};
        std::string out = "(";
        for (std::size_t i = 0; i < types.size(); ++i) {
            if (i)
                out += ", ";
            out += names[static_cast<std::size_t>(types[i])];
        }
        return out + ")";
    };
    return list(s.params) + " -> " + list(s.results);
}

} // namespace spear::runtime::wasm
