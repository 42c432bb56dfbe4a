#!/usr/bin/env bash
# Sizes of the static (musl) svinit and svctl from `make static`, for
# BENCHMARKS.md. Prints a markdown table; builds them first if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=target/x86_64-unknown-linux-musl/release
[ -x "$dir/svinit" ] && [ -x "$dir/svctl" ] || make -s static >/dev/null
echo "| static binary (musl, stripped, LTO) | bytes | KiB |"
echo "| --- | ---: | ---: |"
for bin in svinit svctl; do
    bytes=$(stat -c %s "$dir/$bin")
    echo "| $bin | $bytes | $(( (bytes + 1023) / 1024 )) |"
done
