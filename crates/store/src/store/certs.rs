//! Certificates under the trust store: each one's status, the claims a key holds, the keys
//! that hold required claims (the offer query's `certified` filter) and registers of certified
//! providers and consumers. Verdicts are computed under the read lock from the summaries; the
//! signed objects are loaded from sled afterwards.

use std::collections::{BTreeSet, HashSet};
use std::ops::Bound;
use std::sync::Arc;

use flashback_types::trust::{Judged, RegisterEntry, RegisterFilter, in_register};
use flashback_types::{
    CertQuery, CertStatus, Certificate, Claim, ClaimFilter, Kind, ObjectId, PublicKey,
    RegisterQuery, RegisterRole, Signed, Timestamp, TrustStore,
};

use super::{State, Store, Tree};
use crate::error::StoreError;
use crate::summaries::CertMeta;

/// A page of certificates, judged under `trust`.
#[derive(Debug, Clone)]
pub struct CertPage {
    /// The trust store the verdicts were computed with.
    pub trust: Arc<TrustStore>,
    /// The certificates, in id order.
    pub certificates: Vec<Judged>,
    /// The last id of this page when more follow.
    pub next: Option<ObjectId>,
}

/// A page of a register, judged under `trust`.
#[derive(Debug, Clone)]
pub struct RegisterPage {
    /// The trust store the verdicts were computed with.
    pub trust: Arc<TrustStore>,
    /// The keys, in key order.
    pub entries: Vec<RegisterEntry>,
    /// The last key of this page when more follow.
    pub next: Option<PublicKey>,
}

/// Most certificates one page carries (a response's object limit).
const PAGE_CERTS: usize = flashback_types::MAX_CERT_LIMIT as usize;

/// What the lock-free half of a page needs: ids, statuses and revocation ids.
type Verdicts = Vec<(ObjectId, CertStatus, Option<ObjectId>)>;

impl Store {
    /// Certificates about `subject` (valid or not, from anyone), by id.
    pub fn certificates_about(
        &self,
        subject: &PublicKey,
    ) -> Result<Vec<Signed<Certificate>>, StoreError> {
        let ids = self.read_state().summaries.certs_about(subject);
        self.load_certs(&ids)
    }

    /// Certificates about `subject` that count at `now` under the trust store ([`Store::trust`]):
    /// status [`CertStatus::Valid`].
    pub fn trusted_certificates(
        &self,
        subject: &PublicKey,
        now: Timestamp,
    ) -> Result<Vec<Signed<Certificate>>, StoreError> {
        let trust = self.trust();
        let ids: Vec<ObjectId> = {
            let st = self.read_state();
            st.summaries
                .trusted_certs_about(subject, &trust)
                .into_iter()
                .filter(|c| st.summaries.status(c, &trust, now).is_valid())
                .map(|c| c.id)
                .collect()
        };
        self.load_certs(&ids)
    }

    /// The claims `subject` holds at `now` under the trust store.
    pub fn held_claims(&self, subject: &PublicKey, now: Timestamp) -> Vec<Claim> {
        let trust = self.trust();
        self.read_state()
            .summaries
            .held_claims(subject, &trust, now)
    }

    /// One page of certificates matching `query`, in id order, each judged at `now`; the next
    /// page starts after the returned id.
    pub fn certificate_page(
        &self,
        query: &CertQuery,
        now: Timestamp,
    ) -> Result<CertPage, StoreError> {
        let trust = self.trust();
        let (verdicts, next) = {
            let st = self.read_state();
            let s = &st.summaries;
            let narrowed: Option<BTreeSet<ObjectId>> = if !query.ids.is_empty() {
                Some(query.ids.iter().copied().collect())
            } else if !query.subjects.is_empty() {
                Some(
                    query
                        .subjects
                        .iter()
                        .flat_map(|k| s.certs_about(k))
                        .collect(),
                )
            } else if !query.issuers.is_empty() {
                Some(query.issuers.iter().flat_map(|k| s.certs_by(k)).collect())
            } else {
                None
            };
            let after = query.after.map_or(Bound::Unbounded, Bound::Excluded);
            let candidates: Box<dyn Iterator<Item = &CertMeta>> = match &narrowed {
                Some(ids) => Box::new(
                    ids.range((after, Bound::Unbounded))
                        .filter_map(|id| s.certs.get(id)),
                ),
                None => Box::new(s.certs.range((after, Bound::Unbounded)).map(|(_, c)| c)),
            };
            let wanted = |c: &&CertMeta| query.matches(&c.id, &c.body, &trust);
            let limit = query.effective_limit();
            let mut page: Vec<&CertMeta> = candidates.filter(wanted).take(limit + 1).collect();
            let next = (page.len() > limit).then(|| {
                page.truncate(limit);
                page.last().map(|c| c.id)
            });
            (verdicts(&st, &trust, &page, now), next.flatten())
        };
        Ok(CertPage {
            trust,
            certificates: self.load_judged(verdicts)?,
            next,
        })
    }

    /// One page of a register: keys of `query.role` whose certificates from trusted issuers
    /// put them in it ([`in_register`]), in key order, each with all those certificates.
    pub fn register(
        &self,
        query: &RegisterQuery,
        now: Timestamp,
    ) -> Result<RegisterPage, StoreError> {
        let trust = self.trust();
        let issuer = match &query.issuer {
            Some(name) => Some(trust.named(name)?.key),
            None => None,
        };
        let filter = RegisterFilter {
            claim: query.claim.clone(),
            issuer,
            include_uncertified: query.include_uncertified,
        };
        let mut picked: Vec<(PublicKey, Vec<Claim>, Verdicts)> = Vec::new();
        let mut next = None;
        {
            let st = self.read_state();
            let s = &st.summaries;
            let consumers = match query.role {
                RegisterRole::Consumers => s.consumers(),
                RegisterRole::Providers | RegisterRole::Any => BTreeSet::new(),
            };
            let has_role = |key: &PublicKey| match query.role {
                RegisterRole::Providers => st
                    .index
                    .provider_heads(key)
                    .iter()
                    .any(|e| !e.withdrawn() && e.expires_at > now),
                RegisterRole::Consumers => consumers.contains(key),
                RegisterRole::Any => true,
            };
            let after = query.after.map_or(Bound::Unbounded, Bound::Excluded);
            let mut total = 0;
            for subject in s.trusted_subjects(&trust).range((after, Bound::Unbounded)) {
                if !has_role(subject) {
                    continue;
                }
                let mut certs = s.trusted_certs_about(subject, &trust);
                let statuses: Vec<CertStatus> =
                    certs.iter().map(|c| s.status(c, &trust, now)).collect();
                let pairs: Vec<(&Certificate, &CertStatus)> =
                    certs.iter().map(|c| &c.body).zip(&statuses).collect();
                let held = trust.held_claims(pairs.iter().copied());
                if !in_register(&filter, &pairs, &held) {
                    continue;
                }
                let full = picked.len() == query.effective_limit()
                    || total + certs.len().min(PAGE_CERTS) > PAGE_CERTS;
                if full {
                    next = picked.last().map(|(k, _, _)| *k);
                    break;
                }
                // A key with more certificates than a page holds shows the first ones.
                certs.truncate(PAGE_CERTS);
                total += certs.len();
                picked.push((*subject, held, verdicts(&st, &trust, &certs, now)));
            }
        }
        let mut entries = Vec::with_capacity(picked.len());
        for (subject, held, verdicts) in picked {
            entries.push(RegisterEntry {
                subject,
                held,
                certificates: self.load_judged(verdicts)?,
            });
        }
        Ok(RegisterPage {
            trust,
            entries,
            next,
        })
    }

    /// Keys holding every claim in `filters` under `trust` at `now` (the offer query's
    /// `certified` filter).
    pub(super) fn holders(
        &self,
        st: &State,
        filters: &[ClaimFilter],
        now: Timestamp,
    ) -> HashSet<PublicKey> {
        let trust = self.trust();
        st.summaries
            .trusted_subjects(&trust)
            .into_iter()
            .filter(|subject| {
                let held = st.summaries.held_claims(subject, &trust, now);
                filters.iter().all(|f| held.iter().any(|c| f.matches(c)))
            })
            .collect()
    }

    fn load_certs(&self, ids: &[ObjectId]) -> Result<Vec<Signed<Certificate>>, StoreError> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(c) = self.load_signed(Tree::Objects(Kind::Certificate), id)? {
                out.push(c);
            }
        }
        Ok(out)
    }

    /// The signed objects behind verdicts (one collected meanwhile is left out).
    fn load_judged(&self, verdicts: Verdicts) -> Result<Vec<Judged>, StoreError> {
        let mut out = Vec::with_capacity(verdicts.len());
        for (id, status, revocation) in verdicts {
            let Some(certificate) = self.load_signed(Tree::Objects(Kind::Certificate), &id)? else {
                continue;
            };
            let revocation = match revocation {
                Some(r) => self.load_signed(Tree::Objects(Kind::Revocation), &r)?,
                None => None,
            };
            out.push(Judged {
                certificate,
                status,
                revocation,
            });
        }
        Ok(out)
    }
}

/// Each certificate's id, status and counting revocation.
fn verdicts(st: &State, trust: &TrustStore, certs: &[&CertMeta], now: Timestamp) -> Verdicts {
    certs
        .iter()
        .map(|c| {
            (
                c.id,
                st.summaries.status(c, trust, now),
                st.summaries.revocation_of(c, now).map(|(id, _)| id),
            )
        })
        .collect()
}
