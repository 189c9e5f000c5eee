// This process's resource figures from /proc/self.
#include "platform/process_stats.hpp"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

namespace spear::platform {

namespace {

std::optional<std::uint64_t> boot_time_seconds() {
    std::ifstream in("/proc/stat");
    std::string key;
    std::uint64_t value = 0;
    while (in >> key) {
        if (key == "btime" && in >> value)
            return value;
        in.ignore(1 << 16, '\n');
    }
    return std::nullopt;
}

} // namespace

process_stats read_process_stats() noexcept {
    process_stats s;
    try {
        const auto page = sysconf(_SC_PAGESIZE);
        const auto ticks = sysconf(_SC_CLK_TCK);
        {
            std::ifstream statm("/proc/self/statm");
            std::uint64_t size = 0, resident = 0;
            if (page > 0 && statm >> size >> resident)
                s.resident_memory_bytes = resident * static_cast<std::uint64_t>(page);
        }
        if (DIR* d = opendir("/proc/self/fd")) {
            std::uint64_t n = 0;
            while (const dirent* e = readdir(d))
                if (e->d_name[0] != '.')
                    ++n;
            closedir(d);
            s.open_fds = n - 1; // less the descriptor opendir holds
        }
        rlimit lim{};
        if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY)
            s.max_fds = lim.rlim_cur;
        std::ifstream stat_file("/proc/self/stat");
        std::string line;
        if (ticks > 0 && std::getline(stat_file, line)) {
            // Fields after the command name (which may hold spaces) start at field 3 (state).
            const auto close = line.rfind(')');
            std::istringstream rest(close == std::string::npos ? "" : line.substr(close + 2));
            std::string field;
            double utime = 0, stime = 0, start = 0;
            for (int i = 3; i <= 22 && rest >> field; ++i) {
                if (i == 14)
                    utime = std::stod(field);
                else if (i == 15)
                    stime = std::stod(field);
                else if (i == 22) {
                    start = std::stod(field);
                    s.cpu_seconds = (utime + stime) / static_cast<double>(ticks);
                    if (const auto boot = boot_time_seconds())
                        s.start_time_seconds =
                            static_cast<double>(*boot) + start / static_cast<double>(ticks);
                }
            }
        }
    } catch (...) { // a malformed procfs line: the figures read so far
    }
    return s;
}

} // namespace spear::platform
