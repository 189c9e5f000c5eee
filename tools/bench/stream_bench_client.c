// Stream benchmark client: many WebSocket connections on one epoll loop, counting the lines of
// stream_bench.sh's writer program and each line's delay from write to receipt.
//
// It understands only what that benchmark sends: lines "<seq> <CLOCK_REALTIME us> <padding>\n"
// (digits, spaces, letters), carried either in spearlet's JSON stream messages (chunk_data,
// possibly several lines or part of one per chunk) or one line per text message (websocketd).
// A hand-written client keeps the client far cheaper than the server under test on a 2-core
// machine; it prints its own CPU time so a reader can check that it was not the bottleneck.
//
//   stream_bench_client fanout HOST PORT EXECUTION_ID VIEWERS LINES GATE_FILE TIMEOUT_S
//     VIEWERS connections to /executions/ID/stream; once every one has its 101 (spearlet has
//     attached the viewer before it upgrades) the gate file is created, which starts the writer.
//   stream_bench_client sessions HOST PORT spear|wsd FUNCTION SESSIONS CONCURRENCY LINES TIMEOUT_S
//     SESSIONS WebSocket sessions, CONCURRENCY at a time: spear = GET /stream then one
//     InvokeFunctionRequest for FUNCTION; wsd = GET / on websocketd. Each runs to its close.
//
// In fanout mode span_ms runs from the first line's write to the last line's receipt (lines_per_s
// is over it) and write_span_ms from the first line's write to the last one's: longer than the
// writer's intended pace means it was held back (a full pipe, or no CPU).
// Prints one line of key=value pairs (times in ms, rates per second; "chunks" counts the
// messages that carried lines: spearlet chunk messages, or websocketd line messages).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum state { S_CONNECTING, S_HANDSHAKE, S_OPEN, S_DONE };

struct conn {
    int fd;
    enum state state;
    char* in; // received bytes not yet parsed
    size_t in_len, in_cap;
    char* msg; // a fragmented message being assembled
    size_t msg_len, msg_cap;
    int msg_op;
    char* out; // bytes not yet accepted by the socket
    size_t out_len, out_off, out_cap;
    char carry[512]; // a line cut between two chunks
    size_t carry_len;
    uint64_t lines, next_seq, seq_gaps;
    int got_final, final_ok;
    int64_t started_us;
};

// --- delays: 1 us buckets below 100 ms, 1 ms buckets up to 10 min ---------------------------

#define H_LIN 100000
#define H_N (H_LIN + 600000)
struct hist {
    uint64_t* b;
    uint64_t n;
    int64_t max;
};

static void hist_init(struct hist* h) {
    h->b = calloc(H_N, sizeof(uint64_t));
    h->n = 0;
    h->max = 0;
    if (!h->b) {
        perror("calloc");
        exit(2);
    }
}

static void hist_add(struct hist* h, int64_t us) {
    if (us < 0)
        us = 0;
    size_t i = us < H_LIN ? (size_t)us : H_LIN + (size_t)((us - H_LIN) / 1000);
    if (i >= H_N)
        i = H_N - 1;
    h->b[i]++;
    h->n++;
    if (us > h->max)
        h->max = us;
}

// The p-th percentile in ms (0 when empty).
static double hist_ms(const struct hist* h, double p) {
    if (h->n == 0)
        return 0;
    uint64_t want = (uint64_t)(p * (double)h->n);
    if (want >= h->n)
        want = h->n - 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < H_N; i++) {
        seen += h->b[i];
        if (seen > want)
            return i < H_LIN ? (double)i / 1000.0 : (double)(H_LIN + (i - H_LIN) * 1000) / 1000.0;
    }
    return (double)h->max / 1000.0;
}

// --- state shared by both modes -----------------------------------------------------------

static int epfd;
static struct sockaddr_in server;
static const char* host_header;
static struct hist delays, session_ms;
static int64_t first_write_us = INT64_MAX, last_write_us, last_line_us;
static uint64_t total_lines, chunk_msgs, dropped_notices, dropped_chunks, error_msgs;
static uint64_t connect_failures, handshake_failures, finals_not_completed, seq_gaps_total;
static int is_wsd;
static const char* invoke_text; // spear sessions: the first message
static int64_t now_cached;

static int64_t now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void die(const char* what) {
    perror(what);
    exit(2);
}

static void grow(char** p, size_t* cap, size_t need) {
    if (need <= *cap)
        return;
    size_t n = *cap ? *cap : 4096;
    while (n < need)
        n *= 2;
    *p = realloc(*p, n);
    if (!*p)
        die("realloc");
    *cap = n;
}

static void watch(struct conn* c, uint32_t events, int op) {
    struct epoll_event ev = {.events = events, .data.ptr = c};
    if (epoll_ctl(epfd, op, c->fd, &ev) < 0)
        die("epoll_ctl");
}

static void flush_out(struct conn* c) {
    while (c->out_off < c->out_len) {
        ssize_t n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
        if (n < 0) {
            if (errno == EAGAIN)
                break;
            c->out_off = c->out_len; // the peer went away; reading will tell
            break;
        }
        c->out_off += (size_t)n;
    }
    if (c->out_off == c->out_len) {
        c->out_off = c->out_len = 0;
        watch(c, EPOLLIN, EPOLL_CTL_MOD);
    } else {
        watch(c, EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD);
    }
}

static void send_bytes(struct conn* c, const void* data, size_t n) {
    grow(&c->out, &c->out_cap, c->out_len + n);
    memcpy(c->out + c->out_len, data, n);
    c->out_len += n;
    flush_out(c);
}

// A client frame (always masked, RFC 6455 5.3).
static void send_frame(struct conn* c, int op, const char* payload, size_t n) {
    unsigned char h[14];
    size_t hl = 0;
    static const unsigned char key[4] = {0x37, 0xfa, 0x21, 0x3d};
    h[hl++] = (unsigned char)(0x80 | op);
    if (n < 126) {
        h[hl++] = (unsigned char)(0x80 | n);
    } else if (n < 65536) {
        h[hl++] = 0x80 | 126;
        h[hl++] = (unsigned char)(n >> 8);
        h[hl++] = (unsigned char)n;
    } else {
        h[hl++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            h[hl++] = (unsigned char)((uint64_t)n >> (8 * i));
    }
    memcpy(h + hl, key, 4);
    hl += 4;
    char* f = malloc(hl + n);
    if (!f)
        die("malloc");
    memcpy(f, h, hl);
    for (size_t i = 0; i < n; i++)
        f[hl + i] = (char)(payload[i] ^ (char)key[i % 4]);
    send_bytes(c, f, hl + n);
    free(f);
}

static void start_conn(struct conn* c, const char* path) {
    memset(c, 0, sizeof *c);
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        die("socket (raise ulimit -n)");
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->started_us = now_us();
    c->state = S_CONNECTING;
    if (connect(c->fd, (struct sockaddr*)&server, sizeof server) < 0 && errno != EINPROGRESS)
        die("connect");
    char req[512];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                     "\r\n",
                     path, host_header);
    grow(&c->out, &c->out_cap, (size_t)n);
    memcpy(c->out, req, (size_t)n);
    c->out_len = (size_t)n;
    watch(c, EPOLLOUT | EPOLLIN, EPOLL_CTL_ADD);
}

static void end_conn(struct conn* c) {
    if (c->state == S_DONE)
        return;
    if (c->state == S_HANDSHAKE)
        handshake_failures++;
    close(c->fd); // also removes it from the epoll set
    c->state = S_DONE;
    free(c->in);
    free(c->msg);
    free(c->out);
    c->in = c->msg = c->out = NULL;
    c->in_cap = c->msg_cap = c->out_cap = c->in_len = c->msg_len = c->out_len = c->out_off = 0;
}

// --- line accounting -------------------------------------------------------------------------

static void line(struct conn* c, const char* p, size_t n) {
    uint64_t seq = 0, ts = 0;
    size_t i = 0;
    while (i < n && p[i] >= '0' && p[i] <= '9')
        seq = seq * 10 + (uint64_t)(p[i++] - '0');
    if (i < n && p[i] == ' ')
        i++;
    while (i < n && p[i] >= '0' && p[i] <= '9')
        ts = ts * 10 + (uint64_t)(p[i++] - '0');
    if (seq != c->next_seq)
        c->seq_gaps += seq > c->next_seq ? seq - c->next_seq : 1;
    c->next_seq = seq + 1;
    c->lines++;
    total_lines++;
    if ((int64_t)ts < first_write_us)
        first_write_us = (int64_t)ts;
    if ((int64_t)ts > last_write_us)
        last_write_us = (int64_t)ts;
    last_line_us = now_cached;
    hist_add(&delays, now_cached - (int64_t)ts);
}

static void carry_append(struct conn* c, const char* p, size_t n) {
    if (c->carry_len + n > sizeof c->carry)
        n = sizeof c->carry - c->carry_len; // not our line format: keep the start only
    memcpy(c->carry + c->carry_len, p, n);
    c->carry_len += n;
}

// chunk_data's JSON string [s, e): lines end with the escape "\n".
static void chunk_lines(struct conn* c, const char* s, const char* e) {
    const char* p = s;
    while (p < e) {
        const char* bs = memchr(p, '\\', (size_t)(e - p));
        if (!bs) {
            carry_append(c, p, (size_t)(e - p));
            return;
        }
        if (bs + 1 < e && bs[1] == 'n') {
            if (c->carry_len) {
                carry_append(c, p, (size_t)(bs - p));
                line(c, c->carry, c->carry_len);
                c->carry_len = 0;
            } else {
                line(c, p, (size_t)(bs - p));
            }
        } else {
            carry_append(c, p, (size_t)(bs + 2 <= e ? bs + 2 - p : e - p));
        }
        p = bs + 2;
    }
}

static const char* find(const char* m, size_t n, const char* what) {
    return memmem(m, n, what, strlen(what));
}

static void spear_message(struct conn* c, const char* m, size_t n) {
    const char* t = find(m, n, "\"type\":\"");
    if (!t) {
        error_msgs++;
        return;
    }
    t += 8;
    size_t rest = (size_t)(m + n - t);
    if (rest >= 6 && memcmp(t, "chunk\"", 6) == 0) {
        chunk_msgs++;
        const char* s = find(m, n, "\"chunk_data\":\"");
        if (!s)
            return;
        s += 14;
        const char* e = s;
        for (;;) {
            e = memchr(e, '"', (size_t)(m + n - e));
            if (!e || e[-1] != '\\')
                break;
            e++;
        }
        if (e)
            chunk_lines(c, s, e);
    } else if (rest >= 8 && memcmp(t, "dropped\"", 8) == 0) {
        dropped_notices++;
        const char* d = find(m, n, "\"dropped\":");
        if (d)
            dropped_chunks += strtoull(d + 10, NULL, 10);
    } else if (rest >= 6 && memcmp(t, "final\"", 6) == 0) {
        c->got_final = 1;
        c->final_ok = find(m, n, "\"status\":\"completed\"") != NULL;
        if (!c->final_ok)
            finals_not_completed++;
        if (c->carry_len) { // output that did not end with a newline
            line(c, c->carry, c->carry_len);
            c->carry_len = 0;
        }
    } else if (rest >= 6 && memcmp(t, "error\"", 6) == 0) {
        error_msgs++;
        fprintf(stderr, "error message: %.*s\n", (int)(n > 300 ? 300 : n), m);
    }
}

static void message(struct conn* c, const char* m, size_t n) {
    if (is_wsd) {
        chunk_msgs++;
        line(c, m, n);
    } else {
        spear_message(c, m, n);
    }
}

// --- frames ---------------------------------------------------------------------------------

// Parses whole frames from c->in; returns 1 when the connection ended.
static int frames(struct conn* c) {
    size_t off = 0;
    int ended = 0;
    while (!ended && c->in_len - off >= 2) {
        const unsigned char* f = (const unsigned char*)c->in + off;
        size_t avail = c->in_len - off;
        int fin = f[0] & 0x80, op = f[0] & 0x0f;
        uint64_t len = f[1] & 0x7f;
        size_t hl = 2;
        if (len == 126) {
            if (avail < 4)
                break;
            len = ((uint64_t)f[2] << 8) | f[3];
            hl = 4;
        } else if (len == 127) {
            if (avail < 10)
                break;
            len = 0;
            for (int i = 0; i < 8; i++)
                len = (len << 8) | f[2 + i];
            hl = 10;
        }
        if (avail < hl + len) {
            grow(&c->in, &c->in_cap, off + hl + len + 65536);
            break;
        }
        const char* payload = (const char*)f + hl;
        if (op == 8) { // close: answer it, then we are done
            uint16_t code = len >= 2 ? (uint16_t)((f[hl] << 8) | f[hl + 1]) : 1005;
            if (code != 1000 && !is_wsd)
                fprintf(stderr, "close code %u\n", code);
            char reply[2] = {0x03, (char)0xe8};
            send_frame(c, 8, reply, 2);
            ended = 1;
        } else if (op == 9) {
            send_frame(c, 10, payload, (size_t)len);
        } else if (op == 10) {
            // pong: nothing to do
        } else if (op != 0 && fin) {
            message(c, payload, (size_t)len);
        } else {
            if (op != 0) {
                c->msg_op = op;
                c->msg_len = 0;
            }
            grow(&c->msg, &c->msg_cap, c->msg_len + len);
            memcpy(c->msg + c->msg_len, payload, (size_t)len);
            c->msg_len += (size_t)len;
            if (fin)
                message(c, c->msg, c->msg_len);
        }
        off += hl + (size_t)len;
    }
    if (off) {
        memmove(c->in, c->in + off, c->in_len - off);
        c->in_len -= off;
    }
    return ended;
}

// Reads what is there; returns 1 when the connection ended (close frame, EOF or error).
static int on_readable(struct conn* c) {
    for (;;) {
        grow(&c->in, &c->in_cap, c->in_len + 65536);
        ssize_t n = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
        if (n < 0)
            return errno == EAGAIN ? 0 : 1;
        if (n == 0)
            return 1;
        now_cached = now_us();
        c->in_len += (size_t)n;
        if (c->state == S_HANDSHAKE) {
            char* end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
            if (!end)
                continue;
            if (c->in_len < 12 || memcmp(c->in + 9, "101", 3) != 0) {
                fprintf(stderr, "handshake refused: %.*s\n",
                        (int)(end - c->in > 200 ? 200 : end - c->in), c->in);
                return 1;
            }
            size_t hl = (size_t)(end - c->in) + 4;
            memmove(c->in, c->in + hl, c->in_len - hl);
            c->in_len -= hl;
            c->state = S_OPEN;
            if (invoke_text)
                send_frame(c, 1, invoke_text, strlen(invoke_text));
        }
        if (c->state == S_OPEN && frames(c))
            return 1;
    }
}

// One readiness event; returns 1 when the connection ended.
static int on_event(struct conn* c, uint32_t ev) {
    if (c->state == S_CONNECTING) {
        int err = 0;
        socklen_t l = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
        if (err) {
            connect_failures++;
            return 1;
        }
        if (!(ev & EPOLLOUT))
            return 0;
        c->state = S_HANDSHAKE;
    }
    if (ev & EPOLLOUT)
        flush_out(c);
    if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR))
        return on_readable(c);
    return 0;
}

static double cpu_s(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void print_common(void) {
    printf(" lines=%llu delay_p50_ms=%.3f delay_p99_ms=%.3f delay_max_ms=%.3f chunks=%llu"
           " dropped_notices=%llu dropped_chunks=%llu seq_gaps=%llu errors=%llu"
           " connect_failures=%llu handshake_failures=%llu finals_not_completed=%llu"
           " client_cpu_s=%.2f",
           (unsigned long long)total_lines, hist_ms(&delays, 0.50), hist_ms(&delays, 0.99),
           (double)delays.max / 1000.0, (unsigned long long)chunk_msgs,
           (unsigned long long)dropped_notices, (unsigned long long)dropped_chunks,
           (unsigned long long)seq_gaps_total, (unsigned long long)error_msgs,
           (unsigned long long)connect_failures, (unsigned long long)handshake_failures,
           (unsigned long long)finals_not_completed, cpu_s());
}

static int fanout(const char* id, int viewers, uint64_t lines, const char* gate, int timeout_s) {
    char path[256];
    snprintf(path, sizeof path, "/executions/%s/stream", id);
    struct conn* cs = calloc((size_t)viewers, sizeof *cs);
    if (!cs)
        die("calloc");
    const int64_t t0 = now_us(), deadline = t0 + (int64_t)timeout_s * 1000000;
    // Connects in waves so the listen backlog never overflows.
    int started = 0, open_or_done = 0, done = 0, gated = 0;
    int64_t gate_us = 0;
    struct epoll_event evs[256];
    while (done < viewers && now_us() < deadline) {
        while (started < viewers && started - open_or_done < 128)
            start_conn(&cs[started++], path);
        int n = epoll_wait(epfd, evs, 256, 100);
        for (int i = 0; i < n; i++) {
            struct conn* c = evs[i].data.ptr;
            enum state before = c->state;
            int ended = on_event(c, evs[i].events);
            if (before != S_OPEN && (c->state == S_OPEN || ended))
                open_or_done++;
            if (ended) {
                seq_gaps_total += c->seq_gaps;
                end_conn(c);
                done++;
            }
        }
        if (!gated && open_or_done == viewers) {
            int fd = open(gate, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
            if (fd < 0)
                die("gate file");
            close(fd);
            gated = 1;
            gate_us = now_us();
        }
    }
    int timed_out = done < viewers;
    uint64_t finals = 0, attached = 0;
    for (int i = 0; i < viewers; i++) {
        finals += (uint64_t)cs[i].got_final;
        if (cs[i].state != S_DONE) {
            seq_gaps_total += cs[i].seq_gaps;
            end_conn(&cs[i]);
        }
    }
    attached = (uint64_t)viewers - connect_failures - handshake_failures;
    double span_s = total_lines ? (double)(last_line_us - first_write_us) / 1e6 : 0;
    if (span_s <= 0)
        span_s = 1e-6;
    printf("viewers=%d attached=%llu expected_lines=%llu finals=%llu timed_out=%d"
           " attach_ms=%.1f write_span_ms=%.1f span_ms=%.1f lines_per_s=%.0f msgs_per_s=%.0f",
           viewers, (unsigned long long)attached, (unsigned long long)(lines * (uint64_t)viewers),
           (unsigned long long)finals, timed_out, (double)(gate_us - t0) / 1000.0,
           total_lines ? (double)(last_write_us - first_write_us) / 1000.0 : 0.0, span_s * 1000.0,
           (double)total_lines / span_s, (double)chunk_msgs / span_s);
    print_common();
    printf("\n");
    return timed_out;
}

static int sessions(const char* kind, const char* function, int total, int concurrency,
                    uint64_t lines, int timeout_s) {
    char invoke[512];
    const char* path = "/";
    if (!is_wsd) {
        snprintf(invoke, sizeof invoke, "{\"function_name\":\"%s\",\"input\":{\"data\":\"\"}}",
                 function);
        invoke_text = invoke;
        path = "/stream";
    }
    struct conn* cs = calloc((size_t)concurrency, sizeof *cs);
    if (!cs)
        die("calloc");
    for (int i = 0; i < concurrency; i++)
        cs[i].state = S_DONE;
    const int64_t t0 = now_us(), deadline = t0 + (int64_t)timeout_s * 1000000;
    int started = 0, done = 0;
    uint64_t short_sessions = 0;
    struct epoll_event evs[256];
    for (int i = 0; i < concurrency && started < total; i++, started++)
        start_conn(&cs[i], path);
    while (done < total && now_us() < deadline) {
        int n = epoll_wait(epfd, evs, 256, 100);
        for (int i = 0; i < n; i++) {
            struct conn* c = evs[i].data.ptr;
            if (!on_event(c, evs[i].events))
                continue;
            int64_t end = now_us();
            if (c->lines != lines || (!is_wsd && !c->final_ok))
                short_sessions++;
            seq_gaps_total += c->seq_gaps;
            hist_add(&session_ms, end - c->started_us);
            end_conn(c);
            done++;
            if (started < total) {
                start_conn(c, path);
                started++;
            }
        }
    }
    const double wall_s = (double)(now_us() - t0) / 1e6;
    for (int i = 0; i < concurrency; i++)
        end_conn(&cs[i]);
    printf("kind=%s sessions=%d concurrency=%d done=%d bad_sessions=%llu timed_out=%d"
           " wall_ms=%.1f sessions_per_s=%.1f lines_per_s=%.0f msgs_per_s=%.0f session_p50_ms=%.3f"
           " session_p99_ms=%.3f",
           kind, total, concurrency, done, (unsigned long long)short_sessions, done < total,
           wall_s * 1000.0, (double)done / wall_s, (double)total_lines / wall_s,
           (double)chunk_msgs / wall_s, hist_ms(&session_ms, 0.50), hist_ms(&session_ms, 0.99));
    print_common();
    printf("\n");
    return done < total;
}

int main(int argc, char** argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: see the comment at the top of stream_bench_client.c\n");
        return 2;
    }
    int fanout_mode = strcmp(argv[1], "fanout") == 0;
    if (!(fanout_mode ? argc == 9 : strcmp(argv[1], "sessions") == 0 && argc == 10)) {
        fprintf(stderr, "bad arguments: see the comment at the top of stream_bench_client.c\n");
        return 2;
    }
    memset(&server, 0, sizeof server);
    server.sin_family = AF_INET;
    server.sin_port = htons((uint16_t)atoi(argv[3]));
    if (inet_pton(AF_INET, argv[2], &server.sin_addr) != 1) {
        fprintf(stderr, "HOST must be an IPv4 address\n");
        return 2;
    }
    static char hh[128];
    snprintf(hh, sizeof hh, "%s:%s", argv[2], argv[3]);
    host_header = hh;
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0)
        die("epoll_create1");
    hist_init(&delays);
    hist_init(&session_ms);
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (fanout_mode)
        return fanout(argv[4], atoi(argv[5]), strtoull(argv[6], NULL, 10), argv[7], atoi(argv[8]));
    is_wsd = strcmp(argv[4], "wsd") == 0;
    return sessions(argv[4], argv[5], atoi(argv[6]), atoi(argv[7]), strtoull(argv[8], NULL, 10),
                    atoi(argv[9]));
}
