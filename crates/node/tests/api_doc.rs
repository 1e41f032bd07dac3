//! `docs/openapi.json` is the document the node serves at `/api/v1/openapi.json`, generated
//! from the code. After changing the API, rewrite it with
//! `UPDATE_OPENAPI=1 cargo test -p flashback-node --test api_doc`.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::path::PathBuf;

#[test]
fn the_checked_in_openapi_document_is_the_generated_one() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
    let generated = flashback_node::openapi_json();
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "docs/openapi.json differs from the API's generated document: run \
         `UPDATE_OPENAPI=1 cargo test -p flashback-node --test api_doc` and commit the file"
    );
    let doc: serde_json::Value = serde_json::from_str(&generated).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    for path in [
        "/api/v1/offers",
        "/api/v1/offers/{id}",
        "/api/v1/offers/{id}/withdraw",
        "/api/v1/providers/{key}",
        "/api/v1/agreements",
        "/api/v1/attestations",
        "/api/v1/status",
        "/api/v1/market",
        "/api/v1/objects",
        "/api/v1/events",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} is not documented");
    }
}
