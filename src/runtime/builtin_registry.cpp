// The built-in registry: the table of registered_runtimes, one descriptor per listed kind.
#include "runtime/registry.hpp"

namespace spear::runtime {
namespace {

template <class... Kinds> std::vector<runtime_kind> descriptors(runtime_list<Kinds...>) {
    return {Kinds::descriptor()...};
}

} // namespace

const registry& builtin_registry() {
    static const registry instance(descriptors(registered_runtimes{}));
    return instance;
}

} // namespace spear::runtime
