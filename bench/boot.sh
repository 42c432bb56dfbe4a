#!/usr/bin/env bash
# Boot-to-all-ready inside a QEMU guest (TCG): svinit as PID 1 starting 3
# shell services, beside busybox init starting the same 3 from an inittab
# and Debian's finit from its finit.conf (integration/boot/fetch-finit.sh
# downloads it once), same kernel, same initramfs contents
# (integration/boot/boot.sh).
# Each service prints /proc/uptime (CLOCK_BOOTTIME) when it runs; the
# figure is PID 1 start (the kernel's "Run /init as init process") → the
# last of the 3 up, and kernel start → all up. Medians of RUNS boots.
# /proc/uptime has a 10 ms resolution: figures are ±10 ms.
#
#   bench/boot.sh            # RUNS=5
#   RUNS=11 bench/boot.sh
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-5}
make -s static >/dev/null
out=target/bench-boot
mkdir -p "$out"

# The console's figures of one boot: "init_start last_up" in seconds.
figures() {
    tr -d '\r' < "$1" | awk '
        /Run \/init as init process/ { match($0, /[0-9]+\.[0-9]+/); init = substr($0, RSTART, RLENGTH) }
        match($0, /UP s[123] [0-9]+\.[0-9]+/) { split(substr($0, RSTART, RLENGTH), f, " "); if (f[3] > last) last = f[3] }
        END { if (init == "" || last == "") exit 1; print init, last }'
}

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

inits="svinit3 busybox"
# finit's row needs its Debian packages once (apt-get download); without
# them the table says so and has the other two rows.
if integration/boot/fetch-finit.sh >/dev/null 2>&1; then
    inits="$inits finit"
    finit_note="finit $(dpkg-deb -f "$(ls target/boot-cache/finit/finit_*.deb | head -n1)" Version) from Debian, its services write to /dev/console"
else
    finit_note="finit left out: integration/boot/fetch-finit.sh could not download it"
fi
for init in $inits; do : > "$out/$init.txt"; done
# Rounds interleaved: load drifting on the machine touches every init alike.
for i in $(seq 1 "$runs"); do
    for init in $inits; do
        integration/boot/boot.sh "$init" "$out/$init-$i" >/dev/null
        if grep -aq "Kernel panic" "$out/$init-$i/console.log"; then
            echo "bench/boot.sh: $init boot $i: kernel panic" >&2
            exit 1
        fi
        figures "$out/$init-$i/console.log" >> "$out/$init.txt" || {
            echo "bench/boot.sh: $init boot $i: no figures in $out/$init-$i/console.log" >&2
            exit 1
        }
    done
done
printf '%-12s %8s %22s %22s\n' init runs "PID1 start→3 up (ms)" "kernel start→3 up (ms)"
for init in $inits; do
    since_init=$(awk '{ printf "%.0f\n", ($2 - $1) * 1000 }' "$out/$init.txt" | median)
    since_kernel=$(awk '{ printf "%.0f\n", $2 * 1000 }' "$out/$init.txt" | median)
    name=$init
    [ "$init" = svinit3 ] && name=svinit
    printf '%-12s %8s %22s %22s\n' "$name" "$runs" "$since_init" "$since_kernel"
done
echo "(QEMU TCG, 256 MiB, $(basename "$(integration/boot/fetch-kernel.sh)"); static svinit $(stat -c %s target/x86_64-unknown-linux-musl/release/svinit) bytes; $finit_note)"
