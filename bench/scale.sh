#!/usr/bin/env bash
# bench/scale.sh [WORK] — how cost and memory grow with the number of entries.
#
# Builds a flat, wide tree of FILES small files (bench/scale_tree.py: FILES/200
# directories of 200 files) in WORK (tmpfs recommended: /dev/shm/...), then measures
# once each, with /usr/bin/time -v and our --stats:
#   first repack   an empty image plus the whole tree
#   unpack         that image into a new bundle, next to `unpigz | tar -x` of its layer
#   no-change      a repack of our own unpacked bundle (stat cache warm), next to a
#                  full-stat walk (`find -printf` of size, mode, owner, times, inode)
# and, with UMOCI=1, umoci's repack and unpack of the same tree (slow: about a minute
# each at 500,000 files). Prints a markdown table; nothing is asserted.
#
# Environment
#   BIN=path       repack-host to measure (default: target/release/repack-host, built)
#   FILES=500000   files in the tree
#   UMOCI=0        1: also time umoci 0.4.7
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
WORK=${1:-$(mktemp -d /dev/shm/repack-scale.XXXXXX)}
FILES=${FILES:-500000}
if [[ -z ${BIN:-} ]]; then
    (cd "$repo" && cargo build --release -q -p repack-host)
    BIN=$repo/target/release/repack-host
fi
mkdir -p "$WORK"
cd "$WORK"
rm -rf ./*
log() { echo "scale.sh: $*" >&2; }

# wall seconds and peak RSS (KiB) of a command, as "wall rss"; its stderr is kept in
# $1.err (our --stats).
timed() {
    local name=$1
    shift
    /usr/bin/time -f '%e %M' -o "$name.time" "$@" >"$name.out" 2>"$name.err"
    cat "$name.time"
}
guest_mib() { sed -n 's/^stats: guest memory peak \([0-9.]*\) MiB/\1/p' "$1.err"; }

log "tree: $FILES files"
python3 "$here/scale_tree.py" tree "$FILES"
"$BIN" init --layout L >/dev/null
"$BIN" new --image L:base >/dev/null
"$BIN" unpack --image L:base b >/dev/null
rm -rf b/rootfs
cp -a tree b/rootfs

log "ours: first repack"
read -r first_s first_kib < <(timed first "$BIN" run --stats --image L:first b)
log "ours: unpack"
read -r unpack_s unpack_kib < <(timed unpack "$BIN" unpack --stats --image L:first u)
blob=$(python3 - <<'PY'
import json
index = json.load(open("L/index.json"))
m = [d for d in index["manifests"]
     if d.get("annotations", {}).get("org.opencontainers.image.ref.name") == "first"][0]
manifest = json.load(open("L/blobs/sha256/" + m["digest"].split(":")[1]))
print("L/blobs/sha256/" + manifest["layers"][0]["digest"].split(":")[1])
PY
)
log "floor: unpigz | tar -x"
mkdir floor-x
read -r floorx_s _ < <(timed floorx sh -c "unpigz -c '$blob' | tar -x -C floor-x --numeric-owner -p --xattrs")
log "ours: no-change repack of our own bundle (twice; the second is reported)"
timed nochange0 "$BIN" run --stats --image L:nc0 u >/dev/null
read -r nc_s nc_kib < <(timed nochange "$BIN" run --stats --image L:nc u)
log "floor: find -printf"
read -r find_s _ < <(timed find sh -c "find u/rootfs -printf '%p %s %m %U %G %T@ %C@ %i %n\n' >/dev/null")

umoci_first=- umoci_unpack=- umoci_nc=-
if [[ ${UMOCI:-0} == 1 ]]; then
    umoci unpack --image L:base ub >/dev/null
    rm -rf ub/rootfs
    cp -a tree ub/rootfs
    log "umoci: first repack"
    read -r umoci_first _ < <(timed ufirst umoci repack --image L:ufirst ub)
    log "umoci: unpack"
    read -r umoci_unpack _ < <(timed uunpack umoci unpack --image L:first uu)
    log "umoci: no-change repack"
    read -r umoci_nc _ < <(timed unc umoci repack --image L:unc uu)
fi

ratio() { python3 -c "import sys; print(f'{float(sys.argv[1])/float(sys.argv[2]):.2f}x')" "$1" "$2"; }
echo "| $FILES files | ours wall s | ours peak RSS MiB | guest memory peak MiB | floor | ours/floor | umoci wall s |"
echo "|---|---:|---:|---:|---|---:|---:|"
echo "| first repack | $first_s | $((first_kib / 1024)) | $(guest_mib first) | - | - | $umoci_first |"
echo "| unpack | $unpack_s | $((unpack_kib / 1024)) | $(guest_mib unpack) | unpigz \| tar -x $floorx_s s | $(ratio "$unpack_s" "$floorx_s") | $umoci_unpack |"
echo "| no-change repack, own bundle | $nc_s | $((nc_kib / 1024)) | $(guest_mib nochange) | find -printf $find_s s | $(ratio "$nc_s" "$find_s") | $umoci_nc |"
echo
echo "--stats of the no-change repack:"
echo '```'
cat nochange.err
echo '```'
