// spear-wasm-worker: runs one execution of a compiled wasm module (a .so from `spearlet
// compile`) in its own process, so native guest code never runs on the appliance's thread.
// Limits itself (memory, open files, no processes, no core dumps), loads the module, binds its
// imports to the same WASI layer as the interpreter (wasi_context), instantiates it and installs
// a seccomp filter allowing only what that layer needs, all before it reads the request
// (aot_protocol.hpp) from stdin to end of file (so a spare worker started ahead of need waits
// there, ready); then opens the mapped directories (read-only), runs the entry calls, and
// reports output and outcome as frames on stdout.
// Usage: spear-wasm-worker MODULE.so MAX_PAGES   (started by the wasm runtime, not by people)
#include "core/limits.hpp"
#include "runtime/wasm/aot/aot_abi.h"
#include "runtime/wasm/aot/aot_protocol.hpp"
#include "runtime/wasm/wasi_context.hpp"

#include <dlfcn.h>
#include <fcntl.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

namespace wasm = spear::runtime::wasm;
namespace aot = spear::runtime::wasm::aot;

#if defined(__SANITIZE_ADDRESS__)
constexpr bool sanitized = true; // ASan maps terabytes of shadow memory: no memory rlimit
#else
constexpr bool sanitized = false;
#endif

constexpr std::uint64_t worker_overhead_bytes = spear::core::limits::wasm_aot_worker_overhead_bytes;
constexpr std::uint64_t guard_reservation_bytes =
    spear::core::limits::wasm_aot_guard_reservation_bytes;
constexpr rlim_t max_fds = spear::core::limits::wasm_aot_worker_fds;

void write_all(const char* data, std::size_t size) {
    while (size > 0) {
        const auto n = ::write(1, data, size);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            ::_exit(3); // the runtime is gone
        }
        data += n;
        size -= static_cast<std::size_t>(n);
    }
}

void frame(aot::frame_kind kind, std::string_view payload) {
    std::string head;
    head.push_back(static_cast<char>(kind));
    aot::put_u32(head, static_cast<std::uint32_t>(payload.size()));
    head.append(payload);
    write_all(head.data(), head.size());
}

const spear_aot_module* module = nullptr;

std::string pages_prefix() {
    std::uint32_t pages = 0, max_pages = 0;
    if (module)
        module->memory_pages(&pages, &max_pages);
    std::string p;
    aot::put_u32(p, pages);
    aot::put_u32(p, max_pages);
    return p;
}

[[noreturn]] void finish_exit(std::uint32_t code) {
    std::string payload;
    aot::put_u32(payload, code);
    payload += pages_prefix();
    frame(aot::frame_kind::exit, payload);
    ::_exit(0);
}

[[noreturn]] void finish_trap(std::string_view message) {
    frame(aot::frame_kind::trap, pages_prefix() + std::string(message));
    ::_exit(0);
}

[[noreturn]] void finish_error(std::string_view message) {
    frame(aot::frame_kind::error, message);
    ::_exit(0);
}

class pipe_host final : public wasm::wasi_host {
public:
    void write_stdout(std::string_view bytes) override { frame(aot::frame_kind::out, bytes); }
    void write_stderr(std::string_view bytes) override { frame(aot::frame_kind::err, bytes); }
};

struct call_context {
    wasm::wasi_context* wasi = nullptr;
    std::vector<wasm::wasi_function> bindings;
};

void host_call(void* ctx, std::uint32_t index, const std::uint64_t* params,
               std::uint64_t* results, std::uint8_t* memory, std::uint64_t memory_size) {
    auto& c = *static_cast<call_context*>(ctx);
    if (!c.wasi) // a start function run while the module is instantiated, before any request
        finish_error("the module's start function calls WASI while it is instantiated: not "
                     "supported in the aot tier (use the interpreter)");
    const auto r = c.wasi->call(c.bindings.at(index), params, results,
                                wasm::memory_view{memory, memory_size});
    switch (r.action) {
    case wasm::host_action::proceed:
        return;
    case wasm::host_action::yield: {
        // The interpreter gives the io_context back here; this process has nothing else to
        // serve, so it just sleeps (timeout and cancel kill it from outside).
        const auto wait = c.wasi->take_wait();
        if (wait.count() > 0) {
            timespec ts{static_cast<time_t>(wait.count() / 1'000'000'000),
                        static_cast<long>(wait.count() % 1'000'000'000)};
            while (::clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &ts) == EINTR) {
            }
        }
        return;
    }
    case wasm::host_action::trap:
        if (const auto code = c.wasi->exit_code())
            finish_exit(*code);
        finish_trap(r.trap_message);
    }
}

wasm::value_type type_of(char c) {
    return c == 'i' ? wasm::value_type::i32
                    : c == 'I' ? wasm::value_type::i64 : wasm::value_type::other;
}

std::string read_stdin() {
    std::string data;
    char buf[65536];
    for (;;) {
        const auto n = ::read(0, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        data.append(buf, static_cast<std::size_t>(n));
    }
    return data;
}

void set_limit(int resource, rlim_t value) {
    rlimit current{};
    if (::getrlimit(resource, &current) != 0)
        return;
    const rlim_t v = current.rlim_max == RLIM_INFINITY ? value : std::min(value, current.rlim_max);
    rlimit next{v, v};
    ::setrlimit(resource, &next);
}

/// Only what the WASI layer, libc's allocator and the trap handler need from here on.
/// Everything else (sockets, exec, fork, ptrace, kill, writable opens, executable mappings)
/// kills the process (SIGSYS), which the runtime reports.
bool install_seccomp(std::string& error) {
    scmp_filter_ctx ctx = ::seccomp_init(SCMP_ACT_KILL_PROCESS);
    if (!ctx) {
        error = "seccomp_init failed";
        return false;
    }
    int rc = 0;
    auto allow = [&](int nr) {
        if (rc == 0)
            rc = ::seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
    };
    for (const int nr :
         {SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(readv), SCMP_SYS(writev), SCMP_SYS(pread64),
          SCMP_SYS(preadv), SCMP_SYS(lseek), SCMP_SYS(close), SCMP_SYS(fstat),
          SCMP_SYS(newfstatat), SCMP_SYS(statx), SCMP_SYS(getdents64), SCMP_SYS(fcntl),
          SCMP_SYS(munmap), SCMP_SYS(mremap), SCMP_SYS(brk), SCMP_SYS(madvise),
          SCMP_SYS(clock_gettime), SCMP_SYS(clock_getres), SCMP_SYS(clock_nanosleep),
          SCMP_SYS(nanosleep), SCMP_SYS(gettimeofday), SCMP_SYS(getrandom), SCMP_SYS(exit),
          SCMP_SYS(exit_group), SCMP_SYS(rt_sigreturn), SCMP_SYS(rt_sigprocmask),
          SCMP_SYS(sigaltstack), SCMP_SYS(futex), SCMP_SYS(getpid), SCMP_SYS(gettid)})
        allow(nr);
    // A sanitizer build's runtime looks at the CPUs, the maps and the stack limit when a trap
    // longjmps out of the signal handler, and probes memory through a pipe (harmless, and
    // allowed only in those builds).
    if (sanitized)
        for (const int nr : {SCMP_SYS(sched_getaffinity), SCMP_SYS(sched_yield),
                             SCMP_SYS(readlink), SCMP_SYS(getrlimit), SCMP_SYS(pipe2)})
            allow(nr);
    // Memory: never executable (the module's code is mapped already).
    if (rc == 0)
        rc = ::seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
                                SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
    if (rc == 0)
        rc = ::seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
                                SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
    // Reading a limit (never setting one): a sanitizer build's longjmp reads RLIMIT_STACK.
    if (rc == 0)
        rc = ::seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prlimit64), 1,
                                SCMP_A2(SCMP_CMP_EQ, 0));
    // Opening: read-only, never creating or truncating (the WASI layer opens below the mapped
    // directories with openat; the kernel's own checks apply on top).
    if (rc == 0)
        rc = ::seccomp_rule_add(
            ctx, SCMP_ACT_ALLOW, SCMP_SYS(openat), 1,
            SCMP_A2(SCMP_CMP_MASKED_EQ,
                    static_cast<scmp_datum_t>(O_ACCMODE | O_CREAT | O_TRUNC | O_APPEND), 0));
    if (rc == 0)
        rc = ::seccomp_load(ctx);
    ::seccomp_release(ctx);
    if (rc != 0) {
        error = std::string("seccomp filter: ") + std::strerror(-rc);
        return false;
    }
    return true;
}

} // namespace

int main(int argc, char** argv) {
    // Started ahead of need (a spare per function, see aot_runner.hpp): everything that does
    // not depend on the request happens before it is read, so a run pays only for its own part.
    char* end = nullptr;
    const unsigned long max_pages = argc == 3 ? std::strtoul(argv[2], &end, 10) : 0;
    if (argc != 3 || *end != '\0' || max_pages == 0 || max_pages > 65536) {
        const char usage[] = "usage: spear-wasm-worker MODULE.so MAX_PAGES (run by spearlet)\n";
        (void)!::write(2, usage, sizeof usage - 1);
        return 2;
    }

    // Limits before anything of the module runs. The guest's memory is capped by its maximum
    // pages inside the module; these bound the worker as a whole.
    const std::uint64_t guest_bytes = std::uint64_t(max_pages) << 16;
    if (!sanitized) {
        set_limit(RLIMIT_DATA, guest_bytes + worker_overhead_bytes);
        set_limit(RLIMIT_AS, guard_reservation_bytes + guest_bytes + 4 * worker_overhead_bytes);
    }
    set_limit(RLIMIT_NOFILE, max_fds);
    set_limit(RLIMIT_CORE, 0);
    set_limit(RLIMIT_NPROC, 0);

    void* handle = ::dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!handle)
        finish_error(std::string("cannot load the compiled module: ") + ::dlerror());
    module = static_cast<const spear_aot_module*>(::dlsym(handle, SPEAR_AOT_SYMBOL));
    if (!module || module->abi_version != SPEAR_AOT_ABI_VERSION)
        finish_error("the compiled module was made for another worker version: recompile it");

    call_context ctx;
    for (std::uint32_t i = 0; i < module->import_count; ++i) {
        const auto& im = module->imports[i];
        wasm::import_info info;
        info.module = im.module;
        info.name = im.name;
        info.kind = wasm::import_kind::function;
        for (const char* p = im.params; *p; ++p)
            info.type.params.push_back(type_of(*p));
        for (const char* p = im.results; *p; ++p)
            info.type.results.push_back(type_of(*p));
        std::string error;
        const auto fn = wasm::bind_wasi_import(info, error);
        if (!fn)
            finish_error(error);
        ctx.bindings.push_back(*fn);
    }
    char error[512] = {0};
    if (module->instantiate(host_call, &ctx, static_cast<std::uint32_t>(max_pages), error,
                            sizeof error) != 0)
        finish_error(error);
    // From here on only what the WASI layer needs (the mapped directories are opened below,
    // read-only, which the filter allows).
    std::string why;
    if (!install_seccomp(why))
        finish_error(why);

    // Now the request (the runtime writes it whole, then closes the pipe).
    const auto request = aot::decode(read_stdin());
    if (!request)
        finish_error("the worker got a malformed request");
    ::close(0);
    if (request->max_memory_pages != max_pages)
        finish_error("the worker was started for another max_memory_pages");

    std::vector<std::uint32_t> calls;
    for (const auto& name : request->calls) {
        std::uint32_t found = module->export_count;
        for (std::uint32_t i = 0; i < module->export_count; ++i)
            if (name == module->exports[i].name)
                found = i;
        if (found == module->export_count)
            finish_error("the module exports no function '" + name + "'");
        calls.push_back(found);
    }

    wasm::wasi_config config;
    config.args = request->args;
    config.env = request->env;
    config.stdin_data = request->input;
    config.mapped_dirs = request->mapped_dirs;
    pipe_host host;
    std::optional<wasm::wasi_context> wasi;
    try {
        wasi.emplace(std::move(config), host);
    } catch (const std::exception& e) {
        finish_error(e.what());
    }
    ctx.wasi = &*wasi;

    std::int32_t result = 0;
    for (const auto index : calls) {
        const char* message = "trap";
        if (module->call(index, &result, &message) != 0)
            finish_trap(message);
    }
    finish_exit(static_cast<std::uint32_t>(result));
}
