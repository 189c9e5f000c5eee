// spear-peer: a constrained peer of spearlet over TCP or a serial device (the CLI).
/* Written the way firmware would be (C99, nanopb, static buffers, no malloc): invoke (sync, async,
 * stream), status, cancel and ping, authenticated with a pre-shared key when --key-id is given.
 * The framing lives in spear_frame.c, the MACs in spear_hmac.c; this file is the host glue
 * (sockets, termios, command line). docs/constrained-peers.md describes the protocol. */
#define _DEFAULT_SOURCE /* cfmakeraw, getaddrinfo with -std=c99 */

#include "spear_edge.pb.h"
#include "spear_frame.h"
#include "spear_hmac.h"

#include <pb_decode.h>
#include <pb_encode.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

/* A lost spear_edge.options would turn these arrays into callbacks: fail the build instead
 * (C99 has no _Static_assert; a negative array size does the same). */
typedef char
    spear_options_applied[sizeof(((spear_edge_InvokeFunctionRequest*)0)->function_name) == 65 ? 1
                                                                                              : -1];

/* Exit codes. */
enum { EXIT_DONE = 0, EXIT_REFUSED = 1, EXIT_USAGE = 2, EXIT_LINK = 3 };

/* Everything lives in static memory, sized by the .options file. */
static spear_edge_Frame tx_frame;
static spear_edge_Frame rx_frame;
static uint8_t tx_message[spear_edge_Frame_size];
static uint8_t tx_wire[SPEAR_FRAME_SERIAL_MAX(spear_edge_Frame_size)];
static uint8_t rx_buffer[SPEAR_FRAME_SERIAL_BUFFER(spear_edge_Frame_size)];
static uint8_t rx_chunk[512];
static spear_frame_decoder_t decoder;
static spear_framing_t framing = SPEAR_FRAMING_TCP;
static int link_fd = -1;
static int timeout_ms = 60000;
static int verbose = 0;

/* Authentication (--key-id with --key or --key-file): the handshake sets `auth`, then every
 * frame sent is sealed and every frame received must open. */
static const char* key_id = NULL;
static uint8_t key_bytes[64];
static size_t key_len = 0;
static spear_auth_t auth;
static int auth_on = 0;     /* the handshake succeeded */
static int handshaking = 0; /* the next frame must be the link_challenge */

static const char* const usage_text =
    "usage: spear-peer (--tcp HOST:PORT | --serial DEVICE [--baud N]) [--timeout-ms N] [-v]\n"
    "                  [--key-id ID (--key HEX | --key-file PATH)] COMMAND\n"
    "commands:\n"
    "  invoke FUNCTION [--mode sync|async|stream] [--input TEXT | --input-file PATH]\n"
    "                  [--content-type TYPE] [--exec-timeout-ms N] [--id CLIENT_ID] [--detach]\n"
    "                  [--priority 0-9]\n"
    "  status EXECUTION_ID [--wait-ms N] [--result]\n"
    "  cancel EXECUTION_ID [--reason TEXT]\n"
    "  ping\n"
    "sync and status print 'key: value' lines, then the output after 'output: '; stream\n"
    "writes output chunks to stdout as they arrive and the rest to stderr.\n"
    "--key-id authenticates the link with the pre-shared key of frame.peers[].id (HEX: 16..64\n"
    "bytes as hex digits; a key file holds the same hex); answers that do not verify are dropped.\n"
    "exit: 0 done (sync: completed), 1 refused (also: authentication failed) or the function\n"
    "failed, 2 usage, 3 link error\n";

static const char* const status_names[] = {"unknown", "pending",   "running", "completed",
                                           "failed",  "cancelled", "timeout"};
static const char* const error_names[] = {"none",
                                          "invalid_request",
                                          "unknown_execution_mode",
                                          "use_stream_endpoint",
                                          "unauthorized",
                                          "function_not_found",
                                          "execution_not_found",
                                          "execution_evicted",
                                          "conflict",
                                          "payload_too_large",
                                          "too_many_requests",
                                          "status_table_full",
                                          "function_failed",
                                          "timeout",
                                          "internal",
                                          "unavailable"};

static const char* status_name(spear_edge_ExecutionStatus s) {
    const unsigned i = (unsigned)s;
    return i < sizeof status_names / sizeof status_names[0] ? status_names[i] : "?";
}

static const char* error_name(spear_edge_ErrorCode e) {
    const unsigned i = (unsigned)e;
    return i < sizeof error_names / sizeof error_names[0] ? error_names[i] : "?";
}

static int usage(void) {
    fputs(usage_text, stderr);
    return EXIT_USAGE;
}

static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --- the link ------------------------------------------------------------------------- */

static int open_tcp(const char* host_port) {
    char host[256];
    const char* colon = strrchr(host_port, ':');
    struct addrinfo hints, *res = NULL, *ai;
    int fd = -1, one = 1, rc;
    size_t host_len;
    if (!colon || colon == host_port || (host_len = (size_t)(colon - host_port)) >= sizeof host) {
        fprintf(stderr, "spear-peer: --tcp needs HOST:PORT\n");
        return -1;
    }
    memcpy(host, host_port, host_len);
    host[host_len] = '\0';
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    rc = getaddrinfo(host, colon + 1, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "spear-peer: %s: %s\n", host_port, gai_strerror(rc));
        return -1;
    }
    for (ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0)
            continue;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        fprintf(stderr, "spear-peer: cannot connect to %s: %s\n", host_port, strerror(errno));
        return -1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static speed_t baud_constant(long baud) {
    switch (baud) {
    case 9600:
        return B9600;
    case 19200:
        return B19200;
    case 38400:
        return B38400;
    case 57600:
        return B57600;
    case 115200:
        return B115200;
    case 230400:
        return B230400;
    case 460800:
        return B460800;
    case 921600:
        return B921600;
    default:
        return 0;
    }
}

static int open_serial(const char* device, long baud) {
    struct termios tio;
    const speed_t speed = baud_constant(baud);
    int fd;
    if (speed == 0) {
        fprintf(stderr, "spear-peer: unsupported baud rate %ld\n", baud);
        return -1;
    }
    fd = open(device, O_RDWR | O_NOCTTY);
    if (fd < 0) {
        fprintf(stderr, "spear-peer: cannot open %s: %s\n", device, strerror(errno));
        return -1;
    }
    if (tcgetattr(fd, &tio) == 0) { /* a pty master has no termios: that is fine */
        cfmakeraw(&tio);
        tio.c_cflag |= CLOCAL | CREAD;
        cfsetispeed(&tio, speed);
        cfsetospeed(&tio, speed);
        tcsetattr(fd, TCSANOW, &tio);
    }
    return fd;
}

static int write_all(const uint8_t* data, size_t len) {
    while (len > 0) {
        const ssize_t n = write(link_fd, data, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "spear-peer: write: %s\n", strerror(errno));
            return -1;
        }
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Encodes tx_frame, seals it on an authenticated link, frames it and writes it. */
static int send_frame(void) {
    pb_ostream_t out = pb_ostream_from_buffer(tx_message, sizeof tx_message);
    size_t wire_len, msg_len;
    if (!pb_encode(&out, spear_edge_Frame_fields, &tx_frame)) {
        fprintf(stderr, "spear-peer: encode: %s\n", PB_GET_ERROR(&out));
        return -1;
    }
    msg_len = out.bytes_written;
    if (auth_on) {
        msg_len = spear_auth_seal(&auth, tx_message, msg_len, sizeof tx_message);
        if (msg_len == 0) {
            fprintf(stderr, "spear-peer: no room for the auth trailer\n");
            return -1;
        }
    }
    wire_len = spear_frame_encode(framing, tx_message, msg_len, tx_wire, sizeof tx_wire);
    if (wire_len == 0)
        return -1;
    return write_all(tx_wire, wire_len);
}

/* Reads until a frame for `request_id` decodes into rx_frame (others are skipped), or the
 * timeout passes without a byte. 0 on success, -1 on a link error or timeout. */
static int receive_frame(uint32_t request_id) {
    static size_t chunk_len = 0, chunk_pos = 0; /* bytes read but not fed yet */
    long long deadline = now_ms() + timeout_ms;
    for (;;) {
        while (chunk_pos < chunk_len) {
            const uint8_t* msg = NULL;
            size_t msg_len = 0;
            const spear_frame_status_t st =
                spear_frame_decoder_push(&decoder, rx_chunk[chunk_pos++], &msg, &msg_len);
            if (st == SPEAR_FRAME_FATAL) {
                fprintf(stderr, "spear-peer: bad length prefix from the appliance\n");
                return -1;
            }
            if (st == SPEAR_FRAME_DROPPED) {
                if (verbose)
                    fprintf(stderr, "spear-peer: dropped a frame (error %d)\n", (int)decoder.error);
                continue;
            }
            if (st == SPEAR_FRAME_READY) {
                pb_istream_t in;
                size_t body_len = msg_len;
                if (auth_on) {
                    /* Only frames sealed by the appliance with our key on this link count. */
                    const spear_auth_status_t as =
                        spear_auth_open(&auth, msg, msg_len, &body_len, NULL);
                    if (as != SPEAR_AUTH_OK) {
                        fprintf(stderr,
                                "spear-peer: dropped a frame that does not verify (%s)\n",
                                as == SPEAR_AUTH_MISSING   ? "no auth trailer"
                                : as == SPEAR_AUTH_REPLAY ? "replayed counter"
                                                          : "bad MAC");
                        continue;
                    }
                }
                in = pb_istream_from_buffer(msg, body_len);
                memset(&rx_frame, 0, sizeof rx_frame);
                if (!pb_decode(&in, spear_edge_Frame_fields, &rx_frame)) {
                    fprintf(stderr, "spear-peer: undecodable frame: %s\n", PB_GET_ERROR(&in));
                    continue;
                }
                if (handshaking && rx_frame.which_body == spear_edge_Frame_link_challenge_tag) {
                    /* The challenge carries the link nonce its own MAC depends on. */
                    spear_auth_init(&auth, key_bytes, key_len, auth.peer_nonce,
                                    rx_frame.body.link_challenge.link_nonce,
                                    SPEAR_AUTH_FROM_PEER);
                    if (spear_auth_open_challenge(&auth, msg, msg_len, &body_len) !=
                        SPEAR_AUTH_OK) {
                        fprintf(stderr, "spear-peer: the appliance's link_challenge does not "
                                        "verify: wrong key for key id '%s'?\n",
                                key_id);
                        return -2;
                    }
                }
                if (rx_frame.request_id == request_id || rx_frame.request_id == 0)
                    return 0;
                if (verbose)
                    fprintf(stderr, "spear-peer: skipped a frame for request %u\n",
                            (unsigned)rx_frame.request_id);
            }
        }
        {
            struct pollfd p;
            long long left = deadline - now_ms();
            ssize_t n;
            if (left <= 0) {
                fprintf(stderr, "spear-peer: no answer within %d ms\n", timeout_ms);
                return -1;
            }
            p.fd = link_fd;
            p.events = POLLIN;
            if (poll(&p, 1, (int)left) <= 0)
                continue;
            n = read(link_fd, rx_chunk, sizeof rx_chunk);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                fprintf(stderr, "spear-peer: the link closed\n");
                return -1;
            }
            chunk_len = (size_t)n;
            chunk_pos = 0;
            deadline = now_ms() + timeout_ms;
        }
    }
}

/* --- authentication ------------------------------------------------------------------ */

static int print_error(const spear_edge_Error* e);
static void copy_text(char* dst, size_t cap, const char* src);

static int hex_value(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Parses 32..128 hex digits (surrounding whitespace ignored) into key_bytes. */
static int parse_key(const char* hex) {
    size_t n = 0;
    while (*hex == ' ' || *hex == '\t' || *hex == '\n' || *hex == '\r')
        ++hex;
    while (hex[0] && hex[0] != ' ' && hex[0] != '\t' && hex[0] != '\n' && hex[0] != '\r') {
        const int hi = hex_value(hex[0]), lo = hex[1] ? hex_value(hex[1]) : -1;
        if (hi < 0 || lo < 0 || n == sizeof key_bytes)
            return -1;
        key_bytes[n++] = (uint8_t)(hi * 16 + lo);
        hex += 2;
    }
    key_len = n;
    return n >= 16 ? 0 : -1;
}

static int read_key_file(const char* path) {
    char text[2 * sizeof key_bytes + 8];
    size_t n;
    FILE* f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "spear-peer: cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    return parse_key(text);
}

/* The handshake: link_hello with our key id and a fresh nonce; the link_challenge must
 * verify with our key. Returns 0, or an exit code. */
static int link_handshake(void) {
    const uint32_t id = 5;
    uint8_t nonce[SPEAR_AUTH_NONCE_BYTES];
    int rc;
    FILE* random = fopen("/dev/urandom", "rb");
    if (!random || fread(nonce, 1, sizeof nonce, random) != sizeof nonce) {
        fprintf(stderr, "spear-peer: cannot read /dev/urandom\n");
        if (random)
            fclose(random);
        return EXIT_LINK;
    }
    fclose(random);
    memset(&auth, 0, sizeof auth);
    memcpy(auth.peer_nonce, nonce, sizeof nonce);
    memset(&tx_frame, 0, sizeof tx_frame);
    tx_frame.request_id = id;
    tx_frame.which_body = spear_edge_Frame_link_hello_tag;
    copy_text(tx_frame.body.link_hello.key_id, sizeof tx_frame.body.link_hello.key_id, key_id);
    memcpy(tx_frame.body.link_hello.peer_nonce, nonce, sizeof nonce);
    if (send_frame() != 0)
        return EXIT_LINK;
    handshaking = 1;
    rc = receive_frame(id);
    handshaking = 0;
    if (rc == -2)
        return EXIT_REFUSED;
    if (rc != 0)
        return EXIT_LINK;
    if (rx_frame.which_body == spear_edge_Frame_error_tag) {
        fputs("spear-peer: the appliance refused the handshake (unauthenticated answer)\n", stderr);
        return print_error(&rx_frame.body.error);
    }
    if (rx_frame.which_body != spear_edge_Frame_link_challenge_tag) {
        fprintf(stderr, "spear-peer: unexpected answer to link_hello (body %u)\n",
                (unsigned)rx_frame.which_body);
        return EXIT_LINK;
    }
    auth_on = 1;
    if (verbose)
        fprintf(stderr, "spear-peer: authenticated as '%s'\n", key_id);
    memset(&tx_frame, 0, sizeof tx_frame);
    return 0;
}

/* --- printing ------------------------------------------------------------------------- */

static int print_error(const spear_edge_Error* e) {
    fprintf(stderr, "error: %s (%d): %s\n", error_name(e->code), (int)e->code, e->message);
    if (e->retry_after_ms)
        fprintf(stderr, "retry_after_ms: %u\n", (unsigned)e->retry_after_ms);
    return EXIT_REFUSED;
}

static void print_result(const spear_edge_ExecutionResult* r, int with_output) {
    printf("status: %s\n", status_name(r->status));
    if (r->has_exit_code)
        printf("exit_code: %d\n", (int)r->exit_code);
    if (r->has_signal)
        printf("signal: %d\n", (int)r->signal);
    if (r->error_code != spear_edge_ErrorCode_ERROR_CODE_NONE)
        printf("error_code: %s\nerror_message: %s\n", error_name(r->error_code), r->error_message);
    printf("execution_time_ms: %lld\n", (long long)r->execution_time_ms);
    printf("output_size: %llu\n", (unsigned long long)r->output_size);
    if (r->output_truncated)
        printf("output_truncated: true\n");
    if (with_output) {
        fputs("output: ", stdout);
        fwrite(r->output.bytes, 1, r->output.size, stdout);
        if (r->output.size == 0 || r->output.bytes[r->output.size - 1] != '\n')
            fputc('\n', stdout);
    }
}

/* --- commands ------------------------------------------------------------------------- */

static void copy_text(char* dst, size_t cap, const char* src) {
    strncpy(dst, src, cap - 1);
    dst[cap - 1] = '\0';
}

static int read_input_file(const char* path, spear_edge_InvokeFunctionRequest* r) {
    FILE* f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    size_t n;
    int too_long, failed;
    if (!f) {
        fprintf(stderr, "spear-peer: cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    n = fread(r->input.bytes, 1, sizeof r->input.bytes, f);
    too_long = fgetc(f) != EOF;
    failed = ferror(f);
    if (f != stdin)
        fclose(f);
    if (too_long)
        fprintf(stderr, "spear-peer: input over %u bytes\n", (unsigned)sizeof r->input.bytes);
    if (too_long || failed)
        return -1;
    r->input.size = (pb_size_t)n;
    return 0;
}

static int run_stream(uint32_t id) {
    for (;;) {
        const spear_edge_StreamExecutionResult* s;
        if (receive_frame(id) != 0)
            return EXIT_LINK;
        if (rx_frame.which_body == spear_edge_Frame_error_tag)
            return print_error(&rx_frame.body.error);
        if (rx_frame.which_body != spear_edge_Frame_stream_result_tag) {
            fprintf(stderr, "spear-peer: unexpected answer (body %u)\n",
                    (unsigned)rx_frame.which_body);
            return EXIT_LINK;
        }
        s = &rx_frame.body.stream_result;
        if (s->dropped)
            fprintf(stderr, "[dropped %u chunks]\n", (unsigned)s->dropped);
        if (s->chunk.size > 0) {
            fwrite(s->chunk.bytes, 1, s->chunk.size, stdout);
            fflush(stdout);
        } else if (!s->is_final) {
            fprintf(stderr, "[%s] execution_id: %s\n", status_name(s->status), s->execution_id);
        }
        if (s->is_final) {
            fprintf(stderr, "[final] status: %s", status_name(s->status));
            if (s->has_exit_code)
                fprintf(stderr, " exit_code: %d", (int)s->exit_code);
            if (s->has_signal)
                fprintf(stderr, " signal: %d", (int)s->signal);
            if (s->error_code != spear_edge_ErrorCode_ERROR_CODE_NONE)
                fprintf(stderr, " error: %s: %s", error_name(s->error_code), s->error_message);
            fprintf(stderr, " output_size: %llu\n", (unsigned long long)s->output_size);
            return s->status == spear_edge_ExecutionStatus_EXECUTION_STATUS_COMPLETED
                       ? EXIT_DONE
                       : EXIT_REFUSED;
        }
    }
}

static int cmd_invoke(int argc, char** argv) {
    spear_edge_InvokeFunctionRequest* r = &tx_frame.body.invoke_request;
    const uint32_t id = 1;
    int i;
    if (argc < 1)
        return usage();
    tx_frame.request_id = id;
    tx_frame.which_body = spear_edge_Frame_invoke_request_tag;
    if (strlen(argv[0]) >= sizeof r->function_name) {
        fprintf(stderr, "spear-peer: function name over %u characters\n",
                (unsigned)sizeof r->function_name - 1);
        return EXIT_USAGE;
    }
    copy_text(r->function_name, sizeof r->function_name, argv[0]);
    r->execution_mode = spear_edge_ExecutionMode_EXECUTION_MODE_SYNC;
    for (i = 1; i < argc; ++i) {
        const char* a = argv[i];
        const char* v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--detach") == 0) {
            r->detach = true;
            continue;
        }
        if (!v)
            return usage();
        ++i;
        if (strcmp(a, "--mode") == 0) {
            if (strcmp(v, "sync") == 0)
                r->execution_mode = spear_edge_ExecutionMode_EXECUTION_MODE_SYNC;
            else if (strcmp(v, "async") == 0)
                r->execution_mode = spear_edge_ExecutionMode_EXECUTION_MODE_ASYNC;
            else if (strcmp(v, "stream") == 0)
                r->execution_mode = spear_edge_ExecutionMode_EXECUTION_MODE_STREAM;
            else
                return usage();
        } else if (strcmp(a, "--input") == 0) {
            const size_t n = strlen(v);
            if (n > sizeof r->input.bytes) {
                fprintf(stderr, "spear-peer: input over %u bytes\n",
                        (unsigned)sizeof r->input.bytes);
                return EXIT_USAGE;
            }
            memcpy(r->input.bytes, v, n);
            r->input.size = (pb_size_t)n;
        } else if (strcmp(a, "--input-file") == 0) {
            if (read_input_file(v, r) != 0)
                return EXIT_USAGE;
        } else if (strcmp(a, "--content-type") == 0) {
            copy_text(r->content_type, sizeof r->content_type, v);
        } else if (strcmp(a, "--exec-timeout-ms") == 0) {
            r->timeout_ms = (uint32_t)strtoul(v, NULL, 10);
        } else if (strcmp(a, "--id") == 0) {
            copy_text(r->execution_id, sizeof r->execution_id, v);
        } else if (strcmp(a, "--priority") == 0) {
            /* Sent as given: spearlet checks the range (0..9) and answers the error. */
            r->has_priority = true;
            r->priority = (uint32_t)strtoul(v, NULL, 10);
        } else {
            return usage();
        }
    }
    if (send_frame() != 0)
        return EXIT_LINK;
    if (r->execution_mode == spear_edge_ExecutionMode_EXECUTION_MODE_STREAM)
        return run_stream(id);
    if (receive_frame(id) != 0)
        return EXIT_LINK;
    if (rx_frame.which_body == spear_edge_Frame_error_tag)
        return print_error(&rx_frame.body.error);
    if (rx_frame.which_body != spear_edge_Frame_invoke_response_tag) {
        fprintf(stderr, "spear-peer: unexpected answer (body %u)\n", (unsigned)rx_frame.which_body);
        return EXIT_LINK;
    }
    {
        const spear_edge_InvokeFunctionResponse* resp = &rx_frame.body.invoke_response;
        const int async = resp->execution_mode == spear_edge_ExecutionMode_EXECUTION_MODE_ASYNC;
        printf("success: %s\n", resp->success ? "true" : "false");
        printf("execution_id: %s\n", resp->execution_id);
        if (async) {
            printf("status_endpoint: %s\n", resp->status_endpoint);
            printf("estimated_completion_ms: %lld\n", (long long)resp->estimated_completion_ms);
        }
        print_result(&resp->result, !async);
        return resp->success ? EXIT_DONE : EXIT_REFUSED;
    }
}

static int cmd_status(int argc, char** argv) {
    spear_edge_GetExecutionStatusRequest* r = &tx_frame.body.status_request;
    const uint32_t id = 2;
    int i;
    if (argc < 1)
        return usage();
    tx_frame.request_id = id;
    tx_frame.which_body = spear_edge_Frame_status_request_tag;
    copy_text(r->execution_id, sizeof r->execution_id, argv[0]);
    for (i = 1; i < argc; ++i) {
        if (strcmp(argv[i], "--result") == 0)
            r->include_result = true;
        else if (strcmp(argv[i], "--wait-ms") == 0 && i + 1 < argc)
            r->wait_ms = (uint32_t)strtoul(argv[++i], NULL, 10);
        else
            return usage();
    }
    if (r->wait_ms > 0 && (long long)timeout_ms < (long long)r->wait_ms + 5000)
        timeout_ms = (int)r->wait_ms + 5000; /* the long-poll may take that long */
    if (send_frame() != 0 || receive_frame(id) != 0)
        return EXIT_LINK;
    if (rx_frame.which_body == spear_edge_Frame_error_tag)
        return print_error(&rx_frame.body.error);
    if (rx_frame.which_body != spear_edge_Frame_status_response_tag)
        return EXIT_LINK;
    printf("execution_id: %s\n", rx_frame.body.status_response.execution_id);
    printf("function_name: %s\n", rx_frame.body.status_response.function_name);
    printf("estimated_completion_ms: %lld\n",
           (long long)rx_frame.body.status_response.estimated_completion_ms);
    print_result(&rx_frame.body.status_response.result, r->include_result);
    return EXIT_DONE;
}

static int cmd_cancel(int argc, char** argv) {
    spear_edge_CancelExecutionRequest* r = &tx_frame.body.cancel_request;
    const uint32_t id = 3;
    if (argc < 1)
        return usage();
    tx_frame.request_id = id;
    tx_frame.which_body = spear_edge_Frame_cancel_request_tag;
    copy_text(r->execution_id, sizeof r->execution_id, argv[0]);
    if (argc == 3 && strcmp(argv[1], "--reason") == 0)
        copy_text(r->reason, sizeof r->reason, argv[2]);
    else if (argc != 1)
        return usage();
    if (send_frame() != 0 || receive_frame(id) != 0)
        return EXIT_LINK;
    if (rx_frame.which_body == spear_edge_Frame_error_tag)
        return print_error(&rx_frame.body.error);
    if (rx_frame.which_body != spear_edge_Frame_cancel_response_tag)
        return EXIT_LINK;
    printf("success: %s\n", rx_frame.body.cancel_response.success ? "true" : "false");
    printf("execution_id: %s\n", rx_frame.body.cancel_response.execution_id);
    printf("final_status: %s\n", status_name(rx_frame.body.cancel_response.final_status));
    printf("message: %s\n", rx_frame.body.cancel_response.message);
    return rx_frame.body.cancel_response.success ? EXIT_DONE : EXIT_REFUSED;
}

static int cmd_ping(void) {
    const uint32_t id = 4;
    const long long start = now_ms();
    tx_frame.request_id = id;
    tx_frame.which_body = spear_edge_Frame_ping_tag;
    if (send_frame() != 0 || receive_frame(id) != 0)
        return EXIT_LINK;
    if (rx_frame.which_body != spear_edge_Frame_pong_tag)
        return rx_frame.which_body == spear_edge_Frame_error_tag ? print_error(&rx_frame.body.error)
                                                                 : EXIT_LINK;
    printf("pong in %lld ms\n", now_ms() - start);
    return EXIT_DONE;
}

int main(int argc, char** argv) {
    const char *tcp = NULL, *serial = NULL;
    long baud = 115200;
    int i, rc;
    for (i = 1; i < argc && argv[i][0] == '-'; ++i) {
        if (strcmp(argv[i], "--tcp") == 0 && i + 1 < argc)
            tcp = argv[++i];
        else if (strcmp(argv[i], "--serial") == 0 && i + 1 < argc)
            serial = argv[++i];
        else if (strcmp(argv[i], "--baud") == 0 && i + 1 < argc)
            baud = strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--timeout-ms") == 0 && i + 1 < argc)
            timeout_ms = atoi(argv[++i]);
        else if (strcmp(argv[i], "-v") == 0)
            verbose = 1;
        else if (strcmp(argv[i], "--key-id") == 0 && i + 1 < argc)
            key_id = argv[++i];
        else if (strcmp(argv[i], "--key") == 0 && i + 1 < argc) {
            if (parse_key(argv[++i]) != 0) {
                fputs("spear-peer: --key needs 16..64 bytes as hex digits\n", stderr);
                return EXIT_USAGE;
            }
        } else if (strcmp(argv[i], "--key-file") == 0 && i + 1 < argc) {
            if (read_key_file(argv[++i]) != 0) {
                fputs("spear-peer: --key-file needs 16..64 bytes as hex digits\n", stderr);
                return EXIT_USAGE;
            }
        } else
            return usage();
    }
    if ((key_id == NULL) != (key_len == 0) ||
        (key_id && strlen(key_id) >= sizeof tx_frame.body.link_hello.key_id)) {
        fputs("spear-peer: --key-id (at most 32 characters) goes with --key or --key-file\n",
              stderr);
        return EXIT_USAGE;
    }
    if ((tcp == NULL) == (serial == NULL) || i >= argc || timeout_ms <= 0)
        return usage();
    framing = tcp ? SPEAR_FRAMING_TCP : SPEAR_FRAMING_SERIAL;
    link_fd = tcp ? open_tcp(tcp) : open_serial(serial, baud);
    if (link_fd < 0)
        return EXIT_LINK;
    spear_frame_decoder_init(&decoder, framing, rx_buffer,
                             framing == SPEAR_FRAMING_TCP ? spear_edge_Frame_size
                                                          : sizeof rx_buffer);
    if (framing == SPEAR_FRAMING_SERIAL) {
        /* A lone delimiter ends whatever partial frame line noise left on the appliance side. */
        const uint8_t flush = 0;
        if (write_all(&flush, 1) != 0)
            return EXIT_LINK;
    }
    memset(&tx_frame, 0, sizeof tx_frame);
    if (key_id && (rc = link_handshake()) != 0) {
        close(link_fd);
        return rc;
    }
    if (strcmp(argv[i], "invoke") == 0)
        rc = cmd_invoke(argc - i - 1, argv + i + 1);
    else if (strcmp(argv[i], "status") == 0)
        rc = cmd_status(argc - i - 1, argv + i + 1);
    else if (strcmp(argv[i], "cancel") == 0)
        rc = cmd_cancel(argc - i - 1, argv + i + 1);
    else if (strcmp(argv[i], "ping") == 0 && i + 1 == argc)
        rc = cmd_ping();
    else
        rc = usage();
    fflush(stdout);
    close(link_fd);
    return rc;
}
