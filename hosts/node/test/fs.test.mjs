// The fs imports on their own: node --test hosts/node/test. A writable handle never
// acts through a symlink; a read-only one refuses every write.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync,
  statSync, symlinkSync, writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Dir, FsError, xattrSupport } from '../fs.mjs';

const xattr = xattrSupport ? await import('fs-xattr') : null;

const b = (s) => Buffer.from(s);
const T = { seconds: 1700000000n, nanoseconds: 250_000_000 };

/** A scratch dir with `root/` (granted) holding `link -> ../outside` and `outside/f`. */
function setup(t) {
  const dir = mkdtempSync(join(tmpdir(), 'repack-node-fs-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'root'));
  mkdirSync(join(dir, 'outside'));
  writeFileSync(join(dir, 'outside/f'), 'outside', { mode: 0o644 });
  symlinkSync(join(dir, 'outside'), join(dir, 'root/link'));
  symlinkSync('../outside/f', join(dir, 'root/filelink'));
  return dir;
}

function fails(fn, tag) {
  assert.throws(fn, (e) => {
    assert.ok(e instanceof FsError, String(e));
    assert.equal(e.payload.tag, tag);
    return true;
  });
}

test('a read-only handle refuses every write with permission-denied', (t) => {
  const dir = setup(t);
  const root = Dir.open(join(dir, 'root'));
  t.after(() => root.close());
  fails(() => root.mkdir(b('d'), 0o755), 'permission-denied');
  fails(() => root.createFile(b('f'), 0o644), 'permission-denied');
  fails(() => root.symlink(b('s'), b('x')), 'permission-denied');
  fails(() => root.hardLink(b('h'), b('link')), 'permission-denied');
  fails(() => root.mknod(b('p'), 'fifo', 0o600, 0, 0), 'permission-denied');
  fails(() => root.setOwner(b('link'), 0, 0), 'permission-denied');
  fails(() => root.setMode(b(''), 0o700), 'permission-denied');
  fails(() => root.setTimes(b('link'), T, undefined), 'permission-denied');
  fails(() => root.setXattr(b(''), b('user.x'), b('v')), 'permission-denied');
  fails(() => root.removeXattr(b(''), b('user.x')), 'permission-denied');
  fails(() => root.remove(b('link')), 'permission-denied');
  assert.equal(readlinkSync(join(dir, 'root/link')), join(dir, 'outside'));
});

test('a writable handle never writes through a symlink', (t) => {
  const dir = setup(t);
  const root = Dir.open(join(dir, 'root'), { writable: true });
  t.after(() => root.close());
  fails(() => root.createFile(b('link/new'), 0o644), 'escapes-root');
  fails(() => root.mkdir(b('link/d'), 0o755), 'escapes-root');
  fails(() => root.symlink(b('link/s'), b('x')), 'escapes-root');
  fails(() => root.mknod(b('link/p'), 'fifo', 0o600, 0, 0), 'escapes-root');
  fails(() => root.setMode(b('link/f'), 0o777), 'escapes-root');
  fails(() => root.remove(b('link/f')), 'escapes-root');
  fails(() => root.createFile(b('../outside/new'), 0o644), 'escapes-root');
  fails(() => root.createFile(b('/tmp/new'), 0o644), 'escapes-root');
  // A final symlink is the object itself: refused where it would be followed,
  // changed itself where that is possible.
  fails(() => root.createFile(b('filelink'), 0o644), 'io');
  fails(() => root.setMode(b('filelink'), 0o777), 'not-supported');
  root.setTimes(b('filelink'), T, T);
  assert.equal(lstatSync(join(dir, 'root/filelink')).mtimeMs, 1700000000250);
  assert.notEqual(statSync(join(dir, 'outside/f')).mtimeMs, 1700000000250);
  root.hardLink(b('hard'), b('filelink'));
  assert.equal(lstatSync(join(dir, 'root/hard')).isSymbolicLink(), true);
  root.remove(b('link'));
  assert.equal(existsSync(join(dir, 'root/link')), false);
  assert.equal(readFileSync(join(dir, 'outside/f'), 'utf8'), 'outside');
  assert.equal(lstatSync(join(dir, 'outside/f')).mode & 0o777, 0o644);
});

test('writes make the objects asked for, a skip makes a hole, remove takes a tree', (t) => {
  const dir = setup(t);
  const root = Dir.open(join(dir, 'root'), { writable: true });
  t.after(() => root.close());
  root.mkdir(b('a'), 0o755);
  root.mkdir(b('a/b'), 0o755);
  const name = Buffer.concat([b('a/b/caf'), Buffer.from([0xe9])]);
  const w = root.createFile(name, 0o600);
  w.write(b('head'));
  w.skip(4n << 20n);
  w.write(b('tail'));
  w[Symbol.dispose || Symbol.for('dispose')]();
  const path = Buffer.concat([Buffer.from(join(dir, 'root/')), name]);
  const st = lstatSync(path);
  assert.equal(st.size, 8 + (4 << 20));
  assert.ok(st.blocks * 512 < 1 << 20, `a hole: ${st.blocks} blocks`);
  assert.equal(readFileSync(path).subarray(4, 8).toString('hex'), '00000000');
  fails(() => root.createFile(name, 0o600), 'io'); // exists
  root.setMode(b('a/b'), 0o2750);
  assert.equal(lstatSync(join(dir, 'root/a/b')).mode & 0o7777, 0o2750);
  root.mknod(b('a/fifo'), 'fifo', 0o640, 0, 0);
  assert.equal(lstatSync(join(dir, 'root/a/fifo')).isFIFO(), true);
  assert.equal(lstatSync(join(dir, 'root/a/fifo')).mode & 0o7777, 0o640);
  root.symlink(b('a/b/up'), b('../../../outside'));
  root.setTimes(b(''), T, undefined);
  assert.equal(statSync(join(dir, 'root')).mtimeMs, 1700000000250);
  root.remove(b('a'));
  assert.equal(existsSync(join(dir, 'root/a')), false);
  assert.equal(readFileSync(join(dir, 'outside/f'), 'utf8'), 'outside');
  fails(() => root.metadata(b('a/b')), 'not-found');
});

test('xattrs of a symlink are its own, never its target\'s', (t) => {
  const root = process.getuid() === 0;
  if (process.env.CI === 'true') assert.ok(root && xattrSupport, 'CI runs this as root with fs-xattr built');
  if (!root || !xattrSupport) {
    t.skip('needs root (trusted.* on a symlink) and the fs-xattr addon');
    return;
  }
  const dir = setup(t);
  xattr.setAttributeSync(join(dir, 'outside/f'), 'user.target', 'outside');
  const handle = Dir.open(join(dir, 'root'), { writable: true });
  t.after(() => handle.close());
  handle.setXattr(b('filelink'), b('trusted.link'), b('mine'));
  assert.deepEqual(xattr.listAttributesSync(join(dir, 'outside/f')), ['user.target']);
  const own = handle.xattrs(b('filelink')).map(([n, v]) => [n.toString(), v.toString()]);
  assert.deepEqual(own, [['trusted.link', 'mine']]);
  handle.removeXattr(b('filelink'), b('trusted.link'));
  assert.deepEqual(handle.xattrs(b('filelink')), []);
  fails(() => handle.setXattr(b('filelink'), Buffer.from([0xff]), b('v')), 'not-supported');
});
