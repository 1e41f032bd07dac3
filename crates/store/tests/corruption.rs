//! Damaged databases give clear errors (never panics), and the rebuild path works.

#![allow(clippy::unwrap_used)] // Test support code: a panic is a test failure.

mod common;

use common::*;
use flashback_store::{SCHEMA_VERSION, Store, StoreConfig, StoreError};
use flashback_types::*;

/// Re-implements the documented index-value format: `payload ‖ blake3-derive-key checksum`.
fn seal(tree: &str, key: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut h = blake3::Hasher::new_derive_key("flashback/store/v1/checksum");
    h.update(&(tree.len() as u64).to_le_bytes());
    h.update(tree.as_bytes());
    h.update(&(key.len() as u64).to_le_bytes());
    h.update(key);
    h.update(payload);
    let mut v = payload.to_vec();
    v.extend_from_slice(&h.finalize().as_bytes()[..16]);
    v
}

fn with_sled(path: &std::path::Path, f: impl FnOnce(&sled::Db)) {
    let db = sled::open(path).unwrap();
    f(&db);
    db.flush().unwrap();
}

fn assert_corrupt(result: Result<impl std::fmt::Debug, StoreError>) -> String {
    match result {
        Err(e @ StoreError::Corrupt { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains("--rebuild-store"), "{msg}");
            msg
        }
        other => panic!("expected a Corrupt error, got {other:?}"),
    }
}

#[test]
fn a_flipped_byte_in_an_object_is_a_corrupt_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let p = key(1);
    let o = offer(&p, "a", 1, |_| {});
    let a = attestation(
        &key(2),
        &p.public(),
        None,
        NOW - 2 * DAY,
        NOW - DAY,
        10,
        10,
        5,
    );
    {
        let store = Store::open(&path, StoreConfig::default()).unwrap();
        store
            .apply_batch(&[o.clone().into(), a.clone().into()], NOW)
            .unwrap();
    }
    for (tree, id) in [("offers", o.id()), ("attestations", a.id())] {
        let copy = dir.path().join(tree);
        copy_dir(&path, &copy);
        with_sled(&copy, |db| {
            let t = db.open_tree(tree).unwrap();
            let mut v = t.get(id.0).unwrap().unwrap().to_vec();
            let at = v.len() / 2;
            v[at] ^= 0x5a;
            t.insert(id.0, v).unwrap();
        });
        let msg = assert_corrupt(Store::open(&copy, StoreConfig::default()));
        assert!(msg.contains(tree), "{msg}");
        // The documented way out.
        let store = Store::destroy_and_recreate(&copy, StoreConfig::default()).unwrap();
        assert_eq!(store.counts().of(Kind::Offer), 0);
        assert!(store.get(&id).unwrap().is_none());
    }
    // A truncated value too.
    with_sled(&path, |db| {
        let t = db.open_tree("offers").unwrap();
        t.insert(o.id().0, &b"\x01\x02"[..]).unwrap();
    });
    assert_corrupt(Store::open(&path, StoreConfig::default()));
}

#[test]
fn a_damaged_index_value_is_a_corrupt_error_on_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let provider = key(1);
    let o = offer(&provider, "a", 1, |_| {});
    let prop = proposal(&key(2), &o, NOW + DAY, DAY, GIB);
    {
        let store = Store::open(&path, StoreConfig::default()).unwrap();
        store
            .apply_batch(&[o.into(), prop.clone().into()], NOW)
            .unwrap();
        assert_eq!(
            store
                .proposals_for_provider(&provider.public(), NOW)
                .unwrap()
                .len(),
            1
        );
    }
    with_sled(&path, |db| {
        let t = db.open_tree("idx_proposals_by_provider").unwrap();
        let (k, v) = t.iter().next().unwrap().unwrap();
        let mut v = v.to_vec();
        v[0] ^= 1;
        t.insert(k, v).unwrap();
    });
    // Opens (indexes are checked when read), then the read fails cleanly.
    let store = Store::open(&path, StoreConfig::default()).unwrap();
    let msg = assert_corrupt(store.proposals_for_provider(&provider.public(), NOW));
    assert!(msg.contains("checksum"), "{msg}");
}

#[test]
fn an_unknown_schema_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    drop(Store::open(&path, StoreConfig::default()).unwrap());
    with_sled(&path, |db| {
        let meta = db.open_tree("meta").unwrap();
        let v = seal(
            "meta",
            b"schema_version",
            &(SCHEMA_VERSION + 1).to_be_bytes(),
        );
        meta.insert("schema_version", v).unwrap();
    });
    match Store::open(&path, StoreConfig::default()) {
        Err(
            e @ StoreError::UnsupportedSchema {
                found, supported, ..
            },
        ) => {
            assert_eq!((found, supported), (SCHEMA_VERSION + 1, SCHEMA_VERSION));
            assert!(e.to_string().contains("upgrade flashback"), "{e}");
        }
        other => panic!("expected UnsupportedSchema, got {other:?}"),
    }
    // A damaged version record is corruption.
    with_sled(&path, |db| {
        db.open_tree("meta")
            .unwrap()
            .insert("schema_version", &b"\0\0\0\x01garbage!"[..])
            .unwrap();
    });
    assert_corrupt(Store::open(&path, StoreConfig::default()));
    Store::destroy_and_recreate(&path, StoreConfig::default()).unwrap();
}

#[test]
fn destroy_refuses_directories_that_are_not_stores() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("precious.txt"), "keep me").unwrap();
    match Store::destroy_and_recreate(dir.path(), StoreConfig::default()) {
        Err(StoreError::NotAStore { .. }) => {}
        other => panic!("expected NotAStore, got {other:?}"),
    }
    assert!(dir.path().join("precious.txt").exists());
}

#[test]
fn a_locked_or_unusable_path_is_an_open_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let _first = Store::open(&path, StoreConfig::default()).unwrap();
    match Store::open(&path, StoreConfig::default()) {
        Err(e @ StoreError::Open { .. }) => {
            assert!(e.to_string().contains("no other flashback node"))
        }
        other => panic!("expected Open error, got {other:?}"),
    }
    let file = dir.path().join("file");
    std::fs::write(&file, "x").unwrap();
    assert!(Store::open(file.join("db"), StoreConfig::default()).is_err());
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
