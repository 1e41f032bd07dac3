//! The deals of a deals scenario (`[deals]`, the `market` scenario): each consumer's deal,
//! its agreements and cost, and what became of each bad provider, and why.

use std::fmt::Write as _;

use flashback_types::Price;
use serde::{Deserialize, Serialize};

use super::markdown::row;

/// Every deal of the run, and the providers they were made among.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct DealsReport {
    /// The claim (`name=value`) every deal required from a trusted issuer.
    pub claim: String,
    /// The certifier's key, which every node trusts for the claim.
    pub certifier: String,
    /// Agreements each deal must hold.
    pub replicas: usize,
    /// Every provider: its quality, price, regions, and whether it holds the claim.
    pub providers: Vec<DealProviderRow>,
    /// One per consumer.
    pub deals: Vec<DealRow>,
}

/// One provider of a deals scenario.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct DealProviderRow {
    /// Its node.
    pub node: String,
    /// Its key.
    pub provider: String,
    /// `good`, `dead`, `flaky`, `rejecting` or `uncertified`.
    pub quality: String,
    /// Its main offer's price.
    pub price: Option<Price>,
    /// Its regions.
    pub regions: Vec<String>,
    /// The certifier certified it with the claim.
    pub certified: bool,
}

/// One consumer's deal.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct DealRow {
    /// The consumer's key.
    pub consumer: String,
    /// The node its light client talked to (and only to).
    pub home: String,
    /// The demand it published.
    pub demand: Option<String>,
    /// Quotes received in the window.
    pub quotes: usize,
    /// Agreements asked for.
    pub wanted: usize,
    /// Agreements held, verified.
    pub agreements: Vec<DealAgreementRow>,
    /// Their total cost, minor units of `asset`.
    pub total_cost: u64,
    /// The asset.
    pub asset: String,
    /// Availability of the data with the agreements held.
    pub availability: f64,
    /// Picks that failed, in order (the deal's verification log).
    pub failures: Vec<DealFailureRow>,
    /// Agreements the consumer terminated (failed verification, or accepted too late).
    pub terminated: usize,
    /// What became of each bad provider in this deal.
    pub bad: Vec<BadOutcome>,
    /// Why the deal is short, when it is.
    pub short: Option<String>,
    /// Why no deal was made at all, when none was.
    pub error: Option<String>,
    /// Seconds the deal took, demand to last verification.
    pub secs: f64,
}

/// One agreement of a deal.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct DealAgreementRow {
    /// The agreement (its proposal's id).
    pub agreement: String,
    /// The provider's key.
    pub provider: String,
    /// The provider's node.
    pub node: String,
    /// The provider's quality.
    pub quality: String,
    /// Unit price agreed.
    pub price: Option<Price>,
    /// The region it was placed in.
    pub region: String,
    /// Its total cost, minor units.
    pub cost: u64,
    /// Its price came from a quote.
    pub quoted: bool,
}

/// A pick that failed.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct DealFailureRow {
    /// The provider's key.
    pub provider: String,
    /// The provider's node.
    pub node: String,
    /// The provider's quality.
    pub quality: String,
    /// `check`, `rejected`, `timeout` or `verification`.
    pub stage: String,
    /// Why.
    pub reason: String,
}

/// What became of one bad provider in one deal.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct BadOutcome {
    /// Its node.
    pub node: String,
    /// Its quality.
    pub quality: String,
    /// `avoided` (never proposed to), `replaced` (tried, failed, another took its place) or
    /// `held` (it passed every check: allowed for a flaky provider only).
    pub outcome: String,
    /// Why: the deal's failure reasons, or the optimizer's verdict on it.
    pub why: String,
}

impl DealsReport {
    /// Agreements with a provider no deal may hold (dead, rejecting, uncertified), as
    /// `(consumer, node, quality)`. A flaky data plane may pass every store-and-read-back
    /// probe a deal makes (rarely with `[deals] probes`: decision 0111), so holding a flaky
    /// provider is allowed: its reputation ranks it down later.
    pub fn forbidden_held(&self) -> Vec<(String, String, String)> {
        self.deals
            .iter()
            .flat_map(|d| {
                d.agreements
                    .iter()
                    .filter(|a| matches!(a.quality.as_str(), "dead" | "rejecting" | "uncertified"))
                    .map(|a| (d.consumer.clone(), a.node.clone(), a.quality.clone()))
            })
            .collect()
    }

    /// Deals short of their replicas (or not made at all).
    pub fn short_deals(&self) -> usize {
        self.deals
            .iter()
            .filter(|d| d.error.is_some() || d.agreements.len() < self.replicas)
            .count()
    }

    /// The Markdown section.
    pub(super) fn markdown(&self, s: &mut String) {
        let _ = writeln!(
            s,
            "\n## Deals\n\nEach consumer asked its own node for {} verified agreements holding \
             `{}` from the testnet's certifier `{}…` (which every node trusts), through a \
             demand and its quotes, as `flashback deal make` does.\n\n| provider | node | \
             quality | price | regions | certified |\n|---|---|---|---|---|---|",
            self.replicas,
            self.claim,
            short(&self.certifier)
        );
        for p in &self.providers {
            row(
                s,
                &[
                    &format!("`{}…`", short(&p.provider)),
                    &p.node,
                    &p.quality,
                    &price(p.price.as_ref()),
                    &p.regions.join(", "),
                    &if p.certified { "yes" } else { "no" },
                ],
            );
        }
        for d in &self.deals {
            let _ = writeln!(
                s,
                "\n### Consumer `{}…` (home {})\n",
                short(&d.consumer),
                d.home
            );
            if let Some(e) = &d.error {
                let _ = writeln!(s, "No deal: {e}");
                continue;
            }
            let _ = writeln!(
                s,
                "Demand `{}…`: {} quotes; {} of {} agreements in {:.1} s, total {}, \
                 availability {:.6} %{}.\n\n| agreement | provider | node | quality | price | \
                 region | cost |\n|---|---|---|---|---|---|---|",
                short(d.demand.as_deref().unwrap_or("")),
                d.quotes,
                d.agreements.len(),
                d.wanted,
                d.secs,
                flashback_client::human::amount(d.total_cost, &d.asset),
                d.availability * 100.0,
                d.short
                    .as_ref()
                    .map(|w| format!("; short: {w}"))
                    .unwrap_or_default()
            );
            for a in &d.agreements {
                row(
                    s,
                    &[
                        &format!("`{}…`", short(&a.agreement)),
                        &format!("`{}…`", short(&a.provider)),
                        &a.node,
                        &a.quality,
                        &price(a.price.as_ref()),
                        &a.region,
                        &flashback_client::human::amount(a.cost, &d.asset),
                    ],
                );
            }
            let _ = writeln!(
                s,
                "\n| bad provider | node | outcome | why |\n|---|---|---|---|"
            );
            for b in &d.bad {
                row(
                    s,
                    &[&b.quality, &b.node, &b.outcome, &b.why.replace('|', "/")],
                );
            }
            if d.terminated > 0 {
                let _ = writeln!(
                    s,
                    "\n{} agreement(s) that failed verification terminated by the consumer.",
                    d.terminated
                );
            }
        }
    }
}

fn short(hex: &str) -> &str {
    hex.get(..12).unwrap_or(hex)
}

fn price(p: Option<&Price>) -> String {
    p.map_or_else(|| "-".to_owned(), flashback_client::human::price)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deal(qualities: &[&str]) -> DealRow {
        DealRow {
            consumer: "c".repeat(64),
            wanted: 3,
            agreements: qualities
                .iter()
                .map(|q| DealAgreementRow {
                    node: format!("n-{q}"),
                    quality: (*q).to_owned(),
                    ..DealAgreementRow::default()
                })
                .collect(),
            ..DealRow::default()
        }
    }

    #[test]
    fn a_short_deal_or_a_forbidden_provider_is_found_and_a_flaky_one_is_not() {
        let mut r = DealsReport {
            replicas: 3,
            deals: vec![deal(&["good", "good", "flaky"])],
            ..DealsReport::default()
        };
        assert_eq!(r.short_deals(), 0);
        assert!(r.forbidden_held().is_empty());
        for bad in ["dead", "rejecting", "uncertified"] {
            r.deals = vec![deal(&["good", "good", bad])];
            assert_eq!(r.forbidden_held().len(), 1, "{bad}");
        }
        r.deals = vec![deal(&["good", "good"])];
        assert_eq!(r.short_deals(), 1);
        let mut failed = deal(&[]);
        failed.error = Some("no quotes".into());
        r.deals = vec![failed];
        assert_eq!(r.short_deals(), 1);
    }
}
