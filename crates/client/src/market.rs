//! Market operations of the light client: SLA proposals, decisions, provider reports and
//! cross-checking nodes. Every object received is verified before it is returned.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use flashback_net::PeerId;
use flashback_types::wire::{ProviderReport, QueryRequest, QueryResponse};
use flashback_types::{
    Agreement, Object, ObjectId, Offer, OfferQuery, PublicKey, SecretKey, Signed, SlaDecision,
    SlaProposal,
};

use flashback_types::clock::now;

use crate::{Client, ClientError};

/// A provider's profile with every object verified.
#[derive(Debug, Clone)]
pub struct VerifiedProviderReport {
    /// Live offers.
    pub offers: Vec<Signed<Offer>>,
    /// Agreements where the provider is the provider.
    pub agreements: Vec<Agreement>,
    /// The node's computation of reputation and its explanation (counted and excluded
    /// attestations). Numbers are the node's: compare nodes with [`Client::cross_check`] if in
    /// doubt.
    pub report: ProviderReport,
}

/// The outcome of asking several nodes the same query.
#[derive(Debug, Clone, Default)]
pub struct CrossCheck {
    /// Ids each node returned.
    pub per_node: BTreeMap<PeerId, BTreeSet<ObjectId>>,
    /// Ids returned by some nodes but not others, with the nodes lacking them.
    pub missing: BTreeMap<ObjectId, Vec<PeerId>>,
}

impl CrossCheck {
    /// True when every node returned the same ids.
    pub fn consistent(&self) -> bool {
        self.missing.is_empty()
    }
}

/// Terms of a proposal.
#[derive(Debug, Clone, Copy)]
pub struct Terms {
    /// Bytes (storage) or units (compute).
    pub volume: u64,
    /// Seconds of service.
    pub duration_secs: u64,
    /// Start of service (Unix seconds); `None` = now.
    pub start: Option<u64>,
    /// How long the provider has to decide.
    pub decide_within: Duration,
}

impl Client {
    /// Signs a proposal for `offer` at the offer's price and terms, and submits it through the
    /// node, which gossips it to the provider's node. Returns the signed proposal; wait for
    /// the answer with [`Client::wait_decision`].
    pub async fn propose(
        &self,
        consumer: &SecretKey,
        offer: &Signed<Offer>,
        terms: Terms,
    ) -> Result<Signed<SlaProposal>, ClientError> {
        let o = offer.body();
        let t = now();
        let total = o
            .price
            .total(terms.volume, terms.duration_secs)
            .ok_or_else(|| {
                ClientError::InvalidInput("volume × duration × price overflows".into())
            })?;
        let mut nonce = [0u8; 8];
        nonce.copy_from_slice(&SecretKey::generate().public().as_bytes()[..8]);
        let body = SlaProposal {
            consumer: consumer.public(),
            provider: o.provider,
            offer_id: offer.id(),
            offer_seq: o.seq,
            volume: terms.volume,
            duration_secs: terms.duration_secs,
            redundancy: o.redundancy,
            qos: o.qos.clone(),
            price: o.price.clone(),
            total,
            start: terms.start.unwrap_or(t),
            nonce: u64::from_le_bytes(nonce),
            created_at: t,
            expires_at: t + terms.decide_within.as_secs().max(1),
        };
        let signed = Signed::sign(body, consumer).map_err(|e| {
            ClientError::InvalidInput(format!("proposal is not valid: {}", e.detail))
        })?;
        self.submit(&Object::SlaProposal(signed.clone())).await?;
        Ok(signed)
    }

    /// Waits (held open by the node, not by polling) for the provider's decision on a proposal.
    /// `None` when no decision arrived within `timeout` (the node caps a single wait).
    pub async fn wait_decision(
        &self,
        proposal: &Signed<SlaProposal>,
        timeout: Duration,
    ) -> Result<Option<Signed<SlaDecision>>, ClientError> {
        let node = self.first();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            let req = QueryRequest::WaitDecision {
                proposal_id: proposal.id(),
                timeout_secs: u32::try_from(left.as_secs().max(1)).unwrap_or(u32::MAX),
            };
            match self.query_node(node, &req).await? {
                QueryResponse::Decision(Some(bytes)) => {
                    let decision = match self.verify(node, &bytes)? {
                        Object::SlaDecision(d) => d,
                        other => {
                            return Err(ClientError::BadResponse {
                                node: node.to_string(),
                                detail: format!("a {} instead of a decision", other.kind()),
                            });
                        }
                    };
                    let d = decision.body();
                    if d.proposal_id != proposal.id() || d.provider != proposal.body().provider {
                        return Err(ClientError::BadResponse {
                            node: node.to_string(),
                            detail: "a decision about another proposal".into(),
                        });
                    }
                    return Ok(Some(decision));
                }
                // The node's wait is capped; ask again until our own deadline.
                QueryResponse::Decision(None) => {}
                _ => return Err(self.wrong(node)),
            }
        }
    }

    /// A provider's offers, agreements and reputation with its explanation.
    pub async fn provider_report(
        &self,
        provider: PublicKey,
    ) -> Result<VerifiedProviderReport, ClientError> {
        let node = self.first();
        let report = match self
            .query_node(node, &QueryRequest::Provider { provider })
            .await?
        {
            QueryResponse::Provider(r) => r,
            _ => return Err(self.wrong(node)),
        };
        let mut offers = Vec::new();
        for b in report.offers.iter() {
            match self.verify(node, b)? {
                Object::Offer(o) if o.body().provider == provider => offers.push(o),
                _ => return Err(self.wrong(node)),
            }
        }
        let mut agreements = Vec::new();
        for b in report.agreements.iter() {
            match self.verify(node, b)? {
                Object::Agreement(a) if a.provider() == &provider => agreements.push(a),
                _ => return Err(self.wrong(node)),
            }
        }
        Ok(VerifiedProviderReport {
            offers,
            agreements,
            report,
        })
    }

    /// Runs `query` on every node this client is connected to and reports the offers some
    /// nodes lack (a node that hides offers, or one that is still syncing).
    pub async fn cross_check(&self, query: &OfferQuery) -> Result<CrossCheck, ClientError> {
        let mut check = CrossCheck::default();
        for node in self.nodes().to_vec() {
            let page = self.query_offers_at(node, query).await?;
            check
                .per_node
                .insert(node, page.offers.iter().map(|o| o.id()).collect());
        }
        let all: BTreeSet<ObjectId> = check.per_node.values().flatten().copied().collect();
        for id in all {
            let lacking: Vec<PeerId> = check
                .per_node
                .iter()
                .filter(|(_, ids)| !ids.contains(&id))
                .map(|(n, _)| *n)
                .collect();
            if !lacking.is_empty() {
                check.missing.insert(id, lacking);
            }
        }
        Ok(check)
    }
}
