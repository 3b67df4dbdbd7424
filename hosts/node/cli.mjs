#!/usr/bin/env node
// node cli.mjs mtree DIR                          print DIR's mtree manifest
// node cli.mjs layer DIR OUT.tar [--manifest M]   write DIR's changes against manifest
//                                                 M (none: everything is added) as an
//                                                 uncompressed layer; print its diff_id
// node cli.mjs unpack LAYER.tar DIR               apply the uncompressed layer onto the
//                                                 existing directory DIR (owners as in
//                                                 the layer); warnings go to stderr
//
// The component: $REPACK_COMPONENT, else component/repack.wasm beside this file (write
// it with `repack-host component --out hosts/node/component`). Its transpiled form is
// cached in $REPACK_JCO_CACHE, else component/jco/, keyed by the wasm's sha256.
// Errors are one line on stderr and exit status 1.

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { RepackHost } from './index.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const usage = 'usage: cli.mjs mtree DIR | layer DIR OUT.tar [--manifest M] | unpack LAYER.tar DIR';

async function main(args) {
  const component = process.env.REPACK_COMPONENT || join(here, 'component', 'repack.wasm');
  const cacheDir = process.env.REPACK_JCO_CACHE || join(here, 'component', 'jco');
  const [verb, ...rest] = args;
  if (verb === 'mtree' && rest.length === 1) {
    const host = await RepackHost.load({ component, cacheDir });
    process.stdout.write(await host.mtree(rest[0]));
  } else if (verb === 'layer' && (rest.length === 2 || (rest.length === 4 && rest[2] === '--manifest'))) {
    const manifest = rest.length === 4 ? readFileSync(rest[3], 'utf8') : '';
    const host = await RepackHost.load({ component, cacheDir });
    const { diffId } = await host.layer(rest[0], rest[1], { manifest });
    process.stdout.write(`${diffId}\n`);
  } else if (verb === 'unpack' && rest.length === 2) {
    const host = await RepackHost.load({ component, cacheDir });
    for (const warning of await host.unpackLayer(rest[1], rest[0])) {
      process.stderr.write(`cli.mjs: warning: ${warning}\n`);
    }
  } else {
    throw new Error(usage);
  }
}

main(process.argv.slice(2)).catch((e) => {
  process.stderr.write(`cli.mjs: ${e && e.message ? e.message : e}\n`);
  process.exit(1);
});
