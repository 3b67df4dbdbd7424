#!/usr/bin/env bash
# The component in three hosts on one rootfs: native `repack-host`, the Node.js package
# (hosts/node) and the Python example (hosts/python), for `mtree` and the first layer
# (everything added, uncompressed), each job a whole process, all hosts of a job in the
# same hyperfine run. Also each host's cost for an empty tree (process start, loading
# and instantiating: the fixed cost of a job) and, for Node, the load and instantiate
# times measured inside the process with a warm jco cache.
#
# Usage: bench/hosts.sh ROOTFS        (e.g. DATA/trees/debian from workloads.sh)
#
# Settings: RUNS (5 timed runs per command), WORK (scratch, default
# /dev/shm/repack-hosts-bench), PYTHON_LIMIT (600: seconds one Python mtree may take
# to be included). Needs hyperfine, node and npm, python3 with venv (else the Python
# column says so). Checks first that every host gives the same manifest entries and
# the same diff_id.
set -euo pipefail
export LC_ALL=C
rootfs=${1:?usage: bench/hosts.sh ROOTFS}
rootfs=$(cd "$rootfs" && pwd)
runs=${RUNS:-5}
work=${WORK:-/dev/shm/repack-hosts-bench}
python_limit=${PYTHON_LIMIT:-600}
cd "$(dirname "$0")/.."
repo=$PWD

cargo build --release -q -p repack-host --bin repack-host --example kit_host
bin=$repo/target/release/repack-host
kit=$repo/target/release/examples/kit_host
mkdir -p "$work"
rm -rf "$work/component" "$work/empty"
mkdir "$work/empty"
"$bin" component --out "$work/component" >/dev/null
export REPACK_COMPONENT=$work/component/repack.wasm REPACK_JCO_CACHE=$work/jco

if [ ! -d hosts/node/node_modules/@bytecodealliance/jco-transpile ]; then
  (cd hosts/node && npm ci --no-audit --no-fund >/dev/null)
fi
node=(node "$repo/hosts/node/cli.mjs")
"${node[@]}" mtree "$work/empty" >/dev/null   # transpiles once into the jco cache

python=()
if command -v python3 >/dev/null; then
  venv=$work/venv
  if [ ! -x "$venv/bin/python" ] || ! cmp -s hosts/python/requirements.txt "$venv/requirements.txt"; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --require-hashes -r hosts/python/requirements.txt
    cp hosts/python/requirements.txt "$venv/requirements.txt"
  fi
  python=("$venv/bin/python" "$repo/hosts/python/mtree.py" "$REPACK_COMPONENT")
fi

entries() { grep -v '^#' "$1"; }
echo "rootfs: $rootfs: $(find "$rootfs" | wc -l) entries, $(du -sm "$rootfs" | cut -f1) MiB"
"$bin" raw mtree "$rootfs" >"$work/native.mtree"
"${node[@]}" mtree "$rootfs" >"$work/node.mtree"
cmp -s <(entries "$work/native.mtree") <(entries "$work/node.mtree") ||
  { echo "hosts.sh: the Node manifest differs from the native one" >&2; exit 1; }
python_note=""
if [ ${#python[@]} -gt 0 ]; then
  start=$(date +%s)
  if timeout "$python_limit" "${python[@]}" "$rootfs" >"$work/python.mtree"; then
    cmp -s <(entries "$work/native.mtree") <(entries "$work/python.mtree") ||
      { echo "hosts.sh: the Python manifest differs from the native one" >&2; exit 1; }
    echo "python: one mtree in $(($(date +%s) - start)) s"
  else
    python_note="did not finish in ${python_limit} s"
    python=()
  fi
else
  python_note="no python3"
fi
rm -f "$work/native.tar" "$work/node.tar"
native_id=$("$kit" layer "$rootfs" "$work/native.tar")
node_id=$("${node[@]}" layer "$rootfs" "$work/node.tar")
[ "$native_id" = "$node_id" ] ||
  { echo "hosts.sh: diff_ids differ: native $native_id, Node $node_id" >&2; exit 1; }
echo "layer: $native_id, $(du -m "$work/native.tar" | cut -f1) MiB (both hosts)"

h=(hyperfine -N -w 1 -r "$runs" --style none)
mtree_cmds=(-n native "$bin raw mtree $rootfs" -n node "${node[*]} mtree $rootfs")
empty_cmds=(-n native "$bin raw mtree $work/empty" -n node "${node[*]} mtree $work/empty")
if [ ${#python[@]} -gt 0 ]; then
  mtree_cmds+=(-n python "${python[*]} $rootfs")
  empty_cmds+=(-n python "${python[*]} $work/empty")
fi
"${h[@]}" --export-json "$work/mtree.json" "${mtree_cmds[@]}" >/dev/null
"${h[@]}" --export-json "$work/layer.json" \
  --prepare "rm -f $work/native.tar" -n native "$kit layer $rootfs $work/native.tar" \
  --prepare "rm -f $work/node.tar" -n node "${node[*]} layer $rootfs $work/node.tar" >/dev/null
"${h[@]}" --export-json "$work/empty.json" "${empty_cmds[@]}" >/dev/null

# Node inside the process: importing the transpiled module, then the first instance
# (compiling the core wasm and instantiating); the median of RUNS processes.
for _ in $(seq "$runs"); do
  node --input-type=module -e "
    const start = performance.now();
    const { RepackHost } = await import('$repo/hosts/node/index.mjs');
    const host = await RepackHost.load({ component: process.env.REPACK_COMPONENT, cacheDir: process.env.REPACK_JCO_CACHE });
    const loaded = performance.now() - start;
    await host.mtree('$work/empty');
    console.log(loaded.toFixed(1), host.lastInstantiateMs.toFixed(1));"
done >"$work/node-instantiate.txt"

node --input-type=module - "$work" "$python_note" <<'JS'
import { readFileSync } from 'node:fs';
const [work, pythonNote] = process.argv.slice(2);
const medians = (name) => Object.fromEntries(
  JSON.parse(readFileSync(`${work}/${name}.json`)).results.map((r) => [r.command, r.median]));
const s = (t) => (t >= 10 ? `${t.toFixed(1)} s` : t >= 1 ? `${t.toFixed(2)} s` : `${(t * 1000).toFixed(0)} ms`);
const row = (label, m, python) => {
  const cell = (host) => (m[host] === undefined ? null : `${s(m[host])} (${(m[host] / m.native).toFixed(1)}x)`);
  return `| ${label} | ${s(m.native)} | ${cell('node')} | ${cell('python') ?? python} |`;
};
const lines = readFileSync(`${work}/node-instantiate.txt`, 'utf8').trim().split('\n').map((l) => l.split(' ').map(Number));
const median = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log('\nmedians of hyperfine runs, whole processes; in brackets: times native\n');
console.log('| job | native `repack-host` | Node.js | Python |');
console.log('|---|---:|---:|---:|');
console.log(row('mtree', medians('mtree'), pythonNote));
console.log(row('first layer, uncompressed (`kit_host layer` / `cli.mjs layer`)', medians('layer'), 'not implemented'));
console.log(row('empty tree (fixed cost of a job)', medians('empty'), pythonNote));
console.log(`\nNode, inside the process (median of ${lines.length}): importing the transpiled module ` +
  `${median(lines.map((l) => l[0])).toFixed(0)} ms, first instance (core wasm compile and instantiate) ` +
  `${median(lines.map((l) => l[1])).toFixed(0)} ms; later jobs reuse the instance.`);
JS
