//! The provider's pricing advisor: what comparable live offers charge, what consumers agreed
//! to pay, where a price would rank, and the highest price the optimizer would still pick.
//!
//! Everything rests on the node's listing, fetched and verified by the light client
//! ([`Client::market`]); the arithmetic is [`Market::build`], pure. "Comparable" means: same
//! kind, offering the region, serving every protocol asked for, and an availability in the same
//! band ([`AvailabilityBand`]). Percentiles are nearest-rank ([`flashback_types::stats`]),
//! unweighted and weighted by each provider's reputation. With fewer than
//! [`MIN_COMPARABLE`] comparable offers in an asset the advisor does not guess:
//! [`Market::suggest`] refuses with [`ClientError::TooLittleData`].

use std::collections::{BTreeMap, BTreeSet};

use flashback_select::{Candidate, PriceToWin, Redundancy, Request, Selector};
use flashback_types::stats::{percentile, weighted_percentile};
use flashback_types::{
    Agreement, BoundedVec, DataProtocol, Object, ObjectId, Offer, OfferQuery, Price, PriceUnit,
    PublicKey, ResourceKind, SecretKey, ShortText, Signed, SortKey,
};
use serde::Serialize;

use crate::{Client, ClientError};

/// Fewest comparable offers in an asset for the advisor to give percentiles and a suggestion:
/// with four or fewer, p10 and p90 are single offers and one provider moves every figure.
pub const MIN_COMPARABLE: usize = 5;

/// The weight of a provider no attestation rated yet: half of a perfect score, so a new
/// provider counts, but less than one with a good record.
pub const UNRATED_WEIGHT: f64 = 0.5;

/// The percentiles reported, as fractions.
pub const QUANTILES: [f64; 5] = [0.10, 0.25, 0.50, 0.75, 0.90];

/// Availability within a factor of two of downtime: for 99.9 % (10 basis points down) the band
/// is 99.8 % to 99.95 % (20 to 5 down). Downtime is what a consumer pays for, and a factor of
/// two keeps "three nines" apart from "two nines" and from "four nines".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct AvailabilityBand {
    /// Lowest availability in the band, basis points.
    pub min_bp: u16,
    /// Highest, basis points.
    pub max_bp: u16,
}

impl AvailabilityBand {
    /// The band around `availability_bp` (basis points, at most 10 000).
    pub fn around(availability_bp: u16) -> Self {
        let down = 10_000u16.saturating_sub(availability_bp.min(10_000));
        Self {
            min_bp: 10_000u16.saturating_sub(down.saturating_mul(2)),
            max_bp: 10_000 - down / 2,
        }
    }

    /// Whether `bp` lies in the band.
    pub fn contains(&self, bp: u16) -> bool {
        (self.min_bp..=self.max_bp).contains(&bp)
    }
}

/// What the provider asks about.
#[derive(Debug, Clone)]
pub struct MarketQuery {
    /// Kind of resource sold.
    pub kind: ResourceKind,
    /// The region the offer would serve.
    pub region: ShortText,
    /// The availability it would commit to, basis points.
    pub availability_bp: u16,
    /// Protocols it would serve; comparable offers serve all of them (none: any).
    pub protocols: Vec<DataProtocol>,
    /// Only this asset (none: every asset seen).
    pub asset: Option<String>,
    /// Capacity it would offer (bytes or units); by default the typical request's volume.
    pub capacity: Option<u64>,
    /// A unit price to rank against the market, in the asset's minor units.
    pub price: Option<u64>,
    /// Its provider key, when it already sells: its own offers are not its competition.
    pub provider: Option<PublicKey>,
    /// The typical request the price to win is computed for: volume, seconds, replicas.
    pub volume: u64,
    /// Seconds.
    pub duration_secs: u64,
    /// Replicas.
    pub replicas: u8,
}

/// Nearest-rank percentiles of unit prices, minor units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Percentiles {
    /// 10th.
    pub p10: u64,
    /// 25th.
    pub p25: u64,
    /// Median.
    pub p50: u64,
    /// 75th.
    pub p75: u64,
    /// 90th.
    pub p90: u64,
}

impl Percentiles {
    fn from_fn(mut at: impl FnMut(f64) -> Option<u64>) -> Option<Self> {
        let [p10, p25, p50, p75, p90] = QUANTILES;
        Some(Self {
            p10: at(p10)?,
            p25: at(p25)?,
            p50: at(p50)?,
            p75: at(p75)?,
            p90: at(p90)?,
        })
    }
}

/// Where a price would rank among the comparable offers.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Rank {
    /// The price ranked, minor units.
    pub price: u64,
    /// Offers cheaper.
    pub cheaper: usize,
    /// Offers at the same price.
    pub equal: usize,
    /// Offers dearer.
    pub dearer: usize,
    /// Share of offers at or below it, percent.
    pub at_or_below_pct: f64,
}

/// The optimizer's answer for the typical request, as the output shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum WinPrice {
    /// Picked at any unit price up to `amount`.
    AtMost {
        /// Minor units.
        amount: u64,
    },
    /// Picked at any price (the market cannot meet the request without it).
    AnyPrice,
    /// Never picked; why.
    Never {
        /// The rule and values that stop it.
        reason: String,
    },
}

/// Accepted agreements on comparable terms, in one asset.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Agreed {
    /// How many.
    pub count: usize,
    /// Their volumes added up (bytes or units).
    pub volume: u128,
    /// The unit prices consumers accepted, percentiles (when any).
    pub prices: Option<Percentiles>,
}

/// The market in one asset.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AssetMarket {
    /// Asset code.
    pub asset: String,
    /// Pricing unit.
    pub unit: PriceUnit,
    /// Comparable live offers.
    pub offers: usize,
    /// Their providers.
    pub providers: usize,
    /// Capacity they offer, added up.
    pub capacity: u128,
    /// Unit prices, increasing (what the percentiles rest on).
    pub prices: Vec<u64>,
    /// Percentiles, every offer counting once (none below [`MIN_COMPARABLE`]).
    pub unweighted: Option<Percentiles>,
    /// Percentiles, each offer weighted by its provider's reputation (unrated:
    /// [`UNRATED_WEIGHT`]); none below the minimum or when every weight is zero.
    pub weighted: Option<Percentiles>,
    /// Offers whose provider is rated.
    pub rated: usize,
    /// Where the given price would rank.
    pub rank: Option<Rank>,
    /// The highest price still picked for the typical request.
    pub price_to_win: Option<WinPrice>,
    /// The suggested unit price: the price to win when there is one, capped at the weighted
    /// p90; the weighted median when it wins at any price.
    pub suggestion: Option<u64>,
    /// Agreements on comparable terms.
    pub agreed: Agreed,
}

/// The whole answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Market {
    /// Kind.
    pub kind: ResourceKind,
    /// Region.
    pub region: String,
    /// The availability band used.
    pub band: AvailabilityBand,
    /// Protocols required.
    pub protocols: Vec<DataProtocol>,
    /// The minimum of comparable offers per asset.
    pub minimum: usize,
    /// Live offers of the kind in the region the node listed (before the band and protocols).
    pub listed: usize,
    /// Offers left out because the node flagged their provider for equivocation.
    pub flagged: usize,
    /// The typical request the price to win is for.
    pub request: TypicalRequest,
    /// Demands: the query protocol does not serve them, so always `None` for now.
    pub demands: Option<usize>,
    /// Agreements the node listed (all, before comparing terms).
    pub agreements_listed: usize,
    /// Per asset, most offers first.
    pub assets: Vec<AssetMarket>,
}

/// The request the price to win is computed for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TypicalRequest {
    /// Bytes or units.
    pub volume: u64,
    /// Seconds.
    pub duration_secs: u64,
    /// Replicas.
    pub replicas: u8,
}

impl Client {
    /// Fetches what the advisor needs from the node (live offers of the kind in the region,
    /// their providers' reputations, the agreements and the offers they answer) and builds the
    /// [`Market`].
    pub async fn market(&self, q: &MarketQuery) -> Result<Market, ClientError> {
        let query = OfferQuery {
            kind: Some(q.kind),
            regions: BoundedVec::try_from_vec(vec![q.region.clone()]).unwrap_or_default(),
            sort: SortKey::Price,
            limit: flashback_types::MAX_QUERY_LIMIT,
            ..OfferQuery::default()
        };
        let (offers, _, _) = self.all_offers_live(&query).await?;
        let providers: BTreeSet<PublicKey> = offers.iter().map(|o| o.body().provider).collect();
        let (reputation, flagged) = self.reputations(&providers).await?;

        // Agreements and the offer versions they answer, fetched by id in bounded batches.
        let agreements = self.agreements(None).await?;
        let wanted: Vec<ObjectId> = agreements
            .iter()
            .map(|a| a.proposal().body().offer_id)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut answered: BTreeMap<ObjectId, Offer> = BTreeMap::new();
        for chunk in wanted.chunks(flashback_types::protocol::MAX_OBJECTS) {
            for object in self.get(chunk).await? {
                if let Object::Offer(o) = object {
                    answered.insert(o.id(), o.body().clone());
                }
            }
        }
        let agreed: Vec<(Agreement, Offer)> = agreements
            .into_iter()
            .filter_map(|a| {
                let offer = answered.get(&a.proposal().body().offer_id)?.clone();
                Some((a, offer))
            })
            .collect();
        Ok(Market::build(q, &offers, &reputation, &flagged, &agreed))
    }
}

impl Market {
    /// The market for `q` from verified data: `offers` (live, of the kind in the region),
    /// each provider's reputation, the flagged providers, and agreements with the offer each
    /// answers.
    pub fn build(
        q: &MarketQuery,
        offers: &[Signed<Offer>],
        reputation: &BTreeMap<PublicKey, Option<f64>>,
        flagged: &[PublicKey],
        agreements: &[(Agreement, Offer)],
    ) -> Self {
        let band = AvailabilityBand::around(q.availability_bp);
        let comparable = |o: &Offer| {
            o.kind == q.kind
                && !o.withdrawn
                && o.regions.contains(&q.region)
                && q.protocols.iter().all(|p| o.protocols.contains(p))
                && band.contains(o.qos.availability_bp)
                && q.asset.as_ref().is_none_or(|a| o.price.asset.as_str() == a)
                && Some(o.provider) != q.provider
        };
        let listed = offers.len();
        let flagged_out = offers
            .iter()
            .filter(|o| flagged.contains(&o.body().provider))
            .count();
        let mut by_asset: BTreeMap<String, Vec<&Signed<Offer>>> = BTreeMap::new();
        for o in offers {
            if comparable(o.body()) && !flagged.contains(&o.body().provider) {
                by_asset
                    .entry(o.body().price.asset.as_str().to_owned())
                    .or_default()
                    .push(o);
            }
        }
        if let Some(asset) = &q.asset {
            by_asset.entry(asset.clone()).or_default();
        }
        let mut assets: Vec<AssetMarket> = by_asset
            .into_iter()
            .map(|(asset, group)| {
                let deals: Vec<&(Agreement, Offer)> = agreements
                    .iter()
                    .filter(|(a, o)| {
                        comparable(o) && a.proposal().body().price.asset.as_str() == asset
                    })
                    .collect();
                asset_market(q, asset, &group, reputation, &deals)
            })
            .collect();
        assets.sort_by(|a, b| b.offers.cmp(&a.offers).then(a.asset.cmp(&b.asset)));
        Self {
            kind: q.kind,
            region: q.region.as_str().to_owned(),
            band,
            protocols: q.protocols.clone(),
            minimum: MIN_COMPARABLE,
            listed,
            flagged: flagged_out,
            request: TypicalRequest {
                volume: q.volume,
                duration_secs: q.duration_secs,
                replicas: q.replicas,
            },
            demands: None,
            agreements_listed: agreements.len(),
            assets,
        }
    }

    /// The assets with enough comparable offers, or [`ClientError::TooLittleData`] saying how
    /// many there are and what to widen.
    pub fn suggest(&self) -> Result<Vec<&AssetMarket>, ClientError> {
        let enough: Vec<&AssetMarket> = self
            .assets
            .iter()
            .filter(|a| a.unweighted.is_some())
            .collect();
        if !enough.is_empty() {
            return Ok(enough);
        }
        let most = self.assets.first().map_or(0, |a| a.offers);
        Err(ClientError::TooLittleData(format!(
            "only {} ({} in {}, availability {:.2} % to {:.2} %{}) in any asset; the advisor \
             needs at least {MIN_COMPARABLE} to suggest a price: widen the band with another \
             --availability, drop --protocol or --asset, or try another region",
            crate::human::count(most, "comparable live offer"),
            kind_name(self.kind),
            self.region,
            f64::from(self.band.min_bp) / 100.0,
            f64::from(self.band.max_bp) / 100.0,
            if self.protocols.is_empty() {
                String::new()
            } else {
                format!(", serving {:?}", self.protocols)
            },
        )))
    }
}

/// The kind as the CLI spells it.
pub fn kind_name(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::Storage => "storage",
        ResourceKind::Compute => "compute",
    }
}

fn asset_market(
    q: &MarketQuery,
    asset: String,
    group: &[&Signed<Offer>],
    reputation: &BTreeMap<PublicKey, Option<f64>>,
    deals: &[&(Agreement, Offer)],
) -> AssetMarket {
    let unit = group
        .first()
        .map_or(PriceUnit::for_kind(q.kind), |o| o.body().price.unit);
    let rating = |p: &PublicKey| reputation.get(p).copied().flatten();
    let mut weighted: Vec<(u64, f64)> = group
        .iter()
        .map(|o| {
            let w = rating(&o.body().provider).map_or(UNRATED_WEIGHT, |r| r.clamp(0.0, 1.0));
            (o.body().price.amount, w)
        })
        .collect();
    weighted.sort_by_key(|&(price, _)| price);
    let prices: Vec<u64> = weighted.iter().map(|&(p, _)| p).collect();
    let enough = prices.len() >= MIN_COMPARABLE;
    let unweighted = enough
        .then(|| Percentiles::from_fn(|q| percentile(&prices, q)))
        .flatten();
    let by_reputation = enough
        .then(|| Percentiles::from_fn(|q| weighted_percentile(&weighted, q)))
        .flatten();
    let rank = q.price.map(|price| {
        let cheaper = prices.iter().filter(|&&p| p < price).count();
        let equal = prices.iter().filter(|&&p| p == price).count();
        Rank {
            price,
            cheaper,
            equal,
            dearer: prices.len() - cheaper - equal,
            at_or_below_pct: if prices.is_empty() {
                0.0
            } else {
                100.0 * (cheaper + equal) as f64 / prices.len() as f64
            },
        }
    });
    let price_to_win = enough
        .then(|| win_price(q, &asset, unit, group, reputation))
        .flatten();
    let suggestion = match (&price_to_win, by_reputation.or(unweighted)) {
        (Some(WinPrice::AtMost { amount }), Some(p)) => Some((*amount).min(p.p90)),
        (Some(WinPrice::AnyPrice), Some(p)) => Some(p.p50),
        _ => None,
    };
    let mut accepted: Vec<u64> = deals
        .iter()
        .map(|(a, _)| a.proposal().body().price.amount)
        .collect();
    accepted.sort_unstable();
    AssetMarket {
        offers: group.len(),
        providers: group
            .iter()
            .map(|o| o.body().provider)
            .collect::<BTreeSet<_>>()
            .len(),
        capacity: group.iter().map(|o| u128::from(o.body().capacity)).sum(),
        rated: group
            .iter()
            .filter(|o| rating(&o.body().provider).is_some())
            .count(),
        prices,
        unweighted,
        weighted: by_reputation,
        rank,
        price_to_win,
        suggestion,
        agreed: Agreed {
            count: deals.len(),
            volume: deals
                .iter()
                .map(|(a, _)| u128::from(a.proposal().body().volume))
                .sum(),
            prices: Percentiles::from_fn(|q| percentile(&accepted, q)),
        },
        asset,
        unit,
    }
}

/// The optimizer's price to win for an offer on the asked terms against `group`, for the
/// typical request in the region (no reputation floor, the optimizer's defaults otherwise).
fn win_price(
    q: &MarketQuery,
    asset: &str,
    unit: PriceUnit,
    group: &[&Signed<Offer>],
    reputation: &BTreeMap<PublicKey, Option<f64>>,
) -> Option<WinPrice> {
    let asset_code = asset.try_into().ok()?;
    let mut req = Request::new(
        q.kind,
        q.volume,
        q.duration_secs,
        Redundancy::Replicas(q.replicas),
        asset_code,
    );
    req.regions = vec![q.region.clone()];
    req.min_availability_bp = Some(AvailabilityBand::around(q.availability_bp).min_bp);
    req.tolerance_bp = 0;
    req.check().ok()?;
    let mut cands: Vec<Candidate> = group
        .iter()
        .map(|o| {
            let rating = reputation.get(&o.body().provider).copied().flatten();
            Candidate::from_offer(o.body(), o.id(), rating, vec![], None)
        })
        .collect();
    let median = |f: fn(&Candidate) -> u64| {
        let mut v: Vec<u64> = cands.iter().map(f).collect();
        v.sort_unstable();
        percentile(&v, 0.5).unwrap_or(0)
    };
    let latency = median(|c| u64::from(c.p95_latency_ms));
    let throughput = median(|c| c.throughput_bytes_per_sec);
    // The offer asked about: its own key when given, otherwise a key no real provider holds.
    let provider = q
        .provider
        .unwrap_or_else(|| SecretKey::from_seed(b"flashback/v1/price-advisor/offer").public());
    cands.push(Candidate {
        offer: ObjectId::of(b"flashback/v1/price-advisor/offer"),
        provider,
        operator: None,
        kind: q.kind,
        price: Price {
            amount: q.price.unwrap_or(0),
            asset: asset.try_into().ok()?,
            unit,
        },
        capacity: q.capacity.unwrap_or(q.volume),
        min_duration_secs: 0,
        max_duration_secs: u64::MAX,
        regions: vec![q.region.clone()],
        availability_bp: q.availability_bp,
        p95_latency_ms: u32::try_from(latency).unwrap_or(u32::MAX),
        throughput_bytes_per_sec: throughput,
        reputation: None,
        claims: vec![],
    });
    let selector = Selector::new(&req, &cands).ok()?;
    Some(match selector.price_to_win(cands.len() - 1) {
        PriceToWin::AtMost { amount } => WinPrice::AtMost { amount },
        PriceToWin::AnyPrice => WinPrice::AnyPrice,
        PriceToWin::Never { finding } => WinPrice::Never {
            reason: finding.to_string(),
        },
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use flashback_types::{Decision, samples};

    fn query(price: Option<u64>) -> MarketQuery {
        MarketQuery {
            kind: ResourceKind::Storage,
            region: "eu-west".try_into().unwrap(),
            availability_bp: 9990,
            protocols: vec![DataProtocol::S3],
            asset: None,
            capacity: None,
            price,
            provider: None,
            volume: 100 * flashback_types::GIB,
            duration_secs: 30 * 86_400,
            replicas: 3,
        }
    }

    /// Offers of fresh providers at `cents`, eu-west, 99.9 %.
    fn offers(cents: &[u64]) -> (Vec<SecretKey>, Vec<Signed<Offer>>) {
        let keys: Vec<SecretKey> = (0..cents.len()).map(|_| SecretKey::generate()).collect();
        let signed = keys
            .iter()
            .zip(cents)
            .map(|(k, &c)| {
                let mut o = samples::offer(k.public(), "o", 1, flashback_types::clock::now());
                o.price.amount = c;
                Signed::sign(o, k).unwrap()
            })
            .collect();
        (keys, signed)
    }

    #[test]
    fn weights_flags_own_offers_and_agreements_shape_the_market() {
        let (keys, mut listed) = offers(&[100, 110, 120, 130, 140, 150, 400]);
        // Out of the band, and serving another protocol only: not comparable.
        let (_, extra) = offers(&[10, 20]);
        let mut low = extra[0].body().clone();
        low.qos.availability_bp = 9900;
        let mut other = extra[1].body().clone();
        other.protocols = BoundedVec::try_from_vec(vec![DataProtocol::Ipfs]).unwrap();
        let extra_keys: Vec<SecretKey> = (0..2).map(|_| SecretKey::generate()).collect();
        low.provider = extra_keys[0].public();
        other.provider = extra_keys[1].public();
        listed.push(Signed::sign(low, &extra_keys[0]).unwrap());
        listed.push(Signed::sign(other, &extra_keys[1]).unwrap());

        // The 400 offer's provider has a perfect score; the rest are unrated (weight 0.5) but
        // the 100 one, flagged for equivocation.
        let mut reputation = BTreeMap::new();
        reputation.insert(keys[6].public(), Some(1.0));
        let flagged = vec![keys[0].public()];

        // One agreement on the 120 offer.
        let now = flashback_types::clock::now();
        let consumer = SecretKey::generate();
        let body = samples::proposal(
            consumer.public(),
            listed[2].body(),
            listed[2].id(),
            5 << 30,
            86_400,
            now,
        );
        let proposal = Signed::sign(body, &consumer).unwrap();
        let decision = samples::decision(proposal.body(), proposal.id(), Decision::Accept, now);
        let acceptance = Signed::sign(decision, &keys[2]).unwrap();
        let agreement = Agreement::from_parts(proposal, acceptance).unwrap();
        let agreements = vec![(agreement, listed[2].body().clone())];

        let m = Market::build(
            &query(Some(125)),
            &listed,
            &reputation,
            &flagged,
            &agreements,
        );
        assert_eq!((m.listed, m.flagged), (9, 1));
        let usd = &m.assets[0];
        assert_eq!(usd.prices, vec![110, 120, 130, 140, 150, 400]);
        let plain = usd.unweighted.unwrap();
        assert_eq!((plain.p50, plain.p90), (130, 400));
        // Weights 0.5 × 5 and 1.0 for 400: 400 holds 2/7 of the weight, so p75 moves to it.
        let weighted = usd.weighted.unwrap();
        assert_eq!((weighted.p50, weighted.p75), (140, 400));
        assert_eq!((usd.rated, usd.providers), (1, 6));
        let rank = usd.rank.unwrap();
        assert_eq!((rank.cheaper, rank.equal, rank.dearer), (2, 0, 4));
        // Three cheapest others are 110, 120, 130: below 130 it is picked.
        assert_eq!(usd.price_to_win, Some(WinPrice::AtMost { amount: 129 }));
        assert_eq!(usd.suggestion, Some(129));
        assert_eq!(usd.agreed.count, 1);
        assert_eq!(usd.agreed.volume, 5 << 30);
        assert_eq!(usd.agreed.prices.unwrap().p50, 120);
        assert!(m.suggest().is_ok());

        // Asked by the 400 provider itself: its offer is not its competition, and five left
        // is still enough.
        let mut own = query(None);
        own.provider = Some(keys[6].public());
        let m = Market::build(&own, &listed, &reputation, &flagged, &agreements);
        assert_eq!(m.assets[0].offers, 5);
        assert!(m.suggest().is_ok());
        // One more filter and it is too little.
        own.asset = Some("EUR".into());
        let m = Market::build(&own, &listed, &reputation, &flagged, &agreements);
        let err = m.suggest().unwrap_err();
        assert_eq!(err.code(), flashback_types::ErrorCode::TooLittleData);
        assert!(
            err.to_string().contains("only 0 comparable live offers"),
            "{err}"
        );
    }

    #[test]
    fn the_band_is_a_factor_of_two_of_downtime() {
        let b = AvailabilityBand::around(9990);
        assert_eq!((b.min_bp, b.max_bp), (9980, 9995));
        assert!(b.contains(9990) && b.contains(9980) && !b.contains(9979) && !b.contains(9996));
        let b = AvailabilityBand::around(9900);
        assert_eq!((b.min_bp, b.max_bp), (9800, 9950));
        assert_eq!(AvailabilityBand::around(10_000).min_bp, 10_000);
        assert_eq!(AvailabilityBand::around(0).min_bp, 0);
    }
}
