// The AOT compiler and cache: wasm2c, a generated shim binding the module to aot_abi.h, cc.
#include "runtime/wasm/aot/aot_compiler.hpp"

#include "core/limits.hpp"
#include "runtime/wasm/aot/aot_abi.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

extern char** environ;

namespace spear::runtime::wasm::aot {
namespace {

namespace fs = std::filesystem;

std::string configured_data_dir;
std::string configured_version = "dev";

/// `name` on PATH (or itself when it holds a '/'), if it is an executable file.
std::optional<std::string> find_program(const std::string& name) {
    auto executable = [](const std::string& p) {
        struct stat st {};
        return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(p.c_str(), X_OK) == 0;
    };
    if (name.find('/') != std::string::npos)
        return executable(name) ? std::optional<std::string>(name) : std::nullopt;
    const char* path = std::getenv("PATH");
    std::stringstream dirs(path ? path : "/usr/local/bin:/usr/bin:/bin");
    std::string dir;
    while (std::getline(dirs, dir, ':')) {
        if (dir.empty() || dir.front() != '/')
            continue;
        const auto candidate = dir + "/" + name;
        if (executable(candidate))
            return candidate;
    }
    return std::nullopt;
}

std::string env_or(const char* key, const char* fallback) {
    const char* v = std::getenv(key);
    return v && *v ? v : fallback;
}

/// Runs argv (blocking) with stdout and stderr into `log`; the exit status, or -1.
int run_tool(const std::vector<std::string>& argv, const std::string& log) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    std::vector<char*> args;
    for (const auto& a : argv)
        args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_t pid = -1;
    const int rc = ::posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0)
        return -1;
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string tail_of(const std::string& file, std::size_t max_bytes = 600) {
    std::ifstream in(file);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    while (!text.empty() && (text.back() == '\n' || text.back() == ' '))
        text.pop_back();
    if (text.size() > max_bytes)
        text = "..." + text.substr(text.size() - max_bytes);
    return text;
}

/// A C type of the wasm2c header as a value code of aot_abi.h ('i', 'I'), or 0.
char value_code(std::string_view type) {
    if (type == "u32")
        return 'i';
    if (type == "u64")
        return 'I';
    return 0;
}

std::string trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == ';'))
        s.remove_suffix(1);
    return std::string(s);
}

/// "u32 NAME(T0, T1, ...)" -> return type, name, parameter types (first one included).
bool parse_declaration(std::string_view line, std::string& ret, std::string& name,
                       std::vector<std::string>& params) {
    const auto open = line.find('(');
    const auto close = line.rfind(')');
    if (open == std::string_view::npos || close == std::string_view::npos || close < open)
        return false;
    const auto head = trim(line.substr(0, open));
    const auto space = head.rfind(' ');
    if (space == std::string::npos)
        return false;
    ret = trim(std::string_view(head).substr(0, space));
    name = head.substr(space + 1);
    params.clear();
    std::stringstream list(std::string(line.substr(open + 1, close - open - 1)));
    std::string p;
    while (std::getline(list, p, ','))
        params.push_back(trim(p));
    return true;
}

/// Quoted names are written into C string literals: only plain ones are taken.
bool plain_name(std::string_view s) {
    if (s.empty() || s.size() > 200)
        return false;
    for (const char c : s)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-' ||
              c == '$'))
            return false;
    return true;
}

/// The quoted names of a wasm2c comment line: "/* import: 'M' 'N' */" -> {M, N}.
std::vector<std::string> quoted(std::string_view line) {
    std::vector<std::string> out;
    for (;;) {
        const auto a = line.find('\'');
        if (a == std::string_view::npos)
            break;
        const auto b = line.find('\'', a + 1);
        if (b == std::string_view::npos)
            break;
        out.emplace_back(line.substr(a + 1, b - a - 1));
        line.remove_prefix(b + 1);
    }
    return out;
}

} // namespace

std::optional<toolchain> find_toolchain(std::string& why_not) {
    toolchain t;
    const auto wasm2c = find_program(env_or("SPEAR_WASM2C", "wasm2c"));
    if (!wasm2c) {
        why_not = "wasm2c was not found (install Debian's wabt package)";
        return std::nullopt;
    }
    const auto cc = find_program(env_or("SPEAR_CC", "cc"));
    if (!cc) {
        why_not = "no C compiler ('cc') was found (install gcc)";
        return std::nullopt;
    }
    t.wasm2c = *wasm2c;
    t.cc = *cc;
    t.runtime_dir = env_or("SPEAR_WASM_RT_DIR", "/usr/share/wabt/wasm2c");
    std::error_code ec;
    if (!fs::exists(t.runtime_dir + "/wasm-rt-impl.c", ec) ||
        !fs::exists(t.runtime_dir + "/wasm-rt-impl.h", ec)) {
        why_not = "wabt's wasm2c runtime sources (" + t.runtime_dir +
                  "/wasm-rt-impl.c) were not found (install Debian's wabt package)";
        return std::nullopt;
    }
    return t;
}

std::string generate_shim(std::string_view header, std::string& error) {
    struct import_fn {
        std::string module, name, symbol, ret;
        std::vector<std::string> params; // without the instance pointer
    };
    struct export_fn {
        std::string name, symbol;
        bool returns_i32 = false;
    };
    std::vector<import_fn> imports;
    std::vector<export_fn> exports;
    std::string memory_symbol;
    bool has_import_struct = false;

    std::vector<std::string> lines;
    {
        std::stringstream in{std::string(header)};
        std::string l;
        while (std::getline(in, l))
            lines.push_back(l);
    }
    for (std::size_t i = 0; i < lines.size(); ++i) {
        const std::string_view line = lines[i];
        if (line.starts_with("struct Z_wasi_snapshot_preview1_instance_t;"))
            has_import_struct = true;
        const bool is_import = line.starts_with("/* import: ");
        const bool is_export = line.starts_with("/* export: ");
        if ((!is_import && !is_export) || i + 1 >= lines.size())
            continue;
        const auto names = quoted(line);
        std::string ret, symbol;
        std::vector<std::string> params;
        if (!parse_declaration(lines[i + 1], ret, symbol, params)) {
            error = "unexpected wasm2c output: " + lines[i + 1];
            return {};
        }
        if (is_import) {
            if (names.size() != 2 || names[0] != "wasi_snapshot_preview1" || !plain_name(names[1])) {
                error = "import " + std::string(line) + " is not a WASI preview1 function";
                return {};
            }
            if (params.empty() || params.front() != "struct Z_wasi_snapshot_preview1_instance_t*") {
                error = "import '" + names[1] + "' is not a function";
                return {};
            }
            params.erase(params.begin());
            for (const auto& p : params)
                if (!value_code(p)) {
                    error = "import '" + names[1] + "' takes a " + p + " (only i32 and i64)";
                    return {};
                }
            if (ret != "void" && !value_code(ret)) {
                error = "import '" + names[1] + "' returns a " + ret;
                return {};
            }
            imports.push_back({names[0], names[1], symbol, ret, params});
            continue;
        }
        if (names.size() != 1 || !plain_name(names[0]))
            continue; // an export no entry can name
        if (ret == "wasm_rt_memory_t*" && names[0] == "memory") {
            memory_symbol = symbol;
            continue;
        }
        if (params.size() == 1 && params[0] == "Z_guest_instance_t*" &&
            (ret == "void" || ret == "u32"))
            exports.push_back({names[0], symbol, ret == "u32"});
    }

    std::ostringstream c;
    c << "/* Generated by spearlet compile: binds wasm2c's module \"guest\" to aot_abi.h. */\n"
         "#include <string.h>\n#include <stdio.h>\n"
         "#include \"guest.h\"\n#include \"wasm-rt-impl.h\"\n#include \"aot_abi.h\"\n\n";
    c << "struct Z_wasi_snapshot_preview1_instance_t {\n  spear_aot_host_fn host;\n  void* ctx;\n"
         "};\n"
         "static Z_guest_instance_t g_instance;\n"
         "static struct Z_wasi_snapshot_preview1_instance_t g_env;\n\n";
    c << "static wasm_rt_memory_t* spear_memory(void) {\n";
    if (memory_symbol.empty())
        c << "  return NULL;\n}\n";
    else
        c << "  return " << memory_symbol << "(&g_instance);\n}\n";
    c << "static void spear_host(uint32_t index, const uint64_t* p, uint64_t* r) {\n"
         "  wasm_rt_memory_t* m = spear_memory();\n"
         "  g_env.host(g_env.ctx, index, p, r, m ? m->data : NULL, m ? (uint64_t)m->size : 0);\n"
         "}\n\n";
    for (std::size_t i = 0; i < imports.size(); ++i) {
        const auto& im = imports[i];
        c << im.ret << " " << im.symbol << "(struct Z_wasi_snapshot_preview1_instance_t* env";
        for (std::size_t k = 0; k < im.params.size(); ++k)
            c << ", " << im.params[k] << " a" << k;
        c << ") {\n  (void)env;\n  uint64_t p[" << std::max<std::size_t>(1, im.params.size())
          << "] = {0};\n  uint64_t r[1] = {0};\n";
        for (std::size_t k = 0; k < im.params.size(); ++k)
            c << "  p[" << k << "] = (uint64_t)a" << k << ";\n";
        c << "  spear_host(" << i << "u, p, r);\n";
        if (im.ret != "void")
            c << "  return (" << im.ret << ")r[0];\n";
        c << "}\n";
    }
    c << "\nstatic const struct spear_aot_import g_imports[] = {\n";
    for (const auto& im : imports) {
        std::string codes;
        for (const auto& p : im.params)
            codes += value_code(p);
        c << "  {\"" << im.module << "\", \"" << im.name << "\", \"" << codes << "\", \""
          << (im.ret == "void" ? "" : std::string(1, value_code(im.ret))) << "\"},\n";
    }
    c << "  {NULL, NULL, NULL, NULL}\n};\n";
    c << "static const struct spear_aot_export g_exports[] = {\n";
    for (const auto& ex : exports)
        c << "  {\"" << ex.name << "\", " << (ex.returns_i32 ? 1 : 0) << "},\n";
    c << "  {NULL, 0}\n};\n\n";

    c << "static const char* spear_trap_message(int trap) {\n"
         "  switch (trap) {\n"
         "  case WASM_RT_TRAP_OOB: return \"out of bounds memory access\";\n"
         "  case WASM_RT_TRAP_INT_OVERFLOW: return \"integer overflow\";\n"
         "  case WASM_RT_TRAP_DIV_BY_ZERO: return \"integer divide by zero\";\n"
         "  case WASM_RT_TRAP_INVALID_CONVERSION: return \"invalid conversion to integer\";\n"
         "  case WASM_RT_TRAP_UNREACHABLE: return \"unreachable executed\";\n"
         "  case WASM_RT_TRAP_CALL_INDIRECT: return \"indirect call signature mismatch\";\n"
         "  case WASM_RT_TRAP_UNCAUGHT_EXCEPTION: return \"uncaught exception\";\n"
         "#if !WASM_RT_MERGED_OOB_AND_EXHAUSTION_TRAPS\n"
         "  case WASM_RT_TRAP_EXHAUSTION: return \"call stack exhausted\";\n"
         "#endif\n"
         "  default: return \"trap\";\n  }\n}\n\n";
    c << "static int spear_instantiate(spear_aot_host_fn host, void* ctx, uint32_t max_pages,\n"
         "                             char* error, size_t error_size) {\n"
         "  g_env.host = host;\n  g_env.ctx = ctx;\n"
         "  wasm_rt_init();\n"
         "  int trap = wasm_rt_impl_try();\n"
         "  if (trap) {\n"
         "    snprintf(error, error_size, \"the module does not instantiate: %s\",\n"
         "             spear_trap_message(trap));\n    return -1;\n  }\n"
         "  Z_guest_init_module();\n";
    if (has_import_struct)
        c << "  Z_guest_instantiate(&g_instance, &g_env);\n";
    else
        c << "  Z_guest_instantiate(&g_instance);\n";
    c << "  wasm_rt_memory_t* m = spear_memory();\n"
         "  if (m) {\n"
         "    if (m->pages > max_pages) {\n"
         "      snprintf(error, error_size, \"the module's memory starts at %u pages, above \"\n"
         "               \"max_memory_pages (%u)\", (unsigned)m->pages, (unsigned)max_pages);\n"
         "      return -1;\n    }\n"
         "    if (m->max_pages > max_pages)\n      m->max_pages = max_pages;\n  }\n"
         "  return 0;\n}\n\n";
    c << "static int spear_call(uint32_t index, int32_t* result, const char** message) {\n"
         "  *result = 0;\n"
         "  int trap = wasm_rt_impl_try();\n"
         "  if (trap) {\n    *message = spear_trap_message(trap);\n    return trap;\n  }\n"
         "  switch (index) {\n";
    for (std::size_t i = 0; i < exports.size(); ++i) {
        c << "  case " << i << "u: ";
        if (exports[i].returns_i32)
            c << "*result = (int32_t)" << exports[i].symbol << "(&g_instance); break;\n";
        else
            c << exports[i].symbol << "(&g_instance); break;\n";
    }
    c << "  default: *message = \"no such export\"; return -1;\n  }\n  return 0;\n}\n\n";
    c << "static void spear_memory_pages(uint32_t* pages, uint32_t* max_pages) {\n"
         "  wasm_rt_memory_t* m = spear_memory();\n"
         "  *pages = m ? m->pages : 0;\n  *max_pages = m ? m->max_pages : 0;\n}\n\n";
    c << "__attribute__((visibility(\"default\"))) const struct spear_aot_module "
         "spear_aot_module_v1 = {\n"
         "  SPEAR_AOT_ABI_VERSION, "
      << imports.size() << "u, g_imports, " << exports.size()
      << "u, g_exports,\n  spear_instantiate, spear_call, spear_memory_pages,\n};\n";
    return c.str();
}

std::optional<std::string> compile_module(const toolchain& tools, const std::string& wasm_path,
                                          const std::string& out_path) {
    std::error_code ec;
    const auto out_dir = fs::absolute(out_path, ec).parent_path();
    fs::create_directories(out_dir, ec);
    std::string work_template = (out_dir / "compile-XXXXXX").string();
    if (!::mkdtemp(work_template.data()))
        return "cannot create a work directory in " + out_dir.string() + ": " +
               std::strerror(errno);
    const fs::path work = work_template;
    struct cleanup {
        fs::path dir;
        ~cleanup() {
            std::error_code ignored;
            fs::remove_all(dir, ignored);
        }
    } remove_work{work};

    const auto log = (work / "tool.log").string();
    const auto guest_c = (work / "guest.c").string();
    if (run_tool({tools.wasm2c, "-n", "guest", wasm_path, "-o", guest_c}, log) != 0)
        return "wasm2c failed: " + tail_of(log);

    std::ifstream header_in(work / "guest.h");
    const std::string header((std::istreambuf_iterator<char>(header_in)),
                             std::istreambuf_iterator<char>());
    std::string error;
    const auto shim = generate_shim(header, error);
    if (shim.empty())
        return "cannot bind the module: " + error;
    {
        std::ofstream out(work / "shim.c");
        out << shim;
        std::ofstream abi(work / "aot_abi.h");
        abi <<
#include "runtime/wasm/aot/aot_abi_text.inc"
            ;
        if (!out || !abi)
            return "cannot write into " + work.string();
    }

    // Guard pages (WASM_RT_MEMCHECK_SIGNAL_HANDLER, the x86_64 default): every access is
    // within an 8 GiB PROT_NONE reservation, so no explicit bounds check is compiled; a stray
    // access faults and the handler turns it into the "out of bounds" trap. The call depth is
    // counted (not left to the native stack) and capped as the interpreter's is.
    const auto tmp_so = (work / "module.so").string();
    const std::vector<std::string> cc = {
        tools.cc, "-O2", "-fPIC", "-shared", "-fvisibility=hidden", "-w",
        "-DWASM_RT_MEMCHECK_SIGNAL_HANDLER=1", "-DWASM_RT_USE_STACK_DEPTH_COUNT=1",
        "-DWASM_RT_MAX_CALL_STACK_DEPTH=" + std::to_string(core::limits::wasm_aot_call_depth), "-I" + tools.runtime_dir, "-I" + work.string(),
        guest_c, (work / "shim.c").string(), tools.runtime_dir + "/wasm-rt-impl.c", "-o",
        tmp_so, "-lm"};
    if (run_tool(cc, log) != 0)
        return "the C compiler failed: " + tail_of(log);
    std::string final_tmp = out_path + ".tmp-XXXXXX";
    const int fd = ::mkstemp(final_tmp.data());
    if (fd < 0)
        return "cannot write " + out_path + ": " + std::strerror(errno);
    ::close(fd);
    fs::copy_file(tmp_so, final_tmp, fs::copy_options::overwrite_existing, ec);
    if (!ec)
        fs::rename(final_tmp, out_path, ec);
    if (ec) {
        fs::remove(final_tmp, ec);
        return "cannot write " + out_path + ": " + ec.message();
    }
    ::chmod(out_path.c_str(), 0600);
    return std::nullopt;
}

void configure_cache(const std::string& data_dir, const std::string& version) {
    configured_data_dir = data_dir;
    configured_version = version.empty() ? "dev" : version;
}

std::optional<std::string> cache_dir(std::string& error) {
    std::string dir;
    bool private_tmp = false;
    if (!configured_data_dir.empty()) {
        dir = configured_data_dir + "/wasm-aot";
    } else if (const char* systemd = std::getenv("CACHE_DIRECTORY"); systemd && *systemd == '/') {
        // systemd's CacheDirectory= (several paths are ':'-separated: the first is ours).
        dir = std::string(systemd).substr(0, std::string(systemd).find(':')) + "/wasm-aot";
    } else if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg == '/') {
        dir = std::string(xdg) + "/spear-edge/wasm-aot";
    } else {
        dir = "/tmp/spear-edge-aot-" + std::to_string(::getuid());
        private_tmp = true;
    }
    std::error_code ec;
    fs::create_directories(dir, ec);
    struct stat st {};
    if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
        error = "the AOT cache directory " + dir + " cannot be created" +
                (ec ? ": " + ec.message() : std::string());
        return std::nullopt;
    }
    // Native code is loaded from here: it must be ours and closed to others.
    if (st.st_uid != ::getuid() || (private_tmp && (st.st_mode & 077) != 0)) {
        if (st.st_uid == ::getuid() && ::chmod(dir.c_str(), 0700) == 0)
            return dir;
        error = "the AOT cache directory " + dir + " belongs to another user or is open to them";
        return std::nullopt;
    }
    if (st.st_mode & 022)
        ::chmod(dir.c_str(), st.st_mode & ~static_cast<mode_t>(022));
    return dir;
}

std::string cache_file(const std::string& dir, std::string_view sha256_hex) {
    return dir + "/" + std::string(sha256_hex) + "-" + configured_version + "-abi" +
           std::to_string(SPEAR_AOT_ABI_VERSION) + ".so";
}

std::string worker_path() {
    if (const char* env = std::getenv("SPEAR_WASM_WORKER"); env && *env)
        return env;
    std::error_code ec;
    const auto exe = fs::read_symlink("/proc/self/exe", ec);
    if (ec)
        return {};
    const auto path = (exe.parent_path() / "../libexec/spear-edge/spear-wasm-worker").lexically_normal();
    return fs::exists(path, ec) ? path.string() : std::string();
}

} // namespace spear::runtime::wasm::aot
