/* A CPU-bound target with a known call chain: main -> gp_outer -> gp_middle -> gp_leaf.
 * Runs for argv[1] seconds (default 30). Built by the tests with and without frame pointers. */
#include <stdlib.h>
#include <time.h>

static volatile unsigned long sink;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

__attribute__((noinline)) void gp_leaf(void) {
    for (unsigned long i = 0; i < 2000000; i++) {
        sink += i * i;
    }
}

__attribute__((noinline)) void gp_middle(void) {
    gp_leaf();
    sink ^= 1;
}

__attribute__((noinline)) void gp_outer(void) {
    gp_middle();
    sink ^= 2;
}

int main(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 30.0;
    double end = now() + seconds;
    while (now() < end) {
        gp_outer();
    }
    return 0;
}
