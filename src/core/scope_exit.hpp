// The one scope guard: runs a cleanup when the scope ends, however it ends (return, throw).
#pragma once

#include <type_traits>
#include <utility>

namespace spear::core {

/// Calls `fn` once when destroyed, unless release() was called first. Not copyable or
/// movable: it lives in the scope it guards (`auto closer = scope_exit([&] { ... });`).
/// `fn` must not throw: it may run while an exception unwinds.
template <class Fn> class [[nodiscard]] scope_exit {
public:
    explicit scope_exit(Fn fn) noexcept(std::is_nothrow_move_constructible_v<Fn>)
        : fn_(std::move(fn)) {}
    scope_exit(const scope_exit&) = delete;
    scope_exit& operator=(const scope_exit&) = delete;
    ~scope_exit() {
        if (active_)
            fn_();
    }

    /// The cleanup will not run (the guarded resource was handed on).
    void release() noexcept { active_ = false; }

private:
    Fn fn_;
    bool active_ = true;
};

template <class Fn> scope_exit(Fn) -> scope_exit<Fn>;

} // namespace spear::core
