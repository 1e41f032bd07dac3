//! The flood attacker: a raw libp2p peer (no validation, no node) that connects to one node and
//! publishes junk on the offers topic — offers signed by a key that is not the
//! provider's, offers with a corrupted signature, malformed bytes, and objects over the offer
//! size limit (but under the gossip frame limit, so they reach the node's validation) — and
//! also hands junk to the node through `/flashback/submit/1`.

use std::collections::BTreeMap;
use std::time::Duration;

use flashback_net::{NetConfig, NetError, NetEvent, PeerId, Protocol};
use flashback_types::protocol::Topic;
use flashback_types::wire::{
    ObjectBytes, SubmitRequest, SubmitResponse, decode_response, encode_message,
};
use flashback_types::{HOUR_SECS, Kind, SecretKey, Signed};
use rand::rngs::StdRng;
use rand::{Rng as _, RngExt as _};
use tokio_util::sync::CancellationToken;

use crate::TestnetError;

/// What the attacker managed to send.
#[derive(Debug, Default, Clone)]
pub(crate) struct Sent {
    pub(crate) gossip: BTreeMap<String, u64>,
    pub(crate) send_errors: u64,
    pub(crate) submits_refused: u64,
    pub(crate) submits_unanswered: u64,
}

const JUNK: [&str; 4] = ["forged_signer", "bad_signature", "malformed", "oversized"];

fn junk(
    kind: usize,
    victim: &SecretKey,
    attacker: &SecretKey,
    n: u64,
    rng: &mut StdRng,
) -> Vec<u8> {
    let now = flashback_types::clock::now();
    let body = || {
        let mut o = flashback_types::samples::offer(victim.public(), &format!("flood-{n}"), 1, now);
        o.expires_at = now + HOUR_SECS;
        o
    };
    match kind {
        // Claims to be the victim's offer, signed by the attacker.
        0 => Signed::sign_unchecked(body(), attacker).encoded().to_vec(),
        // The victim's real offer with one bit of the signature flipped.
        1 => {
            let mut bytes = Signed::sign_unchecked(body(), victim).encoded().to_vec();
            if let Some(last) = bytes.last_mut() {
                *last ^= 1;
            }
            bytes
        }
        // An offer tag followed by noise.
        2 => {
            let len = 64 + rng.random_range(0..512);
            tagged_noise(rng, len)
        }
        // Over the offer limit (8 KiB), under the gossip frame limit (64 KiB).
        _ => tagged_noise(rng, Kind::Offer.max_bytes() + 1024),
    }
}

/// The offer tag followed by `len` random bytes.
fn tagged_noise(rng: &mut StdRng, len: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; 1 + len];
    bytes[0] = Kind::Offer.tag();
    rng.fill_bytes(&mut bytes[1..]);
    bytes
}

/// Connects to `target` (its dial address), then floods until `stop` or `max_messages`.
pub(crate) async fn run(
    target_addr: String,
    target_peer: PeerId,
    rate_per_sec: u32,
    max_messages: usize,
    submits: usize,
    mut rng: StdRng,
    stop: CancellationToken,
) -> Result<Sent, TestnetError> {
    let attacker = SecretKey::generate();
    let victim = SecretKey::generate();
    let config = NetConfig {
        listen: vec!["/ip4/127.0.0.1/tcp/0".into()],
        bootstrap: vec![target_addr],
        gossip_heartbeat_ms: 200,
        enable_kad: false,
        ..NetConfig::default()
    };
    let (net, mut events) = flashback_net::NetBuilder::new(attacker.to_libp2p_keypair(), config)
        .spawn()
        .await?;
    let drain = tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            // The attacker never validates: it reports nothing and forwards nothing it hears.
            drop::<NetEvent>(event);
        }
    });
    // Connected is enough: gossipsub floods what a peer publishes to every connected peer
    // subscribed to the topic, mesh or not (a busy target's mesh may well be full).
    let joined = async {
        loop {
            if net
                .connected_peers()
                .await
                .is_ok_and(|p| p.contains(&target_peer))
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let mut sent = Sent::default();
    let connected = tokio::select! {
        () = stop.cancelled() => false,
        r = tokio::time::timeout(Duration::from_secs(20), joined) => r.is_ok(),
    };
    if connected {
        let period = Duration::from_secs(1) / rate_per_sec.max(1);
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Submits are spread over the gossip messages.
        let submit_every = (max_messages / submits.max(1)).max(1);
        let mut n = 0u64;
        while (n as usize) < max_messages {
            tokio::select! {
                biased;
                () = stop.cancelled() => break,
                _ = tick.tick() => {}
            }
            let kind = (n as usize) % JUNK.len();
            let bytes = junk(kind, &victim, &attacker, n, &mut rng);
            match net.publish(Topic::Offers.name(), bytes).await {
                Ok(_) => *sent.gossip.entry(JUNK[kind].to_owned()).or_default() += 1,
                // Until the target's subscriptions arrive, nobody is there to send to.
                Err(NetError::InsufficientPeers { .. }) if sent.gossip.is_empty() => continue,
                Err(_) => sent.send_errors += 1,
            }
            if (n as usize).is_multiple_of(submit_every)
                && ((sent.submits_refused + sent.submits_unanswered) as usize) < submits
            {
                // Every kind of junk goes through submit too (not only the one gossiped now).
                let submit_kind = (n as usize / submit_every) % JUNK.len();
                let junk = junk(submit_kind, &victim, &attacker, n, &mut rng);
                let request = encode_message(&SubmitRequest {
                    object: ObjectBytes::from(junk),
                });
                let answer = tokio::time::timeout(
                    Duration::from_secs(2),
                    net.request(target_peer, Protocol::Submit, request),
                )
                .await;
                match answer {
                    Ok(Ok(reply)) => match decode_response::<SubmitResponse>(&reply) {
                        Ok(SubmitResponse::Accepted { .. }) => {
                            tracing::error!("the node accepted junk through submit");
                        }
                        Ok(_) => sent.submits_refused += 1,
                        Err(_) => sent.submits_unanswered += 1,
                    },
                    _ => sent.submits_unanswered += 1,
                }
            }
            n += 1;
        }
    }
    let _ = net.shutdown().await;
    drain.abort();
    if !connected && !stop.is_cancelled() {
        return Err(TestnetError::Node(
            "the attacker could not connect to the target".into(),
        ));
    }
    Ok(sent)
}
