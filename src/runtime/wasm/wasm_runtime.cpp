// The wasm runtime: module loading and caching, and the slice loop that runs one execution
// cooperatively on the io_context (timeout, cancel and fuel checked at every slice boundary).
#include "runtime/wasm/wasm_runtime.hpp"

#include "core/log.hpp"
#include "runtime/wasm/aot/aot_compiler.hpp"
#include "runtime/wasm/aot/aot_runner.hpp"
#include "runtime/wasm/sha256.hpp"
#include "runtime/wasm/wasi_context.hpp"
#include "runtime/wasm/wasm_engine.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <system_error>

namespace spear::runtime {

using core::error_code;
using core::ExecutionStatus;
using clock_type = std::chrono::steady_clock;

struct wasm_runtime::loaded_module {
    std::string key; ///< the config fields it was loaded from (see load_key)
    std::shared_ptr<const wasm::module_image> image;
    std::vector<wasm::wasi_function> bindings; ///< one per import
    std::vector<std::string> calls;            ///< exports called in order ("_start")
};

namespace {

/// What identifies a module file's content without reading it: it changes whenever the file
/// is replaced (inode), written (size, mtime, ctime) or appears or disappears (stat_errno).
struct file_stamp {
    int stat_errno = 0;
    std::uint64_t dev = 0;
    std::uint64_t ino = 0;
    std::int64_t size = 0;
    std::int64_t mtime_ns = 0;
    std::int64_t ctime_ns = 0;
    bool operator==(const file_stamp&) const = default;
};

file_stamp stamp_of(const std::string& path) {
    struct stat st {};
    file_stamp s;
    if (::stat(path.c_str(), &st) != 0) {
        s.stat_errno = errno;
        return s;
    }
    s.dev = static_cast<std::uint64_t>(st.st_dev);
    s.ino = static_cast<std::uint64_t>(st.st_ino);
    s.size = static_cast<std::int64_t>(st.st_size);
    s.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
    s.ctime_ns = static_cast<std::int64_t>(st.st_ctim.tv_sec) * 1'000'000'000 + st.st_ctim.tv_nsec;
    return s;
}

/// What a loaded module depends on in its function's config: if any of it differs, the cached
/// module is not the one the config asks for.
std::string load_key(const wasm_function& f) {
    return f.module + '\n' + f.entry + '\n' + f.sha256 + '\n' + std::to_string(f.max_memory_pages);
}

/// Reads, checks and decodes a function's module. On failure `reason` says why, without the
/// path (it goes into client-visible messages); the caller adds the path where it may.
std::shared_ptr<const wasm_runtime::loaded_module> load_module(const wasm_function& f,
                                                               const wasm_runtime_options& options,
                                                               const std::string& path,
                                                               std::string& reason) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        reason = std::string("cannot open the file: ") + std::strerror(errno);
        return nullptr;
    }
    std::error_code ec;
    const auto size = std::filesystem::file_size(path, ec);
    if (ec || size > options.max_module_bytes) {
        reason =
            ec ? "cannot read the file: " + ec.message()
               : "the file is larger than " + std::to_string(options.max_module_bytes) + " bytes";
        return nullptr;
    }
    std::string bytes(static_cast<std::size_t>(size), '\0');
    if (!in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()))) {
        reason = "cannot read the file";
        return nullptr;
    }
    if (!f.sha256.empty()) {
        const auto actual = wasm::sha256_hex(bytes);
        if (actual != f.sha256) {
            reason = "sha256 mismatch: the config says " + f.sha256 + ", the file has " + actual;
            return nullptr;
        }
    }

    auto out = std::make_shared<wasm_runtime::loaded_module>();
    out->key = load_key(f);
    wasm::load_limits limits;
    limits.max_memory_pages = f.max_memory_pages;
    std::string error;
    out->image = wasm::module_image::load(reinterpret_cast<const std::uint8_t*>(bytes.data()),
                                          bytes.size(), limits, error);
    if (!out->image) {
        reason = "not a valid WebAssembly module: " + error;
        return nullptr;
    }
    for (const auto& import : out->image->imports()) {
        const auto fn = wasm::bind_wasi_import(import, error);
        if (!fn) {
            reason = error;
            return nullptr;
        }
        out->bindings.push_back(*fn);
    }

    // Entry: the configured export, else a WASI command's _start, else main.
    const wasm::signature no_result{{}, {}};
    const wasm::signature i32_result{{}, {wasm::value_type::i32}};
    auto callable = [&](const std::string& name) {
        const auto type = out->image->exported_function(name);
        return type && (*type == no_result || *type == i32_result);
    };
    std::string entry = f.entry;
    if (entry.empty())
        entry = callable("_start") ? "_start" : "main";
    if (!callable(entry)) {
        const auto type = out->image->exported_function(entry);
        reason = type ? "entry '" + entry + "' has type " + to_string(*type) +
                            "; it must take no parameters and return nothing or an i32"
                      : (f.entry.empty() ? std::string("the module exports neither _start nor main "
                                                       "(set \"entry\")")
                                         : "the module exports no function '" + entry + "'");
        return nullptr;
    }
    // A WASI reactor initialises itself in _initialize before any other export is called.
    if (entry != "_start" && callable("_initialize"))
        out->calls.emplace_back("_initialize");
    out->calls.push_back(entry);
    return out;
}

/// WASI output goes to the execution's sink as the guest writes it.
class sink_host final : public wasm::wasi_host {
public:
    explicit sink_host(output_sink& sink)
        : sink_(sink) {}
    void write_stdout(std::string_view bytes) override { sink_.on_stdout(bytes); }
    void write_stderr(std::string_view bytes) override { sink_.on_stderr(bytes); }

private:
    output_sink& sink_;
};

/// Import i of the module calls the WASI function it was bound to at load.
class wasi_imports final : public wasm::host_functions {
public:
    wasi_imports(wasm::wasi_context& wasi, const std::vector<wasm::wasi_function>& bindings)
        : wasi_(wasi)
        , bindings_(bindings) {}
    wasm::host_result call(std::size_t index, const std::uint64_t* params, std::uint64_t* results,
                           wasm::memory_view memory) override {
        return wasi_.call(bindings_[index], params, results, memory);
    }

private:
    wasm::wasi_context& wasi_;
    const std::vector<wasm::wasi_function>& bindings_;
};

core::execution_outcome outcome(ExecutionStatus status, error_code code, std::string message,
                                std::optional<int> exit_code = std::nullopt) {
    return core::execution_outcome{status, code, std::move(message), exit_code, std::nullopt};
}

core::execution_outcome exited(std::uint32_t code, const std::string& memory_note) {
    const auto as_int = static_cast<int>(code);
    if (code == 0)
        return outcome(ExecutionStatus::completed, error_code::none, {}, 0);
    return outcome(ExecutionStatus::failed, error_code::function_failed,
                   "exit code " + std::to_string(as_int) + memory_note, as_int);
}

const wasm_function& settings_of(const function_spec& function) {
    return std::get<wasm_function>(function.settings);
}

/// The tier each prepared (or checked) function settled on, for GET /functions.
std::unordered_map<const function_spec*, std::string>& settled_tiers() {
    static std::unordered_map<const function_spec*, std::string> tiers;
    return tiers;
}

std::optional<aot_choice> try_aot(const wasm_function& f, std::string& problem, std::string& note) {
    aot_choice choice;
    choice.worker = wasm::aot::worker_path();
    if (choice.worker.empty()) {
        problem = "the AOT worker (spear-wasm-worker) is not installed beside spearlet";
        return std::nullopt;
    }
    const auto path = resolve_module_path(f.module);
    std::ifstream in(path, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in.good() && !in.eof()) {
        problem = "cannot read the module";
        return std::nullopt;
    }
    const auto dir = wasm::aot::cache_dir(problem);
    if (!dir)
        return std::nullopt;
    choice.module_so = wasm::aot::cache_file(*dir, wasm::sha256_hex(bytes));
    std::error_code ec;
    if (std::filesystem::exists(choice.module_so, ec)) {
        note = "compiled module from the cache (" + choice.module_so + ")";
        return choice;
    }
    const auto tools = wasm::aot::find_toolchain(problem);
    if (!tools)
        return std::nullopt;
    const auto started = clock_type::now();
    if (auto error = wasm::aot::compile_module(*tools, path, choice.module_so)) {
        problem = "compiling '" + path + "' failed: " + *error;
        return std::nullopt;
    }
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() -
                                                                          started);
    note = "compiled in " + std::to_string(ms.count()) + " ms into " + choice.module_so;
    return choice;
}

} // namespace

std::optional<aot_choice> resolve_aot_tier(const function_spec& function, std::string& problem,
                                           std::string& note) {
    const auto& f = settings_of(function);
    std::optional<aot_choice> choice;
    if (f.tier == "auto" && f.fuel > 0)
        note = "fuel is counted by the interpreter only: the interpreter tier runs it";
    else if (f.tier != "interpreter")
        choice = try_aot(f, problem, note);
    settled_tiers()[&function] = choice ? "aot" : (f.tier == "aot" ? "" : "interpreter");
    return choice;
}

void configure_wasm_aot_cache(const std::string& data_dir, const std::string& version) {
    wasm::aot::configure_cache(data_dir, version);
}

std::optional<std::string> compile_wasm_module(const std::string& wasm_path,
                                               const std::string& out_so) {
    wasm_function f;
    f.module = wasm_path;
    f.max_memory_pages = core::limits::wasm_memory_pages_max;
    std::string reason;
    if (!load_module(f, wasm_runtime_options{}, wasm_path, reason))
        return "module '" + wasm_path + "': " + reason;
    const auto tools = wasm::aot::find_toolchain(reason);
    if (!tools)
        return reason;
    return wasm::aot::compile_module(*tools, wasm_path, out_so);
}

std::string tier_in_use(const function_spec& function) {
    if (settings_of(function).tier == "interpreter")
        return "interpreter";
    const auto it = settled_tiers().find(&function);
    return it != settled_tiers().end() ? it->second : std::string();
}

std::string resolve_module_path(std::string_view configured) {
    constexpr std::string_view origin = "$ORIGIN/";
    if (!configured.starts_with(origin))
        return std::string(configured);
    std::error_code ec;
    auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (ec)
        return std::string(configured.substr(origin.size()));
    return (exe.parent_path() / configured.substr(origin.size())).lexically_normal().string();
}

std::optional<std::string> validate_wasm_function(const function_spec& function,
                                                  const wasm_runtime_options& options) {
    const auto& settings = settings_of(function);
    const auto path = resolve_module_path(settings.module);
    std::string reason;
    if (load_module(settings, options, path, reason))
        return std::nullopt;
    return "module '" + path + "': " + reason;
}

wasm_runtime::wasm_runtime(wasm_runtime_options options)
    : options_(options) {}
wasm_runtime::~wasm_runtime() = default;

/// A module that failed to load, and the file it failed with.
struct wasm_runtime::failed_module {
    std::string key; ///< load_key of the config it was loaded for
    file_stamp stamp;
    std::string error;
};

std::shared_ptr<const wasm_runtime::loaded_module>
wasm_runtime::cached(const function_spec& function, std::string& error) {
    const auto& settings = settings_of(function);
    const auto key = load_key(settings);
    auto it = cache_.find(&function);
    if (it != cache_.end() && it->second->key == key)
        return it->second;
    // Stamp before reading: a file changed while it is read gets a new stamp, so it is
    // read again next time rather than remembered as broken in its new form.
    const auto path = resolve_module_path(settings.module);
    auto stamp = stamp_of(path);
    if (auto bad = failed_.find(&function); bad != failed_.end()) {
        if (bad->second->key == key && bad->second->stamp == stamp) {
            error = bad->second->error;
            return nullptr;
        }
        failed_.erase(bad);
    }
    ++module_reads_;
    auto module = load_module(settings, options_, path, error);
    if (module)
        cache_.insert_or_assign(&function, module);
    else
        failed_.emplace(&function,
                        std::make_shared<const failed_module>(failed_module{key, std::move(stamp), error}));
    return module;
}

platform::spawn_result wasm_runtime::take_worker(const function_spec& function,
                                                const aot_choice& choice) {
    const auto pages = settings_of(function).max_memory_pages;
    platform::spawn_result taken;
    if (auto spare = spares_.find(&function); spare != spares_.end()) {
        // A spare that died (it could not load the module) is reaped here; a fresh worker
        // then reports why.
        if (!spare->second.has_exited())
            taken.child = std::move(spare->second);
        spares_.erase(spare);
    }
    if (taken.child.pid() <= 0)
        taken = wasm::aot::spawn_worker(choice.worker, choice.module_so, pages);
    return taken;
}

void wasm_runtime::refill_spare(const function_spec& function, const aot_choice& choice) {
    if (spares_.contains(&function))
        return;
    auto next = wasm::aot::spawn_worker(choice.worker, choice.module_so,
                                        settings_of(function).max_memory_pages);
    if (!next.failure)
        spares_.insert_or_assign(&function, std::move(next.child));
}

std::optional<std::string> wasm_runtime::preload(const function_spec& function) {
    std::string error;
    if (cached(function, error))
        return std::nullopt;
    return "module '" + resolve_module_path(settings_of(function).module) + "': " + error;
}

void wasm_runtime::prepare(const function_spec& function) {
    // A bad module is logged; its invokes fail with the reason while every other function
    // keeps working.
    if (auto problem = preload(function)) {
        log::error("function '" + function.common.name + "': " + *problem);
        return;
    }
    const auto& f = settings_of(function);
    if (f.tier == "interpreter")
        return;
    std::string problem;
    std::string note;
    auto choice = resolve_aot_tier(function, problem, note);
    const std::string who = "wasm function '" + function.common.name + "': ";
    if (choice) {
        log::info(who + "tier aot: " + note);
        auto spare = wasm::aot::spawn_worker(choice->worker, choice->module_so, f.max_memory_pages);
        if (!spare.failure)
            spares_.insert_or_assign(&function, std::move(spare.child));
        aot_.insert_or_assign(&function, std::move(*choice));
    } else if (f.tier == "aot") {
        log::error(who + "tier aot is not available: " + problem);
        aot_failed_.insert_or_assign(&function, problem);
    } else {
        log::warn(who + "tier auto falls back to the interpreter: " +
                  (problem.empty() ? note : problem));
    }
}

asio::awaitable<core::execution_outcome> wasm_runtime::run(run_request request, output_sink& sink,
                                                           cancel_signal& cancel) {
    using namespace asio::experimental::awaitable_operators;
    const auto& spec = *request.function;
    const auto& fn = settings_of(spec);
    const auto deadline = clock_type::now() + request.timeout;

    std::string error;
    const auto module = cached(spec, error);
    if (!module) {
        log::warn("wasm function '" + spec.common.name + "': module '" +
                  resolve_module_path(fn.module) + "': " + error);
        co_return outcome(ExecutionStatus::failed, error_code::function_failed,
                          "the wasm module does not load: " + error);
    }

    if (const auto bad = aot_failed_.find(&spec); bad != aot_failed_.end())
        co_return outcome(ExecutionStatus::failed, error_code::function_failed,
                          "the wasm module cannot run in the aot tier: it could not be compiled");
    if (const auto compiled = aot_.find(&spec); compiled != aot_.end()) {
        wasm::aot::worker_request work;
        work.max_memory_pages = fn.max_memory_pages;
        work.calls = module->calls;
        work.args.push_back(spec.common.name);
        work.args.insert(work.args.end(), fn.args.begin(), fn.args.end());
        auto worker_env = spec.common.env;
        for (const auto& [key, value] : request.request_env)
            worker_env[key] = value;
        for (const auto& [key, value] : worker_env)
            work.env.push_back(key + "=" + value);
        for (const auto& [guest, host_dir] : fn.mapped_dirs)
            work.mapped_dirs.emplace_back(guest, host_dir);
        work.input = std::move(request.input);
        auto started = take_worker(spec, compiled->second);
        if (started.failure) {
            log::error("wasm function '" + spec.common.name + "': cannot start the AOT worker: " +
                       std::generic_category().message(started.failure->error));
            co_return outcome(ExecutionStatus::failed, error_code::function_failed,
                              "the wasm AOT worker could not be started");
        }
        auto result = co_await wasm::aot::run_in_worker(std::move(started.child),
                                                        std::move(work), request, sink, cancel);
        // The next run's worker starts after this one, and after its result has gone out
        // (posted): its start (vfork + exec on this thread, then exec, dlopen, instantiate:
        // ~1-2 ms of CPU) neither delays the answer nor competes with this run.
        const auto executor = co_await asio::this_coro::executor;
        std::weak_ptr<bool> alive = alive_;
        const function_spec* function = &spec;
        asio::post(executor, [this, alive, function] {
            if (alive.expired())
                return;
            if (const auto still = aot_.find(function); still != aot_.end())
                refill_spare(*function, still->second);
        });
        co_return result;
    }

    wasm::wasi_config config;
    config.args.push_back(spec.common.name);
    config.args.insert(config.args.end(), fn.args.begin(), fn.args.end());
    auto env = spec.common.env;
    for (const auto& [key, value] : request.request_env)
        env[key] = value;
    for (const auto& [key, value] : env)
        config.env.push_back(key + "=" + value);
    config.stdin_data = std::move(request.input);
    for (const auto& [guest, host_dir] : fn.mapped_dirs)
        config.mapped_dirs.emplace_back(guest, host_dir);

    sink_host host(sink);
    std::optional<wasm::wasi_context> wasi;
    try {
        wasi.emplace(std::move(config), host);
    } catch (const std::exception& e) {
        co_return outcome(ExecutionStatus::failed, error_code::function_failed, e.what());
    }
    wasi_imports imports(*wasi, module->bindings);
    auto instance = wasm::instance::create(module->image, imports, error);
    if (!instance)
        co_return outcome(ExecutionStatus::failed, error_code::function_failed,
                          "the wasm module does not instantiate: " + error);
    for (const auto& call : module->calls)
        if (!instance->queue_call(call, error))
            co_return outcome(ExecutionStatus::failed, error_code::function_failed, error);

    // A failed memory.grow is invisible to the host (the guest just gets -1), so failures say
    // how full the memory was: a guest that met max_memory_pages shows it here.
    auto memory_note = [&](bool always) {
        const auto limit = module->image->max_memory_pages();
        const auto pages = instance->memory_pages();
        if (limit == 0 || (!always && pages * 4 < limit * 3))
            return std::string();
        return " (linear memory: " + std::to_string(pages) + " of " + std::to_string(limit) +
               " pages in use, max_memory_pages)";
    };

    // Linear memory only grows, so its size at the end is the guest's peak (faas_mem_usage).
    auto measured = [&](core::execution_outcome o) {
        sink.on_peak_memory(instance->memory_pages() * 65536);
        return o;
    };

    const auto executor = co_await asio::this_coro::executor;
    const bool metered = fn.fuel > 0;
    std::uint64_t fuel = fn.fuel;
    // Other work is ready when giving the thread back took longer than an idle round trip
    // (a post and a reactor poll): then slices are short for a while, so a request's later
    // io_context rounds wait ~25 us each rather than a full slice (docs/wasm.md).
    auto contended_until = clock_type::time_point{};
    auto give_back = [&]() -> asio::awaitable<void> {
        const auto posted = clock_type::now();
        co_await asio::post(executor, asio::use_awaitable);
        const auto resumed = clock_type::now();
        if (resumed - posted > options_.contention_gap)
            contended_until = resumed + options_.contention_window;
    };
    for (;;) {
        if (cancel.requested())
            co_return measured(outcome(ExecutionStatus::cancelled, error_code::none, "cancelled"));
        if (clock_type::now() >= deadline)
            co_return measured(outcome(ExecutionStatus::timeout, error_code::timeout,
                              "timed out after " + std::to_string(request.timeout.count()) + " ms"));
        if (metered && fuel == 0)
            co_return measured(outcome(ExecutionStatus::timeout, error_code::timeout,
                              "instruction budget (fuel) of " + std::to_string(fn.fuel) +
                                  " exhausted"));

        // One slice: sub-slices until the instruction budget or the slice time is used up.
        auto budget =
            metered ? std::min(fuel, options_.slice_instructions) : options_.slice_instructions;
        const auto slice_start = clock_type::now();
        const bool contended = slice_start < contended_until;
        const auto slice_end =
            slice_start + (contended ? options_.slice_time_contended : options_.slice_time);
        const auto sub_slice = contended ? options_.sub_slice_instructions_contended
                                         : options_.sub_slice_instructions;
        wasm::slice_result slice;
        for (;;) {
            slice = instance->run(std::min(budget, sub_slice));
            budget -= std::min(budget, slice.instructions);
            if (metered)
                fuel -= std::min(fuel, slice.instructions);
            if (slice.state != wasm::slice_state::running || budget == 0 ||
                clock_type::now() >= slice_end)
                break;
        }

        switch (slice.state) {
        case wasm::slice_state::running:
            co_await give_back();
            break;
        case wasm::slice_state::yielded: {
            const auto wait = wasi->take_wait();
            const auto left = deadline - clock_type::now();
            if (wait.count() > 0 && left.count() > 0) {
                asio::steady_timer timer(executor, std::min<clock_type::duration>(wait, left));
                co_await (timer.async_wait(asio::as_tuple(asio::use_awaitable)) || cancel.wait());
            } else {
                co_await give_back();
            }
            break;
        }
        case wasm::slice_state::finished:
            co_return measured(exited(static_cast<std::uint32_t>(slice.result.value_or(0)),
                             memory_note(false)));
        case wasm::slice_state::trapped:
            if (const auto code = wasi->exit_code())
                co_return measured(exited(*code, memory_note(false)));
            co_return measured(outcome(ExecutionStatus::failed, error_code::function_failed,
                              "wasm trap: " + slice.trap_message + memory_note(true)));
        }
    }
}

} // namespace spear::runtime
