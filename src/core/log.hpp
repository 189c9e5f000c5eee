// One-line structured logging to stderr: "2026-11-29T02:44:45.123Z info message key=value",
// or one JSON object a line ({"time", "level", "message"}) for journald/Loki users.
#pragma once

#include <exception>
#include <string_view>

namespace spear::log {

enum class level { debug, info, warn, error };

/// How a line is written.
enum class format {
    plain, ///< "TIME LEVEL message" (newlines in the message written as "\n")
    json,  ///< {"time":"...","level":"info","message":"..."}
};

/// Minimum level written (default info; SPEAR_LOG_LEVEL=debug|info|warn|error overrides).
void set_level(level min_level) noexcept;
/// Line format (default plain; `spearlet --log-format json` sets json).
void set_format(format f) noexcept;
void write(level lvl, std::string_view message);

/// For co_spawn completions: logs the exception that ended a task, if any (never silent).
/// `task` names it in the line ("http session", "execution 1a2b...").
void task_ended(std::string_view task, std::exception_ptr e) noexcept;

inline void debug(std::string_view m) { write(level::debug, m); }
inline void info(std::string_view m) { write(level::info, m); }
inline void warn(std::string_view m) { write(level::warn, m); }
inline void error(std::string_view m) { write(level::error, m); }

} // namespace spear::log
