"""Builds OCI image layers for the integration tests from a snippet of Python.

Usage:
  layers.py tar OUT SNIPPET
      write a plain archive to OUT;
  layers.py layer LAYOUT TAG NEW_TAG gzip|none SNIPPET
      append the archive as a new layer of TAG's image (diff_id, history, config,
      manifest) and tag the result NEW_TAG.

SNIPPET runs with `t`, a `tarfile.TarFile`, and the helpers below in scope. MARKER
(from the environment) is the absolute path of the marker directory.
"""
import gzip, hashlib, io, json, os, sys, tarfile

MTIME = 1234567890
MARKER = os.environ.get("MARKER", "")
mode = sys.argv[1]
if mode == "tar":
    out, snippet = sys.argv[2:4]
    compress = "none"
else:
    layout, tag, new_tag, compress, snippet = sys.argv[2:7]
    out = os.path.join(layout, "blobs", "sha256", ".new-layer")

class Sink:
    """Hashes the archive (the diff_id) on its way to the (compressed) file."""
    def __init__(self, out):
        self.hash, self.out, self.n = hashlib.sha256(), out, 0
    def write(self, b):
        self.hash.update(b)
        self.out.write(b)
        self.n += len(b)
        return len(b)
    def tell(self):
        return self.n

blob = open(out, "wb")
comp = gzip.GzipFile(fileobj=blob, mode="wb", mtime=0, compresslevel=1) if compress == "gzip" else blob
sink = Sink(comp)
t = tarfile.open(fileobj=sink, mode="w", format=tarfile.PAX_FORMAT)

class Zeros:
    def __init__(self, n):
        self.left = n
    def read(self, n=-1):
        n = self.left if n is None or n < 0 else min(n, self.left)
        self.left -= n
        return bytes(n)

def entry(name, kind, mode=0o644, uid=0, gid=0, size=0, link="", xattrs=None, data=None,
          major=0, minor=0, mtime=MTIME):
    i = tarfile.TarInfo(name)
    i.type, i.mode, i.uid, i.gid, i.size, i.linkname = kind, mode, uid, gid, size, link
    i.mtime, i.devmajor, i.devminor = mtime, major, minor
    for k, v in (xattrs or {}).items():
        i.pax_headers["SCHILY.xattr." + k] = v
    t.addfile(i, data)

def reg(name, data=b"", **kw):
    entry(name, tarfile.REGTYPE, size=len(data), data=io.BytesIO(data), **kw)
def dir(name, mode=0o755, **kw):
    entry(name, tarfile.DIRTYPE, mode=mode, **kw)
def sym(name, target, **kw):
    entry(name, tarfile.SYMTYPE, mode=0o777, link=target, **kw)
def hard(name, target, **kw):
    entry(name, tarfile.LNKTYPE, link=target, **kw)
def dev(name, kind, major, minor, **kw):
    entry(name, tarfile.CHRTYPE if kind == "c" else tarfile.BLKTYPE, major=major, minor=minor, **kw)
def fifo(name, **kw):
    entry(name, tarfile.FIFOTYPE, **kw)
def zeros(name, size):
    entry(name, tarfile.REGTYPE, size=size, data=Zeros(size))
def raw(b):
    """Bytes written as they are, between entries."""
    t.fileobj.write(b)
    t.offset += len(b)
def lying(name, size, data):
    """A header claiming `size` bytes (a PAX size record) followed by only `data`."""
    i = tarfile.TarInfo(name)
    i.size, i.mtime = size, MTIME
    raw(i.tobuf(tarfile.PAX_FORMAT))
    raw(data + bytes(-len(data) % 512))

exec(snippet)
t.close()
if comp is not blob:
    comp.close()
blob.close()
if mode == "tar":
    sys.exit(0)

blobs = os.path.join(layout, "blobs", "sha256")
def put(data):
    d = hashlib.sha256(data).hexdigest()
    with open(os.path.join(blobs, d), "wb") as f:
        f.write(data)
    return {"digest": "sha256:" + d, "size": len(data)}
def load(desc):
    with open(os.path.join(blobs, desc["digest"].split(":", 1)[1]), "rb") as f:
        return json.load(f)

h = hashlib.sha256()
with open(out, "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
        h.update(chunk)
layer = {"mediaType": "application/vnd.oci.image.layer.v1.tar" + ("+gzip" if compress == "gzip" else ""),
         "digest": "sha256:" + h.hexdigest(), "size": os.path.getsize(out)}
os.rename(out, os.path.join(blobs, h.hexdigest()))

ref = "org.opencontainers.image.ref.name"
with open(os.path.join(layout, "index.json")) as f:
    index = json.load(f)
[desc] = [d for d in index["manifests"] if d.get("annotations", {}).get(ref) == tag]
manifest = load(desc)
config = load(manifest["config"])
config["rootfs"]["diff_ids"].append("sha256:" + sink.hash.hexdigest())
config.setdefault("history", []).append({"created_by": "umoci_unpack test layer"})
manifest["config"].update(put(json.dumps(config).encode()))
manifest["layers"] = (manifest.get("layers") or []) + [layer]
new = dict(desc, **put(json.dumps(manifest).encode()))
new["annotations"] = dict(desc.get("annotations", {}), **{ref: new_tag})
index["manifests"] = [d for d in index["manifests"] if d.get("annotations", {}).get(ref) != new_tag] + [new]
with open(os.path.join(layout, "index.json"), "w") as f:
    json.dump(index, f)
