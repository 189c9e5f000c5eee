// wasm guest "probe": reports what the host gives it, for tests. The input is one command per
// line: "args", "env", "state" (a counter kept in linear memory: 1 on every fresh instance),
// "clock", "random", "stderr TEXT", "sleep MS", "cat PATH", "ls PATH", "write PATH",
// "exit N" (exits at once with code N), and two that stress the host's metering:
// "bigwrite N" (grows memory to 16 MiB, then one raw fd_write of N iovecs that each cover all
// of it; reports what the host took on stderr) and "randloop" (random_get of 64 KiB, forever).
// Each command prints one or more lines.
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <wasi/api.h>

extern char** environ;
static int calls = 0;
static char input[65536];
static uint8_t random_buffer[65536];

static void bigwrite(int count) {
    static __wasi_ciovec_t iovs[1024];
    const size_t want_pages = 256; // 16 MiB: the default max_memory_pages
    const size_t pages = __builtin_wasm_memory_size(0);
    if (pages < want_pages)
        __builtin_wasm_memory_grow(0, want_pages - pages);
    const size_t bytes = __builtin_wasm_memory_size(0) * 65536;
    if (count < 1 || count > 1024)
        count = 64;
    for (int i = 0; i < count; ++i) {
        iovs[i].buf = (const uint8_t*)random_buffer - (uintptr_t)random_buffer; // address 0
        iovs[i].buf_len = bytes;
    }
    __wasi_size_t written = 0;
    const __wasi_errno_t err = __wasi_fd_write(1, iovs, (size_t)count, &written);
    fprintf(stderr, "bigwrite of %d x %zu bytes: errno %d, nwritten %u\n", count, bytes, err,
            (unsigned)written);
}

static void command(char* line, int argc, char** argv) {
    if (strcmp(line, "args") == 0) {
        printf("argc=%d\n", argc);
        for (int i = 0; i < argc; ++i)
            printf("argv[%d]=%s\n", i, argv[i]);
    } else if (strcmp(line, "env") == 0) {
        for (char** e = environ; *e; ++e)
            printf("env %s\n", *e);
    } else if (strcmp(line, "state") == 0) {
        printf("calls=%d\n", ++calls);
    } else if (strcmp(line, "clock") == 0) {
        struct timespec rt, mono;
        clock_gettime(CLOCK_REALTIME, &rt);
        clock_gettime(CLOCK_MONOTONIC, &mono);
        printf("realtime=%lld monotonic_ok=%d\n", (long long)rt.tv_sec, mono.tv_sec >= 0);
    } else if (strcmp(line, "random") == 0) {
        unsigned char r[16];
        if (getentropy(r, sizeof r) != 0) {
            printf("random failed\n");
            return;
        }
        for (size_t i = 0; i < sizeof r; ++i)
            printf("%02x", r[i]);
        printf("\n");
    } else if (strncmp(line, "stderr ", 7) == 0) {
        fprintf(stderr, "%s\n", line + 7);
    } else if (strncmp(line, "sleep ", 6) == 0) {
        const long ms = atol(line + 6);
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        printf("slept %ld\n", ms);
    } else if (strncmp(line, "cat ", 4) == 0) {
        FILE* f = fopen(line + 4, "r");
        if (!f) {
            printf("cat failed: %s\n", strerror(errno));
            return;
        }
        char buf[4096];
        size_t n;
        while ((n = fread(buf, 1, sizeof buf, f)) > 0)
            fwrite(buf, 1, n, stdout);
        fclose(f);
    } else if (strncmp(line, "ls ", 3) == 0) {
        DIR* d = opendir(line + 3);
        if (!d) {
            printf("ls failed: %s\n", strerror(errno));
            return;
        }
        struct dirent* e;
        while ((e = readdir(d)) != NULL)
            if (e->d_name[0] != '.')
                printf("entry %s\n", e->d_name);
        closedir(d);
    } else if (strncmp(line, "write ", 6) == 0) {
        FILE* f = fopen(line + 6, "w");
        printf("write %s\n", f ? "succeeded" : strerror(errno));
        if (f)
            fclose(f);
    } else if (strncmp(line, "bigwrite ", 9) == 0) {
        bigwrite(atoi(line + 9));
    } else if (strcmp(line, "randloop") == 0) {
        for (;;)
            (void)__wasi_random_get(random_buffer, sizeof random_buffer);
    } else if (strncmp(line, "exit ", 5) == 0) {
        printf("exiting with %d\n", atoi(line + 5));
        exit(atoi(line + 5));
    } else if (line[0] != '\0') {
        printf("unknown command: %s\n", line);
    }
}

int main(int argc, char** argv) {
    const ssize_t len = read(0, input, sizeof input - 1);
    if (len <= 0)
        return 0;
    input[len] = '\0';
    for (char* line = strtok(input, "\n"); line; line = strtok(NULL, "\n"))
        command(line, argc, argv);
    return 0;
}
