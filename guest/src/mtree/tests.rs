//! Whole-manifest tests: the writer against umoci's layout, and parse(write(walk)).

use std::collections::BTreeMap;

use super::*;
use crate::tree::Kind;
use crate::tree::mem::{MemTree, meta};

fn sample() -> MemTree {
    let mut t = MemTree::new();
    t.insert(b"a b", meta(Kind::Regular, 0o644), b"x");
    t.insert(b"sh", meta(Kind::Symlink, 0o777), b"/bin/ash");
    t.insert(b"fifo", meta(Kind::Fifo, 0o644), b"");
    let mut bin = meta(Kind::Directory, 0o2755);
    bin.nlink = 2;
    t.insert(b"bin", bin, b"");
    let mut ash = meta(Kind::Regular, 0o4755);
    ash.nlink = 2;
    ash.ino = 77;
    t.insert(b"bin/ash", ash, b"b")
        .xattrs
        .push((b"user.note".to_vec(), b"hello".to_vec()));
    t.insert(b"bin/busybox", ash, b"b")
        .xattrs
        .push((b"user.note".to_vec(), b"hello".to_vec()));
    let mut home = meta(Kind::Directory, 0o700);
    (home.uid, home.gid) = (1000, 100);
    t.insert(b"home", home, b"");
    t.insert(b"home/sub", home, b"");
    t.insert(b"zero", meta(Kind::Directory, 0), b"");
    let mut f = meta(Kind::Regular, 0o664);
    f.uid = 1000;
    t.insert(b"zero/f", f, b"");
    t.insert(b"nl\ndir", meta(Kind::Directory, 0o755), b"");
    t
}

fn header() -> Header {
    Header {
        user: Some("root".into()),
        machine: None,
        tree: "b/rootfs".into(),
        date: "Fri Nov 27 23:11:51 2026".into(),
    }
}

#[test]
fn writes_umoci_layout() {
    let text = manifest(&sample(), &header()).unwrap();
    let z = "0".repeat(62);
    let expected = format!(
        "#          user: root
#          tree: b/rootfs
#          date: Fri Nov 27 23:11:51 2026
#      keywords: size,type,uid,gid,mode,link,nlink,tar_time,sha256digest,xattr

# .
/set type=file nlink=1 mode=0664 uid=0 gid=0
. size=4096 type=dir mode=0755 tar_time=1000.000000000
    a\\040b size=1 mode=0644 tar_time=1000.000000000 sha256digest=78{z}
    fifo size=0 type=fifo mode=0644 tar_time=1000.000000000
    sh size=8 type=link mode=0777 link=/bin/ash tar_time=1000.000000000

# bin
bin size=4096 type=dir mode=02755 nlink=2 tar_time=1000.000000000
    ash size=1 mode=04755 nlink=2 tar_time=1000.000000000 sha256digest=62{z} xattr.user.note=aGVsbG8=
    busybox size=1 mode=04755 nlink=2 tar_time=1000.000000000 sha256digest=62{z} xattr.user.note=aGVsbG8=
..

# home
/set type=file nlink=1 mode=0664 uid=1000 gid=100
home size=4096 type=dir mode=0700 tar_time=1000.000000000

# home/sub
sub size=4096 type=dir mode=0700 tar_time=1000.000000000
..
..

# nl\\012dir
/set type=file nlink=1 mode=0664 uid=0 gid=0
nl\\012dir size=4096 type=dir mode=0755 tar_time=1000.000000000
..

# zero
zero size=4096 type=dir mode=0 tar_time=1000.000000000
    f size=0 uid=1000 tar_time=1000.000000000 sha256digest={z}00
..
..
"
    );
    assert_eq!(text, expected);
}

#[test]
fn parse_reads_back_what_the_walk_saw() {
    let tree = sample();
    let mut walked = BTreeMap::new();
    walk::<WalkError>(&tree, &mut |event| {
        if let Event::Dir { path, keywords, .. } | Event::Object { path, keywords, .. } = event {
            let path = if path.is_empty() {
                b".".to_vec()
            } else {
                path.to_vec()
            };
            let kws: BTreeMap<String, String> = keywords
                .iter()
                .map(|kv| {
                    let (k, v) = kv.split_once('=').unwrap();
                    (k.to_owned(), v.to_owned())
                })
                .collect();
            walked.insert(path, kws);
        }
        Ok(())
    })
    .unwrap();
    let parsed: BTreeMap<Vec<u8>, BTreeMap<String, String>> =
        parse(&manifest(&tree, &header()).unwrap())
            .unwrap()
            .into_iter()
            .map(|e| {
                let keywords = e.keywords();
                let keywords = keywords.iter().map(|(k, v)| (k.to_owned(), v.to_owned()));
                (e.path, keywords.collect())
            })
            .collect();
    assert_eq!(parsed.len(), 12);
    // Every entry reads back with exactly the keywords the walk computed: what the writer
    // left out because a `/set` held it comes back from that `/set`.
    assert_eq!(parsed, walked);
}
