// wasm guest "bulkfill": built with -mbulk-memory, so clang turns its 4 MiB memset (and memcpy,
// unless it folds it) into single memory.fill (memory.copy) instructions. The runtime refuses
// such modules (one instruction would touch megabytes unmetered); this guest is there to prove
// it and is not installed. Input: how many rounds (default: forever).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(void) {
    char buf[32] = {0};
    const ssize_t len = read(0, buf, sizeof buf - 1);
    const long rounds = len > 0 ? strtol(buf, NULL, 10) : -1;
    const size_t size = 4u << 20;
    unsigned char* a = malloc(size);
    unsigned char* b = malloc(size);
    if (!a || !b)
        return 2;
    unsigned long sum = 0;
    for (long i = 0; rounds < 0 || i < rounds; ++i) {
        memset(a, (int)i, size);
        memcpy(b, a, size);
        sum += b[size - 1];
    }
    printf("%lu\n", sum);
    return 0;
}
