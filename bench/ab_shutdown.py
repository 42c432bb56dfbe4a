#!/usr/bin/env python3
"""Shutdown row of BENCHMARKS.md section 2, two svinit binaries side by side
(and dinit, given DINIT=/path/to/dinit), rounds interleaved as `make bench`
does: SIGTERM to PID 1 with N services up until the namespace is empty.
Needs root and the payloads `make bench` builds (target/bench/bin).

    python3 bench/ab_shutdown.py BASE NEW N ROUNDS

Prints per system the median [min-max] and the ratio to BASE."""
import os
import resource
import statistics
import sys
import types

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    base, new = (os.path.abspath(p) for p in sys.argv[1:3])
    n, rounds = int(sys.argv[3]), int(sys.argv[4])
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    dinit = os.environ.get("DINIT") or None
    args = types.SimpleNamespace(bin=os.path.join(root, "target/bench/bin"), svinit=base,
                                 svctl="", static_dir=None, dinit=dinit)
    b = bench.Bench(args)
    binaries = {"base": base, "new": new}
    times = {s: [] for s in ["base", "new"] + (["dinit"] if dinit else [])}
    for _ in range(rounds):
        for s in times:
            if s == "dinit":
                cmd = b.command("dinit", n)
            else:
                b.svinit = binaries[s]
                cmd = b.command("svinit", n)
            times[s].append(b.shutdown_time(cmd, n) / 1e6)
    reference = statistics.median(times["base"])
    print(f"N={n} ({rounds} rounds) " + " | ".join(
        f"{s} {statistics.median(v):.2f} ms [{min(v):.2f}-{max(v):.2f}] {statistics.median(v) / reference:.2f}x"
        for s, v in times.items()), flush=True)


if __name__ == "__main__":
    main()
