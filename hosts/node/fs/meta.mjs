// `fs.metadata` records from node:fs BigInt stats.

function kind(st) {
  if (st.isFile()) return 'regular';
  if (st.isDirectory()) return 'directory';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isFIFO()) return 'fifo';
  if (st.isSocket()) return 'socket';
  if (st.isCharacterDevice()) return 'char-device';
  return 'block-device';
}

const BILLION = 1_000_000_000n;

/** Seconds and nanoseconds of a BigInt nanosecond count (nanoseconds never negative). */
function split(ns) {
  let sec = ns / BILLION;
  let nsec = ns - sec * BILLION;
  if (nsec < 0n) {
    sec -= 1n;
    nsec += BILLION;
  }
  return [sec, Number(nsec)];
}

/** `fs.metadata` of a BigInt lstat/fstat result. */
export function metadata(st) {
  const k = kind(st);
  const [mtimeSec, mtimeNsec] = split(st.mtimeNs);
  const [ctimeSec, ctimeNsec] = split(st.ctimeNs);
  const device = k === 'char-device' || k === 'block-device';
  const rdev = st.rdev;
  return {
    kind: k,
    mode: Number(st.mode & 0o7777n),
    uid: Number(st.uid),
    gid: Number(st.gid),
    size: st.size,
    mtimeSec,
    mtimeNsec,
    ctimeSec,
    ctimeNsec,
    ino: st.ino,
    nlink: st.nlink,
    // Linux's encoding of dev_t (glibc's gnu_dev_major / gnu_dev_minor).
    rdevMajor: device ? Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn)) : 0,
    rdevMinor: device ? Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn)) : 0,
  };
}
