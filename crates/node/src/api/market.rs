//! Market statistics: price percentiles by kind, asset and region, and capacity offered, over
//! the live offers (at most [`MAX_MARKET_OFFERS`] per request).

use std::collections::{BTreeMap, BTreeSet};

use axum::extract::State;
use flashback_api::view::{MarketView, PriceGroup, kind_name, unit_name};
use flashback_types::clock::now;
use flashback_types::query::MAX_QUERY_LIMIT;
use flashback_types::stats::percentile;
use flashback_types::{OfferQuery, ResourceKind};

use super::{ApiResult, ApiState, MAX_MARKET_OFFERS, json};
use crate::blocking;

/// Prices and capacity of one group, as they are collected.
#[derive(Default)]
struct Collected {
    prices: Vec<u64>,
    capacity: u64,
}

/// Price distributions and capacity offered, over live offers.
#[utoipa::path(
    get, path = "/api/v1/market", tag = "listing",
    responses((status = 200, description = "Market statistics", body = MarketView))
)]
pub(crate) async fn market(State(state): State<ApiState>) -> ApiResult {
    let store = state.services.store.clone();
    let view = blocking(move || {
        let now = now();
        let mut query = OfferQuery {
            limit: MAX_QUERY_LIMIT,
            ..OfferQuery::default()
        };
        let mut groups: BTreeMap<(String, String, String, String), Collected> = BTreeMap::new();
        let (mut offers, mut storage_bytes, mut compute_units) = (0u64, 0u64, 0u64);
        let mut providers = BTreeSet::new();
        let mut truncated = false;
        loop {
            let page = store.query_offers(&query, now)?;
            for o in &page.offers {
                let b = o.body();
                offers += 1;
                providers.insert(b.provider);
                match b.kind {
                    ResourceKind::Storage => {
                        storage_bytes = storage_bytes.saturating_add(b.capacity)
                    }
                    ResourceKind::Compute => {
                        compute_units = compute_units.saturating_add(b.capacity)
                    }
                }
                let regions: Vec<String> = if b.regions.is_empty() {
                    vec!["any".into()]
                } else {
                    b.regions.iter().map(|r| r.as_str().to_owned()).collect()
                };
                for region in regions {
                    let key = (
                        kind_name(b.kind).to_owned(),
                        b.price.asset.as_str().to_owned(),
                        unit_name(b.price.unit).to_owned(),
                        region,
                    );
                    let g = groups.entry(key).or_default();
                    g.prices.push(b.price.amount);
                    g.capacity = g.capacity.saturating_add(b.capacity);
                }
            }
            match page.next_cursor {
                Some(_) if offers as usize >= MAX_MARKET_OFFERS => {
                    truncated = true;
                    break;
                }
                Some(next) => query.cursor = Some(next),
                None => break,
            }
        }
        let groups = groups
            .into_iter()
            .map(|((kind, asset, unit, region), mut g)| {
                g.prices.sort_unstable();
                let at = |q| percentile(&g.prices, q).unwrap_or(0);
                PriceGroup {
                    kind,
                    asset,
                    unit,
                    region,
                    offers: g.prices.len() as u64,
                    min: at(0.0),
                    p50: at(0.5),
                    p90: at(0.9),
                    max: at(1.0),
                    capacity: g.capacity,
                }
            })
            .collect();
        Ok(MarketView {
            offers,
            providers: providers.len() as u64,
            storage_bytes,
            compute_units,
            groups,
            truncated,
        })
    })
    .await?;
    Ok(json(&view))
}
