#!/usr/bin/env bash
# bench/floors.sh DATA — our figures next to the physical floor of the same work.
#
# DATA comes from bench/workloads.sh. Each row times one piece of work two ways in the
# same run, on the same inputs, scratch on tmpfs: the plainest tool chain that does it
# (the floor) and repack-host. Medians of RUNS runs (hyperfine) after one untimed
# warm-up run of each command, page cache warm.
#
# Rows
#   unpack <layout>      `unpigz -c BLOB | tar -x` of the image's layer blob, against
#                        `repack-host unpack` of the same image (debian, many-small,
#                        few-large)
#   debian first layer   `tar -c | igzip -1` (one core) of the Debian tree, against our
#                        first repack of it (the empty image `base` plus the whole tree,
#                        as scenarios.sh's debian-first)
#   mixed 500 MB         `tar -c | zstd -3 -T2` and `tar -c | igzip -1` of the mixed-500
#                        tree, against our repack of Debian plus that tree in
#                        /opt/bench-big (gzip, in place: scenarios.sh's debian-big)
#   Debian walk          `find` of the Debian tree, and `find -printf` of every field
#                        lstat gives, against our no-change repack of our own Debian
#                        bundle with its stat cache warm (debian-nochange-own)
#
# Environment
#   BIN=path     repack-host to measure (default: target/release/repack-host of this
#                repository, built with cargo first)
#   RUNS=3       timed runs per command
#   WORK=dir     scratch space (default /dev/shm/repack-floors); about twice the
#                largest tree. Removed at the end unless KEEP=1.
#
# Output: a markdown table on stdout (work | floor | ours | ours/floor), progress on
# stderr, hyperfine's JSON per command in WORK/json (kept with KEEP=1).
set -euo pipefail

die() { echo "floors: $*" >&2; exit 1; }
say() { echo "$*" >&2; }
[ $# -eq 1 ] || die "usage: bench/floors.sh DATA"

bench=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$bench")
data=$(cd "$1" && pwd) || die "no such DATA directory: $1"
runs=${RUNS:-3}
[[ $runs =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive number"
fixed_mtime=1700000000

for tool in hyperfine unpigz igzip zstd tar find python3; do
    command -v "$tool" >/dev/null || die "$tool not found (apt-get install hyperfine pigz isal zstd)"
done
for item in layouts/debian layouts/many-small layouts/few-large layouts/empty \
            trees/debian trees/mixed-500; do
    [ -e "$data/$item.done" ] || die "$data/$item missing: run bench/workloads.sh $data"
done
if [ -z "${BIN:-}" ]; then
    say "building repack-host (cargo build --release -p repack-host)"
    (cd "$repo" && cargo build --release -q -p repack-host)
    BIN=$repo/target/release/repack-host
fi
[ -x "$BIN" ] || die "BIN=$BIN is not executable"

work=${WORK:-/dev/shm/repack-floors}
rm -rf "$work"
mkdir -p "$work/json"
work=$(cd "$work" && pwd)
fs_type=$(stat -f -c %T "$work")
[ "$fs_type" = tmpfs ] || say "note: WORK is on $fs_type, not tmpfs: the floors then include the filesystem's costs"
cleanup() { [ "${KEEP:-0}" = 1 ] || rm -rf "$work"; }
trap cleanup EXIT

# The digest path of the first layer of LAYOUT:TAG (index.json -> manifest -> layers[0]).
layer_blob() {
    python3 - "$1" "$2" <<'PY'
import json, os, sys
root, tag = sys.argv[1:3]
def blob(digest):
    return os.path.join(root, "blobs", *digest.split(":", 1))
with open(os.path.join(root, "index.json")) as f:
    index = json.load(f)
for d in index["manifests"]:
    if d.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag:
        with open(blob(d["digest"])) as f:
            print(blob(json.load(f)["layers"][0]["digest"]))
        break
else:
    sys.exit(f"{root}: no tag {tag}")
PY
}

# time NAME PREPARE COMMAND: hyperfine's median wall time of COMMAND in seconds, each
# run after PREPARE (untimed). Sets `median`.
time_it() {
    local name=$1 prepare=$2 command=$3
    say "   $name: $command"
    hyperfine --style none --warmup 1 --runs "$runs" --prepare "$prepare" \
        --export-json "$work/json/$name.json" "$command" >/dev/null 2>"$work/json/$name.err" ||
        { cat "$work/json/$name.err" >&2; die "$name failed: $command"; }
    median=$(python3 -c 'import json,sys; print("%.3f" % json.load(open(sys.argv[1]))["results"][0]["median"])' \
        "$work/json/$name.json")
}

rows=()
row() {  # row WORK FLOOR-TEXT FLOOR-S OURS-TEXT OURS-S
    local ratio
    ratio=$(awk -v o="$5" -v f="$3" 'BEGIN { printf "%.2f", o / f }')
    rows+=("| $1 | $2 | $4 | $ratio |")
}
mb() { awk -v b="$1" 'BEGIN { printf "%.1f MB", b / 1e6 }'; }

# One untimed run compiles and caches our component, so no timed run pays for that.
"$BIN" init --layout "$work/warm" >/dev/null
"$BIN" new --image "$work/warm:base" >/dev/null
"$BIN" unpack --image "$work/warm:base" "$work/warm-bundle" >/dev/null
rm -rf "$work/warm" "$work/warm-bundle"

say "# $(date -u +%FT%TZ) runs=$runs, $(nproc) CPUs, WORK on $fs_type; $("$BIN" --version) ($BIN)"

# ---- unpack ------------------------------------------------------------------------
for layout in debian many-small few-large; do
    say "== unpack $layout"
    cp -a "$data/layouts/$layout" "$work/layout"
    blob=$(layer_blob "$work/layout" "$layout")
    time_it "unpack-$layout-floor" "rm -rf $work/out && mkdir $work/out" \
        "unpigz -c $blob | tar -x -C $work/out"
    floor=$median
    time_it "unpack-$layout-ours" "rm -rf $work/out" \
        "$BIN unpack --image $work/layout:$layout $work/out"
    row "$layout layer: \`unpigz \\| tar -x\` / our unpack" "$floor s" "$floor" "$median s" "$median"
    rm -rf "$work/out" "$work/layout"
done

# ---- first layer of the Debian tree ------------------------------------------------
say "== Debian first layer"
time_it debian-first-floor : \
    "tar -c -C $data/trees/debian . | igzip -1 -c > $work/floor.gz"
floor=$median floor_bytes=$(stat -c %s "$work/floor.gz")
rm -f "$work/floor.gz"
cp -a "$data/layouts/empty" "$work/empty"
"$BIN" unpack --image "$work/empty:base" "$work/bundle" >/dev/null
cp -a "$data/trees/debian/." "$work/bundle/rootfs/"
cp -p "$work/bundle/repack.statcache" "$work/statcache.saved"
time_it debian-first-ours \
    "rm -rf $work/layout && cp -a $work/empty $work/layout && cp -p $work/statcache.saved $work/bundle/repack.statcache" \
    "$BIN run --image $work/layout:new $work/bundle"
ours_bytes=$(python3 -c 'import json,os,sys
root=sys.argv[1]
blob=lambda d: os.path.join(root, "blobs", *d.split(":", 1))
m=[d for d in json.load(open(os.path.join(root, "index.json")))["manifests"]
   if d.get("annotations", {}).get("org.opencontainers.image.ref.name") == "new"][0]
print(json.load(open(blob(m["digest"])))["layers"][-1]["size"])' "$work/layout")
row "Debian tree: \`tar -c \\| igzip -1\` (1 core) / first repack" \
    "$floor s, $(mb "$floor_bytes")" "$floor" "$median s, $(mb "$ours_bytes")" "$median"
rm -rf "$work/layout" "$work/empty" "$work/bundle" "$work/statcache.saved"

# ---- 500 MB of mixed files ---------------------------------------------------------
say "== mixed 500 MB"
time_it mixed-zstd-floor : "tar -c -C $data/trees/mixed-500 . | zstd -q -3 -T2 -c > $work/floor.zst"
zstd_floor=$median zstd_bytes=$(stat -c %s "$work/floor.zst")
rm -f "$work/floor.zst"
time_it mixed-igzip-floor : "tar -c -C $data/trees/mixed-500 . | igzip -1 -c > $work/floor.gz"
igzip_floor=$median igzip_bytes=$(stat -c %s "$work/floor.gz")
rm -f "$work/floor.gz"
cp -a "$data/layouts/debian" "$work/layout"
"$BIN" unpack --image "$work/layout:debian" "$work/bundle" >/dev/null
mkdir -p "$work/bundle/rootfs/opt/bench-big"
cp -a "$data/trees/mixed-500/." "$work/bundle/rootfs/opt/bench-big/"
touch -d "@$fixed_mtime" "$work/bundle/rootfs/opt"
cp -p "$work/bundle/repack.statcache" "$work/statcache.saved"
time_it debian-big-ours "cp -p $work/statcache.saved $work/bundle/repack.statcache" \
    "$BIN run --compress gzip --image $work/layout:new $work/bundle"
row "mixed 500 MB: \`tar -c \\| zstd -3 -T2\` / debian-big (gzip)" \
    "$zstd_floor s, $(mb "$zstd_bytes")" "$zstd_floor" "$median s" "$median"
row "mixed 500 MB: \`tar -c \\| igzip -1\` (1 core) / debian-big (gzip)" \
    "$igzip_floor s, $(mb "$igzip_bytes")" "$igzip_floor" "$median s" "$median"
rm -rf "$work/layout" "$work/bundle" "$work/statcache.saved"

# ---- walking the Debian tree -------------------------------------------------------
say "== Debian walk"
time_it walk-find-floor : "find $data/trees/debian > /dev/null"
find_floor=$median
time_it walk-stat-floor : \
    "find $data/trees/debian -printf '%p %y %m %U %G %s %T@ %C@ %i %n\n' > /dev/null"
stat_floor=$median
cp -a "$data/layouts/debian" "$work/layout"
"$BIN" unpack --image "$work/layout:debian" "$work/bundle" >/dev/null
cp -p "$work/bundle/repack.statcache" "$work/statcache.saved"
time_it debian-nochange-own "cp -p $work/statcache.saved $work/bundle/repack.statcache" \
    "$BIN run --image $work/layout:new $work/bundle"
row "Debian walk: \`find\` / no-change repack (stat cache warm)" \
    "$find_floor s" "$find_floor" "$median s" "$median"
row "Debian walk: full-stat \`find -printf\` / no-change repack" \
    "$stat_floor s" "$stat_floor" "$median s" "$median"
rm -rf "$work/layout" "$work/bundle" "$work/statcache.saved"

echo "Floors next to repack-host, one run: $(date -u +%F), $(nproc) CPUs, WORK on $fs_type,"
echo "medians of $runs runs after one warm-up (hyperfine), page cache warm; $("$BIN" --version)."
echo
echo "| work | floor | ours | ours/floor |"
echo "|---|---:|---:|---:|"
printf '%s\n' "${rows[@]}"
