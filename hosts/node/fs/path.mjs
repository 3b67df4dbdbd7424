// Paths below a granted directory, resolved the way openat(2) would.
//
// Node has no openat(2), but Linux's /proc/self/fd/N is one: a path that starts with
// it resolves N's directory itself (the object the descriptor holds, wherever it is
// now), and a single name after it is looked up in that directory. So a directory is
// opened with O_PATH | O_DIRECTORY | O_NOFOLLOW through its parent's descriptor,
// one component at a time from the granted root, and every call then acts on one
// name inside an opened parent (`/proc/self/fd/N/name`) without following that name
// when it is a symlink (lstat, readlink, O_NOFOLLOW opens, lchown, lutimes, link,
// unlink). A symlink in the middle of a path cannot be followed: no multi-component
// path is ever handed to the kernel. Needs /proc (Linux).
//
// The directories of the most recently used path stay open (the deepest KEPT_OPEN of
// them), like the native host's kept-open directories: a walk in directory order
// resolves each path with no lookup at all, and going one level deeper costs one
// open. A removal forgets them (a kept descriptor may name a directory that is gone).

import * as fs from 'node:fs';

import { escapes, FsError } from './errors.mjs';

const SLASH = 0x2f;
const DOT = 0x2e;

/** O_PATH (Linux; the value of x86, arm and most other architectures). */
export const O_PATH = 0o10000000;
const { O_DIRECTORY, O_NOFOLLOW } = fs.constants;
const DIR_FLAGS = O_PATH | O_DIRECTORY | O_NOFOLLOW;

/** How many directories of the last path stay open. */
export const KEPT_OPEN = 64;
/** The most components a path may have (as the native host). */
export const MAX_DEPTH = 4096;

/** The components of a guest path (a Uint8Array); refuses NUL, absolute paths and `..`. */
export function components(path) {
  const bytes = Buffer.from(path.buffer, path.byteOffset, path.byteLength);
  if (bytes.length > 0 && bytes[0] === SLASH) throw escapes();
  if (bytes.includes(0)) throw escapes();
  const parts = [];
  let start = 0;
  for (let i = 0; i <= bytes.length; i++) {
    if (i === bytes.length || bytes[i] === SLASH) {
      if (i > start) {
        const part = bytes.subarray(start, i);
        if (part.length === 1 && part[0] === DOT) {
          // `.`: the same directory
        } else if (part.length === 2 && part[0] === DOT && part[1] === DOT) {
          throw escapes();
        } else {
          parts.push(part);
        }
      }
      start = i + 1;
    }
  }
  if (parts.length > MAX_DEPTH) throw new FsError({ tag: 'io', val: `path deeper than ${MAX_DEPTH} components` });
  return parts;
}

const prefixes = new Map();
/** `/proc/self/fd/FD/` as bytes. */
function prefix(fd) {
  let p = prefixes.get(fd);
  if (p === undefined) {
    p = Buffer.from(`/proc/self/fd/${fd}/`);
    prefixes.set(fd, p);
  }
  return p;
}

/** `/proc/self/fd/FD/NAME`: NAME (one component, bytes) inside the directory FD. */
export function at(fd, name) {
  const p = prefix(fd);
  const out = Buffer.allocUnsafe(p.length + name.length);
  p.copy(out, 0);
  out.set(name, p.length);
  return out;
}

/** `/proc/self/fd/FD`: the object FD holds. */
export const self = (fd) => `/proc/self/fd/${fd}`;

/**
 * Open the directory NAME inside the directory FD (never following a symlink). A
 * symlink there is `escapes-root` (the kernel says ENOTDIR), another non-directory
 * `not-supported`.
 */
export function openDirAt(fd, name) {
  const path = at(fd, name);
  try {
    return fs.openSync(path, DIR_FLAGS);
  } catch (e) {
    if (e && (e.code === 'ENOTDIR' || e.code === 'ELOOP') && isSymlink(path)) throw escapes();
    throw e;
  }
}

function isSymlink(path) {
  try {
    return fs.lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

/** Open the directory at the ambient `path` the user named (a final symlink refused). */
export function openRoot(path) {
  return fs.openSync(path, DIR_FLAGS);
}

/**
 * The open directories of a granted root: `dir(components)` gives a descriptor of the
 * directory at those components, reusing the open directories of the last path that
 * share a prefix with them. Descriptors it returns stay valid until the next call.
 */
export class OpenDirs {
  #root;
  /** [{ name, fd }] along the last path; fd null for levels above the kept ones. */
  #open = [];

  constructor(rootFd) {
    this.#root = rootFd;
  }

  dir(parts) {
    const open = this.#open;
    let shared = 0;
    while (shared < open.length && shared < parts.length && open[shared].name.equals(parts[shared])) shared++;
    this.#truncate(shared);
    let start = open.length;
    while (start > 0 && open[start - 1].fd === null) start--;
    // Levels between `start` and `shared` are remembered by name only: reopen them.
    let parent = start === 0 ? this.#root : open[start - 1].fd;
    for (let i = start; i < parts.length; i++) {
      const fd = openDirAt(parent, parts[i]);
      if (i < open.length) {
        open[i].fd = fd;
      } else {
        open.push({ name: Buffer.from(parts[i]), fd });
      }
      const old = i - KEPT_OPEN;
      if (old >= 0 && open[old].fd !== null) {
        fs.closeSync(open[old].fd);
        open[old].fd = null;
      }
      parent = fd;
    }
    return parent;
  }

  #truncate(length) {
    const open = this.#open;
    while (open.length > length) {
      const { fd } = open.pop();
      if (fd !== null) fs.closeSync(fd);
    }
  }

  /** Close every kept directory (after a removal, and when the job ends). */
  forget() {
    this.#truncate(0);
  }
}
