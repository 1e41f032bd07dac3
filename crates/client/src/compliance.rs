//! Checking a provider's compliance documents: every document its live offers declare is
//! fetched ([`crate::http`], with a size bound) and its blake3 compared with the digest the
//! provider signed. Alongside: the jurisdictions the offers declare, and the `jurisdiction`
//! and `region` claims that certificates from trusted issuers verify.

use std::collections::BTreeMap;

use flashback_types::{Claim, ComplianceDoc, Hash32, PublicKey, ShortText};

use crate::http::{HttpClient, Method, StatusCode};
use crate::{Client, ClientError, TrustSource};

/// Claim names that verify where a provider is or which law it is under.
pub const VERIFIED_PLACE_CLAIMS: [&str; 2] = ["jurisdiction", "region"];

/// What fetching one document gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DocumentOutcome {
    /// Its blake3 is the declared digest.
    Match,
    /// Fetched, but its blake3 differs.
    Mismatch {
        /// The blake3 of what was served.
        got: Hash32,
        /// How many bytes were served.
        bytes: usize,
    },
    /// Not fetched: no answer, an error status, or more bytes than the bound.
    Unreachable(String),
    /// Not fetched: a URL scheme this client does not speak.
    Unsupported(String),
}

impl DocumentOutcome {
    /// The stable code: `match`, `mismatch`, `unreachable`, `unsupported`.
    pub fn code(&self) -> &'static str {
        match self {
            DocumentOutcome::Match => "match",
            DocumentOutcome::Mismatch { .. } => "mismatch",
            DocumentOutcome::Unreachable(_) => "unreachable",
            DocumentOutcome::Unsupported(_) => "unsupported",
        }
    }
}

/// One document checked.
#[derive(Debug, Clone)]
pub struct DocumentCheck {
    /// The document as declared.
    pub document: ComplianceDoc,
    /// The offers (by offer key) that declare it.
    pub offers: Vec<ShortText>,
    /// What fetching it gave.
    pub outcome: DocumentOutcome,
}

/// A provider's compliance, checked.
#[derive(Debug, Clone)]
pub struct ComplianceReport {
    /// The provider.
    pub provider: PublicKey,
    /// Jurisdictions its live offers declare, sorted.
    pub declared: Vec<ShortText>,
    /// `jurisdiction` and `region` claims it holds by the node's trust store.
    pub verified: Vec<Claim>,
    /// Every declared document, in the offers' order.
    pub documents: Vec<DocumentCheck>,
}

impl ComplianceReport {
    /// Whether every document was fetched and matched its digest.
    pub fn passed(&self) -> bool {
        self.documents
            .iter()
            .all(|d| d.outcome == DocumentOutcome::Match)
    }
}

impl Client {
    /// Fetches and checks every compliance document `provider`'s live offers declare (at most
    /// `max_bytes` each), and gathers its declared and verified jurisdictions.
    pub async fn verify_compliance(
        &self,
        provider: PublicKey,
        http: &HttpClient,
        max_bytes: usize,
    ) -> Result<ComplianceReport, ClientError> {
        let report = self.provider_report(provider).await?;
        if report.offers.is_empty() {
            return Err(ClientError::InvalidInput(format!(
                "the node knows no live offer from {provider}: check the key, or wait for the \
                 provider's offers to reach this node"
            )));
        }
        let mut declared: Vec<ShortText> = Vec::new();
        let mut documents: BTreeMap<ComplianceDoc, Vec<ShortText>> = BTreeMap::new();
        let mut order: Vec<ComplianceDoc> = Vec::new();
        for offer in &report.offers {
            let body = offer.body();
            declared.extend(body.jurisdictions.iter().cloned());
            for doc in body.compliance_docs.iter() {
                let offers = documents.entry(doc.clone()).or_default();
                if offers.is_empty() {
                    order.push(doc.clone());
                }
                offers.push(body.offer_key.clone());
            }
        }
        declared.sort();
        declared.dedup();
        let mut checks = Vec::with_capacity(order.len());
        for document in order {
            let outcome = fetch_and_check(http, &document, max_bytes).await;
            checks.push(DocumentCheck {
                offers: documents.remove(&document).unwrap_or_default(),
                document,
                outcome,
            });
        }
        let verified = self
            .claims_of(&[provider], &TrustSource::Node)
            .await?
            .remove(&provider)
            .unwrap_or_default()
            .into_iter()
            .filter(|c| VERIFIED_PLACE_CLAIMS.contains(&c.name.as_str()))
            .collect();
        Ok(ComplianceReport {
            provider,
            declared,
            verified,
            documents: checks,
        })
    }
}

async fn fetch_and_check(
    http: &HttpClient,
    document: &ComplianceDoc,
    max_bytes: usize,
) -> DocumentOutcome {
    let url = document.url.as_str();
    if !url.starts_with("http://") {
        let scheme = url.split_once(':').map_or(url, |(s, _)| s);
        return DocumentOutcome::Unsupported(format!(
            "{scheme}: this client fetches http:// only; fetch the document yourself and compare \
             its blake3 (`b3sum`) with {}",
            document.digest
        ));
    }
    match http
        .send(Method::GET, url, &[], Vec::new(), max_bytes)
        .await
    {
        Ok((StatusCode::OK, body)) => {
            let got = Hash32::of(&body);
            if got == document.digest {
                DocumentOutcome::Match
            } else {
                DocumentOutcome::Mismatch {
                    got,
                    bytes: body.len(),
                }
            }
        }
        Ok((status, _)) => DocumentOutcome::Unreachable(format!("HTTP {status}")),
        Err(e) => DocumentOutcome::Unreachable(e.to_string()),
    }
}
