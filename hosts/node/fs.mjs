// repack:bundle/fs over node:fs: the `dir`, `file` and `file-writer` resources.
//
// Confinement: see fs/path.mjs. Every path is resolved one component at a time from
// the granted root through opened directory descriptors (/proc/self/fd/N/name, the
// openat(2) of a process without openat), with O_NOFOLLOW at every step, and the call
// then acts on one name inside the opened parent without following it. `..`,
// absolute paths and NUL bytes are refused before anything is opened; a symlink in
// the middle of a path is `escapes-root`. There is no window between a check and a
// use: no multi-component path is ever given to the kernel, so a process that swaps a
// directory for a symlink meanwhile gets the call refused, never sent outside. What a
// descriptor holds is what the native host's cap-std handles hold: a directory moved
// elsewhere while it is open is still used (as with openat).
//
// A `Dir` is read-only unless granted for writing (`Dir.open(path, { writable: true })`,
// unpack's target): on a read-only one every write call fails with
// `permission-denied`, as on a read-only handle of the native host. Unlike the native
// host, this one lends no owner bits: without root, a directory whose mode withholds
// the owner's own read, write or search bits cannot be walked or filled.
//
// xattrs: see fs/xattr.mjs (the optional fs-xattr addon). Device nodes and fifos: see
// fs/mknod.mjs (made by the system's `mknod`).

import * as fs from 'node:fs';
import * as crypto from 'node:crypto';

import { denied, guarded, io, mapped, notSupported } from './fs/errors.mjs';
import { metadata } from './fs/meta.mjs';
import { mknodAt } from './fs/mknod.mjs';
import { at, components, O_PATH, OpenDirs, openRoot, self } from './fs/path.mjs';
import { removeAt } from './fs/remove.mjs';
import {
  createFileAt,
  FileWriter as Writer,
  linkAt,
  mkdirAt,
  modeAt,
  ownerAt,
  symlinkAt,
  timesAt,
} from './fs/write.mjs';
import { dirKey, KeptFiles } from './fs/kept.mjs';
import { removeXattrAt, setXattrAt, xattrsAt, xattrsOf } from './fs/xattr.mjs';

export { FsError } from './fs/errors.mjs';
export { metadata } from './fs/meta.mjs';
export { xattrSupport } from './fs/xattr.mjs';

const { O_RDONLY, O_NOFOLLOW } = fs.constants;
const disposeSymbol = Symbol.dispose || Symbol.for('dispose');
const BIG = { bigint: true };

/** Read size of `file.read` and `digest` (the guest asks for 64 KiB at a time). */
const CHUNK = 1 << 20;
/** One buffer for every digest (calls never overlap: the guest is single-threaded). */
const digestBuffer = Buffer.allocUnsafe(CHUNK);

/**
 * Open NAME in the directory FD for reading if it is a regular file: first with
 * O_PATH (which opens nothing: no fifo blocks, no device is touched), checked with
 * fstat, then reopened for reading through that descriptor. A symlink or any other
 * kind is `not-supported`. Returns [descriptor, size].
 */
function openRegularAt(fd, name) {
  const object = fs.openSync(at(fd, name), O_PATH | O_NOFOLLOW);
  try {
    const st = fs.fstatSync(object);
    if (!st.isFile()) throw notSupported();
    return [fs.openSync(self(object), O_RDONLY), st.size];
  } finally {
    fs.closeSync(object);
  }
}

/** One-shot SHA-256 (Node 20.12 and later), else through a Hash object. */
const sha256 =
  typeof crypto.hash === 'function'
    ? (bytes) => crypto.hash('sha256', bytes, 'buffer')
    : (bytes) => crypto.createHash('sha256').update(bytes).digest();

/**
 * SHA-256 of the file open at `fd`, `size` bytes long when it was opened. A file that
 * fits the buffer is read and hashed in one go: a short read of a regular file that
 * brings the count to its size is its end, so the read that would return 0 is not
 * made (a file that grew meanwhile still ends there: it is hashed as it was).
 */
function digestOf(fd, size) {
  let n = fs.readSync(fd, digestBuffer, 0, CHUNK, null);
  if (n < CHUNK && n === size) return sha256(digestBuffer.subarray(0, n));
  const hash = crypto.createHash('sha256');
  while (n > 0) {
    hash.update(n === CHUNK ? digestBuffer : digestBuffer.subarray(0, n));
    n = fs.readSync(fd, digestBuffer, 0, CHUNK, null);
  }
  return hash.digest();
}

/** `dir.create`'s error: the index of the object that failed, and why. */
class CreateError extends Error {
  constructor(index, payload) {
    super(`object ${index}: ${payload.tag}`);
    this.payload = [index, payload];
  }
}

/** Write all of `bytes` to the new file open at `fd`, then close it. */
function writeNewFile(fd, bytes) {
  try {
    let done = 0;
    while (done < bytes.byteLength) {
      done += fs.writeSync(fd, bytes, done, bytes.byteLength - done);
    }
  } finally {
    fs.closeSync(fd);
  }
}

/** `fs.file`: an open regular file, read front to back. */
export class File {
  #fd;
  #buffer = null;
  constructor(fd) {
    this.#fd = fd;
  }
  read(max) {
    return guarded(() => {
      if (this.#fd === null) throw io('file is closed');
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

/** `fs.file-writer`: a file `create-file` made, written front to back. */
export class FileWriter {
  #writer;
  constructor(writer) {
    this.#writer = writer;
  }
  write(bytes) {
    return guarded(() => this.#writer.write(bytes));
  }
  skip(len) {
    return guarded(() => this.#writer.skip(len));
  }
  [disposeSymbol]() {
    this.#writer.close();
  }
}

/** `fs.dir`: a granted directory and everything below it. */
export class Dir {
  #root = null;
  #open = null;
  #writable = false;
  #label = '';
  #kept = new KeptFiles();

  /**
   * Grant the directory at `path` (a string or Buffer; a final symlink is refused),
   * read-only unless `writable`. Close it with `close()` when the job is done.
   */
  static open(path, { writable = false } = {}) {
    const dir = new Dir();
    dir.#label = String(path);
    try {
      dir.#root = openRoot(path);
    } catch (e) {
      if (e && e.code === 'ELOOP') throw new Error(`${dir.#label}: a symlink, not a directory (not followed)`);
      if (e && e.code === 'ENOTDIR') throw new Error(`${dir.#label}: not a directory`);
      throw new Error(`${dir.#label}: ${e && e.code === 'ENOENT' ? 'no such directory' : e.message}`);
    }
    dir.#open = new OpenDirs(dir.#root);
    dir.#writable = writable;
    return dir;
  }

  /** Close the descriptors this handle holds (the guest no longer uses it). */
  close() {
    if (this.#root === null) return;
    this.#kept.clear();
    this.#open.forget();
    fs.closeSync(this.#root);
    this.#root = null;
  }

  /** The opened directory at `parts`. */
  #dir(parts) {
    if (this.#root === null) throw io(`${this.#label}: the handle is closed`);
    return parts.length === 0 ? this.#root : this.#open.dir(parts);
  }

  /** [parent descriptor, name] of `path`, or [root descriptor, null] for the root. */
  #target(path) {
    const parts = components(path);
    if (parts.length === 0) return [this.#dir(parts), null];
    const name = parts.pop();
    return [this.#dir(parts), name];
  }

  /** [parent descriptor, name] of a path a write call creates or changes (not the root). */
  #child(path) {
    if (!this.#writable) throw denied();
    const [fd, name] = this.#target(path);
    if (name === null) throw notSupported();
    return [fd, name];
  }

  /** [descriptor, name] of an object a write call changes (the root included). */
  #object(path) {
    if (!this.#writable) throw denied();
    return this.#target(path);
  }

  metadata(path) {
    return guarded(() => {
      const [fd, name] = this.#target(path);
      return metadata(name === null ? fs.fstatSync(fd, BIG) : fs.lstatSync(at(fd, name), BIG));
    });
  }

  /**
   * The entries of the directory at `path` with their metadata (and xattrs). A
   * regular file or directory (by the listing's type) is opened with O_PATH and
   * described with fstat, its xattrs read through that descriptor; a regular file's
   * descriptor is kept for the digest or read that follows (see fs/kept.mjs). Other
   * kinds are described with lstat.
   */
  #entries(path, withXattrs) {
    const parts = components(path);
    const fd = this.#dir(parts);
    const kept = this.#kept;
    kept.start(dirKey(parts));
    const out = [];
    for (const dirent of fs.readdirSync(self(fd), { encoding: 'buffer', withFileTypes: true })) {
      const name = dirent.name;
      let entry;
      let attrs = [];
      try {
        if (dirent.isFile() || dirent.isDirectory()) {
          const object = fs.openSync(at(fd, name), O_PATH | O_NOFOLLOW);
          let keep = false;
          try {
            const meta = metadata(fs.fstatSync(object, BIG));
            entry = { name, meta };
            if (withXattrs && (meta.kind === 'regular' || meta.kind === 'directory')) {
              attrs = xattrsOf(object);
            }
            keep = meta.kind === 'regular' && kept.keep(name, object, Number(meta.size));
          } finally {
            if (!keep) fs.closeSync(object);
          }
        } else {
          entry = { name, meta: metadata(fs.lstatSync(at(fd, name), BIG)) };
          const kind = entry.meta.kind;
          if (withXattrs && (kind === 'regular' || kind === 'directory')) {
            attrs = xattrsAt(fd, name); // the listing could not tell (DT_UNKNOWN)
          }
        }
      } catch (e) {
        if (e && e.code === 'ENOENT') continue; // removed since the listing
        throw e;
      }
      out.push(withXattrs ? [entry, attrs] : entry);
    }
    return out;
  }

  /**
   * A descriptor of the regular file at `path` open for reading and its size: from
   * the kept listing when it has the file, else resolved and checked now.
   */
  #openRegular(path) {
    const parts = components(path);
    const name = parts.pop();
    if (name === undefined) throw notSupported();
    const kept = this.#kept.take(dirKey(parts), name);
    if (kept === null) return openRegularAt(this.#dir(parts), name);
    const [object, size] = kept;
    try {
      return [fs.openSync(self(object), O_RDONLY), size];
    } finally {
      fs.closeSync(object);
    }
  }

  readDir(path) {
    return guarded(() => this.#entries(path, false));
  }
  readDirXattrs(path) {
    return guarded(() => this.#entries(path, true));
  }
  readLink(path) {
    return guarded(() => {
      const [fd, name] = this.#target(path);
      if (name === null) throw notSupported();
      try {
        return fs.readlinkSync(at(fd, name), { encoding: 'buffer' });
      } catch (e) {
        if (e && e.code === 'EINVAL') throw notSupported(); // not a symlink
        throw e;
      }
    });
  }
  xattrs(path) {
    return guarded(() => {
      const [fd, name] = this.#target(path);
      return xattrsAt(fd, name);
    });
  }
  openRead(path) {
    return guarded(() => new File(this.#openRegular(path)[0]));
  }
  /**
   * A descriptor of the regular file at `path` open for reading, confined as
   * `openRead` is: for `blob-writer.write-file`, which closes it. Errors are thrown as
   * `FsError`s.
   */
  openFile(path) {
    return guarded(() => this.#openRegular(path)[0]);
  }
  digest(path) {
    return guarded(() => {
      const [fd, size] = this.#openRegular(path);
      try {
        return digestOf(fd, size);
      } finally {
        fs.closeSync(fd);
      }
    });
  }

  createFile(path, mode) {
    return guarded(() => {
      const [fd, name] = this.#child(path);
      return new FileWriter(new Writer(createFileAt(fd, name, mode)));
    });
  }
  /**
   * `dir.create`: each object made and given its metadata in order (owner, xattrs,
   * mode, times, as the native host orders them). xattrs refused as `not-supported` or
   * `permission-denied` are returned; the first object that fails ends the call with
   * its index and error.
   */
  create(objects) {
    const refused = [];
    objects.forEach(({ path, kind, attributes: a }, index) => {
      try {
        guarded(() => {
          const [fd, name] = this.#child(path);
          if (kind.tag === 'regular') writeNewFile(createFileAt(fd, name, 0o600), kind.val);
          else if (kind.tag === 'directory') mkdirAt(fd, name, 0o700);
          else symlinkAt(fd, name, kind.val);
          if (a.owner !== undefined) ownerAt(...this.#object(path), a.owner[0], a.owner[1]);
          for (const [attr, value] of a.xattrs) {
            try {
              setXattrAt(...this.#object(path), attr, value);
            } catch (e) {
              const why = mapped(e).payload;
              if (why.tag !== 'not-supported' && why.tag !== 'permission-denied') throw e;
              refused.push({ index, name: attr, error: why });
            }
          }
          if (kind.tag !== 'symlink') modeAt(...this.#object(path), a.mode);
          timesAt(...this.#object(path), a.mtime, a.atime);
        });
      } catch (e) {
        throw new CreateError(index, mapped(e).payload);
      }
    });
    return refused;
  }
  mkdir(path, mode) {
    return guarded(() => mkdirAt(...this.#child(path), mode));
  }
  symlink(path, target) {
    return guarded(() => symlinkAt(...this.#child(path), target));
  }
  hardLink(path, target) {
    return guarded(() => {
      if (!this.#writable) throw denied();
      // The target's parent gets a descriptor of its own: resolving `path` next may
      // close the kept ones.
      const parts = components(target);
      if (parts.length === 0) throw notSupported();
      const fromName = parts.pop();
      const fromFd = parts.length === 0 ? null : this.#dir(parts);
      const from = fs.openSync(fromFd === null ? self(this.#root) : self(fromFd), O_PATH);
      try {
        const [fd, name] = this.#child(path);
        linkAt(from, fromName, fd, name);
      } finally {
        fs.closeSync(from);
      }
    });
  }
  mknod(path, kind, mode, major, minor) {
    return guarded(() => mknodAt(...this.#child(path), kind, mode, major, minor));
  }
  setOwner(path, uid, gid) {
    return guarded(() => ownerAt(...this.#object(path), uid, gid));
  }
  setMode(path, mode) {
    return guarded(() => modeAt(...this.#object(path), mode));
  }
  setTimes(path, mtime, atime) {
    return guarded(() => timesAt(...this.#object(path), mtime, atime));
  }
  setXattr(path, name, value) {
    return guarded(() => setXattrAt(...this.#object(path), name, value));
  }
  removeXattr(path, name) {
    return guarded(() => removeXattrAt(...this.#object(path), name));
  }
  remove(path) {
    return guarded(() => {
      const [fd, name] = this.#child(path);
      try {
        removeAt(fd, name);
      } finally {
        // A kept directory may be gone now, a kept file's name another object's.
        this.#kept.clear();
        this.#open.forget();
      }
    });
  }
}
