// wasm guest "memhog": allocates (and touches) 1 MiB blocks. Input: how many MiB (default: until
// malloc fails). When malloc fails it says so on stderr and aborts (a trap), which is how a
// guest meets its max_memory_pages limit.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(void) {
    char buf[32] = {0};
    const ssize_t len = read(0, buf, sizeof buf - 1);
    const long want = len > 0 ? strtol(buf, NULL, 10) : -1;
    long got = 0;
    void** chain = NULL; // the blocks stay reachable, so the compiler cannot drop them
    while (want < 0 || got < want) {
        void** block = malloc(1 << 20);
        if (!block) {
            fprintf(stderr, "memhog: out of memory after %ld MiB\n", got);
            abort();
        }
        memset(block, 0xab, 1 << 20);
        *block = chain;
        chain = block;
        ++got;
    }
    long blocks = 0;
    for (void** b = chain; b; b = *b)
        ++blocks;
    printf("allocated %ld MiB (%ld blocks)\n", got, blocks);
    return 0;
}
