#!/usr/bin/env python3
"""svinit benchmarks: `make bench` runs this and it writes BENCHMARKS.md.

Every measurement runs each system under test as PID 1 of a fresh PID
namespace (`unshare --pid --fork --mount-proc --kill-child`), with the same
static payloads (bench/c/*.c), side by side in one run, rounds interleaved so
that load drifting on the machine touches every system alike. Timing-critical
parts are small C programs (bench/c); this script only orchestrates and
reports. BENCH_QUICK=1: a one-minute smoke run with small N and few rounds.
With --dinit PATH (`make bench DINIT=PATH`), dinit joins the rows where it
fits (boot up to 1,000 services, the chain, reaping, shutdown), as PID 1 of
the same kind of namespace, on service files this script writes.

Usage: bench.py --bin DIR --svinit PATH --svctl PATH [--static-dir DIR] [--dinit PATH] --out FILE
"""

import argparse
import datetime
import json
import os
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")
UNSHARE = ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child"]

if QUICK:
    BOOT_NS = [10, 100, 1000]
    BOOT_REPS = {10: 3, 100: 3, 1000: 2}
    CHAIN_REPS = 2
    SHUTDOWN_REPS = 2
    REAP_N, REAP_REPS = 2000, 2
    FOOT_NS = [10, 1000]
    IDLE_SECONDS = 3
    RESTART_SECONDS = 3.5
    STATUS_ROUNDS, STATUS_PER_ROUND = 2, 20
else:
    BOOT_NS = [10, 100, 1000, 10000]
    BOOT_REPS = {10: 15, 100: 11, 1000: 7, 10000: 3}
    CHAIN_REPS = 9
    SHUTDOWN_REPS = 9
    REAP_N, REAP_REPS = 10000, 7
    FOOT_NS = [10, 1000]
    IDLE_SECONDS = 10
    RESTART_SECONDS = 7.5
    STATUS_ROUNDS, STATUS_PER_ROUND = 5, 60
CHAIN_LEN = 100
SHUTDOWN_N = 100
# dinit is measured up to this many services (the rows the issue compares).
DINIT_MAX_N = 1000
STATUS_SERVICES = 1000


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- helpers


def stats(values):
    v = sorted(values)
    return {"median": statistics.median(v), "min": v[0], "max": v[-1], "n": len(v)}


def fmt_ms(ns):
    ms = ns / 1e6
    if ms >= 1000:
        return f"{ms:,.0f} ms"
    if ms >= 100:
        return f"{ms:.0f} ms"
    if ms >= 10:
        return f"{ms:.1f} ms"
    return f"{ms:.2f} ms"


def fmt_us(ns):
    us = ns / 1e3
    return f"{us:,.1f} µs" if us < 100 else f"{us:,.0f} µs"


def fmt_kib(kib):
    return f"{kib / 1024:.2f} MiB" if kib >= 1024 else f"{kib} KiB"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return "—"
    return f"{a / b:.2f}×"


def children(pid):
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return out


def tree(pid):
    """pid and all its descendants."""
    todo, seen = [pid], []
    while todo:
        p = todo.pop()
        seen.append(p)
        todo += children(p)
    return seen


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return "?"


def cpu_ns(pid):
    """PID's CPU time in ns: schedstat's sum_exec_runtime (ns precision),
    and utime+stime from stat (clock ticks) as a cross-check."""
    with open(f"/proc/{pid}/schedstat") as f:
        sched = int(f.read().split()[0])
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    return sched, ticks * 1e9 / os.sysconf("SC_CLK_TCK")


def status_field(pid, names):
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in names:
                    out[k] = int(v.split()[0])
    except OSError:
        pass
    return out


def smaps(pid):
    out = {"Rss": 0, "Pss": 0}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in out:
                    out[k] = int(v.split()[0])
    except OSError:
        pass
    return out


def load_average():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()
    except OSError:
        return ""


# ---------------------------------------------------------------- the world


class Bench:
    def __init__(self, args):
        self.bin = os.path.abspath(args.bin)
        self.svinit = os.path.abspath(args.svinit)
        self.svctl = os.path.abspath(args.svctl)
        self.static_dir = os.path.abspath(args.static_dir) if args.static_dir else None
        self.dinit = os.path.abspath(args.dinit) if getattr(args, "dinit", None) else None
        self.work = tempfile.mkdtemp(prefix="svinit-bench-")
        self.fifo = os.path.join(self.work, "ready.fifo")
        os.mkfifo(self.fifo)
        self.env = dict(os.environ, SVBENCH_FIFO=self.fifo)
        self.svc = os.path.join(self.bin, "svc")
        self.results = {}
        self.sockets = 0

    def tool(self, name):
        return os.path.join(self.bin, name)

    # --- service trees

    def svinit_config(self, name, n, chain=False, extra=""):
        d = os.path.join(self.work, f"svinit-{name}")
        if os.path.isdir(d):
            return d
        os.makedirs(d)
        lines = []
        for i in range(1, n + 1):
            body = f'    exec "{self.svc}"\n'
            if chain:
                body += '    ready-fd 3\n    environment {\n        READY_FD "3"\n    }\n'
                if i > 1:
                    body += f'    requires "s{i - 1}"\n'
            lines.append(f'service "s{i}" {{\n{body}{extra}}}\n')
        with open(os.path.join(d, "services.kdl"), "w") as f:
            f.write("".join(lines))
        return d

    def dinit_dir(self, name, n, chain=False, boot=None):
        """A dinit service directory: s1..sn running the payload, and `boot`,
        which waits for them all; or, given `boot` (a command line), only
        `boot`, scripted. Chain: each `ready-notification =
        pipevar:READY_FD` and `after` the one before. Not `depends-on`: dinit
        refuses to load a dependency 100 deep ("maximum recursion depth
        exceeded"); `after` starts each once the one before is ready all
        the same."""
        d = os.path.join(self.work, f"dinit-{name}")
        if os.path.isdir(d):
            return d
        os.makedirs(d)
        if boot is not None:
            with open(os.path.join(d, "boot"), "w") as f:
                f.write(f"type = scripted\ncommand = {boot}\nstart-timeout = 0\n")
            return d
        for i in range(1, n + 1):
            body = f"type = process\ncommand = {self.svc}\n"
            if chain:
                body += "ready-notification = pipevar:READY_FD\n"
                if i > 1:
                    body += f"after = s{i - 1}\n"
            with open(os.path.join(d, f"s{i}"), "w") as f:
                f.write(body)
        with open(os.path.join(d, "boot"), "w") as f:
            f.write("type = internal\n" + "".join(f"waits-for = s{i}\n" for i in range(1, n + 1)))
        return d

    def dinit_cmd(self, services_dir):
        """dinit as PID 1 in container mode (no system management), quiet
        (svinit's log goes to a pipe or /dev/null, dinit's console output
        would go to bootclock's stdout), with a control socket of its own."""
        self.sockets += 1
        sock = os.path.join(self.work, f"dinit-{self.sockets}.sock")
        return [self.dinit, "-o", "-q", "-d", services_dir, "-p", sock, "boot"]

    def supervisors(self, pid1):
        """pid1 and every process under it that is not a service. A service
        is told by its executable, not its name: runit and s6 exec the
        payload through a symlink called `run`."""
        svc = os.path.realpath(self.svc)

        def is_service(pid):
            try:
                return os.path.realpath(f"/proc/{pid}/exe") == svc
            except OSError:
                return False

        return [p for p in tree(pid1) if not is_service(p)]

    def svinit_cmd(self, binary, cfg, sock=None):
        """svinit on cfg with a control socket of its own: the default path
        is shared by every namespace of the machine, and svinit refuses to
        start while another instance answers there."""
        if sock is None:
            self.sockets += 1
            sock = os.path.join(self.work, f"svinit-{self.sockets}.sock")
        return [binary, "-s", sock, "-c", cfg]

    def scan_dir(self, kind, n, run=None):
        """A runsvdir / s6-svscan directory of n services whose `run` is a
        symlink to the payload (no shell anywhere)."""
        d = os.path.join(self.work, f"{kind}-{n}" + ("" if run is None else "-" + os.path.basename(run)))
        if not os.path.isdir(d):
            os.makedirs(d)
            for i in range(1, n + 1):
                os.mkdir(os.path.join(d, f"s{i}"))
                os.symlink(run or self.svc, os.path.join(d, f"s{i}", "run"))
        self.clean_scan_dir(d)
        return d

    def clean_scan_dir(self, d):
        """Forget the previous run's supervise state, and date the directory
        in the past: runsvdir sleeps 1 s when its directory changed within
        the current second (it would otherwise measure that sleep)."""
        for entry in os.listdir(d):
            p = os.path.join(d, entry)
            if entry.startswith("."):
                shutil.rmtree(p, ignore_errors=True)
                continue
            for sub in ("supervise", "event"):
                if os.path.lexists(os.path.join(p, sub)):
                    shutil.rmtree(os.path.join(p, sub), ignore_errors=True)
            os.utime(p, (time.time() - 60, time.time() - 60))
        os.utime(d, (time.time() - 60, time.time() - 60))

    def command(self, system, n, chain=False):
        if system == "floor":
            return [self.tool("floor")] + (["-c"] if chain else []) + [str(n), self.svc]
        if system == "svinit":
            cfg = self.svinit_config(f"chain{n}" if chain else f"flat{n}", n, chain)
            return self.svinit_cmd(self.svinit, cfg)
        if system == "runit":
            return ["runsvdir", "-P", self.scan_dir("runit", n)]
        if system == "s6":
            return ["s6-svscan", "-c", str(n + 10), self.scan_dir("s6", n)]
        if system == "dinit":
            return self.dinit_cmd(self.dinit_dir(f"chain{n}" if chain else f"flat{n}", n, chain))
        raise ValueError(system)

    # --- one namespace

    def boot_once(self, cmd, n, fifo=None, env=None):
        """Boot cmd as PID 1 of a new namespace, return ns until the nth
        readiness byte, and kill the namespace."""
        out = subprocess.run(
            [self.tool("bootclock"), str(n), fifo or self.fifo] + UNSHARE + cmd,
            env=env or self.env, capture_output=True, text=True, timeout=900,
        )
        ready = [line.split() for line in out.stdout.splitlines() if line.startswith("ready")]
        if out.returncode != 0 or not ready or int(ready[0][1]) < 0:
            raise RuntimeError(f"{cmd[0]} N={n}: {out.stderr.strip()[-400:]}")
        return int(ready[0][1])

    def hold(self, cmd, n, fifo=None, env=None):
        """Boot and keep the namespace: returns (process, ns, pid1)."""
        p = subprocess.Popen(
            [self.tool("bootclock"), "-h", str(n), fifo or self.fifo] + UNSHARE + cmd,
            env=env or self.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, text=True,
        )
        line = p.stdout.readline().split()
        if not line or line[0] != "ready" or int(line[1]) < 0:
            self.release(p)  # bootclock kills the namespace
            raise RuntimeError(f"{cmd[0]} N={n} did not come up")
        return p, int(line[1]), int(line[3])

    @staticmethod
    def release(p):
        try:
            p.stdin.write("x\n")
            p.stdin.close()
        except OSError:
            pass
        p.wait(timeout=300)

    # ------------------------------------------------------------ 1. boot

    def boot_cpu(self, cmd, n):
        """Boot as boot_once, keeping the namespace a moment: (ns to all-up,
        CPU ns of the supervision tree then: PID 1 and every process under
        it that is not a service, from /proc/PID/schedstat)."""
        p, ns, pid1 = self.hold(cmd, n)
        try:
            cpu = sum(cpu_ns(q)[0] for q in self.supervisors(pid1))
        except OSError:
            cpu = None
        finally:
            self.release(p)
        return ns, cpu

    def boot_sizes(self):
        """BOOT_NS, less what svinit cannot hold open here: it keeps a pipe
        (two fds) per service, and run.sh could not raise RLIMIT_NOFILE
        past the hard limit. Then the largest N that fits takes the place of
        the one that does not, and the report says so."""
        import resource
        limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        fits = lambda n: limit == resource.RLIM_INFINITY or 2 * n + 200 <= limit
        sizes, note = [], None
        for n in BOOT_NS:
            if fits(n):
                sizes.append(n)
                continue
            smaller = (limit - 200) // 2 // 1000 * 1000
            note = (f"N = {n:,} is not measured: svinit keeps two fds per service (its output pipe) and"
                    f" RLIMIT_NOFILE is {limit:,} on this machine, which `make bench` could not raise (no"
                    f" CAP_SYS_RESOURCE); N = {smaller:,} stands in its place.")
            if smaller > (sizes[-1] if sizes else 0):
                sizes.append(smaller)
                BOOT_REPS.setdefault(smaller, BOOT_REPS[n])
            log(note)
        return sizes, note

    def bench_boot(self):
        systems = ["floor", "svinit", "runit", "s6"] + (["dinit"] if self.dinit else [])
        res, cpu_res = {}, {}
        sizes, note = self.boot_sizes()
        # runsvdir supervises at most 1,000 service directories (MAXSERVICES).
        present = lambda n: [s for s in systems
                             if not (s == "runit" and n > 1000) and not (s == "dinit" and n > DINIT_MAX_N)]
        for n in sizes:
            reps = BOOT_REPS[n]
            times = {s: [] for s in present(n)}
            cpus = {s: [] for s in present(n)}
            for r in range(reps):
                for s in present(n):
                    ns, cpu = self.boot_cpu(self.command(s, n), n)
                    times[s].append(ns)
                    if cpu is not None:
                        cpus[s].append(cpu)
            res[n] = {s: stats(v) for s, v in times.items()}
            cpu_res[n] = {s: stats(v) for s, v in cpus.items() if v}
            log(f"boot N={n}: " + ", ".join(f"{s} {fmt_ms(res[n][s]['median'])}" for s in present(n))
                + " | CPU " + ", ".join(f"{s} {fmt_ms(v['median'])}" for s, v in cpu_res[n].items())
                + f" | load {load_average()}")
        # How much of svinit's boot is reading the config: `svinit --check`
        # parses and validates the same files and prints the plan.
        check = {}
        for n in sizes:
            cfg = self.svinit_config(f"flat{n}", n)
            out = subprocess.run([self.tool("runtimer"), "3", self.svinit, "--check", "-c", cfg],
                                 capture_output=True, text=True)
            runs = [int(line.split()[0]) for line in out.stdout.splitlines() if line.strip()]
            if runs:
                check[n] = stats(runs)
        log("svinit --check: " + ", ".join(f"N={n} {fmt_ms(v['median'])}" for n, v in check.items()))
        chain = {s: [] for s in ("floor", "svinit") + (("dinit",) if self.dinit else ())}
        for r in range(CHAIN_REPS):
            for s in chain:
                chain[s].append(self.boot_once(self.command(s, CHAIN_LEN, chain=True), CHAIN_LEN))
        chain = {s: stats(v) for s, v in chain.items()}
        log("chain: " + ", ".join(f"{s} {fmt_ms(chain[s]['median'])}" for s in chain))
        self.results["boot"] = {"flat": res, "cpu": cpu_res, "check": check, "chain": chain, "note": note}

    # ------------------------------------------------------------ 2. reaping

    def bench_reap(self):
        go = os.path.join(self.work, "go.fifo")
        if not os.path.exists(go):
            os.mkfifo(go)
        payload = [self.tool("orphans"), str(REAP_N), self.fifo, go]
        cfg = os.path.join(self.work, "svinit-reap")
        os.makedirs(cfg, exist_ok=True)
        with open(os.path.join(cfg, "reap.kdl"), "w") as f:
            args = " ".join(f'"{a}"' for a in payload)
            f.write(f'service "orphans" {{\n    type "oneshot"\n    exec {args}\n}}\n')
        systems = {
            "floor": [self.tool("floor"), "1"] + payload,
            "svinit": self.svinit_cmd(self.svinit, cfg),
            "tini": ["tini", "--"] + payload,
            "dumb-init": ["dumb-init"] + payload,
        }
        if self.dinit:
            systems["dinit"] = self.dinit_cmd(self.dinit_dir("reap", 0, boot=" ".join(payload)))
        per = {s: [] for s in systems}
        ticks = {s: [] for s in systems}
        wakes = {s: [] for s in systems}
        for r in range(REAP_REPS):
            for s, cmd in systems.items():
                a, b, c = self.reap_once(cmd, go)
                per[s].append(a / REAP_N)
                ticks[s].append(b / REAP_N)
                wakes[s].append(c / REAP_N)
        self.results["reap"] = {
            "n": REAP_N,
            "per": {s: stats(v) for s, v in per.items()},
            "ticks": {s: stats(v) for s, v in ticks.items()},
            "wakes": {s: stats(v) for s, v in wakes.items()},
        }
        log("reap: " + ", ".join(f"{s} {fmt_us(stats(v)['median'])}" for s, v in per.items()))

    def reap_once(self, cmd, go):
        rd = os.open(self.fifo, os.O_RDWR | os.O_NONBLOCK)
        gw = os.open(go, os.O_RDWR)
        p = subprocess.Popen(UNSHARE + cmd, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            self.expect(rd, b"S", 60)
            pid1 = children(p.pid)[0]
            switches = ["voluntary_ctxt_switches", "nonvoluntary_ctxt_switches"]
            w0 = sum(status_field(pid1, switches).values())
            c0 = cpu_ns(pid1)
            os.write(gw, b"g")
            self.expect(rd, b"D", 600)
            c1 = cpu_ns(pid1)
            w1 = sum(status_field(pid1, switches).values())
            os.write(gw, b"g")
            return c1[0] - c0[0], c1[1] - c0[1], w1 - w0
        finally:
            for c in children(p.pid):
                os.kill(c, signal.SIGKILL)
            p.wait()
            os.close(rd)
            os.close(gw)

    # ------------------------------------------------------------ shutdown

    def bench_shutdown(self):
        """SIGTERM to PID 1 with SHUTDOWN_N services up, until the namespace
        is empty: PID 1's pidfd turns readable when it has exited, and a PID
        1 exits only after the kernel has reaped everything else in it."""
        systems = ["svinit"] + (["dinit"] if self.dinit else [])
        times = {s: [] for s in systems}
        for r in range(SHUTDOWN_REPS):
            for s in systems:
                times[s].append(self.shutdown_time(self.command(s, SHUTDOWN_N), SHUTDOWN_N))
        self.results["shutdown"] = {"n": SHUTDOWN_N, "times": {s: stats(v) for s, v in times.items()}}
        log("shutdown: " + ", ".join(f"{s} {fmt_ms(v['median'])}"
                                     for s, v in self.results["shutdown"]["times"].items()))

    def shutdown_time(self, cmd, n):
        """Boots cmd with n services, then SIGTERM to its PID 1: ns until
        the namespace is empty (PID 1's pidfd readable)."""
        p, _, pid1 = self.hold(cmd, n)
        try:
            time.sleep(0.2)
            fd = os.pidfd_open(pid1)
            try:
                t0 = time.monotonic_ns()
                os.kill(pid1, signal.SIGTERM)
                ready, _, _ = select.select([fd], [], [], 60)
                t1 = time.monotonic_ns()
            finally:
                os.close(fd)
            if not ready:
                raise RuntimeError(f"{cmd[0]}: still running 60 s after SIGTERM")
            return t1 - t0
        finally:
            self.release(p)

    @staticmethod
    def expect(fd, byte, timeout):
        end = time.time() + timeout
        while time.time() < end:
            r, _, _ = select.select([fd], [], [], end - time.time())
            if r:
                data = os.read(fd, 1)
                if data == byte:
                    return
                raise RuntimeError(f"expected {byte!r}, got {data!r}")
        raise RuntimeError(f"timeout waiting for {byte!r}")

    # ------------------------------------------------------------ 3. footprint

    SUPERVISORS = {"svinit", "floor", "runsvdir", "runsv", "s6-svscan", "s6-supervise"}

    def footprint_of(self, pid1):
        procs = self.supervisors(pid1)
        rss = pss = 0
        names = {}
        for p in procs:
            m = smaps(p)
            rss += m["Rss"]
            pss += m["Pss"]
            names[comm(p)] = names.get(comm(p), 0) + 1
        pid1_mem = smaps(pid1)
        return {"rss": rss, "pss": pss, "procs": len(procs), "names": names,
                "pid1_rss": pid1_mem["Rss"], "pid1_pss": pid1_mem["Pss"]}

    def bench_footprint(self):
        res = {}
        for n in FOOT_NS:
            row = {}
            systems = ["floor", "svinit"] + (["svinit-static"] if self.static_svinit() else []) + ["runit", "s6"]
            for s in systems:
                if s == "svinit-static":
                    cmd = self.svinit_cmd(self.static_svinit(), self.svinit_config(f"flat{n}", n))
                else:
                    cmd = self.command(s, n)
                p, _, pid1 = self.hold(cmd, n)
                try:
                    time.sleep(0.5)
                    row[s] = self.footprint_of(pid1)
                finally:
                    self.release(p)
            res[n] = row
            log(f"footprint N={n}: " + ", ".join(f"{s} {fmt_kib(v['pss'])}" for s, v in row.items()))
        self.results["footprint"] = res
        sizes = {}
        for label, path in [
            ("svinit (glibc, release)", self.svinit),
            ("svctl (glibc, release)", self.svctl),
        ]:
            sizes[label] = os.path.getsize(path)
        if self.static_dir:
            for b in ("svinit", "svctl"):
                p = os.path.join(self.static_dir, b)
                if os.path.exists(p):
                    sizes[f"{b} (static musl, release)"] = os.path.getsize(p)
        for label, prog in [("tini", "tini"), ("dumb-init", "dumb-init"), ("runsvdir", "runsvdir"),
                            ("runsv", "runsv"), ("s6-svscan", "s6-svscan"), ("s6-supervise", "s6-supervise")]:
            p = shutil.which(prog)
            if p:
                sizes[f"{label} (Debian, dynamic)"] = os.path.getsize(os.path.realpath(p))
        self.results["sizes"] = sizes

    def static_svinit(self):
        if self.static_dir:
            p = os.path.join(self.static_dir, "svinit")
            if os.path.exists(p):
                return p
        return None

    # ------------------------------------------------------------ 4. idle

    def bench_idle(self):
        n = 100
        systems = {
            "svinit": (self.command("svinit", n), n),
            "runit": (self.command("runit", n), n),
            "s6": (self.command("s6", n), n),
            "floor": (self.command("floor", n), n),
            "tini": (["tini", "--", self.svc], 1),
            "dumb-init": (["dumb-init", self.svc], 1),
        }
        held = {}
        try:
            for s, (cmd, k) in systems.items():
                fifo = os.path.join(self.work, f"idle-{s}.fifo")
                if not os.path.exists(fifo):
                    os.mkfifo(fifo)
                env = dict(self.env, SVBENCH_FIFO=fifo)
                held[s] = self.hold(cmd, k, fifo=fifo, env=env)
            time.sleep(1)
            names = ["voluntary_ctxt_switches", "nonvoluntary_ctxt_switches"]

            def snap():
                out = {}
                for s, (_, _, pid1) in held.items():
                    pid1_cs = sum(status_field(pid1, names).values())
                    all_cs = sum(sum(status_field(p, names).values())
                                 for p in self.supervisors(pid1))
                    out[s] = (pid1_cs, all_cs)
                return out

            before = snap()
            time.sleep(IDLE_SECONDS)
            after = snap()
        finally:
            for p, _, _ in held.values():
                self.release(p)
        self.results["idle"] = {
            "seconds": IDLE_SECONDS,
            "systems": {s: {"pid1": after[s][0] - before[s][0], "all": after[s][1] - before[s][1]}
                        for s in held},
        }
        log("idle: " + ", ".join(f"{s} {v['pid1']}/{v['all']}" for s, v in self.results["idle"]["systems"].items()))

    # ------------------------------------------------------------ 5. restart

    def bench_restart(self):
        crasher = self.tool("crasher")
        cfg = os.path.join(self.work, "svinit-crash")
        os.makedirs(cfg, exist_ok=True)
        with open(os.path.join(cfg, "crash.kdl"), "w") as f:
            f.write(f'service "crasher" {{\n    exec "{crasher}"\n    backoff-limit "1s"\n    forever #true\n}}\n')
        systems = {
            "svinit": self.svinit_cmd(self.svinit, cfg),
            "runit": ["runsvdir", "-P", self.scan_dir("runit", 1, run=crasher)],
            "s6": ["s6-svscan", self.scan_dir("s6", 1, run=crasher)],
        }
        held, logs = {}, {}
        try:
            for s, cmd in systems.items():
                logs[s] = os.path.join(self.work, f"crash-{s}.log")
                if os.path.exists(logs[s]):
                    os.unlink(logs[s])
                env = dict(self.env, CRASH_LOG=logs[s])
                held[s] = self.hold(cmd, 0, env=env)
            time.sleep(RESTART_SECONDS)
        finally:
            for p, _, _ in held.values():
                self.release(p)
        res = {}
        for s, path in logs.items():
            starts, exits = [], []
            with open(path) as f:
                for line in f:
                    what, ns = line.split()
                    (starts if what == "start" else exits).append(int(ns))
            gaps = [starts[i + 1] - exits[i] - 1_000_000_000 for i in range(min(len(starts) - 1, len(exits)))]
            res[s] = stats(gaps) if gaps else None
        self.results["restart"] = res
        log("restart: " + ", ".join(f"{s} {fmt_ms(v['median']) if v else '—'}" for s, v in res.items()))

    # ------------------------------------------------------------ 6. status

    def bench_status(self):
        n = STATUS_SERVICES
        sock = os.path.join(self.work, "control.sock")
        held = {}
        res = {"available": False}
        try:
            for s in ("svinit", "runit", "s6"):
                fifo = os.path.join(self.work, f"status-{s}.fifo")
                if not os.path.exists(fifo):
                    os.mkfifo(fifo)
                env = dict(self.env, SVBENCH_FIFO=fifo)
                cmd = self.command(s, n)
                if s == "svinit":
                    cmd = self.svinit_cmd(self.svinit, cmd[-1], sock)
                held[s] = self.hold(cmd, n, fifo=fifo, env=env)
            time.sleep(0.5)
            probe = subprocess.run([self.svctl, "-s", sock, "status", "s1"], capture_output=True, text=True)
            res["available"] = probe.returncode == 0
            res["probe"] = (probe.stdout + probe.stderr).strip().splitlines()[:2]
            cmds = {
                "/bin/true (floor)": ["/bin/true"],
                "sv status (runit)": ["sv", "status", os.path.join(self.scan_dir_path("runit", n), "s1")],
                "s6-svstat (s6)": ["s6-svstat", os.path.join(self.scan_dir_path("s6", n), "s1")],
            }
            if res["available"]:
                cmds["svctl status s1"] = [self.svctl, "-s", sock, "status", "s1"]
                static_svctl = os.path.join(self.static_dir, "svctl") if self.static_dir else None
                if static_svctl and os.path.exists(static_svctl):
                    cmds["svctl status s1 (static musl)"] = [static_svctl, "-s", sock, "status", "s1"]
                cmds[f"svctl status (all {n})"] = [self.svctl, "-s", sock, "status"]
            times = {c: [] for c in cmds}
            codes = {c: set() for c in cmds}
            for r in range(STATUS_ROUNDS):
                for c, argv in cmds.items():
                    out = subprocess.run([self.tool("runtimer"), str(STATUS_PER_ROUND)] + argv,
                                         capture_output=True, text=True)
                    for line in out.stdout.splitlines():
                        ns, code = line.split()
                        times[c].append(int(ns))
                        codes[c].add(int(code))
            res["times"] = {c: stats(v) for c, v in times.items()}
            res["codes"] = {c: sorted(v) for c, v in codes.items()}
        finally:
            for p, _, _ in held.values():
                self.release(p)
        self.results["status"] = res
        log("status: " + ", ".join(f"{c} {fmt_ms(v['median'])}" for c, v in res.get("times", {}).items()))

    def scan_dir_path(self, kind, n):
        return os.path.join(self.work, f"{kind}-{n}")


# ---------------------------------------------------------------- report


def machine():
    model = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "nproc": os.cpu_count(),
        "model": model,
        "kernel": os.uname().release,
        "mem": sh("free -m | awk '/^Mem:/ {print $2\" MiB\"}'"),
        "peers": sh("dpkg-query -W -f '${Package} ${Version}, ' tini dumb-init runit s6 2>/dev/null").rstrip(", "),
        "commit": sh("git rev-parse --short HEAD") + (" (dirty)" if sh("git status --porcelain -- src Cargo.toml") else ""),
        "rustc": sh("rustc --version"),
    }


# The directory of the other scripts' outputs (`--sections`), if any.
SECTIONS_DIR = None


def qemu_boot_medians():
    """bench/boot.sh's report, `init runs start→up kernel→up` per line:
    {init: PID 1 start → 3 up, ms}."""
    path = os.path.join(SECTIONS_DIR, "boot.out") if SECTIONS_DIR else None
    if not path or not os.path.exists(path):
        return {}
    medians = {}
    with open(path) as f:
        for line in f:
            fields = line.split()
            if len(fields) == 4 and fields[1].isdigit() and fields[2].isdigit():
                medians[fields[0]] = int(fields[2])
    return medians


def targets(r):
    """The issue's targets, met or missed, from this run's figures."""
    rows = []
    if "boot" in r:
        flat = r["boot"]["flat"]
        for k in [n for n in (10, 100, 1000) if n in flat]:
            f = {s: flat[k][s]["median"] for s in flat[k]}
            rows.append((f"boot of {k:,} services within 1.30× of the fork/exec floor",
                         f"{ratio(f['svinit'], f['floor'])} ({fmt_ms(f['svinit'])} against {fmt_ms(f['floor'])})",
                         f["svinit"] <= 1.3 * f["floor"]))
            if "dinit" in f:
                rows.append((f"boot of {k:,} services no slower than dinit",
                             f"{ratio(f['svinit'], f['dinit'])} ({fmt_ms(f['svinit'])} against {fmt_ms(f['dinit'])})",
                             f["svinit"] <= f["dinit"]))
        k = 1000 if 1000 in flat else max(flat)
        f = {s: flat[k][s]["median"] for s in flat[k]}
        rows.append((f"boot of {k:,} services faster than runit and s6",
                     f"runit {ratio(f['runit'], f['svinit'])}, s6 {ratio(f['s6'], f['svinit'])} of svinit's time",
                     f["svinit"] < min(f["runit"], f["s6"])))
        ns = sorted(flat)
        if len(ns) >= 3:
            a, b, c = ns[-3], ns[-2], ns[-1]
            lo = (flat[b]["svinit"]["median"] - flat[a]["svinit"]["median"]) / (b - a)
            hi = (flat[c]["svinit"]["median"] - flat[b]["svinit"]["median"]) / (c - b)
            rows.append((f"cost linear in N (marginal cost per service {b:,}→{c:,} within 1.2× of {a:,}→{b:,})",
                         f"{fmt_us(hi)} against {fmt_us(lo)} per service ({ratio(hi, lo)})",
                         hi <= 1.2 * lo))
    if "reap" in r:
        per = r["reap"]["per"]
        sv, ti = per["svinit"]["median"], per["tini"]["median"]
        rows.append(("CPU per reaped orphan no worse than tini",
                     f"{fmt_us(sv)} against {fmt_us(ti)} ({ratio(sv, ti)})", sv <= ti))
        rows.append(("CPU per reaped orphan ≤ 8 µs, no round above 2× the median",
                     f"{fmt_us(sv)}, rounds {fmt_us(per['svinit']['min'])} – {fmt_us(per['svinit']['max'])}",
                     sv <= 8000 and per["svinit"]["max"] <= 2 * sv))
    if "shutdown" in r and "dinit" in r["shutdown"]["times"]:
        t = r["shutdown"]["times"]
        sv, di = t["svinit"]["median"], t["dinit"]["median"]
        rows.append((f"SIGTERM → empty namespace with {r['shutdown']['n']} services no slower than dinit",
                     f"{fmt_ms(sv)} against {fmt_ms(di)} ({ratio(sv, di)})", sv <= di))
    if "boot" in r and "dinit" in r["boot"]["chain"]:
        ch = r["boot"]["chain"]
        sv, di = ch["svinit"]["median"], ch["dinit"]["median"]
        rows.append((f"{CHAIN_LEN}-long requires chain within 1.1× of dinit",
                     f"{fmt_ms(sv)} against {fmt_ms(di)} ({ratio(sv, di)})", sv <= 1.1 * di))
    if "footprint" in r:
        fp = r["footprint"]
        big = max(fp)
        sv, ru = fp[big]["svinit"], fp[big]["runit"]
        rows.append((f"PID-1 Rss with {big:,} services below the sum of runit's supervisor processes",
                     f"{fmt_kib(sv['pid1_rss'])} against {fmt_kib(ru['rss'])} over {ru['procs']} processes",
                     sv["pid1_rss"] < ru["rss"]))
    if "footprint" in r and 10 in r["footprint"]:
        sv = r["footprint"][10]["svinit"]
        rows.append(("Pss of svinit (all its processes) with 10 services ≤ 1.5 MiB",
                     f"{fmt_kib(sv['pss'])} over {sv['procs']} processes", sv["pss"] <= 1536))
    if r.get("status", {}).get("available"):
        times = r["status"]["times"]
        floor_t = times["/bin/true (floor)"]["median"]
        for label, key in [("release, glibc", "svctl status s1"), ("static musl", "svctl status s1 (static musl)")]:
            if key in times:
                v = times[key]["median"]
                rows.append((f"`svctl status NAME` ({label}) within 1.20× of /bin/true",
                             f"{ratio(v, floor_t)} ({fmt_ms(v)} against {fmt_ms(floor_t)})", v <= 1.2 * floor_t))
    guest = qemu_boot_medians()
    if "svinit" in guest and "busybox" in guest:
        sv, bb = guest["svinit"], guest["busybox"]
        rows.append(("QEMU guest: PID 1 start → 3 services up no slower than busybox init",
                     f"{sv} ms against {bb} ms ({ratio(sv, bb)})", sv <= bb))
    if "idle" in r:
        z = r["idle"]["systems"]["svinit"]["pid1"]
        rows.append(("0 idle wakeups", f"{z} context switches in {r['idle']['seconds']} s", z == 0))
    if not rows:
        return []
    out = ["## Targets", "", "| target | this run | |", "| --- | --- | --- |"]
    out += [f"| {t} | {v} | {'met' if ok else '**missed**'} |" for t, v, ok in rows]
    out += ["", "Each section below says why; section 1 says what stands in the way of the boot targets.", ""]
    return out


def render(b, m, load_start, load_end, started, elapsed, cmdline):
    r = b.results
    L = []
    w = L.append
    w("# svinit benchmarks")
    w("")
    w(f"Generated by `{cmdline}` on {started} in {elapsed:.0f} s"
      + (" — **BENCH_QUICK=1 smoke run: small N, few rounds; not the figures to quote**" if QUICK else "")
      + ". Do not edit by hand: `make bench` rewrites this file.")
    w("")
    w("## Machine")
    w("")
    w("| | |")
    w("| --- | --- |")
    w(f"| CPUs (`nproc`) | {m['nproc']} |")
    w(f"| model | {m['model']} |")
    w(f"| kernel | {m['kernel']} |")
    w(f"| memory | {m['mem']} |")
    w(f"| load average (1, 5, 15 min) at start / end | {load_start} / {load_end} |")
    w(f"| svinit | commit {m['commit']}, {m['rustc']}, release profile |")
    w(f"| peers (Debian) | {m['peers']} |")
    w("")
    w("Method: each system is PID 1 of a fresh PID namespace (`unshare --pid --fork --mount-proc"
      " --kill-child`). The services are the same static C payload for everyone (`bench/c/svc.c`: write"
      " one byte to a fifo, then sleep); runit and s6 get it as a `run` symlink, so no shell runs anywhere."
      " The floor (`bench/c/floor.c`) is the least a PID 1 can do: fork + setsid + exec N times, then"
      " `wait()` forever. Rounds are interleaved (floor, svinit, runit, s6, floor, …) so that load on the"
      " machine touches all alike. Figures are medians with [min – max] over the rounds; ratios are of medians."
      " A load average well above the CPU count (see the table) means other jobs shared the machine: wall"
      " times then spread widely, CPU times much less.")
    w("")

    L += targets(r)
    for name, err in r.get("failed", {}).items():
        w(f"**{name}: failed in this run** ({err}); its section is missing.")
        w("")

    # 1. boot
    if "boot" in r:
        flat = r["boot"]["flat"]
        has_dinit = any("dinit" in row for row in flat.values())
        w("## 1. Boot to all-up")
        w("")
        w("Time from launching `unshare … PID1` to the N-th service's readiness byte on the fifo"
          " (`bench/c/bootclock.c`); svinit logs to /dev/null at its default level."
          + (f" dinit (`make bench DINIT=…`, up to {DINIT_MAX_N:,} services) runs in container mode (`-o`),"
             " quiet (`-q`), its services `type = process` and a `boot` service that `waits-for` each."
             if has_dinit else ""))
        w("")
        w("| N | rounds | floor | svinit | runit | s6 |" + (" dinit |" if has_dinit else "")
          + " svinit / floor | runit / svinit | s6 / svinit |" + (" dinit / svinit |" if has_dinit else ""))
        w("| ---: | ---: | --- | --- | --- | --- |" + (" --- |" if has_dinit else "")
          + " ---: | ---: | ---: |" + (" ---: |" if has_dinit else ""))

        def cell(s):
            return f"{fmt_ms(s['median'])} [{fmt_ms(s['min'])} – {fmt_ms(s['max'])}]"

        def med(row, s):
            return row[s]["median"] if s in row else None

        for n, row in flat.items():
            dinit_cell = (f" {cell(row['dinit']) if 'dinit' in row else '—'} |" if has_dinit else "")
            w(f"| {n:,} | {row['svinit']['n']} | {cell(row['floor'])} | {cell(row['svinit'])}"
              f" | {cell(row['runit']) if 'runit' in row else '— (runsvdir: at most 1,000 services)'}"
              f" | {cell(row['s6'])} |{dinit_cell} {ratio(med(row, 'svinit'), med(row, 'floor'))}"
              f" | {ratio(med(row, 'runit'), med(row, 'svinit'))}"
              f" | {ratio(med(row, 's6'), med(row, 'svinit'))} |"
              + (f" {ratio(med(row, 'dinit'), med(row, 'svinit'))} |" if has_dinit else ""))
        w("")
        if r["boot"].get("note"):
            w(r["boot"]["note"])
            w("")
        w("Cost per service (median / N) and marginal cost between consecutive N (Δt / ΔN):")
        w("")
        ns = list(flat)
        w("| system | " + " | ".join(f"per service N={n:,}" for n in ns) + " | "
          + " | ".join(f"marginal {a:,}→{b:,}" for a, b in zip(ns, ns[1:])) + " |")
        w("| --- | " + " | ".join("---:" for _ in ns) + " | " + " | ".join("---:" for _ in ns[1:]) + " |")
        for s in ("floor", "svinit", "runit", "s6") + (("dinit",) if has_dinit else ()):
            per = [fmt_us(flat[n][s]["median"] / n) if s in flat[n] else "—" for n in ns]
            marg = [fmt_us((flat[b][s]["median"] - flat[a][s]["median"]) / (b - a))
                    if s in flat[a] and s in flat[b] else "—" for a, b in zip(ns, ns[1:])]
            w(f"| {s} | " + " | ".join(per) + " | " + " | ".join(marg) + " |")
        w("")
        cpu = r["boot"].get("cpu", {})
        if cpu:
            w("CPU time of the supervision tree until all-up (PID 1 and, for runit and s6, every runsv /"
              " s6-supervise; the services excluded; `/proc/PID/schedstat` read while the namespace is held"
              " right after the N-th readiness byte). Unlike wall time this hardly depends on what else the"
              " machine runs:")
            w("")
            cpu_systems = ("floor", "svinit", "runit", "s6") + (("dinit",) if has_dinit else ())
            w("| N | " + " | ".join(cpu_systems) + " | svinit / floor | runit / svinit | s6 / svinit |"
              + (" dinit / svinit |" if has_dinit else ""))
            w("| ---: |" + " --- |" * len(cpu_systems) + " ---: | ---: | ---: |" + (" ---: |" if has_dinit else ""))
            for n, row in cpu.items():
                g = lambda s: row.get(s, {}).get("median")
                w(f"| {n:,} | " + " | ".join(cell(row[s]) if s in row else "—" for s in cpu_systems)
                  + f" | {ratio(g('svinit'), g('floor'))} | {ratio(g('runit'), g('svinit'))} | {ratio(g('s6'), g('svinit'))} |"
                  + (f" {ratio(g('dinit'), g('svinit'))} |" if has_dinit else ""))
            w("")
        check = r["boot"].get("check", {})
        if check:
            w("Reading the config alone: `svinit --check -c DIR` (parse the KDL, validate, print the start plan)"
              " on the same N services, 3 runs, against svinit's whole boot:")
            w("")
            w("| N | `svinit --check` | share of svinit's boot (medians) |")
            w("| ---: | --- | ---: |")
            for n, v in check.items():
                share = v["median"] / flat[n]["svinit"]["median"] if n in flat else None
                w(f"| {n:,} | {cell(v)} | {f'{share:.0%}' if share is not None else '—'} |")
            w("")
        big = ns[-1]
        k = 1000 if 1000 in flat else big
        f1 = flat[k]
        target = f1["svinit"]["median"] <= 1.3 * f1["floor"]["median"]
        beats = f1["svinit"]["median"] < min(f1["runit"]["median"], f1["s6"]["median"])
        w(f"Reading: with {k:,} services svinit is at {ratio(f1['svinit']['median'], f1['floor']['median'])} of the"
          f" floor (target ≤ 1.30×: {'met' if target else 'missed'}) and"
          f" {'faster' if beats else 'not faster'} than runit and s6"
          f" ({ratio(f1['runit']['median'], f1['svinit']['median'])} and"
          f" {ratio(f1['s6']['median'], f1['svinit']['median'])} of svinit's time); marginal cost per service"
          f" {fmt_us((flat[ns[-1]]['svinit']['median'] - flat[ns[-2]]['svinit']['median']) / (ns[-1] - ns[-2]))}"
          f" at the top against {fmt_us((flat[ns[2]]['svinit']['median'] - flat[ns[1]]['svinit']['median']) / (ns[2] - ns[1]))}"
          f" from {ns[1]:,} to {ns[2]:,} (linear growth means these stay equal).")
        w("")
        w("How svinit starts services, and what was measured on the way (`perf record -a -g` of 1,000-service"
          " boots and interleaved rounds against the previous binary; these figures are not re-measured by"
          " `make bench`): svinit used to fork itself for every start. That fork copied svinit's page tables"
          " (its config, its state) and every child closed svinit's fds again (`close_range`), two per"
          " service already started, so each start cost more the more services ran: in a 1,000-service boot,"
          " `dup_mmap`/`copy_page_range` and `close_range` were each about a fifth of svinit's CPU, and the"
          " cost per service at 9,000 was 14.7× the floor's. Now a small process, `svinit-spawner`"
          " (src/spawn/spawner.rs), forked at the first start, makes every service's process: svinit sends it"
          " the prepared plan and the child's fds (`SCM_RIGHTS`) and goes on with the next start; the spawner"
          " clones the child with `CLONE_PARENT` (svinit's own child) and `CLONE_VM | CLONE_VFORK` (no page"
          " table copied, the spawner waits for the exec, svinit does not), and its fd table holds only the"
          " request's fds. A spawner that forks plainly (no `CLONE_VM`) was tried and lost: it still copies its"
          " own address space, svinit's config included, at every start (1,000 services: 470 ms against"
          " 360 ms, CPU 334 ms against 138 ms, 3 interleaved rounds). What is left above the floor is per"
          " start and no longer grows with N in CPU time (see the CPU table): svinit's own work per start"
          " (plan, output pipe, log lines, the request) and the spawner making one child at a time, each"
          " child's set-up before its exec (signal dispositions, session, fds) running while the spawner"
          " waits, where the floor's children set up in parallel. Reading the config (the KDL parser) is a"
          " fixed cost per service, see the `svinit --check` table. A `perf record -a -g` of a 1,000-service"
          " boot splits the spawner's CPU (each child counts there until its exec) so: 18% opening files and"
          " 17% closing them (the child's stdin, the output pipe's end, the exec-status pipe), 18% the exec"
          " copying argv and environment, 11% `setsid` creating a scheduling autogroup (the floor pays that"
          " too), 9% receiving the request and its fds. The floor opens nothing and captures nothing: the"
          " per-start pipes are the price of `svctl logs` and of reporting a failed exec, and they are most"
          " of the gap.")
        w("")
        ch = r["boot"]["chain"]
        w(f"A {CHAIN_LEN}-long `requires` chain (each service `ready-fd 3`, started only when the previous one"
          " wrote its readiness newline; the floor does the same with a pipe on fd 3; runsvdir and s6-svscan"
          " have no dependencies, so they are not in this row"
          + ("; dinit's services have `ready-notification = pipevar:READY_FD` and each is `after` the one"
             " before, as dinit cannot load a `depends-on` chain 100 deep" if "dinit" in ch else "") + "):")
        w("")
        if "dinit" in ch:
            w("| chain | rounds | floor | svinit | dinit | svinit / floor | svinit / dinit |")
            w("| --- | ---: | --- | --- | --- | ---: | ---: |")
            w(f"| {CHAIN_LEN} services | {ch['svinit']['n']} | {cell(ch['floor'])} | {cell(ch['svinit'])}"
              f" | {cell(ch['dinit'])} | {ratio(ch['svinit']['median'], ch['floor']['median'])}"
              f" | {ratio(ch['svinit']['median'], ch['dinit']['median'])} |")
        else:
            w("| chain | rounds | floor | svinit | svinit / floor |")
            w("| --- | ---: | --- | --- | ---: |")
            w(f"| {CHAIN_LEN} services | {ch['svinit']['n']} | {cell(ch['floor'])} | {cell(ch['svinit'])}"
              f" | {ratio(ch['svinit']['median'], ch['floor']['median'])} |")
        w("")
        w(f"Reading: each link of the chain costs svinit {fmt_us(ch['svinit']['median'] / CHAIN_LEN)}"
          f" against the floor's {fmt_us(ch['floor']['median'] / CHAIN_LEN)}.")
        w("")

    if "reap" in r:
        rp = r["reap"]
        w("## 2. Reaping")
        w("")
        w(f"PID 1's CPU time per orphan reaped: the payload (`bench/c/orphans.c`) makes {rp['n']:,} orphaned"
          " grandchildren (fork a child that forks and exits; the grandchild exits and is reparented to PID 1)"
          " and waits until /proc shows no zombie left. PID 1's CPU is read from the host in"
          " `/proc/PID/schedstat` (sum_exec_runtime, ns) before the first fork and after the last reap, the"
          " namespace still alive; divided by the number of orphans. The floor PID 1 is `wait()` in a loop."
          " svinit runs the payload as a oneshot service (dinit: a `scripted` one), the others as their"
          " command. Wakeups: PID 1's context switches (voluntary + nonvoluntary, `/proc/PID/status`) over"
          " the same span, per orphan.")
        w("")
        w("| PID 1 | rounds | CPU per orphan | ratio to tini | wakeups per orphan"
          " | utime+stime per orphan (10 ms ticks, cross-check) |")
        w("| --- | ---: | --- | ---: | ---: | --- |")
        tini = rp["per"]["tini"]["median"]
        for s, v in rp["per"].items():
            t = rp["ticks"][s]
            wk = rp.get("wakes", {}).get(s)
            wakes = f"{wk['median']:.2f}" if wk else "—"
            w(f"| {s} | {v['n']} | {fmt_us(v['median'])} [{fmt_us(v['min'])} – {fmt_us(v['max'])}]"
              f" | {ratio(v['median'], tini)} | {wakes} | {fmt_us(t['median'])} |")
        w("")
        sv = rp["per"]["svinit"]["median"]
        w(f"Reading: svinit spends {fmt_us(sv)} of CPU per orphan, {ratio(sv, tini)} of tini's"
          f" and {ratio(sv, rp['per']['floor']['median'])} of the floor's (target: no worse than tini —"
          f" {'met' if sv <= tini else 'missed'}).")
        w("")

    if "shutdown" in r:
        sd = r["shutdown"]
        times = sd["times"]
        w("### Shutdown")
        w("")
        w(f"SIGTERM to PID 1 with {sd['n']} services up (the boot row's services), until the namespace is"
          " empty: from `kill` to PID 1's pidfd turning readable, which the kernel does only once everything"
          " else in the namespace is gone. Each system stops its services its own way (svinit and dinit:"
          " SIGTERM to each, then exit).")
        w("")
        w("| PID 1 | rounds | SIGTERM → empty |" + (" ratio to dinit |" if "dinit" in times else ""))
        w("| --- | ---: | --- |" + (" ---: |" if "dinit" in times else ""))
        for s, v in times.items():
            w(f"| {s} | {v['n']} | {fmt_ms(v['median'])} [{fmt_ms(v['min'])} – {fmt_ms(v['max'])}] |"
              + (f" {ratio(v['median'], times['dinit']['median'])} |" if "dinit" in times else ""))
        w("")
        w("Reading (a `perf record` of the sched and syscall tracepoints over 3 shutdowns each, 100"
          " services): svinit and dinit signal their services in the same time (svinit's 200 kills include"
          " the SIGCONT SPEC §3 asks for after each SIGTERM; a build without it measured no difference) and"
          " reap them in about the same time; svinit's own exit takes 0.65 ms against dinit's 0.24 ms: 59%"
          " of it closing its files, above all the pipe that captures each service's output (dinit's"
          " services write to the console directly), 33% its address space. svinit's lines of one loop turn"
          " go out in one write, the spawner is let go when the shutdown begins (it dies beside the"
          " services) and the last scan of /proc is skipped when wait4 says no child is left: 5.94 → 5.63 ms"
          " in `bench/ab_shutdown.py` (21 interleaved rounds).")
        w("")

    if "footprint" in r:
        fp = r["footprint"]
        w("## 3. Footprint")
        w("")
        w("Memory of the supervision tree once every service is up (+0.5 s): PID 1 and every supervisor"
          " process under it (runsv per service for runit, s6-supervise per service for s6), the services"
          " themselves excluded; from `/proc/PID/smaps_rollup`. Pss shares each page among the processes"
          " mapping it.")
        w("")
        w("| N | system | processes | PID 1 Rss | PID 1 Pss | all supervisors Rss | all supervisors Pss | Pss ratio to svinit |")
        w("| ---: | --- | ---: | --- | --- | --- | --- | ---: |")
        for n, row in fp.items():
            for s, v in row.items():
                w(f"| {n:,} | {s} | {v['procs']} | {fmt_kib(v['pid1_rss'])} | {fmt_kib(v['pid1_pss'])}"
                  f" | {fmt_kib(v['rss'])} | {fmt_kib(v['pss'])} | {ratio(v['pss'], row['svinit']['pss'])} |")
        w("")
        big = max(fp)
        sv, ru = fp[big]["svinit"], fp[big]["runit"]
        w(f"Reading: with {big:,} services svinit's PID 1 holds {fmt_kib(sv['pid1_rss'])} Rss against"
          f" {fmt_kib(ru['rss'])} summed over runit's {ru['procs']} supervisor processes (target: below —"
          f" {'met' if sv['pid1_rss'] < ru['rss'] else 'missed'}); {fmt_kib(sv['pid1_rss'] - fp[min(fp)]['svinit']['pid1_rss'])}"
          f" more than with {min(fp):,} services, i.e. about"
          f" {(sv['pid1_rss'] - fp[min(fp)]['svinit']['pid1_rss']) * 1024 / (big - min(fp)):,.0f} bytes per service.")
        w("")
        w("Most of svinit's memory with few services was its own code: the kernel maps 64 KiB around each"
          " page fault, so start-up (the KDL parser above all) left about 1.4 MB of the 1.9 MB text mapped."
          " Once the boot has settled, svinit drops that mapping (`src/own_memory.rs`: `MADV_DONTNEED` on"
          " its read-only image up to the end of `.text`), and the spawner does the same after 100 ms"
          " without a request; the pages stay in the page cache and come back on use. With 10 services"
          " that took svinit and its spawner from 2,585 KiB Pss to 1,169 KiB (3 rounds). What remains is"
          " the heap, the C library's share and the code the loop runs.")
        w("")
        w("Binary sizes:")
        w("")
        w("| binary | bytes |")
        w("| --- | ---: |")
        for k, v in r["sizes"].items():
            w(f"| {k} | {v:,} |")
        w("")
        w("Reading: the static musl svinit is one self-contained file; the Debian peers' figures exclude"
          " the shared libraries they load (libc, and libskarnet for s6).")
        w("")

    if "idle" in r:
        idle = r["idle"]
        w("## 4. Idle wakeups")
        w("")
        w(f"Context switches (voluntary + nonvoluntary, `/proc/PID/status`) over {idle['seconds']} s, all systems"
          " idle side by side, each with 100 services up (tini and dumb-init: one); taken 1 s after boot.")
        w("")
        w("| system | PID 1 | all supervisor processes |")
        w("| --- | ---: | ---: |")
        for s, v in idle["systems"].items():
            w(f"| {s} | {v['pid1']} | {v['all']} |")
        w("")
        z = idle["systems"]["svinit"]["pid1"]
        w(f"Reading: svinit woke {z} times in {idle['seconds']} s (target 0: {'met' if z == 0 else 'missed'}).")
        w("")

    if "restart" in r:
        rs = r["restart"]
        w("## 5. Restart latency")
        w("")
        w(f"A service (`bench/c/crasher.c`) that notes its start and exit times (CLOCK_MONOTONIC) and exits 1,"
          f" watched for {RESTART_SECONDS} s. Latency = next start − exit − 1 s, the configured first backoff"
          " (svinit: `backoff-limit \"1s\"` + `forever #true`, so every delay is 1 s; runsv sleeps 1 s after a"
          " run shorter than 1 s; s6-supervise waits until 1 s after the previous start, so its figure can be"
          " slightly negative).")
        w("")
        w("| system | restarts seen | latency beyond the 1 s backoff |")
        w("| --- | ---: | --- |")
        for s, v in rs.items():
            if v:
                w(f"| {s} | {v['n']} | {fmt_ms(v['median'])} [{fmt_ms(v['min'])} – {fmt_ms(v['max'])}] |")
            else:
                w(f"| {s} | 0 | — |")
        w("")
        if rs.get("svinit"):
            w(f"Reading: svinit restarts a crashed service {fmt_ms(rs['svinit']['median'])} after its backoff"
              " runs out (timer slack + reap + fork/exec).")
            w("")

    if "status" in r:
        st = r["status"]
        w("## 6. Status round trip")
        w("")
        w(f"Wall time of one status query including the client's start-up (fork + exec + wait,"
          f" `bench/c/runtimer.c`), each system supervising {STATUS_SERVICES:,} services, querying one of them.")
        w("")
        if not st["available"]:
            w("`svctl status`: **not available in this build** (`svctl -s SOCK status s1` answered: "
              + " / ".join(f"`{x}`" for x in st.get("probe", [])) + "). The peers' figures are below for when it lands.")
            w("")
        w("| command | runs | time | ratio to /bin/true | exit codes |")
        w("| --- | ---: | --- | ---: | --- |")
        floor_t = st["times"]["/bin/true (floor)"]["median"]
        for c, v in st["times"].items():
            w(f"| `{c}` | {v['n']} | {fmt_ms(v['median'])} [{fmt_ms(v['min'])} – {fmt_ms(v['max'])}]"
              f" | {ratio(v['median'], floor_t)} | {', '.join(map(str, st['codes'][c]))} |")
        w("")
        if st["available"]:
            v = st["times"]["svctl status s1"]["median"]
            line = f"Reading: `svctl status` costs {fmt_ms(v)}, {ratio(v, floor_t)} of starting /bin/true"
            static = st["times"].get("svctl status s1 (static musl)")
            if static:
                line += (f" (the release build: dynamic glibc, which loads libgcc_s as well as libc);"
                         f" the static musl svctl {fmt_ms(static['median'])}, {ratio(static['median'], floor_t)}")
            w(line + ".")
        else:
            w("Reading: nothing to read for svinit yet; `sv` and `s6-svstat` are near the cost of starting a process.")
        w("")
    return "\n".join(L) + "\n"


SECTIONS = [
    ("output", "7. Output throughput",
     "A service writes 1 GiB (BENCH_QUICK: 256 MiB) of 100-byte lines through a svinit transcript, against"
     " the floor of the same producer piped into `cat > file`; then svinit's responsiveness (`svctl status`,"
     " SIGUSR1 → transcript reopen) while two services flood their transcripts. svinit in user mode,"
     " release build. The script's own report:"),
    ("boot", "8. Boot of a QEMU guest",
     "svinit as PID 1 of a QEMU (TCG) guest starting 3 shell services, beside busybox init starting the"
     " same 3 from an inittab and Debian's finit from its finit.conf: same kernel, same initramfs contents,"
     " boots interleaved; medians of the boots, ±10 ms (/proc/uptime). Under TCG, time goes to translating"
     " guest code the first time it runs: busybox's init, sh and cut are one binary, translated once;"
     " svinit's start-up code is its own. A smaller svinit did not help: built with `opt-level = \"s\"`"
     " (1.68 MB static against 2.00 MB) it took 186–217 ms against 180–209 ms over 5 interleaved boots. The"
     " script's own report:"),
    ("size", "9. Static binary size",
     "The static musl release binaries of `make static` (stripped, LTO):"),
]


def render_sections(directory):
    """The sections measured by bench/output.sh, bench/boot.sh and
    bench/size.sh, as run.sh left them: each script's command and its output
    verbatim (size.sh prints a markdown table, the others plain text)."""
    if not directory:
        return ""
    L = []
    w = L.append
    for name, title, intro in SECTIONS:
        cmd_path = os.path.join(directory, f"{name}.cmd")
        out_path = os.path.join(directory, f"{name}.out")
        w(f"## {title}")
        w("")
        if not os.path.exists(cmd_path):
            w(f"Not measured in this run (`BENCH_BOOT=0`, or the script was not run).")
            w("")
            continue
        with open(cmd_path) as f:
            cmd = f.read().splitlines()
        with open(out_path) as f:
            out = f.read().rstrip("\n")
        w(f"Command (run by `make bench`): `{cmd[0]}`")
        w("")
        if len(cmd) > 1 and cmd[1] == "FAILED":
            w("**The script failed in this run**; the end of its error output:")
            w("")
            w("```")
            w(out)
            w("```")
            w("")
            continue
        w(intro)
        w("")
        if name == "size":
            w(out)
        else:
            w("```")
            w(out)
            w("```")
        w("")
    return "\n".join(L) + "\n"


def int_keys(x):
    """JSON turned the N keys into strings: back to ints."""
    if isinstance(x, dict):
        return {(int(k) if isinstance(k, str) and k.isdigit() else k): int_keys(v) for k, v in x.items()}
    if isinstance(x, list):
        return [int_keys(v) for v in x]
    return x


def old_meta(path):
    """The run's facts from the header of a BENCHMARKS.md this script wrote
    before it kept them in the JSON (for --rerender of such a run)."""
    import re
    meta = {"started": "?", "elapsed": 0, "load_start": "?", "load_end": "?"}
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return meta
    m = re.search(r"on (\d{4}-\d\d-\d\d \d\d:\d\d) in (\d+) s", text)
    if m:
        meta["started"], meta["elapsed"] = m.group(1), int(m.group(2))
    m = re.search(r"at start / end \| ([\d. ]+) / ([\d. ]+) \|", text)
    if m:
        meta["load_start"], meta["load_end"] = m.group(1).strip(), m.group(2).strip()
    return meta


class Results:
    """What render needs of a Bench: its results."""

    def __init__(self, results):
        self.results = results


def main():
    global QUICK, SECTIONS_DIR
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin")
    ap.add_argument("--svinit")
    ap.add_argument("--svctl")
    ap.add_argument("--static-dir")
    ap.add_argument("--dinit", help="dinit's binary: adds its column where it fits")
    ap.add_argument("--out", required=True)
    ap.add_argument("--only", help="comma-separated subset: boot,reap,shutdown,footprint,idle,restart,status")
    ap.add_argument("--json", help="also write raw results here")
    ap.add_argument("--sections", help="directory of NAME.cmd / NAME.out from the other bench scripts")
    ap.add_argument("--rerender", metavar="JSON",
                    help="measure nothing: write --out again from the results a run left in JSON")
    args = ap.parse_args()
    SECTIONS_DIR = args.sections
    if args.rerender:
        with open(args.rerender) as f:
            results = int_keys(json.load(f))
        meta = results.pop("_meta", None) or old_meta(args.out)
        QUICK = meta.get("quick", QUICK)
        cmdline = ("BENCH_QUICK=1 " if QUICK else "") + "make bench"
        text = render(Results(results), machine(), meta["load_start"], meta["load_end"], meta["started"],
                      meta["elapsed"], cmdline)
        text += render_sections(args.sections)
        with open(args.out, "w") as f:
            f.write(text)
        log(f"rewrote {args.out} from {args.rerender}")
        return
    if not (args.bin and args.svinit and args.svctl):
        sys.exit("bench: --bin, --svinit and --svctl are needed to measure")
    if os.geteuid() != 0:
        sys.exit("bench: needs root (unshare --pid)")
    b = Bench(args)
    started = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    t0 = time.time()
    load_start = load_average()
    log(f"work dir {b.work}, load average {load_start}" + (" (quick)" if QUICK else ""))
    only = set(args.only.split(",")) if args.only else None
    try:
        for name in ("boot", "reap", "shutdown", "footprint", "idle", "restart", "status"):
            if only is None or name in only:
                try:
                    getattr(b, f"bench_{name}")()
                except (RuntimeError, OSError, subprocess.SubprocessError) as err:
                    log(f"{name} failed: {err}; its section is left out")
                    b.results.setdefault("failed", {})[name] = str(err)
                if args.json:
                    with open(args.json, "w") as f:
                        json.dump(b.results, f, indent=1, default=str)
    finally:
        shutil.rmtree(b.work, ignore_errors=True)
    elapsed = time.time() - t0
    load_end = load_average()
    cmdline = ("BENCH_QUICK=1 " if QUICK else "") + "make bench"
    text = render(b, machine(), load_start, load_end, started, elapsed, cmdline)
    text += render_sections(args.sections)
    with open(args.out, "w") as f:
        f.write(text)
    if args.json:
        meta = {"started": started, "elapsed": elapsed, "load_start": load_start, "load_end": load_end,
                "quick": QUICK}
        with open(args.json, "w") as f:
            json.dump(dict(b.results, _meta=meta), f, indent=1, default=str)
    log(f"wrote {args.out} in {elapsed:.0f} s")


if __name__ == "__main__":
    main()
