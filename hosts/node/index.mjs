// The repack component under Node.js.
//
//   import { RepackHost } from './index.mjs';
//   const host = await RepackHost.load({ component: 'repack.wasm', cacheDir: 'jco-cache' });
//   const manifest = await host.mtree('rootfs');
//   const { diffId } = await host.layer('rootfs', 'layer.tar', { manifest: previous });
//   const warnings = await host.unpackLayer('new-rootfs', 'layer.tar');
//
// One instance serves job after job (instantiating costs far more than a small job).
// A job that ends in a guest `failure` leaves the instance as it was; any other
// exception (a trap, or an exception thrown by this host's own imports) may have left
// the guest's memory half-updated, so the next job gets a fresh instance.
//
// The guest calls no WASI import on its way to a result, so every WASI import is
// linked to a function that throws (the component still names them); one that is
// called means a guest panic, and the job fails with the interface named.

import { hostname, userInfo } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';

import * as fsImports from './fs.mjs';
import * as blobImports from './blobs.mjs';
import { transpiled } from './transpile.mjs';

export { xattrSupport } from './fs.mjs';

/** A guest failure on one object (the instance stays usable). */
export class JobError extends Error {
  constructor(root, failure) {
    const where = failure.path ? `${root}/${failure.path}` : `${root}`;
    super(`${where}: ${failure.message}`);
    this.path = failure.path;
  }
}

/** A WASI import the guest called (only a panicking guest does). */
function trapping(iface) {
  return new Proxy(
    {},
    {
      get(_, name) {
        if (typeof name !== 'string') return undefined;
        return function wasiTrap() {
          throw new Error(`the guest called ${iface}#${name}: WASI is not provided (a guest panic?)`);
        };
      },
    },
  );
}

const WASI = [
  'wasi:cli/environment', 'wasi:cli/exit', 'wasi:cli/stderr', 'wasi:cli/stdin',
  'wasi:cli/stdout', 'wasi:cli/terminal-input', 'wasi:cli/terminal-output',
  'wasi:cli/terminal-stderr', 'wasi:cli/terminal-stdin', 'wasi:cli/terminal-stdout',
  'wasi:io/error', 'wasi:io/poll', 'wasi:io/streams', 'wasi:clocks/monotonic-clock',
  'wasi:clocks/wall-clock', 'wasi:random/random', 'wasi:random/insecure-seed',
  'wasi:random/insecure', 'wasi:filesystem/types', 'wasi:filesystem/preopens',
];

/** The import object; the generated code reads keys without versions, its types with. */
function imports(version) {
  const own = {
    'repack:bundle/fs': {
      Dir: fsImports.Dir,
      File: fsImports.File,
      FileWriter: fsImports.FileWriter,
    },
    'repack:bundle/blobs': {
      BlobWriter: blobImports.BlobWriter,
      BlobReader: blobImports.BlobReader,
      Hasher: blobImports.Hasher,
      TextWriter: blobImports.TextWriter,
    },
    'repack:bundle/clock': { now: () => process.hrtime.bigint() },
  };
  const all = {};
  for (const [key, value] of Object.entries(own)) {
    all[key] = value;
    all[`${key}@${version}`] = value;
  }
  for (const key of WASI) {
    all[key] = trapping(key);
  }
  return all;
}

/** `Fri Dec 4 20:57:48 2026`, local time, as repack-host writes the `date` line. */
function asctime(d) {
  const day = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'][d.getDay()];
  const month = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'][d.getMonth()];
  const two = (n) => String(n).padStart(2, '0');
  const time = `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
  return `${day} ${month} ${d.getDate()} ${time} ${d.getFullYear()}`;
}

function header(rootfs) {
  let user = null;
  try {
    user = userInfo().username;
  } catch {
    user = null;
  }
  return {
    user,
    machine: hostname(),
    tree: String(rootfs),
    date: asctime(new Date()),
  };
}

export class RepackHost {
  #module;
  #dir;
  #cores = new Map();
  #instance = null;
  /** Milliseconds the last job spent instantiating (0 when it reused the instance). */
  lastInstantiateMs = 0;
  /** Instances made so far. */
  instances = 0;

  /**
   * Load the component at `component` (a path to repack.wasm), transpiled into
   * `cacheDir` (one subdirectory per component sha256, reused across runs).
   */
  static async load({ component, cacheDir }) {
    const { dir } = await transpiled(component, cacheDir);
    const host = new RepackHost();
    host.#dir = dir;
    host.#module = await import(pathToFileURL(join(dir, 'repack.js')).href);
    return host;
  }

  async #getInstance() {
    if (this.#instance) {
      this.lastInstantiateMs = 0;
      return this.#instance;
    }
    const start = process.hrtime.bigint();
    const getCoreModule = async (name) => {
      if (!this.#cores.has(name)) {
        this.#cores.set(name, await WebAssembly.compile(await readFile(join(this.#dir, name))));
      }
      return this.#cores.get(name);
    };
    const version = '0.3.0';
    this.#instance = await this.#module.instantiate(getCoreModule, imports(version));
    this.instances += 1;
    this.lastInstantiateMs = Number(process.hrtime.bigint() - start) / 1e6;
    return this.#instance;
  }

  /** Run `job(layer)` on the instance; a non-failure exception drops the instance. */
  async #run(root, job) {
    const layer = (await this.#getInstance()).layer;
    try {
      return await job(layer);
    } catch (e) {
      // The bindings throw an exported function's `err` value itself: a `failure`
      // record, not an Error.
      if (e && !(e instanceof Error) && typeof e.message === 'string' && typeof e.path === 'string') {
        throw new JobError(root, e);
      }
      this.#instance = null;
      throw e;
    }
  }

  /** The mtree manifest of the directory `rootfs`. */
  async mtree(rootfs, mtreeHeader = header(rootfs)) {
    const root = fsImports.Dir.open(rootfs);
    try {
      return await this.#run(rootfs, (layer) => layer.mtree(root, mtreeHeader));
    } finally {
      root.close();
    }
  }

  /**
   * The changes of `rootfs` against `manifest` (text; empty: everything is added) as
   * an uncompressed layer written to the new file `out`. Returns the guest's summary
   * and { diffId, size } of the layer.
   */
  async layer(rootfs, out, { manifest = '', masks = [], clampMtime } = {}) {
    const root = fsImports.Dir.open(rootfs);
    let writer;
    try {
      writer = blobImports.BlobWriter.create(out);
    } catch (e) {
      root.close();
      throw new Error(`${out}: ${e.message}`);
    }
    let summary;
    try {
      summary = await this.#run(rootfs, (layer) =>
        layer.repack(root, writer, {
          manifest,
          masks,
          mapOptions: { uidMappings: [], gidMappings: [], rootless: false },
          clampMtime,
          refresh: undefined,
          statCache: undefined,
          prefix: new Uint8Array(),
          skipRoot: false,
          opaque: false,
          opaqueFirst: [],
          now: BigInt(Date.now()) * 1_000_000n,
          racyWindow: 20_000_000n,
        }, new blobImports.TextWriter()),
      );
    } catch (e) {
      writer.abandon();
      throw e;
    } finally {
      root.close();
    }
    return { summary, ...writer.finish() };
  }

  /**
   * Apply the layer archive in the file `layerPath` onto the directory `rootfs`
   * (which exists; granted for writing). The file is checked as the guest reads it:
   * its size, and its sha256 against `digest` (the blob's; for an uncompressed layer
   * the diff_id). An uncompressed layer needs neither: its sha256 is taken first (one
   * read of the file) and is both. `mediaType` names the compression (`+gzip`,
   * `+zstd`); a compressed layer needs its `diffId` (and its `digest`, else taken
   * first). Owners are kept as the layer has them (`mapOptions` changes that). Returns
   * the guest's warnings.
   */
  async unpackLayer(
    rootfs,
    layerPath,
    {
      mediaType = LAYER_TAR,
      diffId,
      digest,
      mapOptions = { uidMappings: [], gidMappings: [], rootless: false },
      keepDirlinks = false,
      maxLayerSize = DEFAULT_MAX_LAYER_SIZE,
    } = {},
  ) {
    const compressed = mediaType.includes('+');
    if (compressed && !diffId) {
      throw new Error(`${layerPath}: a compressed layer (${mediaType}) needs its diffId`);
    }
    let size;
    try {
      size = statSync(layerPath).size;
      digest ??= compressed ? fileDigest(layerPath) : diffId ?? fileDigest(layerPath);
    } catch (e) {
      throw new Error(`${layerPath}: ${e.message}`);
    }
    diffId ??= digest;
    const root = fsImports.Dir.open(rootfs, { writable: true });
    let reader;
    try {
      reader = blobImports.BlobReader.open(layerPath, digest, size);
    } catch (e) {
      root.close();
      throw new Error(`${layerPath}: ${e.message}`);
    }
    try {
      return await this.#run(rootfs, (layer) =>
        layer.unpackLayer(root, reader, { mediaType, diffId, decompressed: false }, {
          mapOptions,
          keepDirlinks,
          maxLayerSize: BigInt(maxLayerSize),
        }),
      );
    } finally {
      reader.close();
      root.close();
    }
  }
}

const LAYER_TAR = 'application/vnd.oci.image.layer.v1.tar';
/** The native host's default `max_layer_size`: 64 GiB. */
const DEFAULT_MAX_LAYER_SIZE = 64n << 30n;

/** `sha256:<hex>` of the file at `path`. */
function fileDigest(path) {
  const hash = createHash('sha256');
  const buffer = Buffer.allocUnsafe(1 << 20);
  const fd = openSync(path, 'r');
  try {
    for (;;) {
      const n = readSync(fd, buffer, 0, buffer.length, null);
      if (n === 0) break;
      hash.update(buffer.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
  return `sha256:${hash.digest('hex')}`;
}
