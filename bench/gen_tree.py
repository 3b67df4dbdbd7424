#!/usr/bin/env python3
"""Synthetic file trees for the repack benchmarks (Python 3 standard library only).

The output depends only on the profile, the seed and the size options: the same
arguments give the same names, contents, modes, owners, xattrs and mtimes. Owners
need root and xattrs need a filesystem with user xattrs; without them those parts
are left out, with a warning on stderr.

Profiles
  many-small  --files regular files (default 50000) of 0-16 KiB, skewed small
              (16 KiB * u**2: ~270 MiB for 50000), in ~files/20 nested
              directories (depth at most 6); 200 empty directories, 1000 relative
              symlinks (one in ten dangling), 500 hardlinks; user.* xattrs on about
              5% of files and directories, about 5% of files owned by 1000:1000,
              modes 0644/0755/0600/0444, about 1% long (over 100 bytes) or UTF-8
              names.
  few-large   20 files totalling --size-mib (default 1024): even-numbered ones
              random bytes, odd-numbered ones text-like.
  mixed       --size-mib (default 500) in files of mixed sizes: 60% of the bytes
              in 16-64 MiB files, 30% in 64 KiB-4 MiB, 10% in 0-64 KiB, each file
              random or text-like with equal odds.
  small-add   10 files of 1-64 KiB, alternately random and text-like.

Every entry gets a fixed mtime (a base time plus its creation index, directories
the base time), so trees made on different days are identical.

Usage: gen_tree.py PROFILE DEST [--seed N] [--size-mib N] [--files N]
DEST must be missing or empty.
"""

import argparse
import os
import random
import sys

KIB = 1 << 10
MIB = 1 << 20
BASE_MTIME = 1700000000  # 2023-11-14T22:13:20Z
TEXT_POOL = 8 * MIB


class Tree:
    """Writes entries below `root`, drawing every choice from one seeded stream."""

    def __init__(self, root, seed, profile):
        self.root = root
        self.rnd = random.Random(f"repack-bench/{profile}/{seed}")
        self.serial = 0
        self.can_chown = os.geteuid() == 0
        self.can_xattr = True
        self._text = None

    # -- content --------------------------------------------------------------
    def text_pool(self):
        """A few MiB of word salad with a skewed vocabulary (compresses ~3:1)."""
        if self._text is None:
            rnd = random.Random(self.rnd.getrandbits(64))
            alphabet = "etaoinshrdlucmfwypvbgkqjxz"
            weights = list(range(len(alphabet), 0, -1))
            words = [
                "".join(rnd.choices(alphabet, weights, k=rnd.randint(2, 10)))
                for _ in range(6000)
            ]
            freq = [1.0 / rank for rank in range(1, len(words) + 1)]
            out = bytearray()
            while len(out) < TEXT_POOL:
                batch = rnd.choices(words, freq, k=12 * 1024)
                for start in range(0, len(batch), 12):
                    out += " ".join(batch[start:start + 12]).encode()
                    out += b".\n" if rnd.random() < 0.5 else b", "
            self._text = bytes(out[:TEXT_POOL])
        return self._text

    def fill(self, fh, size, kind):
        remaining = size
        if kind == "random":
            while remaining:
                n = min(remaining, 4 * MIB)
                fh.write(self.rnd.randbytes(n))
                remaining -= n
            return
        pool = self.text_pool()
        while remaining:
            n = min(remaining, self.rnd.randint(4 * KIB, 256 * KIB))
            at = self.rnd.randrange(0, len(pool) - n)
            fh.write(pool[at:at + n])
            remaining -= n

    # -- entries --------------------------------------------------------------
    def path(self, rel):
        return os.path.join(self.root, rel)

    def next_mtime(self):
        self.serial += 1
        return BASE_MTIME + self.serial

    def file(self, rel, size, kind, mode=0o644):
        p = self.path(rel)
        with open(p, "wb") as fh:
            self.fill(fh, size, kind)
        os.chmod(p, mode)
        t = self.next_mtime()
        os.utime(p, (t, t))
        return p

    def symlink(self, target, rel):
        p = self.path(rel)
        os.symlink(target, p)
        t = self.next_mtime()
        os.utime(p, (t, t), follow_symlinks=False)
        return p

    def xattrs(self, p):
        # Draw first, so the rest of the tree does not depend on xattr support.
        extra = self.rnd.random() < 0.3
        blob = self.rnd.randbytes(64).hex().encode()
        if not self.can_xattr:
            return
        try:
            os.setxattr(p, "user.bench.serial", str(self.serial).encode())
            if extra:
                os.setxattr(p, "user.bench.note", blob)
        except OSError as err:
            print(f"gen_tree: no user xattrs here, leaving them out ({err})", file=sys.stderr)
            self.can_xattr = False

    def owner(self, p, follow=True):
        if self.can_chown:
            os.chown(p, 1000, 1000, follow_symlinks=follow)

    def settle_dirs(self):
        """Give every directory the base mtime, children first (creating entries moves it)."""
        for parent, dirs, _ in os.walk(self.root, topdown=False):
            for d in dirs:
                os.utime(os.path.join(parent, d), (BASE_MTIME, BASE_MTIME),
                         follow_symlinks=False)
        os.utime(self.root, (BASE_MTIME, BASE_MTIME))


def entry_name(rnd, prefix, index):
    """Mostly short names with an extension; ~0.5% long, ~0.5% UTF-8."""
    roll = rnd.random()
    stem = f"{prefix}{index:06d}"
    if roll < 0.005:
        return stem + "-" + "x" * rnd.randint(100, 200)
    if roll < 0.010:
        return stem + "-" + rnd.choice(["naïve", "датотека", "ファイル", "ñandú-ü"])
    return stem + rnd.choice(["", ".txt", ".c", ".h", ".json", ".so", ".py", ".dat"])


def many_small(t, nfiles):
    rnd = t.rnd
    # Directories: each new one goes under a recent one that is not too deep
    # (any shallow one when the recent ones are all at the limit).
    dirs = [("", 0)]
    for i in range(max(1, nfiles // 20)):
        candidates = ([d for d in dirs[-400:] if d[1] < 6]
                      or [d for d in dirs if d[1] < 6])
        parent, depth = rnd.choice(candidates)
        rel = os.path.join(parent, entry_name(rnd, "d", i))
        os.mkdir(t.path(rel))
        dirs.append((rel, depth + 1))
        if rnd.random() < 0.05:
            t.xattrs(t.path(rel))

    files = []
    for i in range(nfiles):
        parent = rnd.choice(dirs)[0]
        rel = os.path.join(parent, entry_name(rnd, "f", i))
        size = int(16 * KIB * rnd.random() ** 2)
        kind = "random" if rnd.random() < 0.4 else "text"
        mode = rnd.choices([0o644, 0o755, 0o600, 0o444], [80, 12, 5, 3])[0]
        p = t.file(rel, size, kind, mode)
        if rnd.random() < 0.05:
            t.xattrs(p)
        if rnd.random() < 0.05:
            t.owner(p)
        files.append(rel)

    for i in range(200):
        os.mkdir(t.path(os.path.join(rnd.choice(dirs)[0], f"empty{i:04d}")))

    for i in range(1000):
        parent = rnd.choice(dirs)[0]
        if rnd.random() < 0.1:
            target = f"nowhere/missing{i}"
        else:
            dest = rnd.choice(files) if rnd.random() < 0.8 else (rnd.choice(dirs)[0] or ".")
            target = os.path.relpath(t.path(dest), t.path(parent))
        p = t.symlink(target, os.path.join(parent, f"l{i:05d}"))
        if rnd.random() < 0.05:
            t.owner(p, follow=False)

    for i in range(500):
        source = t.path(rnd.choice(files))
        link = t.path(os.path.join(rnd.choice(dirs)[0], f"h{i:05d}"))
        os.link(source, link)


def few_large(t, total, count=20):
    rnd = t.rnd
    weights = [rnd.uniform(0.5, 1.5) for _ in range(count)]
    sizes = [int(total * w / sum(weights)) for w in weights]
    sizes[-1] += total - sum(sizes)
    os.mkdir(t.path("data"))
    for i, size in enumerate(sizes):
        kind, ext = ("random", "bin") if i % 2 == 0 else ("text", "txt")
        t.file(f"data/large{i:02d}.{ext}", size, kind)


def mixed(t, total):
    rnd = t.rnd
    bands = [(0.6, 16 * MIB, 64 * MIB), (0.3, 64 * KIB, 4 * MIB), (0.1, 0, 64 * KIB)]
    serial = 0
    for band, (share, low, high) in enumerate(bands):
        sub = f"c{band}"
        os.mkdir(t.path(sub))
        left = int(total * share)
        while left > 0:
            size = min(left, rnd.randint(low, high))
            kind = "random" if rnd.random() < 0.5 else "text"
            t.file(os.path.join(sub, f"m{serial:05d}.{kind[:3]}"), size, kind)
            left -= size
            serial += 1


def small_add(t):
    for i in range(10):
        kind = "random" if i % 2 == 0 else "text"
        t.file(f"added{i:02d}.{kind[:3]}", t.rnd.randint(1 * KIB, 64 * KIB), kind)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("profile", choices=["many-small", "few-large", "mixed", "small-add"])
    ap.add_argument("dest")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--size-mib", type=int, help="few-large (1024) and mixed (500)")
    ap.add_argument("--files", type=int, default=50000, help="many-small file count")
    args = ap.parse_args()

    os.makedirs(args.dest, exist_ok=True)
    if os.listdir(args.dest):
        sys.exit(f"gen_tree: {args.dest} is not empty")
    os.umask(0o022)
    t = Tree(args.dest, args.seed, args.profile)
    if args.profile == "many-small":
        many_small(t, args.files)
    elif args.profile == "few-large":
        few_large(t, (args.size_mib or 1024) * MIB)
    elif args.profile == "mixed":
        mixed(t, (args.size_mib or 500) * MIB)
    else:
        small_add(t)
    t.settle_dirs()


if __name__ == "__main__":
    main()
