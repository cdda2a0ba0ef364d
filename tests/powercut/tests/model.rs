//! The crash model without FUSE: `State` calls directly.

use std::ffi::OsStr;

use medsettle_powercut::state::ROOT;
use medsettle_powercut::{Model, Rng, State, Torn};

fn name(s: &str) -> &OsStr {
    OsStr::new(s)
}

#[test]
fn torn_pages_keep_whole_pages_at_their_latest_content() {
    for seed in 0..200 {
        let mut s = State::new(Model::Ext4Ordered);
        let f = s.create(ROOT, name("f"), 0o644).unwrap().ino;
        s.write(f, 0, &[1u8; 3 * 4096]).unwrap();
        s.fsync(f, false).unwrap();
        // Two writes into page 0, one into page 2, an extension into page 3.
        s.write(f, 10, &[2u8; 5]).unwrap();
        s.write(f, 20, &[3u8; 5]).unwrap();
        s.write(f, 2 * 4096 + 7, &[4u8; 3]).unwrap();
        s.write(f, 3 * 4096, &[5u8; 100]).unwrap();
        let r = s.cut(Torn::Pages, &mut Rng::new(seed));
        assert_eq!(r.pieces_pending, 3, "{r:?}");
        let c = s.content(f).unwrap();
        // Page 0: both writes or neither (the page cache writes whole pages).
        let p0 = (&c[10..15], &c[20..25]);
        assert!(
            p0 == (&[2u8; 5][..], &[3u8; 5][..]) || p0 == (&[1u8; 5][..], &[1u8; 5][..]),
            "seed {seed}: {p0:?}"
        );
        assert!(
            c.len() == 3 * 4096 || c.len() == 3 * 4096 + 100,
            "{}",
            c.len()
        );
        assert!(c[4096..2 * 4096].iter().all(|&b| b == 1));
    }
}

#[test]
fn namespace_commits_are_prefixes_and_renames_are_whole() {
    for seed in 0..200 {
        let mut s = State::new(Model::Ext4Ordered);
        let d = s.mkdir(ROOT, name("d"), 0o755).unwrap().ino;
        let t = s.create(d, name(".t"), 0o644).unwrap().ino;
        s.write(t, 0, b"x").unwrap();
        s.fsync(t, false).unwrap();
        s.rename(d, name(".t"), ROOT, name("final"), false).unwrap();
        s.create(ROOT, name("later"), 0o644).unwrap();
        s.cut(Torn::Pages, &mut Rng::new(seed));
        let in_d = s.lookup(d, name(".t")).is_ok();
        let at_root = s.lookup(ROOT, name("final")).is_ok();
        assert!(
            in_d ^ at_root,
            "seed {seed}: the file is in exactly one place"
        );
        if s.lookup(ROOT, name("later")).is_ok() {
            assert!(
                at_root,
                "seed {seed}: a later change survived without an earlier one"
            );
        }
    }
}

#[test]
fn posix_directory_fsync_commits_up_to_its_last_change() {
    let mut s = State::new(Model::Posix);
    let a = s.mkdir(ROOT, name("a"), 0o755).unwrap().ino;
    let b = s.mkdir(ROOT, name("b"), 0o755).unwrap().ino;
    s.fsync(ROOT, false).unwrap();
    s.create(a, name("x"), 0o644).unwrap();
    s.create(b, name("y"), 0o644).unwrap();
    s.create(a, name("z"), 0o644).unwrap();
    s.fsync(b, false).unwrap();
    s.cut(Torn::None, &mut Rng::new(0));
    assert!(
        s.lookup(a, name("x")).is_ok(),
        "before b's change: committed with it"
    );
    assert!(s.lookup(b, name("y")).is_ok());
    assert!(
        s.lookup(a, name("z")).is_err(),
        "after b's last change: not committed"
    );
}

#[test]
fn unlinked_and_unreachable_inodes_are_freed_at_the_cut() {
    let mut s = State::new(Model::Ext4Ordered);
    let f = s.create(ROOT, name("f"), 0o644).unwrap().ino;
    s.fsync(ROOT, false).unwrap();
    s.unlink(ROOT, name("f")).unwrap();
    s.fsync(ROOT, false).unwrap();
    let r = s.cut(Torn::None, &mut Rng::new(0));
    assert_eq!(r.inodes_freed, 1);
    assert!(s.content(f).is_err());
}
