// repack:bundle/blobs over node:fs and node:crypto.

import * as fs from 'node:fs';
import { createHash } from 'node:crypto';

import { FsError, io, mapped } from './fs/errors.mjs';
import { metadata } from './fs/meta.mjs';

/** Bytes `write-file` reads at a time. */
const CHUNK = 1 << 20;
/** One buffer for every `write-file` (calls never overlap: the guest is single-threaded). */
const fileBuffer = Buffer.allocUnsafe(CHUNK);

/** A failed `write-file`: `part` is `file` or `layer`, `error` an `FsError`. */
class WriteFileError extends Error {
  constructor(part, error) {
    super(`${part}: ${error.message}`);
    this.payload = { tag: part, val: error.payload };
  }
}

const disposeSymbol = Symbol.dispose || Symbol.for('dispose');

/**
 * `blobs.blob-writer`: the layer's uncompressed stream into a file, hashed as it
 * passes (the diff_id). This host stores it as it comes; compressing it is the
 * caller's business.
 */
export class BlobWriter {
  #fd;
  #hash = createHash('sha256');
  #size = 0;
  /** Write into a new file at `path` (it must not exist). */
  static create(path) {
    const writer = new BlobWriter();
    writer.#fd = fs.openSync(path, 'wx', 0o644);
    return writer;
  }
  write(bytes) {
    if (this.#fd === null) throw io('the layer is finished');
    let done = 0;
    try {
      while (done < bytes.byteLength) {
        done += fs.writeSync(this.#fd, bytes, done, bytes.byteLength - done);
      }
    } catch (e) {
      throw new FsError({ tag: 'io', val: e.message });
    }
    this.#hash.update(bytes);
    this.#size += bytes.byteLength;
  }
  /**
   * `write-file`: exactly `size` bytes of the regular file at `path` below `dir` (a
   * `Dir`, whose confinement opens it), read here; returns its metadata after the read.
   */
  writeFile(dir, path, size) {
    const file = (fn) => {
      try {
        return fn();
      } catch (e) {
        throw new WriteFileError('file', mapped(e));
      }
    };
    const fd = file(() => dir.openFile(path));
    try {
      const have = file(() => fs.fstatSync(fd, { bigint: true }).size);
      if (have !== BigInt(size)) {
        throw new WriteFileError('file', io(`it is ${have} bytes long, not the ${size} expected`));
      }
      let left = BigInt(size);
      while (left > 0n) {
        const want = left < BigInt(CHUNK) ? Number(left) : CHUNK;
        const n = file(() => fs.readSync(fd, fileBuffer, 0, want, null));
        if (n === 0) {
          throw new WriteFileError('file', io(`it ended after ${BigInt(size) - left} bytes`));
        }
        try {
          this.write(fileBuffer.subarray(0, n));
        } catch (e) {
          throw new WriteFileError('layer', e instanceof FsError ? e : io(String(e && e.message)));
        }
        left -= BigInt(n);
      }
      return file(() => metadata(fs.fstatSync(fd, { bigint: true })));
    } finally {
      fs.closeSync(fd);
    }
  }
  /** Flush and close; returns { diffId: 'sha256:<hex>', size }. */
  finish() {
    fs.fsyncSync(this.#fd);
    fs.closeSync(this.#fd);
    this.#fd = null;
    return { diffId: `sha256:${this.#hash.digest('hex')}`, size: this.#size };
  }
  /** Close without finishing (after a failed job). */
  abandon() {
    if (this.#fd !== null) fs.closeSync(this.#fd);
    this.#fd = null;
  }
}

/** `blobs.text-writer`: text the guest hands over in pieces (a manifest). */
export class TextWriter {
  #pieces = [];
  write(text) {
    this.#pieces.push(text);
  }
  /** Everything written. */
  text() {
    return this.#pieces.join('');
  }
}

/** `blobs.hasher`: SHA-256 at native speed over bytes the guest hands over. */
export class Hasher {
  #hash = createHash('sha256');
  update(bytes) {
    this.#hash.update(bytes);
  }
  finish() {
    return new Uint8Array(this.#hash.digest());
  }
}

/**
 * `blobs.blob-reader`: a file checked against an expected size and sha256 as it
 * streams; the read that reaches the end fails when they do not match.
 */
export class BlobReader {
  #fd;
  #hash = createHash('sha256');
  #seen = 0;
  #digest;
  #size;
  #buffer = null;
  static open(path, digest, size) {
    const reader = new BlobReader();
    reader.#fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    reader.#digest = digest;
    reader.#size = size;
    return reader;
  }
  read(max) {
    if (this.#fd === null) throw io('the blob is closed');
    const size = Math.min(max, 1 << 20);
    if (!this.#buffer || this.#buffer.length < size) this.#buffer = Buffer.allocUnsafe(size);
    let n;
    try {
      n = fs.readSync(this.#fd, this.#buffer, 0, size, null);
    } catch (e) {
      throw mapped(e);
    }
    const bytes = this.#buffer.subarray(0, n);
    this.#hash.update(bytes);
    this.#seen += n;
    if (this.#seen > this.#size) {
      throw io(`verified reader size mismatch: more than ${this.#size} bytes`);
    }
    if (n === 0) {
      const actual = `sha256:${this.#hash.copy().digest('hex')}`;
      if (this.#seen !== this.#size || actual !== this.#digest) {
        throw io(`verified reader size/digest mismatch: ${this.#seen} bytes, ${actual}`);
      }
    }
    return bytes;
  }
  /** Close the file (the guest only borrows the reader). */
  close() {
    if (this.#fd !== null) fs.closeSync(this.#fd);
    this.#fd = null;
  }
  [disposeSymbol]() {
    this.close();
  }
}
