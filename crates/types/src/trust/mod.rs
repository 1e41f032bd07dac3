//! The trust store: which issuer keys a node (or a light client) trusts, under which name, in
//! which roles and for which claims, and how many issuers a claim needs. Like a TLS root store,
//! it is each node's own choice; nothing on the network says whom to trust.
//!
//! - [`TrustStore`]: the settings, as `trust.toml` holds them (also sent to light clients, so
//!   they can recompute every verdict); edited by `flashback trust add|remove|require`.
//! - [`verdict`]: what the settings make of certificates: a [`CertStatus`] per certificate
//!   (valid, expired, revoked, untrusted issuer, claim outside the issuer's scheme), the claims
//!   a key holds under the per-scheme [`Requirement`]s, and who belongs in a register. Pure
//!   functions of the objects, the settings and `now`, so two nodes with the same objects and
//!   settings agree, and a light client can check what a node says.
//!
//! ```
//! use flashback_types::trust::{CertStatus, Issuer, Role, TrustStore};
//! use flashback_types::{Signed, SecretKey, samples};
//!
//! let (certifier, provider) = (SecretKey::generate(), SecretKey::generate());
//! let now = 1_800_000_000;
//! let cert = samples::certificate(certifier.public(), provider.public(), "iso27001", "yes", now);
//!
//! let mut trust = TrustStore::default();
//! assert_eq!(trust.status(&cert, None, now), CertStatus::UntrustedIssuer);
//! let issuer = Issuer::new("acme", certifier.public(), &[Role::Certifier], &["iso27001"]).unwrap();
//! trust.add(issuer, false).unwrap();
//! assert_eq!(trust.status(&cert, None, now), CertStatus::Valid);
//! assert_eq!(trust.held_claims([(&cert, &CertStatus::Valid)]).len(), 1);
//! ```

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::bodies::{Claim, ShortText, Text};
use crate::encoding::BoundedVec;
use crate::keys::PublicKey;
use crate::rules::{valid_claim_name, valid_offer_key};

pub mod verdict;

pub use verdict::{
    CertStatus, Judged, RegisterEntry, RegisterFilter, counting_revocation, in_register,
};

/// The scheme that lets a certifier certify any claim (what the deprecated
/// `store.trusted_certifiers` meant).
pub const ANY_SCHEME: &str = "*";
/// The claim whose holder's attestations count for reputation without an agreement, when an
/// issuer with the [`Role::Auditor`] role certifies it.
pub const AUDITOR_CLAIM: &str = "auditor";
/// Most issuers one trust store holds.
pub const MAX_ISSUERS: usize = 64;
/// Most schemes one issuer may certify.
pub const MAX_SCHEMES: usize = 32;
/// Most per-scheme requirements.
pub const MAX_RULES: usize = 64;

/// What a trust store lets an issuer key do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Its certificates count for the claims of its schemes (listing badges, registers, the
    /// `--certified` filter, the optimizer's required claims).
    Certifier,
    /// Its certificates with the claim `auditor` make their subject an accredited attester,
    /// whose attestations count for reputation without an agreement.
    Auditor,
    /// It may rule on disputes (kept here for the dispute protocol; nothing else reads it).
    Arbiter,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 3] = [Role::Certifier, Role::Auditor, Role::Arbiter];

    /// The role's name in files and on the command line.
    pub const fn name(self) -> &'static str {
        match self {
            Role::Certifier => "certifier",
            Role::Auditor => "auditor",
            Role::Arbiter => "arbiter",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Role {
    type Err = TrustError;

    fn from_str(s: &str) -> Result<Self, TrustError> {
        Role::ALL
            .into_iter()
            .find(|r| r.name() == s.trim())
            .ok_or_else(|| {
                TrustError::Invalid(format!(
                    "unknown role {s:?}: use certifier, auditor or arbiter"
                ))
            })
    }
}

/// One trusted issuer key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Issuer {
    /// This store's name for it (1 to 64 of `[A-Za-z0-9._-]`), unique in the store.
    pub name: ShortText,
    /// The issuer's public key, unique in the store.
    pub key: PublicKey,
    /// Its roles, sorted and unique, at least one.
    pub roles: BoundedVec<Role, 3>,
    /// The claim names it may certify as a certifier (`*` for any), sorted and unique;
    /// empty unless it is a certifier.
    #[serde(default)]
    pub schemes: BoundedVec<ShortText, MAX_SCHEMES>,
}

impl Issuer {
    /// An issuer, with its roles and schemes sorted and checked.
    pub fn new(
        name: &str,
        key: PublicKey,
        roles: &[Role],
        schemes: &[&str],
    ) -> Result<Issuer, TrustError> {
        let invalid = |e: crate::LengthError| TrustError::Invalid(format!("issuer {name:?}: {e}"));
        let schemes = schemes
            .iter()
            .map(|s| ShortText::new(s.trim()).map_err(invalid))
            .collect::<Result<Vec<_>, _>>()?;
        let mut issuer = Issuer {
            name: ShortText::new(name.trim()).map_err(invalid)?,
            key,
            roles: BoundedVec::try_from_vec(sorted(roles.to_vec())).map_err(invalid)?,
            schemes: BoundedVec::try_from_vec(sorted(schemes)).map_err(invalid)?,
        };
        issuer.normalise();
        issuer.check()?;
        Ok(issuer)
    }

    /// Whether it has `role`.
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// Whether its certificates count at all: it is a certifier or an auditor.
    pub fn issues_certificates(&self) -> bool {
        self.has(Role::Certifier) || self.has(Role::Auditor)
    }

    /// Whether it may certify the claim `name`: a certifier whose schemes name it (or `*`),
    /// or an auditor for the claim `auditor`.
    pub fn may_certify(&self, name: &str) -> bool {
        (self.has(Role::Certifier)
            && self
                .schemes
                .iter()
                .any(|s| s.as_str() == ANY_SCHEME || s.as_str() == name))
            || (self.has(Role::Auditor) && name == AUDITOR_CLAIM)
    }

    fn normalise(&mut self) {
        let roles = sorted(std::mem::take(&mut self.roles).into_inner());
        self.roles = BoundedVec::try_from_vec(roles).unwrap_or_default();
        let schemes = sorted(std::mem::take(&mut self.schemes).into_inner());
        self.schemes = BoundedVec::try_from_vec(schemes).unwrap_or_default();
    }

    fn check(&self) -> Result<(), TrustError> {
        let name = self.name.as_str();
        let bad = |detail: String| Err(TrustError::Invalid(format!("issuer {name:?}: {detail}")));
        if !valid_offer_key(name) {
            return bad("a name is 1-64 of A-Za-z0-9._-".into());
        }
        if self.roles.is_empty() {
            return bad("give it a role: certifier, auditor or arbiter".into());
        }
        if !sorted_unique(&self.roles) || !sorted_unique(&self.schemes) {
            return bad("roles and schemes must be sorted and unique".into());
        }
        for scheme in self.schemes.iter() {
            if scheme.as_str() != ANY_SCHEME && !valid_claim_name(scheme) {
                return bad(format!(
                    "scheme {:?} is not a claim name (1-64 of A-Za-z0-9._-) or *",
                    scheme.as_str()
                ));
            }
        }
        match (self.has(Role::Certifier), self.schemes.is_empty()) {
            (true, true) => bad(
                "a certifier needs the claims it may certify: add a scheme (e.g. --scheme \
                 iso27001, or * for any claim)"
                    .into(),
            ),
            (false, false) => bad(
                "schemes apply to certifiers only: add the certifier role or drop the schemes"
                    .into(),
            ),
            _ => Ok(()),
        }
    }
}

/// How many trusted issuers must certify a claim before a key holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Requirement {
    /// One is enough (the default).
    #[default]
    Any,
    /// Every issuer that may certify the scheme.
    All,
    /// At least this many distinct issuers (1 or more).
    AtLeast(u8),
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Requirement::Any => f.write_str("any"),
            Requirement::All => f.write_str("all"),
            Requirement::AtLeast(n) => write!(f, "{n}"),
        }
    }
}

impl FromStr for Requirement {
    type Err = TrustError;

    fn from_str(s: &str) -> Result<Self, TrustError> {
        match s.trim() {
            "any" => Ok(Requirement::Any),
            "all" => Ok(Requirement::All),
            n => match n.parse::<u8>() {
                Ok(n) if n > 0 => Ok(Requirement::AtLeast(n)),
                _ => Err(TrustError::Invalid(format!(
                    "requirement {s:?}: use any, all, or a number of issuers from 1 to 255"
                ))),
            },
        }
    }
}

/// The binary form of a [`Requirement`] (the query protocol carries trust stores).
#[derive(Serialize, Deserialize)]
enum RequirementBytes {
    Any,
    All,
    AtLeast(u8),
}

impl Serialize for Requirement {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            match self {
                Requirement::AtLeast(n) => serializer.serialize_u8(*n),
                other => serializer.serialize_str(&other.to_string()),
            }
        } else {
            match *self {
                Requirement::Any => RequirementBytes::Any,
                Requirement::All => RequirementBytes::All,
                Requirement::AtLeast(n) => RequirementBytes::AtLeast(n),
            }
            .serialize(serializer)
        }
    }
}

impl<'de> Deserialize<'de> for Requirement {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Human;
        impl Visitor<'_> for Human {
            type Value = Requirement;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("\"any\", \"all\" or a number of issuers")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Requirement, E> {
                v.parse().map_err(E::custom)
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Requirement, E> {
                self.visit_str(&v.to_string())
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Requirement, E> {
                self.visit_str(&v.to_string())
            }
        }
        if deserializer.is_human_readable() {
            deserializer.deserialize_any(Human)
        } else {
            Ok(match RequirementBytes::deserialize(deserializer)? {
                RequirementBytes::Any => Requirement::Any,
                RequirementBytes::All => Requirement::All,
                RequirementBytes::AtLeast(n) => Requirement::AtLeast(n),
            })
        }
    }
}

/// A per-scheme requirement (schemes without one need [`Requirement::Any`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimRule {
    /// The claim name.
    pub scheme: ShortText,
    /// How many issuers it needs.
    pub require: Requirement,
}

/// A trust store: the issuers trusted and the per-scheme requirements. As a file
/// (`<data-dir>/trust.toml`):
///
/// ```toml
/// [[issuers]]
/// name = "acme-audit"
/// key = "<64 hex>"
/// roles = ["certifier"]
/// schemes = ["iso27001", "region"]
///
/// [[claims]]
/// scheme = "iso27001"
/// require = 2          # or "any" (the default) or "all"
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrustStore {
    /// Trusted issuers, sorted by name.
    pub issuers: BoundedVec<Issuer, MAX_ISSUERS>,
    /// Per-scheme requirements, sorted by scheme.
    pub claims: BoundedVec<ClaimRule, MAX_RULES>,
}

impl TrustStore {
    /// Reads a trust file's text (normalising the order of its lists), and checks it.
    pub fn from_toml(text: &str) -> Result<TrustStore, TrustError> {
        let mut store: TrustStore = toml::from_str(text).map_err(|e| {
            TrustError::Invalid(e.to_string().lines().collect::<Vec<_>>().join(" "))
        })?;
        store.normalise();
        store.check()?;
        Ok(store)
    }

    /// The file form, with a header saying how to edit it.
    pub fn to_toml(&self) -> String {
        let body = toml::to_string_pretty(self).unwrap_or_default();
        format!(
            "# Flashback trust store: the issuer keys this node trusts, by name, with their roles\n\
             # and the claims (schemes) each may certify. Edit with `flashback trust add|remove|\n\
             # require`; a running node reads changes within a second or two.\n\n{body}"
        )
    }

    /// Checks names, keys and rules (the form [`TrustStore::from_toml`] gives).
    pub fn check(&self) -> Result<(), TrustError> {
        for issuer in self.issuers.iter() {
            issuer.check()?;
        }
        for (i, a) in self.issuers.iter().enumerate() {
            for b in &self.issuers[i + 1..] {
                if a.name == b.name {
                    return Err(TrustError::Invalid(format!(
                        "two issuers are named {:?}",
                        a.name.as_str()
                    )));
                }
                if a.key == b.key {
                    return Err(TrustError::Invalid(format!(
                        "issuers {:?} and {:?} have the same key: trust a key under one name",
                        a.name.as_str(),
                        b.name.as_str()
                    )));
                }
            }
        }
        for (i, rule) in self.claims.iter().enumerate() {
            if !valid_claim_name(&rule.scheme) {
                return Err(TrustError::Invalid(format!(
                    "claims: {:?} is not a claim name (1-64 of A-Za-z0-9._-)",
                    rule.scheme.as_str()
                )));
            }
            if rule.require == Requirement::AtLeast(0) {
                return Err(TrustError::Invalid(format!(
                    "claims: {} needs at least one issuer",
                    rule.scheme
                )));
            }
            if self.claims[i + 1..].iter().any(|r| r.scheme == rule.scheme) {
                return Err(TrustError::Invalid(format!(
                    "claims: two requirements for {}",
                    rule.scheme
                )));
            }
        }
        Ok(())
    }

    fn normalise(&mut self) {
        let mut issuers = std::mem::take(&mut self.issuers).into_inner();
        for issuer in &mut issuers {
            issuer.normalise();
        }
        issuers.sort_by(|a, b| a.name.cmp(&b.name));
        self.issuers = BoundedVec::try_from_vec(issuers).unwrap_or_default();
        let mut claims = std::mem::take(&mut self.claims).into_inner();
        claims.sort_by(|a, b| a.scheme.cmp(&b.scheme));
        self.claims = BoundedVec::try_from_vec(claims).unwrap_or_default();
    }

    /// Adds an issuer. An issuer with the same name or key is an error unless `replace`,
    /// which replaces it.
    pub fn add(&mut self, issuer: Issuer, replace: bool) -> Result<(), TrustError> {
        issuer.check()?;
        let mut issuers = std::mem::take(&mut self.issuers).into_inner();
        if let Some(old) = issuers
            .iter()
            .find(|i| i.name == issuer.name || i.key == issuer.key)
            && !replace
        {
            let error = TrustError::Duplicate {
                name: old.name.to_string(),
                key: old.key,
            };
            self.issuers = BoundedVec::try_from_vec(issuers).unwrap_or_default();
            return Err(error);
        }
        issuers.retain(|i| i.name != issuer.name && i.key != issuer.key);
        issuers.push(issuer);
        issuers.sort_by(|a, b| a.name.cmp(&b.name));
        self.issuers = BoundedVec::try_from_vec(issuers).map_err(|_| {
            TrustError::Invalid(format!("a trust store holds at most {MAX_ISSUERS} issuers"))
        })?;
        Ok(())
    }

    /// Removes the issuer named `name` and returns it.
    pub fn remove(&mut self, name: &str) -> Result<Issuer, TrustError> {
        let mut issuers = std::mem::take(&mut self.issuers).into_inner();
        let at = issuers.iter().position(|i| i.name.as_str() == name);
        let removed = at.map(|at| issuers.remove(at));
        self.issuers = BoundedVec::try_from_vec(issuers).unwrap_or_default();
        removed.ok_or_else(|| TrustError::UnknownIssuer(name.to_owned()))
    }

    /// Sets how many issuers `scheme` needs (`Any` drops the rule: it is the default).
    pub fn require(&mut self, scheme: &str, require: Requirement) -> Result<(), TrustError> {
        if !valid_claim_name(scheme) {
            return Err(TrustError::Invalid(format!(
                "{scheme:?} is not a claim name (1-64 of A-Za-z0-9._-)"
            )));
        }
        if require == Requirement::AtLeast(0) {
            return Err(TrustError::Invalid(format!(
                "{scheme} needs at least one issuer"
            )));
        }
        let mut claims = std::mem::take(&mut self.claims).into_inner();
        claims.retain(|r| r.scheme.as_str() != scheme);
        if require != Requirement::Any {
            claims.push(ClaimRule {
                scheme: ShortText::new(scheme).map_err(|e| TrustError::Invalid(e.to_string()))?,
                require,
            });
        }
        claims.sort_by(|a, b| a.scheme.cmp(&b.scheme));
        self.claims = BoundedVec::try_from_vec(claims)
            .map_err(|_| TrustError::Invalid(format!("at most {MAX_RULES} claim requirements")))?;
        Ok(())
    }

    /// The issuer with this key.
    pub fn issuer(&self, key: &PublicKey) -> Option<&Issuer> {
        self.issuers.iter().find(|i| &i.key == key)
    }

    /// The issuer with this name, or [`TrustError::UnknownIssuer`].
    pub fn named(&self, name: &str) -> Result<&Issuer, TrustError> {
        self.issuers
            .iter()
            .find(|i| i.name.as_str() == name)
            .ok_or_else(|| TrustError::UnknownIssuer(name.to_owned()))
    }

    /// Whether `key` is trusted in `role`.
    pub fn has_role(&self, key: &PublicKey, role: Role) -> bool {
        self.issuer(key).is_some_and(|i| i.has(role))
    }

    /// The issuers trusted in `role` (for instance the arbiters whose rulings count).
    pub fn with_role(&self, role: Role) -> impl Iterator<Item = &Issuer> + '_ {
        self.issuers.iter().filter(move |i| i.has(role))
    }

    /// How many issuers `scheme` needs.
    pub fn requirement(&self, scheme: &str) -> Requirement {
        self.claims
            .iter()
            .find(|r| r.scheme.as_str() == scheme)
            .map_or(Requirement::Any, |r| r.require)
    }

    /// The trust the deprecated `store.trusted_certifiers` and `store.trusted_auditors`
    /// settings meant: certifiers for any claim, and auditors, named `legacy-certifier-<key>`
    /// and `legacy-auditor-<key>` (a key in both lists gets both roles).
    pub fn legacy(certifiers: &[PublicKey], auditors: &[PublicKey]) -> TrustStore {
        let mut store = TrustStore::default();
        let mut keys: Vec<PublicKey> = certifiers.iter().chain(auditors).copied().collect();
        keys.sort();
        keys.dedup();
        for key in keys {
            let certifier = certifiers.contains(&key);
            let mut roles = Vec::new();
            if certifier {
                roles.push(Role::Certifier);
            }
            if auditors.contains(&key) {
                roles.push(Role::Auditor);
            }
            let name = format!(
                "legacy-{}-{}",
                if certifier { "certifier" } else { "auditor" },
                &key.to_string()[..16]
            );
            let schemes: &[&str] = if certifier { &[ANY_SCHEME] } else { &[] };
            if let Ok(issuer) = Issuer::new(&name, key, &roles, schemes) {
                // Legacy lists are short: the bound cannot be reached in practice, and an
                // issuer past it is dropped rather than failing the node's start.
                let _ = store.add(issuer, true);
            }
        }
        store
    }

    /// This store with the issuers of `legacy` added, except those whose key (or name) this
    /// store already has: the trust file wins.
    pub fn with_legacy(mut self, legacy: &TrustStore) -> TrustStore {
        for issuer in legacy.issuers.iter() {
            if self.issuer(&issuer.key).is_none() && self.named(&issuer.name).is_err() {
                let _ = self.add(issuer.clone(), false);
            }
        }
        self
    }
}

/// A claim a query asks for: a name, and optionally the value (`iso27001`,
/// `region=eu-west`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ClaimFilter {
    /// The claim name.
    pub name: ShortText,
    /// The value, or any value when `None`.
    pub value: Option<Text>,
}

impl ClaimFilter {
    /// Whether `claim` is one this filter asks for.
    pub fn matches(&self, claim: &Claim) -> bool {
        claim.name == self.name && self.value.as_ref().is_none_or(|v| *v == claim.value)
    }
}

impl fmt::Display for ClaimFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Some(v) => write!(f, "{}={v}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

impl FromStr for ClaimFilter {
    type Err = TrustError;

    fn from_str(text: &str) -> Result<Self, TrustError> {
        let (name, value) = match text.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (text, None),
        };
        let malformed = |detail: &str| TrustError::MalformedClaim {
            text: text.to_owned(),
            detail: detail.to_owned(),
        };
        let name = name.trim();
        if !valid_claim_name(name) || name.len() > ShortText::MAX {
            return Err(malformed("the name must be 1-64 of A-Za-z0-9._-"));
        }
        let value = match value.map(str::trim) {
            None => None,
            Some("") => return Err(malformed("the value after = is empty")),
            Some(v) => Some(Text::new(v).map_err(|_| malformed("the value is over 256 bytes"))?),
        };
        Ok(ClaimFilter {
            name: ShortText::new(name).map_err(|_| malformed("the name is over 64 bytes"))?,
            value,
        })
    }
}

/// Parses a claim as a certifier writes it: `name=value`.
pub fn parse_claim(text: &str) -> Result<Claim, TrustError> {
    let filter: ClaimFilter = text.parse()?;
    match filter.value {
        Some(value) => Ok(Claim {
            name: filter.name,
            value,
        }),
        None => Err(TrustError::MalformedClaim {
            text: text.to_owned(),
            detail: "a certificate states a value: write name=value, e.g. iso27001=certified"
                .into(),
        }),
    }
}

/// What can be wrong with trust settings or with a claim as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustError {
    /// A claim (or claim filter) that does not parse.
    #[error("malformed claim {text:?}: {detail} (write name or name=value)")]
    MalformedClaim {
        /// What was written.
        text: String,
        /// What is wrong.
        detail: String,
    },
    /// No issuer has that name.
    #[error("no issuer named {0:?} in the trust store; `flashback trust list` shows the names")]
    UnknownIssuer(String),
    /// The name or key is already trusted.
    #[error(
        "the trust store already has issuer {name:?} (key {key}); pass --replace to replace it"
    )]
    Duplicate {
        /// The issuer already there.
        name: String,
        /// Its key.
        key: PublicKey,
    },
    /// Settings that cannot be used.
    #[error("trust store: {0}")]
    Invalid(String),
}

fn sorted<T: Ord>(mut items: Vec<T>) -> Vec<T> {
    items.sort();
    items.dedup();
    items
}

fn sorted_unique<T: Ord>(items: &[T]) -> bool {
    items.windows(2).all(|w| w[0] < w[1])
}

#[cfg(test)]
mod tests;
