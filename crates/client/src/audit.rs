//! Checking what a node says: a provider's report with every object verified. (Comparing
//! nodes is [`crate::crosscheck`].)

use flashback_types::wire::{ProviderReport, QueryRequest, QueryResponse};
use flashback_types::{Agreement, Object, Offer, PublicKey, Signed};

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

impl Client {
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
}
