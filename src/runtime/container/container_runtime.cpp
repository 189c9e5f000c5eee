// Container runtime (container_runtime.hpp). One run, on the caller's executor, none of it
// blocking:
//   create   POST /containers/create (labels, limits, no network, read-only root, no privileges);
//            a 404 is a missing image: it is never pulled here;
//   attach   the hijacked raw stream, before start so no output is lost;
//   start    then, raced against the timeout and the cancel signal:
//              feed_stdin  writes the input and half-closes the connection (EOF on stdin);
//              pump        demultiplexes stdout (to the sink, live) and stderr (the tail);
//              exit        inspect until it no longer runs, once the stream has ended;
//   stop     (timeout, cancel) kill SIGTERM, the kill grace for it to exit, then remove;
//            (the inspect gives State.ExitCode and State.OOMKilled);
//   remove   DELETE ?force=true (SIGKILL if still running) before the run returns, always.
// A container the appliance could not remove (it died, the engine stopped answering) carries
// the labels spear-edge.node and spear-edge.instance; the next start removes it.
#include "runtime/container/container_runtime.hpp"
#include "runtime/run_environment.hpp"

#include "core/limits.hpp"
#include "core/log.hpp"
#include "platform/child_process.hpp"
#include "runtime/container/attach_stream.hpp"
#include "runtime/container/engine_answers.hpp"
#include "runtime/container/engine_client.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/json/array.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <array>
#include <random>

namespace spear::runtime {

namespace json = boost::json;
using namespace asio::experimental::awaitable_operators;
using container::engine_client;
using container::engine_error;
using container::engine_response;
using core::error_code;
using core::execution_outcome;
using core::ExecutionStatus;
using clock_type = std::chrono::steady_clock;

/// The engine as this runtime knows it: the client, the config, and the last look at it.
struct container_runtime::engine_state {
    enum class health { unknown, up, down };

    explicit engine_state(const asio::any_io_executor& ex, const core::config& cfg)
        : client(ex, container::options_for(cfg.container))
        , config(cfg.container)
        , node_id(cfg.node.id)
        , instance(random_hex()) {}

    static std::string random_hex() {
        std::random_device rd;
        std::string out;
        constexpr char digits[] = "0123456789abcdef";
        for (int i = 0; i < 16; ++i)
            out += digits[rd() % 16];
        return out;
    }

    void note_up(std::string new_version = {}) {
        state = health::up;
        if (!new_version.empty())
            version = std::move(new_version);
        last_error.clear();
        checked_at = clock_type::now();
    }
    void note(const engine_error& e) {
        if (e.which() == engine_error::kind::unreachable) {
            state = health::down;
            last_error = e.what();
        }
        checked_at = clock_type::now();
    }

    engine_client client;
    core::container_config config;
    std::string node_id;
    std::string instance; ///< this start's label value: the sweep spares these
    health state = health::unknown;
    std::string version;
    std::string last_error;
    std::optional<clock_type::time_point> checked_at;
    bool look_in_flight = false;
};

namespace {

using engine_state = container_runtime::engine_state;
constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);

const container_function& settings_of(const function_spec& fn) {
    return std::get<container_function>(fn.settings);
}

std::string percent_encode(std::string_view s) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    for (const char c : s) {
        const auto u = static_cast<unsigned char>(c);
        if (std::isalnum(u) || c == '-' || c == '_' || c == '.' || c == '~') {
            out += c;
        } else {
            out += '%';
            out += hex[u >> 4];
            out += hex[u & 15];
        }
    }
    return out;
}

execution_outcome failed(std::string message, error_code code = error_code::function_failed) {
    return execution_outcome{ExecutionStatus::failed, code, std::move(message), std::nullopt,
                             std::nullopt};
}

// --- the engine, in the background --------------------------------------------------------

/// GET /version: up with its version, or down with the reason.
asio::awaitable<void> look_at_engine(std::shared_ptr<engine_state> state) {
    state->look_in_flight = true;
    try {
        const auto r = co_await state->client.request("GET", "/version");
        if (r.status == 200)
            state->note_up(container::engine_version(r));
        else
            state->note(engine_error(engine_error::kind::unreachable,
                                     "container engine at " + state->config.engine +
                                         " answered GET /version with HTTP " +
                                         std::to_string(r.status)));
    } catch (const engine_error& e) {
        state->note(e);
    }
    state->look_in_flight = false;
}

/// Removes the containers of this node that another start of the appliance left behind.
asio::awaitable<void> sweep_leftovers(std::shared_ptr<engine_state> state) {
    co_await look_at_engine(state);
    if (state->state != engine_state::health::up) {
        log::warn(state->last_error + " (container functions will fail until it is)");
        co_return;
    }
    log::info("container engine " + state->version + " at " + state->config.engine);
    json::object filters;
    filters["label"] = json::array{json::value("spear-edge.node=" + state->node_id)};
    const auto target =
        "/containers/json?all=true&filters=" + percent_encode(json::serialize(filters));
    try {
        const auto listed = co_await state->client.request("GET", target);
        boost::system::error_code ec;
        const auto v = json::parse(listed.body, ec);
        if (listed.status != 200 || ec || !v.is_array()) {
            log::warn("container engine: could not list leftover containers: " +
                      engine_client::error_text(listed));
            co_return;
        }
        std::size_t removed = 0;
        for (const auto& item : v.get_array()) {
            if (!item.is_object())
                continue;
            const auto& c = item.get_object();
            const auto* id = c.if_contains("Id");
            const auto* labels = c.if_contains("Labels");
            if (!id || !id->is_string() || !labels || !labels->is_object())
                continue;
            const auto* instance = labels->get_object().if_contains("spear-edge.instance");
            if (instance && instance->is_string() && instance->get_string() == state->instance)
                continue; // one of ours, of this start
            const auto gone = co_await state->client.request(
                "DELETE", "/containers/" + std::string(id->get_string()) + "?force=true");
            if (gone.status == 204 || gone.status == 200 || gone.status == 404)
                ++removed;
            else
                log::warn("container engine: could not remove leftover container " +
                          std::string(id->get_string()) + ": " + engine_client::error_text(gone));
        }
        if (removed > 0)
            log::info("container engine: removed " + std::to_string(removed) +
                      " container(s) left by an earlier run of node '" + state->node_id + "'");
    } catch (const engine_error& e) {
        state->note(e);
        log::warn(std::string("container engine: leftover sweep failed: ") + e.what());
    }
}

void spawn_logged(const asio::any_io_executor& ex, asio::awaitable<void> task, const char* what) {
    asio::co_spawn(ex, std::move(task), [what](std::exception_ptr e) { log::task_ended(what, e); });
}

// --- one run ------------------------------------------------------------------------------

/// The layers every runtime gives (run_environment); PATH is the image's unless set.
json::array environment_for(const run_request& request) {
    json::array out;
    for (auto& entry : run_environment(request))
        out.emplace_back(std::move(entry));
    return out;
}

struct effective_limits {
    std::uint64_t memory_bytes;
    std::uint64_t milli_cpus;
    std::uint64_t pids;
};

effective_limits limits_of(const container_function& fn, const core::container_config& c) {
    return {fn.memory_bytes ? fn.memory_bytes : c.memory_bytes,
            fn.milli_cpus ? fn.milli_cpus : c.milli_cpus,
            fn.pids_limit ? fn.pids_limit : c.pids_limit};
}

std::string create_body(const run_request& request, const engine_state& state) {
    const auto& fn = settings_of(*request.function);
    const auto lim = limits_of(fn, state.config);
    json::object labels;
    labels["spear-edge.execution"] = request.execution_id;
    labels["spear-edge.function"] = request.function->common.name;
    labels["spear-edge.node"] = state.node_id;
    labels["spear-edge.instance"] = state.instance;

    json::object host;
    host["NetworkMode"] = fn.network;
    host["ReadonlyRootfs"] = fn.read_only;
    host["Privileged"] = false;
    host["CapDrop"] = json::array{"ALL"};
    host["SecurityOpt"] = json::array{"no-new-privileges"};
    host["Memory"] = lim.memory_bytes;
    host["MemorySwap"] = lim.memory_bytes; // no swap beyond the memory limit
    host["NanoCpus"] = lim.milli_cpus * 1'000'000;
    host["PidsLimit"] = lim.pids;
    host["AutoRemove"] = false; // removed by the run, after its exit status is read

    json::object body;
    body["Image"] = fn.image;
    if (!fn.command.empty()) {
        json::array cmd;
        for (const auto& a : fn.command)
            cmd.emplace_back(a);
        body["Cmd"] = std::move(cmd);
    }
    if (!fn.working_dir.empty())
        body["WorkingDir"] = fn.working_dir;
    body["Env"] = environment_for(request);
    body["Labels"] = std::move(labels);
    body["AttachStdin"] = true;
    body["AttachStdout"] = true;
    body["AttachStderr"] = true;
    body["OpenStdin"] = true;
    body["StdinOnce"] = true; // the end of the attach's input closes the container's stdin
    body["Tty"] = false;      // multiplexed stdout and stderr (attach_stream)
    body["NetworkDisabled"] = fn.network == "none";
    body["HostConfig"] = std::move(host);
    return json::serialize(body);
}

class sink_handler final : public container::attach_demuxer::handler {
public:
    explicit sink_handler(output_sink& sink)
        : sink_(sink) {}
    void on_payload(container::attach_demuxer::stream which, std::string_view piece) override {
        if (which == container::attach_demuxer::stream::stdout_stream)
            sink_.on_stdout(piece);
        else
            sink_.on_stderr(piece);
    }

private:
    output_sink& sink_;
};

using local_socket = asio::local::stream_protocol::socket;

asio::awaitable<void> feed_stdin(local_socket& socket, const std::string& input) {
    // Errors are expected (the container exited without reading its input): ignored.
    if (!input.empty())
        co_await asio::async_write(socket, asio::buffer(input), tuple_awaitable);
    boost::system::error_code ignored;
    socket.shutdown(local_socket::shutdown_send, ignored); // EOF on the container's stdin
}

asio::awaitable<void> pump(local_socket& socket, std::string leftover, output_sink& sink,
                           const run_request& request) {
    container::attach_demuxer demux;
    sink_handler out(sink);
    bool ok = demux.feed(leftover, out);
    std::array<char, core::limits::container_read_bytes> buffer;
    while (ok) {
        auto [ec, n] = co_await socket.async_read_some(asio::buffer(buffer), tuple_awaitable);
        if (n > 0)
            ok = demux.feed(std::string_view(buffer.data(), n), out);
        if (ec)
            break; // EOF: the container's output has ended
    }
    if (!ok)
        log::warn("function '" + request.function->common.name + "' (execution " +
                  request.execution_id + "): " + demux.error());
}

/// How the container ended, read by inspect once it no longer runs.
struct exit_info {
    std::int64_t code = -1;
    bool oom_killed = false;
};

/// Inspects until the container no longer runs. The stream ends when the container's output
/// does, a little before the engine records the exit: Podman's /wait answers on a ~250 ms poll
/// of its own (measured: 120-580 ms after the stream's end), while an inspect takes ~2 ms; so
/// look at once, then back off from 2 ms to container_exit_poll_max. Raced by the caller
/// against the timeout and the cancel signal.
asio::awaitable<exit_info> exit_status(const engine_client& client, const std::string& id) {
    const auto ex = co_await asio::this_coro::executor;
    asio::steady_timer pause(ex);
    std::chrono::milliseconds delay{2};
    for (;;) {
        const auto r = co_await client.request("GET", "/containers/" + id + "/json");
        const auto st = container::inspected_state(r);
        if (!st)
            throw engine_error(engine_error::kind::protocol,
                               "the container engine could not inspect the container: " +
                                   engine_client::error_text(r));
        if (!st->running)
            co_return exit_info{st->exit_code, st->oom_killed};
        pause.expires_after(delay);
        co_await pause.async_wait(asio::use_awaitable);
        delay = std::min(delay * 2, core::limits::container_exit_poll_max);
    }
}

asio::awaitable<exit_info> run_container(const engine_client& client, const std::string& id,
                                         container::attach_connection& attached,
                                         const run_request& request, output_sink& sink) {
    co_await (feed_stdin(attached.socket, request.input) &&
              pump(attached.socket, std::move(attached.leftover), sink, request));
    co_return co_await exit_status(client, id);
}

enum class stop_reason { exited, timeout, cancelled };

execution_outcome stopped(stop_reason reason, const run_request& request) {
    if (reason == stop_reason::timeout)
        return execution_outcome{ExecutionStatus::timeout, error_code::timeout,
                                 "killed after exceeding its " +
                                     std::to_string(request.timeout.count()) + " ms timeout",
                                 std::nullopt, std::nullopt};
    return execution_outcome{ExecutionStatus::cancelled, error_code::none, "cancelled",
                             std::nullopt, std::nullopt};
}

/// Exit code, OOM kill and signal as for a process: 128+N is "killed by signal N" (the
/// engines' convention); an OOM kill says so, with the limit.
execution_outcome exited(std::int64_t code, bool oom_killed, std::uint64_t memory_bytes) {
    execution_outcome o;
    const std::string limit_text = std::to_string(memory_bytes) + " bytes";
    if (oom_killed) {
        o.status = ExecutionStatus::failed;
        o.error = error_code::function_failed;
        o.signal = 9;
        o.error_message = "killed by the out-of-memory killer: out of memory (over its "
                          "memory limit of " +
                          limit_text + ")";
        return o;
    }
    if (code > 128 && code <= 128 + 64) {
        const int sig = static_cast<int>(code - 128);
        o.status = ExecutionStatus::failed;
        o.error = error_code::function_failed;
        o.signal = sig;
        o.error_message = "killed by signal " + std::to_string(sig);
        if (const auto name = platform::signal_name(sig); !name.empty())
            o.error_message += " (" + name + ")";
        if (sig == 9) // some engines (Podman with cgroup v1) do not report OOMKilled
            o.error_message +=
                ", most likely out of memory (over its memory limit of " + limit_text + ")";
        return o;
    }
    o.exit_code = static_cast<int>(code);
    if (code == 0) {
        o.status = ExecutionStatus::completed;
        return o;
    }
    o.status = ExecutionStatus::failed;
    o.error = error_code::function_failed;
    o.error_message = "exited with code " + std::to_string(code);
    return o;
}

/// SIGTERM, then up to the kill grace for it to exit (the remove that follows SIGKILLs).
asio::awaitable<void> stop_container(const engine_client& client, const std::string& id,
                                     std::chrono::milliseconds grace) {
    if (grace.count() == 0)
        co_return;
    try {
        const auto killed =
            co_await client.request("POST", "/containers/" + id + "/kill?signal=SIGTERM");
        if (killed.status != 204)
            co_return; // not running any more (409), or gone
        co_await client.request("POST", "/containers/" + id + "/wait", {}, grace);
    } catch (const engine_error&) {
        // the grace ran out (timeout), or the engine is gone: the remove says the rest
    }
}

asio::awaitable<execution_outcome> supervise(engine_state& state, const std::string& id,
                                             const run_request& request, output_sink& sink,
                                             cancel_signal& cancel) {
    const auto& client = state.client;
    const auto& fn = *request.function;
    auto attached = co_await client.attach(id);
    const auto started = co_await client.request("POST", "/containers/" + id + "/start");
    if (started.status != 204 && started.status != 304)
        co_return failed("the container of function '" + fn.common.name +
                         "' could not start: " + engine_client::error_text(started));

    const auto ex = co_await asio::this_coro::executor;
    asio::steady_timer deadline(ex, request.timeout);
    auto first = co_await (run_container(client, id, attached, request, sink) ||
                           deadline.async_wait(tuple_awaitable) || cancel.wait());
    if (first.index() != 0) {
        const auto reason = first.index() == 1 ? stop_reason::timeout : stop_reason::cancelled;
        co_await stop_container(client, id, request.kill_grace);
        co_return stopped(reason, request);
    }
    const auto info = std::get<0>(first);
    co_return exited(info.code, info.oom_killed,
                     limits_of(settings_of(fn), state.config).memory_bytes);
}

/// DELETE ?force=true: kills (SIGKILL) what still runs and removes it. False when the
/// container may still exist (logged; the next start's sweep removes it).
asio::awaitable<bool> remove_container(engine_state& state, const std::string& id,
                                       const run_request& request) {
    try {
        const auto r = co_await state.client.request("DELETE", "/containers/" + id + "?force=true");
        if (r.status == 204 || r.status == 200 || r.status == 404)
            co_return true;
        log::error("function '" + request.function->common.name + "' (execution " +
                   request.execution_id + "): the engine did not remove container " + id + ": " +
                   engine_client::error_text(r));
    } catch (const engine_error& e) {
        state.note(e);
        log::error("function '" + request.function->common.name + "' (execution " +
                   request.execution_id + "): removing container " + id + " failed: " + e.what());
    }
    co_return false;
}

} // namespace

container_runtime::container_runtime(const asio::any_io_executor& executor)
    : executor_(executor) {}

container_runtime::~container_runtime() = default;

void container_runtime::configure(const core::config& cfg) {
    state_ = std::make_shared<engine_state>(executor_, cfg);
    spawn_logged(executor_, sweep_leftovers(state_), "container engine start-up");
}

json::object container_runtime::health() {
    json::object o;
    if (!state_)
        return o;
    auto& st = *state_;
    const auto now = clock_type::now();
    if (!st.look_in_flight &&
        (!st.checked_at || now - *st.checked_at > core::limits::container_health_interval))
        spawn_logged(executor_, look_at_engine(state_), "container engine look");
    o["engine"] = st.config.engine;
    o["state"] = st.state == engine_state::health::up     ? "up"
                 : st.state == engine_state::health::down ? "down"
                                                          : "unknown";
    if (st.state == engine_state::health::up && !st.version.empty())
        o["version"] = st.version;
    if (st.state == engine_state::health::down)
        o["error"] = st.last_error;
    if (st.checked_at)
        o["checked_ms_ago"] =
            std::chrono::duration_cast<std::chrono::milliseconds>(now - *st.checked_at).count();
    return o;
}

asio::awaitable<execution_outcome> container_runtime::run(run_request request, output_sink& sink,
                                                          cancel_signal& cancel) {
    if (!request.function)
        throw std::invalid_argument("container_runtime: run_request.function is null");
    if (!state_)
        throw std::logic_error("container_runtime: run before configure");
    const auto state = state_; // the run keeps the engine state alive
    const function_spec& fn = *request.function;
    const auto& settings = settings_of(fn);
    if (cancel.requested())
        co_return stopped(stop_reason::cancelled, request);

    // create
    std::string id;
    std::optional<execution_outcome> refusal;
    try {
        const auto created = co_await state->client.request(
            "POST", "/containers/create?name=spear-" + request.execution_id,
            create_body(request, *state));
        state->note_up();
        if (auto created_as = container::created_id(created))
            id = std::move(*created_as);
        else if (created.status == 404)
            refusal = failed("image '" + settings.image + "' is not in the container engine at " +
                             state->config.engine +
                             " (images are never pulled at invoke: pull or load it first)");
        else
            refusal = failed("the container engine could not create the container of function '" +
                             fn.common.name + "': " + engine_client::error_text(created));
    } catch (const engine_error& e) {
        state->note(e);
        refusal = failed(e.what());
    }
    if (refusal) {
        log::warn("function '" + fn.common.name + "' (execution " + request.execution_id +
                  "): " + refusal->error_message);
        co_return *refusal;
    }

    // run, then remove whatever happened
    execution_outcome outcome;
    std::exception_ptr unexpected;
    try {
        outcome = co_await supervise(*state, id, request, sink, cancel);
    } catch (const engine_error& e) {
        state->note(e);
        outcome = failed(e.what());
        log::warn("function '" + fn.common.name + "' (execution " + request.execution_id +
                  "): " + e.what());
    } catch (...) {
        unexpected = std::current_exception();
    }
    co_await remove_container(*state, id, request);
    if (unexpected)
        std::rethrow_exception(unexpected);
    co_return outcome;
}

} // namespace spear::runtime
