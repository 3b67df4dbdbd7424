// The component, transpiled by jco into an ES module, cached by the wasm's sha256.
//
// Transpiling takes a few seconds; the output depends only on the component's bytes
// and the pinned jco-transpile version, so it is kept in CACHE/<sha256>/ and reused.
// A cache entry is written to a temporary directory and renamed into place, so a
// killed run never leaves a half-written entry.
//
// One edit is made to the generated code (entries carry its revision in their name):
// jco-transpile 0.15's `_debugLog`, called several times on every import call, reads
// `process.env.JCO_DEBUG` each time (a getenv(3) through Node's environment proxy,
// about a tenth of an mtree's JavaScript time); the edited module reads it once when
// it is imported. Output the edit does not match is kept as jco wrote it.

import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/** Revision of the edits below; part of each cache entry's name. */
const EDITS = 'e1';

const DEBUG_LOG = `  const _debugLog = (...args) => {
    if (!globalThis?.process?.env?.JCO_DEBUG) { return; }`;
const DEBUG_LOG_ONCE = `  const _jcoDebug = Boolean(globalThis?.process?.env?.JCO_DEBUG);
  const _debugLog = (...args) => {
    if (!_jcoDebug) { return; }`;

/** The generated module with `JCO_DEBUG` read once (see above). */
function edited(name, content) {
  if (name !== 'repack.js') return content;
  const text = Buffer.from(content).toString('utf8');
  return text.includes(DEBUG_LOG) ? text.replace(DEBUG_LOG, DEBUG_LOG_ONCE) : content;
}

/** sha256 of `bytes`, lowercase hex. */
export function sha256Hex(bytes) {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * The directory holding the transpiled component for the wasm at `wasmPath`,
 * transpiling it first if `cacheDir` has no entry for its digest (and edit revision).
 * Returns { dir, sha256, transpiled } (transpiled: whether this call did the work).
 */
export async function transpiled(wasmPath, cacheDir) {
  const bytes = readFileSync(wasmPath);
  const sha256 = sha256Hex(bytes);
  const dir = resolve(cacheDir, `${sha256}-${EDITS}`);
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
      writeFileSync(join(temp, name), edited(name, content));
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
