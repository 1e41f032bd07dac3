//! The participants of the market played on the testnet: providers publish offers pointing
//! at their node's blob endpoint, consumers (light clients run by the runner) find them in
//! their own node's listing, make agreements, open the access grants the providers' nodes seal
//! to them, probe the data planes with those credentials (`flashback_client::probe`) and
//! attest.

use std::sync::Arc;
use std::time::Duration;

use flashback_client::data::Plane;
use flashback_client::probe::{ProbeConfig, attest, probe_window};
use flashback_client::{SeqBook, Terms, Withdrawn};
use flashback_types::clock::now_ms;
use flashback_types::{
    Agreement, BoundedVec, DataProtocol, Decision, GIB, HOUR_SECS, Object, Offer, OfferQuery,
    Price, PriceUnit, QosTargets, ResourceKind, SecretKey, ShortText, Signed, Text,
};
use rand::RngExt as _;
use rand::rngs::StdRng;
use tokio_util::sync::CancellationToken;

use crate::TestnetError;
use crate::observe::{Ctx, Published, lock};
use crate::report::Republish;
use crate::run::Billing;
use crate::scenario::MarketSpec;

/// Availability and latency every provider promises (flaky ones fail to keep it).
const PROMISED: QosTargets = QosTargets {
    availability_bp: 9500,
    p95_latency_ms: 300,
    durability_nines: 11,
    throughput_bytes_per_sec: 0,
};

/// What kind of provider a deals scenario made of a provider (`Good` in every other one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Quality {
    /// Honest, certified, with a working data plane.
    Good,
    /// Its data plane fails every request.
    Dead,
    /// Its data plane fails some requests and is slow.
    Flaky,
    /// It quotes, but its SLA policy rejects every consumer of the run.
    Rejecting,
    /// It lacks the certificate the consumers require.
    Uncertified,
}

impl Quality {
    /// The bad qualities, in the order a deals scenario gives them to its first providers
    /// (cheapest first).
    pub(crate) const BAD: [Quality; crate::scenario::BAD_PROVIDERS] = [
        Quality::Uncertified,
        Quality::Dead,
        Quality::Rejecting,
        Quality::Flaky,
    ];

    /// The stable lowercase name (report and roles).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Quality::Good => "good",
            Quality::Dead => "dead",
            Quality::Flaky => "flaky",
            Quality::Rejecting => "rejecting",
            Quality::Uncertified => "uncertified",
        }
    }
}

/// A provider: a node whose key signs its offers and whose blob endpoint is its data plane.
pub(crate) struct Provider {
    pub(crate) node: usize,
    pub(crate) key: SecretKey,
    pub(crate) quality: Quality,
    pub(crate) flaky: bool,
    pub(crate) failure_rate: f64,
    pub(crate) added_latency_ms: u64,
    pub(crate) regions: Vec<String>,
    pub(crate) price: u64,
}

/// A consumer: a key, a home node it talks to, the providers it makes agreements with.
pub(crate) struct Consumer {
    pub(crate) key: SecretKey,
    pub(crate) home: usize,
    pub(crate) providers: Vec<usize>,
}

/// An agreement and the data plane its access grant opens.
#[derive(Clone)]
pub(crate) struct Deal {
    pub(crate) consumer: usize,
    pub(crate) provider: usize,
    pub(crate) agreement: Agreement,
    pub(crate) plane: Arc<Plane>,
}

/// What set-up produced.
#[derive(Default)]
pub(crate) struct Setup {
    pub(crate) proposals: usize,
    pub(crate) rejected: usize,
    pub(crate) deals: Vec<Deal>,
}

fn text<const N: usize>(s: &str) -> Result<flashback_types::BoundedString<N>, TestnetError> {
    flashback_types::BoundedString::new(s)
        .map_err(|e| TestnetError::Internal(format!("{s:?}: {e}")))
}

/// A storage price of `amount` US cents per GiB-month: the testnet's market is in one asset.
pub(crate) fn usd(amount: u64) -> Result<Price, TestnetError> {
    Ok(Price {
        amount,
        asset: text("USD")?,
        unit: PriceUnit::GibMonth,
    })
}

/// Signs a storage offer of `p` on its blob endpoint.
pub(crate) fn offer(
    p: &Provider,
    offer_key: &str,
    price: u64,
    endpoint: &str,
    now: u64,
) -> Result<Signed<Offer>, TestnetError> {
    Signed::sign(offer_body(p, offer_key, price, endpoint, now)?, &p.key)
        .map_err(|e| TestnetError::Internal(format!("our offer is invalid: {}", e.detail)))
}

/// The body of a storage offer of `p` on its blob endpoint, at seq 1.
fn offer_body(
    p: &Provider,
    offer_key: &str,
    price: u64,
    endpoint: &str,
    now: u64,
) -> Result<Offer, TestnetError> {
    let mut regions: Vec<ShortText> = p
        .regions
        .iter()
        .map(|r| text(r))
        .collect::<Result<_, _>>()?;
    regions.sort();
    regions.dedup();
    let body = Offer {
        provider: p.key.public(),
        offer_key: text(offer_key)?,
        seq: 1,
        withdrawn: false,
        kind: ResourceKind::Storage,
        // Room for the payment runs' agreements (`run::payments::Billing::volume`).
        capacity: 4 * 1024 * 1024 * GIB,
        price: usd(price)?,
        // Payment runs make agreements of ten periods of a quarter of the activity phase,
        // seconds long for a short run (`run::payments::Billing`).
        min_duration_secs: 1,
        max_duration_secs: 365 * 24 * HOUR_SECS,
        regions: BoundedVec::try_from_vec(regions)
            .map_err(|e| TestnetError::Internal(e.to_string()))?,
        protocols: BoundedVec::try_from_vec(vec![DataProtocol::FlashbackBlob])
            .map_err(|e| TestnetError::Internal(e.to_string()))?,
        endpoint: Text::new(endpoint).map_err(|e| TestnetError::Internal(e.to_string()))?,
        qos: PROMISED,
        redundancy: 1,
        certificates: BoundedVec::new(),
        jurisdictions: BoundedVec::new(),
        compliance_docs: BoundedVec::new(),
        compute: None,
        created_at: now,
        expires_at: now + 24 * HOUR_SECS,
    };
    Ok(body)
}

/// An honest provider republishing as fast as it can, through the client's seq scheme: two
/// versions of one offer in the same second, its withdrawal, and a third version. Returns the
/// seqs signed; no node may flag the provider for any of them.
pub(crate) async fn republish(ctx: &Ctx, p: &Provider) -> Republish {
    let mut report = Republish {
        provider: p.key.public().to_string(),
        ..Republish::default()
    };
    let started = flashback_types::clock::now();
    let steps = async {
        let client = ctx.client(p.node).await?;
        let endpoint = endpoint(ctx, p)?;
        let mut book = SeqBook::in_memory(p.key.public());
        for step in 0..4u64 {
            let now = flashback_types::clock::now();
            let seq = if step == 2 {
                match client
                    .withdraw_offer(&p.key, "republished", &mut book)
                    .await?
                {
                    Withdrawn::Now { tombstone, .. } => tombstone.body().seq,
                    Withdrawn::Already(t) => t.body().seq,
                }
            } else {
                let body = offer_body(p, "republished", p.price + step, &endpoint, now)?;
                let published = client.publish_offer(&p.key, body, None, &mut book).await?;
                published.offer.body().seq
            };
            report.seqs.push(seq);
        }
        Ok::<(), TestnetError>(())
    };
    if let Err(e) = steps.await {
        report.error = Some(e.to_string());
    }
    report.within_secs = flashback_types::clock::now().saturating_sub(started);
    report
}

fn endpoint(ctx: &Ctx, p: &Provider) -> Result<String, TestnetError> {
    ctx.blob_endpoint(p.node).ok_or_else(|| {
        TestnetError::Node(format!(
            "{} serves no blob endpoint (node.json has no blob_endpoint)",
            ctx.name(p.node)
        ))
    })
}

/// Every provider publishes its `main` offer (the one consumers make agreements on).
pub(crate) async fn publish_main(
    ctx: &Ctx,
    providers: &[Arc<Provider>],
) -> Result<Vec<Signed<Offer>>, TestnetError> {
    let mut offers = Vec::new();
    for p in providers {
        let o = offer(
            p,
            "main",
            p.price,
            &endpoint(ctx, p)?,
            flashback_types::clock::now(),
        )?;
        ctx.submit(p.node, &Object::Offer(o.clone())).await?;
        offers.push(o);
    }
    Ok(offers)
}

/// Each consumer waits for its providers' main offers in its own node's listing, proposes, and
/// waits for the decisions.
pub(crate) async fn make_agreements(
    ctx: &Arc<Ctx>,
    consumers: &[Consumer],
    providers: &[Arc<Provider>],
    mains: &[Signed<Offer>],
    within: Duration,
    billed: Option<Billing>,
) -> Result<Setup, TestnetError> {
    let mut tasks = tokio::task::JoinSet::new();
    for (c_index, c) in consumers.iter().enumerate() {
        let ctx = ctx.clone();
        let key = c.key.clone();
        let home = c.home;
        let wanted: Vec<(usize, Signed<Offer>)> =
            c.providers.iter().map(|&p| (p, mains[p].clone())).collect();
        let provider_nodes: Vec<usize> = providers.iter().map(|p| p.node).collect();
        tasks.spawn(async move {
            consumer_setup(
                &ctx,
                c_index,
                &key,
                home,
                &wanted,
                &provider_nodes,
                within,
                billed,
            )
            .await
        });
    }
    let mut setup = Setup::default();
    while let Some(joined) = tasks.join_next().await {
        let part = joined.map_err(|e| TestnetError::Internal(format!("consumer task: {e}")))??;
        setup.proposals += part.proposals;
        setup.rejected += part.rejected;
        setup.deals.extend(part.deals);
    }
    setup.deals.sort_by_key(|d| (d.consumer, d.provider));
    Ok(setup)
}

#[allow(clippy::too_many_arguments)]
async fn consumer_setup(
    ctx: &Ctx,
    c_index: usize,
    key: &SecretKey,
    home: usize,
    wanted: &[(usize, Signed<Offer>)],
    provider_nodes: &[usize],
    within: Duration,
    billed: Option<Billing>,
) -> Result<Setup, TestnetError> {
    let client = ctx.client(home).await?;
    let deadline = tokio::time::Instant::now() + within;
    let mut setup = Setup::default();
    for (p_index, offer) in wanted {
        // The consumer looks for flashback_blob offers of that provider in its node's listing,
        // as `flashback listing query --provider … --protocol flashback_blob` would.
        let query = OfferQuery {
            provider: Some(offer.body().provider),
            protocol: Some(DataProtocol::FlashbackBlob),
            ..OfferQuery::default()
        };
        let found = loop {
            let page = client.query_offers(&query).await?;
            if let Some(o) = page.offers.into_iter().find(|o| o.id() == offer.id()) {
                break o;
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(TestnetError::Node(format!(
                    "the offer of provider {} did not reach {} within {within:?}",
                    ctx.name(provider_nodes[*p_index]),
                    ctx.name(home)
                )));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let terms = match billed {
            Some(billing) => billing.terms(billing.volume()),
            None => Terms {
                volume: GIB,
                duration_secs: 7 * 24 * HOUR_SECS,
                start: None,
                decide_within: Duration::from_secs(120),
            },
        };
        let proposal = {
            let _open = ctx.gate.read().await;
            let at_ms = now_ms();
            let proposal = client.propose(key, &found, terms).await?;
            lock(&ctx.published).push(Published {
                id: proposal.id().to_string(),
                kind: flashback_types::Kind::SlaProposal.name(),
                at_ms,
                node: home,
            });
            proposal
        };
        setup.proposals += 1;
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let decision = client
            .wait_decision(&proposal, left.max(Duration::from_secs(5)))
            .await?;
        match decision {
            Some(d) if d.body().decision == Decision::Accept => {
                let agreement = Agreement::from_parts(proposal, d)
                    .map_err(|e| TestnetError::Internal(format!("agreement: {}", e.detail)))?;
                // The provider's node sealed a blob token to this consumer with its acceptance.
                let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                let credentials = client
                    .access(
                        key,
                        agreement.proposal_id(),
                        left.max(Duration::from_secs(5)),
                    )
                    .await?;
                let plane = Plane::open(&credentials, Duration::from_secs(2))?;
                setup.deals.push(Deal {
                    consumer: c_index,
                    provider: *p_index,
                    agreement,
                    plane: Arc::new(plane),
                });
            }
            Some(_) => setup.rejected += 1,
            None => {
                return Err(TestnetError::Node(format!(
                    "provider {} did not decide a proposal within {within:?}",
                    ctx.name(provider_nodes[*p_index])
                )));
            }
        }
    }
    Ok(setup)
}

/// Publishes a new offer of `p` every `spec.publish_interval` until `stop`.
pub(crate) async fn spot_publisher(
    ctx: Arc<Ctx>,
    p: Arc<Provider>,
    spec: MarketSpec,
    mut rng: StdRng,
    stop: CancellationToken,
) {
    let interval = spec.publish_interval.0;
    // Providers start out of phase, so publications spread over the interval.
    let mut next = tokio::time::Instant::now() + interval.mul_f64(rng.random::<f64>());
    let mut k = 0u32;
    loop {
        tokio::select! {
            biased;
            () = stop.cancelled() => return,
            () = tokio::time::sleep_until(next) => {}
        }
        next += interval;
        k += 1;
        let Ok(endpoint) = endpoint(&ctx, &p) else {
            return;
        };
        let price = rng.random_range(spec.price_min..=spec.price_max);
        match offer(
            &p,
            &format!("spot-{k}"),
            price,
            &endpoint,
            flashback_types::clock::now(),
        ) {
            Ok(o) => {
                let object = Object::Offer(o);
                let submit = ctx.submit(p.node, &object);
                tokio::select! {
                    biased;
                    () = stop.cancelled() => return,
                    result = submit => if let Err(e) = result {
                        tracing::debug!(error = %e, "spot offer not published");
                    },
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot build a spot offer"),
        }
    }
}

/// Probes every deal of one consumer window after window, and submits an attestation per deal
/// and window through the consumer's node, until `stop`. Returns the attestations submitted.
pub(crate) async fn prober(
    ctx: Arc<Ctx>,
    key: SecretKey,
    home: usize,
    deals: Vec<Deal>,
    spec: MarketSpec,
    seed: u64,
    stop: CancellationToken,
) -> usize {
    let mut submitted = 0;
    let mut window = 0u64;
    while !stop.is_cancelled() && !deals.is_empty() {
        let mut probes = tokio::task::JoinSet::new();
        for (i, deal) in deals.iter().enumerate() {
            let config = ProbeConfig {
                window: spec.probe_window.0,
                probes_per_window: spec.probes_per_window,
                blob_bytes: 64 * 1024,
                range_bytes: 8 * 1024,
                request_timeout: Duration::from_secs(2),
                max_concurrent: 1,
                seed: Some(seed ^ (window << 32) ^ (i as u64).wrapping_mul(0x9E37_79B9)),
            };
            let plane = deal.plane.clone();
            probes.spawn(async move { (i, probe_window(&plane, &config).await) });
        }
        let results = tokio::select! {
            biased;
            // A window cut short by the end of the phase is not attested.
            () = stop.cancelled() => return submitted,
            results = probes.join_all() => results,
        };
        window += 1;
        let now = flashback_types::clock::now();
        for (i, result) in results {
            let result = match result {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(error = %e, "probe window failed");
                    continue;
                }
            };
            let attestation = match attest(&key, &deals[i].agreement, &result, now) {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot attest");
                    continue;
                }
            };
            let object = Object::QosAttestation(attestation);
            let submit = ctx.submit(home, &object);
            let done = tokio::select! {
                biased;
                () = stop.cancelled() => return submitted,
                result = submit => result,
            };
            if done.is_ok() {
                submitted += 1;
            }
        }
    }
    submitted
}
