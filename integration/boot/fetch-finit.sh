#!/usr/bin/env bash
# Fetches Debian's finit and the two libraries it needs beyond libc
# (libite5, libuev3) without installing them, for bench/boot.sh's finit
# row: `apt-get download` + `dpkg-deb -x` into a cache dir. Prints the
# directory the packages are extracted into. Usage: fetch-finit.sh [CACHE_DIR]
set -euo pipefail
cache=${1:-$(cd "$(dirname "$0")/../.." && pwd)/target/boot-cache}/finit
mkdir -p "$cache"
if [ -x "$cache/extract/sbin/finit" ]; then
    echo "$cache/extract"
    exit 0
fi
cd "$cache"
rm -rf ./*.deb extract
apt-get download finit libite5 libuev3 >&2 2>/dev/null \
    || { apt-get update -qq >&2 && apt-get download finit libite5 libuev3 >&2; }
for deb in ./*.deb; do
    dpkg-deb -x "$deb" extract
done
echo "$cache/extract"
