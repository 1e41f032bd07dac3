//! Checking what a node says: a provider's report with every object verified. (Comparing
//! nodes is [`crate::crosscheck`].)

use flashback_types::wire::{ProviderReport, QueryRequest, QueryResponse};
use flashback_types::{Agreement, Object, Offer, OfferQuery, PublicKey, Signed};

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
}
