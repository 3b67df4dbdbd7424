#!/usr/bin/env bash
# bench/scenarios.sh DATA [SCENARIO...] — repack-host and umoci side by side.
#
# DATA comes from bench/workloads.sh. Every scenario runs both tools in the same
# session, alternating umoci, ours, umoci, ours, ... RUNS times, so that a change in
# machine load hits both alike. A markdown table of medians goes to stdout (and to
# WORK/summary.md), progress to stderr, one raw row per run to WORK/results.tsv.
#
# Scenarios (default: all of them, in this order)
#   debian-first         repack: the empty image plus the whole Debian rootfs (first layer)
#   debian-nochange      repack: the Debian image unchanged; both bundles made by umoci's
#                        unpack, so we have no stat cache and must hash every file
#   debian-nochange-own  repack: the Debian image unchanged; each tool's bundle made by its
#                        own unpack and repacked in place run after run (our stat cache
#                        stays valid; umoci gets the same treatment on its bundle)
#   debian-small         repack: Debian plus 10 added, 5 modified, 5 deleted (one a dir),
#                        in place (a user edits the bundle their unpack made, then repacks)
#   debian-big           repack: Debian plus ~500 MiB of mixed files in /opt/bench-big (gzip),
#                        in place
#   many-first           repack: the empty image plus the many-small tree
#   many-nochange        repack: the many-small image unchanged, bundles from umoci's unpack
#   many-nochange-own    repack: the many-small image unchanged, own bundles, in place
#   large-first          repack: the empty image plus the few-large tree
#   debian-unpack        unpack: the Debian image
#   many-unpack          unpack: the many-small image
#   large-unpack         unpack: the few-large image
#
# Unless a scenario says otherwise, umoci repacks a bundle made by `umoci unpack` and
# we repack one made by `repack-host unpack`. Every timed run starts from the same
# state: the prepared layout and bundle are copied with cp -a and synced (untimed).
# The in-place scenarios (*-own, debian-small, debian-big) skip the copy, since a copy
# changes every inode and ctime and so hides what a tool remembers about its own bundle;
# a repack without --refresh-bundle leaves the bundle as it was, except for our stat
# cache, which is put back as the unpack wrote it before each run. The page cache is
# warm; nothing is dropped.
#
# Environment
#   BIN=path     repack-host to measure (default: target/release/repack-host of this
#                repository, built with cargo first)
#   RUNS=5       timed runs per scenario and tool
#   WORK=dir     scratch space (default DATA/scratch); needs about three times the
#                largest tree. On tmpfs (e.g. WORK=/dev/shm/repack-bench) the disk's
#                inode allocation is out of the figures for both tools.
#   STATS=1      append --stats to our `run` and show what it prints
#   REPACK_CACHE_DIR  where our tool caches its compiled component (see the README)
#
# Timing: wall time from date +%s%N around /usr/bin/time -v, CPU (user + sys) and peak
# RSS from /usr/bin/time -v. One untimed warm-up of ours first compiles and caches its
# component, so no timed run pays for compilation.
set -euo pipefail

die() { echo "scenarios: $*" >&2; exit 1; }
say() { echo "$*" >&2; }
[ $# -ge 1 ] || die "usage: bench/scenarios.sh DATA [SCENARIO...]"

bench=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$bench")
data=$(cd "$1" && pwd) || die "no such DATA directory: $1"
shift
every=(debian-first debian-nochange debian-nochange-own debian-small debian-big
       many-first many-nochange many-nochange-own large-first
       debian-unpack many-unpack large-unpack)
if [ $# -gt 0 ]; then chosen=("$@"); else chosen=("${every[@]}"); fi
runs=${RUNS:-5}
[[ $runs =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive number"
stats=${STATS:-0}
fixed_mtime=1700000000

# ---- scenario definitions ----------------------------------------------------------
# define NAME: op (repack|unpack), layout (under DATA/layouts), from (tag unpacked),
# edit (what is done to the rootfs before repacking), bundles (own: each tool unpacks
# its own bundle; umoci: both bundles from umoci's unpack), inplace (0|1), target
# (ratio ours/umoci to stay under).
define() {
    op=repack from='' edit=none bundles=own inplace=0
    case $1 in
        debian-first)        layout=empty from=base edit=tree:debian target=0.30 ;;
        debian-nochange)     layout=debian bundles=umoci target=0.40 ;;
        debian-nochange-own) layout=debian inplace=1 target=0.05 ;;
        debian-small)        layout=debian edit=small inplace=1 target=0.06 ;;
        debian-big)          layout=debian edit=big inplace=1 target=0.30 ;;
        many-first)          layout=empty from=base edit=tree:many-small target=0.25 ;;
        many-nochange)       layout=many-small bundles=umoci target=0.40 ;;
        many-nochange-own)   layout=many-small inplace=1 target=0.05 ;;
        large-first)         layout=empty from=base edit=tree:few-large target=- ;;
        debian-unpack)       op=unpack layout=debian target=0.40 ;;
        many-unpack)         op=unpack layout=many-small target=0.30 ;;
        large-unpack)        op=unpack layout=few-large target=0.45 ;;
        *) return 1 ;;
    esac
    from=${from:-$layout}
}

# ---- preflight -----------------------------------------------------------------------
for s in "${chosen[@]}"; do
    define "$s" || die "unknown scenario '$s' (known: ${every[*]})"
    [ -e "$data/layouts/$layout.done" ] || die "$data/layouts/$layout missing: run bench/workloads.sh $data"
    case $edit in
        tree:*) t=${edit#tree:} ;; small) t=small-add ;; big) t=mixed-500 ;; *) t= ;;
    esac
    [ -z "$t" ] || [ -e "$data/trees/$t.done" ] || die "$data/trees/$t missing: run bench/workloads.sh $data"
done
for tool in umoci skopeo python3 tar sha256sum; do
    command -v "$tool" >/dev/null || die "$tool not found (see bench/README.md)"
done
[ -x /usr/bin/time ] || die "/usr/bin/time not found (apt-get install time)"

if [ -z "${BIN:-}" ]; then
    say "building repack-host (cargo build --release -p repack-host)"
    (cd "$repo" && cargo build --release -q -p repack-host)
    BIN=$repo/target/release/repack-host
fi
[ -x "$BIN" ] || die "BIN=$BIN is not executable"
stats_flag=()
if [ "$stats" = 1 ]; then
    "$BIN" run --help 2>/dev/null | grep -q -- '--stats' || die "STATS=1, but $BIN run has no --stats"
    stats_flag=(--stats)
fi

work=${WORK:-$data/scratch}
mkdir -p "$work"
work=$(cd "$work" && pwd)
logs=$work/logs
checks=$work/checks
results=$work/results.tsv
mkdir -p "$logs" "$checks"

# ---- helpers -------------------------------------------------------------------------
# command_for TOOL OP LAYOUT TAG BUNDLE: sets the array cmd.
command_for() {
    local tool=$1 op=$2 ref=$3:$4 bundle=$5
    case $tool:$op in
        umoci:unpack) cmd=(umoci unpack --image "$ref" "$bundle") ;;
        umoci:repack) cmd=(umoci repack --image "$ref" "$bundle") ;;
        ours:unpack)  cmd=("$BIN" unpack --image "$ref" "$bundle") ;;
        ours:repack)  cmd=("$BIN" run --image "$ref" "$bundle" "${stats_flag[@]}") ;;
    esac
}

# measure LOG CMD...: runs CMD (output to LOG); sets wall user sys cpu rss (KiB) rc.
measure() {
    local log=$1 tv=$work/time-v.txt start end
    shift
    start=$(date +%s%N)
    if /usr/bin/time -v -o "$tv" "$@" >"$log" 2>&1; then rc=0; else rc=$?; fi
    end=$(date +%s%N)
    wall=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
    user=$(awk -F': ' '/User time \(seconds\)/ { printf "%.3f", $2 }' "$tv")
    sys=$(awk -F': ' '/System time \(seconds\)/ { printf "%.3f", $2 }' "$tv")
    rss=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$tv")
    cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.3f", u + s }')
}

# median of the numbers in the arguments ("-" when there are none)
median() {
    printf '%s\n' "$@" | awk 'NF' | sort -g |
        awk '{ v[NR] = $1 } END { if (!NR) print "-"; else if (NR % 2) print v[(NR + 1) / 2];
                                  else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
divide() {  # divide A B -> A/B to 2 places, "-" when not a number
    awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || a == "" || b == "" || b + 0 == 0) print "-";
                                     else printf "%.2f", a / b }'
}
to_mib() { awk -v k="$1" 'BEGIN { if (k == "-" || k == "") print "-"; else printf "%.0f", k / 1024 }'; }

# added_layer LAYOUT NEW FROM: "BYTES BLOB" of the layers NEW has and FROM has not
# (BLOB: the last of them, "-" when none; "- -" when NEW is missing).
added_layer() {
    python3 - "$@" <<'PY'
import json, os, sys
root, new, old = sys.argv[1:4]
def load(digest):
    algo, hexa = digest.split(":", 1)
    with open(os.path.join(root, "blobs", algo, hexa)) as f:
        return json.load(f)
with open(os.path.join(root, "index.json")) as f:
    tags = {d.get("annotations", {}).get("org.opencontainers.image.ref.name"): d
            for d in json.load(f)["manifests"]}
if new not in tags:
    print("- -")
    sys.exit()
layers = lambda tag: load(tags[tag]["digest"])["layers"] if tag in tags else []
before = {l["digest"] for l in layers(old)}
added = [l for l in layers(new) if l["digest"] not in before]
last = os.path.join(root, "blobs", *added[-1]["digest"].split(":", 1)) if added else "-"
print(sum(l["size"] for l in added), last)
PY
}

# The small edit: 10 files added, 5 modified, 5 deleted (one a directory). Touched
# entries get a fixed mtime, so both tools' layers can be compared entry by entry.
edit_small() {
    local root=$1 p
    for p in etc/passwd etc/group etc/issue etc/motd usr/bin/ls usr/share/doc/apt \
             etc/issue.net etc/xattr.conf etc/host.conf usr/bin/sdiff; do
        [ -e "$root/$p" ] || [ -L "$root/$p" ] || die "small edit: /$p is not in the rootfs"
    done
    mkdir -p "$root/opt/bench-small"
    cp -a "$data/trees/small-add/." "$root/opt/bench-small/"
    echo 'benchuser:x:4242:4242:benchmark:/nonexistent:/usr/sbin/nologin' >>"$root/etc/passwd"
    echo 'benchuser:x:4242:' >>"$root/etc/group"
    echo 'repack benchmark' >>"$root/etc/issue"
    echo 'This rootfs was changed by the small-edit scenario.' >"$root/etc/motd"
    printf '\0benchmark' >>"$root/usr/bin/ls"
    rm -rf "$root/usr/share/doc/apt"
    rm -f "$root/etc/issue.net" "$root/etc/xattr.conf" "$root/etc/host.conf" "$root/usr/bin/sdiff"
    touch -d "@$fixed_mtime" "$root/etc/passwd" "$root/etc/group" "$root/etc/issue" \
        "$root/etc/motd" "$root/usr/bin/ls" "$root/etc" "$root/usr/bin" "$root/usr/share/doc" \
        "$root/opt" "$root/opt/bench-small"
}

apply_edit() {  # apply_edit ROOTFS EDIT
    case $2 in
        none) ;;
        tree:*) cp -a "$data/trees/${2#tree:}/." "$1/" ;;
        small) edit_small "$1" ;;
        big)
            mkdir -p "$1/opt/bench-big"
            cp -a "$data/trees/mixed-500/." "$1/opt/bench-big/"
            touch -d "@$fixed_mtime" "$1/opt" ;;
    esac
}

# prepare TOOL: WORK/prep-TOOL/{layout,bundle}, the state every timed run starts from.
prepare() {
    local tool=$1 dir=$work/prep-$1 maker
    rm -rf "$dir"
    mkdir -p "$dir"
    cp -a "$data/layouts/$layout" "$dir/layout"
    if [ "$op" = repack ]; then
        maker=$tool
        [ "$bundles" = own ] || maker=umoci
        command_for "$maker" unpack "$dir/layout" "$from" "$dir/bundle"
        if ! "${cmd[@]}" >"$logs/$scenario.prepare-$tool.log" 2>&1; then
            say "!! $scenario: preparing the bundle for $tool failed ($maker unpack):"
            tail -n 5 "$logs/$scenario.prepare-$tool.log" >&2
            return 1
        fi
        apply_edit "$dir/bundle/rootfs" "$edit"
        # In place, every run must find the bundle as the edit left it: our run rewrites
        # its stat cache, so keep the unpack's to put back before each run.
        if [ "$inplace" = 1 ] && [ -f "$dir/bundle/repack.statcache" ]; then
            cp -p "$dir/bundle/repack.statcache" "$dir/statcache.saved"
        fi
    fi
    sync
}

# Light checks of run 1. Repack: skopeo reads the new image; the layer's listing
# (tar -tv, sorted) is kept in full and as type+name. Unpack: a fingerprint of the
# rootfs (path type mode uid gid size, then the sha256 of every regular file).
check_repack() {
    local tool=$1 root=$2 blob=$3 base
    base=$checks/$scenario.$tool
    if skopeo inspect "oci:$root/layout:new" >"$base.skopeo" 2>&1; then
        check_skopeo[$scenario.$tool]=ok
    else
        check_skopeo[$scenario.$tool]=FAIL
    fi
    if [ "$blob" = - ]; then
        : >"$base.list"
    else
        tar --numeric-owner -tvf "$blob" | LC_ALL=C sort >"$base.list" || true
    fi
    sed -E 's/^(.)[^ ]* +[^ ]+ +[^ ]+ +[^ ]+ +[^ ]+ (.*)$/\1 \2/; s/ -> .*$//; s/ link to .*$//' \
        "$base.list" | LC_ALL=C sort >"$base.names"
}
check_unpack() {
    local tool=$1 rootfs=$2 base
    base=$checks/$scenario.$tool
    (
        cd "$rootfs"
        {
            find . -mindepth 1 ! -type d -printf '%P\t%y\t%m\t%U\t%G\t%s\n'
            find . -mindepth 1 -type d -printf '%P\t%y\t%m\t%U\t%G\n'
        } | LC_ALL=C sort
        find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum
    ) >"$base.tree"
}

# ---- warm-up -------------------------------------------------------------------------
warm=$(mktemp -d "$work/warmup.XXXXXX")
start=$(date +%s%N)
{
    "$BIN" init --layout "$warm/layout"
    "$BIN" new --image "$warm/layout:base"
    "$BIN" unpack --image "$warm/layout:base" "$warm/bundle"
    "$BIN" run --image "$warm/layout:new" "$warm/bundle"
} >"$logs/warmup.log" 2>&1 || { cat "$logs/warmup.log" >&2; die "warm-up of $BIN failed"; }
warmup_s=$(awk -v a="$start" -v b="$(date +%s%N)" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')
rm -rf "$warm"

fs_type=$(stat -f -c %T "$work")
header="runs=$runs, $(nproc) CPUs, WORK on $fs_type; $("$BIN" --version) ($BIN) vs $(umoci --version)"
say "# $(date -u +%FT%TZ) $header"
say "# warm-up (untimed): init/new/unpack/run with $BIN in ${warmup_s}s, so its component is compiled and cached" \
    "(${REPACK_CACHE_DIR:+REPACK_CACHE_DIR=$REPACK_CACHE_DIR}${REPACK_CACHE_DIR:-default cache dir}) before any timed run"

[ -s "$results" ] || printf 'date\tscenario\top\ttool\trun\tbundle_from\tinplace\twall_s\tuser_s\tsys_s\tcpu_s\tpeak_rss_kib\texit\tlayer_bytes\tcommand\n' >"$results"

declare -A walls cpus rsss layer_bytes failed pairs check_skopeo
tools=(umoci ours)

# ---- the runs ------------------------------------------------------------------------
for scenario in "${chosen[@]}"; do
    define "$scenario"
    if [ "$op" = repack ]; then
        say "== $scenario: repack of $layout:$from, edit $edit, bundles by $([ "$bundles" = own ] && echo 'each tool' || echo umoci)$([ "$inplace" = 0 ] || echo ', in place')"
    else
        say "== $scenario: unpack of $layout:$from"
    fi
    ready=1
    for tool in "${tools[@]}"; do prepare "$tool" || ready=0; done
    if [ "$ready" = 0 ]; then
        failed[$scenario.umoci]=prepare failed[$scenario.ours]=prepare
        continue
    fi
    for run in $(seq 1 "$runs"); do
        declare -A this_wall=()
        for tool in "${tools[@]}"; do
            prep=$work/prep-$tool
            rm -rf "$work/run"
            if [ "$op" = unpack ]; then
                mkdir -p "$work/run"
                root=$work/run
                command_for "$tool" unpack "$prep/layout" "$from" "$root/bundle"
            elif [ "$inplace" = 1 ]; then
                root=$prep
                if [ -f "$prep/statcache.saved" ]; then
                    cp -p "$prep/statcache.saved" "$prep/bundle/repack.statcache"
                fi
                command_for "$tool" repack "$root/layout" new "$root/bundle"
            else
                cp -a "$prep" "$work/run"
                root=$work/run
                command_for "$tool" repack "$root/layout" new "$root/bundle"
            fi
            sync
            log=$logs/$scenario.$tool.run$run.log
            measure "$log" "${cmd[@]}"
            bytes=- blob=-
            if [ "$rc" != 0 ]; then
                failed[$scenario.$tool]="exit $rc"
                say "!! $scenario $tool run $run exited $rc:"
                tail -n 5 "$log" >&2
            elif [ "$op" = repack ]; then
                read -r bytes blob < <(added_layer "$root/layout" new "$from")
            fi
            walls[$scenario.$tool]+="$wall "
            cpus[$scenario.$tool]+="$cpu "
            rsss[$scenario.$tool]+="$rss "
            this_wall[$tool]=$wall
            [ "$run" != 1 ] || layer_bytes[$scenario.$tool]=$bytes
            if [ "$run" = 1 ] && [ "$rc" = 0 ]; then
                if [ "$op" = repack ]; then check_repack "$tool" "$root" "$blob"
                else check_unpack "$tool" "$root/bundle/rootfs"; fi
            fi
            bundle_from=-
            if [ "$op" = repack ]; then
                bundle_from=umoci
                [ "$bundles" != own ] || bundle_from=$tool
            fi
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
                "$(date -u +%FT%TZ)" "$scenario" "$op" "$tool" "$run" \
                "$bundle_from" \
                "$inplace" "$wall" "$user" "$sys" "$cpu" "$rss" "$rc" "$bytes" "${cmd[*]}" >>"$results"
            say "   run $run $tool: ${wall}s wall, ${cpu}s cpu, $(to_mib "$rss") MiB peak RSS, layer $bytes bytes, exit $rc"
            if [ "$stats" = 1 ] && [ "$tool" = ours ] && [ "$op" = repack ]; then
                sed 's/^/      /' "$log" >&2
            fi
        done
        if [ -z "${failed[$scenario.umoci]:-}" ] && [ -z "${failed[$scenario.ours]:-}" ]; then
            pairs[$scenario]+="$(divide "${this_wall[ours]}" "${this_wall[umoci]}") "
        fi
    done
    rm -rf "$work/run" "$work/prep-umoci" "$work/prep-ours"
done
rm -f "$work/time-v.txt"

# ---- report --------------------------------------------------------------------------
report() {
    echo "Side by side, $header."
    echo "Medians of $runs runs per tool, interleaved; ratio = median of the per-run ratios ours/umoci"
    echo "of wall time; cpu = user + sys; peak RSS = the largest process (/usr/bin/time -v)."
    echo "Our compiled component was cached by an untimed warm-up run (${warmup_s}s) before timing."
    echo
    echo "| scenario | op | umoci wall s (median) | ours wall s (median) | ratio (median of paired ratios) | target | umoci cpu s | ours cpu s | umoci peak RSS MiB | ours peak RSS MiB | umoci layer bytes | ours layer bytes | layer size ratio |"
    echo "|---|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|"
    local s u o ratio verdict
    for s in "${chosen[@]}"; do
        define "$s"
        # shellcheck disable=SC2086 # the lists are space-separated numbers
        {
            u=$(median ${walls[$s.umoci]:-})${failed[$s.umoci]:+ (failed: ${failed[$s.umoci]})}
            o=$(median ${walls[$s.ours]:-})${failed[$s.ours]:+ (failed: ${failed[$s.ours]})}
            ratio=$(median ${pairs[$s]:-})
            [ "$ratio" = - ] || ratio=$(divide "$ratio" 1)
            uc=$(median ${cpus[$s.umoci]:-}); oc=$(median ${cpus[$s.ours]:-})
            ur=$(to_mib "$(median ${rsss[$s.umoci]:-})"); or=$(to_mib "$(median ${rsss[$s.ours]:-})")
        }
        verdict=
        if [ "$target" = - ]; then
            target_text=-
        else
            target_text="≤ $target"
        fi
        if [ "$ratio" != - ] && [ "$target" != - ]; then
            if awk -v r="$ratio" -v t="$target" 'BEGIN { exit !(r <= t) }'; then verdict=" met"; else verdict=" missed"; fi
        fi
        ub=${layer_bytes[$s.umoci]:--}; ob=${layer_bytes[$s.ours]:--}
        [ "$op" = repack ] || { ub=-; ob=-; }
        # Layers may be at most 1.05 times the size of umoci's.
        size=$(divide "$ob" "$ub")
        if [ "$size" != - ] && [ "$ub" != 0 ]; then
            if awk -v r="$size" 'BEGIN { exit !(r <= 1.05) }'; then size="$size (≤ 1.05)"; else size="$size (over 1.05)"; fi
        fi
        echo "| $s | $op | $u | $o | $ratio | $target_text$verdict | $uc | $oc | $ur | $or | $ub | $ob | $size |"
    done
    echo
    echo "Checks of run 1 (repack: skopeo inspect of the new image, the layer's entries as type+name"
    echo "and as the full sorted tar -tv listing; unpack: path, type, mode, owner, size and sha256 of the tree):"
    echo
    echo "| scenario | skopeo umoci/ours | entries umoci/ours | same entries | same full listing |"
    echo "|---|---|---|---|---|"
    local b n1 n2 same full
    for s in "${chosen[@]}"; do
        define "$s"
        b=$checks/$s
        if [ "$op" = repack ]; then
            if [ -e "$b.umoci.names" ] && [ -e "$b.ours.names" ]; then
                n1=$(wc -l <"$b.umoci.names"); n2=$(wc -l <"$b.ours.names")
                if cmp -s "$b.umoci.names" "$b.ours.names"; then same=yes; else same=NO; fi
                if cmp -s "$b.umoci.list" "$b.ours.list"; then full=yes; else full=no; fi
            else
                n1=-; n2=-; same=-; full=-
            fi
            echo "| $s | ${check_skopeo[$s.umoci]:--}/${check_skopeo[$s.ours]:--} | $n1/$n2 | $same | $full |"
        else
            if [ -e "$b.umoci.tree" ] && [ -e "$b.ours.tree" ]; then
                n1=$(grep -c $'\t' "$b.umoci.tree"); n2=$(grep -c $'\t' "$b.ours.tree")
                if cmp -s "$b.umoci.tree" "$b.ours.tree"; then same=yes; else same=NO; fi
            else
                n1=-; n2=-; same=-
            fi
            echo "| $s | - | $n1/$n2 | $same (tree) | - |"
        fi
    done
    echo
    echo "Raw rows: $results; logs: $logs; listings and fingerprints: $checks"
}
report | tee "$work/summary.md"
