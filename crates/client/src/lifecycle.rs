//! An agreement's life, from the consumer's and the provider's side: what a node holds about
//! it ([`AgreementRecord`], every object verified), its status (proposed, rejected, active,
//! expired, terminated), its access grant opened with the consumer's key, a signed
//! termination, a renewal, and a provider's view of what it has committed and what is free.
//!
//! The status is derived here, from signed objects only, by the rules in `flashback-types`
//! ([`Termination::ends`]); the CLI prints it.

use std::collections::BTreeMap;
use std::time::Duration;

use flashback_types::clock::now;
use flashback_types::seal::{self, AccessCredentials};
use flashback_types::wire::{QueryRequest, QueryResponse};
use flashback_types::{
    AccessGrant, Agreement, Decision, MAX_QUERY_LIMIT, Object, ObjectId, Offer, OfferQuery,
    PublicKey, RejectReason, SecretKey, Signed, SlaDecision, SlaProposal, Termination, Text,
    Timestamp,
};

use crate::{Client, ClientError, Terms};

/// Where an agreement stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgreementStatus {
    /// Proposed; no decision yet.
    Proposed,
    /// The provider rejected it.
    Rejected(RejectReason),
    /// Accepted, and neither ended nor terminated (service may start later: see its start).
    Active,
    /// Its term is over.
    Expired,
    /// A party ended it early.
    Terminated {
        /// When.
        at: Timestamp,
        /// Who: the consumer or the provider.
        by: PublicKey,
        /// Why, in their words.
        reason: String,
    },
}

impl AgreementStatus {
    /// The stable lowercase code (`proposed`, `rejected`, `active`, `expired`, `terminated`).
    pub fn code(&self) -> &'static str {
        match self {
            AgreementStatus::Proposed => "proposed",
            AgreementStatus::Rejected(_) => "rejected",
            AgreementStatus::Active => "active",
            AgreementStatus::Expired => "expired",
            AgreementStatus::Terminated { .. } => "terminated",
        }
    }
}

/// Everything a node holds about one agreement, each object verified and checked to belong.
#[derive(Debug, Clone)]
pub struct AgreementRecord {
    /// The agreement's id (its proposal's).
    pub id: ObjectId,
    /// The proposal, while the node keeps it (until its decision deadline).
    pub proposal: Option<Signed<SlaProposal>>,
    /// The provider's decision.
    pub decision: Option<Signed<SlaDecision>>,
    /// The agreement, when accepted (kept until its end).
    pub agreement: Option<Agreement>,
    /// Access grants from the provider to the consumer.
    pub grants: Vec<Signed<AccessGrant>>,
    /// Terminations naming it (signed by anyone: [`AgreementRecord::termination`] picks the
    /// one that counts).
    pub terminations: Vec<Signed<Termination>>,
}

impl AgreementRecord {
    /// The earliest termination by one of the agreement's parties.
    pub fn termination(&self) -> Option<&Signed<Termination>> {
        flashback_api::view::ending_termination(self.agreement.as_ref()?, &self.terminations)
    }

    /// The newest access grant.
    pub fn grant(&self) -> Option<&Signed<AccessGrant>> {
        self.grants
            .iter()
            .max_by_key(|g| (g.body().created_at, g.id()))
    }

    /// The status at `now`.
    pub fn status(&self, now: Timestamp) -> AgreementStatus {
        if let Some(t) = self.termination() {
            let b = t.body();
            return AgreementStatus::Terminated {
                at: b.created_at,
                by: b.party,
                reason: b.reason.to_string(),
            };
        }
        if let Some(a) = &self.agreement {
            return if a.expires_at() <= now {
                AgreementStatus::Expired
            } else {
                AgreementStatus::Active
            };
        }
        match self.decision.as_ref().map(|d| d.body().decision) {
            Some(Decision::Reject(reason)) => AgreementStatus::Rejected(reason),
            // An acceptance whose agreement the node no longer holds: collected at its end.
            Some(Decision::Accept) => AgreementStatus::Expired,
            None => AgreementStatus::Proposed,
        }
    }
}

/// One offer of a provider and what is promised on it.
#[derive(Debug, Clone)]
pub struct Commitment {
    /// The offer's current version.
    pub offer: Signed<Offer>,
    /// Volume of its active agreements (on any version of the offer).
    pub committed: u64,
    /// Capacity left: what new proposals can still take.
    pub free: u64,
    /// Its agreements the node still holds, with their status.
    pub agreements: Vec<(Agreement, AgreementStatus)>,
}

impl Client {
    /// What the node holds about agreement `id`, each object verified; with `wait` > 0 the
    /// node holds the answer until an access grant for it arrives (or the wait is over).
    pub async fn agreement_record(
        &self,
        id: ObjectId,
        wait: Duration,
    ) -> Result<AgreementRecord, ClientError> {
        let node = self.first();
        let req = QueryRequest::AgreementRecord {
            proposal_id: id,
            wait_grant_secs: u32::try_from(wait.as_secs()).unwrap_or(u32::MAX),
        };
        let QueryResponse::Objects { objects } = self.query_node(node, &req).await? else {
            return Err(self.wrong(node));
        };
        let mut record = AgreementRecord {
            id,
            proposal: None,
            decision: None,
            agreement: None,
            grants: Vec::new(),
            terminations: Vec::new(),
        };
        let stray = |what: &str| ClientError::BadResponse {
            node: node.to_string(),
            detail: format!("a {what} about another agreement"),
        };
        for bytes in objects.iter() {
            // Not `verify`: an ended agreement is still part of its record.
            let object = Object::decode(bytes).map_err(|error| ClientError::BadObject {
                node: node.to_string(),
                error,
            })?;
            match object {
                Object::SlaProposal(p) if p.id() == id => record.proposal = Some(p),
                Object::SlaDecision(d) if d.body().proposal_id == id => {
                    record.decision = Some(d);
                }
                Object::Agreement(a) if a.proposal_id() == id => record.agreement = Some(a),
                Object::AccessGrant(g) if g.body().agreement == id => record.grants.push(g),
                Object::Termination(t) if t.body().agreement == id => {
                    record.terminations.push(t);
                }
                other => return Err(stray(other.kind().name())),
            }
        }
        // Decisions and grants count only from the proposal's provider, to its consumer.
        let parties = record
            .agreement
            .as_ref()
            .map(|a| (*a.provider(), *a.consumer()))
            .or_else(|| {
                record
                    .proposal
                    .as_ref()
                    .map(|p| (p.body().provider, p.body().consumer))
            });
        if let Some((provider, consumer)) = parties {
            if record
                .decision
                .as_ref()
                .is_some_and(|d| d.body().provider != provider)
            {
                return Err(stray("decision by another provider"));
            }
            record
                .grants
                .retain(|g| g.body().provider == provider && g.body().consumer == consumer);
        } else {
            record.grants.clear();
        }
        Ok(record)
    }

    /// The record of `id`, refusing one the node knows nothing of.
    async fn known_record(
        &self,
        id: ObjectId,
        wait: Duration,
    ) -> Result<AgreementRecord, ClientError> {
        let record = self.agreement_record(id, wait).await?;
        if record.proposal.is_none() && record.decision.is_none() && record.agreement.is_none() {
            return Err(ClientError::InvalidInput(format!(
                "the node knows no agreement {id}: check the id (`flashback sla list --mine`); \
                 an agreement is forgotten some time after its end"
            )));
        }
        Ok(record)
    }

    /// The credentials of agreement `id`, opened with `consumer`'s key: waits up to `wait` for
    /// the provider's grant. Only the agreement's consumer can open them.
    pub async fn access(
        &self,
        consumer: &SecretKey,
        id: ObjectId,
        wait: Duration,
    ) -> Result<AccessCredentials, ClientError> {
        let record = self.known_record(id, wait).await?;
        if let Some(a) = &record.agreement
            && a.consumer() != &consumer.public()
        {
            return Err(ClientError::InvalidInput(format!(
                "agreement {id} is {}'s: only its consumer can open its access (pass that key)",
                a.consumer()
            )));
        }
        let status = record.status(now());
        let Some(grant) = record.grant() else {
            return Err(ClientError::InvalidInput(match status {
                AgreementStatus::Active => format!(
                    "the provider delivered no access grant for agreement {id} (yet): it may \
                     provision no access for this offer's protocols; ask the provider"
                ),
                other => format!("agreement {id} is {}: it has no access", other.code()),
            }));
        };
        seal::open(grant.body(), consumer).map_err(|e| ClientError::InvalidInput(e.to_string()))
    }

    /// Ends agreement `id` now, signed by `party` (its consumer or its provider) with
    /// `reason`: the provider's capacity is released and the consumer's access revoked.
    pub async fn terminate(
        &self,
        party: &SecretKey,
        id: ObjectId,
        reason: &str,
    ) -> Result<Signed<Termination>, ClientError> {
        let record = self.known_record(id, Duration::ZERO).await?;
        let Some(agreement) = &record.agreement else {
            return Err(ClientError::InvalidInput(format!(
                "{id} is {}, not an agreement in force: nothing to terminate",
                record.status(now()).code()
            )));
        };
        let me = party.public();
        if &me != agreement.consumer() && &me != agreement.provider() {
            return Err(ClientError::InvalidInput(format!(
                "only the agreement's consumer or provider can terminate it, not {me}"
            )));
        }
        match record.status(now()) {
            AgreementStatus::Active => {}
            other => {
                return Err(ClientError::InvalidInput(format!(
                    "agreement {id} is {} already",
                    other.code()
                )));
            }
        }
        let t = now();
        let body = Termination {
            party: me,
            agreement: id,
            reason: Text::new(reason.trim())
                .map_err(|e| ClientError::InvalidInput(format!("the reason is too long: {e}")))?,
            created_at: t,
            expires_at: agreement.expires_at().max(t + 1),
        };
        let signed = Signed::sign(body, party).map_err(|e| {
            ClientError::InvalidInput(format!("the termination is not valid: {}", e.detail))
        })?;
        self.submit(&Object::Termination(signed.clone())).await?;
        Ok(signed)
    }

    /// Proposes the continuation of agreement `id`: the same volume on the provider's current
    /// version of the same offer, for `duration_secs` (default: the agreement's), starting at
    /// its end (or now, if it has ended). The provider keeps the data's access namespace for a
    /// continuation that starts exactly at the end. Wait for the answer with
    /// [`Client::wait_decision`].
    pub async fn renew(
        &self,
        consumer: &SecretKey,
        id: ObjectId,
        duration_secs: Option<u64>,
        decide_within: Duration,
    ) -> Result<Signed<SlaProposal>, ClientError> {
        let record = self.known_record(id, Duration::ZERO).await?;
        let Some(agreement) = &record.agreement else {
            return Err(ClientError::InvalidInput(format!(
                "{id} is {}: only an agreement the node still holds can be renewed",
                record.status(now()).code()
            )));
        };
        if agreement.consumer() != &consumer.public() {
            return Err(ClientError::InvalidInput(
                "only the agreement's consumer can renew it".into(),
            ));
        }
        if let AgreementStatus::Terminated { .. } = record.status(now()) {
            return Err(ClientError::InvalidInput(format!(
                "agreement {id} was terminated: make a new one with `flashback sla propose`"
            )));
        }
        let p = agreement.proposal().body();
        let old_offer = self
            .get(&[p.offer_id])
            .await?
            .into_iter()
            .find_map(|o| match o {
                Object::Offer(o) if o.id() == p.offer_id => Some(o),
                _ => None,
            });
        let offer_key = old_offer
            .map(|o| o.body().offer_key.to_string())
            .ok_or_else(|| {
                ClientError::InvalidInput(
                    "the node no longer holds the offer this agreement was made on: find the \
                     provider's current offer and propose anew"
                        .into(),
                )
            })?;
        let current = self
            .query_offers(&OfferQuery {
                provider: Some(p.provider),
                limit: MAX_QUERY_LIMIT,
                ..OfferQuery::default()
            })
            .await?
            .offers
            .into_iter()
            .find(|o| o.body().offer_key.as_str() == offer_key)
            .ok_or_else(|| {
                ClientError::InvalidInput(format!(
                    "the provider no longer offers {offer_key:?}: nothing to renew on"
                ))
            })?;
        let terms = Terms {
            volume: p.volume,
            duration_secs: duration_secs.unwrap_or(p.duration_secs),
            start: Some(agreement.expires_at().max(now())),
            decide_within,
        };
        self.propose(consumer, &current, terms).await
    }

    /// What `provider` has committed on each of its live offers and what is free, with each
    /// agreement's status (for `flashback sla list --mine` with a provider's key).
    pub async fn commitments(&self, provider: PublicKey) -> Result<Vec<Commitment>, ClientError> {
        let offers = self
            .query_offers(&OfferQuery {
                provider: Some(provider),
                limit: MAX_QUERY_LIMIT,
                ..OfferQuery::default()
            })
            .await?
            .offers;
        // Which offer key each agreement's offer id has (versions may have been superseded).
        let mut key_of: BTreeMap<ObjectId, String> = offers
            .iter()
            .map(|o| (o.id(), o.body().offer_key.to_string()))
            .collect();
        let agreements: Vec<Agreement> = self
            .agreements(Some(provider))
            .await?
            .into_iter()
            .filter(|a| a.provider() == &provider)
            .collect();
        let unknown: Vec<ObjectId> = agreements
            .iter()
            .map(|a| a.proposal().body().offer_id)
            .filter(|id| !key_of.contains_key(id))
            .collect();
        for chunk in unknown.chunks(flashback_types::protocol::MAX_OBJECTS) {
            for object in self.get(chunk).await? {
                if let Object::Offer(o) = object {
                    key_of.insert(o.id(), o.body().offer_key.to_string());
                }
            }
        }
        let t = now();
        let mut out: Vec<Commitment> = offers
            .into_iter()
            .map(|offer| Commitment {
                committed: 0,
                free: offer.body().capacity,
                offer,
                agreements: Vec::new(),
            })
            .collect();
        for agreement in agreements {
            let Some(key) = key_of.get(&agreement.proposal().body().offer_id) else {
                continue;
            };
            let Some(c) = out
                .iter_mut()
                .find(|c| c.offer.body().offer_key.as_str() == key)
            else {
                continue;
            };
            let status = self
                .agreement_record(agreement.proposal_id(), Duration::ZERO)
                .await?
                .status(t);
            if status == AgreementStatus::Active {
                c.committed = c
                    .committed
                    .saturating_add(agreement.proposal().body().volume);
            }
            c.agreements.push((agreement, status));
        }
        for c in &mut out {
            c.free = c.offer.body().capacity.saturating_sub(c.committed);
        }
        Ok(out)
    }
}
