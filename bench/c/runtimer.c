/* runtimer: wall time of K runs of a command (fork, exec, wait), output to
 * /dev/null. Prints one line per run: "NS STATUS". */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: runtimer K CMD [ARG...]\n"); return 2; }
    long k = atol(argv[1]);
    int null = open("/dev/null", O_RDWR);
    for (long i = 0; i < k; i++) {
        long long t0 = now_ns();
        pid_t pid = fork();
        if (pid == 0) {
            dup2(null, 1); dup2(null, 2);
            execvp(argv[2], argv + 2);
            _exit(127);
        }
        int st = 0;
        waitpid(pid, &st, 0);
        long long t1 = now_ns();
        printf("%lld %d\n", t1 - t0, WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
    }
    return 0;
}
