// Instance reuse: node --test hosts/node/test (REPACK_COMPONENT and REPACK_JCO_CACHE set).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { JobError, RepackHost } from '../index.mjs';

const component = process.env.REPACK_COMPONENT;
const cacheDir = process.env.REPACK_JCO_CACHE;

test('jobs share one instance; a guest failure keeps it, a host exception replaces it', async () => {
  assert.ok(component && cacheDir, 'REPACK_COMPONENT and REPACK_JCO_CACHE must be set');
  const scratch = mkdtempSync(join(tmpdir(), 'repack-node-'));
  try {
    const tree = join(scratch, 'tree');
    mkdirSync(join(tree, 'd'), { recursive: true });
    writeFileSync(join(tree, 'd', 'f'), 'x');
    const host = await RepackHost.load({ component, cacheDir });

    const first = await host.mtree(tree);
    assert.ok(host.lastInstantiateMs > 0);
    const second = await host.mtree(tree);
    assert.equal(host.lastInstantiateMs, 0);
    assert.equal(host.instances, 1);
    const entries = (text) => text.split('\n').filter((l) => !l.startsWith('#'));
    assert.deepEqual(entries(second), entries(first));

    // A guest failure (a name the layer format reserves) is a JobError naming the
    // object; the instance goes on.
    writeFileSync(join(tree, 'd', '.wh.bad'), '');
    await assert.rejects(host.layer(tree, join(scratch, 'bad.tar')), (e) => {
      assert.ok(e instanceof JobError, String(e));
      assert.match(e.message, /\.wh\.bad/);
      return true;
    });
    await host.mtree(tree);
    assert.equal(host.instances, 1);

    // A host exception (here: arguments the bindings cannot lower) drops the
    // instance; the next job gets a fresh one and succeeds.
    await assert.rejects(host.mtree(tree, { user: undefined, machine: undefined, tree: 42, date: '' }));
    const after = await host.mtree(tree);
    assert.equal(host.instances, 2);
    assert.ok(host.lastInstantiateMs > 0);
    assert.ok(after.includes('.wh.bad'));
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
});
