/* bootclock: time from launching a command to the Nth readiness byte on a fifo.
 *   bootclock [-h] N FIFO CMD [ARG...]
 * Creates nothing: FIFO must exist. Opens it O_RDWR (never EOF), takes t0,
 * fork+execs CMD (e.g. `unshare --pid --fork --mount-proc --kill-child X`),
 * reads until N bytes arrived, takes t1, and prints
 *   ready NS UNSHARE_PID PID1_HOST_PID
 * Without -h it then kills the namespace. With -h (hold) it waits until a line
 * arrives on stdin (or stdin closes) before killing. Killing: SIGKILL to the
 * namespace's PID 1 (the kernel kills the rest and waits for them), then
 * waitpid on the command; prints "gone NS" (teardown time). Timeout 300 s. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static pid_t child_of(pid_t pid) {
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", pid, pid);
    for (int tries = 0; tries < 5000; tries++) {
        FILE *f = fopen(path, "r");
        if (!f) return -1;
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = 0;
        if (n > 0) return (pid_t)atol(buf);
        usleep(1000);
    }
    return -1;
}

int main(int argc, char **argv) {
    int hold = 0, i = 1;
    if (argc > 1 && strcmp(argv[1], "-h") == 0) { hold = 1; i++; }
    if (argc < i + 3) { fprintf(stderr, "usage: bootclock [-h] N FIFO CMD [ARG...]\n"); return 2; }
    long n = atol(argv[i]);
    int fd = open(argv[i + 1], O_RDWR | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) { perror(argv[i + 1]); return 1; }
    char **cmd = argv + i + 2;
    long long t0 = now_ns();
    pid_t pid = fork();
    if (pid < 0) { perror("fork"); return 1; }
    if (pid == 0) { execvp(cmd[0], cmd); perror(cmd[0]); _exit(127); }
    long got = 0;
    char buf[4096];
    int rc = 0;
    while (got < n) {
        struct pollfd pfd = {fd, POLLIN, 0};
        int r = poll(&pfd, 1, 300000);
        if (r == 0) { fprintf(stderr, "bootclock: timeout, %ld of %ld ready\n", got, n); rc = 3; break; }
        if (r < 0) { if (errno == EINTR) continue; perror("poll"); rc = 1; break; }
        ssize_t k = read(fd, buf, sizeof buf);
        if (k > 0) got += k;
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) { fprintf(stderr, "bootclock: command exited early (%d ready)\n", (int)got); return 4; }
    }
    long long t1 = now_ns();
    pid_t pid1 = child_of(pid);
    printf("ready %lld %d %d\n", rc ? -1 : t1 - t0, pid, pid1);
    fflush(stdout);
    if (hold) {
        char line[64];
        (void)!read(0, line, sizeof line);
    }
    long long t2 = now_ns();
    if (pid1 > 0) kill(pid1, SIGKILL); else kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
    printf("gone %lld\n", now_ns() - t2);
    return rc;
}
