#!/usr/bin/env bash
# Time `repack-host raw mtree` on a rootfs next to sha256sum over the same files, and
# check that the manifest equals umoci's when the rootfs is an umoci bundle's.
#
# Usage: bench/mtree.sh ROOTFS [BUNDLE_MTREE]
#   ROOTFS        directory to walk (e.g. an umoci-unpacked Debian minbase rootfs)
#   BUNDLE_MTREE  umoci's .mtree for ROOTFS; when given, entries must be identical
# Needs: hyperfine. Builds the release binary first.
set -euo pipefail
rootfs=${1:?usage: bench/mtree.sh ROOTFS [BUNDLE_MTREE]}
theirs=${2:-}
cd "$(dirname "$0")/.."
cargo build --release -p repack-host -q
bin=$PWD/target/release/repack-host

echo "entries: $(find "$rootfs" | wc -l), regular files: $(find "$rootfs" -type f | wc -l)," \
     "bytes: $(du -sb "$rootfs" | cut -f1)"
if [ -n "$theirs" ]; then
  if diff <("$bin" raw mtree "$rootfs" | grep -v '^#') <(grep -v '^#' "$theirs") >/dev/null; then
    echo "manifest: identical to $theirs (comments aside)"
  else
    echo "manifest: DIFFERS from $theirs" >&2
    exit 1
  fi
fi
"$bin" raw mtree "$rootfs" >/dev/null   # warm the component cache
hyperfine -N -w 2 -r 10 \
  -n "repack-host raw mtree" "$bin raw mtree $rootfs" \
  -n "find | xargs sha256sum" "bash -c 'find $rootfs -type f -print0 | xargs -0 sha256sum >/dev/null'"
