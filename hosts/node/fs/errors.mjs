// The `fs.error` variant and the mapping of node:fs errno exceptions onto it.

/** A failed call: the guest gets `payload` (an `fs.error` variant) as its `err`. */
export class FsError extends Error {
  constructor(payload) {
    super(payload.tag === 'io' ? payload.val : payload.tag);
    this.payload = payload;
  }
}

export const escapes = () => new FsError({ tag: 'escapes-root' });
export const notSupported = () => new FsError({ tag: 'not-supported' });
export const denied = () => new FsError({ tag: 'permission-denied' });
export const notFound = () => new FsError({ tag: 'not-found' });
export const io = (message) => new FsError({ tag: 'io', val: message });

/**
 * An errno exception from node:fs as an `fs.error`, as the native host words them:
 * every open here refuses to follow a symlink, so ELOOP means a symlink stood where a
 * directory was expected (`escapes-root`), and ENOTDIR means an object is not the
 * directory the path needs (`not-supported`).
 */
export function mapped(e) {
  if (e instanceof FsError) return e;
  switch (e && e.code) {
    case 'ENOENT':
      return notFound();
    case 'EACCES':
    case 'EPERM':
      return denied();
    case 'ELOOP':
      return escapes();
    case 'ENOTDIR':
    case 'ENOTSUP':
    case 'EOPNOTSUPP':
      return notSupported();
    default:
      if (e && typeof e.code === 'string') return io(e.message);
      throw e; // not an I/O error: a bug, let it trap
  }
}

/** Run `fn`, turning errno exceptions into `FsError`s. */
export function guarded(fn) {
  try {
    return fn();
  } catch (e) {
    throw mapped(e);
  }
}
