use super::*;
use crate::mtree::{self, Header, WalkError};
use crate::tree::mem::{MemTree, meta};
use crate::tree::recorded::Recorded;
use crate::tree::{Kind, Metadata, Tree};

/// The racy window the host passes: 20 ms.
const RACY: u64 = 20_000_000;
/// A walk that began a minute after the test trees' ctimes (second 1000).
const LATER: i64 = 1_060_000_000_000;

/// Keywords of everything the cache does not vouch for.
struct Vouching<'a>(&'a Cached<'a>);

impl mtree::Needs for Vouching<'_> {
    fn need(&self, path: &[u8], meta: &Metadata) -> mtree::Need {
        if self.0.vouches(path, meta) {
            mtree::Need::Nothing
        } else {
            mtree::Need::Keywords
        }
    }
    fn list_attributes(&self) -> bool {
        !self.0.vouching()
    }
}

fn tree() -> MemTree {
    let mut t = MemTree::new();
    t.insert(b"a", meta(Kind::Regular, 0o644), b"one");
    t.insert(b"d", meta(Kind::Directory, 0o755), b"");
    t.insert(b"d/b", meta(Kind::Regular, 0o644), b"two");
    t.insert(b"d/l", meta(Kind::Symlink, 0o777), b"../a");
    t
}

/// The manifest and stat cache an unpack keeps for `tree`, walked at `now`.
fn unpacked(tree: &dyn Tree, now: i64) -> (String, String) {
    let (mut manifest, mut cache) = (String::new(), String::new());
    manifest_and_cache::<WalkError>(
        tree,
        &Header::default(),
        now,
        RACY,
        7,
        &mut |t| {
            manifest.push_str(&t);
            Ok(())
        },
        &mut |t| {
            cache.push_str(&t);
            Ok(())
        },
    )
    .unwrap();
    (manifest, cache)
}

#[test]
fn an_unpack_records_every_object_as_agreeing_with_its_manifest() {
    let t = tree();
    let (manifest, text) = unpacked(&t, LATER);
    assert_eq!(manifest, mtree::manifest(&t, &Header::default()).unwrap());
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], MAGIC);
    // The root, a, d, d/b and d/l; files with their digests.
    assert_eq!(lines.len(), 1 + 5 + 1, "{text}");
    assert!(lines[1..6].iter().all(|l| l.as_bytes()[33] == b'='));
    assert_eq!(
        lines[1..6]
            .iter()
            .filter(|l| l.len() == 32 + 2 + 65)
            .count(),
        2
    );
    let cache = StatCache::parse(&text).unwrap();
    assert_eq!(cache.manifest(), Some(fingerprint::text(&manifest)));
    let a = t.metadata(b"a").unwrap();
    let known = cache.get(&fingerprint::object(b"a", &a)).unwrap();
    assert!(known.agrees);
    assert_eq!(known.digest, Some(t.digest(b"a").unwrap()));
}

#[test]
fn the_manifest_recorded_decides_whether_the_cache_vouches() {
    let t = tree();
    let (manifest, text) = unpacked(&t, LATER);
    let cache = StatCache::parse(&text).unwrap();
    let a = t.metadata(b"a").unwrap();
    let same = Cached::new(&t, &cache, Some(&fingerprint::text(&manifest)), 0, 0);
    assert!(same.vouching() && same.vouches(b"a", &a));
    // The object's path is part of its state.
    assert!(!same.vouches(b"b", &a));
    let mut changed = a;
    changed.ctime_nsec += 1;
    assert!(!same.vouches(b"a", &changed));
    let other = format!("{manifest}# edited\n");
    let other = Cached::new(&t, &cache, Some(&fingerprint::text(&other)), 0, 0);
    assert!(!other.vouching() && !other.vouches(b"a", &a));
    assert!(!Cached::new(&t, &cache, None, 0, 0).vouching());
}

#[test]
fn racy_objects_are_left_out() {
    let t = tree();
    // A walk that began 10 ms after the objects' ctime: all racy, none kept.
    let (_, text) = unpacked(&t, 1_000_010_000_000);
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(text.lines().last().unwrap().starts_with("manifest "));
}

#[test]
fn a_digest_is_reused_by_state_and_a_changed_file_is_hashed_again() {
    let mut t = tree();
    let (_, text) = unpacked(&t, LATER);
    let cache = StatCache::parse(&text).unwrap();
    t.nodes.get_mut(&b"a"[..]).unwrap().meta.ctime_nsec = 1;
    t.nodes.get_mut(&b"a"[..]).unwrap().data = b"new".to_vec();
    let inner = Recorded::new(&t);
    // Not vouching (no manifest compared): digests only.
    let warm = Cached::new(&inner, &cache, None, LATER, RACY);
    let m = mtree::manifest(&warm, &Header::default()).unwrap();
    assert_eq!(inner.count("digest"), 1, "only the changed file is hashed");
    assert_eq!(warm.hits(), 1);
    assert!(m.contains(&crate::mtree::keywords::hex(
        &crate::tree::mem::fake_digest(b"new")
    )));
}

/// Walk `t` comparing with `manifest`, `cache` vouching, recording every object as
/// agreeing: each event goes to `visit`. Returns the new cache's text and the reads
/// asked of `t` beyond its listings.
fn vouched_walk(
    t: &MemTree,
    manifest: &str,
    cache: &StatCache,
    visit: &mut dyn FnMut(&mtree::Event<'_>),
) -> (String, Vec<String>) {
    let inner = Recorded::new(t);
    let compared = fingerprint::text(manifest);
    let cached = Cached::new(&inner, cache, Some(&compared), LATER, RACY);
    mtree::walk_with::<WalkError>(&cached, &Vouching(&cached), &mut |e| {
        visit(&e);
        cached.record_event(&e, true);
        Ok(())
    })
    .unwrap();
    (cached.finish(&compared), inner.take())
}

#[test]
fn a_vouched_walk_reads_nothing_it_need_not() {
    let mut t = tree();
    t.nodes.get_mut(&b"d/b"[..]).unwrap().xattrs = vec![(b"user.k".to_vec(), b"v".to_vec())];
    let (manifest, text) = unpacked(&t, LATER);
    let cache = StatCache::parse(&text).unwrap();
    let mut vouched = 0;
    let (again, asked) = vouched_walk(&t, &manifest, &cache, &mut |e| {
        if let mtree::Event::Dir { vouched: v, .. } | mtree::Event::Object { vouched: v, .. } = e {
            vouched += usize::from(*v);
        }
    });
    assert_eq!(vouched, 5);
    assert_eq!(
        asked,
        Vec::<String>::new(),
        "no digest, attribute or link read"
    );
    // The new cache says what the old one said, digests included.
    assert_eq!(again, text);
}

#[test]
fn objects_not_vouched_for_have_their_attributes_read_one_by_one() {
    let mut t = tree();
    let (manifest, text) = unpacked(&t, LATER);
    let cache = StatCache::parse(&text).unwrap();
    t.nodes.get_mut(&b"d/b"[..]).unwrap().meta.ctime_sec += 1;
    t.nodes.get_mut(&b"d/b"[..]).unwrap().xattrs = vec![(b"user.k".to_vec(), b"v".to_vec())];
    let mut seen = Vec::new();
    let (_, asked) = vouched_walk(&t, &manifest, &cache, &mut |e| {
        if let mtree::Event::Object {
            path,
            vouched: false,
            keywords,
            ..
        } = e
        {
            seen.push((path.to_vec(), keywords.join(" ")));
        }
    });
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].0, b"d/b");
    assert!(seen[0].1.contains("xattr.user.k="), "{}", seen[0].1);
    // Its attributes alone, no link; and, a new state the cache knows nothing of, its
    // digest.
    assert_eq!(asked, ["xattrs d/b", "digest d/b"]);
}

#[test]
fn lines_are_found_by_state_and_a_later_line_wins() {
    let f1 = "0123456789abcdef0123456789abcdef";
    let f2 = "fedcba9876543210fedcba9876543210";
    let a = "a".repeat(64);
    let c = "c".repeat(64);
    let m = "00000000000000010000000000000002";
    let text = format!("{MAGIC}\n{f1} = {a}\n{f2} -\n{f1} - {c}\nmanifest {m}\n");
    let cache = StatCache::parse(&text).unwrap();
    let fp = |s: &str| parse_fingerprint(s.as_bytes()).unwrap();
    assert_eq!(
        cache.get(&fp(f1)),
        Some(Known {
            agrees: false,
            digest: Some([0xcc; 32])
        })
    );
    assert_eq!(
        cache.get(&fp(f2)),
        Some(Known {
            agrees: false,
            digest: None
        })
    );
    assert_eq!(cache.manifest(), Some([1, 2]));
    assert_eq!(cache.get(&[0, 0]), None);
}

#[test]
fn corrupt_caches_are_refused() {
    let f = "0123456789abcdef0123456789abcdef";
    let digest = "0".repeat(64);
    assert!(StatCache::parse("").is_err());
    assert!(StatCache::parse("repack-statcache 1\n").is_err());
    for bad in [
        f.to_owned(),
        format!("{f} "),
        format!("{f} = {digest} extra"),
        format!("{f} x {digest}"),
        format!("{f} = {}", &digest[1..]),
        format!("{f}0 ="),
        format!("{} =", f.to_uppercase()),
        format!("manifest {f}\n{f} ="),
        "manifest 12".to_owned(),
    ] {
        assert!(
            StatCache::parse(&format!("{MAGIC}\n{bad}\n")).is_err(),
            "{bad}"
        );
    }
    assert!(StatCache::parse(&format!("{MAGIC}\n")).is_ok());
}

#[test]
fn a_cache_of_blank_lines_is_refused() {
    let text = format!("{MAGIC}\n{}", "\n".repeat(1 << 20));
    let err = StatCache::parse(&text).unwrap_err();
    assert_eq!(err, "line 2: malformed");
}
