// Extended attributes through the fs-xattr addon (an optional dependency: it builds
// with node-gyp). Without it, objects report no attributes, setting or removing one is
// `not-supported`, and `xattrSupport` is false.
//
// The addon takes string paths and follows symlinks, so every call goes through
// /proc/self/fd/N of an O_PATH descriptor of the object, opened without following it:
// the object read or changed is the one opened, whatever its name (non-UTF-8 names
// included), and a symlink is the symlink itself (as lgetxattr and lsetxattr).
// Attribute names must be UTF-8 (the addon passes strings): another name is
// `not-supported`.

import * as fs from 'node:fs';

import { notSupported } from './errors.mjs';
import { at, O_PATH, self } from './path.mjs';

let addon = null;
try {
  addon = await import('fs-xattr');
} catch {
  addon = null;
}

/** Whether extended attributes can be read and written here (the addon loaded). */
export const xattrSupport = addon !== null;

const OBJECT_FLAGS = O_PATH | fs.constants.O_NOFOLLOW;
const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * `op(procPath)` on the object NAME in the directory FD (name null: FD itself). The
 * O_PATH descriptor of a symlink names the symlink: calls through its /proc path act
 * on the symlink itself and never follow it (Linux does not follow a symlink reached
 * through a /proc/self/fd link).
 */
function onObject(fd, name, op) {
  if (name === null) return op(self(fd));
  const object = fs.openSync(at(fd, name), OBJECT_FLAGS);
  try {
    return op(self(object));
  } finally {
    fs.closeSync(object);
  }
}

/** (name, value) pairs of the object at the O_PATH-reachable `proc` path. */
function list(proc) {
  const out = [];
  for (const name of addon.listAttributesSync(proc)) {
    let value;
    try {
      value = addon.getAttributeSync(proc, name);
    } catch (e) {
      if (e && e.code === 'ENODATA') continue; // removed meanwhile
      throw e;
    }
    out.push([Buffer.from(name), value]);
  }
  return out;
}

/** The xattrs of NAME in the directory FD (null: FD itself). */
export function xattrsAt(fd, name) {
  if (!addon) return [];
  return onObject(fd, name, list);
}

/** The xattrs of the object the descriptor FD holds (O_PATH is enough). */
export function xattrsOf(fd) {
  if (!addon) return [];
  return list(self(fd));
}

function attributeName(bytes) {
  try {
    return decoder.decode(bytes);
  } catch {
    throw notSupported(); // the addon takes names as strings
  }
}

/** Set one attribute of NAME in the directory FD (null: FD itself). */
export function setXattrAt(fd, name, attr, value) {
  if (!addon) throw notSupported();
  const key = attributeName(attr);
  const bytes = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  onObject(fd, name, (proc) => addon.setAttributeSync(proc, key, bytes));
}

/** Remove one attribute of NAME in the directory FD (null: FD itself). */
export function removeXattrAt(fd, name, attr) {
  if (!addon) throw notSupported();
  const key = attributeName(attr);
  onObject(fd, name, (proc) => addon.removeAttributeSync(proc, key));
}
