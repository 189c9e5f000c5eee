// Tests of the AOT tier's pieces that need no compiler: the shim generated from wasm2c's header
// (imports bound by name and signature, exports an entry can name, refusals), the worker
// request's encoding, the memory note's wording, and the "tier" config field.
#include "runtime/registry.hpp"
#include "runtime/wasm/aot/aot_compiler.hpp"
#include "runtime/wasm/aot/aot_protocol.hpp"
#include "runtime/wasm/aot/aot_runner.hpp"

#include <boost/test/unit_test.hpp>

#include <string>

using namespace spear::runtime;
namespace aot = spear::runtime::wasm::aot;

namespace {

// The shape of wasm2c 1.0.32's header for a WASI command (from echo.wasm), trimmed.
constexpr const char* header = R"(struct Z_wasi_snapshot_preview1_instance_t;

typedef struct Z_guest_instance_t {
  struct Z_wasi_snapshot_preview1_instance_t* Z_wasi_snapshot_preview1_instance;
  wasm_rt_memory_t w2c_memory;
} Z_guest_instance_t;

void Z_guest_init_module(void);
void Z_guest_instantiate(Z_guest_instance_t*, struct Z_wasi_snapshot_preview1_instance_t*);

/* import: 'wasi_snapshot_preview1' 'fd_seek' */
u32 Z_wasi_snapshot_preview1Z_fd_seek(struct Z_wasi_snapshot_preview1_instance_t*, u32, u64, u32, u32);
/* import: 'wasi_snapshot_preview1' 'proc_exit' */
void Z_wasi_snapshot_preview1Z_proc_exit(struct Z_wasi_snapshot_preview1_instance_t*, u32);

/* export: 'memory' */
wasm_rt_memory_t* Z_guestZ_memory(Z_guest_instance_t* instance);

/* export: '_start' */
void Z_guestZ__start(Z_guest_instance_t*);
/* export: 'main' */
u32 Z_guestZ_main(Z_guest_instance_t*);
/* export: 'add' */
u32 Z_guestZ_add(Z_guest_instance_t*, u32, u32);
)";

bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

} // namespace

BOOST_AUTO_TEST_SUITE(wasm_aot)

BOOST_AUTO_TEST_CASE(shim_binds_wasi_imports_and_lists_callable_exports) {
    std::string error;
    const auto shim = aot::generate_shim(header, error);
    BOOST_TEST_REQUIRE(!shim.empty(), error);
    // Each import forwards its values, i64 included, by index.
    BOOST_TEST(contains(shim, "u32 Z_wasi_snapshot_preview1Z_fd_seek(struct "
                              "Z_wasi_snapshot_preview1_instance_t* env, u32 a0, u64 a1, u32 a2, "
                              "u32 a3)"));
    BOOST_TEST(contains(shim, "p[1] = (uint64_t)a1;"));
    BOOST_TEST(contains(shim, "spear_host(0u, p, r);"));
    BOOST_TEST(contains(shim, "spear_host(1u, p, r);"));
    BOOST_TEST(contains(shim, R"({"wasi_snapshot_preview1", "fd_seek", "iIii", "i"})"));
    BOOST_TEST(contains(shim, R"({"wasi_snapshot_preview1", "proc_exit", "i", ""})"));
    // Exports taking nothing; 'add' takes parameters and cannot be an entry.
    BOOST_TEST(contains(shim, R"({"_start", 0})"));
    BOOST_TEST(contains(shim, R"({"main", 1})"));
    BOOST_TEST(!contains(shim, R"("add")"));
    BOOST_TEST(contains(shim, "return Z_guestZ_memory(&g_instance);"));
    BOOST_TEST(contains(shim, "Z_guest_instantiate(&g_instance, &g_env);"));
    BOOST_TEST(contains(shim, "spear_aot_module_v1"));
}

BOOST_AUTO_TEST_CASE(shim_refuses_imports_it_cannot_bind) {
    std::string error;
    const std::string env_import = "/* import: 'env' 'f' */\n"
                                   "u32 Z_envZ_f(struct Z_env_instance_t*, u32);\n";
    BOOST_TEST(aot::generate_shim(env_import, error).empty());
    BOOST_TEST(contains(error, "not a WASI preview1 function"), error);
    const std::string float_import =
        "/* import: 'wasi_snapshot_preview1' 'odd' */\n"
        "u32 Z_wasi_snapshot_preview1Z_odd(struct Z_wasi_snapshot_preview1_instance_t*, f64);\n";
    BOOST_TEST(aot::generate_shim(float_import, error).empty());
    BOOST_TEST(contains(error, "takes a f64"), error);
}

BOOST_AUTO_TEST_CASE(worker_request_round_trips_and_refuses_garbage) {
    aot::worker_request r;
    r.max_memory_pages = 64;
    r.calls = {"_initialize", "run"};
    r.args = {"f", "x y"};
    r.env = {"A=1"};
    r.mapped_dirs = {{"/data", "/srv/data"}};
    r.input = std::string("bin\0ary", 7);
    const auto bytes = aot::encode(r);
    const auto back = aot::decode(bytes);
    BOOST_TEST_REQUIRE(back.has_value());
    BOOST_TEST(back->max_memory_pages == 64u);
    BOOST_TEST((back->calls == r.calls));
    BOOST_TEST((back->args == r.args));
    BOOST_TEST((back->env == r.env));
    BOOST_TEST((back->mapped_dirs == r.mapped_dirs));
    BOOST_TEST(back->input == r.input);
    BOOST_TEST(!aot::decode(bytes.substr(0, bytes.size() - 1)).has_value()); // cut short
    BOOST_TEST(!aot::decode(bytes + "x").has_value());                       // trailing bytes
    BOOST_TEST(!aot::decode("nonsense").has_value());
}

BOOST_AUTO_TEST_CASE(memory_note_is_the_interpreters) {
    BOOST_TEST(aot::memory_note(2, 256, false) == "");
    BOOST_TEST(aot::memory_note(2, 256, true) ==
               " (linear memory: 2 of 256 pages in use, max_memory_pages)");
    BOOST_TEST(aot::memory_note(192, 256, false) ==
               " (linear memory: 192 of 256 pages in use, max_memory_pages)");
    BOOST_TEST(aot::memory_note(0, 0, true) == "");
}

BOOST_AUTO_TEST_CASE(tier_field_is_checked) {
    const auto parse = [](const std::string& fn) {
        return parse_config(R"({"functions": [)" + fn + "]}");
    };
    const auto good =
        parse(R"({"name": "f", "runtime": "wasm", "module": "m.wasm", "tier": "auto", "fuel": 5})");
    BOOST_TEST_REQUIRE(good.value.has_value());
    const auto bad = parse(R"({"name": "f", "runtime": "wasm", "module": "m.wasm", "tier": "jit"})");
    BOOST_TEST_REQUIRE(!bad.errors.empty());
    BOOST_TEST(bad.errors[0].path == "functions[0].tier");
    BOOST_TEST(contains(bad.errors[0].reason, R"("interpreter", "aot" or "auto")"));
    const auto fuel = parse(R"({"name": "f", "runtime": "wasm", "module": "m.wasm", "tier": "aot", "fuel": 5})");
    BOOST_TEST_REQUIRE(!fuel.errors.empty());
    BOOST_TEST(fuel.errors[0].path == "functions[0].tier");
    BOOST_TEST(contains(fuel.errors[0].reason, "fuel applies to the interpreter tier only"));
    const auto process = parse(R"({"name": "p", "command": ["cat"], "tier": "aot"})");
    BOOST_TEST_REQUIRE(!process.errors.empty());
    BOOST_TEST(contains(process.errors[0].reason, "only for wasm functions"),
               process.errors[0].reason);
}

BOOST_AUTO_TEST_SUITE_END()
