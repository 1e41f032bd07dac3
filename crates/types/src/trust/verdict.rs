//! What a trust store makes of certificates: each one's [`CertStatus`], the claims a key holds
//! under the per-scheme requirements, and who belongs in a register. Pure functions of the
//! objects, the settings and `now`: the node computes them to answer, the light client again
//! to check the answer.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use super::{ClaimFilter, Requirement, TrustStore};
use crate::bodies::{Certificate, Claim, ObjectId, Revocation, ShortText, Text, Timestamp};
use crate::encoding::BoundedVec;
use crate::keys::PublicKey;
use crate::signed::Signed;

/// A certificate's standing under a trust store at some instant. Only [`CertStatus::Valid`]
/// counts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CertStatus {
    /// Live, unrevoked, from a trusted issuer, every claim within its schemes.
    Valid,
    /// Past its `expires_at`.
    Expired,
    /// Revoked by its issuer, for this reason.
    Revoked {
        /// The revocation's reason.
        reason: Text,
    },
    /// The issuer is not in the trust store as a certifier or an auditor.
    UntrustedIssuer,
    /// The issuer is trusted, but not for these claims: the certificate does not count at all.
    OutsideScheme {
        /// The claim names outside the issuer's schemes.
        claims: BoundedVec<ShortText, 16>,
    },
}

impl CertStatus {
    /// The stable lowercase code: `valid`, `expired`, `revoked`, `untrusted_issuer`,
    /// `outside_scheme`.
    pub fn code(&self) -> &'static str {
        match self {
            CertStatus::Valid => "valid",
            CertStatus::Expired => "expired",
            CertStatus::Revoked { .. } => "revoked",
            CertStatus::UntrustedIssuer => "untrusted_issuer",
            CertStatus::OutsideScheme { .. } => "outside_scheme",
        }
    }

    /// Whether the certificate counts.
    pub fn is_valid(&self) -> bool {
        matches!(self, CertStatus::Valid)
    }
}

impl fmt::Display for CertStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CertStatus::Valid => f.write_str("valid"),
            CertStatus::Expired => f.write_str("expired"),
            CertStatus::Revoked { reason } => write!(f, "revoked: {reason}"),
            CertStatus::UntrustedIssuer => f.write_str("untrusted issuer"),
            CertStatus::OutsideScheme { claims } => {
                let names: Vec<&str> = claims.iter().map(|c| c.as_str()).collect();
                write!(
                    f,
                    "claim outside the issuer's scheme: {} (the trust store does not let this \
                     issuer certify it)",
                    names.join(", ")
                )
            }
        }
    }
}

/// A certificate with its status under a trust store, and the revocation that counts for it
/// (what a node answers and a light client checks).
#[derive(Debug, Clone)]
pub struct Judged {
    /// The certificate.
    pub certificate: Signed<Certificate>,
    /// Its status.
    pub status: CertStatus,
    /// The revocation that makes it revoked, if it is.
    pub revocation: Option<Signed<Revocation>>,
}

/// One key of a register, with every certificate trusted issuers gave it.
#[derive(Debug, Clone)]
pub struct RegisterEntry {
    /// The key.
    pub subject: PublicKey,
    /// The claims it holds.
    pub held: Vec<Claim>,
    /// Its certificates from issuers in the trust store, by id.
    pub certificates: Vec<Judged>,
}

impl TrustStore {
    /// The status of `cert` at `now`, given the revocation that counts for it (see
    /// [`counting_revocation`]). Checked in this order: expiry, revocation, the issuer, the
    /// claims' schemes.
    pub fn status(
        &self,
        cert: &Certificate,
        revocation: Option<&Revocation>,
        now: Timestamp,
    ) -> CertStatus {
        if cert.expires_at <= now {
            return CertStatus::Expired;
        }
        if let Some(r) = revocation {
            return CertStatus::Revoked {
                reason: r.reason.clone(),
            };
        }
        let Some(issuer) = self
            .issuer(&cert.issuer)
            .filter(|i| i.issues_certificates())
        else {
            return CertStatus::UntrustedIssuer;
        };
        let outside: BTreeSet<&ShortText> = cert
            .claims
            .iter()
            .filter(|c| !issuer.may_certify(&c.name))
            .map(|c| &c.name)
            .collect();
        if outside.is_empty() {
            CertStatus::Valid
        } else {
            CertStatus::OutsideScheme {
                claims: BoundedVec::try_from_vec(outside.into_iter().cloned().collect())
                    .unwrap_or_default(),
            }
        }
    }

    /// How many distinct issuers must certify a claim of `scheme`; `None` when no issuer in
    /// the store could ever satisfy the requirement (`all` with nobody trusted for it, or
    /// more issuers than the store has for it).
    pub fn needed(&self, scheme: &str) -> Option<usize> {
        let able = self
            .issuers
            .iter()
            .filter(|i| i.may_certify(scheme))
            .count();
        let needed = match self.requirement(scheme) {
            Requirement::Any => 1,
            Requirement::All => able,
            Requirement::AtLeast(n) => usize::from(n),
        };
        (needed >= 1 && needed <= able).then_some(needed)
    }

    /// The claims one key holds, from its certificates and their statuses: a claim
    /// `name=value` is held when at least [`TrustStore::needed`] distinct issuers state it in
    /// valid certificates. Sorted.
    pub fn held_claims<'a>(
        &self,
        certs: impl IntoIterator<Item = (&'a Certificate, &'a CertStatus)>,
    ) -> Vec<Claim> {
        let mut issuers: BTreeMap<&Claim, BTreeSet<&PublicKey>> = BTreeMap::new();
        for (cert, status) in certs {
            if status.is_valid() {
                for claim in cert.claims.iter() {
                    issuers.entry(claim).or_default().insert(&cert.issuer);
                }
            }
        }
        issuers
            .into_iter()
            .filter(|(claim, by)| self.needed(&claim.name).is_some_and(|n| by.len() >= n))
            .map(|(claim, _)| claim.clone())
            .collect()
    }
}

/// The revocation that counts for the certificate `cert` (id `cert_id`) among `revocations`:
/// one by the certificate's own issuer, naming it, unexpired at `now`; of several, the earliest
/// created (then the smallest id), so every node names the same one.
pub fn counting_revocation<'a>(
    cert_id: &ObjectId,
    cert: &Certificate,
    revocations: impl IntoIterator<Item = (ObjectId, &'a Revocation)>,
    now: Timestamp,
) -> Option<(ObjectId, &'a Revocation)> {
    revocations
        .into_iter()
        .filter(|(_, r)| r.issuer == cert.issuer && &r.certificate == cert_id && r.expires_at > now)
        .min_by_key(|(id, r)| (r.created_at, *id))
}

/// Who belongs in a register, besides being a provider or a consumer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegisterFilter {
    /// Only keys holding this claim.
    pub claim: Option<ClaimFilter>,
    /// Only keys holding a valid certificate from this issuer (with the claim, if one is
    /// asked for).
    pub issuer: Option<PublicKey>,
    /// Also keys that hold nothing, but have certificates from trusted issuers (expired,
    /// revoked, outside their scheme), so their statuses show why.
    pub include_uncertified: bool,
}

/// Whether a key belongs in a register: given its certificates from trusted issuers with their
/// statuses, and the claims they make it hold ([`TrustStore::held_claims`]).
pub fn in_register(
    filter: &RegisterFilter,
    certs: &[(&Certificate, &CertStatus)],
    held: &[Claim],
) -> bool {
    let wanted = |c: &Claim| filter.claim.as_ref().is_none_or(|f| f.matches(c));
    let by_issuer = |cert: &Certificate| filter.issuer.is_none_or(|i| cert.issuer == i);
    let certified = held.iter().any(wanted)
        && certs.iter().any(|(cert, status)| {
            status.is_valid()
                && by_issuer(cert)
                && cert.claims.iter().any(|c| wanted(c) && held.contains(c))
        });
    certified
        || (filter.include_uncertified
            && certs
                .iter()
                .any(|(cert, _)| by_issuer(cert) && cert.claims.iter().any(wanted)))
}
