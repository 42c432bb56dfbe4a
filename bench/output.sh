#!/bin/sh
# Output throughput: a service writing SIZE bytes (default 1 GiB) of
# 100-byte lines through a svinit transcript, against the floor of the same
# producer piped into `cat > file`. Then the loop's responsiveness while two
# services flood their transcripts: `svctl status` round trips when the
# control socket answers, and the SIGUSR1 → "reopening transcripts" delay.
#
#   bench/output.sh                 # builds the release binaries first
#   SIZE=268435456 bench/output.sh  # 256 MiB
#   BENCH_DIR=/dev/shm bench/output.sh
#
# svinit runs in user mode (no root needed). Prints the figures; exits
# non-zero only when something did not work.
set -eu

SIZE=${SIZE:-1073741824}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${SVINIT_BIN:-$ROOT/target/release/svinit}
SVCTL=${SVCTL_BIN:-$ROOT/target/release/svctl}
BASE=${BENCH_DIR:-${TMPDIR:-/tmp}}
DIR=$(mktemp -d "$BASE/svinit-bench-output.XXXXXX")
SVINIT_PID=

cleanup() {
    if [ -n "$SVINIT_PID" ]; then
        kill -TERM "$SVINIT_PID" 2>/dev/null || true
        wait "$SVINIT_PID" 2>/dev/null || true
    fi
    rm -rf "$DIR"
}
trap cleanup EXIT INT TERM

if [ -z "${SVINIT_BIN:-}" ]; then
    (cd "$ROOT" && cargo build --release --bins --quiet)
fi

# Nanoseconds since the epoch.
now() { date +%s%N; }

# A 99-character line plus its newline.
LINE=$(printf '%099d' 0)
PRODUCER="yes $LINE | head -c $SIZE"

size_of() { stat -c %s "$1" 2>/dev/null || echo 0; }

# Waits until file $1 holds $2 bytes (at most $3 seconds).
wait_size() {
    limit=$(( $(now) + $3 * 1000000000 ))
    while [ "$(size_of "$1")" -lt "$2" ]; do
        if [ "$(now)" -gt "$limit" ]; then
            echo "bench: $1 has $(size_of "$1") of $2 bytes after $3 s" >&2
            [ -f "$DIR/svinit.log" ] && tail -5 "$DIR/svinit.log" >&2
            exit 1
        fi
        sleep 0.01
    done
}

mib_per_s() {
    # bytes, nanoseconds
    awk -v b="$1" -v ns="$2" 'BEGIN { printf "%.0f", (b / 1048576) / (ns / 1e9) }'
}

seconds() {
    awk -v ns="$1" 'BEGIN { printf "%.2f", ns / 1e9 }'
}

# Starts svinit on config file $1 in the background.
start_svinit() {
    mkdir -p "$DIR/conf"
    cp "$1" "$DIR/conf/bench.kdl"
    SVINIT_SOCKET="$DIR/control.sock" "$BIN" -c "$DIR/conf" >"$DIR/svinit.log" 2>&1 &
    SVINIT_PID=$!
}

stop_svinit() {
    kill -TERM "$SVINIT_PID" 2>/dev/null || true
    wait "$SVINIT_PID" 2>/dev/null || true
    SVINIT_PID=
}

echo "output benchmark: $SIZE bytes of 100-byte lines, files in $BASE"

# 1. The floor: the producer into cat > file.
start=$(now)
sh -c "$PRODUCER | cat > '$DIR/floor'"
floor_ns=$(( $(now) - start ))
rm -f "$DIR/floor"
echo "  cat > file:            $(seconds $floor_ns) s  $(mib_per_s "$SIZE" $floor_ns) MiB/s"

# 2. The same producer as a service with a transcript.
for stamps in false true; do
    cat >"$DIR/unit.kdl" <<EOF
service "producer" {
    shell "$PRODUCER; exec sleep 1000"
    transcript "$DIR/transcript.log" timestamps=#$stamps
}
EOF
    rm -f "$DIR/transcript.log"
    start=$(now)
    start_svinit "$DIR/unit.kdl"
    expected=$SIZE
    if [ "$stamps" = true ]; then
        # Each 100-byte line gains a 24-byte time and a space.
        expected=$(( SIZE + (SIZE / 100) * 25 ))
    fi
    wait_size "$DIR/transcript.log" "$expected" 600
    ns=$(( $(now) - start ))
    stop_svinit
    rm -f "$DIR/transcript.log"
    label="svinit transcript:"
    [ "$stamps" = true ] && label="  with timestamps:"
    echo "  $label     $(seconds $ns) s  $(mib_per_s "$SIZE" $ns) MiB/s  ($(awk -v a=$ns -v b=$floor_ns 'BEGIN { printf "%.2f", a / b }')x the floor)"
done

# 3. Responsiveness while two services flood their transcripts.
cat >"$DIR/unit.kdl" <<EOF
service "flood-a" {
    shell "while :; do yes $LINE | head -c 1073741824; : > $DIR/a.log; done"
    transcript "$DIR/a.log"
}
service "flood-b" {
    shell "while :; do yes $LINE | head -c 1073741824; : > $DIR/b.log; done"
    transcript "$DIR/b.log"
}
EOF
start_svinit "$DIR/unit.kdl"
wait_size "$DIR/a.log" 10485760 60
wait_size "$DIR/b.log" 10485760 60

if [ -x "$SVCTL" ] && SVINIT_SOCKET="$DIR/control.sock" "$SVCTL" status >/dev/null 2>&1; then
    worst=0
    total=0
    for i in $(seq 20); do
        start=$(now)
        SVINIT_SOCKET="$DIR/control.sock" "$SVCTL" status >/dev/null
        ns=$(( $(now) - start ))
        total=$(( total + ns ))
        [ "$ns" -gt "$worst" ] && worst=$ns
    done
    echo "  svctl status while two services flood: mean $(( total / 20 / 1000000 )) ms, worst $(( worst / 1000000 )) ms (20 calls, includes svctl's own start)"
else
    echo "  svctl status while two services flood: skipped (the control socket does not answer in this build)"
fi

worst=0
total=0
for i in $(seq 10); do
    before=$(grep -c 'reopening transcripts' "$DIR/svinit.log" || true)
    start=$(now)
    kill -USR1 "$SVINIT_PID"
    while [ "$(grep -c 'reopening transcripts' "$DIR/svinit.log" || true)" -le "$before" ]; do
        sleep 0.001
    done
    ns=$(( $(now) - start ))
    total=$(( total + ns ))
    [ "$ns" -gt "$worst" ] && worst=$ns
done
echo "  SIGUSR1 to 'reopening transcripts' while two services flood: mean $(( total / 10 / 1000 )) us, worst $(( worst / 1000 )) us (10 signals, includes grep polling)"
a=$(size_of "$DIR/a.log")
b=$(size_of "$DIR/b.log")
echo "  (flood-a at $((a / 1048576)) MiB, flood-b at $((b / 1048576)) MiB of their current transcripts)"
stop_svinit
