//! Certificates, trust and compliance with real nodes and the real binary: a certifier issues a
//! certificate to a provider; nodes that trust the certifier (through `flashback trust add`, and
//! through the deprecated `store.trusted_certifiers`) list the provider as certified, a node
//! that does not says why not; a revocation takes the badge away everywhere; a claim outside
//! the certifier's scheme does not count; compliance documents served on loopback are checked;
//! bad input is one line and stores nothing.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use common::{TestNode, cli, eventually};
use flashback_node::Verdict;
use flashback_types::keyfile::{self, Existing};
use flashback_types::trust::Issuer;
use flashback_types::{
    BoundedVec, ComplianceDoc, Hash32, Kind, Object, Offer, Role, SecretKey, Signed, TrustStore,
    samples,
};
use serde_json::Value;

/// Runs the binary, expects success and JSON on stdout.
async fn cli_json(args: &[&str]) -> Value {
    let out = cli(args).await;
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Runs the binary, expects failure with a one-line error, and returns that line.
async fn cli_error(args: &[&str]) -> String {
    let out = cli(args).await;
    assert!(!out.status.success(), "{args:?} succeeded");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{args:?}: not one line: {stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    lines[0].to_owned()
}

/// `listing query` at `addr` with `filters`: each offer's provider and badges.
async fn listing(addr: &str, filters: &[&str]) -> Vec<(String, Vec<String>)> {
    let mut args = vec!["listing", "query", "--node", addr, "--json"];
    args.extend_from_slice(filters);
    listed(&cli_json(&args).await)
}

/// `cert show <id>` at `addr`.
async fn cert_show(addr: &str, id: &str) -> Value {
    cli_json(&["cert", "show", id, "--node", addr, "--json"]).await
}

/// A node whose trust file, written before it starts, trusts `key` as the certifier `name`
/// for `scheme`.
async fn node_trusting(name: &str, key: &SecretKey, scheme: &str) -> TestNode {
    let issuer = Issuer::new(name, key.public(), &[Role::Certifier], &[scheme]).unwrap();
    TestNode::start_with(&[], |config| {
        let mut trust = TrustStore::default();
        trust.add(issuer, false).unwrap();
        std::fs::write(config.trust_path(), trust.to_toml()).unwrap();
    })
    .await
}

fn key_file(dir: &Path, name: &str, key: &SecretKey) -> PathBuf {
    let path = dir.join(name);
    keyfile::write(&path, key, Existing::Keep).unwrap();
    path
}

fn offer(provider: &SecretKey, edit: impl FnOnce(&mut Offer)) -> Signed<Offer> {
    let mut body = samples::offer(provider.public(), "certs", 1, flashback_types::clock::now());
    edit(&mut body);
    Signed::sign(body, provider).unwrap()
}

/// The providers of a `listing query --json` answer, with their badges.
fn listed(v: &Value) -> Vec<(String, Vec<String>)> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|o| {
            let badges = o["certified"].as_array().unwrap();
            (
                o["provider"].as_str().unwrap().to_owned(),
                badges
                    .iter()
                    .map(|b| b.as_str().unwrap().to_owned())
                    .collect(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn certificates_count_where_their_issuer_is_trusted_until_revoked() {
    let certifier = SecretKey::generate();
    let provider = SecretKey::generate();
    let (c_pub, p_pub) = (
        certifier.public().to_string(),
        provider.public().to_string(),
    );
    // a trusts the certifier through its trust file (edited below, while it runs); b trusts
    // nobody; c through the deprecated store setting.
    let a = TestNode::start_with(&[], |c| c.trust.reload_ms = 100).await;
    let b = TestNode::start(&[a.addr()]).await;
    let c = TestNode::start_with(&[a.addr()], |c| {
        c.store.trusted_certifiers = vec![certifier.public()];
    })
    .await;
    let nodes = [&a, &b, &c];
    let files = tempfile::tempdir().unwrap();
    let c_file = key_file(files.path(), "certifier.key", &certifier);
    let c_file = c_file.to_str().unwrap();
    let evidence = files.path().join("audit.pdf");
    std::fs::write(&evidence, b"audit report, 2026").unwrap();

    let o = offer(&provider, |_| {});
    a.node.submit(&Object::Offer(o.clone())).await;
    eventually("every node holds the offer", || async {
        nodes.iter().all(|n| n.holds(o.id()))
    })
    .await;

    let a_dir = a.dir.path().to_str().unwrap().to_owned();
    let added = cli_json(&[
        "trust",
        "add",
        "--data-dir",
        &a_dir,
        "--name",
        "acme",
        "--key",
        &c_pub,
        "--role",
        "certifier",
        "--scheme",
        "iso27001",
        "--scheme",
        "region",
        "--json",
    ])
    .await;
    assert_eq!(added["issuers"][0]["name"], "acme");
    eventually("a reads its trust file again", || async {
        a.node.store().trust().named("acme").is_ok()
    })
    .await;

    // Issued through b, which does not trust the certifier: it spreads all the same.
    let (a_addr, b_addr, c_addr) = (a.addr(), b.addr(), c.addr());
    let issued = cli_json(&[
        "cert",
        "issue",
        "--key",
        c_file,
        "--subject",
        &p_pub,
        "--claim",
        "iso27001=certified",
        "--expires",
        "365d",
        "--evidence",
        evidence.to_str().unwrap(),
        "--node",
        &b_addr,
        "--json",
    ])
    .await;
    let cert_id = issued["id"].as_str().unwrap().to_owned();
    assert_eq!(
        issued["evidence"],
        Hash32::of(b"audit report, 2026").to_string()
    );
    let id: Hash32 = cert_id.parse().unwrap();
    eventually("every node holds the certificate", || async {
        nodes.iter().all(|n| n.holds(id))
    })
    .await;

    for addr in [&a_addr, &c_addr] {
        let register = cli_json(&[
            "register",
            "providers",
            "--claim",
            "iso27001",
            "--node",
            addr,
            "--json",
        ])
        .await;
        let entries = register["entries"].as_array().unwrap();
        assert_eq!(entries.len(), 1, "{register}");
        assert_eq!(entries[0]["subject"], p_pub.as_str());
        assert_eq!(entries[0]["claims"][0], "iso27001=certified");
        assert_eq!(entries[0]["certificates"][0]["status"], "valid");
        let offers = listing(addr, &["--certified", "iso27001"]).await;
        assert_eq!(
            offers,
            [(p_pub.clone(), vec!["iso27001=certified".to_owned()])]
        );
    }
    // The node that does not trust the certifier says so, and lists nothing as certified.
    let shown = cert_show(&b_addr, &cert_id).await;
    assert_eq!(shown["status"], "untrusted_issuer");
    let offers = listing(&b_addr, &["--certified", "iso27001"]).await;
    assert!(offers.is_empty(), "{offers:?}");
    let register = cli_json(&["register", "providers", "--node", &b_addr, "--json"]).await;
    assert!(register["entries"].as_array().unwrap().is_empty());

    // A claim outside the certifier's scheme at a: no badge, and the status says why.
    let tier = cli_json(&[
        "cert",
        "issue",
        "--key",
        c_file,
        "--subject",
        &p_pub,
        "--claim",
        "tier=gold",
        "--node",
        &a_addr,
        "--json",
    ])
    .await;
    let tier_id = tier["id"].as_str().unwrap().to_owned();
    let shown = cert_show(&a_addr, &tier_id).await;
    assert_eq!(shown["status"], "outside_scheme");
    assert!(
        shown["detail"].as_str().unwrap().contains("tier"),
        "{shown}"
    );
    let offers = listing(&a_addr, &["--certified", "tier"]).await;
    assert!(offers.is_empty(), "{offers:?}");
    // provider show lists both certificates with their statuses.
    let profile = cli_json(&["provider", "show", &p_pub, "--node", &a_addr, "--json"]).await;
    let mut statuses: Vec<&str> = profile["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["status"].as_str().unwrap())
        .collect();
    statuses.sort_unstable();
    assert_eq!(statuses, ["outside_scheme", "valid"]);

    // Revoked through b: the badge goes at every node that showed it.
    let revoked = cli_json(&[
        "cert",
        "revoke",
        &cert_id,
        "--key",
        c_file,
        "--reason",
        "audit lapsed",
        "--node",
        &b_addr,
        "--json",
    ])
    .await;
    let rev: Hash32 = revoked["id"].as_str().unwrap().parse().unwrap();
    eventually("every node holds the revocation", || async {
        nodes.iter().all(|n| n.holds(rev))
    })
    .await;
    // (c's deprecated setting trusts the certifier for every claim, the tier among them.)
    for (addr, left) in [(&a_addr, vec![]), (&c_addr, vec!["tier=gold".to_owned()])] {
        let offers = listing(addr, &[]).await;
        assert_eq!(offers, [(p_pub.clone(), left)]);
        let offers = listing(addr, &["--certified", "iso27001"]).await;
        assert!(offers.is_empty(), "{offers:?}");
        let shown = cert_show(addr, &cert_id).await;
        assert_eq!(shown["status"], "revoked");
        assert_eq!(shown["detail"], "revoked: audit lapsed");
    }
    let register = cli_json(&[
        "register",
        "providers",
        "--all",
        "--node",
        &a_addr,
        "--json",
    ])
    .await;
    assert_eq!(register["entries"][0]["claims"], Value::Array(Vec::new()));

    for n in [a, b, c] {
        n.node.shutdown().await;
    }
}

/// A document store on loopback: `GET /dpa.txt` answers whatever the test puts in it.
async fn document_server(content: Arc<Mutex<Vec<u8>>>) -> (String, tokio::task::JoinHandle<()>) {
    let app = axum::Router::new().route(
        "/dpa.txt",
        axum::routing::get(move || {
            let content = content.clone();
            async move { content.lock().unwrap().clone() }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/dpa.txt", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, server)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn compliance_documents_are_checked_and_jurisdictions_verified() {
    let provider = SecretKey::generate();
    let regulator = SecretKey::generate();
    let p_pub = provider.public().to_string();
    let content = Arc::new(Mutex::new(b"We process your data in the EU.".to_vec()));
    let (url, server) = document_server(content.clone()).await;
    // The node trusts a regulator for jurisdictions, from its trust file at start.
    let node = node_trusting("regulator", &regulator, "jurisdiction").await;
    let o = offer(&provider, |o| {
        o.jurisdictions =
            BoundedVec::try_from_vec(vec!["de".try_into().unwrap(), "eu".try_into().unwrap()])
                .unwrap();
        o.compliance_docs = BoundedVec::try_from_vec(vec![ComplianceDoc {
            title: "Data-processing agreement".try_into().unwrap(),
            url: url.as_str().try_into().unwrap(),
            digest: Hash32::of(b"We process your data in the EU."),
        }])
        .unwrap();
    });
    let cert = Signed::sign(
        samples::certificate(
            regulator.public(),
            provider.public(),
            "jurisdiction",
            "eu",
            flashback_types::clock::now(),
        ),
        &regulator,
    )
    .unwrap();
    for object in [Object::Offer(o.clone()), Object::Certificate(cert.clone())] {
        assert!(matches!(
            node.node.submit(&object).await,
            Verdict::Stored(_)
        ));
    }
    let addr = node.addr();

    let report = cli_json(&["compliance", "verify", &p_pub, "--node", &addr, "--json"]).await;
    assert_eq!(report["passed"], true, "{report}");
    assert_eq!(report["documents"][0]["outcome"], "match");
    assert_eq!(
        report["declared_jurisdictions"],
        serde_json::json!(["de", "eu"])
    );
    assert_eq!(report["verified"], serde_json::json!(["jurisdiction=eu"]));

    // The declared jurisdiction filters the listing; the verified one too, by certificate.
    let by = |flag: &'static str, value: &'static str| {
        let addr = addr.clone();
        async move { listing(&addr, &[flag, value]).await }
    };
    assert_eq!(by("--jurisdiction", "de").await.len(), 1);
    assert!(by("--jurisdiction", "us").await.is_empty());
    assert_eq!(by("--certified", "jurisdiction=eu").await.len(), 1);
    assert!(by("--certified", "jurisdiction=de").await.is_empty());

    // The document changes under its URL: verify fails and names it.
    content.lock().unwrap().extend_from_slice(b" Or not.");
    let error = cli_error(&["compliance", "verify", &p_pub, "--node", &addr]).await;
    assert!(error.contains("\"Data-processing agreement\""), "{error}");
    assert!(error.contains("mismatch"), "{error}");

    server.abort();
    node.node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_input_is_one_line_and_stores_nothing() {
    let node = TestNode::start(&[]).await;
    let certifier = SecretKey::generate();
    let files = tempfile::tempdir().unwrap();
    let c_file = key_file(files.path(), "certifier.key", &certifier);
    let c_file = c_file.to_str().unwrap();
    let c_pub = certifier.public().to_string();
    let subject = SecretKey::generate().public().to_string();
    let addr = node.addr();
    let issue = |extra: &[&str]| {
        let mut args = vec!["cert", "issue", "--key", c_file, "--node", &addr];
        args.extend_from_slice(extra);
        args.into_iter().map(str::to_owned).collect::<Vec<String>>()
    };
    let run = |args: Vec<String>| async move {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        cli_error(&args).await
    };

    let e = run(issue(&[
        "--subject",
        &subject,
        "--claim",
        "iso27001=yes",
        "--expires",
        "0s",
    ]))
    .await;
    assert!(e.contains("--expires"), "{e}");
    let e = run(issue(&["--subject", &c_pub, "--claim", "iso27001=yes"])).await;
    assert!(e.contains("own key"), "{e}");
    let e = run(issue(&["--subject", &subject, "--claim", "iso27001"])).await;
    assert!(
        e.contains("malformed claim") && e.contains("name=value"),
        "{e}"
    );
    let e = run(issue(&["--subject", &subject, "--claim", "iso 27001=yes"])).await;
    assert!(e.contains("malformed claim"), "{e}");
    let e = cli_error(&["listing", "query", "--certified", "=x", "--node", &addr]).await;
    assert!(e.contains("malformed claim"), "{e}");
    let e = cli_error(&[
        "register",
        "providers",
        "--issuer",
        "nosuch",
        "--node",
        &addr,
    ])
    .await;
    assert!(e.contains("no issuer named \"nosuch\""), "{e}");
    // For scripts: nothing has that name, whether the node or the client finds out.
    for args in [
        ["register", "providers", "--issuer"],
        ["cert", "list", "--issuer"],
    ] {
        let mut args = args.to_vec();
        args.extend(["nosuch", "--node", &addr, "--json"]);
        let out = cli(&args).await;
        assert!(!out.status.success(), "{args:?}");
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["error"]["code"], "not_found", "{args:?}: {v}");
    }
    let dir = node.dir.path().to_str().unwrap().to_owned();
    let e = cli_error(&["trust", "remove", "nosuch", "--data-dir", &dir]).await;
    assert!(e.contains("no issuer named \"nosuch\""), "{e}");
    let e = cli_error(&[
        "trust",
        "add",
        "--data-dir",
        &dir,
        "--name",
        "acme",
        "--key",
        &c_pub,
        "--role",
        "certifier",
    ])
    .await;
    assert!(e.contains("add a scheme"), "{e}");

    // Signed by hand, past the CLI's checks: the node refuses them and keeps nothing.
    let now = flashback_types::clock::now();
    let own = samples::certificate(
        certifier.public(),
        certifier.public(),
        "iso27001",
        "yes",
        now,
    );
    let mut expired = samples::certificate(
        certifier.public(),
        SecretKey::generate().public(),
        "iso27001",
        "yes",
        now,
    );
    expired.created_at = now - 100;
    expired.expires_at = now - 10;
    for body in [own, expired] {
        let verdict = node
            .node
            .submit(&Object::Certificate(Signed::sign_unchecked(
                body, &certifier,
            )))
            .await;
        assert!(matches!(verdict, Verdict::Invalid(..)), "{verdict:?}");
    }
    assert_eq!(node.node.store().counts().of(Kind::Certificate), 0);
    assert!(!node.dir.path().join("trust.toml").exists());
    node.node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn recommend_requires_claims_by_the_trust_store() {
    let (certifier, stranger) = (SecretKey::generate(), SecretKey::generate());
    let (cheap, certified) = (SecretKey::generate(), SecretKey::generate());
    let node = node_trusting("acme", &certifier, "iso27001").await;
    let now = flashback_types::clock::now();
    let pricier = offer(&certified, |o| o.price.amount = 200);
    let cheaper = offer(&cheap, |o| o.price.amount = 100);
    let objects = [
        Object::Offer(cheaper.clone()),
        Object::Offer(pricier.clone()),
        Object::Certificate(
            Signed::sign(
                samples::certificate(
                    certifier.public(),
                    certified.public(),
                    "iso27001",
                    "yes",
                    now,
                ),
                &certifier,
            )
            .unwrap(),
        ),
        // The cheap provider's certificate is from a key the node does not trust.
        Object::Certificate(
            Signed::sign(
                samples::certificate(stranger.public(), cheap.public(), "iso27001", "yes", now),
                &stranger,
            )
            .unwrap(),
        ),
    ];
    for object in &objects {
        assert!(matches!(node.node.submit(object).await, Verdict::Stored(_)));
    }
    let addr = node.addr();
    let base = [
        "recommend",
        "--node",
        &addr,
        "--volume",
        "1 GiB",
        "--duration",
        "30d",
        "--replicas",
        "1",
        "--tolerance",
        "0",
        "--require-claim",
        "iso27001=yes",
        "--json",
    ];
    // By the node's trust store: the certified provider, though it costs more.
    let v = cli_json(&base).await;
    assert_eq!(
        v["placement"]["picks"][0]["offer"],
        pricier.id().to_string(),
        "{v}"
    );
    // By the caller's own trust (the stranger only): the cheap one.
    let stranger_key = stranger.public().to_string();
    let mut own = base.to_vec();
    own.extend_from_slice(&["--trust-issuer", &stranger_key]);
    let v = cli_json(&own).await;
    assert_eq!(
        v["placement"]["picks"][0]["offer"],
        cheaper.id().to_string(),
        "{v}"
    );
    node.node.shutdown().await;
}
