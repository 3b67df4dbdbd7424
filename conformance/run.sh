#!/usr/bin/env bash
# The conformance driver: runs a host of the repack component against the fixture and
# compares what it produces with expected/.
#
#   run.sh [--only mtree] [--skip unpack] [--write-expected] -- HOST_COMMAND...
#
# HOST_COMMAND is run with one of these verbs appended (see README.md):
#   mtree DIR                          print DIR's manifest
#   layer DIR OUT.tar [--manifest M]   write DIR's changes against manifest M (none:
#                                      everything is added) as an uncompressed layer,
#                                      print its diff_id (sha256:<hex>)
#   unpack LAYER.tar DIR               apply an uncompressed layer onto DIR
#
# Checks, in order: the base tree's manifest; its first layer's diff_id (printed,
# and the file's sha256); after fixture.sh --edit, the edited tree's manifest and the
# incremental layer's diff_id against the base manifest the host printed; then the
# round trip: both layers unpacked into an empty directory give the edited tree's
# manifest. Manifests are compared without their user, machine, tree and date lines and
# with directory sizes blanked (they depend on the filesystem).
#
# Needs root (see fixture.sh). Exits 0 when every check that ran passed; prints one
# line per check and a closing count.
set -euo pipefail
export LC_ALL=C
kit=$(cd "$(dirname "$0")" && pwd)

only=all
skip_unpack=0
write=0
while [ $# -gt 0 ]; do
  case $1 in
    --only) only=$2; shift 2 ;;
    --skip) [ "$2" = unpack ] || { echo "run.sh: only 'unpack' can be skipped" >&2; exit 2; }
            skip_unpack=1; shift 2 ;;
    --write-expected) write=1; shift ;;
    --) shift; break ;;
    *) echo "usage: run.sh [--only mtree] [--skip unpack] [--write-expected] -- HOST..." >&2; exit 2 ;;
  esac
done
[ $# -gt 0 ] || { echo "run.sh: no host command given" >&2; exit 2; }
[ "$only" = all ] || [ "$only" = mtree ] || { echo "run.sh: --only takes 'mtree'" >&2; exit 2; }
host=("$@")

work=$(mktemp -d)
cleanup() {
  # The fixture holds 0000 directories; root removes them as they are.
  rm -rf "$work"
}
trap cleanup EXIT

passed=0
failed=0
skipped=0
pass() { echo "ok      $1"; passed=$((passed + 1)); }
fail() { echo "FAILED  $1"; failed=$((failed + 1)); [ -z "${2:-}" ] || sed 's/^/        /' <<<"$2" | head -40; }
skip() { echo "skipped $1"; skipped=$((skipped + 1)); }

# Entry lines of a manifest, comparable across hosts and filesystems.
normalize() {
  grep -Ev '^#[[:space:]]+(user|machine|tree|date):' "$1" |
    sed -E '/ type=dir /s/ size=[0-9]+ / size=- /'
}

# compare NAME GOT_FILE EXPECTED_FILE
compare() {
  if [ "$write" = 1 ]; then
    cp "$2" "$3"
    pass "$1 (written to expected/)"
  elif out=$(diff -u "$3" "$2"); then
    pass "$1"
  else
    fail "$1" "$out"
  fi
}

check_mtree() { # NAME DIR EXPECTED
  if "${host[@]}" mtree "$2" >"$work/$1.raw" 2>"$work/err"; then
    normalize "$work/$1.raw" >"$work/$1"
    compare "$1" "$work/$1" "$kit/expected/$1"
  else
    fail "$1" "$(cat "$work/err")"
  fi
}

check_layer() { # NAME DIR [--manifest M]
  local name=$1 dir=$2
  shift 2
  local printed
  if ! printed=$("${host[@]}" layer "$dir" "$work/$name.tar" "$@" 2>"$work/err"); then
    fail "$name" "$(cat "$work/err")"
    return
  fi
  local file="sha256:$(sha256sum "$work/$name.tar" | cut -d' ' -f1)"
  if [ "$(printf '%s' "$printed" | tr -d '[:space:]')" != "$file" ]; then
    fail "$name" "printed diff_id '$printed' but the archive's sha256 is $file"
    return
  fi
  echo "$file" >"$work/$name.diff_id"
  compare "$name" "$work/$name.diff_id" "$kit/expected/$name.diff_id"
}

"$kit/fixture.sh" "$work/tree" >/dev/null
check_mtree base.mtree "$work/tree"
if [ "$only" = mtree ]; then
  skip "layers and unpack (--only mtree)"
else
  check_layer layer1 "$work/tree"
  "$kit/fixture.sh" --edit "$work/tree"
  check_mtree edited.mtree "$work/tree"
  if [ -f "$work/base.mtree.raw" ]; then
    check_layer layer2 "$work/tree" --manifest "$work/base.mtree.raw"
  else
    fail layer2 "no base manifest to compare against"
  fi
  if [ "$skip_unpack" = 1 ]; then
    skip "unpack round trip (--skip unpack)"
  elif [ -f "$work/layer1.tar" ] && [ -f "$work/layer2.tar" ]; then
    mkdir "$work/out"
    if "${host[@]}" unpack "$work/layer1.tar" "$work/out" 2>"$work/err" &&
      "${host[@]}" unpack "$work/layer2.tar" "$work/out" 2>>"$work/err"; then
      if "${host[@]}" mtree "$work/out" >"$work/roundtrip.raw" 2>"$work/err"; then
        normalize "$work/roundtrip.raw" >"$work/roundtrip"
        # The unpacked tree is the edited tree: the same expected manifest.
        write=0 compare "unpack round trip" "$work/roundtrip" "$kit/expected/edited.mtree"
      else
        fail "unpack round trip" "$(cat "$work/err")"
      fi
    else
      fail "unpack round trip" "$(cat "$work/err")"
    fi
  else
    fail "unpack round trip" "a layer is missing"
  fi
fi

echo "conformance: $passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
