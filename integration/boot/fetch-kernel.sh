#!/usr/bin/env bash
# Fetches a Debian cloud kernel image without installing it, for the QEMU
# boot test: `apt-get download` of the versioned image package that
# linux-image-cloud-amd64 depends on, then `dpkg-deb -x` into a cache dir.
# Prints the path of the vmlinuz. Usage: fetch-kernel.sh [CACHE_DIR]
set -euo pipefail
cache=${1:-$(cd "$(dirname "$0")/../.." && pwd)/target/boot-cache}
mkdir -p "$cache"
existing=$(ls "$cache"/extract/boot/vmlinuz-* 2>/dev/null | head -n1 || true)
if [ -n "$existing" ]; then
    echo "$existing"
    exit 0
fi
cd "$cache"
# The meta package names the versioned image package in its Depends.
pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null \
    | sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-cloud-amd64\(-unsigned\)\?\)$/\1/p' | head -n1)
if [ -z "$pkg" ]; then
    apt-get update -qq >&2
    pkg=$(apt-cache depends linux-image-cloud-amd64 \
        | sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-cloud-amd64\(-unsigned\)\?\)$/\1/p' | head -n1)
fi
[ -n "$pkg" ] || { echo "fetch-kernel: cannot resolve linux-image-cloud-amd64" >&2; exit 1; }
rm -f ./*.deb
apt-get download "$pkg" >&2
rm -rf extract
dpkg-deb -x ./*.deb extract
ls "$cache"/extract/boot/vmlinuz-* | head -n1
