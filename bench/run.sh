#!/usr/bin/env bash
# `make bench`: install the peers, build svinit (release, and static musl if
# the target is there) and the C payloads, run bench/output.sh, bench/boot.sh
# and bench/size.sh, then bench/bench.py, which measures the rest and writes
# the whole of BENCHMARKS.md. Needs root (PID namespaces).
# BENCH_QUICK=1: a few-minute smoke run. BENCH_BOOT=0: without the QEMU boot.
# DINIT=/path/to/dinit (`make bench DINIT=...`): dinit, built from its
# repository, joins the boot, chain, reaping and shutdown rows.
# Not part of `make check` / CI.
set -euo pipefail
cd "$(dirname "$0")/.."

[ "$(id -u)" = 0 ] || { echo "bench: needs root (unshare --pid)" >&2; exit 1; }

need=()
peers="tini:tini dumb-init:dumb-init runsvdir:runit s6-svscan:s6 unshare:util-linux gcc:gcc python3:python3"
[ "${BENCH_BOOT:-1}" = 0 ] || peers="$peers busybox:busybox-static qemu-system-x86_64:qemu-system-x86 cpio:cpio"
for pair in $peers; do
    command -v "${pair%%:*}" >/dev/null || need+=("${pair#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
    echo "bench: installing ${need[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
# Static C payloads need libc.a (libc6-dev, with gcc as a rule).
[ -e /usr/lib/x86_64-linux-gnu/libc.a ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libc6-dev >/dev/null

# svinit keeps a pipe (two fds) per service that captures output: 10,000
# services need more than 20,000 fds. Raise RLIMIT_NOFILE for every system
# alike (runit and s6 spread theirs over a process per service).
ulimit -Hn 1048576 2>/dev/null || true
ulimit -Sn "$(ulimit -Hn)" 2>/dev/null || true

BIN=target/bench/bin
mkdir -p "$BIN"
for src in bench/c/*.c; do
    out="$BIN/$(basename "$src" .c)"
    if [ ! -e "$out" ] || [ "$src" -nt "$out" ]; then
        gcc -O2 -static -Wall -o "$out" "$src"
    fi
done

if [ -n "${DINIT:-}" ] && [ ! -x "$DINIT" ]; then
    echo "bench: DINIT=$DINIT is not an executable" >&2
    exit 1
fi

cargo build --release --bins
MUSL=x86_64-unknown-linux-musl
STATIC_DIR=
if rustup target list --installed 2>/dev/null | grep -qx $MUSL || rustup target add $MUSL >/dev/null 2>&1; then
    if cargo build --release --bins --target $MUSL; then
        STATIC_DIR=target/$MUSL/release
    fi
fi
[ -n "$STATIC_DIR" ] || echo "bench: no static musl build; its rows are left out" >&2

# The sections of BENCHMARKS.md that other scripts measure: their output goes
# into the document verbatim, each under the command that produced it.
# BENCH_BOOT=0 leaves out the QEMU boot (bench/boot.sh, about a minute,
# downloads a Debian kernel once).
SECTIONS=target/bench/sections
rm -rf "$SECTIONS"
mkdir -p "$SECTIONS"
section() { # name, command...
    local name=$1
    shift
    echo "bench: $*" >&2
    if "$@" > "$SECTIONS/$name.out" 2> "$SECTIONS/$name.err"; then
        echo "$*" > "$SECTIONS/$name.cmd"
    else
        echo "bench: $* failed (exit $?), its section says so" >&2
        { echo "$*"; echo "FAILED"; } > "$SECTIONS/$name.cmd"
        tail -5 "$SECTIONS/$name.err" >> "$SECTIONS/$name.out"
    fi
}
if [ -n "${BENCH_QUICK:-}" ] && [ "${BENCH_QUICK}" != 0 ]; then
    section output env SIZE=268435456 SVINIT_BIN=target/release/svinit SVCTL_BIN=target/release/svctl sh bench/output.sh
    [ "${BENCH_BOOT:-1}" = 0 ] || section boot env RUNS=1 bash bench/boot.sh
else
    section output env SVINIT_BIN=target/release/svinit SVCTL_BIN=target/release/svctl sh bench/output.sh
    [ "${BENCH_BOOT:-1}" = 0 ] || section boot env RUNS=5 bash bench/boot.sh
fi
section size bash bench/size.sh

exec python3 bench/bench.py --sections "$SECTIONS" --bin "$BIN" --svinit target/release/svinit --svctl target/release/svctl \
    ${STATIC_DIR:+--static-dir "$STATIC_DIR"} ${DINIT:+--dinit "$DINIT"} --out BENCHMARKS.md --json target/bench/results.json "$@"
