/* svc: the trivial service every system under test starts.
 * At start it writes one byte to the fifo named by $SVBENCH_FIFO (the
 * readiness signal the harness counts), then, if $READY_FD is set, writes a
 * newline to that descriptor (svinit's ready-fd, the floor's chain mode),
 * then sleeps until killed. Static, no allocation, no stdio. */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

int main(void) {
    const char *fifo = getenv("SVBENCH_FIFO");
    if (fifo) {
        int fd = open(fifo, O_WRONLY | O_CLOEXEC);
        if (fd >= 0) {
            (void)!write(fd, "u", 1);
            close(fd);
        }
    }
    const char *rfd = getenv("READY_FD");
    if (rfd) {
        int fd = atoi(rfd);
        (void)!write(fd, "\n", 1);
        close(fd);
    }
    for (;;) pause();
}
