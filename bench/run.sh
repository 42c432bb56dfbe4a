#!/usr/bin/env bash
# `make bench`: install the peers, build svinit (release, and static musl if
# the target is there) and the C payloads, run bench/bench.py, which writes
# BENCHMARKS.md. Needs root (PID namespaces). BENCH_QUICK=1: one-minute smoke run.
# Not part of `make check` / CI.
set -euo pipefail
cd "$(dirname "$0")/.."

[ "$(id -u)" = 0 ] || { echo "bench: needs root (unshare --pid)" >&2; exit 1; }

need=()
for pair in tini:tini dumb-init:dumb-init runsvdir:runit s6-svscan:s6 unshare:util-linux gcc:gcc python3:python3; do
    command -v "${pair%%:*}" >/dev/null || need+=("${pair#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
    echo "bench: installing ${need[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
# Static C payloads need libc.a (libc6-dev, with gcc as a rule).
[ -e /usr/lib/x86_64-linux-gnu/libc.a ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libc6-dev >/dev/null

BIN=target/bench/bin
mkdir -p "$BIN"
for src in bench/c/*.c; do
    out="$BIN/$(basename "$src" .c)"
    if [ ! -e "$out" ] || [ "$src" -nt "$out" ]; then
        gcc -O2 -static -Wall -o "$out" "$src"
    fi
done

cargo build --release --bins
MUSL=x86_64-unknown-linux-musl
STATIC_DIR=
if rustup target list --installed 2>/dev/null | grep -qx $MUSL || rustup target add $MUSL >/dev/null 2>&1; then
    if cargo build --release --bins --target $MUSL; then
        STATIC_DIR=target/$MUSL/release
    fi
fi
[ -n "$STATIC_DIR" ] || echo "bench: no static musl build; its rows are left out" >&2

exec python3 bench/bench.py --bin "$BIN" --svinit target/release/svinit --svctl target/release/svctl \
    ${STATIC_DIR:+--static-dir "$STATIC_DIR"} --out BENCHMARKS.md --json target/bench/results.json "$@"
