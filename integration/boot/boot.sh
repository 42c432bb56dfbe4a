#!/usr/bin/env bash
# Builds an initramfs around the static svinit and boots it in QEMU; the
# serial console goes to OUT/console.log. Used by integration/boot.rs and
# bench/boot.sh.
#
#   boot.sh SCENARIO OUT
#     ok        units/embedded + integration/boot/units: boots, reports,
#               powers off with `svctl poweroff`
#     reboot    as ok, but the last unit sends SIGTERM to PID 1 (reboot)
#     broken    an invalid config: the emergency shell on ttyS0 gets
#               commands on stdin: status, fix the config + `svctl reload`,
#               then (in the console shell of the real units) poweroff
#     busybox   busybox init with an inittab starting 3 shell services
#     svinit3   svinit with the same 3 shell services (the benchmark pair)
#     finit     Debian's finit (fetch-finit.sh) with the same 3 services, as
#               scripts that write their line to /dev/console (finit does
#               not pass a service's output to the console)
#
# Env: SVINIT_BIN_DIR (static binaries; default target/x86_64-unknown-
# linux-musl/release), KERNEL (default: fetch-kernel.sh), BOOT_TIMEOUT (60).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
scenario=${1:?scenario}
out=${2:?output dir}
bins=${SVINIT_BIN_DIR:-$root/target/x86_64-unknown-linux-musl/release}
timeout_s=${BOOT_TIMEOUT:-60}
busybox=$(command -v busybox || true)

fail() { echo "boot.sh: $*" >&2; exit 2; }
[ -x "$bins/svinit" ] && [ -x "$bins/svctl" ] || fail "no static svinit/svctl in $bins (make static)"
[ -n "$busybox" ] || fail "no busybox (apt-get install busybox-static)"
command -v qemu-system-x86_64 >/dev/null || fail "no qemu-system-x86_64 (apt-get install qemu-system-x86)"
command -v cpio >/dev/null || fail "no cpio (apt-get install cpio)"
kernel=${KERNEL:-$("$here/fetch-kernel.sh" "$root/target/boot-cache")} || fail "no kernel"

rm -rf "$out"
mkdir -p "$out"
tree="$out/root"
mkdir -p "$tree"/{bin,sbin,etc/svinit,etc/boot-test,proc,sys,dev,run,tmp,root,var/log,usr/bin,usr/sbin}
cp "$busybox" "$tree/bin/busybox"
for applet in $("$tree/bin/busybox" --list); do
    [ -e "$tree/bin/$applet" ] || ln -s busybox "$tree/bin/$applet"
done
cp "$bins/svctl" "$tree/bin/svctl"
echo svinit-guest > "$tree/etc/hostname"
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$tree/etc/passwd"
printf 'root:x:0:\nadm:x:4:\nmonitor:x:50:\n' > "$tree/etc/group"
printf 'tmpfs /tmp tmpfs nosuid,nodev,mode=1777 0 0\ntmpfs /var/log tmpfs nosuid,nodev,mode=0755 0 0\n' > "$tree/etc/fstab"
# The kernel opens /dev/console for init's stdio before /dev is mounted.
mknod -m 600 "$tree/dev/console" c 5 1 2>/dev/null || true

case "$scenario" in
    ok)
        cp "$root"/units/embedded/*.kdl "$here"/units/*.kdl "$tree/etc/svinit/"
        cp "$here/report.sh" "$tree/etc/boot-test/report.sh"
        ;;
    reboot)
        cp "$root"/units/embedded/*.kdl "$here"/units/*.kdl "$tree/etc/svinit/"
        cp "$here/report.sh" "$tree/etc/boot-test/report.sh"
        sed -i 's|exec "svctl" "poweroff"|exec "kill" "-TERM" "1"|' "$tree/etc/svinit/90-test.kdl"
        grep -q '"kill" "-TERM" "1"' "$tree/etc/svinit/90-test.kdl" || fail "no shutdown unit to rewrite"
        ;;
    broken)
        cp "$root"/units/embedded/*.kdl "$tree/etc/svinit/"
        printf 'service "oops" {\n    exec "/bin/true"\n    requires "nowhere"\n    umaks "022"\n}\n' \
            > "$tree/etc/svinit/50-broken.kdl"
        ;;
    svinit3)
        : > "$tree/etc/svinit/services.kdl"
        for n in 1 2 3; do
            cat >> "$tree/etc/svinit/services.kdl" <<KDL
service "s$n" {
    exec "/bin/sh" "-c" "echo UP s$n \$(cut -d' ' -f1 /proc/uptime); exec sleep 3600"
}
KDL
        done
        cat >> "$tree/etc/svinit/services.kdl" <<'KDL'
service "off" {
    type "oneshot"
    requires "s1" "s2" "s3"
    exec "/bin/sh" "-c" "echo ALL-READY $(cut -d' ' -f1 /proc/uptime); svctl poweroff"
}
KDL
        ;;
    busybox)
        {
            echo '::sysinit:/bin/mount -t proc proc /proc'
            echo '::sysinit:/bin/mount -t sysfs sysfs /sys'
            echo '::sysinit:/bin/mount -t devtmpfs devtmpfs /dev'
            for n in 1 2 3; do
                echo "::respawn:/bin/sh -c 'echo UP s$n \$(cut -d\" \" -f1 /proc/uptime); exec sleep 3600'"
            done
            echo "::once:/bin/sh -c 'sleep 0.3; echo ALL-READY-BUSYBOX; poweroff -f'"
        } > "$tree/etc/inittab"
        ;;
    finit)
        finit_dir=$("$here/fetch-finit.sh" "$root/target/boot-cache") || fail "no finit"
        cp -a "$finit_dir/sbin/finit" "$tree/sbin/finit"
        mkdir -p "$tree/lib/finit" "$tree/lib/x86_64-linux-gnu" "$tree/lib64"
        cp -a "$finit_dir/lib/finit/." "$tree/lib/finit/"
        cp -a "$finit_dir"/usr/lib/x86_64-linux-gnu/lib{ite,uev}.so* "$tree/lib/x86_64-linux-gnu/"
        for lib in $(ldd "$finit_dir/sbin/finit" | awk '$3 ~ /^\// { print $3 } $1 ~ /^\/lib64/ { print $1 }'); do
            case "$lib" in */libite.so*|*/libuev.so*) continue ;; esac
            cp -L "$lib" "$tree$lib" 2>/dev/null || cp -L "$lib" "$tree/lib/x86_64-linux-gnu/"
        done
        : > "$tree/etc/finit.conf"
        for n in 1 2 3; do
            printf '#!/bin/sh\necho "UP s%s $(cut -d" " -f1 /proc/uptime)" > /dev/console\n: > /up-s%s\nexec sleep 3600\n' \
                "$n" "$n" > "$tree/bin/svc-s$n"
            chmod +x "$tree/bin/svc-s$n"
            echo "service [2345] /bin/svc-s$n -- s$n" >> "$tree/etc/finit.conf"
        done
        printf '#!/bin/sh\nwhile ! [ -e /up-s1 ] || ! [ -e /up-s2 ] || ! [ -e /up-s3 ]; do sleep 0.1; done\necho ALL-READY-FINIT > /dev/console\npoweroff -f\n' \
            > "$tree/bin/finit-off"
        chmod +x "$tree/bin/finit-off"
        echo "task [2345] /bin/finit-off -- power off once s1 s2 s3 are up" >> "$tree/etc/finit.conf"
        ;;
    *) fail "unknown scenario $scenario" ;;
esac
if [ "$scenario" = finit ]; then
    ln -s /sbin/finit "$tree/init"
    ln -sf /sbin/finit "$tree/sbin/init"
elif [ "$scenario" = busybox ]; then
    ln -s /bin/busybox "$tree/init"
    ln -sf /bin/busybox "$tree/sbin/init"
else
    cp "$bins/svinit" "$tree/sbin/svinit"
    ln -s /sbin/svinit "$tree/sbin/init"
    ln -s /sbin/svinit "$tree/init"
fi
(cd "$tree" && find . | cpio -o -H newc --quiet | gzip -1) > "$out/initramfs.cpio.gz"

# TCG unless BOOT_KVM=yes: /dev/kvm may exist and even initialise under
# nested virtualisation and still never boot a guest (FACTS.md).
accel=tcg
if [ "${BOOT_KVM:-no}" = yes ] && [ -w /dev/kvm ]; then
    accel=kvm
fi
qemu=(qemu-system-x86_64 -accel "$accel" -nographic -no-reboot -m 256
    -kernel "$kernel" -initrd "$out/initramfs.cpio.gz"
    -append "console=ttyS0 panic=-1 printk.devkmsg=on")
echo "accel=$accel kernel=$kernel" > "$out/info"

start=$(date +%s%N)
if [ "$scenario" = broken ]; then
    mkfifo "$out/stdin"
    timeout "$timeout_s" "${qemu[@]}" < "$out/stdin" > "$out/console.log" 2>&1 &
    qpid=$!
    exec 3> "$out/stdin"
    # Waits until the console shows $1 (svinit's own log lines).
    await() {
        for _ in $(seq 1 $((timeout_s * 5))); do
            grep -aq "$1" "$out/console.log" 2>/dev/null && return 0
            sleep 0.2
        done
        return 1
    }
    # The emergency shell answers; the config is fixed and reloaded; the
    # real units come up (a shell on ttyS0 again), which powers off.
    if await "emergency-shell: up"; then
        sleep 1
        printf 'echo EMERGENCY-$((40+2))-OK; svctl status\r' >&3
        await "EMERGENCY-42-OK" && sleep 1
        printf 'rm /etc/svinit/50-broken.kdl; svctl reload\r' >&3
        if await "svinit: klogd: up" && await "svinit: console: up"; then
            sleep 1
            printf 'echo FIXED-$((1+1))-OK; svctl status; svctl poweroff\r' >&3
        fi
    fi
    set +e
    wait "$qpid"
    status=$?
    set -e
    exec 3>&-
else
    set +e
    timeout "$timeout_s" "${qemu[@]}" < /dev/null > "$out/console.log" 2>&1
    status=$?
    set -e
fi
end=$(date +%s%N)
echo "qemu_status=$status wall_ms=$(( (end - start) / 1000000 ))" >> "$out/info"
cat "$out/info"
