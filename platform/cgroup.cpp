// cgroup v2 files: the own cgroup from /proc, child cgroups made, joined, killed and removed.
#include "platform/cgroup.hpp"

#include "core/limits.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <fstream>
#include <sstream>

namespace spear::platform::cgroup {

namespace {

/// The lines of `text`, without their '\n'.
std::vector<std::string_view> lines_of(std::string_view text) {
    std::vector<std::string_view> lines;
    while (!text.empty()) {
        const auto end = text.find('\n');
        lines.push_back(text.substr(0, end));
        if (end == std::string_view::npos)
            break;
        text.remove_prefix(end + 1);
    }
    return lines;
}

/// Decodes mountinfo's octal escapes ("\040" for a space, "\011", "\012", "\134").
std::string unescape(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '3' &&
            s[i + 2] >= '0' && s[i + 2] <= '7' && s[i + 3] >= '0' && s[i + 3] <= '7') {
            out +=
                static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
            i += 3;
        } else {
            out += s[i];
        }
    }
    return out;
}

std::string file_in(const std::string& dir, std::string_view name) {
    std::string path = dir;
    path += '/';
    path += name;
    return path;
}

} // namespace

std::optional<std::string> unified_path(std::string_view proc_self_cgroup) {
    for (const auto line : lines_of(proc_self_cgroup)) {
        if (line.starts_with("0::"))
            return std::string(line.substr(3));
    }
    return std::nullopt;
}

std::vector<mount> cgroup2_mounts(std::string_view mountinfo) {
    std::vector<mount> found;
    for (const auto line : lines_of(mountinfo)) {
        std::vector<std::string_view> fields;
        for (std::string_view rest = line; !rest.empty();) {
            const auto space = rest.find(' ');
            if (space != 0)
                fields.push_back(rest.substr(0, space));
            if (space == std::string_view::npos)
                break;
            rest.remove_prefix(space + 1);
        }
        // "ID PARENT MAJ:MIN ROOT POINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTIONS"
        std::size_t dash = 6;
        while (dash < fields.size() && fields[dash] != "-")
            ++dash;
        if (fields.size() < 6 || dash + 1 >= fields.size() || fields[dash + 1] != "cgroup2")
            continue;
        found.push_back(mount{unescape(fields[3]), unescape(fields[4])});
    }
    return found;
}

std::optional<std::string> directory_of(std::string_view path, const std::vector<mount>& mounts) {
    for (const auto& m : mounts) {
        std::string_view rest = path;
        if (m.root != "/") {
            // A bind mount of a subtree shows only the cgroups below its root.
            if (!rest.starts_with(m.root) ||
                (rest.size() > m.root.size() && rest[m.root.size()] != '/'))
                continue;
            rest.remove_prefix(m.root.size());
        }
        std::string dir = m.point;
        if (!rest.empty() && rest != "/") {
            if (!dir.empty() && dir.back() == '/')
                dir.pop_back();
            dir += rest;
        }
        return dir;
    }
    return std::nullopt;
}

std::optional<bool> populated_in(std::string_view events) {
    const auto v = flat_value(events, "populated");
    if (!v || *v > 1)
        return std::nullopt;
    return *v == 1;
}

std::optional<std::uint64_t> flat_value(std::string_view text, std::string_view key) {
    for (const auto line : lines_of(text)) {
        if (line.size() <= key.size() || !line.starts_with(key) || line[key.size()] != ' ')
            continue;
        const auto number = line.substr(key.size() + 1);
        std::uint64_t value = 0;
        const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
        if (ec != std::errc() || end != number.data() + number.size())
            return std::nullopt;
        return value;
    }
    return std::nullopt;
}

std::vector<std::string> words(std::string_view text) {
    std::vector<std::string> out;
    std::istringstream in{std::string(text)};
    for (std::string w; in >> w;)
        out.push_back(w);
    return out;
}

std::optional<std::string> read_text(const std::string& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in)
        return std::nullopt;
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad())
        return std::nullopt;
    return std::move(text).str();
}

int write_text(const std::string& file, std::string_view text) noexcept {
    const int fd = ::open(file.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    const ssize_t n = ::write(fd, text.data(), text.size());
    const int error = n < 0 ? errno : (static_cast<std::size_t>(n) != text.size() ? EIO : 0);
    ::close(fd);
    return error;
}

std::optional<std::string> own_path() {
    const auto text = read_text("/proc/self/cgroup");
    return text ? unified_path(*text) : std::nullopt;
}

std::optional<std::string> own_directory(std::string& why) {
    const auto path = own_path();
    if (!path) {
        why = "/proc/self/cgroup has no cgroup v2 (\"0::\") line";
        return std::nullopt;
    }
    const auto mountinfo = read_text("/proc/self/mountinfo");
    if (!mountinfo) {
        why = "/proc/self/mountinfo cannot be read";
        return std::nullopt;
    }
    const auto mounts = cgroup2_mounts(*mountinfo);
    if (mounts.empty()) {
        why = "no cgroup2 file system is mounted";
        return std::nullopt;
    }
    auto dir = directory_of(*path, mounts);
    if (!dir)
        why = "no cgroup2 mount shows the appliance's cgroup " + *path;
    return dir;
}

int check_writable(const std::string& dir) noexcept {
    struct stat info {};
    if (::stat(file_in(dir, "cgroup.procs").c_str(), &info) != 0)
        return errno == ENOENT ? ENOTDIR : errno; // no cgroup.procs: not a cgroup directory
    struct statfs fs {};
    if (::statfs(dir.c_str(), &fs) != 0)
        return errno;
    if (fs.f_type != CGROUP2_SUPER_MAGIC)
        return ENOTDIR; // a cgroup v1 hierarchy has cgroup.procs too, but no kill or events
    if (::access(dir.c_str(), W_OK) != 0 ||
        ::access(file_in(dir, "cgroup.procs").c_str(), W_OK) != 0)
        return errno;
    return 0;
}

bool marked_delegated(const std::string& dir) noexcept {
    for (const char* name : {"trusted.delegate", "user.delegate"}) {
        char value[8] = {};
        const ssize_t n = ::getxattr(dir.c_str(), name, value, sizeof value);
        if (n == 1 && value[0] == '1')
            return true;
    }
    return false;
}

bool owned_by_this_user(const std::string& dir) noexcept {
    struct stat info {};
    return ::geteuid() != 0 && ::stat(dir.c_str(), &info) == 0 && info.st_uid == ::geteuid();
}

std::vector<pid_t> processes(const std::string& dir) {
    std::vector<pid_t> pids;
    std::ifstream in(file_in(dir, "cgroup.procs"));
    for (long pid = 0; in >> pid;)
        pids.push_back(static_cast<pid_t>(pid));
    return pids;
}

std::vector<std::string> children(const std::string& dir, std::string_view prefix) {
    std::vector<std::string> names;
    DIR* d = ::opendir(dir.c_str());
    if (!d)
        return names;
    while (const dirent* entry = ::readdir(d)) {
        const std::string_view name = entry->d_name;
        if (entry->d_type == DT_DIR && name.starts_with(prefix))
            names.emplace_back(name);
    }
    ::closedir(d);
    return names;
}

int make(const std::string& dir) noexcept {
    return ::mkdir(dir.c_str(), 0755) == 0 ? 0 : errno;
}

int remove(const std::string& dir) noexcept {
    if (::rmdir(dir.c_str()) == 0)
        return 0;
    if (errno != EBUSY)
        return errno;
    // Child cgroups (a function running as root may make some) first, depth first.
    try {
        for (const auto& name : children(dir, ""))
            if (name != "." && name != "..")
                remove(file_in(dir, name));
    } catch (...) {
        return ENOMEM;
    }
    return ::rmdir(dir.c_str()) == 0 ? 0 : errno;
}

int move_process(const std::string& dir, pid_t pid) noexcept {
    char text[24];
    const auto [end, ec] = std::to_chars(text, text + sizeof text, static_cast<long>(pid));
    return write_text(file_in(dir, "cgroup.procs"),
                      std::string_view(text, static_cast<std::size_t>(end - text)));
}

unique_fd open_procs(const std::string& dir) noexcept {
    return unique_fd(::open(file_in(dir, "cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC));
}

int kill_all(const std::string& dir) noexcept {
    const int e = write_text(file_in(dir, "cgroup.kill"), "1");
    if (e != ENOENT)
        return e;
    // Before Linux 5.14: one process at a time, descendants' cgroups included.
    try {
        for (int pass = 0; pass < core::limits::cgroup_kill_passes; ++pass) {
            bool any = false;
            std::vector<std::string> dirs{dir};
            for (std::size_t i = 0; i < dirs.size(); ++i) {
                for (const pid_t pid : processes(dirs[i])) {
                    any = true;
                    ::kill(pid, SIGKILL);
                }
                for (const auto& name : children(dirs[i], ""))
                    if (name != "." && name != "..")
                        dirs.push_back(file_in(dirs[i], name));
            }
            if (!any)
                break;
        }
    } catch (...) {
        return ENOMEM;
    }
    return 0;
}

std::optional<bool> populated(const std::string& dir) {
    const auto text = read_text(file_in(dir, "cgroup.events"));
    return text ? populated_in(*text) : std::nullopt;
}

std::optional<std::uint64_t> cpu_usage_usec(const std::string& dir) {
    const auto text = read_text(file_in(dir, "cpu.stat"));
    return text ? flat_value(*text, "usage_usec") : std::nullopt;
}

std::vector<std::string> controllers(const std::string& dir) {
    const auto text = read_text(file_in(dir, "cgroup.controllers"));
    return text ? words(*text) : std::vector<std::string>{};
}

int enable_controllers(const std::string& dir, const std::vector<std::string>& names) noexcept {
    try {
        std::string text;
        for (const auto& n : names)
            text += (text.empty() ? "+" : " +") + n;
        return text.empty() ? 0 : write_text(file_in(dir, "cgroup.subtree_control"), text);
    } catch (...) {
        return ENOMEM;
    }
}

} // namespace spear::platform::cgroup
