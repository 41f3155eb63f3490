#!/usr/bin/env bash
# Builds .build/libzstd_pool.so (sys/zstd_pool/zstd_pool.c): zstd frames decoded on two
# threads for the mount's reads. It opens the system libzstd itself, so it needs only gcc.
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p .build
out=.build/libzstd_pool.so
gcc -O2 -fPIC -shared -Wall -Wextra sys/zstd_pool/zstd_pool.c -o "$out.tmp" -lpthread -ldl
mv "$out.tmp" "$out"
