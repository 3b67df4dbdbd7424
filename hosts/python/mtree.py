#!/usr/bin/env python3
"""The repack component's `mtree` job under wasmtime-py.

    python mtree.py COMPONENT.wasm DIR        print DIR's mtree manifest
    python mtree.py COMPONENT.wasm mtree DIR  (the same; the conformance kit's verb)

COMPONENT.wasm is what `repack-host component --out OUT` writes. The host side is
Python's own `os` module: every path is resolved one component at a time from the
granted directory with `openat(2)` (`dir_fd`) and `O_NOFOLLOW`, so no symlink is
followed and nothing outside DIR is reached, without a racy check; xattrs are read
with `os.listxattr`/`os.getxattr(..., follow_symlinks=False)`.

Only what `mtree` calls is implemented (`dir.metadata`, `read-dir`, `read-dir-xattrs`,
`read-link`, `xattrs`, `digest`, and `clock.now`); every other import, WASI included,
is defined to trap. The guest calls none of them on success.

Limit: wasmtime-py converts every `list<u8>` element by element in Python, so bytes
cross the boundary at a few hundred KB/s. `mtree` moves only names and digests (the
host hashes file contents), which is fine for trees of a few thousand entries; a
layer (`repack`, whose archive is one large `list<u8>` stream) takes minutes for
100 MB. Use the native host or the Node.js host for layers and large trees.
"""

import errno
import hashlib
import os
import socket
import stat
import sys
import time

from wasmtime import Config, Engine, Store, WasmtimeError
from wasmtime.component import Component, Linker, Record, ResourceHost, ResourceType, Variant

VERSION = "0.3.0"
DIR_TYPE = 1  # our host resource type id for `fs.dir`


class FsError(Exception):
    """A failed call, as an `fs.error` variant."""

    def __init__(self, tag, val=None):
        super().__init__(tag)
        self.variant = Variant(tag, val) if val is not None else Variant(tag)


def mapped(e):
    if isinstance(e, FsError):
        return e.variant
    code = getattr(e, "errno", None)
    if code == errno.ENOENT:
        return Variant("not-found")
    if code in (errno.EACCES, errno.EPERM):
        return Variant("permission-denied")
    if code == errno.ELOOP:
        return Variant("escapes-root")
    if code in (errno.ENOTSUP, errno.EOPNOTSUPP):
        return Variant("not-supported")
    if code is not None:
        return Variant("io", str(e))
    raise e  # a bug in this host: let it trap


def kind(mode):
    for test, name in (
        (stat.S_ISREG, "regular"),
        (stat.S_ISDIR, "directory"),
        (stat.S_ISLNK, "symlink"),
        (stat.S_ISFIFO, "fifo"),
        (stat.S_ISSOCK, "socket"),
        (stat.S_ISCHR, "char-device"),
    ):
        if test(mode):
            return name
    return "block-device"


def metadata(st):
    r = Record()
    device = stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)
    fields = {
        "kind": kind(st.st_mode),
        "mode": stat.S_IMODE(st.st_mode),
        "uid": st.st_uid,
        "gid": st.st_gid,
        "size": st.st_size,
        "mtime-sec": st.st_mtime_ns // 1_000_000_000,
        "mtime-nsec": st.st_mtime_ns % 1_000_000_000,
        "ctime-sec": st.st_ctime_ns // 1_000_000_000,
        "ctime-nsec": st.st_ctime_ns % 1_000_000_000,
        "ino": st.st_ino,
        "nlink": st.st_nlink,
        "rdev-major": os.major(st.st_rdev) if device else 0,
        "rdev-minor": os.minor(st.st_rdev) if device else 0,
    }
    for name, value in fields.items():
        setattr(r, name, value)
    return r


class Dir:
    """A granted directory; paths are resolved below it with openat and O_NOFOLLOW."""

    def __init__(self, path):
        self.fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)

    def parent(self, path):
        """(fd of the directory holding the final component, final name); close the fd."""
        if b"\0" in path or path.startswith(b"/"):
            raise FsError("escapes-root")
        parts = [p for p in path.split(b"/") if p not in (b"", b".")]
        if b".." in parts:
            raise FsError("escapes-root")
        fd = os.dup(self.fd)
        try:
            for part in parts[:-1]:
                try:
                    child = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
                except OSError as e:
                    # O_NOFOLLOW | O_DIRECTORY on a symlink: ELOOP or ENOTDIR.
                    if e.errno in (errno.ELOOP, errno.ENOTDIR):
                        st = os.stat(part, dir_fd=fd, follow_symlinks=False)
                        if stat.S_ISLNK(st.st_mode):
                            raise FsError("escapes-root") from e
                        raise FsError("not-found") from e
                    raise
                os.close(fd)
                fd = child
        except BaseException:
            os.close(fd)
            raise
        return fd, (parts[-1] if parts else b".")

    def lstat(self, path):
        fd, name = self.parent(path)
        try:
            return os.stat(name, dir_fd=fd, follow_symlinks=False)
        finally:
            os.close(fd)

    def open_regular(self, path):
        fd, name = self.parent(path)
        try:
            f = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=fd)
        finally:
            os.close(fd)
        if not stat.S_ISREG(os.fstat(f).st_mode):
            os.close(f)
            raise FsError("not-supported")
        return f

    def xattrs_of(self, dir_fd, name, mode):
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            return []
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | (os.O_DIRECTORY if stat.S_ISDIR(mode) else 0)
        f = os.open(name, flags, dir_fd=dir_fd)
        try:
            out = []
            for key in os.listxattr(f):
                try:
                    out.append((os.fsencode(key), os.getxattr(f, key)))
                except OSError:
                    continue  # removed meanwhile
            return out
        finally:
            os.close(f)

    def entries(self, path, with_xattrs):
        fd, name = self.parent(path)
        try:
            d = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
        finally:
            os.close(fd)
        try:
            out = []
            for child in os.listdir(d):
                try:
                    st = os.stat(child, dir_fd=d, follow_symlinks=False)
                except FileNotFoundError:
                    continue
                entry = Record()
                entry.name = os.fsencode(child)
                entry.meta = metadata(st)
                if with_xattrs:
                    out.append((entry, self.xattrs_of(d, child, st.st_mode)))
                else:
                    out.append(entry)
            return out
        finally:
            os.close(d)

    def digest(self, path):
        f = self.open_regular(path)
        try:
            h = hashlib.sha256()
            while chunk := os.read(f, 1 << 20):
                h.update(chunk)
            return h.digest()
        finally:
            os.close(f)

    def read_link(self, path):
        fd, name = self.parent(path)
        try:
            return os.fsencode(os.readlink(name, dir_fd=fd))
        except OSError as e:
            if e.errno == 22:  # EINVAL: not a symlink
                raise FsError("not-supported") from e
            raise
        finally:
            os.close(fd)

    def xattrs(self, path):
        fd, name = self.parent(path)
        try:
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            return self.xattrs_of(fd, name, st.st_mode)
        finally:
            os.close(fd)


DIRS = {}


def method(fn):
    """A `[method]dir.*` import: the handle's object, then `fn`, errors as `err`."""

    def call(store, handle, *args):
        d = DIRS[handle.to_host(store).rep]
        try:
            return fn(d, *args)
        except Exception as e:  # noqa: BLE001 - mapped() re-raises what is not I/O
            return mapped(e)

    return call


def linker_for(engine, component):
    linker = Linker(engine)
    with linker.root() as root:
        with root.add_instance(f"repack:bundle/fs@{VERSION}") as fs:
            fs.add_resource("dir", ResourceType.host(DIR_TYPE), lambda store, rep: DIRS.pop(rep, None))
            fs.add_func("[method]dir.metadata", method(lambda d, p: metadata(d.lstat(p))))
            fs.add_func("[method]dir.read-dir", method(lambda d, p: d.entries(p, False)))
            fs.add_func("[method]dir.read-dir-xattrs", method(lambda d, p: d.entries(p, True)))
            fs.add_func("[method]dir.read-link", method(lambda d, p: d.read_link(p)))
            fs.add_func("[method]dir.xattrs", method(lambda d, p: d.xattrs(p)))
            fs.add_func("[method]dir.digest", method(lambda d, p: d.digest(p)))
        with root.add_instance(f"repack:bundle/clock@{VERSION}") as clock:
            clock.add_func("now", lambda store: time.monotonic_ns())
    # Everything else (blobs, the write side of fs, WASI) traps if called.
    linker.define_unknown_imports_as_traps(component)
    return linker


def mtree(component_path, tree):
    engine = Engine(Config())
    component = Component.from_file(engine, component_path)
    linker = linker_for(engine, component)
    store = Store(engine)
    start = time.monotonic()
    instance = linker.instantiate(store, component)
    instantiate_ms = (time.monotonic() - start) * 1000
    layer = instance.get_export_index(store, f"repack:bundle/layer@{VERSION}")
    func = instance.get_func(store, instance.get_export_index(store, "mtree", layer))

    DIRS[1] = Dir(tree)
    header = Record()
    header.user = os.environ.get("USER") or None
    header.machine = socket.gethostname()
    header.tree = tree
    header.date = time.strftime("%a %b %-d %H:%M:%S %Y")
    try:
        result = func(store, ResourceHost.borrow(1, DIR_TYPE), header)
    finally:
        os.close(DIRS.pop(1).fd)
    if isinstance(result, str):
        return result, instantiate_ms
    where = os.path.join(tree, result.path) if result.path else tree
    raise SystemExit(f"mtree.py: {where}: {result.message}")


def main(argv):
    args = argv[1:]
    if len(args) == 3 and args[1] == "mtree":
        args = [args[0], args[2]]
    if len(args) != 2:
        raise SystemExit("usage: mtree.py COMPONENT.wasm [mtree] DIR")
    try:
        text, instantiate_ms = mtree(args[0], args[1])
    except (OSError, WasmtimeError) as e:
        raise SystemExit(f"mtree.py: {e}".splitlines()[0])
    if os.environ.get("REPACK_TIMINGS"):
        print(f"instantiate: {instantiate_ms:.1f} ms", file=sys.stderr)
    sys.stdout.write(text)


if __name__ == "__main__":
    main(sys.argv)
