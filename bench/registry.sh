#!/usr/bin/env bash
# bench/registry.sh DATA [LAYOUT:TAG] — registry round trips, side by side.
#
# A plain-HTTP docker-registry on 127.0.0.1 (Debian's docker-registry package) holds
# the image (default DATA/layouts/debian:debian from bench/workloads.sh, the Debian
# minbase image). Two scenarios, alternating the tools RUNS times:
#
#   pull-unpack   ours:   repack-host unpack --image docker://… --layout L BUNDLE
#                 theirs: skopeo copy docker://… oci:L:t && umoci unpack --image L:t BUNDLE
#   small-push    a bundle of the image (each tool's own unpack), 10 small files added
#                 (their content names the run, so every run has a new layer to send)
#                 ours:   repack-host run --image L:app BUNDLE --push docker://…:runN
#                 theirs: umoci repack --image L:app BUNDLE && skopeo copy oci:L:app docker://…:runN
#
# Every run starts from a fresh copy of the prepared state (untimed, synced). The push
# goes to the image's own repository, so both tools find the base layers there (HEAD).
# Prints medians and their ratio (ours / theirs). Environment: BIN, RUNS=5,
# WORK (default DATA/registry-scratch).
set -euo pipefail

die() { echo "registry.sh: $*" >&2; exit 1; }
[ $# -ge 1 ] || die "usage: bench/registry.sh DATA [LAYOUT:TAG]"
bench=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$bench")
data=$(cd "$1" && pwd) || die "no such DATA directory: $1"
image=${2:-$data/layouts/debian:debian}
runs=${RUNS:-5}
work=${WORK:-$data/registry-scratch}
if [ -z "${BIN:-}" ]; then
  (cd "$repo" && cargo build --release -q -p repack-host)
  BIN=$repo/target/release/repack-host
fi
for tool in docker-registry skopeo umoci; do
  command -v "$tool" >/dev/null || die "$tool is not installed"
done

rm -rf "$work" && mkdir -p "$work"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
host=127.0.0.1:$port
cat >"$work/registry.yml" <<YML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $work/storage
http:
  addr: $host
  secret: bench
YML
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
registry=$!
trap 'kill $registry 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done
ref=docker://$host/bench/image
skopeo copy -q --dest-tls-verify=false "oci:$image" "$ref:base" >&2
"$BIN" unpack --image "$ref:base" --layout "$work/warm" "$work/warm-bundle" --tls-verify=false

now() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
results=$work/results.tsv
: >"$results"
record() { echo -e "$1\t$2\t$3" >>"$results"; }

fresh() { rm -rf "$work/run" && mkdir -p "$work/run" && sync; }

pull_unpack() {
  for i in $(seq "$runs"); do
    fresh
    t=$(now)
    skopeo copy -q --src-tls-verify=false "$ref:base" "oci:$work/run/theirs:t" >/dev/null
    umoci unpack --image "$work/run/theirs:t" "$work/run/theirs-bundle" >/dev/null
    record pull-unpack theirs $(($(now) - t))
    fresh
    t=$(now)
    "$BIN" unpack --image "$ref:base" --layout "$work/run/ours" "$work/run/ours-bundle" --tls-verify=false
    record pull-unpack ours $(($(now) - t))
  done
}

# State for small-push: each tool's layout (the image pulled its way) and bundle.
prepare_push() {
  rm -rf "$work/push" && mkdir -p "$work/push"
  skopeo copy -q --src-tls-verify=false "$ref:base" "oci:$work/push/theirs:app" >/dev/null
  umoci unpack --image "$work/push/theirs:app" "$work/push/theirs-bundle" >/dev/null
  "$BIN" unpack --image "$ref:base" --layout "$work/push/ours:app" "$work/push/ours-bundle" --tls-verify=false
}

edit() { # BUNDLE RUN
  mkdir -p "$1/rootfs/opt/bench-small"
  for f in $(seq 10); do echo "run $2 file $f" >"$1/rootfs/opt/bench-small/f$f"; done
}

small_push() {
  prepare_push
  for i in $(seq "$runs"); do
    fresh
    cp -a "$work/push/theirs" "$work/push/theirs-bundle" "$work/run/"
    edit "$work/run/theirs-bundle" "theirs-$i"
    sync
    t=$(now)
    umoci repack --image "$work/run/theirs:app" "$work/run/theirs-bundle" >/dev/null
    skopeo copy -q --dest-tls-verify=false "oci:$work/run/theirs:app" "$ref:theirs-$i" >/dev/null
    record small-push theirs $(($(now) - t))
    fresh
    cp -a "$work/push/ours" "$work/push/ours-bundle" "$work/run/"
    edit "$work/run/ours-bundle" "ours-$i"
    sync
    t=$(now)
    "$BIN" run --image "$work/run/ours:app" "$work/run/ours-bundle" \
      --push "$ref:ours-$i" --tls-verify=false >/dev/null 2>&1
    record small-push ours $(($(now) - t))
  done
}

pull_unpack
small_push

echo "| scenario | skopeo+umoci s | ours s | ratio |"
echo "|---|---:|---:|---:|"
for s in pull-unpack small-push; do
  theirs=$(awk -F'\t' -v s=$s '$1==s && $2=="theirs" {print $3}' "$results" | median)
  ours=$(awk -F'\t' -v s=$s '$1==s && $2=="ours" {print $3}' "$results" | median)
  awk -v s=$s -v t="$theirs" -v o="$ours" \
    'BEGIN {printf "| %s | %.3f | %.3f | %.2f |\n", s, t/1e9, o/1e9, o/t}'
done
