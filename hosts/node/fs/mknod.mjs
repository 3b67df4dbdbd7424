// Device nodes and fifos. node:fs has neither mknod(2) nor mkfifo(3), so these (rare
// in a layer: a rootfs has a handful, often none) are made by the system's `mknod`
// (coreutils) in a child process, about a millisecond each. The child gets the
// parent directory's descriptor as its fd 3 and makes the node at
// /proc/self/fd/3/<temporary ASCII name>; this process then links it to its real
// name (any bytes; fails if the name exists, like mknod(2)) and unlinks the
// temporary one. No path with a symlink in it is ever handed to the child.

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';

import { denied, io, notSupported } from './errors.mjs';
import { at } from './path.mjs';

let counter = 0;

/** Make the node NAME in the directory FD: `kind` fifo, char-device or block-device. */
export function mknodAt(fd, name, kind, mode, major, minor) {
  let type;
  switch (kind) {
    case 'fifo':
      type = ['p'];
      break;
    case 'char-device':
      type = ['c', String(major), String(minor)];
      break;
    case 'block-device':
      type = ['b', String(major), String(minor)];
      break;
    default:
      throw notSupported();
  }
  const temp = `.repack-mknod-${process.pid}-${counter++}`;
  const made = spawnSync(
    'mknod',
    ['-m', (mode & 0o7777).toString(8), `/proc/self/fd/3/${temp}`, ...type],
    { stdio: ['ignore', 'ignore', 'pipe', fd], encoding: 'utf8' },
  );
  if (made.error) throw io(`mknod: ${made.error.message}`);
  if (made.status !== 0) {
    const message = made.stderr.trim().split('\n')[0] || `mknod exited with ${made.status}`;
    if (/Operation not permitted|Permission denied/.test(message)) throw denied();
    throw io(message);
  }
  const tempPath = at(fd, Buffer.from(temp));
  try {
    fs.linkSync(tempPath, at(fd, name));
  } finally {
    fs.unlinkSync(tempPath);
  }
}
