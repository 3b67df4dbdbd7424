// The component, transpiled by jco into an ES module, cached by the wasm's sha256.
//
// Transpiling takes a few seconds; the output depends only on the component's bytes
// and the pinned jco-transpile version, so it is kept in CACHE/<sha256>/ and reused.
// A cache entry is written to a temporary directory and renamed into place, so a
// killed run never leaves a half-written entry.

import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/** sha256 of `bytes`, lowercase hex. */
export function sha256Hex(bytes) {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * The directory holding the transpiled component for the wasm at `wasmPath`,
 * transpiling it first if `cacheDir` has no entry for its digest.
 * Returns { dir, sha256, transpiled } (transpiled: whether this call did the work).
 */
export async function transpiled(wasmPath, cacheDir) {
  const bytes = readFileSync(wasmPath);
  const sha256 = sha256Hex(bytes);
  const dir = resolve(cacheDir, sha256);
  if (existsSync(join(dir, 'repack.js'))) {
    return { dir, sha256, transpiled: false };
  }
  const { transpileBytes } = await import('@bytecodealliance/jco-transpile');
  const { files } = await transpileBytes(bytes, {
    name: 'repack',
    // The host supplies every import (WASI included) when it instantiates.
    instantiation: 'async',
    wasiShim: false,
    emitTypescriptDeclarations: true,
  });
  mkdirSync(cacheDir, { recursive: true });
  const temp = mkdtempSync(join(cacheDir, `.${sha256}-`));
  try {
    for (const [name, content] of Object.entries(files)) {
      mkdirSync(dirname(join(temp, name)), { recursive: true });
      writeFileSync(join(temp, name), content);
    }
    try {
      renameSync(temp, dir);
    } catch (e) {
      // Another process got there first: its entry is as good as ours.
      if (!existsSync(join(dir, 'repack.js'))) throw e;
    }
  } finally {
    rmSync(temp, { recursive: true, force: true });
  }
  return { dir, sha256, transpiled: true };
}
