/* floor: the least a PID 1 can do to start N services.
 *   floor N PROG [ARG...]         fork+exec N copies at once, then reap forever
 *   floor -c N PROG [ARG...]      chain: start copy k+1 only after copy k wrote
 *                                 a newline on fd 3 (READY_FD=3), like svinit's
 *                                 `requires` + `ready-fd 3`
 * Each child gets its own session (as every init here gives its services).
 * Runs until killed (SIGKILL from the harness, outside the namespace). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    int chain = 0, i = 1;
    if (argc > 1 && strcmp(argv[1], "-c") == 0) { chain = 1; i++; }
    if (argc < i + 2) { fprintf(stderr, "usage: floor [-c] N PROG [ARG...]\n"); return 2; }
    long n = atol(argv[i]);
    char **cmd = argv + i + 1;
    if (chain) setenv("READY_FD", "3", 1);
    for (long k = 0; k < n; k++) {
        int p[2] = {-1, -1};
        if (chain && pipe(p) < 0) { perror("pipe"); return 1; }
        pid_t pid = fork();
        if (pid < 0) { perror("fork"); return 1; }
        if (pid == 0) {
            setsid();
            if (chain) { close(p[0]); if (p[1] != 3) { dup2(p[1], 3); close(p[1]); } }
            execv(cmd[0], cmd);
            _exit(127);
        }
        if (chain) {
            char c;
            close(p[1]);
            while (read(p[0], &c, 1) < 0 && errno == EINTR) {}
            close(p[0]);
        }
    }
    for (;;) {
        if (wait(NULL) < 0 && errno == ECHILD) pause();
    }
}
