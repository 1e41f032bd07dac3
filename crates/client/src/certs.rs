//! Certificates, registers and certified listings, checked.
//!
//! A node answers with signed certificates, the revocations that count for them, the verdict
//! it gave each, its trust store and the instant it judged at. The client verifies every
//! object and recomputes every verdict from them ([`flashback_types::trust`]); a node whose
//! verdicts the objects do not support is reported ([`ClientError::BadResponse`]). What a
//! client cannot see from one node's answer: a revocation the node withholds, a certificate it
//! leaves out, or a key's role (provider, consumer) in a register; asking several nodes
//! ([`Client::cross_check`]) narrows that.

use std::collections::{BTreeMap, BTreeSet};

use flashback_net::PeerId;
use flashback_types::clock::now;
use flashback_types::trust::{
    Judged, RegisterEntry, RegisterFilter, counting_revocation, in_register,
};
use flashback_types::wire::{CertificatePage, QueryRequest, QueryResponse};
use flashback_types::{
    BoundedVec, CertQuery, CertStatus, Certificate, Claim, Object, ObjectId, OfferQuery, PublicKey,
    RegisterQuery, Revocation, Signed, Timestamp, TrustStore,
};

use crate::{Client, ClientError, OfferPage};

/// A page of certificates, every verdict checked.
#[derive(Debug, Clone)]
pub struct VerifiedCertPage {
    /// The node's trust store, which the statuses follow.
    pub trust: TrustStore,
    /// The instant the node judged at.
    pub now: Timestamp,
    /// The certificates, in id order.
    pub certificates: Vec<Judged>,
    /// Where the next page starts.
    pub next: Option<ObjectId>,
}

/// A page of a register, every entry checked against the query.
#[derive(Debug, Clone)]
pub struct Register {
    /// The node's trust store.
    pub trust: TrustStore,
    /// The instant the node judged at.
    pub now: Timestamp,
    /// Keys in key order.
    pub entries: Vec<RegisterEntry>,
    /// Where the next page starts.
    pub next: Option<PublicKey>,
}

/// Whose trust decides which certificates count for a light client.
#[derive(Debug, Clone, Default)]
pub enum TrustSource {
    /// The node's trust store (it sends it with every answer).
    #[default]
    Node,
    /// The caller's own.
    Local(TrustStore),
}

/// A page of offers with the claims each provider holds, by the node's trust store.
#[derive(Debug, Clone)]
pub struct CertifiedPage {
    /// The offers.
    pub page: OfferPage,
    /// Claims held per provider of the page (providers holding none are absent).
    pub claims: BTreeMap<PublicKey, Vec<Claim>>,
    /// Offers the node listed for a `certified` filter although its certificate answer says
    /// the provider does not hold the claims (a revocation in between, or a faulty node):
    /// left out of `page`.
    pub dropped: Vec<ObjectId>,
}

impl Client {
    /// The node's trust store.
    pub async fn node_trust(&self) -> Result<TrustStore, ClientError> {
        let node = self.first();
        match self.query_node(node, &QueryRequest::Trust).await? {
            QueryResponse::Trust(trust) => {
                trust.check().map_err(|e| bad(node, e.to_string()))?;
                Ok(trust)
            }
            _ => Err(self.wrong(node)),
        }
    }

    /// Certificates matching `query`, each verified and its status recomputed.
    pub async fn certificates(&self, query: &CertQuery) -> Result<VerifiedCertPage, ClientError> {
        let node = self.first();
        let QueryResponse::Certificates(page) = self
            .query_node(node, &QueryRequest::Certificates(query.clone()))
            .await?
        else {
            return Err(self.wrong(node));
        };
        let next = page.next;
        let (trust, now, certificates) = self.check_page(node, page)?;
        let mut last = query.after;
        for c in &certificates {
            let id = c.certificate.id();
            let fits =
                query.matches(&id, c.certificate.body(), &trust) && last.is_none_or(|l| id > l);
            if !fits {
                return Err(bad(
                    node,
                    format!("certificate {id} does not match the query"),
                ));
            }
            last = Some(id);
        }
        Ok(VerifiedCertPage {
            trust,
            now,
            certificates,
            next,
        })
    }

    /// One page of a register, each entry verified and checked against the query (except the
    /// key's role, which the node alone knows).
    pub async fn register(&self, query: &RegisterQuery) -> Result<Register, ClientError> {
        let node = self.first();
        let QueryResponse::Register(answer) = self
            .query_node(node, &QueryRequest::Register(query.clone()))
            .await?
        else {
            return Err(self.wrong(node));
        };
        let (trust, now, certificates) = self.check_page(node, answer.page)?;
        let issuer = match &query.issuer {
            Some(name) => Some(trust.named(name).map_err(|e| bad(node, e.to_string()))?.key),
            None => None,
        };
        let filter = RegisterFilter {
            claim: query.claim.clone(),
            issuer,
            include_uncertified: query.include_uncertified,
        };
        let mut by_subject: BTreeMap<PublicKey, Vec<Judged>> = BTreeMap::new();
        for c in certificates {
            if trust.issuer(&c.certificate.body().issuer).is_none() {
                return Err(bad(
                    node,
                    "a register lists a certificate from an untrusted issuer",
                ));
            }
            by_subject
                .entry(c.certificate.body().subject)
                .or_default()
                .push(c);
        }
        let mut entries = Vec::with_capacity(answer.subjects.len());
        let mut last = query.after;
        for subject in answer.subjects.iter() {
            let certs = by_subject.remove(subject).unwrap_or_default();
            let pairs: Vec<(&Certificate, &CertStatus)> = certs
                .iter()
                .map(|c| (c.certificate.body(), &c.status))
                .collect();
            let held = trust.held_claims(pairs.iter().copied());
            if !in_register(&filter, &pairs, &held) || last.is_some_and(|l| *subject <= l) {
                return Err(bad(
                    node,
                    format!("key {subject} does not belong in this register"),
                ));
            }
            last = Some(*subject);
            entries.push(RegisterEntry {
                subject: *subject,
                held,
                certificates: certs,
            });
        }
        if !by_subject.is_empty() {
            return Err(bad(
                node,
                "a register page holds certificates of unlisted keys",
            ));
        }
        Ok(Register {
            trust,
            now,
            entries,
            next: answer.next,
        })
    }

    /// The claims each of `subjects` holds, by `source`'s trust store: from their certificates
    /// (every page), every object verified and every verdict recomputed.
    pub async fn claims_of(
        &self,
        subjects: &[PublicKey],
        source: &TrustSource,
    ) -> Result<BTreeMap<PublicKey, Vec<Claim>>, ClientError> {
        let wanted: BTreeSet<PublicKey> = subjects.iter().copied().collect();
        let wanted: Vec<PublicKey> = wanted.into_iter().collect();
        let issuers = match source {
            TrustSource::Node => Vec::new(),
            TrustSource::Local(trust) if trust.issuers.is_empty() => {
                return Ok(BTreeMap::new());
            }
            TrustSource::Local(trust) => trust.issuers.iter().map(|i| i.key).collect(),
        };
        let mut judged: BTreeMap<PublicKey, Vec<(Certificate, CertStatus)>> = BTreeMap::new();
        let mut node_trust = TrustStore::default();
        for chunk in wanted.chunks(256) {
            let mut query = CertQuery {
                subjects: BoundedVec::try_from_vec(chunk.to_vec()).unwrap_or_default(),
                issuers: BoundedVec::try_from_vec(issuers.clone()).unwrap_or_default(),
                trusted_only: matches!(source, TrustSource::Node),
                ..CertQuery::default()
            };
            loop {
                let page = self.certificates(&query).await?;
                for c in page.certificates {
                    let status = match source {
                        TrustSource::Node => c.status,
                        TrustSource::Local(trust) => trust.status(
                            c.certificate.body(),
                            c.revocation.as_ref().map(|r| r.body()),
                            page.now,
                        ),
                    };
                    let body = c.certificate.into_body();
                    judged.entry(body.subject).or_default().push((body, status));
                }
                node_trust = page.trust;
                match page.next {
                    Some(after) => query.after = Some(after),
                    None => break,
                }
            }
        }
        let trust = match source {
            TrustSource::Node => &node_trust,
            TrustSource::Local(trust) => trust,
        };
        Ok(judged
            .into_iter()
            .filter_map(|(subject, certs)| {
                let held = trust.held_claims(certs.iter().map(|(c, s)| (c, s)));
                (!held.is_empty()).then_some((subject, held))
            })
            .collect())
    }

    /// Offers matching `query`, and the claims their providers hold by the node's trust store
    /// (the listing's badges). Offers the node returned for the query's `certified` or
    /// `jurisdictions` filters are checked: one whose provider does not hold the claims
    /// (by the certificates the node sends next) is dropped; one that does not declare an
    /// asked-for jurisdiction is the node's fault.
    pub async fn certified_offers(&self, query: &OfferQuery) -> Result<CertifiedPage, ClientError> {
        let page = self.query_offers(query).await?;
        self.certify(query, page).await
    }

    /// [`Client::certified_offers`] for offers already fetched for `query` (one page, or
    /// every page of [`Client::all_offers`]): the claims their providers hold, and the offers
    /// the node should not have listed for the query's filters dropped or reported.
    pub async fn certify(
        &self,
        query: &OfferQuery,
        mut page: OfferPage,
    ) -> Result<CertifiedPage, ClientError> {
        let node = self.first();
        if !query.jurisdictions.is_empty() {
            for offer in &page.offers {
                let declared = &offer.body().jurisdictions;
                if !query.jurisdictions.iter().any(|j| declared.contains(j)) {
                    return Err(bad(
                        node,
                        format!(
                            "offer {} declares none of the jurisdictions asked for",
                            offer.id()
                        ),
                    ));
                }
            }
        }
        let providers: Vec<PublicKey> = page.offers.iter().map(|o| o.body().provider).collect();
        let claims = self.claims_of(&providers, &TrustSource::Node).await?;
        let mut dropped = Vec::new();
        page.offers.retain(|o| {
            let held = claims
                .get(&o.body().provider)
                .map_or(&[][..], Vec::as_slice);
            let holds = query
                .certified
                .iter()
                .all(|f| held.iter().any(|c| f.matches(c)));
            if !holds {
                dropped.push(o.id());
            }
            holds
        });
        Ok(CertifiedPage {
            page,
            claims,
            dropped,
        })
    }

    /// Verifies a page's objects and recomputes its verdicts.
    fn check_page(
        &self,
        node: PeerId,
        page: CertificatePage,
    ) -> Result<(TrustStore, Timestamp, Vec<Judged>), ClientError> {
        page.trust.check().map_err(|e| bad(node, e.to_string()))?;
        let skew = self.config.time.max_future_skew_secs;
        if page.now.abs_diff(now()) > skew {
            return Err(bad(
                node,
                format!(
                    "its clock ({}) is more than {skew} s off this machine's ({}): check both clocks",
                    page.now,
                    now()
                ),
            ));
        }
        if page.statuses.len() != page.certificates.len() {
            return Err(bad(node, "one status per certificate expected"));
        }
        let mut revocations: Vec<Signed<Revocation>> = Vec::new();
        for bytes in page.revocations.iter() {
            match Object::decode(bytes) {
                Ok(Object::Revocation(r)) => revocations.push(r),
                Ok(other) => {
                    return Err(bad(node, format!("a {} among revocations", other.kind())));
                }
                Err(error) => {
                    return Err(ClientError::BadObject {
                        node: node.to_string(),
                        error,
                    });
                }
            }
        }
        let mut out = Vec::with_capacity(page.certificates.len());
        for (bytes, claimed) in page.certificates.iter().zip(page.statuses.iter()) {
            // Not `decode_at`: an expired certificate is a legitimate answer, with its status.
            let cert = match Object::decode(bytes) {
                Ok(Object::Certificate(c)) => c,
                Ok(other) => {
                    return Err(bad(node, format!("a {} among certificates", other.kind())));
                }
                Err(error) => {
                    return Err(ClientError::BadObject {
                        node: node.to_string(),
                        error,
                    });
                }
            };
            let id = cert.id();
            let revocation = counting_revocation(
                &id,
                cert.body(),
                revocations.iter().map(|r| (r.id(), r.body())),
                page.now,
            )
            .map(|(rid, _)| rid);
            let revocation = revocation.and_then(|rid| revocations.iter().find(|r| r.id() == rid));
            let status = page
                .trust
                .status(cert.body(), revocation.map(|r| r.body()), page.now);
            if &status != claimed {
                return Err(bad(
                    node,
                    format!(
                        "it says certificate {id} is {claimed}, but the objects it sent make it {status}"
                    ),
                ));
            }
            out.push(Judged {
                certificate: cert,
                status,
                revocation: revocation.cloned(),
            });
        }
        Ok((page.trust, page.now, out))
    }
}

fn bad(node: PeerId, detail: impl Into<String>) -> ClientError {
    ClientError::BadResponse {
        node: node.to_string(),
        detail: detail.into(),
    }
}
