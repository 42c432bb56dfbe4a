/* orphans: the payload of the reaping benchmark, run under the PID 1 tested.
 *   orphans N FIFO GO
 * Writes 'S' on FIFO and waits for a byte on GO (the harness reads PID 1's
 * CPU time meanwhile). Then makes N orphans: N times, fork a child that
 * forks a grandchild and exits at once; this process reaps the child, the
 * grandchild exits and is reparented to PID 1, which must reap it. Then waits
 * until /proc shows no process besides PID 1 and itself (every zombie was
 * reaped), writes 'D' on FIFO, waits on GO again and exits 0. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static int others(void) {
    DIR *d = opendir("/proc");
    if (!d) return -1;
    int n = 0;
    pid_t me = getpid();
    struct dirent *e;
    while ((e = readdir(d))) {
        long pid = atol(e->d_name);
        if (pid > 1 && pid != me) n++;
    }
    closedir(d);
    return n;
}

int main(int argc, char **argv) {
    if (argc != 4) { fprintf(stderr, "usage: orphans N FIFO GO\n"); return 2; }
    long n = atol(argv[1]);
    int out = open(argv[2], O_WRONLY | O_CLOEXEC);
    int go = open(argv[3], O_RDONLY | O_CLOEXEC);
    if (out < 0 || go < 0) { perror("open"); return 1; }
    char c;
    (void)!write(out, "S", 1);
    (void)!read(go, &c, 1);
    for (long k = 0; k < n; k++) {
        pid_t pid = fork();
        if (pid < 0) { perror("fork"); return 1; }
        if (pid == 0) {
            if (fork() == 0) _exit(0);
            _exit(0);
        }
        waitpid(pid, NULL, 0);
    }
    for (int i = 0; i < 30000 && others() > 0; i++) usleep(1000);
    (void)!write(out, "D", 1);
    (void)!read(go, &c, 1);
    return 0;
}
