// wasm guest "echo": copies its input (stdin) to its output (stdout) byte for byte; with the
// argument "upper" it turns ASCII letters to upper case on the way.
#include <string.h>
#include <unistd.h>

int main(int argc, char** argv) {
    const int upper = argc > 1 && strcmp(argv[1], "upper") == 0;
    static char buf[65536];
    for (;;) {
        const ssize_t n = read(0, buf, sizeof buf);
        if (n < 0)
            return 1;
        if (n == 0)
            return 0;
        if (upper)
            for (ssize_t i = 0; i < n; ++i)
                if (buf[i] >= 'a' && buf[i] <= 'z')
                    buf[i] = (char)(buf[i] - 'a' + 'A');
        for (ssize_t done = 0; done < n;) {
            const ssize_t w = write(1, buf + done, (size_t)(n - done));
            if (w <= 0)
                return 1;
            done += w;
        }
    }
}
