// wasm guest "ticker": streams lines over time. Input "N [MS]": N lines (default 5, at most
// 1000), MS milliseconds apart (default 200, at most 10000). Sleeps with nanosleep, which
// wasi-libc turns into poll_oneoff on a clock: the host yields instead of blocking.
#include <stdio.h>
#include <time.h>
#include <unistd.h>

int main(void) {
    char buf[64] = {0};
    const ssize_t len = read(0, buf, sizeof buf - 1);
    long n = 5, ms = 200;
    if (len > 0 && sscanf(buf, "%ld %ld", &n, &ms) < 1) {
        fputs("ticker: the input must be \"N [MS]\"\n", stderr);
        return 2;
    }
    if (n < 0)
        n = 0;
    if (n > 1000)
        n = 1000;
    if (ms < 0)
        ms = 0;
    if (ms > 10000)
        ms = 10000;
    for (long i = 1; i <= n; ++i) {
        printf("tick %ld of %ld\n", i, n); // stdout is line-buffered: one chunk per line
        if (i < n) {
            struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    return 0;
}
