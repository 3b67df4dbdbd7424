#!/usr/bin/env bash
# bench/workloads.sh DATA — build the inputs of bench/scenarios.sh under DATA.
#
# Each item is built into NAME.tmp, renamed to NAME and stamped NAME.done; an item
# with a stamp is left alone, so the script can be rerun after a failure or to add
# what is missing. Remove a stamp (and its directory) to rebuild that item.
#
#   DATA/trees/debian       debootstrap --variant=minbase $SUITE, trimmed like a
#                           container base image (no apt lists, no .debs, no
#                           bootstrap log), neutral hostname/resolv.conf, no mtime
#                           later than $CLAMP_EPOCH
#   DATA/trees/many-small   gen_tree.py many-small  ($MANY_FILES files)
#   DATA/trees/few-large    gen_tree.py few-large   ($LARGE_MIB MiB)
#   DATA/trees/mixed-500    gen_tree.py mixed       ($MIXED_MIB MiB, the "big" edit)
#   DATA/trees/small-add    gen_tree.py small-add   (10 files, the "small" edit)
#   DATA/layouts/empty      OCI layout with an empty image tagged base
#   DATA/layouts/debian     tags base (empty) and debian: one layer made by umoci repack
#   DATA/layouts/many-small tags base and many-small, likewise
#   DATA/layouts/few-large  tags base and few-large, likewise
#   DATA/MANIFEST.txt       tool versions, tree statistics, layer sizes, packages
#
# Needs root (debootstrap, file owners), debootstrap, umoci, python3; ~3 GiB and a
# few minutes, most of it debootstrap.
#
# Environment: MIRROR (default: the first non-security Debian mirror in the apt
# sources), SUITE (bookworm), SEED (1), MANY_FILES (50000), LARGE_MIB (1024),
# MIXED_MIB (500), CLAMP_EPOCH (1735689600, 2025-01-01).
set -euo pipefail

usage() { echo "usage: bench/workloads.sh DATA" >&2; exit 2; }
[ $# -eq 1 ] || usage

bench=$(cd "$(dirname "$0")" && pwd)
suite=${SUITE:-bookworm}
seed=${SEED:-1}
many_files=${MANY_FILES:-50000}
large_mib=${LARGE_MIB:-1024}
mixed_mib=${MIXED_MIB:-500}
clamp=${CLAMP_EPOCH:-1735689600}

mkdir -p "$1/trees" "$1/layouts"
data=$(cd "$1" && pwd)

# The Debian mirror: $MIRROR, else the first non-security URI of the apt sources,
# in either the one-line format or the deb822 format.
debian_mirror() {
    if [ -n "${MIRROR:-}" ]; then
        echo "$MIRROR"
        return
    fi
    local uri
    uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
        awk '$1 == "deb" { for (i = 2; i <= NF; i++)
                if ($i ~ /^[a-z+]+:\/\// && $i !~ /security/) { print $i; exit } }')
    if [ -z "$uri" ]; then
        uri=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
            awk '$1 == "URIs:" { for (i = 2; i <= NF; i++)
                    if ($i !~ /security/) { print $i; exit } }')
    fi
    if [ -z "$uri" ]; then
        echo "workloads: no Debian mirror in the apt sources; set MIRROR=" >&2
        return 1
    fi
    echo "$uri"
}

# build ITEM FUNCTION [ARGS...]: FUNCTION ARGS... DATA/ITEM.tmp, unless ITEM.done.
build() {
    local item=$1
    shift
    if [ -e "$data/$item.done" ]; then
        echo "-- $item: already built"
        return
    fi
    echo "-- $item: building"
    rm -rf "${data:?}/$item.tmp" "${data:?}/$item"
    "$@" "$data/$item.tmp"
    mv "$data/$item.tmp" "$data/$item"
    touch "$data/$item.done"
}

debian_tree() {
    local dest=$1 mirror log=$data/debootstrap.log
    mirror=$(debian_mirror)
    echo "   debootstrap --variant=minbase $suite from $mirror (log: $log)"
    if ! debootstrap --variant=minbase "$suite" "$dest" "$mirror" >"$log" 2>&1; then
        tail -n 20 "$log" >&2
        return 1
    fi
    rm -rf "$dest"/var/lib/apt/lists/* "$dest"/var/cache/apt/archives/*.deb \
        "$dest"/var/cache/apt/*.bin "$dest"/var/log/bootstrap.log "$dest"/debootstrap
    echo localhost >"$dest/etc/hostname"
    : >"$dest/etc/resolv.conf"
    find "$dest" -newermt "@$clamp" -exec touch --no-dereference --date="@$clamp" {} +
}

synthetic() { python3 "$bench/gen_tree.py" "$@" --seed "$seed"; }
many_small_tree() { synthetic many-small "$1" --files "$many_files"; }
few_large_tree() { synthetic few-large "$1" --size-mib "$large_mib"; }
mixed_tree() { synthetic mixed "$1" --size-mib "$mixed_mib"; }
small_add_tree() { synthetic small-add "$1"; }

empty_layout() {
    umoci init --layout "$1"
    umoci new --image "$1:base"
}

# layout_with TREE TAG DEST: an empty image whose rootfs gets TREE, repacked by umoci
# as TAG (base stays the empty image).
layout_with() {
    local tree=$1 tag=$2 dest=$3 bundle
    empty_layout "$dest"
    bundle=$(mktemp -d "$data/bundle.XXXXXX")
    rmdir "$bundle"
    umoci unpack --image "$dest:base" "$bundle"
    cp -a "$tree/." "$bundle/rootfs/"
    sync
    /usr/bin/time -f "   umoci repack $tag: %e s wall, %U s user, %S s sys, %M KiB peak RSS" \
        umoci repack --image "$dest:$tag" "$bundle"
    rm -rf "$bundle"
}

build trees/debian debian_tree
build trees/many-small many_small_tree
build trees/few-large few_large_tree
build trees/mixed-500 mixed_tree
build trees/small-add small_add_tree
build layouts/empty empty_layout
build layouts/debian layout_with "$data/trees/debian" debian
build layouts/many-small layout_with "$data/trees/many-small" many-small
build layouts/few-large layout_with "$data/trees/few-large" few-large

# What was built, with which tools (rewritten on every run; cheap).
{
    echo "# bench/workloads.sh SUITE=$suite SEED=$seed MANY_FILES=$many_files" \
        "LARGE_MIB=$large_mib MIXED_MIB=$mixed_mib"
    for pkg in umoci skopeo debootstrap tar gzip time hyperfine; do
        dpkg-query -W -f='${Package} ${Version}\n' "$pkg" 2>/dev/null || echo "$pkg (not from dpkg)"
    done
    echo
    echo "# tree: entries regular symlinks directories bytes"
    for tree in "$data"/trees/*/; do
        tree=${tree%/}
        echo "${tree##*/} $(find "$tree" | wc -l) $(find "$tree" -type f | wc -l)" \
            "$(find "$tree" -type l | wc -l) $(find "$tree" -type d | wc -l)" \
            "$(du -s --apparent-size -B1 "$tree" | cut -f1)"
    done
    echo
    echo "# layout tag layer-digest compressed-bytes"
    for layout in "$data"/layouts/*/; do
        python3 - "${layout%/}" <<'PY'
import json, os, sys
root = sys.argv[1]
def blob(digest):
    algo, hexa = digest.split(":", 1)
    return os.path.join(root, "blobs", algo, hexa)
with open(os.path.join(root, "index.json")) as f:
    index = json.load(f)
for desc in index["manifests"]:
    tag = desc.get("annotations", {}).get("org.opencontainers.image.ref.name", "-")
    with open(blob(desc["digest"])) as f:
        for layer in json.load(f)["layers"]:
            print(os.path.basename(root), tag, layer["digest"], layer["size"])
PY
    done
    echo
    echo "# debian packages"
    dpkg-query --admindir="$data/trees/debian/var/lib/dpkg" -W -f='${Package} ${Version}\n'
} >"$data/MANIFEST.txt"
echo "-- done: $data (summary in $data/MANIFEST.txt)"
