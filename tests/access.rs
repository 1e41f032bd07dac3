//! From agreement to data, as users run it: two `flashback node run` processes (a provider
//! whose `[access]` hook is the example S3 provisioner, a consumer's home node), a real
//! S3-compatible server (`flashback-s3dev`: s3s with SigV4, access keys read from the
//! directory the provisioner writes), and the real CLI for everything the consumer does.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{ChildGuard, TestNode, can_run, eventually, flashback_bin};
use flashback_client::Client;
use flashback_client::data::Plane;
use flashback_client::probe::{ProbeConfig, attest, probe_window};
use flashback_node::NodeInfo;
use flashback_types::seal::{AccessCredentials, Secret};
use flashback_types::{
    Agreement, BoundedVec, DataProtocol, Hash32, Object, SecretKey, Signed, keyfile, samples, seal,
};

/// The example provisioner, from the repository.
fn provisioner() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/examples/provisioners/s3-keydir.py")
}

fn python() -> bool {
    Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Starts `flashback node run` with its key, config and log, and waits for its node.json.
async fn node(
    dir: &Path,
    key: &SecretKey,
    config: &str,
    bootstrap: Option<&str>,
) -> (ChildGuard, NodeInfo) {
    std::fs::create_dir_all(dir).unwrap();
    let key_path = dir.join("node.key");
    keyfile::write(&key_path, key, keyfile::Existing::Keep).unwrap();
    std::fs::write(dir.join("config.toml"), config).unwrap();
    let mut cmd = Command::new(flashback_bin());
    cmd.args([
        "node",
        "run",
        "--listen",
        "/ip4/127.0.0.1/tcp/0",
        "--no-metrics",
    ])
    .args(["--sync-interval", "2"])
    .arg("--data-dir")
    .arg(dir)
    .arg("--key")
    .arg(&key_path)
    .arg("--config")
    .arg(dir.join("config.toml"))
    // Everything a node says, so that the test can look for secrets in it.
    .env("RUST_LOG", "debug");
    if let Some(b) = bootstrap {
        cmd.args(["--bootstrap", b]);
    }
    let child = ChildGuard::spawn_logging(&mut cmd, &dir.join("node.log"));
    let pid = child.child.as_ref().unwrap().id();
    (child, common::node_json(dir, pid).await)
}

/// Runs the CLI off the runtime; every output is kept to be searched for secrets.
async fn cli<S: AsRef<str>>(outputs: &mut Vec<String>, args: &[S]) -> std::process::Output {
    let args: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
    let out = common::cli(&args).await;
    outputs.push(String::from_utf8_lossy(&out.stdout).into_owned());
    outputs.push(String::from_utf8_lossy(&out.stderr).into_owned());
    out
}

fn ok(out: &std::process::Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "exit {}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// `command`, then `--key key --node node --json`: how the commands of these tests run.
fn signed_json(command: &[&str], key: &str, node: &str) -> Vec<String> {
    command
        .iter()
        .copied()
        .chain(["--key", key, "--node", node, "--json"])
        .map(str::to_owned)
        .collect()
}

/// `sla propose` of `volume` for `duration` on `offer`.
fn propose_args(key: &str, node: &str, offer: &str, volume: &str, duration: &str) -> Vec<String> {
    let command = ["sla", "propose", "--offer", offer, "--volume", volume];
    let command = [&command[..], &["--duration", duration, "--wait", "50s"]].concat();
    signed_json(&command, key, node)
}

/// The consumer's data command `command` on `agreement`.
fn data_args(command: &[&str], agreement: &str, key: &str, node: &str) -> Vec<String> {
    let command = [&["data"], command, &["--agreement", agreement]].concat();
    signed_json(&command, key, node)
}

/// One probe window on the plane `credentials` open, signed by `consumer` for `agreement`:
/// the attestation's probes and successes.
async fn probe_and_attest(
    consumer: &SecretKey,
    agreement: &Agreement,
    credentials: &AccessCredentials,
) -> (u32, u32) {
    let plane = Plane::open(credentials, Duration::from_secs(10)).unwrap();
    let config = ProbeConfig {
        window: Duration::from_secs(1),
        probes_per_window: 4,
        blob_bytes: 64 * 1024,
        range_bytes: 4096,
        ..ProbeConfig::default()
    };
    let window = probe_window(&plane, &config).await.unwrap();
    let attestation = attest(consumer, agreement, &window, flashback_types::clock::now()).unwrap();
    (attestation.body().probes, attestation.body().successes)
}

/// `sla access --json --show-secret` (and `extra`) on `agreement`: the secret. That output
/// holds the secret by request, so it is not kept with the outputs searched for secrets.
async fn shown_secret(
    outputs: &mut Vec<String>,
    agreement: &str,
    key: &str,
    node: &str,
    extra: &[&str],
) -> String {
    let command = [&["sla", "access", agreement, "--show-secret"], extra].concat();
    let args = signed_json(&command, key, node);
    let mut unsearched = Vec::new();
    let out = cli(&mut unsearched, &args).await;
    let secret = ok(&out)["secret"].as_str().unwrap().to_owned();
    // Everything else it said is searched.
    outputs.push(String::from_utf8_lossy(&out.stderr).into_owned());
    secret
}

/// 50 MB of reproducible, incompressible bytes.
fn big_file(path: &Path) {
    let mut data = vec![0u8; 50_000_000];
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(50);
    rand::RngExt::fill(&mut rng, &mut data[..]);
    std::fs::write(path, data).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_s3_agreement_opens_the_data_plane_to_its_consumer_only() {
    if !can_run(python(), "python3 (the example S3 provisioner)") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let (keys, data, hook_log) = (
        root.join("s3/keys"),
        root.join("s3/data"),
        root.join("hook.log"),
    );
    let s3 = flashback_s3dev::start(&data, &keys, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();

    // The provider: its node answers proposals and provisions S3 keys through the hook.
    let provider = SecretKey::generate();
    let hook = format!(
        "python3 {} --keys {} --data {} --endpoint {} --log {}",
        provisioner().display(),
        keys.display(),
        data.display(),
        s3.url(),
        hook_log.display()
    );
    let provider_config = format!("[access.hooks]\ns3 = {}\n", toml::Value::String(hook));
    let (_p, p_info) = node(&root.join("provider"), &provider, &provider_config, None).await;
    let p_addr = p_info.listen_addrs[0].clone();
    let (_h, h_info) = node(
        &root.join("home"),
        &SecretKey::generate(),
        "",
        Some(&p_addr),
    )
    .await;
    let home = h_info.listen_addrs[0].clone();

    let mut outputs = Vec::new();
    let provider_key = root.join("provider.key");
    keyfile::write(&provider_key, &provider, keyfile::Existing::Keep).unwrap();
    let offer_file = root.join("offer.toml");
    std::fs::write(
        &offer_file,
        format!(
            "offer_key = \"s3-eu\"\nkind = \"storage\"\ncapacity = \"150 MiB\"\nprotocols = [\"s3\"]\nendpoint = \"{}\"\nmin_duration = \"1h\"\nmax_duration = \"30d\"\nredundancy = 1\nvalid_for = \"1d\"\n[price]\namount = 10\nasset = \"USD\"\n",
            s3.url()
        ),
    )
    .unwrap();
    let published = ok(&cli(
        &mut outputs,
        &[
            "offer",
            "publish",
            "--key",
            provider_key.to_str().unwrap(),
            "--node",
            &p_addr,
            "--file",
            offer_file.to_str().unwrap(),
            "--json",
        ],
    )
    .await);
    let offer_id = published["id"].as_str().unwrap().to_owned();
    let offer_hash: Hash32 = offer_id.parse().unwrap();
    eventually("the offer reaches the consumer's node", || {
        let home = home.clone();
        async move {
            match Client::connect(&[home]).await {
                Ok(c) => {
                    let found = c.get(&[offer_hash]).await.is_ok_and(|o| !o.is_empty());
                    c.close().await;
                    found
                }
                Err(_) => false,
            }
        }
    })
    .await;

    // The consumer makes an agreement and receives working credentials.
    let consumer = SecretKey::generate();
    let consumer_key = root.join("consumer.key");
    keyfile::write(&consumer_key, &consumer, keyfile::Existing::Keep).unwrap();
    let ck = consumer_key.to_str().unwrap().to_owned();
    let propose = propose_args(&ck, &home, &offer_id, "100 MiB", "1d");
    let accepted = ok(&cli(&mut outputs, &propose).await);
    assert_eq!(accepted["status"], "accepted");
    assert_eq!(accepted["access"], "s3", "{accepted}");
    let id = accepted["agreement"]["agreement_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let access = ok(&cli(
        &mut outputs,
        &[
            "sla", "access", &id, "--key", &ck, "--node", &home, "--json",
        ],
    )
    .await);
    assert_eq!(access["protocol"], "s3");
    assert_eq!(access["endpoint"], s3.url());
    assert!(
        access.get("secret").is_none(),
        "no secret unless asked: {access}"
    );
    let secret_file = root.join("secret");
    let secret = shown_secret(
        &mut outputs,
        &id,
        &ck,
        &home,
        &["--secret-file", secret_file.to_str().unwrap()],
    )
    .await;
    assert!(secret.len() >= 20);
    assert_eq!(std::fs::read_to_string(&secret_file).unwrap(), secret);
    assert!(
        !keyfile::shared_with_others(&secret_file),
        "the secret file is 0600"
    );

    // `data put` and `data get` round-trip 50 MB byte for byte, over S3.
    let file = root.join("big.bin");
    big_file(&file);
    let put = data_args(
        &["put", file.to_str().unwrap(), "--name", "backups/big.bin"],
        &id,
        &ck,
        &home,
    );
    let stored = ok(&cli(&mut outputs, &put).await);
    assert_eq!(stored["size"], 50_000_000);
    let ls = data_args(&["ls"], &id, &ck, &home);
    let listed = ok(&cli(&mut outputs, &ls).await);
    assert_eq!(listed[0]["name"], "backups/big.bin");
    assert_eq!(listed[0]["size"], 50_000_000);
    let back = root.join("back.bin");
    let get = data_args(
        &["get", "backups/big.bin", "--out", back.to_str().unwrap()],
        &id,
        &ck,
        &home,
    );
    ok(&cli(&mut outputs, &get).await);
    assert!(
        std::fs::read(&back).unwrap() == std::fs::read(&file).unwrap(),
        "byte for byte"
    );

    // The prober measures real S3 reads with the agreement's credentials, and signs.
    let probe = [
        "probe",
        "--key",
        &ck,
        "--node",
        &home,
        "--window",
        "1s",
        "--windows",
        "1",
        "--probes",
        "5",
        "--json",
    ];
    let attested = ok(&cli(&mut outputs, &probe).await);
    assert_eq!(attested.as_array().unwrap().len(), 1, "{attested}");
    assert_eq!(attested[0]["agreement"], id.as_str());
    assert_eq!(
        (
            attested[0]["probes"].as_u64(),
            attested[0]["successes"].as_u64()
        ),
        (Some(5), Some(5))
    );

    // A wrong secret fails every probe, and the signed attestation says so.
    let client = Client::connect(std::slice::from_ref(&home)).await.unwrap();
    let agreement_id = id.parse().unwrap();
    let record = client
        .agreement_record(agreement_id, Duration::ZERO)
        .await
        .unwrap();
    let agreement = record.agreement.clone().unwrap();
    let mut wrong = client
        .access(&consumer, agreement_id, Duration::from_secs(10))
        .await
        .unwrap();
    wrong.secret = Secret::new("not-the-secret-of-this-key").unwrap();
    assert_eq!(
        probe_and_attest(&consumer, &agreement, &wrong).await,
        (4, 0)
    );

    // The offer's 150 MiB hold 100 MiB: another 100 MiB is rejected, with exit status 3.
    let rejected = cli(&mut outputs, &propose).await;
    assert_eq!(
        rejected.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&rejected.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&rejected.stdout).unwrap();
    assert_eq!(
        (r["status"].as_str(), r["reason"].as_str()),
        (Some("rejected"), Some("capacity"))
    );

    // The consumer terminates: the hook revokes the key, and the capacity comes back.
    let ended = ok(&cli(
        &mut outputs,
        &[
            "sla",
            "terminate",
            &id,
            "--key",
            &ck,
            "--node",
            &home,
            "--reason",
            "moving out",
            "--json",
        ],
    )
    .await);
    assert_eq!(ended["status"], "terminated");
    let revoked_line = format!("revoke {id} terminated");
    eventually("the provider's hook revokes the access", || {
        let log = std::fs::read_to_string(&hook_log).unwrap_or_default();
        let found = log.contains(&revoked_line);
        async move { found }
    })
    .await;
    let status = ok(&cli(
        &mut outputs,
        &["sla", "status", &id, "--node", &home, "--json"],
    )
    .await);
    assert_eq!(status["status"], "terminated");
    assert_eq!(status["reason"], "moving out");

    // The revoked credentials fail every probe, and the signed attestation says so.
    let revoked = seal::open(record.grant().unwrap().body(), &consumer).unwrap();
    assert_eq!(
        probe_and_attest(&consumer, &agreement, &revoked).await,
        (4, 0)
    );

    // A proposal that needed the released capacity is accepted now.
    let second = ok(&cli(&mut outputs, &propose).await);
    assert_eq!(second["status"], "accepted");
    let second_id = second["agreement"]["agreement_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let second_secret = shown_secret(&mut outputs, &second_id, &ck, &home, &[]).await;
    assert_ne!(second_secret, secret);

    // The provider's view, by key file: what is committed, what is free.
    let pk = provider_key.to_str().unwrap();
    let mine = ok(&cli(
        &mut outputs,
        &[
            "sla", "list", "--mine", "--key", pk, "--node", &p_addr, "--json",
        ],
    )
    .await);
    let offer = &mine["offers"][0];
    assert_eq!(offer["offer_key"], "s3-eu");
    assert_eq!(offer["committed"], 100 * 1024 * 1024);
    assert_eq!(offer["free"], 50 * 1024 * 1024);
    let statuses: Vec<&str> = mine["agreements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status"].as_str().unwrap())
        .collect();
    assert!(
        statuses.contains(&"terminated") && statuses.contains(&"active"),
        "{statuses:?}"
    );
    // Listings and the public listing query, human and JSON, go into the search below.
    cli(&mut outputs, &["sla", "list", "--node", &home]).await;
    cli(
        &mut outputs,
        &["listing", "query", "--node", &home, "--json"],
    )
    .await;
    cli(
        &mut outputs,
        &["sla", "status", &second_id, "--node", &home],
    )
    .await;

    // The grants are unreadable to any other key, and no secret is in any object gossiped.
    let record = client
        .agreement_record(second_id.parse().unwrap(), Duration::ZERO)
        .await
        .unwrap();
    let grant = record.grant().unwrap().clone();
    assert!(seal::open(grant.body(), &SecretKey::generate()).is_err());
    assert!(seal::open(grant.body(), &provider).is_err());
    client.close().await;
    let mut gossiped: Vec<Vec<u8>> = vec![grant.encoded().to_vec()];
    for id in [&id, &second_id] {
        let client = Client::connect(std::slice::from_ref(&p_addr))
            .await
            .unwrap();
        let record = client
            .agreement_record(id.parse().unwrap(), Duration::ZERO)
            .await
            .unwrap();
        client.close().await;
        gossiped.extend(record.grants.iter().map(|g| g.encoded().to_vec()));
    }
    // No secret in any log, listing, gossip message or --json output.
    let logs: Vec<String> = ["provider", "home"]
        .iter()
        .map(|n| std::fs::read_to_string(root.join(n).join("node.log")).unwrap())
        .chain([std::fs::read_to_string(&hook_log).unwrap()])
        .chain([std::fs::read_to_string(root.join("provider").join("access.json")).unwrap()])
        .collect();
    assert!(
        logs[0].contains("decided a proposal"),
        "the provider's log is searched"
    );
    for s in [&secret, &second_secret] {
        for (i, text) in outputs.iter().chain(&logs).enumerate() {
            assert!(!text.contains(s.as_str()), "a secret in output {i}: {text}");
        }
        for bytes in &gossiped {
            assert!(
                !bytes.windows(s.len()).any(|w| w == s.as_bytes()),
                "a secret in a grant"
            );
        }
    }
    s3.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewal_on_the_blob_endpoint_keeps_the_data_and_the_first_agreement_expires() {
    // The provider's node serves the reference blob endpoint and sells it; the consumer
    // uses the CLI only.
    let provider = TestNode::start_with(&[], |c| c.blobs.enabled = true).await;
    let node = provider.addr();
    let endpoint = provider.info().blob_endpoint.clone().unwrap();
    let mut body = samples::offer(
        provider.key.public(),
        "blobs",
        1,
        flashback_types::clock::now(),
    );
    body.protocols = BoundedVec::try_from_vec(vec![DataProtocol::FlashbackBlob]).unwrap();
    body.endpoint = endpoint.as_str().try_into().unwrap();
    body.min_duration_secs = 1;
    let offer = Signed::sign(body, &provider.key).unwrap();
    provider.node.submit(&Object::Offer(offer.clone())).await;

    let tmp = tempfile::tempdir().unwrap();
    let key_path = tmp.path().join("consumer.key");
    keyfile::write(&key_path, &SecretKey::generate(), keyfile::Existing::Keep).unwrap();
    let ck = key_path.to_str().unwrap();
    let mut outputs = Vec::new();

    // A short agreement (long enough for a put and a renewal on a busy machine).
    let first = ok(&cli(
        &mut outputs,
        &propose_args(ck, &node, &offer.id().to_string(), "1 MiB", "15s"),
    )
    .await);
    assert_eq!(
        (first["status"].as_str(), first["access"].as_str()),
        (Some("accepted"), Some("flashback_blob"))
    );
    let first_id = first["agreement"]["agreement_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let file = tmp.path().join("notes.txt");
    std::fs::write(&file, "what the first agreement stored\n".repeat(100)).unwrap();
    let stored = ok(&cli(
        &mut outputs,
        &data_args(&["put", file.to_str().unwrap()], &first_id, ck, &node),
    )
    .await);
    let name = stored["name"].as_str().unwrap().to_owned();
    assert_eq!(name, Hash32::of(&std::fs::read(&file).unwrap()).to_string());

    // The renewal: accepted (exit 0), with a token of its own that opens the same data.
    let renewed = ok(&cli(
        &mut outputs,
        &[
            "sla",
            "renew",
            &first_id,
            "--key",
            ck,
            "--node",
            &node,
            "--duration",
            "1h",
            "--wait",
            "50s",
            "--json",
        ],
    )
    .await);
    assert_eq!(
        (renewed["status"].as_str(), renewed["access"].as_str()),
        (Some("accepted"), Some("flashback_blob"))
    );
    let renewal_id = renewed["agreement"]["agreement_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(renewal_id, first_id);
    let listed = ok(&cli(&mut outputs, &data_args(&["ls"], &renewal_id, ck, &node)).await);
    assert_eq!(listed[0]["name"], name.as_str(), "{listed}");
    let back = tmp.path().join("back.txt");
    ok(&cli(
        &mut outputs,
        &data_args(
            &["get", &name, "--out", back.to_str().unwrap()],
            &renewal_id,
            ck,
            &node,
        ),
    )
    .await);
    assert_eq!(std::fs::read(&back).unwrap(), std::fs::read(&file).unwrap());

    // The first agreement runs out: its status says so and its token no longer opens
    // anything; the renewal is active and keeps the data.
    let status = |id: &str| ["sla", "status", id, "--node", &node, "--json"].map(str::to_owned);
    eventually("the first agreement expires", || {
        let args = status(&first_id);
        async move {
            let out = common::cli(&args.each_ref().map(String::as_str)).await;
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
            v["status"] == "expired"
        }
    })
    .await;
    let refused = cli(&mut outputs, &data_args(&["ls"], &first_id, ck, &node)).await;
    assert!(!refused.status.success());
    // With --json the error is JSON on stdout, with its code (decision 0054).
    let error: serde_json::Value = serde_json::from_slice(&refused.stdout).unwrap_or_default();
    assert!(
        error["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("401")),
        "{error}"
    );
    assert_eq!(
        ok(&cli(&mut outputs, &status(&renewal_id)).await)["status"],
        "active"
    );

    // `data rm` deletes it for good.
    let removed = ok(&cli(
        &mut outputs,
        &data_args(&["rm", &name], &renewal_id, ck, &node),
    )
    .await);
    assert_eq!(removed["deleted"], true);
    let listed = ok(&cli(&mut outputs, &data_args(&["ls"], &renewal_id, ck, &node)).await);
    assert_eq!(listed.as_array().map(Vec::len), Some(0), "{listed}");
    provider.node.shutdown().await;
}
