//! The listing query as URL parameters (`GET /api/v1/offers?region=eu-west&sort=price`): the
//! same filters, order and paging as `flashback listing query`, with every value in the JSON
//! units (sizes in bytes, prices in minor units). Lists are comma-separated.

use std::str::FromStr;

use flashback_types::query::MAX_QUERY_LIMIT;
use flashback_types::{
    BoundedString, BoundedVec, ClaimFilter, Cursor, DataProtocol, OfferQuery, Price, PriceUnit,
    PublicKey, ResourceKind, SortKey,
};
use serde::{Deserialize, Serialize};
use utoipa::IntoParams;

/// Filters, order and paging of a listing query. Every filter is optional; all given must hold.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, IntoParams)]
#[serde(default, deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListingParams {
    /// `storage` or `compute`.
    pub kind: Option<String>,
    /// Regions, comma-separated: offers serving at least one.
    pub region: Option<String>,
    /// A data protocol the offer serves (`s3`, `https`, `ipfs`, `sftp`, `flashback_blob`, …).
    pub protocol: Option<String>,
    /// Unit price at most this, minor units of `asset` (needs `asset`).
    pub max_price: Option<u64>,
    /// Only offers priced in this asset (`USD`).
    pub asset: Option<String>,
    /// Capacity at least this: bytes for storage, units for compute.
    pub min_capacity: Option<u64>,
    /// Availability target at least this, basis points (9990 = 99.90 %).
    pub min_availability_bp: Option<u16>,
    /// p95 latency target at most this, ms.
    pub max_latency_ms: Option<u32>,
    /// Provider reputation at least this, 0.0 to 1.0.
    pub min_reputation: Option<f64>,
    /// Claims the provider must hold, comma-separated (`jurisdiction=eu,iso27001`).
    pub certified: Option<String>,
    /// Jurisdictions, comma-separated: offers declaring at least one.
    pub jurisdiction: Option<String>,
    /// Only this provider's offers (key, hex).
    pub provider: Option<String>,
    /// Include withdrawn offers.
    pub include_withdrawn: Option<bool>,
    /// With `min_reputation`: keep unrated providers too (they have no score to compare); a
    /// reputation sort lists them last.
    pub include_unrated: Option<bool>,
    /// `price` (default), `reputation`, `capacity` or `newest`.
    pub sort: Option<String>,
    /// Page size, 1 to 200 (default 20).
    pub limit: Option<u32>,
    /// The `next` of the previous page.
    pub after: Option<String>,
}

/// A data protocol by its JSON name ([`crate::view::protocol_name`]'s inverse; `-` may stand
/// for `_`). Any other name is `Other`.
pub fn parse_protocol(text: &str) -> Result<DataProtocol, String> {
    Ok(match text.trim().to_ascii_lowercase().as_str() {
        "s3" => DataProtocol::S3,
        "https" => DataProtocol::Https,
        "ipfs" => DataProtocol::Ipfs,
        "sftp" => DataProtocol::Sftp,
        "flashback_blob" | "flashback-blob" => DataProtocol::FlashbackBlob,
        other if flashback_types::valid_protocol_name(other) => {
            DataProtocol::Other(other.try_into().map_err(|e| format!("{other:?}: {e}"))?)
        }
        other => {
            return Err(format!(
                "{other:?} is not a protocol name (1-64 of [a-z0-9._-])"
            ));
        }
    })
}

fn list(text: &Option<String>) -> impl Iterator<Item = &str> {
    text.as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

fn bounded<T, const N: usize>(name: &str, items: Vec<T>) -> Result<BoundedVec<T, N>, String> {
    BoundedVec::try_from_vec(items).map_err(|e| format!("{name}: {e}"))
}

impl ListingParams {
    /// The query these parameters ask for, or what is wrong with them (a message that names
    /// the parameter and says what to give instead).
    pub fn to_query(&self) -> Result<OfferQuery, String> {
        let kind = match self.kind.as_deref() {
            None | Some("") => None,
            Some("storage") => Some(ResourceKind::Storage),
            Some("compute") => Some(ResourceKind::Compute),
            Some(other) => return Err(format!("kind {other:?}: use storage or compute")),
        };
        let sort = match self.sort.as_deref().unwrap_or("price") {
            "price" | "" => SortKey::Price,
            "reputation" => SortKey::Reputation,
            "capacity" => SortKey::Capacity,
            "newest" => SortKey::Newest,
            other => {
                return Err(format!(
                    "sort {other:?}: use price, reputation, capacity or newest"
                ));
            }
        };
        let regions = list(&self.region)
            .map(|r| r.try_into().map_err(|e| format!("region {r:?}: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        let jurisdictions = list(&self.jurisdiction)
            .map(|r| r.try_into().map_err(|e| format!("jurisdiction {r:?}: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        let certified = list(&self.certified)
            .map(|c| {
                c.parse::<ClaimFilter>()
                    .map_err(|e| format!("certified {c:?}: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let asset: Option<BoundedString<12>> = self
            .asset
            .as_deref()
            .filter(|a| !a.is_empty())
            .map(|a| {
                a.to_ascii_uppercase()
                    .as_str()
                    .try_into()
                    .map_err(|e| format!("asset {a:?}: {e}"))
            })
            .transpose()?;
        let max_price = match (self.max_price, &asset) {
            (Some(amount), Some(asset)) => Some(Price {
                amount,
                asset: asset.clone(),
                unit: PriceUnit::for_kind(kind.unwrap_or(ResourceKind::Storage)),
            }),
            (Some(_), None) => return Err("max_price needs asset (e.g. asset=USD)".into()),
            (None, _) => None,
        };
        let min_reputation_bp = match self.min_reputation {
            Some(s) if !(0.0..=1.0).contains(&s) => {
                return Err(format!(
                    "min_reputation {s}: use a score between 0.0 and 1.0"
                ));
            }
            Some(s) => Some((s * 10_000.0).round() as u16),
            None => None,
        };
        let provider = self
            .provider
            .as_deref()
            .filter(|p| !p.is_empty())
            .map(|p| PublicKey::from_str(p).map_err(|e| format!("provider {p:?}: {e}")))
            .transpose()?;
        let cursor = self
            .after
            .as_deref()
            .filter(|c| !c.is_empty())
            .map(|c| c.parse::<Cursor>().map_err(|e| format!("after: {e}")))
            .transpose()?;
        let limit = self.limit.unwrap_or(0);
        if limit > MAX_QUERY_LIMIT {
            return Err(format!(
                "limit {limit} is above {MAX_QUERY_LIMIT}, the most one page holds: continue \
                 with the page's next cursor"
            ));
        }
        Ok(OfferQuery {
            kind,
            regions: bounded("region", regions)?,
            protocol: self
                .protocol
                .as_deref()
                .filter(|p| !p.is_empty())
                .map(parse_protocol)
                .transpose()
                .map_err(|e| format!("protocol {e}"))?,
            max_price,
            min_capacity: self.min_capacity,
            min_availability_bp: self.min_availability_bp,
            max_p95_latency_ms: self.max_latency_ms,
            certified_by: None,
            certified: bounded("certified", certified)?,
            jurisdictions: bounded("jurisdiction", jurisdictions)?,
            min_reputation_bp,
            provider,
            include_withdrawn: self.include_withdrawn.unwrap_or(false),
            include_unrated: self.include_unrated.unwrap_or(false),
            sort,
            limit,
            cursor,
            asset,
            offer_key: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_make_the_query_or_say_what_is_wrong() {
        let p = ListingParams {
            region: Some("eu-west, us-east".into()),
            sort: Some("newest".into()),
            max_price: Some(150),
            asset: Some("usd".into()),
            limit: Some(5),
            ..Default::default()
        };
        let q = p.to_query().unwrap();
        assert_eq!(q.regions.len(), 2);
        assert_eq!(q.sort, SortKey::Newest);
        assert_eq!(q.max_price.unwrap().asset.as_str(), "USD");
        let bad = ListingParams {
            limit: Some(500),
            ..Default::default()
        };
        assert!(bad.to_query().unwrap_err().contains("limit 500"));
        let bad = ListingParams {
            max_price: Some(1),
            ..Default::default()
        };
        assert!(bad.to_query().unwrap_err().contains("needs asset"));
        let bad = ListingParams {
            sort: Some("cheap".into()),
            ..Default::default()
        };
        assert!(bad.to_query().unwrap_err().contains("sort"));
    }
}
