// wasm guest "spin": never ends (a busy loop with no host calls): only a timeout, the fuel
// budget or a cancel stops it.
int main(void) {
    volatile unsigned long n = 0;
    for (;;)
        n = n + 1;
}
