/* Forks four children whose thread names (comm) are hostile to text formats, all spinning in
 * gp_spin() for argv[1] seconds: "semi;colon", "sp ace x", "new\nline" and invalid UTF-8. */
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

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
    const char *names[] = {"semi;colon", "sp ace x", "new\nline", "\xff\xfe bad"};
    double seconds = argc > 1 ? atof(argv[1]) : 5.0;
    for (int i = 0; i < 4; i++) {
        if (fork() == 0) {
            prctl(PR_SET_NAME, names[i]);
            gp_spin(seconds);
            return 0;
        }
    }
    gp_spin(seconds);
    while (wait(NULL) > 0) {
    }
    return 0;
}
