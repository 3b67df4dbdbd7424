// O_PATH descriptors of the regular files of the directory listed last, kept for the
// reads that follow: a walk lists a directory (`read-dir-xattrs`, which opens each
// regular file with O_PATH to read its metadata and xattrs without following it) and
// then hashes its files (`digest`), which reopen the kept descriptor for reading
// instead of resolving, opening and checking the name again. The file read is the
// object the listing described (a name replaced since then is read as it was listed,
// as a walk that hashed it then would have).
//
// Only the last listing is kept, at most KEPT_FILES files of it; the next listing,
// a removal and the end of the job close them.

import * as fs from 'node:fs';

const KEPT_FILES = 256;

/** A directory's key: its components joined by `/`, one char per byte (latin1). */
export const dirKey = (parts) => parts.map((p) => p.latin1Slice(0, p.length)).join('/');
const nameKey = (name) => name.latin1Slice(0, name.length);

export class KeptFiles {
  #dir = null;
  #files = new Map();

  /** Start keeping the files of the directory with key `dir` (closes the others). */
  start(dir) {
    this.clear();
    this.#dir = dir;
  }

  /**
   * Keep `fd`, an O_PATH descriptor of the regular file NAME that was `size` bytes
   * long; false when full.
   */
  keep(name, fd, size) {
    if (this.#files.size >= KEPT_FILES) return false;
    this.#files.set(nameKey(name), [fd, size]);
    return true;
  }

  /** [descriptor, size] kept for NAME in the directory `dir` (now the caller's), or null. */
  take(dir, name) {
    if (dir !== this.#dir) return null;
    const key = nameKey(name);
    const kept = this.#files.get(key);
    if (kept === undefined) return null;
    this.#files.delete(key);
    return kept;
  }

  clear() {
    for (const [fd] of this.#files.values()) fs.closeSync(fd);
    this.#files.clear();
    this.#dir = null;
  }
}
