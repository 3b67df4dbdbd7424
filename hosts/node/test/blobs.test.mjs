// blob-writer.write-file on its own: node --test hosts/node/test. The host reads the
// file through the Dir's confinement and appends exactly the size the guest gave.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { BlobWriter } from '../blobs.mjs';
import { Dir } from '../fs.mjs';

const b = (s) => Buffer.from(s);

/** A granted `root/` with `f` (6 bytes), `big` (3 MiB), `link -> ../outside`. */
function setup(t) {
  const dir = mkdtempSync(join(tmpdir(), 'repack-node-blobs-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'root'));
  mkdirSync(join(dir, 'outside'));
  writeFileSync(join(dir, 'outside/f'), 'outside');
  writeFileSync(join(dir, 'root/f'), 'inside');
  const big = Buffer.alloc(3 << 20);
  for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
  writeFileSync(join(dir, 'root/big'), big);
  symlinkSync('../outside/f', join(dir, 'root/link'));
  const root = Dir.open(join(dir, 'root'));
  t.after(() => root.close());
  const writer = BlobWriter.create(join(dir, 'layer'));
  return { dir, root, writer, big };
}

/** `fn` fails with the `write-file-error` case `part` holding `fs.error` `tag`. */
function fails(fn, part, tag) {
  assert.throws(fn, (e) => {
    assert.equal(e.payload.tag, part, String(e));
    assert.equal(e.payload.val.tag, tag, String(e));
    return true;
  });
}

test('write-file appends the file between the bytes around it', (t) => {
  const { dir, root, writer, big } = setup(t);
  writer.write(b('head'));
  const meta = writer.writeFile(root, b('f'), 6n);
  assert.equal(meta.kind, 'regular');
  assert.equal(meta.size, 6n);
  writer.writeFile(root, b('big'), BigInt(big.length));
  writer.write(b('tail'));
  const { size } = writer.finish();
  assert.equal(size, 4 + 6 + big.length + 4);
  const layer = readFileSync(join(dir, 'layer'));
  assert.ok(layer.equals(Buffer.concat([b('headinside'), big, b('tail')])));
});

test('write-file refuses symlinks, other kinds and a wrong size, appending nothing', (t) => {
  const { dir, root, writer } = setup(t);
  fails(() => writer.writeFile(root, b('link'), 7n), 'file', 'not-supported');
  fails(() => writer.writeFile(root, b(''), 0n), 'file', 'not-supported');
  fails(() => writer.writeFile(root, b('../outside/f'), 7n), 'file', 'escapes-root');
  fails(() => writer.writeFile(root, b('missing'), 1n), 'file', 'not-found');
  fails(() => writer.writeFile(root, b('f'), 5n), 'file', 'io');
  fails(() => writer.writeFile(root, b('f'), 7n), 'file', 'io');
  assert.equal(writer.finish().size, 0);
  assert.equal(readFileSync(join(dir, 'layer')).length, 0);
});
