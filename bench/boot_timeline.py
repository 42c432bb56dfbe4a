#!/usr/bin/env python3
"""Where a small boot's time goes: for each svinit binary, the boot row's
command (N services) under `perf record -a` of the scheduler's exec and fork
tracepoints, and per round the times from svinit's exec to its fork of the
spawner, to the first service's exec and to the last one's. Binaries are
interleaved in every round; prints medians [min-max] in ms. Needs root,
perf, and the payloads `make bench` builds (target/bench/bin).

    python3 bench/boot_timeline.py N ROUNDS BINARY [BINARY ...]

A wall-time companion to ab_boot.py: it says which stretch a change moved
(svinit's own start-up before the spawner is forked, the spawner's
start-up, the services' starts), and whether the spawner ran on the other CPU
(`sched_wakeup_new`'s target_cpu) or waited for svinit's."""
import os
import re
import statistics
import subprocess
import sys
import tempfile
import types

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402

EVENTS = "sched:sched_process_exec,sched:sched_process_fork,sched:sched_wakeup_new"
EXEC = re.compile(r"\s(\d+\.\d+): sched:sched_process_exec: filename=(\S+) pid=(\d+)")
FORK = re.compile(r"\s(\d+\.\d+): sched:sched_process_fork: comm=\S+ pid=(\d+) child_comm=\S+ child_pid=(\d+)")
WAKE = re.compile(r"sched:sched_wakeup_new: comm=\S+ pid=(\d+) .*target_cpu=(\d+)")


def timeline(b, binary, n, workdir):
    """One boot: (ms to svinit's first fork, the spawner's, to the first
    service's exec, to the last one's, whether the spawner was placed on
    another CPU than svinit)."""
    b.svinit = binary
    data = os.path.join(workdir, "perf.data")
    subprocess.run(["perf", "record", "-q", "-o", data, "-e", EVENTS, "-a", "--",
                    b.tool("bootclock"), str(n), b.fifo] + bench.UNSHARE + b.command("svinit", n),
                   env=b.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    script = subprocess.run(["perf", "script", "-i", data, "-F", "cpu,time,event,trace"],
                            capture_output=True, text=True, check=True).stdout
    start = spawner = None
    services, cpu_of = [], {}
    for line in script.splitlines():
        if m := EXEC.search(line):
            t, path, pid = float(m[1]), m[2], int(m[3])
            if path == binary:
                start, svinit_pid = t, pid
            elif path == b.svc:
                services.append(t)
        elif m := WAKE.search(line):
            cpu_of[int(m[1])] = int(m[2])
        elif (m := FORK.search(line)) and start is not None and int(m[2]) == svinit_pid:
            cpu_of.setdefault(svinit_pid, int(line.split("[")[1].split("]")[0]))
            if spawner is None:
                spawner, spawner_pid = float(m[1]), int(m[3])
    if start is None or spawner is None or len(services) < n:
        raise RuntimeError(f"{binary}: incomplete trace")
    ms = lambda t: (t - start) * 1e3
    return ms(spawner), ms(services[0]), ms(services[-1]), cpu_of.get(spawner_pid) != cpu_of.get(svinit_pid)


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    n, rounds = int(sys.argv[1]), int(sys.argv[2])
    binaries = [os.path.abspath(p) for p in sys.argv[3:]]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    args = types.SimpleNamespace(bin=os.path.join(root, "target/bench/bin"), svinit=binaries[0],
                                 svctl="", static_dir=None)
    b = bench.Bench(args)
    rows = {binary: [] for binary in binaries}
    with tempfile.TemporaryDirectory() as workdir:
        for _ in range(rounds):
            for binary in binaries:
                rows[binary].append(timeline(b, binary, n, workdir))
    fmt = lambda v: f"{statistics.median(v):.2f} [{min(v):.2f}-{max(v):.2f}]"
    for binary, runs in rows.items():
        cols = list(zip(*runs))
        print(f"{binary}: spawner forked {fmt(cols[0])}, first service {fmt(cols[1])},"
              f" service {n} {fmt(cols[2])} ms; spawner on another CPU {sum(cols[3])}/{rounds}")


if __name__ == "__main__":
    main()
