/* Maps libpython (like perf, gdb or vim do) but never starts an interpreter, then spins in
 * gp_spin() for argv[1] seconds: a "Python" process by its mappings that py-spy cannot read. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static volatile unsigned long sink;

__attribute__((noinline)) void gp_spin(double seconds) {
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    do {
        for (int i = 0; i < 100000; i++) {
            sink += i;
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while ((now.tv_sec - start.tv_sec) + (now.tv_nsec - start.tv_nsec) / 1e9 < seconds);
}

int main(int argc, char **argv) {
    const char *library = argc > 2 ? argv[2] : "libpython3.11.so.1.0";
    if (dlopen(library, RTLD_NOW | RTLD_GLOBAL) == NULL) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return 1;
    }
    gp_spin(argc > 1 ? atof(argv[1]) : 30.0);
    return 0;
}
