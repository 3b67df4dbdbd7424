// repack:bundle/fs, read side, over node:fs.
//
// Confinement. Node has no openat(2), so a path cannot be resolved relative to an
// open directory the way the native host does it (cap-std). Instead every call walks
// the path one component at a time from the granted root with lstat, refusing `..`,
// absolute paths, NUL bytes and any intermediate component that is not a real
// directory (a symlink there is `escapes-root`), and then acts on the final
// component without following it (lstat, readlink, open with O_NOFOLLOW). This check
// is racy: a process that can write inside the tree can swap a checked directory for
// a symlink between the lstat and the call that uses the path, and the call then
// reads outside the root. Use this host only on trees that nothing else changes
// while a job runs (or run it in a container or as a user that can read nothing it
// must not); the native host has no such window.
//
// xattrs come from the fs-xattr addon when it is installed (an optional dependency:
// it builds with node-gyp); without it every object reports no xattrs and
// `xattrSupport` is false. The addon takes string paths and follows symlinks, so
// attributes are read through /proc/self/fd/N of a file opened with O_NOFOLLOW: the
// object read is the one opened, whatever its name is (non-UTF-8 names included).
//
// The write side of `dir` (unpack) is not implemented: every write call fails with
// `permission-denied`, as on a read-only handle of the native host.

import * as fs from 'node:fs';
import { createHash } from 'node:crypto';

const { O_RDONLY, O_NOFOLLOW, O_NONBLOCK, O_DIRECTORY } = fs.constants;
const SLASH = 0x2f;
const DOT = 0x2e;

let xattr = null;
try {
  xattr = await import('fs-xattr');
} catch {
  xattr = null;
}

/** Whether extended attributes can be read here (the fs-xattr addon loaded). */
export const xattrSupport = xattr !== null;

const disposeSymbol = Symbol.dispose || Symbol.for('dispose');

/** A failed call: the guest gets `payload` (an `fs.error` variant) as its `err`. */
export class FsError extends Error {
  constructor(payload) {
    super(payload.tag === 'io' ? payload.val : payload.tag);
    this.payload = payload;
  }
}

const escapes = () => new FsError({ tag: 'escapes-root' });

/** An errno exception from node:fs as an `fs.error`. */
function mapped(e) {
  if (e instanceof FsError) return e;
  switch (e && e.code) {
    case 'ENOENT':
      return new FsError({ tag: 'not-found' });
    case 'EACCES':
    case 'EPERM':
      return new FsError({ tag: 'permission-denied' });
    case 'ELOOP':
      return escapes();
    case 'ENOTSUP':
    case 'EOPNOTSUPP':
      return new FsError({ tag: 'not-supported' });
    default:
      if (e && typeof e.code === 'string') return new FsError({ tag: 'io', val: e.message });
      throw e; // not an I/O error: a bug, let it trap
  }
}

function guarded(fn) {
  try {
    return fn();
  } catch (e) {
    throw mapped(e);
  }
}

const asBuffer = (bytes) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
const join = (dir, name) => Buffer.concat([dir, Buffer.from([SLASH]), name]);

/** The components of a guest path; refuses NUL, absolute paths and `..`. */
function components(path) {
  const bytes = asBuffer(path);
  if (bytes.includes(0)) throw escapes();
  if (bytes.length > 0 && bytes[0] === SLASH) throw escapes();
  const parts = [];
  let start = 0;
  for (let i = 0; i <= bytes.length; i++) {
    if (i === bytes.length || bytes[i] === SLASH) {
      const part = bytes.subarray(start, i);
      start = i + 1;
      if (part.length === 0 || (part.length === 1 && part[0] === DOT)) continue;
      if (part.length === 2 && part[0] === DOT && part[1] === DOT) throw escapes();
      parts.push(part);
    }
  }
  return parts;
}

/** The host path of `path` below `root`, every intermediate component a real directory. */
function confine(root, path) {
  const parts = components(path);
  let current = root;
  for (let i = 0; i < parts.length; i++) {
    current = join(current, parts[i]);
    if (i === parts.length - 1) break;
    const st = fs.lstatSync(current);
    if (st.isSymbolicLink()) throw escapes();
    if (!st.isDirectory()) throw new FsError({ tag: 'not-found' });
  }
  return current;
}

function kind(st) {
  if (st.isFile()) return 'regular';
  if (st.isDirectory()) return 'directory';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isFIFO()) return 'fifo';
  if (st.isSocket()) return 'socket';
  if (st.isCharacterDevice()) return 'char-device';
  return 'block-device';
}

const BILLION = 1_000_000_000n;
function split(ns) {
  let sec = ns / BILLION;
  let nsec = ns % BILLION;
  if (nsec < 0n) {
    sec -= 1n;
    nsec += BILLION;
  }
  return [sec, Number(nsec)];
}

/** `fs.metadata` of bigint lstat results. */
export function metadata(st) {
  const [mtimeSec, mtimeNsec] = split(st.mtimeNs);
  const [ctimeSec, ctimeNsec] = split(st.ctimeNs);
  const device = st.isCharacterDevice() || st.isBlockDevice();
  const rdev = st.rdev;
  return {
    kind: kind(st),
    mode: Number(st.mode & 0o7777n),
    uid: Number(st.uid),
    gid: Number(st.gid),
    size: st.size,
    mtimeSec,
    mtimeNsec,
    ctimeSec,
    ctimeNsec,
    ino: st.ino,
    nlink: st.nlink,
    // Linux's encoding of dev_t (glibc's gnu_dev_major / gnu_dev_minor).
    rdevMajor: device ? Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn)) : 0,
    rdevMinor: device ? Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn)) : 0,
  };
}

const lstat = (p) => fs.lstatSync(p, { bigint: true });

/**
 * Open the object at host path `p` without following a final symlink, and check
 * that the kernel opened exactly `p` (`/proc/self/fd/N` names the path it resolved):
 * if an intermediate directory was a symlink, even one swapped in a moment ago, the
 * names differ and the call is `escapes-root`. This check has no race: it looks at
 * what was opened, not at what the path named before.
 */
function openNoFollow(p, directory) {
  const fd = fs.openSync(p, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | (directory ? O_DIRECTORY : 0));
  let real;
  try {
    real = fs.readlinkSync(`/proc/self/fd/${fd}`, { encoding: 'buffer' });
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
  if (!real.equals(p)) {
    fs.closeSync(fd);
    throw escapes();
  }
  return fd;
}

/** The host path of `path` below `root` with no check (the open that uses it checks). */
function joined(root, path) {
  let current = root;
  for (const part of components(path)) current = join(current, part);
  return current;
}

/** The xattrs of the object at host path `p` (a regular file or directory). */
function readXattrs(p, directory) {
  if (!xattr) return [];
  const fd = openNoFollow(p, directory);
  try {
    const proc = `/proc/self/fd/${fd}`;
    const names = xattr.listAttributesSync(proc);
    const out = [];
    for (const name of names) {
      let value;
      try {
        value = xattr.getAttributeSync(proc, name);
      } catch (e) {
        if (e && e.code === 'ENODATA') continue; // removed meanwhile
        throw e;
      }
      out.push([new Uint8Array(Buffer.from(name)), new Uint8Array(value)]);
    }
    return out;
  } finally {
    fs.closeSync(fd);
  }
}

const CHUNK = 1 << 20;
/** One buffer for every digest (calls never overlap: the guest is single-threaded). */
const digestBuffer = Buffer.allocUnsafe(CHUNK);

/** `fs.file`: an open regular file, read front to back. */
export class File {
  #fd;
  #buffer = null;
  constructor(fd) {
    this.#fd = fd;
  }
  read(max) {
    return guarded(() => {
      if (this.#fd === null) throw new FsError({ tag: 'io', val: 'file is closed' });
      const size = Math.min(max, CHUNK);
      if (!this.#buffer || this.#buffer.length < size) this.#buffer = Buffer.allocUnsafe(size);
      const n = fs.readSync(this.#fd, this.#buffer, 0, size, null);
      // The bindings copy the bytes into the guest before the next call.
      return this.#buffer.subarray(0, n);
    });
  }
  [disposeSymbol]() {
    if (this.#fd !== null) fs.closeSync(this.#fd);
    this.#fd = null;
  }
}

/** `fs.file-writer`: never handed out by this read-only host. */
export class FileWriter {
  write() {
    throw new FsError({ tag: 'permission-denied' });
  }
}

function denied() {
  throw new FsError({ tag: 'permission-denied' });
}

/** `fs.dir`: a granted directory (read-only). */
export class Dir {
  #root;
  /** Grant the directory at `path` (a string or Buffer); it must be a real directory. */
  static open(path) {
    const given = Buffer.isBuffer(path) ? path : Buffer.from(path);
    const st = fs.lstatSync(given);
    if (!st.isDirectory()) {
      throw new Error(`${given.toString()}: not a directory (a symlink is not followed)`);
    }
    // Canonical, so that the kernel's name for an opened object can be compared.
    const root = fs.realpathSync(given, { encoding: 'buffer' });
    const dir = new Dir();
    dir.#root = root;
    return dir;
  }
  metadata(path) {
    return guarded(() => metadata(lstat(confine(this.#root, path))));
  }
  #entries(path, withXattrs) {
    const p = confine(this.#root, path);
    const st = lstat(p);
    if (st.isSymbolicLink()) throw escapes();
    if (!st.isDirectory()) throw new FsError({ tag: 'not-supported' });
    const names = fs.readdirSync(p, { encoding: 'buffer' });
    const out = [];
    for (const name of names) {
      const child = join(p, name);
      let meta;
      try {
        meta = metadata(lstat(child));
      } catch (e) {
        if (e && e.code === 'ENOENT') continue; // removed since the listing
        throw e;
      }
      const entry = { name: new Uint8Array(name), meta };
      if (!withXattrs) {
        out.push(entry);
      } else if (meta.kind === 'regular' || meta.kind === 'directory') {
        out.push([entry, readXattrs(child, meta.kind === 'directory')]);
      } else {
        out.push([entry, []]);
      }
    }
    return out;
  }
  readDir(path) {
    return guarded(() => this.#entries(path, false));
  }
  readDirXattrs(path) {
    return guarded(() => this.#entries(path, true));
  }
  readLink(path) {
    return guarded(() => {
      const p = confine(this.#root, path);
      if (!lstat(p).isSymbolicLink()) throw new FsError({ tag: 'not-supported' });
      return new Uint8Array(fs.readlinkSync(p, { encoding: 'buffer' }));
    });
  }
  xattrs(path) {
    return guarded(() => {
      const p = confine(this.#root, path);
      const st = lstat(p);
      if (!st.isFile() && !st.isDirectory()) return [];
      return readXattrs(p, st.isDirectory());
    });
  }
  #openRegular(path) {
    const fd = openNoFollow(joined(this.#root, path), false);
    if (!fs.fstatSync(fd).isFile()) {
      fs.closeSync(fd);
      throw new FsError({ tag: 'not-supported' });
    }
    return fd;
  }
  openRead(path) {
    return guarded(() => new File(this.#openRegular(path)));
  }
  digest(path) {
    return guarded(() => {
      const fd = this.#openRegular(path);
      try {
        const hash = createHash('sha256');
        for (;;) {
          const n = fs.readSync(fd, digestBuffer, 0, CHUNK, null);
          if (n === 0) break;
          hash.update(digestBuffer.subarray(0, n));
        }
        return new Uint8Array(hash.digest());
      } finally {
        fs.closeSync(fd);
      }
    });
  }
  createFile() { denied(); }
  mkdir() { denied(); }
  symlink() { denied(); }
  hardLink() { denied(); }
  mknod() { denied(); }
  setOwner() { denied(); }
  setMode() { denied(); }
  setTimes() { denied(); }
  setXattr() { denied(); }
  removeXattr() { denied(); }
  remove() { denied(); }
}
