#!/usr/bin/env bash
# bench/batch.sh [WORK] — throughput of many small repacks: `repack-host batch` with
# --jobs 1 and --jobs 2 against `umoci repack` processes run 2 at a time.
#
# Ten bundles, each unpacked from its own copy of one image (a many-small tree of
# FILES files, made by gen_tree.py) and given a small change: 3 files added, 1
# modified, 1 deleted. 100 repacks, bundle k%10 into tag r<k>, ten per bundle. Each
# tool repacks bundles its own unpack made, into layouts of its own. Prints a markdown
# table of wall time and repacks per second; nothing is asserted.
#
# Environment
#   BIN=path    repack-host to measure (default: target/release/repack-host, built first)
#   FILES=2000  files in the image's tree
#   UMOCI=umoci the umoci binary
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
WORK=${1:-$(mktemp -d /tmp/repack-batch-bench.XXXXXX)}
FILES=${FILES:-2000}
UMOCI=${UMOCI:-umoci}
if [[ -z ${BIN:-} ]]; then
    (cd "$repo" && cargo build --release -q -p repack-host)
    BIN=$repo/target/release/repack-host
fi
export SOURCE_DATE_EPOCH=1700000000
mkdir -p "$WORK"
cd "$WORK"
rm -rf ./*

log() { echo "batch.sh: $*" >&2; }

log "image: $FILES files"
python3 "$here/gen_tree.py" many-small tree --files "$FILES" >/dev/null
"$BIN" init --layout base
"$BIN" new --image base:empty
"$BIN" unpack --image base:empty seed
cp -a tree/. seed/rootfs/
"$BIN" run --image base:img seed >/dev/null

change() { # bundle rootfs
    local r=$1
    printf 'added one\n' >"$r/added-1"
    printf 'added two\n' >"$r/added-2"
    mkdir -p "$r/added-dir" && printf 'three\n' >"$r/added-dir/3"
    local victim
    local files
    files=$(find "$r" -type f ! -path '*added*' | sort)
    victim=$(sed -n 1p <<<"$files")
    printf 'modified\n' >>"$victim"
    rm -f "$(sed -n 2p <<<"$files")"
}

for i in $(seq 0 9); do
    cp -a base "ours$i" && cp -a base "umoci$i"
    "$BIN" unpack --image "ours$i:img" "b-ours$i"
    "$UMOCI" unpack --image "umoci$i:img" "b-umoci$i" >/dev/null
    change "b-ours$i/rootfs"
    change "b-umoci$i/rootfs"
done

for k in $(seq 0 99); do
    echo "{\"id\": \"$k\", \"op\": \"run\", \"image\": \"ours$((k % 10)):j1-$k\", \"bundle\": \"b-ours$((k % 10))\"}"
done >jobs1.jsonl
sed 's/:j1-/:j2-/' jobs1.jsonl >jobs2.jsonl
sync

now() { date +%s.%N; }
rate() { python3 -c "import sys; t=float(sys.argv[1]); print(f'{t:.2f} s | {100/t:.1f}')" "$1"; }

log "ours, --jobs 1"
t0=$(now); "$BIN" batch --jobs 1 jobs1.jsonl >out1.jsonl; t1=$(now)
ours1=$(python3 -c "print($t1 - $t0)")
log "ours, --jobs 2"
t0=$(now); "$BIN" batch --jobs 2 jobs2.jsonl >out2.jsonl; t1=$(now)
ours2=$(python3 -c "print($t1 - $t0)")
log "umoci, 2 at a time"
t0=$(now)
seq 0 99 | xargs -P 2 -I{} sh -c 'k={}; exec "$0" repack --image "umoci$((k % 10)):u-$k" "b-umoci$((k % 10))"' "$UMOCI"
t1=$(now)
umoci2=$(python3 -c "print($t1 - $t0)")

ok=$(cat out1.jsonl out2.jsonl | grep -c '"ok":true')
[[ $ok == 200 ]] || { log "only $ok of 200 batch jobs succeeded"; exit 1; }
for i in $(seq 0 9); do
    n=$("$BIN" ls --layout "umoci$i" | grep -c '^u-')
    [[ $n == 10 ]] || { log "umoci$i holds $n of 10 tags"; exit 1; }
done

echo "| 100 repacks ($FILES-file image, 10 bundles) | wall | repacks/s |"
echo "|---|---|---|"
echo "| repack-host batch --jobs 1 | $(rate "$ours1") |"
echo "| repack-host batch --jobs 2 | $(rate "$ours2") |"
echo "| umoci repack, 2 processes at a time | $(rate "$umoci2") |"
python3 -c "import sys; a,b,c=map(float,sys.argv[1:]); print(f'\n--jobs 2 / --jobs 1: {a/b:.2f}x; --jobs 2 / umoci: {c/b:.1f}x')" "$ours1" "$ours2" "$umoci2"
uptime
