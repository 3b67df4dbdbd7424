// A minimal ustar writer for tests: layers no host would write (a path through a
// symlink, a sparse-looking file), built entry by entry.

const BLOCK = 512;

function field(header, offset, length, value) {
  const bytes = Buffer.isBuffer(value) ? value : Buffer.from(value);
  if (bytes.length > length) throw new Error(`tar field too long: ${value}`);
  bytes.copy(header, offset);
}

const octal = (n, length) => n.toString(8).padStart(length - 1, '0');

/**
 * A ustar archive of `entries`: { name, type ('0' file, '2' symlink, '5' directory,
 * '1' hardlink), mode, uid, gid, mtime, linkname, data }.
 */
export function tar(entries) {
  const blocks = [];
  for (const e of entries) {
    const data = e.data ? Buffer.from(e.data) : Buffer.alloc(0);
    const header = Buffer.alloc(BLOCK);
    field(header, 0, 100, e.name);
    field(header, 100, 8, octal(e.mode ?? 0o644, 8));
    field(header, 108, 8, octal(e.uid ?? 0, 8));
    field(header, 116, 8, octal(e.gid ?? 0, 8));
    field(header, 124, 12, octal(data.length, 12));
    field(header, 136, 12, octal(e.mtime ?? 1700000000, 12));
    field(header, 148, 8, '        ');
    field(header, 156, 1, e.type ?? '0');
    field(header, 157, 100, e.linkname ?? '');
    field(header, 257, 6, 'ustar\0');
    field(header, 263, 2, '00');
    let sum = 0;
    for (const b of header) sum += b;
    field(header, 148, 8, `${octal(sum, 7)}\0`);
    blocks.push(header, data, Buffer.alloc((BLOCK - (data.length % BLOCK)) % BLOCK));
  }
  blocks.push(Buffer.alloc(2 * BLOCK));
  return Buffer.concat(blocks);
}
