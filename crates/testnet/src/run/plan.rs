//! Who plays what: roles, keys and node configurations, all chosen from the run's seed.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use flashback_node::{BlobConfig, NodeConfig};
use flashback_types::{PublicKey, SecretKey, keyfile};
use rand::RngExt as _;
use rand::rngs::StdRng;
use rand::seq::{IndexedRandom as _, SliceRandom as _};

use crate::TestnetError;
use flashback_types::trust::{Issuer, Role};
use flashback_types::{TrustStore, trust::parse_claim};

use crate::participants::{Consumer, Provider, Quality};
use crate::scenario::Scenario;

/// Who plays what.
pub(super) struct Plan {
    pub(super) providers: Vec<Arc<Provider>>,
    pub(super) consumers: Vec<Consumer>,
    pub(super) flood_target: Option<usize>,
    pub(super) churn_pool: Vec<usize>,
    pub(super) roles: Vec<String>,
    /// The certifier of a deals scenario: every node trusts it for the deals' claim.
    pub(super) certifier: Option<SecretKey>,
}

pub(super) fn node_name(i: usize, n: usize) -> String {
    if n > 100 {
        format!("n{i:03}")
    } else {
        format!("n{i:02}")
    }
}

/// Chooses roles, writes every node's key, and builds its configuration.
pub(super) fn plan(
    s: &Scenario,
    out: &Path,
    seed: u64,
    rng: &mut StdRng,
) -> Result<(Plan, Vec<(String, NodeConfig)>), TestnetError> {
    let n = s.nodes;
    let all: Vec<usize> = (0..n).collect();
    let provider_nodes = all
        .sample(rng, s.provider_count())
        .copied()
        .collect::<Vec<_>>();
    let flaky = s.flaky_count(provider_nodes.len());
    let m = &s.market;
    // A deals scenario: the first providers are the bad ones, cheapest first; every node
    // trusts one certifier for the claim the consumers require.
    let certifier = s.deals.as_ref().map(|_| SecretKey::generate());
    let trust = match (&s.deals, &certifier) {
        (Some(d), Some(key)) => {
            let claim =
                parse_claim(&d.claim).map_err(|e| TestnetError::Scenario(format!("deals: {e}")))?;
            let issuer = Issuer::new(
                "testnet-certifier",
                key.public(),
                &[Role::Certifier],
                &[claim.name.as_str()],
            )
            .map_err(|e| TestnetError::Internal(e.to_string()))?;
            let mut store = TrustStore::default();
            store
                .add(issuer, false)
                .map_err(|e| TestnetError::Internal(e.to_string()))?;
            Some(store.to_toml())
        }
        _ => None,
    };
    let mut keys = Vec::new();
    let mut configs = Vec::new();
    for i in 0..n {
        let name = node_name(i, n);
        let dir = out.join("nodes").join(&name);
        std::fs::create_dir_all(&dir).map_err(|source| TestnetError::Io {
            path: dir.clone(),
            source,
        })?;
        let key = SecretKey::generate();
        write_key(&dir.join("node.key"), &key)?;
        keys.push(key);
        let mut c = NodeConfig {
            data_dir: dir,
            trace_applied: true,
            ..NodeConfig::default()
        };
        c.net.listen = vec!["/ip4/127.0.0.1/tcp/0".into()];
        c.net.gossip_heartbeat_ms = s.network.gossip_heartbeat_ms;
        c.net.kad_bootstrap_interval_secs = 30;
        c.sync.interval_secs = s.network.sync_interval_secs;
        c.pipeline.verify_threads = s.network.verify_threads;
        c.metrics.enabled = true;
        c.metrics.listen = Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
        c.metrics.admin = true;
        if let Some(text) = &trust {
            let path = c.trust_path();
            std::fs::write(&path, text).map_err(|source| TestnetError::Io { path, source })?;
        }
        configs.push((name, c));
    }
    let mut providers = Vec::new();
    for (k, &node) in provider_nodes.iter().enumerate() {
        let quality = if s.deals.is_some() {
            Quality::BAD.get(k).copied().unwrap_or(Quality::Good)
        } else if k < flaky {
            Quality::Flaky
        } else {
            Quality::Good
        };
        let count = rng.random_range(1..=2);
        let regions = m.regions.sample(rng, count).cloned().collect();
        let (failure_rate, added_latency_ms) = match quality {
            Quality::Flaky => (m.flaky_failure_rate, m.flaky_added_latency_ms),
            Quality::Dead => (1.0, 0),
            _ => (0.0, 0),
        };
        let is_flaky = failure_rate > 0.0;
        // The bad providers of a deals scenario are the cheapest, in their order; the good
        // ones cost more, so a deal meets every bad one before the good ones.
        let price = if s.deals.is_some() && k < Quality::BAD.len() {
            m.price_min + k as u64
        } else if s.deals.is_some() {
            let floor = (m.price_min + Quality::BAD.len() as u64 + 1).min(m.price_max);
            rng.random_range(floor..=m.price_max)
        } else {
            rng.random_range(m.price_min..=m.price_max)
        };
        if let Some(payments) = &s.payments {
            configs[node].1.sla.min_consumer_score_bp = payments.floor_bp;
        }
        configs[node].1.blobs = BlobConfig {
            enabled: true,
            capacity_bytes: 256 << 20,
            max_blob_bytes: 1 << 20,
            added_latency_ms,
            failure_rate,
            seed: Some(seed ^ node as u64),
            ..BlobConfig::default()
        };
        providers.push(Arc::new(Provider {
            node,
            key: keys[node].clone(),
            quality,
            flaky: is_flaky,
            failure_rate,
            added_latency_ms,
            regions,
            price,
        }));
    }

    let others: Vec<usize> = all
        .iter()
        .copied()
        .filter(|i| !provider_nodes.contains(i))
        .collect();
    let mut home_pool = if others.is_empty() {
        all.clone()
    } else {
        others.clone()
    };
    home_pool.shuffle(rng);
    let c_count = s.consumer_count();
    let per = m.agreements_per_consumer.clamp(1, providers.len().max(1));
    let consumers: Vec<Consumer> = (0..c_count)
        .map(|c| Consumer {
            key: SecretKey::generate(),
            home: home_pool[c % home_pool.len()],
            // Round robin, so every provider gets consumers when there are enough picks.
            providers: (0..per).map(|j| (c * per + j) % providers.len()).collect(),
        })
        .collect();
    let homes: HashSet<usize> = consumers.iter().map(|c| c.home).collect();
    // The testnet's operator runs every consumer, so each node counts their measurements as
    // its own (decision 0059): honest evidence rates every provider, as an operator's own
    // probes would.
    let own: Vec<PublicKey> = consumers.iter().map(|c| c.key.public()).collect();
    for (_, c) in &mut configs {
        c.store.reputation.own_keys = own.clone();
    }
    // The rejecting provider's SLA policy refuses every consumer of the run.
    for p in providers.iter().filter(|p| p.quality == Quality::Rejecting) {
        configs[p.node].1.sla.denied_consumers = own.clone();
    }

    let flood_target = s.flood.as_ref().map(|f| {
        f.target.unwrap_or_else(|| {
            let quiet: Vec<usize> = others
                .iter()
                .copied()
                .filter(|i| !homes.contains(i))
                .collect();
            let pool = if !quiet.is_empty() {
                quiet
            } else if !others.is_empty() {
                others.clone()
            } else {
                all.clone()
            };
            pool[rng.random_range(0..pool.len())]
        })
    });
    let include_providers = s.churn.as_ref().is_some_and(|c| c.include_providers);
    let churn_pool: Vec<usize> = all
        .iter()
        .copied()
        .filter(|i| include_providers || !provider_nodes.contains(i))
        .filter(|i| !homes.contains(i) && Some(*i) != flood_target)
        .collect();

    let roles = (0..n)
        .map(|i| {
            if let Some(p) = providers.iter().find(|p| p.node == i) {
                match p.quality {
                    Quality::Good if p.flaky => "provider (flaky)".to_owned(),
                    Quality::Good => "provider".to_owned(),
                    q => format!("provider ({})", q.name()),
                }
            } else if homes.contains(&i) {
                "consumer home".to_owned()
            } else if Some(i) == flood_target {
                "flood target".to_owned()
            } else {
                "relay".to_owned()
            }
        })
        .collect();
    Ok((
        Plan {
            providers,
            consumers,
            flood_target,
            churn_pool,
            roles,
            certifier,
        },
        configs,
    ))
}

/// A fresh node's key: the output dir was cleared, so an older file is the leftover of an
/// interrupted run and is replaced.
fn write_key(path: &Path, key: &SecretKey) -> Result<(), TestnetError> {
    keyfile::write(path, key, keyfile::Existing::Replace).map_err(|source| TestnetError::Io {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use rand::SeedableRng as _;

    use super::*;

    /// Roles, providers' regions and prices, consumers' homes and the flood target of a plan.
    fn choices(scenario: &Scenario, seed: u64) -> Vec<String> {
        let out = tempfile::tempdir().unwrap();
        let (plan, configs) =
            plan(scenario, out.path(), seed, &mut StdRng::seed_from_u64(seed)).unwrap();
        assert_eq!(configs.len(), scenario.nodes);
        let mut choices = plan.roles.clone();
        for p in &plan.providers {
            choices.push(format!("{} {:?} {}", p.node, p.regions, p.price));
        }
        choices.extend(plan.consumers.iter().map(|c| format!("home {}", c.home)));
        choices.push(format!("{:?} {:?}", plan.flood_target, plan.churn_pool));
        choices
    }

    #[test]
    fn a_seed_gives_the_same_plan() {
        let scenario = Scenario::load("flood").unwrap();
        assert_eq!(choices(&scenario, 7), choices(&scenario, 7));
        // Another seed picks otherwise (the chance of all the same choices is negligible).
        assert_ne!(choices(&scenario, 7), choices(&scenario, 8));
    }
}
