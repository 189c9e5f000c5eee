// The one file that includes wabt: wasm_engine.hpp implemented on wabt 1.0.32's interpreter.
// Built as C++17 in its own library (wabt's headers do not compile as C++20 under g++ 12).
#include "runtime/wasm/wasm_engine.hpp"

#include <wabt/binary-reader.h>
#include <wabt/interp/binary-reader-interp.h>
#include <wabt/interp/interp.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <exception>
#include <iterator>
#include <utility>

namespace spear::runtime::wasm {

namespace wi = wabt::interp;

namespace {

// --- Reaching wabt's private Thread calls --------------------------------------------------
// Why: the only public way to call a guest function in wabt 1.0.32 is Func::Call, which runs
// it to the end: a guest that computes for a minute would hold the io_context (and every HTTP,
// WebSocket and frame client) for a minute. Thread::Run(n) runs a bounded slice and is public,
// but starting a call in a Thread (PushValues + PushCall), reading its results (PopValues) and
// resuming after a host function that ended a slice early (PopCall + PushValues, exactly what
// Thread::DoCall does after a host call returns) are private. C++ lets an explicit template
// instantiation name private members ([temp.spec]); the templates below use that to take these
// member pointers, here and in no other file. Checked against wabt 1.0.32 (Debian 12); the
// CMake file warns when another wabt version is found.
template <typename Tag, typename Tag::type Member> struct private_member {
    friend typename Tag::type get(Tag) { return Member; }
};

struct thread_push_call {
    using type = wi::RunResult (wi::Thread::*)(const wi::DefinedFunc&, wi::Trap::Ptr*);
    friend type get(thread_push_call);
};
struct thread_pop_call {
    using type = wi::RunResult (wi::Thread::*)();
    friend type get(thread_pop_call);
};
struct thread_push_values {
    using type = void (wi::Thread::*)(const wi::ValueTypes&, const wi::Values&);
    friend type get(thread_push_values);
};
struct thread_pop_values {
    using type = void (wi::Thread::*)(const wi::ValueTypes&, wi::Values*);
    friend type get(thread_pop_values);
};

template struct private_member<thread_push_call, &wi::Thread::PushCall>;
template struct private_member<thread_pop_call, &wi::Thread::PopCall>;
template struct private_member<thread_push_values, &wi::Thread::PushValues>;
template struct private_member<thread_pop_values, &wi::Thread::PopValues>;

value_type from_wabt(wabt::Type t) {
    switch (t) {
    case wabt::Type::I32:
        return value_type::i32;
    case wabt::Type::I64:
        return value_type::i64;
    case wabt::Type::F32:
        return value_type::f32;
    case wabt::Type::F64:
        return value_type::f64;
    default:
        return value_type::other;
    }
}

signature from_wabt(const wi::FuncType& type) {
    signature s;
    for (auto t : type.params)
        s.params.push_back(from_wabt(t));
    for (auto t : type.results)
        s.results.push_back(from_wabt(t));
    return s;
}

std::uint64_t to_slot(const wi::Value& v, wabt::Type t) {
    switch (t) {
    case wabt::Type::I32:
        return v.Get<wi::u32>();
    case wabt::Type::I64:
        return v.Get<wi::u64>();
    case wabt::Type::F32: {
        const auto f = v.Get<wi::f32>();
        std::uint32_t bits = 0;
        std::memcpy(&bits, &f, sizeof bits);
        return bits;
    }
    case wabt::Type::F64: {
        const auto f = v.Get<wi::f64>();
        std::uint64_t bits = 0;
        std::memcpy(&bits, &f, sizeof bits);
        return bits;
    }
    default:
        return 0;
    }
}

wi::Value from_slot(std::uint64_t slot, wabt::Type t) {
    switch (t) {
    case wabt::Type::I64:
        return wi::Value::Make(static_cast<wi::u64>(slot));
    case wabt::Type::F32: {
        const auto bits = static_cast<std::uint32_t>(slot);
        wi::f32 f = 0;
        std::memcpy(&f, &bits, sizeof f);
        return wi::Value::Make(f);
    }
    case wabt::Type::F64: {
        wi::f64 f = 0;
        std::memcpy(&f, &slot, sizeof f);
        return wi::Value::Make(f);
    }
    default:
        return wi::Value::Make(static_cast<wi::u32>(slot));
    }
}

import_kind from_wabt(wabt::ExternalKind kind) {
    switch (kind) {
    case wabt::ExternalKind::Func:
        return import_kind::function;
    case wabt::ExternalKind::Table:
        return import_kind::table;
    case wabt::ExternalKind::Memory:
        return import_kind::memory;
    case wabt::ExternalKind::Global:
        return import_kind::global;
    case wabt::ExternalKind::Tag:
        return import_kind::tag;
    }
    return import_kind::tag;
}

} // namespace

// operator== and to_string(signature) live in wasm_signature.cpp (the worker needs them too).

// --- module_image ---------------------------------------------------------------------------

namespace {

/// The proposals modules may use: wabt's defaults (the MVP plus the finished proposals) without
/// bulk memory. Why: `memory.fill`, `memory.copy`, `memory.init`, `table.copy` and `table.init`
/// touch up to the whole memory or table (16 MiB by default, ~1-2 ms) as ONE instruction, and
/// wabt 1.0.32 has no hook to charge them by length (`Thread::Run(n)` steps instructions with no
/// callback; the copies run in private `Thread::Do*` through `Memory`'s non-virtual
/// `Fill/Copy/Init`). A guest looping on them would make slices far longer than their budget and
/// fuel meaningless, so they are not run at all. wabt makes reference types depend on bulk
/// memory (`Features::UpdateDependencies`), so turning bulk memory off turns them off too (and
/// `table.fill`/`table.grow` are the same kind of unmetered bulk write).
wabt::Features accepted_features() {
    wabt::Features features;
    features.disable_reference_types();
    features.disable_bulk_memory();
    return features;
}

/// Decodes and validates `data` with `features` into `desc`; on failure sets `error` to the
/// engine's first message with its byte offset.
bool read_module(const std::uint8_t* data, std::size_t size, const wabt::Features& features,
                 wi::ModuleDesc& desc, std::string& error) {
    wabt::Errors errors;
    const wabt::ReadBinaryOptions options(features, nullptr, false, true, false);
    if (!wabt::Failed(wi::ReadBinaryInterp("module", data, size, options, &errors, &desc)))
        return true;
    error = errors.empty() ? std::string("not a valid WebAssembly module") : errors.front().message;
    if (!errors.empty() && errors.front().loc.offset != wabt::kInvalidOffset) {
        char where[40];
        std::snprintf(where, sizeof where, " (at byte %zu)", errors.front().loc.offset);
        error += where;
    }
    return false;
}

} // namespace

struct module_image::impl {
    wi::ModuleDesc desc;                ///< validated; limits applied; start section removed
    std::vector<wi::Index> start_funcs; ///< run as the first queued call instead
    std::vector<import_info> imports;
    std::uint64_t initial_pages = 0;
    std::uint64_t max_pages = 0;
};

module_image::module_image(std::unique_ptr<impl> p)
    : impl_(std::move(p)) {}
module_image::~module_image() = default;

std::shared_ptr<const module_image> module_image::load(const std::uint8_t* data, std::size_t size,
                                                       const load_limits& limits,
                                                       std::string& error) {
    auto p = std::make_unique<impl>();
    if (!read_module(data, size, accepted_features(), p->desc, error)) {
        // Refused: say why when a proposal we turned off is the reason (the engine's own
        // message is then only "unexpected opcode: 0xfc 0xb" or similar). Costs up to two more
        // reads, on a path taken once per file version (a broken module is remembered).
        wabt::Features with_bulk = accepted_features();
        with_bulk.enable_bulk_memory();   // reference types stay off
        wi::ModuleDesc scratch, scratch2; // fresh for each read: a failed read leaves parts
        std::string ignored;
        if (read_module(data, size, with_bulk, scratch, ignored)) {
            error = "it uses bulk memory instructions (memory.copy/memory.fill/memory.init, "
                    "table.copy/table.init), which cannot be metered: build the module without "
                    "-mbulk-memory";
        } else if (read_module(data, size, wabt::Features{}, scratch2, error)) {
            error = "it uses reference types (table.get/set/grow/fill/size, ref.func, several "
                    "tables), which the engine accepts only together with bulk memory "
                    "instructions, and those cannot be metered: build the module without "
                    "-mreference-types and -mbulk-memory";
        } // else: invalid whatever the features; `error` is what wabt's defaults say
        return nullptr;
    }

    for (auto& mem : p->desc.memories) {
        auto& lim = mem.type.limits;
        if (lim.initial > limits.max_memory_pages) {
            error = "the module's memory starts at " + std::to_string(lim.initial) +
                    " pages, above the limit of " + std::to_string(limits.max_memory_pages) +
                    " pages (max_memory_pages)";
            return nullptr;
        }
        lim.max = lim.has_max ? std::min<std::uint64_t>(lim.max, limits.max_memory_pages)
                              : limits.max_memory_pages;
        lim.has_max = true;
        if (p->initial_pages == 0 && p->max_pages == 0) {
            p->initial_pages = lim.initial;
            p->max_pages = lim.max;
        }
    }
    for (auto& table : p->desc.tables) {
        auto& lim = table.type.limits;
        if (lim.initial > limits.max_table_elements) {
            error = "a table of the module starts with " + std::to_string(lim.initial) +
                    " elements, above the limit of " + std::to_string(limits.max_table_elements);
            return nullptr;
        }
        lim.max = lim.has_max ? std::min<std::uint64_t>(lim.max, limits.max_table_elements)
                              : limits.max_table_elements;
        lim.has_max = true;
    }
    for (const auto& start : p->desc.starts)
        p->start_funcs.push_back(start.func_index);
    p->desc.starts.clear();

    for (const auto& imp : p->desc.imports) {
        import_info info;
        info.module = imp.type.module;
        info.name = imp.type.name;
        info.kind = from_wabt(imp.type.type->kind);
        if (auto* ft = wabt::dyn_cast<wi::FuncType>(imp.type.type.get()))
            info.type = from_wabt(*ft);
        p->imports.push_back(std::move(info));
    }
    return std::make_shared<const module_image>(std::move(p));
}

const std::vector<import_info>& module_image::imports() const noexcept {
    return impl_->imports;
}

std::optional<signature> module_image::exported_function(std::string_view name) const {
    for (const auto& exp : impl_->desc.exports) {
        if (exp.type.name != name)
            continue;
        if (auto* ft = wabt::dyn_cast<wi::FuncType>(exp.type.type.get()))
            return from_wabt(*ft);
        return std::nullopt;
    }
    return std::nullopt;
}

std::uint64_t module_image::initial_memory_pages() const noexcept {
    return impl_->initial_pages;
}
std::uint64_t module_image::max_memory_pages() const noexcept {
    return impl_->max_pages;
}
bool module_image::has_start_function() const noexcept {
    return !impl_->start_funcs.empty();
}

// --- instance -------------------------------------------------------------------------------

struct instance::impl {
    // Declaration order is destruction order reversed: the Thread and every RefPtr must go
    // before the Store that owns what they point to.
    std::shared_ptr<const module_image> module;
    host_functions* host = nullptr;
    wi::Store store;
    wi::Instance::Ptr inst;
    wi::Memory* memory = nullptr;            ///< owned by the store; null without memory
    std::vector<wi::DefinedFunc::Ptr> calls; ///< queued calls, front first
    std::size_t next_call = 0;
    bool in_call = false;
    bool ended = false;
    std::unique_ptr<wi::Thread> thread;

    // A host function that ended the slice (yield or trap) leaves its outcome here.
    bool yield_pending = false;
    bool preempted = false; ///< the yield is the metering's (cost used up the budget)
    /// Cost of the host calls made since run() last counted them, and what is left of the
    /// current run()'s budget before them.
    std::uint64_t host_cost = 0;
    std::uint64_t budget_left = 0;
    wi::ValueTypes yield_types;
    wi::Values yield_values;
    std::optional<std::string> host_trap;

    wabt::Result host_call(std::size_t index, const wi::FuncType& type, const wi::Values& params,
                           wi::Values& results) {
        std::uint64_t in[16] = {};
        std::uint64_t out[4] = {};
        if (type.params.size() > std::size(in) || type.results.size() > std::size(out)) {
            host_trap = "host function with too many parameters or results";
            return wabt::Result::Error;
        }
        for (std::size_t i = 0; i < params.size(); ++i)
            in[i] = to_slot(params[i], type.params[i]);
        memory_view view;
        if (memory) {
            view.data = memory->UnsafeData();
            view.size = memory->ByteSize();
        }
        host_result r;
        try {
            r = host->call(index, in, out, view);
        } catch (const std::exception& e) {
            host_trap = std::string("host function failed: ") + e.what();
            return wabt::Result::Error;
        }
        for (std::size_t i = 0; i < results.size(); ++i)
            results[i] = from_slot(out[i], type.results[i]);
        host_cost += r.cost;
        switch (r.action) {
        case host_action::proceed:
            if (host_cost < budget_left)
                return wabt::Result::Ok;
            // The call's work used up the slice: end it as a yield that needs no wait.
            preempted = true;
            yield_pending = true;
            yield_types = type.results;
            yield_values = results;
            return wabt::Result::Error;
        case host_action::yield:
            // Returning Error makes Thread::DoCall stop the slice before it pops the host
            // frame and pushes the results; run() does both when it sees yield_pending.
            yield_pending = true;
            yield_types = type.results;
            yield_values = results;
            return wabt::Result::Error;
        case host_action::trap:
            host_trap = std::move(r.trap_message);
            return wabt::Result::Error;
        }
        return wabt::Result::Ok;
    }
};

instance::instance(std::unique_ptr<impl> p)
    : impl_(std::move(p)) {}
instance::~instance() = default;

std::unique_ptr<instance> instance::create(std::shared_ptr<const module_image> module,
                                           host_functions& host, std::string& error) {
    auto p = std::make_unique<impl>();
    p->module = std::move(module);
    p->host = &host;
    const auto& desc = p->module->get().desc;

    wi::RefVec imports;
    for (std::size_t i = 0; i < desc.imports.size(); ++i) {
        const auto* ft = wabt::dyn_cast<wi::FuncType>(desc.imports[i].type.type.get());
        if (!ft) {
            error = "import " + desc.imports[i].type.module + "." + desc.imports[i].type.name +
                    " is not a function: only function imports are provided";
            return nullptr;
        }
        // A raw pointer: a RefPtr held inside a HostFunc would outlive ~Store (use-after-free).
        impl* self = p.get();
        const wi::FuncType type = *ft;
        auto fn = wi::HostFunc::New(
            p->store, type,
            [self, i, type](wi::Thread&, const wi::Values& params, wi::Values& results,
                            wi::Trap::Ptr*) { return self->host_call(i, type, params, results); });
        imports.push_back(fn.ref());
    }

    auto mod = wi::Module::New(p->store, desc);
    wi::Trap::Ptr trap;
    p->inst = wi::Instance::Instantiate(p->store, mod.ref(), imports, &trap);
    if (!p->inst) {
        error = trap ? trap->message() : std::string("instantiation failed");
        return nullptr;
    }
    if (!p->inst->memories().empty())
        p->memory = p->store.UnsafeGet<wi::Memory>(p->inst->memories().front()).get();
    for (auto index : p->module->get().start_funcs) {
        const auto ref = p->inst->funcs()[index];
        if (!p->store.Is<wi::DefinedFunc>(ref)) {
            error = "the start function is an import: not supported";
            return nullptr;
        }
        p->calls.push_back(p->store.UnsafeGet<wi::DefinedFunc>(ref));
    }
    p->thread = std::make_unique<wi::Thread>(p->store);
    return std::make_unique<instance>(std::move(p));
}

bool instance::queue_call(std::string_view name, std::string& error) {
    auto& p = *impl_;
    const auto& exports = p.module->get().desc.exports;
    for (std::size_t i = 0; i < exports.size(); ++i) {
        if (exports[i].type.name != name)
            continue;
        const auto ref = p.inst->exports()[i];
        if (!p.store.Is<wi::DefinedFunc>(ref)) {
            error = "export '" + std::string(name) + "' is not a function defined by the module";
            return false;
        }
        auto fn = p.store.UnsafeGet<wi::DefinedFunc>(ref);
        const auto& type = fn->type();
        const bool ok_results = type.results.empty() ||
                                (type.results.size() == 1 && type.results[0] == wabt::Type::I32);
        if (!type.params.empty() || !ok_results) {
            error = "export '" + std::string(name) + "' has type " + to_string(from_wabt(type)) +
                    "; an entry must take no parameters and return nothing or one i32";
            return false;
        }
        p.calls.push_back(std::move(fn));
        return true;
    }
    error = "the module exports no function '" + std::string(name) + "'";
    return false;
}

slice_result instance::run(std::uint64_t max_instructions) {
    auto& p = *impl_;
    slice_result out;
    if (p.ended) {
        out.state = slice_state::trapped;
        out.trap_message = "the execution has already ended";
        return out;
    }
    const auto budget = std::max(max_instructions, std::uint64_t{1});
    while (out.instructions < budget) {
        if (!p.in_call) {
            if (p.next_call == p.calls.size()) {
                p.ended = true;
                out.state = slice_state::finished;
                return out;
            }
            wi::Trap::Ptr trap;
            const auto& fn = *p.calls[p.next_call];
            if ((p.thread.get()->*get(thread_push_call{}))(fn, &trap) == wi::RunResult::Trap) {
                p.ended = true;
                out.state = slice_state::trapped;
                out.trap_message = trap ? trap->message() : "call stack exhausted";
                return out;
            }
            p.in_call = true;
        }

        const auto chunk = std::min(chunk_instructions, budget - out.instructions);
        p.budget_left = budget - out.instructions;
        wi::Trap::Ptr trap;
        const auto rr = p.thread->Run(static_cast<int>(chunk), &trap);
        out.instructions += chunk + std::exchange(p.host_cost, 0);
        switch (rr) {
        case wi::RunResult::Ok:
            break;
        case wi::RunResult::Return: {
            wi::Values results;
            const auto& fn = *p.calls[p.next_call];
            (p.thread.get()->*get(thread_pop_values{}))(fn.type().results, &results);
            out.result.reset();
            if (results.size() == 1)
                out.result = static_cast<std::int32_t>(results[0].Get<wi::u32>());
            p.in_call = false;
            ++p.next_call;
            break;
        }
        case wi::RunResult::Trap:
            if (p.yield_pending) {
                // Finish the host call the way Thread::DoCall would have: pop the host frame,
                // push the results; the guest resumes after its call on the next run().
                p.yield_pending = false;
                (p.thread.get()->*get(thread_pop_call{}))();
                (p.thread.get()->*get(thread_push_values{}))(p.yield_types, p.yield_values);
                out.state =
                    std::exchange(p.preempted, false) ? slice_state::running : slice_state::yielded;
                return out;
            }
            p.ended = true;
            out.state = slice_state::trapped;
            if (p.host_trap)
                out.trap_message = std::move(*p.host_trap);
            else
                out.trap_message = trap ? trap->message() : std::string("trap");
            return out;
        case wi::RunResult::Exception:
            p.ended = true;
            out.state = slice_state::trapped;
            out.trap_message = "uncaught exception";
            return out;
        }
    }
    out.state = slice_state::running;
    return out;
}

std::uint64_t instance::memory_pages() const noexcept {
    return impl_->memory ? impl_->memory->PageSize() : 0;
}

} // namespace spear::runtime::wasm
