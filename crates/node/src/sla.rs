//! The provider side of SLA negotiation. A provider's node watches every stored object; for a
//! proposal addressed to its own key it decides by [`SlaPolicy`], and on acceptance provisions
//! access to its data plane ([`crate::access`]); then it signs an `SlaDecision`, and on
//! acceptance also forms the `Agreement` and signs an `AccessGrant` sealed to the consumer;
//! all are validated, stored and gossiped like any object. Proposals are decided one at a
//! time, so capacity is never promised twice. The same task revokes access when an agreement
//! ends or one of its parties terminates it.

use std::sync::Arc;
use std::time::Duration;

use flashback_store::Store;
use flashback_types::seal::{self, AccessCredentials};
use flashback_types::{
    Agreement, Decision, Object, PublicKey, RejectReason, SecretKey, Signed, SlaDecision,
    SlaProposal,
};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::access::{Access, RevokeReason};
use crate::pipeline::Verdict;
use crate::service::Services;
use flashback_types::clock::now;

/// How often ended agreements are looked for (their access is revoked within this).
const REVOKE_TICK: Duration = Duration::from_secs(1);

/// How long a rejection is kept.
const REJECTION_LIFETIME_SECS: u64 = 24 * 3600;

/// What the provider's node accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SlaPolicy {
    /// Decide proposals addressed to this node's key. Off: proposals are stored and relayed
    /// but never answered (they expire).
    pub enabled: bool,
    /// Consumers whose proposals are always rejected (`consumer_denied`).
    pub denied_consumers: Vec<PublicKey>,
    /// The lowest consumer payment score accepted, basis points (`0` = any consumer): below it
    /// a proposal is rejected with `consumer_standing` (`flashback consumer show` explains a
    /// consumer's score; decision 0092).
    pub min_consumer_score_bp: u16,
}

impl Default for SlaPolicy {
    fn default() -> Self {
        Self {
            enabled: true,
            denied_consumers: Vec::new(),
            min_consumer_score_bp: 0,
        }
    }
}

/// The policy's verdict on one proposal, given the store's current state.
pub fn decide(
    store: &Store,
    policy: &SlaPolicy,
    proposal: &SlaProposal,
    now: u64,
) -> Result<Decision, crate::NodeError> {
    use RejectReason::{ConsumerDenied, Expired, OfferUnavailable};
    let reject = |r| Ok(Decision::Reject(r));
    if proposal.expires_at <= now {
        return reject(Expired);
    }
    if policy.denied_consumers.contains(&proposal.consumer) {
        return reject(ConsumerDenied);
    }
    if policy.min_consumer_score_bp > 0 {
        let (standing, _) = store.consumer_standing(&proposal.consumer, now)?;
        if standing.score_bp < policy.min_consumer_score_bp {
            return reject(RejectReason::ConsumerStanding);
        }
    }
    let Some(Object::Offer(offer)) = store.get(&proposal.offer_id)? else {
        return reject(OfferUnavailable);
    };
    let o = offer.body();
    let current = store.current_offer(&o.provider, &o.offer_key)?;
    let live = o.provider == proposal.provider
        && !o.withdrawn
        && o.expires_at > now
        && o.seq == proposal.offer_seq
        && current.is_some_and(|c| c.id() == offer.id());
    if !live {
        return reject(OfferUnavailable);
    }
    // Terminated agreements no longer count (`Store::accepted_volume`), nor those that end by
    // the time this one starts (a renewal follows its agreement, it does not add to it).
    let promised = store.accepted_volume(&o.provider, &o.offer_key, proposal.start.max(now));
    if let Some(reason) = proposal.breaks_terms_of(o, promised) {
        return reject(reason);
    }
    Ok(Decision::Accept)
}

/// Watches applied objects: answers proposals addressed to `key` (when the policy is on), and
/// revokes access for agreements that end or are terminated.
pub(crate) async fn run(
    services: Services,
    key: SecretKey,
    policy: SlaPolicy,
    access: Arc<Access>,
    mut applied: broadcast::Receiver<Object>,
    stop: CancellationToken,
) {
    let me = key.public();
    // What happened while the node was down: proposals still waiting, terminations.
    access.revoke_terminated(&services.store).await;
    if policy.enabled {
        answer_pending(&services, &key, &policy, &access).await;
    }
    let mut tick = tokio::time::interval(REVOKE_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        let object = tokio::select! {
            biased;
            () = stop.cancelled() => break,
            _ = tick.tick() => {
                access.revoke_ended(now()).await;
                continue;
            }
            received = applied.recv() => received,
        };
        match object {
            Ok(Object::SlaProposal(p)) if policy.enabled && p.body().provider == me => {
                answer(&services, &key, &policy, &access, &p).await;
            }
            Ok(Object::Termination(t)) => access.on_termination(t.body()).await,
            Ok(_) => {}
            // We missed some objects: look for undecided proposals and terminations in the
            // store.
            Err(broadcast::error::RecvError::Lagged(_)) => {
                access.revoke_terminated(&services.store).await;
                if policy.enabled {
                    answer_pending(&services, &key, &policy, &access).await;
                }
            }
            Err(broadcast::error::RecvError::Closed) => break,
        }
    }
}

async fn answer_pending(services: &Services, key: &SecretKey, policy: &SlaPolicy, access: &Access) {
    let store = services.store.clone();
    let me = key.public();
    let pending = crate::blocking(move || Ok(store.proposals_for_provider(&me, now())?)).await;
    match pending {
        Ok(proposals) => {
            for p in proposals {
                answer(services, key, policy, access, &p).await;
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot list pending proposals"),
    }
}

async fn answer(
    services: &Services,
    key: &SecretKey,
    policy: &SlaPolicy,
    access: &Access,
    proposal: &Signed<SlaProposal>,
) {
    let store = services.store.clone();
    let (policy, body, id) = (policy.clone(), proposal.body().clone(), proposal.id());
    let decided = crate::blocking(move || {
        if store.decision_for(&id)?.is_some() {
            return Ok(None);
        }
        let decision = decide(&store, &policy, &body, now())?;
        let offer = match (decision, store.get(&body.offer_id)?) {
            (Decision::Accept, Some(Object::Offer(o))) => Some(o),
            _ => None,
        };
        Ok(Some((decision, offer)))
    })
    .await;
    let (mut decision, offer) = match decided {
        Ok(Some(d)) => d,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(proposal = %id, error = %e, "cannot decide a proposal");
            return;
        }
    };
    let mut credentials = None;
    if let (Decision::Accept, Some(offer)) = (decision, offer) {
        match access.provision(proposal, offer.body()).await {
            Ok(c) => credentials = c,
            Err(e) => {
                tracing::warn!(proposal = %id, error = %e, "access could not be provisioned: the proposal is rejected (access)");
                decision = Decision::Reject(RejectReason::Access);
            }
        }
    }
    let provisioned = credentials.is_some();
    if let Err(e) = publish_decision(services, key, proposal, decision, credentials).await {
        tracing::warn!(proposal = %id, error = %e, "cannot publish a decision");
        if provisioned && let Err(e) = access.revoke(&id, RevokeReason::Abandoned).await {
            tracing::warn!(proposal = %id, error = %e, "cannot revoke the access of an abandoned agreement");
        }
    }
}

async fn publish_decision(
    services: &Services,
    key: &SecretKey,
    proposal: &Signed<SlaProposal>,
    decision: Decision,
    credentials: Option<AccessCredentials>,
) -> Result<(), String> {
    let p = proposal.body();
    let t = now();
    let expires_at = match decision {
        Decision::Accept => p.end().max(t + 1),
        Decision::Reject(_) => t + REJECTION_LIFETIME_SECS,
    };
    let body = SlaDecision {
        provider: p.provider,
        consumer: p.consumer,
        proposal_id: proposal.id(),
        decision,
        created_at: t,
        expires_at,
    };
    // The grant first: should it fail, nothing has been signed yet.
    let grant = match &credentials {
        Some(c) => Some(seal::grant(key, c, t, expires_at).map_err(|e| e.to_string())?),
        None => None,
    };
    let signed = Signed::sign(body, key).map_err(|e| e.to_string())?;
    let mut objects = vec![Object::SlaDecision(signed.clone())];
    if decision == Decision::Accept {
        let agreement =
            Agreement::from_parts(proposal.clone(), signed).map_err(|e| e.to_string())?;
        objects.push(Object::Agreement(agreement));
    }
    objects.extend(grant.map(Object::AccessGrant));
    let encoded = objects.iter().map(|o| o.encoded().to_vec()).collect();
    for ((verdict, _), object) in services
        .validator
        .ingest(encoded)
        .await
        .into_iter()
        .zip(&objects)
    {
        match verdict {
            Verdict::Stored(_) => services.publish(object).await,
            other => return Err(format!("our own {} was refused: {other:?}", object.kind())),
        }
    }
    tracing::info!(proposal = %proposal.id(), consumer = %p.consumer.fmt_short(), ?decision, access_granted = credentials.is_some(), "decided a proposal");
    Ok(())
}
