//! The provider side of demands: a provider's node watches every stored [`Demand`] and, when
//! its [`QuotePolicy`] matches one of its own live offers, signs a [`Quote`] for the demand's
//! consumer; the quote is validated, stored and gossiped like any object and reaches the
//! consumer's node by gossip (or sync). A demand the policy does not match gets no answer: the
//! provider stays silent. One quote per demand, on the cheapest matching offer.

use flashback_store::Store;
use flashback_types::{
    DataProtocol, Demand, Object, Offer, PublicKey, Quote, SecretKey, Signed, clock::now,
};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::pipeline::Verdict;
use crate::service::Services;

/// How this provider's node answers demands (`[quotes]` in the node's config).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QuotePolicy {
    /// Answer demands that one of this node's offers matches. Off: demands are stored and
    /// relayed, never answered.
    pub enabled: bool,
    /// Lowest unit price quoted, in minor units of the offer's asset per its unit: a quote is
    /// at the offer's price or this floor, whichever is higher (0: the offer's price).
    pub price_floor: u64,
    /// Capacity of an offer kept free: quote only when what is left after the demand's volume
    /// and the agreements already running is at least this, in bytes (storage) or units.
    pub reserve: u64,
    /// Answer only demands that accept one of these regions (empty: any region the offer is in).
    pub regions: Vec<String>,
    /// Answer only demands served over one of these protocols (empty: any the offer serves).
    pub protocols: Vec<DataProtocol>,
    /// Consumers never quoted.
    pub denied_consumers: Vec<PublicKey>,
    /// How long a quote holds, seconds (capped by the demand's close and the offer's expiry).
    pub validity_secs: u64,
}

impl Default for QuotePolicy {
    fn default() -> Self {
        Self {
            enabled: true,
            price_floor: 0,
            reserve: 0,
            regions: Vec::new(),
            protocols: Vec::new(),
            denied_consumers: Vec::new(),
            validity_secs: 3600,
        }
    }
}

/// Why an offer of ours does not answer a demand (kept for logs: the demand's consumer is told
/// nothing).
fn mismatch(policy: &QuotePolicy, demand: &Demand, offer: &Offer, free: u64) -> Option<String> {
    if offer.withdrawn || offer.kind != demand.kind {
        return Some("kind".into());
    }
    if offer.price.asset != demand.max_price.asset || offer.price.unit != demand.max_price.unit {
        return Some("asset".into());
    }
    let price = offer.price.amount.max(policy.price_floor);
    if price > demand.max_price.amount {
        return Some(format!("price {price} above {}", demand.max_price.amount));
    }
    if demand.duration_secs < offer.min_duration_secs
        || demand.duration_secs > offer.max_duration_secs
    {
        return Some("duration".into());
    }
    let region_ok = offer.regions.iter().any(|r| {
        (demand.regions.is_empty() || demand.regions.contains(r))
            && (policy.regions.is_empty() || policy.regions.iter().any(|p| p == r.as_str()))
    });
    if !region_ok {
        return Some("region".into());
    }
    let protocol_ok = offer.protocols.iter().any(|p| {
        (demand.protocols.is_empty() || demand.protocols.contains(p))
            && (policy.protocols.is_empty() || policy.protocols.contains(p))
    });
    if !protocol_ok {
        return Some("protocol".into());
    }
    let (want, have) = (&demand.qos, &offer.qos);
    if have.availability_bp < want.availability_bp
        || have.durability_nines < want.durability_nines
        || (want.p95_latency_ms > 0
            && (have.p95_latency_ms == 0 || have.p95_latency_ms > want.p95_latency_ms))
        || have.throughput_bytes_per_sec < want.throughput_bytes_per_sec
    {
        return Some("qos".into());
    }
    // One replica per provider: each pick stores the whole volume.
    if free < demand.volume.saturating_add(policy.reserve) {
        return Some("capacity".into());
    }
    None
}

/// The quote `policy` gives `demand` from the offers `me` holds in `store` at `now`, unsigned:
/// on the cheapest matching live offer, or `None` (stay silent).
pub fn quote_for(
    store: &Store,
    policy: &QuotePolicy,
    me: &PublicKey,
    demand: &Signed<Demand>,
    now: u64,
) -> Result<Option<Quote>, crate::NodeError> {
    let d = demand.body();
    if !policy.enabled
        || d.expires_at <= now
        || d.consumer == *me
        || policy.denied_consumers.contains(&d.consumer)
    {
        return Ok(None);
    }
    if store
        .quotes_for(&demand.id())?
        .iter()
        .any(|q| q.body().provider == *me)
    {
        return Ok(None);
    }
    let mut best: Option<(u64, Signed<Offer>)> = None;
    for offer in store.offers_by_provider(me)? {
        let o = offer.body();
        if o.expires_at <= now {
            continue;
        }
        let promised = store.accepted_volume(me, &o.offer_key, now);
        let free = o.capacity.saturating_sub(promised);
        if let Some(why) = mismatch(policy, d, o, free) {
            tracing::debug!(demand = %demand.id(), offer = %offer.id(), why, "offer does not answer the demand");
            continue;
        }
        let price = o.price.amount.max(policy.price_floor);
        if best.as_ref().is_none_or(|(p, _)| price < *p) {
            best = Some((price, offer));
        }
    }
    let Some((amount, offer)) = best else {
        return Ok(None);
    };
    let o = offer.body();
    let expires_at = now
        .saturating_add(policy.validity_secs.max(1))
        .min(d.expires_at)
        .min(o.expires_at)
        .min(now + flashback_types::Kind::Quote.max_lifetime_secs());
    Ok(Some(Quote {
        provider: *me,
        consumer: d.consumer,
        demand_id: demand.id(),
        offer_id: offer.id(),
        offer_seq: o.seq,
        price: flashback_types::Price {
            amount,
            ..o.price.clone()
        },
        created_at: now,
        expires_at,
    }))
}

/// Watches applied objects and answers demands by `policy` with quotes signed by `key`.
pub(crate) async fn run(
    services: Services,
    key: SecretKey,
    policy: QuotePolicy,
    mut applied: broadcast::Receiver<Object>,
    stop: CancellationToken,
) {
    if !policy.enabled {
        return;
    }
    // Demands still open that arrived while the node was down.
    answer_open(&services, &key, &policy).await;
    loop {
        let object = tokio::select! {
            biased;
            () = stop.cancelled() => break,
            received = applied.recv() => received,
        };
        match object {
            Ok(Object::Demand(d)) => answer(&services, &key, &policy, &d).await,
            Ok(_) => {}
            Err(broadcast::error::RecvError::Lagged(_)) => {
                answer_open(&services, &key, &policy).await;
            }
            Err(broadcast::error::RecvError::Closed) => break,
        }
    }
}

async fn answer_open(services: &Services, key: &SecretKey, policy: &QuotePolicy) {
    let store = services.store.clone();
    match crate::blocking(move || Ok(store.demands(now())?)).await {
        Ok(demands) => {
            for d in demands {
                answer(services, key, policy, &d).await;
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot list open demands"),
    }
}

async fn answer(
    services: &Services,
    key: &SecretKey,
    policy: &QuotePolicy,
    demand: &Signed<Demand>,
) {
    let store = services.store.clone();
    let (policy, demand_c, me) = (policy.clone(), demand.clone(), key.public());
    let quote = crate::blocking(move || quote_for(&store, &policy, &me, &demand_c, now())).await;
    let body = match quote {
        Ok(Some(q)) => q,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(demand = %demand.id(), error = %e, "cannot judge a demand");
            return;
        }
    };
    let signed = match Signed::sign(body, key) {
        Ok(s) => Object::Quote(s),
        Err(e) => {
            tracing::warn!(demand = %demand.id(), error = %e.detail, "cannot sign a quote");
            return;
        }
    };
    let verdicts = services
        .validator
        .ingest(vec![signed.encoded().to_vec()])
        .await;
    match verdicts.first() {
        Some((Verdict::Stored(_), _)) => {
            services.publish(&signed).await;
            tracing::info!(demand = %demand.id(), quote = %signed.id(), consumer = %demand.body().consumer.fmt_short(), "quoted a demand");
        }
        other => {
            tracing::warn!(demand = %demand.id(), verdict = ?other.map(|v| &v.0), "our own quote was refused")
        }
    }
}
