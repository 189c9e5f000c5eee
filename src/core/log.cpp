// stderr logger; one write(2) per line so lines from children never interleave mid-line.
#include "core/log.hpp"

#include "core/clock.hpp"

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include <cstdlib>
#include <string>
#include <unistd.h>

namespace spear::log {
namespace {

level initial_level() noexcept {
    const char* env = std::getenv("SPEAR_LOG_LEVEL");
    if (!env)
        return level::info;
    const std::string_view v(env);
    if (v == "debug")
        return level::debug;
    if (v == "warn")
        return level::warn;
    if (v == "error")
        return level::error;
    return level::info;
}

level min_level_ = initial_level();
format format_ = format::plain;

std::string_view name(level lvl) noexcept {
    switch (lvl) {
    case level::debug: return "debug";
    case level::info: return "info";
    case level::warn: return "warn";
    case level::error: return "error";
    }
    return "info";
}

} // namespace

void set_level(level lvl) noexcept { min_level_ = lvl; }
void set_format(format f) noexcept { format_ = f; }

void write(level lvl, std::string_view message) {
    if (lvl < min_level_)
        return;
    const auto time = core::format_rfc3339(std::chrono::system_clock::now());
    std::string line;
    if (format_ == format::json) {
        boost::json::object o;
        o["time"] = time;
        o["level"] = name(lvl);
        o["message"] = message; // the serializer escapes newlines and control characters
        line = boost::json::serialize(o);
    } else {
        line = time;
        line += ' ';
        line += name(lvl);
        line += ' ';
        for (const char c : message) {
            if (c == '\n')
                line += "\\n"; // one line per entry, whatever the message holds
            else if (c != '\r')
                line += c;
        }
    }
    line += '\n';
    [[maybe_unused]] auto written = ::write(STDERR_FILENO, line.data(), line.size());
}

} // namespace spear::log

namespace spear::log {

void task_ended(std::string_view task, std::exception_ptr e) noexcept {
    if (!e)
        return;
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& ex) {
        error(std::string(task) + " ended with an exception: " + ex.what());
    } catch (...) {
        error(std::string(task) + " ended with an unknown exception");
    }
}

} // namespace spear::log
