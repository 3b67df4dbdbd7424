// Removing an object or a whole tree below an opened directory, never following a
// symlink: every directory is opened with O_PATH | O_NOFOLLOW through its parent's
// descriptor and its entries are removed by name inside it. At most KEPT_OPEN
// directories of the tree are open at once; one above them is reopened from the top
// (by name, the same way) when the removal climbs back to it.

import * as fs from 'node:fs';

import { at, KEPT_OPEN, MAX_DEPTH, openDirAt, self } from './path.mjs';
import { io } from './errors.mjs';

/** Remove NAME in the directory FD, a directory with everything below it. */
export function removeAt(fd, name) {
  if (fs.lstatSync(at(fd, name)).isDirectory()) removeTree(fd, name);
  else fs.unlinkSync(at(fd, name));
}

function removeTree(top, name) {
  // One frame per directory on the way down: its name, its descriptor (null when
  // closed to stay within KEPT_OPEN) and the subdirectories still to remove.
  const frames = [{ name, fd: openDirAt(top, name), subdirs: null }];
  const fdOf = (i) => {
    if (i < 0) return top;
    if (frames[i].fd === null) frames[i].fd = openDirAt(fdOf(i - 1), frames[i].name);
    return frames[i].fd;
  };
  try {
    while (frames.length > 0) {
      const depth = frames.length - 1;
      const frame = frames[depth];
      const fd = fdOf(depth);
      if (frame.subdirs === null) {
        frame.subdirs = [];
        for (const child of fs.readdirSync(self(fd), { encoding: 'buffer' })) {
          const path = at(fd, child);
          let st;
          try {
            st = fs.lstatSync(path);
          } catch (e) {
            if (e.code === 'ENOENT') continue;
            throw e;
          }
          if (st.isDirectory()) frame.subdirs.push(child);
          else fs.unlinkSync(path);
        }
      }
      if (frame.subdirs.length > 0) {
        if (frames.length >= MAX_DEPTH) throw io(`tree deeper than ${MAX_DEPTH} directories`);
        const child = frame.subdirs.pop();
        frames.push({ name: child, fd: openDirAt(fd, child), subdirs: null });
        const old = frames.length - 1 - KEPT_OPEN;
        if (old >= 0 && frames[old].fd !== null) {
          fs.closeSync(frames[old].fd);
          frames[old].fd = null;
        }
        continue;
      }
      fs.closeSync(fd);
      frame.fd = null;
      frames.pop();
      fs.rmdirSync(at(fdOf(depth - 1), frame.name));
    }
  } finally {
    for (const frame of frames) if (frame.fd !== null) fs.closeSync(frame.fd);
  }
}
