#!/usr/bin/env python3
"""bench/scale_tree.py DEST FILES [PER_DIR] -- a flat, wide tree for scale runs.

FILES small regular files (64-1,087 bytes, text) in FILES/PER_DIR directories
(default 200 per directory) named d00000/f000, with fixed modes and mtimes, so the
tree depends only on its arguments. Standard library only.
"""
import os
import sys


def main(argv):
    if len(argv) not in (3, 4):
        sys.exit(__doc__.strip().splitlines()[0])
    dest, files = argv[1], int(argv[2])
    per_dir = int(argv[3]) if len(argv) == 4 else 200
    os.makedirs(dest, exist_ok=False)
    base = 1_700_000_000
    for i in range(files):
        d = os.path.join(dest, "d%05d" % (i // per_dir))
        if i % per_dir == 0:
            os.mkdir(d)
        p = os.path.join(d, "f%03d" % (i % per_dir))
        size = 64 + (i * 7919) % 1024
        line = ("file %d of the scale tree\n" % i).encode()
        data = (line * (size // len(line) + 1))[:size]
        with open(p, "wb") as f:
            f.write(data)
        os.utime(p, (base + i, base + i))
    for j in range((files + per_dir - 1) // per_dir):
        d = os.path.join(dest, "d%05d" % j)
        os.utime(d, (base, base))
    os.utime(dest, (base, base))


if __name__ == "__main__":
    main(sys.argv)
