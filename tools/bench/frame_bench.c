// frame_bench: load generator for spearlet's frame transport (a benchmark, not a test).
/* N TCP connections, each a spear-peer-style client (one sync invoke at a time, nanopb,
 * spear_frame.c framing), for a fixed time; prints round trips per second and latency
 * percentiles.
 *   frame_bench HOST PORT CONNECTIONS SECONDS FUNCTION INPUT
 * FUNCTION "-ping" sends Ping frames instead: the transport alone, without a process per call.
 * Output (one line, for scripts): "requests=N seconds=S rps=R p50_ms=A p99_ms=B errors=E". */
#define _DEFAULT_SOURCE

#include "spear_edge.pb.h"
#include "spear_frame.h"

#include <pb_decode.h>
#include <pb_encode.h>

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Samples kept per connection; later round trips are counted but not timed. */
#define MAX_SAMPLES 400000

typedef struct {
    pthread_t thread;
    int fd;
    unsigned long requests;
    unsigned long errors;
    size_t samples;
    double* latency_ms;
} client_t;

static const char* function_name;
static const char* input;
static double stop_at;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int connect_to(const char* host, const char* port) {
    struct addrinfo hints, *res = NULL;
    int fd, one = 1;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, port, &hints, &res) != 0)
        return -1;
    fd = socket(res->ai_family, res->ai_socktype, res->ai_protocol);
    if (fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd >= 0)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static int write_all(int fd, const uint8_t* p, size_t n) {
    while (n > 0) {
        const ssize_t w = write(fd, p, n);
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static void* run_client(void* arg) {
    client_t* c = arg;
    /* Per-thread buffers, sized as a microcontroller would size them. */
    spear_edge_Frame *tx = calloc(1, sizeof *tx), *rx = calloc(1, sizeof *rx);
    uint8_t* message = malloc(spear_edge_Frame_size);
    uint8_t* wire = malloc(SPEAR_FRAME_TCP_MAX(spear_edge_Frame_size));
    uint8_t* rxbuf = malloc(spear_edge_Frame_size);
    uint8_t chunk[4096];
    spear_frame_decoder_t decoder;
    uint32_t id = 0;
    const size_t input_len = strlen(input);
    const int ping = strcmp(function_name, "-ping") == 0;
    spear_frame_decoder_init(&decoder, SPEAR_FRAMING_TCP, rxbuf, spear_edge_Frame_size);
    tx->which_body = spear_edge_Frame_invoke_request_tag;
    strncpy(tx->body.invoke_request.function_name, function_name,
            sizeof tx->body.invoke_request.function_name - 1);
    tx->body.invoke_request.execution_mode = spear_edge_ExecutionMode_EXECUTION_MODE_SYNC;
    memcpy(tx->body.invoke_request.input.bytes, input, input_len);
    tx->body.invoke_request.input.size = (pb_size_t)input_len;
    if (ping)
        tx->which_body = spear_edge_Frame_ping_tag;

    while (now_s() < stop_at) {
        pb_ostream_t out = pb_ostream_from_buffer(message, spear_edge_Frame_size);
        const double start = now_s();
        size_t wire_len;
        int answered = 0;
        tx->request_id = ++id;
        if (!pb_encode(&out, spear_edge_Frame_fields, tx))
            break;
        wire_len = spear_frame_encode(SPEAR_FRAMING_TCP, message, out.bytes_written, wire,
                                      SPEAR_FRAME_TCP_MAX(spear_edge_Frame_size));
        if (write_all(c->fd, wire, wire_len) != 0)
            break;
        while (!answered) {
            const ssize_t n = read(c->fd, chunk, sizeof chunk);
            ssize_t i;
            if (n <= 0)
                goto done;
            for (i = 0; i < n; ++i) {
                const uint8_t* msg;
                size_t len;
                if (spear_frame_decoder_push(&decoder, chunk[i], &msg, &len) == SPEAR_FRAME_READY) {
                    pb_istream_t in = pb_istream_from_buffer(msg, len);
                    if (!pb_decode(&in, spear_edge_Frame_fields, rx) || rx->request_id != id ||
                        (ping ? rx->which_body != spear_edge_Frame_pong_tag
                              : rx->which_body != spear_edge_Frame_invoke_response_tag ||
                                    !rx->body.invoke_response.success))
                        c->errors++;
                    answered = 1;
                }
            }
        }
        c->requests++;
        if (c->samples < MAX_SAMPLES)
            c->latency_ms[c->samples++] = (now_s() - start) * 1000.0;
    }
done:
    free(tx);
    free(rx);
    free(message);
    free(wire);
    free(rxbuf);
    return NULL;
}

static int by_value(const void* a, const void* b) {
    const double x = *(const double*)a, y = *(const double*)b;
    return (x > y) - (x < y);
}

int main(int argc, char** argv) {
    int connections, i;
    double seconds, started, elapsed;
    client_t* clients;
    double* all;
    size_t total_samples = 0, k = 0;
    unsigned long requests = 0, errors = 0;
    if (argc != 7) {
        fprintf(stderr, "usage: frame_bench HOST PORT CONNECTIONS SECONDS FUNCTION INPUT\n");
        return 2;
    }
    connections = atoi(argv[3]);
    seconds = atof(argv[4]);
    function_name = argv[5];
    input = argv[6];
    if (connections <= 0 || seconds <= 0 || strlen(input) > 3072)
        return 2;
    clients = calloc((size_t)connections, sizeof *clients);
    for (i = 0; i < connections; ++i) {
        clients[i].fd = connect_to(argv[1], argv[2]);
        clients[i].latency_ms = malloc(MAX_SAMPLES * sizeof(double));
        if (clients[i].fd < 0) {
            fprintf(stderr, "frame_bench: cannot connect to %s:%s\n", argv[1], argv[2]);
            return 1;
        }
    }
    started = now_s();
    stop_at = started + seconds;
    for (i = 0; i < connections; ++i)
        pthread_create(&clients[i].thread, NULL, run_client, &clients[i]);
    for (i = 0; i < connections; ++i) {
        pthread_join(clients[i].thread, NULL);
        requests += clients[i].requests;
        errors += clients[i].errors;
        total_samples += clients[i].samples;
        close(clients[i].fd);
    }
    elapsed = now_s() - started;
    all = malloc((total_samples ? total_samples : 1) * sizeof(double));
    for (i = 0; i < connections; ++i) {
        memcpy(all + k, clients[i].latency_ms, clients[i].samples * sizeof(double));
        k += clients[i].samples;
        free(clients[i].latency_ms);
    }
    qsort(all, total_samples, sizeof(double), by_value);
    printf("requests=%lu seconds=%.2f rps=%.0f p50_ms=%.3f p99_ms=%.3f errors=%lu\n", requests,
           elapsed, (double)requests / elapsed, total_samples ? all[total_samples / 2] : 0.0,
           total_samples ? all[(size_t)((double)total_samples * 0.99)] : 0.0, errors);
    free(all);
    free(clients);
    return errors ? 1 : 0;
}
