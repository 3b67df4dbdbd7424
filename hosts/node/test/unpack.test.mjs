// unpack-layer under Node: node --test hosts/node/test (REPACK_COMPONENT and
// REPACK_JCO_CACHE set).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync,
  symlinkSync, writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { RepackHost } from '../index.mjs';
import { tar } from '../test-support/tar.mjs';

const component = process.env.REPACK_COMPONENT;
const cacheDir = process.env.REPACK_JCO_CACHE;
const entries = (text) => text.split('\n').filter((l) => !l.startsWith('#')).join('\n');

let hostPromise = null;
const host = () => {
  assert.ok(component && cacheDir, 'REPACK_COMPONENT and REPACK_JCO_CACHE must be set');
  hostPromise ??= RepackHost.load({ component, cacheDir });
  return hostPromise;
};

function scratch(t) {
  const dir = mkdtempSync(join(tmpdir(), 'repack-node-unpack-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('a layer a tree repacks to unpacks to the same manifest', async (t) => {
  const dir = scratch(t);
  const tree = join(dir, 'tree');
  mkdirSync(join(tree, 'etc/deep/er'), { recursive: true });
  writeFileSync(join(tree, 'etc/hosts'), '127.0.0.1 localhost\n', { mode: 0o600 });
  writeFileSync(join(tree, 'etc/deep/er/big'), Buffer.alloc(300_000, 7));
  writeFileSync(Buffer.concat([Buffer.from(join(tree, 'caf')), Buffer.from([0xe9])]), 'x');
  symlinkSync('/etc/hosts', join(tree, 'abs'));
  symlinkSync('etc/deep', join(tree, 'rel'));
  const h = await host();
  const layer = join(dir, 'layer.tar');
  const { diffId } = await h.layer(tree, layer);

  const out = join(dir, 'out');
  mkdirSync(out);
  assert.deepEqual(await h.unpackLayer(out, layer, { diffId }), []);
  assert.equal(entries(await h.mtree(out)), entries(await h.mtree(tree)));
  assert.equal(readlinkSync(join(out, 'abs')), '/etc/hosts');
  assert.equal(lstatSync(join(out, 'etc/hosts')).mode & 0o7777, 0o600);
});

test('a layer entry below a symlink of the rootfs never lands outside it', async (t) => {
  const dir = scratch(t);
  const outside = join(dir, 'outside');
  mkdirSync(outside);
  const out = join(dir, 'out');
  mkdirSync(out);
  const layer = join(dir, 'evil.tar');
  writeFileSync(
    layer,
    tar([
      { name: 'abs', type: '2', linkname: outside, mode: 0o777 },
      { name: 'up', type: '2', linkname: '../../../../../../..' + outside, mode: 0o777 },
      { name: 'abs/pwned', data: 'abs' },
      { name: 'up/pwned2', data: 'up' },
    ]),
  );
  // The guest resolves a symlink in an entry's path inside the rootfs, as umoci does:
  // both files land below `out`, at the path the symlink names, and nothing outside.
  assert.deepEqual(await (await host()).unpackLayer(out, layer), []);
  assert.deepEqual(
    [existsSync(join(outside, 'pwned')), existsSync(join(outside, 'pwned2'))],
    [false, false],
  );
  assert.equal(readFileSync(join(out, outside, 'pwned'), 'utf8'), 'abs');
  assert.equal(readFileSync(join(out, outside, 'pwned2'), 'utf8'), 'up');
  assert.equal(lstatSync(join(out, 'abs')).isSymbolicLink(), true);
});

test('a layer whose bytes do not match its digest fails', async (t) => {
  const dir = scratch(t);
  const out = join(dir, 'out');
  mkdirSync(out);
  const layer = join(dir, 'layer.tar');
  const bytes = tar([{ name: 'f', data: 'contents' }]);
  writeFileSync(layer, bytes);
  const wrong = `sha256:${createHash('sha256').update('something else').digest('hex')}`;
  await assert.rejects((await host()).unpackLayer(out, layer, { diffId: wrong }), /mismatch/);
});

test('a compressed layer needs its diff_id', async (t) => {
  const dir = scratch(t);
  const layer = join(dir, 'layer.tar.gz');
  writeFileSync(layer, '');
  await assert.rejects(
    (await host()).unpackLayer(dir, layer, { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' }),
    /needs its diffId/,
  );
  assert.equal(readFileSync(layer).length, 0);
});
