// wasm guest "primes": CPU-bound; counts the primes up to N by trial division, N being the
// input (digits; default 100000, at most 100000000). Also built natively by the benchmark to
// compare the interpreter's speed with native code.
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static unsigned long count_primes(unsigned long n) {
    unsigned long count = n >= 2 ? 1 : 0;
    for (unsigned long k = 3; k <= n; k += 2) {
        int prime = 1;
        for (unsigned long d = 3; d * d <= k; d += 2)
            if (k % d == 0) {
                prime = 0;
                break;
            }
        count += (unsigned long)prime;
    }
    return count;
}

int main(void) {
    char buf[32] = {0};
    const ssize_t len = read(0, buf, sizeof buf - 1);
    unsigned long n = 100000;
    if (len > 0) {
        char* end = NULL;
        n = strtoul(buf, &end, 10);
        if (end == buf) {
            fputs("primes: the input must be a number\n", stderr);
            return 2;
        }
    }
    if (n > 100000000UL)
        n = 100000000UL;
    printf("%lu primes up to %lu\n", count_primes(n), n);
    return 0;
}
