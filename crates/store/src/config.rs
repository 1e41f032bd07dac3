//! [`StoreConfig`]: what a node operator can tune about its listing.

use std::collections::BTreeMap;

use flashback_types::{PublicKey, valid_asset};
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

/// Parameters of the reputation score (see `docs/STORE.md`, "Reputation").
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
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
    /// Certifier keys this node trusts (like TLS roots): [`crate::Store::trusted_certificates`]
    /// returns the valid certificates they issued about a key.
    pub trusted_certifiers: Vec<PublicKey>,
    /// Keys whose certificate with claim `auditor` on an attester lets that attester's
    /// attestations count without an agreement.
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
        Ok(())
    }
}
