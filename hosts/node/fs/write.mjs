// The write side of a granted directory (unpack), as functions on an opened parent
// directory FD and a NAME inside it (one component, bytes; null: FD itself). No call
// follows a final symlink: creations fail on an existing name (symlinks included),
// owners and times use the l* calls, and calls that have no such form (chmod,
// xattrs) go through /proc/self/fd/N of an O_PATH descriptor of the object (which
// names a symlink itself, never what it points at).

import * as fs from 'node:fs';

import { io } from './errors.mjs';
import { at, O_PATH, self } from './path.mjs';

const { O_CREAT, O_EXCL, O_WRONLY, O_NOFOLLOW } = fs.constants;

/** Create the regular file NAME (it must not exist); returns its descriptor. */
export function createFileAt(fd, name, mode) {
  return fs.openSync(at(fd, name), O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW, mode & 0o777);
}

/** Create the directory NAME. */
export function mkdirAt(fd, name, mode) {
  fs.mkdirSync(at(fd, name), { mode: mode & 0o7777 });
}

/** Create the symlink NAME holding `target` verbatim. */
export function symlinkAt(fd, name, target) {
  fs.symlinkSync(Buffer.from(target.buffer, target.byteOffset, target.byteLength), at(fd, name));
}

/** Link NAME in FD to the object FROM_NAME in FROM_FD (a symlink is linked itself). */
export function linkAt(fromFd, fromName, fd, name) {
  // link(2) on Linux never follows a symlink at the existing name.
  fs.linkSync(at(fromFd, fromName), at(fd, name));
}

/** Set the owner of NAME (never following it). */
export function ownerAt(fd, name, uid, gid) {
  if (name === null) fs.chownSync(self(fd), uid, gid);
  else fs.lchownSync(at(fd, name), uid, gid);
}

/** Set the mode bits of NAME; `not-supported` on a symlink. */
export function modeAt(fd, name, mode) {
  if (name === null) {
    fs.chmodSync(self(fd), mode & 0o7777);
    return;
  }
  // Through the O_PATH descriptor of a symlink, chmod acts on the symlink itself,
  // which Linux refuses (ENOTSUP: `not-supported`).
  const object = fs.openSync(at(fd, name), O_PATH | O_NOFOLLOW);
  try {
    fs.chmodSync(self(object), mode & 0o7777);
  } finally {
    fs.closeSync(object);
  }
}

/**
 * A WIT timestamp as node:fs takes it: seconds in a string (a number below zero
 * would mean "now" to node:fs; a string passes as it is). libuv keeps microseconds
 * (it truncates the rest); half a microsecond is added so that the double's rounding
 * never takes one off.
 */
function seconds({ seconds: sec, nanoseconds }) {
  const micros = Math.floor(nanoseconds / 1000);
  return String(Number(sec) + (micros + 0.5) / 1e6);
}

/** A BigInt nanosecond time as `seconds` takes it. */
function fromNs(ns) {
  const sec = ns / 1_000_000_000n;
  let nsec = ns - sec * 1_000_000_000n;
  let s = sec;
  if (nsec < 0n) {
    s -= 1n;
    nsec += 1_000_000_000n;
  }
  return { seconds: s, nanoseconds: Number(nsec) };
}

/**
 * Set the modification time of NAME and its access time (when `atime` is absent, the
 * one it has: node:fs cannot leave it alone). Precision: microseconds (libuv).
 */
export function timesAt(fd, name, mtime, atime) {
  const path = name === null ? self(fd) : at(fd, name);
  const access = atime ?? fromNs(fs.lstatSync(path, { bigint: true }).atimeNs);
  if (name === null) fs.utimesSync(path, seconds(access), seconds(mtime));
  else fs.lutimesSync(path, seconds(access), seconds(mtime));
}

/** `fs.file-writer`: a created file, written front to back. */
export class FileWriter {
  #fd;
  #position = 0;
  /** Write into the open descriptor `fd` (this writer closes it). */
  constructor(fd) {
    this.#fd = fd;
  }
  write(bytes) {
    if (this.#fd === null) throw io('the file is closed');
    let done = 0;
    while (done < bytes.byteLength) {
      done += fs.writeSync(this.#fd, bytes, done, bytes.byteLength - done, this.#position + done);
    }
    this.#position += done;
  }
  /** Grow the file by `len` bytes that are never written: a hole. */
  skip(len) {
    if (this.#fd === null) throw io('the file is closed');
    this.#position += Number(len);
    fs.ftruncateSync(this.#fd, this.#position);
  }
  close() {
    if (this.#fd !== null) fs.closeSync(this.#fd);
    this.#fd = null;
  }
}
