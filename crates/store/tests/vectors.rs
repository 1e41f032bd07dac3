//! The stateful invalid vectors of `docs/vectors/invalid.json` (`check: "store"`): a real store
//! that holds the vector's `held` objects answers its `bytes` with the vector's rule. The
//! stateless ones, and the files themselves, are checked by `flashback-types`' `vectors` test.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use flashback_store::{Store, StoreConfig};
use flashback_types::{Object, TimeRules};
use serde_json::Value;

fn vectors() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/vectors/invalid.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn a_store_refuses_each_stateful_vector_by_its_rule() {
    let doc = vectors();
    let now = doc["now"].as_u64().unwrap();
    let decode = |hex_text: &Value| {
        let bytes = hex::decode(hex_text.as_str().unwrap()).unwrap();
        Object::decode_at(&bytes, now, &TimeRules::default()).unwrap()
    };
    let mut checked = 0;
    for v in doc["invalid"].as_array().unwrap() {
        if v["check"] != "store" {
            continue;
        }
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("db"), StoreConfig::default()).unwrap();
        for held in v["held"].as_array().unwrap() {
            let applied = store.apply(&decode(held), now).unwrap();
            assert_eq!(
                applied.rule(),
                None,
                "{}: held object not stored",
                v["rule"]
            );
        }
        let applied = store.apply(&decode(&v["bytes"]), now).unwrap();
        let rule = applied.rule().map(|r| r.name());
        assert_eq!(rule, v["rule"].as_str(), "{}", v["what"]);
        checked += 1;
    }
    assert_eq!(
        checked, 8,
        "duplicate, superseded, equivocation and the five payment rules"
    );
}
