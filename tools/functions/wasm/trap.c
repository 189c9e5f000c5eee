// wasm guest "trap": always traps, after a line on stderr. The input picks the trap:
// "unreachable" (default), "oob" (out-of-bounds store), "div0" (integer division by zero),
// "stack" (unbounded recursion: call stack exhausted).
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static volatile int zero = 0;

static int recurse(int depth) {
    volatile int frame[4] = {depth, 0, 0, 0}; // read after the call: not a tail call
    if (zero > 1) // never true; keeps the recursion from being infinite in the compiler's eyes
        return depth;
    return recurse(depth + 1) + frame[0];
}

int main(void) {
    char mode[32] = {0};
    const ssize_t len = read(0, mode, sizeof mode - 1);
    if (len > 0 && mode[len - 1] == '\n')
        mode[len - 1] = '\0';
    fprintf(stderr, "trap: about to trap (%s)\n", len > 0 ? mode : "unreachable");
    if (strcmp(mode, "oob") == 0)
        *(volatile int*)0xfffffff0u = 1;
    if (strcmp(mode, "div0") == 0)
        return 10 / zero;
    if (strcmp(mode, "stack") == 0)
        return recurse(0);
    __builtin_trap();
}
