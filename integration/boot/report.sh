# Run in the guest by the `report` unit once every service is up: what the
# boot test asserts on, printed to the console (svinit prefixes each line).
for m in /proc /sys /dev /dev/pts /dev/shm /run /tmp; do
    grep -q " $m " /proc/self/mountinfo && echo "MOUNTED $m"
done
echo "HOSTNAME $(hostname)"
pid=$(svctl status --json console | sed -n 's/.*"pid": *\([0-9][0-9]*\).*/\1/p')
echo "CONSOLE-CTTY $(cut -d' ' -f7 "/proc/$pid/stat")"
echo "SVCTL-STATUS-BEGIN"
svctl status
echo "SVCTL-STATUS-END"
echo "ALL-READY uptime=$(cut -d' ' -f1 /proc/uptime)"
