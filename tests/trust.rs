//! Trust that cannot be bought, on real nodes: a provider that makes agreements with keys it
//! controls stays unrated and `provider show` says why; a node that withholds one provider's
//! offers is named by a light client that cross-checks it with an honest node; stale and
//! forked listings are told apart.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use std::time::Duration;

use common::{TestNode, eventually, line, run_cli};
use flashback_client::{Client, GapKind, Terms};
use flashback_net::PeerId;
use flashback_testnet::Withholder;
use flashback_types::clock::now;
use flashback_types::{
    GIB, HOUR_SECS, Object, Offer, OfferQuery, SecretKey, Signed, SlaProposal, samples,
};

fn peer_of(addr: &str) -> PeerId {
    addr.rsplit("/p2p/").next().unwrap().parse().unwrap()
}

/// An offer signed five minutes ago: long enough for any node to have it, so a node that
/// lacks it is not merely slow.
fn old_offer(provider: &SecretKey, offer_key: &str, seq: u64) -> Signed<Offer> {
    let body = samples::offer(provider.public(), offer_key, seq, now() - 300);
    Signed::sign(body, provider).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_that_withholds_one_providers_offers_is_named_by_a_cross_check() {
    let nodes = line(2).await;
    let (honest, upstream) = (&nodes[0], &nodes[1]);
    let (victim, other) = (SecretKey::generate(), SecretKey::generate());
    let offers = [
        old_offer(&victim, "s3-eu", 1),
        old_offer(&victim, "s3-us", 1),
        old_offer(&other, "s3-eu", 1),
    ];
    for o in &offers {
        honest.node.submit(&Object::Offer(o.clone())).await;
    }
    eventually("both nodes list the three offers", || async {
        offers
            .iter()
            .all(|o| honest.holds(o.id()) && upstream.holds(o.id()))
    })
    .await;
    // The withholder answers from the upstream node's listing, without the victim's offers.
    let withholder = Withholder::start(&upstream.addr(), victim.public())
        .await
        .unwrap();

    // Two honest nodes agree.
    let client = Client::connect(&[honest.addr(), upstream.addr()])
        .await
        .unwrap();
    let check = client
        .cross_check(&OfferQuery::default(), 60)
        .await
        .unwrap();
    assert!(check.consistent() && check.digests_agree, "{check:?}");
    client.close().await;

    // Asked first, the withholder hides the victim; the cross-check names it, and the client
    // asks the honest node from then on.
    let client = Client::connect(&[withholder.addr.clone(), honest.addr()])
        .await
        .unwrap();
    let before = client.query_offers(&OfferQuery::default()).await.unwrap();
    assert_eq!(before.offers.len(), 1, "the withholder's answer");
    let check = client
        .cross_check(&OfferQuery::default(), 60)
        .await
        .unwrap();
    assert_eq!(check.withholding(), vec![withholder.peer], "{check:?}");
    let gaps: Vec<_> = check
        .gaps
        .iter()
        .map(|g| (g.node, g.provider, g.offer_key.as_str(), g.kind))
        .collect();
    let w = withholder.peer;
    assert_eq!(
        gaps,
        [
            (w, victim.public(), "s3-eu", GapKind::Missing),
            (w, victim.public(), "s3-us", GapKind::Missing),
        ]
    );
    assert!(check.gaps.iter().all(|g| g.held_against_node()));
    let view = |peer| check.nodes.iter().find(|n| n.node == peer).unwrap();
    assert_eq!(view(w).withheld, 2);
    assert_eq!(view(peer_of(&honest.addr())).withheld, 0);
    assert_eq!(client.preferred_node(), peer_of(&honest.addr()));
    let after = client.query_offers(&OfferQuery::default()).await.unwrap();
    assert_eq!(after.offers.len(), 3, "now answered by the honest node");
    client.close().await;

    // The same from the CLI, as JSON and for people.
    let (w_addr, h_addr) = (withholder.addr.clone(), honest.addr());
    let args = move |json: bool| {
        let mut a = vec![
            "listing".to_owned(),
            "query".to_owned(),
            "--node".to_owned(),
            w_addr.clone(),
            "--cross-check".to_owned(),
            "1".to_owned(),
            "--with".to_owned(),
            h_addr.clone(),
        ];
        if json {
            a.push("--json".to_owned());
        }
        a
    };
    let (json, human) = tokio::task::spawn_blocking(move || {
        let run = |a: Vec<String>| run_cli(&a.iter().map(String::as_str).collect::<Vec<_>>());
        (run(args(true)), run(args(false)))
    })
    .await
    .unwrap();
    assert!(
        json.status.success(),
        "{}",
        String::from_utf8_lossy(&json.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["offers"].as_array().unwrap().len(), 3, "{v:#}");
    let cc = &v["cross_check"];
    assert_eq!(cc["withholding"], serde_json::json!([w.to_string()]));
    assert_eq!(cc["answer_from"], peer_of(&honest.addr()).to_string());
    let kinds: Vec<&str> = cc["gaps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["missing", "missing"]);
    let stdout = String::from_utf8_lossy(&human.stdout);
    assert!(stdout.contains("WITHHELD 2 offer(s)"), "{stdout}");
    assert!(stdout.contains(&format!("missing: {w} lacks")), "{stdout}");
    assert!(
        String::from_utf8_lossy(&human.stderr).contains("withheld offers"),
        "{}",
        String::from_utf8_lossy(&human.stderr)
    );

    withholder.stop().await;
    for n in nodes {
        n.node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cross_check_tells_a_stale_node_from_a_forked_provider() {
    // Two nodes that never meet: each holds what it was given.
    let (a, b) = (TestNode::start(&[]).await, TestNode::start(&[]).await);
    let (updated, forker) = (SecretKey::generate(), SecretKey::generate());
    let v1 = old_offer(&updated, "main", 1);
    let v2 = old_offer(&updated, "main", 2);
    let fork_a = old_offer(&forker, "main", 7);
    let fork_b = {
        let mut body = fork_a.body().clone();
        body.capacity += GIB;
        Signed::sign(body, &forker).unwrap()
    };
    for o in [&v2, &fork_a] {
        a.node.submit(&Object::Offer(o.clone())).await;
    }
    for o in [&v1, &fork_b] {
        b.node.submit(&Object::Offer(o.clone())).await;
    }
    let client = Client::connect(&[a.addr(), b.addr()]).await.unwrap();
    let check = client
        .cross_check(&OfferQuery::default(), 60)
        .await
        .unwrap();
    let pb = peer_of(&b.addr());
    let stale: Vec<_> = check
        .gaps
        .iter()
        .filter(|g| g.provider == updated.public())
        .map(|g| (g.node, g.kind, g.newest))
        .collect();
    assert_eq!(stale, [(pb, GapKind::Stale { seq: 1 }, v2.id())]);
    // The provider signed two versions with seq 7: the node holding the other one (the larger
    // id) is "forked", and nobody withheld anything about it.
    let forked: Vec<_> = check
        .gaps
        .iter()
        .filter(|g| g.provider == forker.public())
        .collect();
    assert_eq!(forked.len(), 1, "{forked:?}");
    let (newest, other) = if fork_a.id() < fork_b.id() {
        (&fork_a, &fork_b)
    } else {
        (&fork_b, &fork_a)
    };
    assert_eq!(forked[0].newest, newest.id());
    assert_eq!(forked[0].kind, GapKind::Forked { id: other.id() });
    assert!(!forked[0].held_against_node());
    assert_eq!(check.withholding(), vec![pb], "only the stale node");
    assert!(!check.digests_agree);
    client.close().await;
    for n in [a, b] {
        n.node.shutdown().await;
    }
}

/// Proposes `volume` for `duration_secs` from an hour ago, and waits for the acceptance.
async fn deal(
    client: &Client,
    consumer: &SecretKey,
    offer: &Signed<Offer>,
    volume: u64,
    duration_secs: u64,
) -> Signed<SlaProposal> {
    let terms = Terms {
        volume,
        duration_secs,
        start: Some(now() - HOUR_SECS),
        decide_within: Duration::from_secs(120),
    };
    let proposal = client.propose(consumer, offer, terms).await.unwrap();
    let decision = client
        .wait_decision(&proposal, common::DEADLINE)
        .await
        .unwrap()
        .expect("the provider's node decides");
    assert_eq!(decision.body().decision, flashback_types::Decision::Accept);
    proposal
}

/// A perfect attestation of the last ten minutes under `proposal`.
fn perfect(attester: &SecretKey, proposal: &Signed<SlaProposal>) -> Object {
    let p = proposal.body();
    let mut body = samples::attestation(
        attester.public(),
        p.provider,
        Some(proposal.id()),
        100,
        100,
        now(),
    );
    body.window_start = body.window_end - 600;
    Object::QosAttestation(Signed::sign(body, attester).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_self_dealing_provider_stays_unrated_and_provider_show_says_why() {
    // The consumer's node counts its owner's key in full; the providers run their own nodes.
    let me = SecretKey::generate();
    let mine = me.public();
    let home = TestNode::start_with(&[], |c| c.store.reputation.own_keys = vec![mine]).await;
    let honest = TestNode::start(&[home.addr()]).await;
    let dealer = TestNode::start(&[home.addr()]).await;
    let offer_of = |p: &TestNode| {
        let body = samples::offer(p.key.public(), "main", 1, now());
        Signed::sign(body, &p.key).unwrap()
    };
    let (h_offer, s_offer) = (offer_of(&honest), offer_of(&dealer));
    for (p, o) in [(&honest, &h_offer), (&dealer, &s_offer)] {
        p.node.submit(&Object::Offer(o.clone())).await;
        eventually("the offer at the consumer's node", || async {
            home.holds(o.id())
        })
        .await;
    }
    let client = Client::connect(&[home.addr()]).await.unwrap();
    // The owner buys 10 GiB for 30 days from the honest provider and finds it perfect.
    let bought = deal(&client, &me, &h_offer, 10 * GIB, 30 * 24 * HOUR_SECS).await;
    client.submit(&perfect(&me, &bought)).await.unwrap();
    // The dealer makes three consumer keys, each with the cheapest agreement its offer
    // allows (1 GiB for two hours), and has them praise it.
    for _ in 0..3 {
        let sybil = SecretKey::generate();
        let cheap = deal(&client, &sybil, &s_offer, GIB, 2 * HOUR_SECS).await;
        client.submit(&perfect(&sybil, &cheap)).await.unwrap();
    }
    eventually(
        "the consumer's node counts all four attestations",
        || async {
            let store = home.node.store();
            store.reputation(&honest.key.public(), now()).counted == 1
                && store.reputation(&dealer.key.public(), now()).counted == 3
        },
    )
    .await;
    client.close().await;

    let (addr, h_key, s_key) = (
        home.addr(),
        honest.key.public().to_string(),
        dealer.key.public().to_string(),
    );
    let show = |key: &str, json: bool| {
        let mut a = vec!["provider", "show", key, "--node", &addr];
        if json {
            a.push("--json");
        }
        run_cli(&a)
    };
    let s_text = String::from_utf8_lossy(&show(&s_key, false).stdout).into_owned();
    assert!(s_text.contains("reputation unrated"), "{s_text}");
    assert!(
        s_text.contains("discounted 3.00: no independent standing 3.00"),
        "{s_text}"
    );
    assert!(s_text.contains("deals with this provider only"), "{s_text}");
    let s_json: serde_json::Value = serde_json::from_slice(&show(&s_key, true).stdout).unwrap();
    let rep = &s_json["reputation"];
    assert!(rep["score"].is_null() && rep["rated"] == false, "{rep:#}");
    assert_eq!(rep["evidence"]["total"], 0.0);
    assert!(
        rep["counted"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["standing_code"] == "only_this_provider" && c["weight"] == 0.0),
        "{rep:#}"
    );
    let h_text = String::from_utf8_lossy(&show(&h_key, false).stdout).into_owned();
    assert!(h_text.contains("evidence 1.00: 1.00 anchored"), "{h_text}");
    assert!(
        h_text.contains("anchored: one of this node's own keys"),
        "{h_text}"
    );

    // A reputation floor leaves the dealer out unless the unrated are asked for, and a
    // reputation sort lists it after the honest provider.
    let list = |extra: &[&str]| {
        let mut a = vec!["listing", "query", "--node", &addr, "--json"];
        a.extend_from_slice(extra);
        let v: serde_json::Value = serde_json::from_slice(&run_cli(&a).stdout).unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .map(|o| o["provider"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        list(&["--min-reputation", "0"]),
        std::slice::from_ref(&h_key)
    );
    assert_eq!(
        list(&["--min-reputation", "0", "--include-unrated"]).len(),
        2
    );
    assert_eq!(list(&["--sort", "reputation"]), [h_key.clone(), s_key]);

    // The optimizer sees the dealer as unrated: under a reputation floor it is excluded by
    // that rule, unless an exploration share allows one unrated pick.
    let recommend = |extra: &[&str]| {
        let mut a = vec![
            "recommend",
            "--node",
            &addr,
            "--volume",
            "1 GiB",
            "--duration",
            "30d",
            "--min-reputation",
            "0.5",
            "--json",
        ];
        a.extend_from_slice(extra);
        let out = run_cli(&a);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let providers = |v: &serde_json::Value| -> Vec<String> {
        v["placement"]["picks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["provider"].as_str().unwrap().to_owned())
            .collect()
    };
    let one = recommend(&["--replicas", "1"]);
    assert_eq!(providers(&one), std::slice::from_ref(&h_key), "{one:#}");
    assert!(
        one["removed"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["rule"] == "unrated" && r["count"] == 1),
        "{one:#}"
    );
    let two = recommend(&["--replicas", "2", "--explore", "1"]);
    assert_eq!(providers(&two).len(), 2, "{two:#}");

    for n in [dealer, honest, home] {
        n.node.shutdown().await;
    }
}
