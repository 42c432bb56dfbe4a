#!/usr/bin/env python3
"""Boot row of BENCHMARKS.md section 1, two svinit binaries side by side:
the floor, BASE and NEW interleaved in every round, as `make bench` does.
For a change to how svinit starts services; needs root and the payloads
`make bench` builds (target/bench/bin).

    python3 bench/ab_boot.py BASE NEW N ROUNDS [N ROUNDS ...]

Prints per N the wall time to all-up (median [min-max]) and the CPU of the
supervision tree (median), each with its ratio to the floor."""
import os
import resource
import statistics
import sys
import types

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402


def main():
    if len(sys.argv) < 5 or len(sys.argv) % 2 == 0:
        sys.exit(__doc__)
    base, new = (os.path.abspath(p) for p in sys.argv[1:3])
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    args = types.SimpleNamespace(bin=os.path.join(root, "target/bench/bin"), svinit=base,
                                 svctl="", static_dir=None)
    b = bench.Bench(args)
    binaries = {"base": base, "new": new}
    pairs = sys.argv[3:]
    for n, rounds in zip(map(int, pairs[::2]), map(int, pairs[1::2])):
        wall = {s: [] for s in ("floor", "base", "new")}
        cpu = {s: [] for s in wall}
        for _ in range(rounds):
            for s in wall:
                if s == "floor":
                    cmd = b.command("floor", n)
                else:
                    b.svinit = binaries[s]
                    cmd = b.command("svinit", n)
                ns, cpu_ns = b.boot_cpu(cmd, n)
                wall[s].append(ns / 1e6)
                cpu[s].append((cpu_ns or 0) / 1e6)
        floor = statistics.median(wall["floor"])
        floor_cpu = statistics.median(cpu["floor"])
        print(f"N={n:,} ({rounds} rounds) " + " | ".join(
            f"{s} {statistics.median(v):.1f} ms [{min(v):.1f}-{max(v):.1f}] {statistics.median(v) / floor:.2f}x,"
            f" CPU {statistics.median(cpu[s]):.1f} ms {statistics.median(cpu[s]) / floor_cpu:.2f}x"
            for s, v in wall.items()), flush=True)


if __name__ == "__main__":
    main()
