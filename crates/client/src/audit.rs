//! Checking what nodes say: a provider's report with every object verified, and one query
//! asked of every connected node to find the offers some of them lack.

use std::collections::{BTreeMap, BTreeSet};

use flashback_net::PeerId;
use flashback_types::wire::{ProviderReport, QueryRequest, QueryResponse};
use flashback_types::{Agreement, Object, ObjectId, Offer, OfferQuery, PublicKey, Signed};

use crate::{Client, ClientError};

/// A provider's profile with every object verified.
#[derive(Debug, Clone)]
pub struct VerifiedProviderReport {
    /// Live offers, all of them (paged through the listing query).
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

impl Client {
    /// The node's report on a provider as it sends it: reputation, its explanation and the
    /// equivocation flag (the node's computation), with at most 256 offers and agreements
    /// (not verified here; [`Client::provider_report`] verifies them and fetches every offer).
    pub async fn reputation(&self, provider: PublicKey) -> Result<ProviderReport, ClientError> {
        let node = self.first();
        match self
            .query_node(node, &QueryRequest::Provider { provider })
            .await?
        {
            QueryResponse::Provider(r) if r.provider == provider => Ok(r),
            _ => Err(self.wrong(node)),
        }
    }

    /// A provider's offers, agreements and reputation with its explanation.
    pub async fn provider_report(
        &self,
        provider: PublicKey,
    ) -> Result<VerifiedProviderReport, ClientError> {
        let node = self.first();
        let report = self.reputation(provider).await?;
        // Every live offer, page after page: the report itself lists at most 256.
        let offers = self
            .all_offers(
                &OfferQuery {
                    provider: Some(provider),
                    ..OfferQuery::default()
                },
                crate::MAX_ALL_OFFERS,
            )
            .await?
            .offers;
        if offers.iter().any(|o| o.body().provider != provider) {
            return Err(self.wrong(node));
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
