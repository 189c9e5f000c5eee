// The NATS link: libnats's external event-loop API driven by Asio descriptors, and a bridge that
// carries every libnats-thread callback into the io_context by asio::post.
//
// Threads. libnats calls us from its own threads: message delivery (the global delivery pool),
// the reconnect thread (attach, read/write interest, connected/reconnected), the ping timer and
// its async-callback thread (disconnected, closed, errors). Those callbacks copy what they need
// and asio::post it; only the loop touches impl. A callback finds its link through a small
// process-wide registry (link id -> executor + weak_ptr), looked up under a mutex that is held
// while posting: close() removes the entry under the same mutex, so once it returns no libnats
// thread can post for this link any more, and the closure pointers libnats keeps are plain
// integers (link id, connection generation, subscription id) that never dangle.
//
// Socket. attach() dup()s libnats's socket on the calling thread (where the fd is certainly
// live) and posts the copy; the loop wraps it in a posix::stream_descriptor and async_waits for
// readable/writable while libnats wants that event, calling natsConnection_Process*Event on the
// loop. Closing our copy never races libnats's close of its own fd, and a reused fd number can
// never reach our registration. Each attach replaces the watch; stale completions are ignored.
#include "cluster/nats_link.hpp"

#include "core/limits.hpp"
#include "core/log.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <nats/nats.h>
#include <openssl/evp.h>

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <charconv>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <iterator>
#include <mutex>
#include <unordered_map>

namespace spear::cluster {

namespace {

/// An owned file descriptor (the dup of libnats's socket) on its way to the loop.
class unique_fd {
public:
    explicit unique_fd(int fd) noexcept : fd_(fd) {}
    unique_fd(unique_fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
    unique_fd& operator=(unique_fd&&) = delete;
    unique_fd(const unique_fd&) = delete;
    ~unique_fd() {
        if (fd_ >= 0)
            ::close(fd_);
    }
    int release() noexcept { return std::exchange(fd_, -1); }

private:
    int fd_;
};

/// Closures handed to libnats are integers: (link id << 32) | (generation or subscription id).
void* make_key(std::uint32_t link_id, std::uint32_t low) noexcept {
    const std::uintptr_t key = (std::uintptr_t{link_id} << 32) | std::uintptr_t{low};
    return reinterpret_cast<void*>(key);
}
std::uint32_t key_link(const void* key) noexcept {
    return static_cast<std::uint32_t>(reinterpret_cast<std::uintptr_t>(key) >> 32);
}
std::uint32_t key_low(const void* key) noexcept {
    return static_cast<std::uint32_t>(reinterpret_cast<std::uintptr_t>(key) & 0xffffffffu);
}

// --- nkeys: libnats signs with the seed file but needs the public key too -----------------------

constexpr std::string_view base32_alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

std::optional<std::vector<unsigned char>> base32_decode(std::string_view text) {
    std::vector<unsigned char> out;
    unsigned buffer = 0;
    int bits = 0;
    for (char c : text) {
        const auto pos = base32_alphabet.find(c);
        if (pos == base32_alphabet.npos)
            return std::nullopt;
        buffer = (buffer << 5) | static_cast<unsigned>(pos);
        bits += 5;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<unsigned char>((buffer >> bits) & 0xffu));
        }
    }
    return out;
}

std::string base32_encode(const std::vector<unsigned char>& bytes) {
    std::string out;
    unsigned buffer = 0;
    int bits = 0;
    for (unsigned char b : bytes) {
        buffer = (buffer << 8) | b;
        bits += 8;
        while (bits >= 5) {
            bits -= 5;
            out.push_back(base32_alphabet[(buffer >> bits) & 31u]);
        }
    }
    if (bits > 0)
        out.push_back(base32_alphabet[(buffer << (5 - bits)) & 31u]);
    return out;
}

/// CRC-16/XMODEM, the checksum of an nkey.
std::uint16_t nkey_crc16(const unsigned char* data, std::size_t size) noexcept {
    std::uint16_t crc = 0;
    for (std::size_t i = 0; i < size; ++i) {
        unsigned value = crc ^ (unsigned{data[i]} << 8);
        for (int bit = 0; bit < 8; ++bit)
            value = (value & 0x8000u) ? (value << 1) ^ 0x1021u : value << 1;
        crc = static_cast<std::uint16_t>(value);
    }
    return crc;
}

/// The user public key ("U...") of a user seed ("SU..."): base32 of [prefix, 32-byte seed,
/// CRC16] -> the Ed25519 public key of that seed -> base32 of [prefix 'U', key, CRC16].
std::optional<std::string> nkey_public_from_seed(std::string_view seed) {
    constexpr unsigned char prefix_seed = 18 << 3; // 'S'
    constexpr unsigned char prefix_user = 20 << 3; // 'U'
    auto raw = base32_decode(seed);
    if (!raw || raw->size() != 36)
        return std::nullopt;
    const auto& r = *raw;
    const std::uint16_t crc = static_cast<std::uint16_t>(r[34] | (r[35] << 8));
    if (nkey_crc16(r.data(), 34) != crc || (r[0] & 0xf8u) != prefix_seed)
        return std::nullopt;
    const unsigned type = ((r[0] & 7u) << 5) | ((r[1] & 0xf8u) >> 3);
    if (type != prefix_user)
        return std::nullopt;
    EVP_PKEY* key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, r.data() + 2, 32);
    if (key == nullptr)
        return std::nullopt;
    std::vector<unsigned char> pub(35);
    pub[0] = prefix_user;
    std::size_t len = 32;
    const bool ok = EVP_PKEY_get_raw_public_key(key, pub.data() + 1, &len) == 1 && len == 32;
    EVP_PKEY_free(key);
    if (!ok)
        return std::nullopt;
    const std::uint16_t pub_crc = nkey_crc16(pub.data(), 33);
    pub[33] = static_cast<unsigned char>(pub_crc & 0xffu);
    pub[34] = static_cast<unsigned char>(pub_crc >> 8);
    return base32_encode(pub);
}

/// The first user seed ("SU" + 56 base32 characters) in a seed or .nk file.
std::optional<std::string> read_user_seed(const std::string& path) {
    std::ifstream in(path);
    if (!in)
        return std::nullopt;
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    for (std::size_t at = text.find("SU"); at != text.npos; at = text.find("SU", at + 1)) {
        std::size_t end = at;
        while (end < text.size() && base32_alphabet.find(text[end]) != base32_alphabet.npos)
            ++end;
        if (end - at == 58)
            return text.substr(at, 58);
    }
    return std::nullopt;
}

std::string status_text(natsStatus s) {
    std::string text = natsStatus_GetText(s);
    const char* detail = nats_GetLastError(nullptr);
    if (detail != nullptr && *detail != '\0' && text != detail) {
        text += ": ";
        text += detail;
    }
    return text;
}

/// Copies a libnats message (which the caller then frees). Status messages ("NATS/1.0 404 No
/// Messages") have no payload; libnats 3.4 exposes their code and text as the "Status" and
/// "Description" headers.
nats_message copy_message(natsMsg* msg) {
    nats_message m;
    if (const char* s = natsMsg_GetSubject(msg))
        m.subject = s;
    if (const char* r = natsMsg_GetReply(msg))
        m.reply = r;
    if (const char* d = natsMsg_GetData(msg); d != nullptr) {
        const int n = natsMsg_GetDataLength(msg);
        if (n > 0)
            m.data.assign(d, static_cast<std::size_t>(n));
    }
    const char** keys = nullptr;
    int key_count = 0;
    if (natsMsgHeader_Keys(msg, &keys, &key_count) == NATS_OK) {
        for (int i = 0; i < key_count; ++i) {
            const char** values = nullptr;
            int value_count = 0;
            if (natsMsgHeader_Values(msg, keys[i], &values, &value_count) == NATS_OK) {
                for (int j = 0; j < value_count; ++j)
                    m.headers.emplace_back(keys[i], values[j]);
                std::free(static_cast<void*>(values));
            }
        }
        std::free(static_cast<void*>(keys));
    }
    const char* status = nullptr;
    if (m.data.empty() && natsMsgHeader_Get(msg, "Status", &status) == NATS_OK &&
        status != nullptr) {
        std::string_view code = status;
        int value = 0;
        const auto [end, ec] = std::from_chars(code.data(), code.data() + code.size(), value);
        if (ec == std::errc{} && end != code.data())
            m.status = value;
        const char* description = nullptr;
        if (natsMsgHeader_Get(msg, "Description", &description) == NATS_OK &&
            description != nullptr)
            m.status_text = description;
    }
    return m;
}

} // namespace

std::string_view nats_message::header(std::string_view name) const noexcept {
    for (const auto& [key, value] : headers)
        if (key == name)
            return value;
    return {};
}

std::string_view to_string(link_state state) noexcept {
    switch (state) {
    case link_state::connecting:
        return "connecting";
    case link_state::connected:
        return "connected";
    case link_state::reconnecting:
        return "reconnecting";
    case link_state::closed:
        return "closed";
    }
    return "unknown";
}

struct nats_link::impl : std::enable_shared_from_this<nats_link::impl> {
    // --- the bridge from libnats threads ------------------------------------------------------
    struct registry_entry {
        asio::any_io_executor executor;
        std::weak_ptr<impl> owner;
    };
    // Never destroyed: a libnats thread may still run a callback (a closed connection's "closed"
    // notice) while the process exits and destroys its statics.
    static std::mutex& registry_mutex() {
        static auto* m = new std::mutex;
        return *m;
    }
    /// Guarded by registry_mutex().
    static std::unordered_map<std::uint32_t, registry_entry>& registry() {
        static auto* r = new std::unordered_map<std::uint32_t, registry_entry>;
        return *r;
    }
    static std::uint32_t next_link_id() {
        static std::uint32_t next = 0; // guarded by registry_mutex()
        return ++next;
    }

    /// From any thread: runs fn(impl&) on the loop if the link still exists and is not closed.
    /// fn (and what it owns) is destroyed without running otherwise.
    template <class Fn>
    static void post_to(std::uint32_t link_id, Fn fn) {
        std::lock_guard lock(registry_mutex());
        auto it = registry().find(link_id);
        if (it == registry().end())
            return;
        asio::post(it->second.executor,
                   [owner = it->second.owner, fn = std::move(fn)]() mutable {
                       auto self = owner.lock();
                       if (!self || self->closed)
                           return;
                       fn(*self);
                   });
    }

    // libnats callbacks (any thread) ------------------------------------------------------------
    static natsStatus ev_attach(void** user_data, void* loop, natsConnection*, natsSock socket) {
        *user_data = loop;
        const int copy = ::fcntl(socket, F_DUPFD_CLOEXEC, 0);
        if (copy < 0)
            return NATS_SYS_ERROR; // this connect attempt fails; libnats retries
        post_to(key_link(loop), [gen = key_low(loop), fd = unique_fd(copy)](impl& self) mutable {
            self.on_attach(gen, std::move(fd));
        });
        return NATS_OK;
    }
    static natsStatus ev_read(void* user_data, bool add) {
        post_to(key_link(user_data), [gen = key_low(user_data), add](impl& self) {
            self.on_interest(gen, true, add);
        });
        return NATS_OK;
    }
    static natsStatus ev_write(void* user_data, bool add) {
        post_to(key_link(user_data), [gen = key_low(user_data), add](impl& self) {
            self.on_interest(gen, false, add);
        });
        return NATS_OK;
    }
    static natsStatus ev_detach(void* user_data) {
        post_to(key_link(user_data), [gen = key_low(user_data)](impl& self) { self.on_detach(gen); });
        return NATS_OK;
    }
    static void cb_connected(natsConnection*, void* key) {
        post_to(key_link(key), [gen = key_low(key)](impl& self) { self.on_connected(gen, false); });
    }
    static void cb_reconnected(natsConnection*, void* key) {
        post_to(key_link(key), [gen = key_low(key)](impl& self) { self.on_connected(gen, true); });
    }
    static void cb_disconnected(natsConnection*, void* key) {
        post_to(key_link(key), [gen = key_low(key)](impl& self) { self.on_disconnected(gen); });
    }
    static void cb_closed(natsConnection*, void* key) {
        post_to(key_link(key), [gen = key_low(key)](impl& self) { self.on_closed(gen); });
    }
    static void cb_error(natsConnection*, natsSubscription*, natsStatus err, void* key) {
        post_to(key_link(key), [err](impl& self) { self.on_async_error(err); });
    }
    static void cb_message(natsConnection*, natsSubscription*, natsMsg* msg, void* key) {
        nats_message copy = copy_message(msg);
        natsMsg_Destroy(msg);
        post_to(key_link(key), [id = key_low(key), m = std::move(copy)](impl& self) mutable {
            self.deliver(id, std::move(m));
        });
    }

    // --- loop-side state ------------------------------------------------------------------------
    struct socket_watch {
        explicit socket_watch(const asio::any_io_executor& ex) : descriptor(ex) {}
        asio::posix::stream_descriptor descriptor;
        bool want_read = false;
        bool want_write = false;
        bool reading = false; ///< an async_wait(wait_read) is outstanding
        bool writing = false;
    };
    struct subscription {
        std::string subject;
        std::string queue;
        std::shared_ptr<handler> on_message; ///< shared: a running handler may unsubscribe
        natsSubscription* sub = nullptr;
    };
    struct waiter {
        explicit waiter(const asio::any_io_executor& ex) : timer(ex) {}
        asio::steady_timer timer;
        std::optional<nats_message> answer;
        bool failed = false; ///< the link went down or closed: not a timeout
    };

    impl(asio::any_io_executor ex, nats_options opts)
        : executor(std::move(ex)), options(std::move(opts)), retry_timer(executor) {}

    ~impl() {
        // close() ran (the owner's destructor calls it); only Asio objects are left.
    }

    asio::any_io_executor executor;
    nats_options options;
    std::uint32_t link_id = 0;
    natsConnection* conn = nullptr;
    std::uint32_t generation = 0; ///< of `conn`; callbacks of older connections are ignored
    bool started = false;
    bool closed = false;
    bool restart_logged = false; ///< on_closed said so since the last connect
    link_state state = link_state::connecting;
    link_counters counters;
    std::vector<std::shared_ptr<std::function<void(link_state)>>> state_handlers;
    std::shared_ptr<socket_watch> watch;
    asio::steady_timer retry_timer;

    std::unordered_map<std::uint32_t, subscription> subs;
    std::uint32_t next_sub_id = 0;

    std::string mux_prefix;          ///< "_INBOX.<nuid>": replies arrive on "<prefix>.<token>"
    std::uint32_t mux_sub_id = 0;
    std::uint64_t next_token = 0;
    std::unordered_map<std::uint64_t, waiter*> waiters; ///< each in its request's frame

    // --- connection -----------------------------------------------------------------------------
    void register_link() {
        std::lock_guard lock(registry_mutex());
        link_id = next_link_id();
        registry().emplace(link_id, registry_entry{executor, weak_from_this()});
    }
    void unregister_link() {
        std::lock_guard lock(registry_mutex());
        registry().erase(link_id);
    }

    natsOptions* make_options(void* key) {
        natsOptions* opts = nullptr;
        if (natsOptions_Create(&opts) != NATS_OK)
            return nullptr;
        std::vector<const char*> urls;
        for (const auto& url : options.servers)
            urls.push_back(url.c_str());
        natsStatus s = natsOptions_SetServers(opts, urls.data(), static_cast<int>(urls.size()));
        if (s == NATS_OK && !options.name.empty())
            s = natsOptions_SetName(opts, options.name.c_str());
        if (s == NATS_OK && !options.token.empty())
            s = natsOptions_SetToken(opts, options.token.c_str());
        if (s == NATS_OK && !options.user.empty())
            s = natsOptions_SetUserInfo(opts, options.user.c_str(), options.password.c_str());
        if (s == NATS_OK && !options.credentials_file.empty())
            s = natsOptions_SetUserCredentialsFromFiles(opts, options.credentials_file.c_str(),
                                                        nullptr);
        if (s == NATS_OK && !options.nkey_seed_file.empty()) {
            // libnats signs the server's nonce with the seed file but sends the public key,
            // which it does not derive: derive it here.
            const auto seed = read_user_seed(options.nkey_seed_file);
            const auto public_key = seed ? nkey_public_from_seed(*seed) : std::nullopt;
            if (!public_key) {
                log::error("nats: " + options.nkey_seed_file + " holds no valid user nkey seed");
                natsOptions_Destroy(opts);
                return nullptr;
            }
            s = natsOptions_SetNKeyFromSeed(opts, public_key->c_str(),
                                            options.nkey_seed_file.c_str());
        }
        // The first connect attempt inside natsConnection_Connect is synchronous (TCP connect
        // and handshake), bounded by this timeout: keep it short.
        if (s == NATS_OK)
            s = natsOptions_SetTimeout(opts, options.connect_timeout.count());
        if (s == NATS_OK)
            s = natsOptions_SetReconnectWait(opts, options.reconnect_wait.count());
        if (s == NATS_OK)
            s = natsOptions_SetMaxReconnect(opts, -1); // forever
        if (s == NATS_OK)
            s = natsOptions_SetPingInterval(opts, options.ping_interval.count());
        if (s == NATS_OK)
            s = natsOptions_SetMaxPingsOut(opts, 2);
        if (s == NATS_OK)
            s = natsOptions_SetReconnectBufSize(
                opts, static_cast<int>(core::limits::nats_reconnect_buffer_bytes));
        // Writes only arm the write interest on the loop: no flusher thread needed.
        if (s == NATS_OK)
            s = natsOptions_SetSendAsap(opts, true);
        // One library delivery thread for every subscription (ours only copy and post).
        if (s == NATS_OK)
            s = natsOptions_UseGlobalMessageDelivery(opts, true);
        if (s == NATS_OK)
            s = natsOptions_SetRetryOnFailedConnect(opts, true, &cb_connected, key);
        if (s == NATS_OK)
            s = natsOptions_SetReconnectedCB(opts, &cb_reconnected, key);
        if (s == NATS_OK)
            s = natsOptions_SetDisconnectedCB(opts, &cb_disconnected, key);
        if (s == NATS_OK)
            s = natsOptions_SetClosedCB(opts, &cb_closed, key);
        if (s == NATS_OK)
            s = natsOptions_SetErrorHandler(opts, &cb_error, key);
        if (s == NATS_OK)
            s = natsOptions_SetEventLoop(opts, key, &ev_attach, &ev_read, &ev_write, &ev_detach);
        if (s != NATS_OK) {
            log::error("nats: bad connection options: " + status_text(s));
            natsOptions_Destroy(opts);
            return nullptr;
        }
        return opts;
    }

    /// Creates a connection (first start, or after libnats closed one for good). Returns at once
    /// unless a server is reachable: then the TCP connect and handshake run here (loopback or
    /// LAN: a millisecond; a black-holed address: up to connect_timeout).
    void connect_now() {
        if (closed)
            return;
        ++generation;
        void* key = make_key(link_id, generation);
        natsOptions* opts = make_options(key);
        if (opts == nullptr)
            return; // bad options never get better; the config check should have caught them
        natsConnection* nc = nullptr;
        const natsStatus s = natsConnection_Connect(&nc, opts);
        natsOptions_Destroy(opts);
        if (s == NATS_OK || s == NATS_NOT_YET_CONNECTED) {
            conn = nc;
            for (auto& [id, sub] : subs)
                open_subscription(id, sub);
            if (s == NATS_OK) {
                auto self = shared_from_this();
                asio::post(executor, [self, gen = generation] {
                    if (!self->closed)
                        self->on_connected(gen, false);
                });
            }
            return;
        }
        log::warn("nats: connect failed: " + status_text(s) + "; retrying");
        schedule_reconnect();
    }

    void schedule_reconnect() {
        retry_timer.expires_after(options.reconnect_wait);
        retry_timer.async_wait([self = shared_from_this()](boost::system::error_code ec) {
            if (!ec && !self->closed && self->conn == nullptr)
                self->connect_now();
        });
    }

    /// Frees the current connection (loop only). Its callbacks are ignored from here on (the
    /// generation moves on with the next connect).
    void drop_connection() {
        teardown_watch();
        if (conn == nullptr)
            return;
        // Write what libnats buffered so that its close does not wait (up to 500 ms) for a
        // flush only this thread could complete.
        natsConnection_ProcessWriteEvent(conn);
        natsConnection_Close(conn);
        for (auto& [id, sub] : subs) {
            if (sub.sub != nullptr)
                natsSubscription_Destroy(sub.sub);
            sub.sub = nullptr;
        }
        natsConnection_Destroy(conn);
        conn = nullptr;
    }

    void close() {
        if (closed)
            return;
        closed = true;
        state = link_state::closed;
        unregister_link(); // no libnats thread posts for this link past this line
        retry_timer.cancel();
        drop_connection();
        fail_waiters();
        subs.clear();
        state_handlers.clear();
    }

    // --- state ----------------------------------------------------------------------------------
    void set_state(link_state next) {
        if (state == next)
            return;
        state = next;
        auto handlers = state_handlers; // a handler may add handlers or close the link
        for (auto& h : handlers) {
            if (closed)
                return;
            try {
                (*h)(next);
            } catch (const std::exception& e) {
                log::error(std::string("nats: state handler threw: ") + e.what());
            }
        }
    }

    void on_connected(std::uint32_t gen, bool reconnected) {
        if (gen != generation || conn == nullptr)
            return;
        ++counters.connects;
        restart_logged = false;
        log::info(std::string("nats: ") + (reconnected ? "reconnected to " : "connected to ") +
                  current_url());
        set_state(link_state::connected);
    }

    void on_disconnected(std::uint32_t gen) {
        if (gen != generation)
            return;
        if (state == link_state::connected) {
            ++counters.disconnects;
            log::warn("nats: disconnected; reconnecting");
        }
        fail_waiters();
        if (state == link_state::connected)
            set_state(link_state::reconnecting);
    }

    /// libnats closed the connection on its own (it gave up: e.g. an authorization error twice
    /// on a server). A fresh connection is made after reconnect_wait, with every subscription.
    void on_closed(std::uint32_t gen) {
        if (gen != generation || conn == nullptr)
            return;
        // Wrong credentials make this repeat every reconnect_wait: say it once per outage.
        if (!restart_logged)
            log::warn("nats: connection closed by the library (refused credentials?); "
                      "starting a new one every reconnect_wait");
        restart_logged = true;
        const bool was_connected = state == link_state::connected;
        if (was_connected)
            ++counters.disconnects;
        fail_waiters();
        drop_connection();
        schedule_reconnect();
        if (was_connected)
            set_state(link_state::reconnecting);
    }

    void on_async_error(natsStatus err) {
        if (err == NATS_SLOW_CONSUMER) {
            ++counters.dropped;
            log::warn("nats: slow consumer: messages dropped");
        } else {
            log::warn(std::string("nats: asynchronous error: ") + natsStatus_GetText(err));
        }
    }

    std::string current_url() const {
        if (conn == nullptr)
            return {};
        char buffer[512];
        if (natsConnection_GetConnectedUrl(conn, buffer, sizeof buffer) != NATS_OK) {
            return {};
        }
        return buffer;
    }

    // --- socket readiness -----------------------------------------------------------------------
    void on_attach(std::uint32_t gen, unique_fd fd) {
        if (gen != generation || conn == nullptr)
            return;
        teardown_watch();
        auto w = std::make_shared<socket_watch>(executor);
        boost::system::error_code ec;
        w->descriptor.assign(fd.release(), ec);
        if (ec) {
            log::error("nats: cannot watch the socket: " + ec.message());
            return;
        }
        watch = w;
        w->want_read = true; // attach means: poll for reads
        arm(w, true);
    }

    void on_interest(std::uint32_t gen, bool read, bool add) {
        if (gen != generation || !watch)
            return;
        auto w = watch;
        (read ? w->want_read : w->want_write) = add;
        if (!w->want_read && !w->want_write) {
            // libnats stopped polling (reconnect or close): the next attach brings a new socket.
            teardown_watch();
            return;
        }
        if (add)
            arm(w, read);
    }

    void on_detach(std::uint32_t gen) {
        if (gen == generation)
            teardown_watch();
    }

    void teardown_watch() {
        if (!watch)
            return;
        boost::system::error_code ignored;
        watch->descriptor.close(ignored); // outstanding waits complete with operation_aborted
        watch.reset();
    }

    void arm(const std::shared_ptr<socket_watch>& w, bool read) {
        bool& outstanding = read ? w->reading : w->writing;
        if (outstanding)
            return;
        outstanding = true;
        using wait = asio::posix::descriptor_base::wait_type;
        w->descriptor.async_wait(read ? wait::wait_read : wait::wait_write,
                                 [self = shared_from_this(), w, read](boost::system::error_code ec) {
                                     self->on_ready(w, read, ec);
                                 });
    }

    void on_ready(const std::shared_ptr<socket_watch>& w, bool read, boost::system::error_code ec) {
        (read ? w->reading : w->writing) = false;
        if (closed || w != watch || conn == nullptr || ec == asio::error::operation_aborted)
            return;
        if (!(read ? w->want_read : w->want_write))
            return;
        // An error on the descriptor is handed to libnats as a read: its read fails and it
        // starts reconnecting (as libnats's libuv adapter does).
        if (read || ec)
            natsConnection_ProcessReadEvent(conn);
        else
            natsConnection_ProcessWriteEvent(conn);
        // Interest changes made just now were posted and run later; re-arm while still wanted
        // (they clear the flag first when libnats stops polling).
        if (!closed && w == watch && (read ? w->want_read : w->want_write))
            arm(w, read);
    }

    // --- subscriptions --------------------------------------------------------------------------
    bool open_subscription(std::uint32_t id, subscription& sub) {
        if (conn == nullptr)
            return true; // opened when a connection exists
        natsSubscription* s = nullptr;
        void* key = make_key(link_id, id);
        const natsStatus st =
            sub.queue.empty()
                ? natsConnection_Subscribe(&s, conn, sub.subject.c_str(), &cb_message, key)
                : natsConnection_QueueSubscribe(&s, conn, sub.subject.c_str(), sub.queue.c_str(),
                                                &cb_message, key);
        if (st != NATS_OK) {
            log::warn("nats: cannot subscribe to " + sub.subject + ": " + status_text(st));
            return st != NATS_INVALID_SUBJECT && st != NATS_INVALID_ARG;
        }
        // The library's own pending limits would drop silently; ours copy and post at once.
        sub.sub = s;
        return true;
    }

    std::uint64_t subscribe(std::string subject, handler on_message, std::string queue) {
        if (closed || !on_message)
            return 0;
        const std::uint32_t id = ++next_sub_id;
        auto [it, inserted] = subs.emplace(
            id, subscription{std::move(subject), std::move(queue),
                             std::make_shared<handler>(std::move(on_message)), nullptr});
        if (!open_subscription(id, it->second)) {
            subs.erase(it);
            return 0;
        }
        return id;
    }

    void unsubscribe(std::uint64_t id) {
        auto it = subs.find(static_cast<std::uint32_t>(id));
        if (it == subs.end() || id > 0xffffffffu)
            return;
        if (it->second.sub != nullptr) {
            natsSubscription_Unsubscribe(it->second.sub);
            natsSubscription_Destroy(it->second.sub);
        }
        subs.erase(it);
    }

    void deliver(std::uint32_t id, nats_message&& m) {
        auto it = subs.find(id);
        if (it == subs.end())
            return; // unsubscribed meanwhile
        ++counters.messages_in;
        auto h = it->second.on_message; // the handler may unsubscribe itself
        try {
            (*h)(std::move(m));
        } catch (const std::exception& e) {
            log::error("nats: handler of " + it->second.subject + " threw: " + e.what());
        }
    }

    bool publish(std::string_view subject, std::string_view data, std::string_view reply,
                 const nats_headers* headers) {
        if (closed || conn == nullptr || state == link_state::connecting)
            return false;
        const std::string subj(subject);
        const std::string rep(reply);
        natsMsg* msg = nullptr;
        natsStatus s = natsMsg_Create(&msg, subj.c_str(), rep.empty() ? nullptr : rep.c_str(),
                                      data.data(), static_cast<int>(data.size()));
        if (s == NATS_OK && headers != nullptr)
            for (const auto& [key, value] : *headers)
                if (s == NATS_OK)
                    s = natsMsgHeader_Add(msg, key.c_str(), value.c_str());
        if (s == NATS_OK)
            s = natsConnection_PublishMsg(conn, msg);
        natsMsg_Destroy(msg);
        if (s != NATS_OK) {
            log::warn("nats: publish to " + subj + " failed: " + status_text(s));
            return false;
        }
        ++counters.messages_out;
        return true;
    }

    // --- request-reply --------------------------------------------------------------------------
    bool ensure_mux() {
        if (mux_sub_id != 0)
            return true;
        natsInbox* inbox = nullptr;
        if (natsInbox_Create(&inbox) != NATS_OK)
            return false;
        mux_prefix = inbox;
        natsInbox_Destroy(inbox);
        const std::size_t prefix_size = mux_prefix.size() + 1;
        auto id = subscribe(mux_prefix + ".*", [this, prefix_size](nats_message&& m) {
            if (m.subject.size() <= prefix_size)
                return;
            std::uint64_t token = 0;
            const char* begin = m.subject.data() + prefix_size;
            const char* end = m.subject.data() + m.subject.size();
            if (std::from_chars(begin, end, token).ptr != end)
                return;
            auto it = waiters.find(token);
            if (it == waiters.end() || it->second->answer)
                return; // late (timed out) or a second answer
            it->second->answer = std::move(m);
            it->second->timer.cancel();
        }, {});
        mux_sub_id = static_cast<std::uint32_t>(id);
        return mux_sub_id != 0;
    }

    void fail_waiters() {
        for (auto& [token, w] : waiters) {
            if (!w->answer) {
                w->failed = true;
                w->timer.cancel();
            }
        }
    }
};

nats_link::nats_link(asio::any_io_executor executor, nats_options options)
    : impl_(std::make_shared<impl>(std::move(executor), std::move(options))) {
    impl_->register_link();
}

nats_link::~nats_link() { impl_->close(); }

void nats_link::start() {
    if (impl_->closed || impl_->started)
        return;
    impl_->started = true;
    impl_->connect_now();
}

void nats_link::close() { impl_->close(); }

link_state nats_link::state() const noexcept { return impl_->state; }

std::string nats_link::connected_url() const {
    return impl_->state == link_state::connected ? impl_->current_url() : std::string{};
}

const link_counters& nats_link::counters() const noexcept { return impl_->counters; }

void nats_link::on_state_change(std::function<void(link_state)> on_change) {
    if (impl_->closed || !on_change)
        return;
    impl_->state_handlers.push_back(
        std::make_shared<std::function<void(link_state)>>(std::move(on_change)));
}

bool nats_link::publish(std::string_view subject, std::string_view data, std::string_view reply,
                        const nats_headers* headers) {
    return impl_->publish(subject, data, reply, headers);
}

asio::awaitable<std::optional<nats_message>>
nats_link::request(std::string subject, std::string data, std::chrono::milliseconds timeout,
                   nats_headers headers) {
    auto self = impl_; // the frame keeps impl alive past a close() or the link's destruction
    if (self->closed || self->state != link_state::connected || !self->ensure_mux())
        co_return std::nullopt;
    const std::uint64_t token = ++self->next_token;
    const std::string reply = self->mux_prefix + "." + std::to_string(token);
    impl::waiter w(self->executor);
    self->waiters.emplace(token, &w);
    if (!self->publish(subject, data, reply, headers.empty() ? nullptr : &headers)) {
        self->waiters.erase(token);
        co_return std::nullopt;
    }
    w.timer.expires_after(timeout);
    (void)co_await w.timer.async_wait(asio::as_tuple(asio::use_awaitable));
    self->waiters.erase(token);
    if (w.answer)
        co_return std::move(w.answer);
    if (!w.failed && !self->closed)
        ++self->counters.requests_timed_out;
    co_return std::nullopt;
}

std::uint64_t nats_link::subscribe(std::string subject, handler on_message,
                                   std::string queue_group) {
    return impl_->subscribe(std::move(subject), std::move(on_message), std::move(queue_group));
}

void nats_link::unsubscribe(std::uint64_t id) { impl_->unsubscribe(id); }

asio::any_io_executor nats_link::get_executor() const noexcept { return impl_->executor; }

std::string nats_link::new_inbox() const {
    natsInbox* inbox = nullptr;
    if (natsInbox_Create(&inbox) != NATS_OK)
        return {};
    std::string s = inbox;
    natsInbox_Destroy(inbox);
    return s;
}

} // namespace spear::cluster
