//! [`StoreConfig`]: what a node operator can tune about its listing.

use std::collections::BTreeMap;

use flashback_types::{PublicKey, TrustStore, valid_asset};
use serde::{Deserialize, Serialize};

use crate::error::StoreError;

/// An exchange rate into the node's reference unit: **one minor unit of the asset is worth
/// `num / den` reference units**.
///
/// The reference unit is whatever the operator chooses (say US cents); only ratios matter. With
/// cents as reference, `USD = { num = 1, den = 1 }` and, for XLM quoted in stroops (10⁻⁷ XLM) at
/// 12 cents per XLM, `XLM = { num = 12, den = 10_000_000 }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rate {
    /// Numerator (reference units).
    pub num: u64,
    /// Denominator (minor units of the asset); never zero.
    pub den: u64,
}

/// Parameters of the reputation score (see `docs/STORE.md`, "Reputation", and decision 0059).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReputationParams {
    /// An attestation's weight halves every `half_life_secs` after its window ends.
    pub half_life_secs: u64,
    /// Most probes one attester can contribute: an attestation with more probes is scaled down
    /// to this many, so one busy (or lying) attester cannot outweigh many others.
    pub max_probes_per_attester: u32,
    /// Beta prior α (pseudo-successes).
    pub prior_alpha: f64,
    /// Beta prior β (pseudo-failures).
    pub prior_beta: f64,
    /// SLA compliance assumed when no counted window has agreed targets.
    pub prior_compliance: f64,
    /// Share of the score given to the Beta mean; the rest goes to SLA compliance.
    pub beta_weight: f64,
    /// This node's own keys: their measurements count in full, with or without an agreement
    /// (the keys the operator probes with). Anchors, with the trust store's auditors and the
    /// consumers its certifiers certify.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub own_keys: Vec<PublicKey>,
    /// Asset code → the agreement total (minor units) at which an agreement's stake counts in
    /// full; smaller totals count in proportion. An asset missing here has stake 0: add it.
    pub full_stake: BTreeMap<String, u64>,
    /// Evidence a provider needs to be rated (one attester with full standing and stake
    /// weighs 1.0). Below it the provider is unrated.
    pub rated_at: f64,
    /// Stake in deals with providers the anchors rate that gives an unanchored attester full
    /// standing (2.0: full-stake deals with two of them).
    pub diversity: f64,
    /// Most the standing that one rated provider gives can count toward another provider,
    /// summed over all of that provider's attesters.
    pub source_cap: f64,
    /// Most the certified consumers who deal with nobody but one provider count for it
    /// together.
    pub captive_cap: f64,
}

impl Default for ReputationParams {
    fn default() -> Self {
        Self {
            half_life_secs: 30 * 24 * 3600,
            max_probes_per_attester: 100,
            prior_alpha: 1.0,
            prior_beta: 1.0,
            prior_compliance: 0.5,
            beta_weight: 0.7,
            own_keys: Vec::new(),
            // $10, €10, £10.
            full_stake: [("USD", 1_000), ("EUR", 1_000), ("GBP", 1_000)]
                .into_iter()
                .map(|(a, v)| (a.to_owned(), v))
                .collect(),
            rated_at: 1.0,
            diversity: 2.0,
            source_cap: 0.5,
            captive_cap: 0.5,
        }
    }
}

/// Smallest page cache accepted: sled cannot run without one (a cache of 0 bytes panics inside
/// it), and below a megabyte every read goes to the disk.
pub const MIN_CACHE_CAPACITY_BYTES: u64 = 1 << 20;

/// Configuration of the listing store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StoreConfig {
    /// sled's page cache, bytes (default 64 MiB, at least [`MIN_CACHE_CAPACITY_BYTES`]). The
    /// in-memory offer index comes on top.
    pub cache_capacity_bytes: u64,
    /// Decoded offers kept in memory to answer queries (about 1 KB each; default 16,384, about
    /// 16 MB; 0 disables). Popular offers are then served without a sled read, checksum and
    /// decode.
    pub offer_cache_entries: usize,
    /// Asset code → rate into the reference unit. Used to compare and sort prices across
    /// assets; an offer whose asset has no rate is left out of cross-asset price filters and
    /// sorts last on price.
    pub rates: BTreeMap<String, Rate>,
    /// Deprecated: the trust store (`<data-dir>/trust.toml`, `flashback trust add`) replaces
    /// it. Still honoured: each key is trusted as a certifier for every claim (scheme `*`),
    /// unless the trust store names that key; the node warns at start.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub trusted_certifiers: Vec<PublicKey>,
    /// Deprecated: the trust store replaces it. Still honoured: each key is trusted as an
    /// auditor (its `auditor` certificates make attestations count without an agreement),
    /// unless the trust store names that key; the node warns at start.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub trusted_auditors: Vec<PublicKey>,
    /// Reputation parameters.
    pub reputation: ReputationParams,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            cache_capacity_bytes: 64 * 1024 * 1024,
            offer_cache_entries: 16_384,
            rates: BTreeMap::new(),
            trusted_certifiers: Vec::new(),
            trusted_auditors: Vec::new(),
            reputation: ReputationParams::default(),
        }
    }
}

impl StoreConfig {
    /// The trust the deprecated `trusted_certifiers` and `trusted_auditors` settings give
    /// ([`TrustStore::legacy`]); empty when neither is set.
    pub fn legacy_trust(&self) -> TrustStore {
        TrustStore::legacy(&self.trusted_certifiers, &self.trusted_auditors)
    }

    /// Checks the settings that would otherwise fail later, with a message naming the field.
    pub fn validate(&self) -> Result<(), StoreError> {
        if self.cache_capacity_bytes < MIN_CACHE_CAPACITY_BYTES {
            return Err(StoreError::Config(format!(
                "cache_capacity_bytes = {} is too small: give the page cache at least {} bytes (1 MiB; the default is 64 MiB)",
                self.cache_capacity_bytes, MIN_CACHE_CAPACITY_BYTES
            )));
        }
        for (asset, rate) in &self.rates {
            if !valid_asset(asset) || asset.len() > 12 {
                return Err(StoreError::Config(format!(
                    "rates: {asset:?} is not an asset code (1-12 of A-Z0-9)"
                )));
            }
            if rate.den == 0 {
                return Err(StoreError::Config(format!(
                    "rates.{asset}: den must not be zero"
                )));
            }
        }
        let r = &self.reputation;
        if r.half_life_secs == 0 {
            return Err(StoreError::Config(
                "reputation.half_life_secs must be positive".into(),
            ));
        }
        if r.max_probes_per_attester == 0 {
            return Err(StoreError::Config(
                "reputation.max_probes_per_attester must be positive".into(),
            ));
        }
        let finite_pos = |x: f64| x.is_finite() && x > 0.0;
        if !finite_pos(r.prior_alpha) || !finite_pos(r.prior_beta) {
            return Err(StoreError::Config(
                "reputation.prior_alpha and prior_beta must be positive numbers".into(),
            ));
        }
        let unit = |x: f64| (0.0..=1.0).contains(&x);
        if !unit(r.prior_compliance) || !unit(r.beta_weight) {
            return Err(StoreError::Config(
                "reputation.prior_compliance and beta_weight must be between 0 and 1".into(),
            ));
        }
        for (asset, full) in &r.full_stake {
            if !valid_asset(asset) || asset.len() > 12 || *full == 0 {
                return Err(StoreError::Config(format!(
                    "reputation.full_stake.{asset}: use an asset code (1-12 of A-Z0-9) and a \
                     positive amount of minor units"
                )));
            }
        }
        let evidence = |x: f64| x.is_finite() && (0.001..=1_000.0).contains(&x);
        if ![r.rated_at, r.diversity, r.source_cap, r.captive_cap]
            .into_iter()
            .all(evidence)
        {
            return Err(StoreError::Config(
                "reputation.rated_at, diversity, source_cap and captive_cap must be numbers \
                 between 0.001 and 1000"
                    .into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(change: impl FnOnce(&mut ReputationParams)) -> String {
        let mut config = StoreConfig::default();
        change(&mut config.reputation);
        match config.validate() {
            Err(e) => e.to_string(),
            Ok(()) => String::new(),
        }
    }

    #[test]
    fn reputation_settings_out_of_range_are_refused_with_the_setting_named() {
        assert_eq!(error_of(|_| {}), "");
        assert!(error_of(|r| r.rated_at = 0.0).contains("reputation.rated_at"));
        assert!(error_of(|r| r.source_cap = f64::NAN).contains("source_cap"));
        assert!(error_of(|r| r.diversity = 1e9).contains("diversity"));
        let e = error_of(|r| {
            r.full_stake.insert("XLM".into(), 0);
        });
        assert!(e.contains("reputation.full_stake.XLM"), "{e}");
        let e = error_of(|r| {
            r.full_stake.insert("usd".into(), 100);
        });
        assert!(e.contains("asset code"), "{e}");
    }
}
