/* crasher: a service that crashes at once. Appends "start NS" and
 * "exit NS" (CLOCK_MONOTONIC) to $CRASH_LOG, then exits 1. The supervisor's
 * restart latency is start(k+1) - exit(k) - its configured backoff. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void note(int fd, const char *what) {
    struct timespec ts;
    char buf[64];
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int n = snprintf(buf, sizeof buf, "%s %lld\n", what, ts.tv_sec * 1000000000LL + ts.tv_nsec);
    (void)!write(fd, buf, n);
}

int main(void) {
    const char *log = getenv("CRASH_LOG");
    if (!log) return 1;
    int fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return 1;
    note(fd, "start");
    note(fd, "exit");
    return 1;
}
