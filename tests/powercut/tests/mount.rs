//! The power-cut filesystem mounted for real (FUSE): what survives a cut is exactly what the
//! model says, seen through ordinary `std::fs` calls.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

use medsettle_powercut::{Model, PowerCutFs, Torn};

fn mounted(model: Model) -> (tempfile::TempDir, PowerCutFs) {
    let dir = tempfile::tempdir().unwrap();
    let fs = PowerCutFs::mount(dir.path(), model, 7)
        .expect("mount the power-cut filesystem (needs /dev/fuse and root, or fusermount3)");
    (dir, fs)
}

fn read(p: &Path) -> Option<Vec<u8>> {
    match fs::read(p) {
        Ok(b) => Some(b),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => panic!("read {}: {e}", p.display()),
    }
}

fn sync_dir(p: &Path) {
    File::open(p).unwrap().sync_all().unwrap();
}

#[test]
fn unsynced_writes_are_lost_synced_ones_survive() {
    let (_d, mut fs) = mounted(Model::Ext4Ordered);
    let root = fs.mountpoint().to_path_buf();
    let a = root.join("a");
    let mut f = File::create(&a).unwrap();
    f.write_all(b"durable").unwrap();
    f.sync_data().unwrap();
    f.write_all(b" and volatile").unwrap();
    f.write_at(b"D", 0).unwrap();
    drop(f);
    assert_eq!(read(&a).unwrap(), b"Durable and volatile");
    // Never synced at all: gone, name included.
    fs::write(root.join("b"), b"never synced").unwrap();
    fs.freeze();
    // Frozen: the power is off, nothing answers.
    assert!(fs::read(&a).is_err(), "a frozen filesystem must not answer");
    let report = fs.cut(Torn::None).unwrap();
    assert_eq!(read(&a).unwrap(), b"durable", "{report:?}");
    assert_eq!(read(&root.join("b")), None, "{report:?}");
    assert!(fs.unsupported().is_empty(), "{:?}", fs.unsupported());
    // The filesystem works again after the restart.
    let mut f = OpenOptions::new().append(true).open(&a).unwrap();
    f.write_all(b"!").unwrap();
    f.sync_all().unwrap();
    drop(f);
    fs.cut(Torn::None).unwrap();
    assert_eq!(read(&a).unwrap(), b"durable!");
}

#[test]
fn posix_model_needs_the_directory_fsync_for_names() {
    let (_d, mut fs) = mounted(Model::Posix);
    let root = fs.mountpoint().to_path_buf();
    fs::create_dir(root.join("dir")).unwrap();
    sync_dir(&root);
    // Written and fsynced, but its name never: lost.
    let mut f = File::create(root.join("dir/x")).unwrap();
    f.write_all(b"x").unwrap();
    f.sync_all().unwrap();
    drop(f);
    fs.cut(Torn::None).unwrap();
    assert!(root.join("dir").is_dir());
    assert_eq!(read(&root.join("dir/x")), None);
    // The atomic-write pattern: temp, fsync, rename, fsync the directory.
    let tmp = root.join("dir/.y.tmp");
    let mut f = File::create(&tmp).unwrap();
    f.write_all(b"whole").unwrap();
    f.sync_all().unwrap();
    drop(f);
    fs::rename(&tmp, root.join("dir/y")).unwrap();
    sync_dir(&root.join("dir"));
    // A rename not followed by a directory fsync: not durable.
    fs::rename(root.join("dir/y"), root.join("dir/z")).unwrap();
    fs.cut(Torn::None).unwrap();
    assert_eq!(read(&root.join("dir/y")).unwrap(), b"whole");
    assert_eq!(read(&root.join("dir/z")), None);
    assert_eq!(read(&tmp), None);
}

#[test]
fn ext4_model_commits_names_with_a_file_fsync_but_not_other_files_data() {
    let (_d, mut fs) = mounted(Model::Ext4Ordered);
    let root = fs.mountpoint().to_path_buf();
    fs::create_dir_all(root.join("j/blobs")).unwrap();
    fs::write(root.join("j/other"), b"named, data never synced").unwrap();
    let mut f = File::create(root.join("j/db")).unwrap();
    f.write_all(&vec![7u8; 10_000]).unwrap();
    f.sync_all().unwrap();
    // fdatasync of an overwrite (no size change, name committed): data only.
    f.write_at(&[9u8; 10], 100).unwrap();
    fs::rename(root.join("j/other"), root.join("j/renamed")).unwrap();
    f.sync_data().unwrap();
    drop(f);
    fs.cut(Torn::None).unwrap();
    let db = read(&root.join("j/db")).unwrap();
    assert_eq!(db.len(), 10_000);
    assert_eq!(&db[100..110], &[9u8; 10]);
    // The name was committed by the first fsync, its content never synced: empty, like ext4
    // with delayed allocation. The later rename was not committed.
    assert_eq!(read(&root.join("j/other")).unwrap(), b"");
    assert_eq!(read(&root.join("j/renamed")), None);
    assert!(root.join("j/blobs").is_dir());
}

#[test]
fn torn_cuts_keep_some_unsynced_pieces_in_order() {
    let (_d, mut fs) = mounted(Model::Ext4Ordered);
    let root = fs.mountpoint().to_path_buf();
    let p = root.join("log");
    let f = File::create(&p).unwrap();
    f.sync_all().unwrap();
    let mut kept = Vec::new();
    for round in 0..20u8 {
        let page = vec![round.wrapping_add(1); 4096 * 4];
        let f = OpenOptions::new().write(true).open(&p).unwrap();
        f.write_at(&page, 0).unwrap();
        drop(f);
        let r = fs.cut(Torn::Prefix).unwrap();
        let now = read(&p).unwrap();
        // A prefix of the four pages of this round over the previous content.
        let k = r.pieces_kept;
        assert!(k <= 4, "{r:?}");
        for (i, chunk) in now.chunks(4096).enumerate() {
            let want = if i < k { round.wrapping_add(1) } else { round };
            assert!(
                chunk.iter().all(|&b| b == want),
                "round {round} page {i}: {r:?}"
            );
        }
        if now.len() < 4096 * 4 {
            // Nothing of round 0 kept: the file stays shorter.
            assert!(k < 4);
        }
        // Make this round's content the base of the next one.
        let f = OpenOptions::new().write(true).open(&p).unwrap();
        f.write_at(&vec![round.wrapping_add(1); 4096 * 4], 0)
            .unwrap();
        f.sync_data().unwrap();
        kept.push(k);
    }
    assert!(
        kept.iter().any(|&k| k > 0) && kept.iter().any(|&k| k < 4),
        "{kept:?}"
    );
}

#[test]
fn what_the_model_does_not_cover_is_listed_not_ignored() {
    let (_d, fs) = mounted(Model::Ext4Ordered);
    let root = fs.mountpoint().to_path_buf();
    let r = std::os::unix::fs::symlink("a", root.join("s"));
    assert!(r.is_err());
    let listed = fs.unsupported();
    assert!(
        listed.iter().any(|u| u.starts_with("symlink")),
        "symlink must be listed as unsupported: {listed:?}"
    );
}

#[test]
fn directory_listing_hard_links_and_renames_over_files() {
    let (_d, mut fs) = mounted(Model::Ext4Ordered);
    let root = fs.mountpoint().to_path_buf();
    for i in 0..300 {
        fs::write(root.join(format!("f{i:03}")), format!("{i}")).unwrap();
    }
    let names: Vec<String> = fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 300);
    fs::hard_link(root.join("f001"), root.join("link")).unwrap();
    assert_eq!(fs::read(root.join("link")).unwrap(), b"1");
    fs::rename(root.join("f002"), root.join("f003")).unwrap();
    assert_eq!(fs::read(root.join("f003")).unwrap(), b"2");
    let mut s = String::new();
    File::open(root.join("f004"))
        .unwrap()
        .read_to_string(&mut s)
        .unwrap();
    assert_eq!(s, "4");
    fs::remove_file(root.join("f004")).unwrap();
    File::open(&root).unwrap().sync_all().unwrap();
    fs.cut(Torn::None).unwrap();
    // Names committed, data never synced: every file is there and empty.
    assert_eq!(fs::read_dir(&root).unwrap().count(), 299);
    assert_eq!(fs::read(root.join("f003")).unwrap(), b"");
    assert!(!root.join("f004").exists());
    assert!(fs.unsupported().is_empty(), "{:?}", fs.unsupported());
}
