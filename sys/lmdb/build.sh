#!/usr/bin/env bash
# Builds .build/liblmdb.so: LMDB from the sources the pinned lmdb npm package ships (the
# LMDB that wrote every revfs store, its 1.0 data format), with the options that
# package's own build uses (compiled through sys/lmdb/spare_pages.c, which adds a commit
# that gives LMDB's spare pages back), sys/lmdb/shared_envs.c and sys/lmdb/copy_reads.c. revfs reaches it through Deno
# FFI (sys/lmdb/mod.ts). Needs gcc and `deno install` (for the sources) first.
set -euo pipefail
cd "$(dirname "$0")/../.."
version=$(sed -nE 's/.*"npm:lmdb@([0-9.]+)".*/\1/p' import_map.json)
src="node_modules/.deno/lmdb@$version/node_modules/lmdb/dependencies/lmdb/libraries/liblmdb"
if [ ! -f "$src/mdb.c" ]; then
  echo "LMDB sources not found at $src (run deno install first)" >&2
  exit 1
fi
mkdir -p .build
out=.build/liblmdb.so
gcc -O2 -fPIC -shared -DMDB_MAXKEYSIZE=0 -DMDB_USE_ROBUST=1 -w -I"$src" \
  sys/lmdb/spare_pages.c "$src/midl.c" sys/lmdb/shared_envs.c sys/lmdb/copy_reads.c sys/lmdb/map_ahead.c -o "$out.tmp" -lpthread
mv "$out.tmp" "$out"
