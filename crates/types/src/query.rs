//! Listing queries: what a light client asks a full node for. Shared by the store (which
//! answers), the query protocol (which carries it) and the client (which builds it).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::bodies::{
    Certificate, DataProtocol, ObjectId, Price, PriceUnit, ResourceKind, ShortText,
};
use crate::encoding::{BoundedString, BoundedVec};
use crate::keys::PublicKey;
use crate::trust::{ClaimFilter, TrustStore};

/// Most results one query page may return; a query asking for more is refused (page through
/// with the cursor instead).
pub const MAX_QUERY_LIMIT: u32 = 200;

/// Results in a page when the query leaves `limit` at 0.
pub const DEFAULT_QUERY_LIMIT: u32 = 20;

/// Order of results. Ties are broken by object id so pages are stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SortKey {
    /// Cheapest first within each price group, one group per pricing unit and asset
    /// ([`price_group`]: per GiB-month before per unit-hour, then by asset code). Prices in
    /// different assets are never ranked against each other: a node's rate table decides what
    /// passes a `max_price` in another asset, not the order.
    #[default]
    Price,
    /// Highest reputation first; unrated providers last.
    Reputation,
    /// Largest capacity first.
    Capacity,
    /// Most recently created first.
    Newest,
}

/// Filters and order for an offer query. Every filter is optional; all given filters must hold.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct OfferQuery {
    /// Only this kind.
    pub kind: Option<ResourceKind>,
    /// Offers serving at least one of these regions (empty = any).
    pub regions: BoundedVec<ShortText, 16>,
    /// Offers serving this protocol.
    pub protocol: Option<DataProtocol>,
    /// Unit price at most this (converted through the node's rate table when assets differ;
    /// offers whose asset has no rate are left out, never mispriced).
    pub max_price: Option<Price>,
    /// Capacity at least this (bytes or units).
    pub min_capacity: Option<u64>,
    /// Availability target at least this, basis points.
    pub min_availability_bp: Option<u16>,
    /// p95 latency target at most this, ms (offers promising nothing are left out).
    pub max_p95_latency_ms: Option<u32>,
    /// Provider holds a valid, unrevoked certificate from this certifier.
    pub certified_by: Option<PublicKey>,
    /// Provider holds every one of these claims under the node's trust store (trusted
    /// issuers, live, unrevoked, within their schemes, as many issuers as the claim needs).
    pub certified: BoundedVec<ClaimFilter, 8>,
    /// Offers declaring at least one of these jurisdictions (empty = any).
    pub jurisdictions: BoundedVec<ShortText, 16>,
    /// Provider reputation score at least this (0.0 ..= 1.0, scaled by 10 000: 7500 = 0.75).
    /// Unrated providers (no score: not enough counted evidence) are left out unless
    /// `include_unrated`.
    pub min_reputation_bp: Option<u16>,
    /// Only this provider's offers.
    pub provider: Option<PublicKey>,
    /// Include withdrawn offers (tombstones). Default false.
    pub include_withdrawn: bool,
    /// Order.
    pub sort: SortKey,
    /// At most this many results: 1 to [`MAX_QUERY_LIMIT`], or 0 for
    /// [`DEFAULT_QUERY_LIMIT`]. A node refuses a larger limit ([`OfferQuery::check_limit`]).
    pub limit: u32,
    /// Continue after this cursor (from the previous page).
    pub cursor: Option<Cursor>,
    /// Only offers priced in this asset.
    pub asset: Option<BoundedString<12>>,
    /// Only offers with this offer key (with `provider`: one offer).
    pub offer_key: Option<ShortText>,
    /// With `min_reputation_bp`: keep unrated providers too (they have no score to compare).
    /// A reputation sort puts them last either way.
    pub include_unrated: bool,
}

impl OfferQuery {
    /// The page size: `limit`, or [`DEFAULT_QUERY_LIMIT`] for 0, never above
    /// [`MAX_QUERY_LIMIT`] (a node refuses such a query before it gets here).
    pub fn effective_limit(&self) -> usize {
        match self.limit {
            0 => DEFAULT_QUERY_LIMIT as usize,
            n => n.min(MAX_QUERY_LIMIT) as usize,
        }
    }

    /// Refuses a limit above [`MAX_QUERY_LIMIT`], rather than answering fewer results than
    /// asked for without a word.
    pub fn check_limit(&self) -> Result<(), String> {
        if self.limit > MAX_QUERY_LIMIT {
            return Err(format!(
                "limit {} is above {MAX_QUERY_LIMIT}, the most one page holds: ask for at most \
                 {MAX_QUERY_LIMIT} and continue with the next page's cursor",
                self.limit
            ));
        }
        Ok(())
    }
}

/// The price group of a pricing unit and an asset code: offers are ranked on price only
/// within one group. The number orders groups by unit (GiB-month first), then by asset code
/// (`0-9` before `A-Z`, a shorter code before its extensions), and two groups never share a
/// number: a code (1 to 12 of `A-Z0-9`) is read as a base-37 number of 12 digits, 0 padding
/// its end, and 37^12 codes of each unit fit twice in a `u64`.
pub fn price_group(unit: PriceUnit, asset: &str) -> u64 {
    const CODES: u64 = 6_582_952_005_840_035_281; // 37^12
    let mut code = 0u64;
    let mut bytes = asset.bytes();
    for _ in 0..12 {
        let digit = match bytes.next() {
            None => 0,
            Some(b @ b'0'..=b'9') => u64::from(b - b'0') + 1,
            Some(b @ b'A'..=b'Z') => u64::from(b - b'A') + 11,
            // Not an asset code (a node never holds such a price): after every real code.
            Some(_) => 36,
        };
        code = code * 37 + digit;
    }
    let unit = match unit {
        PriceUnit::GibMonth => 0,
        PriceUnit::UnitHour => 1,
    };
    unit * CODES + code
}

/// An opaque position in a sorted result list: the sort value and id of the last item
/// returned (and its price group, for a price sort). Written as 96 hex characters for people
/// and scripts (`Display`, `FromStr`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Cursor {
    /// The sort value of the last item (meaning depends on [`SortKey`]).
    pub after_value: u64,
    /// The id of the last item.
    pub after_id: ObjectId,
    /// The [`price_group`] of the last item for a price sort; 0 otherwise.
    pub after_group: u64,
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:016x}{:016x}{}",
            self.after_group, self.after_value, self.after_id
        )
    }
}

impl FromStr for Cursor {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("{s:?} is not a cursor (96 hex characters, as a page prints it)");
        let s = s.trim();
        if s.len() != 96 || !s.is_ascii() {
            return Err(bad());
        }
        let number = |part: &str| u64::from_str_radix(part, 16).map_err(|_| bad());
        Ok(Cursor {
            after_group: number(&s[..16])?,
            after_value: number(&s[16..32])?,
            after_id: s[32..].parse().map_err(|_| bad())?,
        })
    }
}

/// Which ids a prefix is resolved among ([`IdPrefix`], `QueryRequest::Resolve`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdSpace {
    /// Offer ids (every version the node holds).
    Offers,
    /// Agreement ids (an agreement is named by its proposal's id).
    Agreements,
    /// Public keys the node knows: providers with offers, parties to agreements, attesters.
    Keys,
}

impl IdSpace {
    /// What the ids name, for messages: `offer`, `agreement`, `key`.
    pub fn noun(self) -> &'static str {
        match self {
            IdSpace::Offers => "offer",
            IdSpace::Agreements => "agreement",
            IdSpace::Keys => "key",
        }
    }
}

/// Fewest hex characters a prefix may have: 8 (32 bits) keeps an accidental match among a
/// million ids unlikely, and a match is shown in full before anything is signed with it.
pub const MIN_ID_PREFIX: usize = 8;

/// The start of an id or key as a person types it: [`MIN_ID_PREFIX`] to 64 hex characters,
/// like git's abbreviated hashes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdPrefix(String);

impl IdPrefix {
    /// The prefix, lowercase.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// All 32 bytes, when the prefix is a whole id.
    pub fn full(&self) -> Option<[u8; 32]> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(&self.0, &mut out).ok()?;
        Some(out)
    }

    /// The smallest and largest 32 bytes that start with the prefix.
    pub fn range(&self) -> ([u8; 32], [u8; 32]) {
        let (mut lo, mut hi) = ([0u8; 32], [0xffu8; 32]);
        for (i, c) in self.0.bytes().enumerate() {
            let nibble = (c as char).to_digit(16).unwrap_or(0) as u8;
            let (shift, keep) = if i % 2 == 0 { (4, 0x0f) } else { (0, 0xf0) };
            lo[i / 2] = (lo[i / 2] & keep) | (nibble << shift);
            hi[i / 2] = (hi[i / 2] & keep) | (nibble << shift);
        }
        (lo, hi)
    }

    /// Whether `bytes` start with the prefix.
    pub fn matches(&self, bytes: &[u8; 32]) -> bool {
        let (lo, hi) = self.range();
        lo.as_slice() <= bytes.as_slice() && bytes.as_slice() <= hi.as_slice()
    }
}

impl FromStr for IdPrefix {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text = s.trim().to_ascii_lowercase();
        if !(MIN_ID_PREFIX..=64).contains(&text.len())
            || !text.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err(format!(
                "{s:?} is not an id: give {MIN_ID_PREFIX} to 64 hex characters (any unique start \
                 of it)"
            ));
        }
        Ok(Self(text))
    }
}

impl fmt::Display for IdPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn price_groups_order_by_unit_then_asset_code() {
        let g = |unit, asset| price_group(unit, asset);
        let storage = [
            "0",
            "1BTC",
            "9",
            "A",
            "AA",
            "AB",
            "B",
            "BTC",
            "EUR",
            "USD",
            "USDC",
            "XLM",
            "Z",
            "ZZZZZZZZZZZZ",
        ];
        for w in storage.windows(2) {
            assert!(
                g(PriceUnit::GibMonth, w[0]) < g(PriceUnit::GibMonth, w[1]),
                "{w:?}"
            );
        }
        assert!(g(PriceUnit::GibMonth, "ZZZZZZZZZZZZ") < g(PriceUnit::UnitHour, "0"));
        assert!(g(PriceUnit::UnitHour, "ZZZZZZZZZZZZ") < u64::MAX);
    }

    #[test]
    fn cursors_round_trip_as_text() {
        let c = Cursor {
            after_value: 120,
            after_id: crate::Hash32::of(b"x"),
            after_group: price_group(PriceUnit::GibMonth, "USD"),
        };
        assert_eq!(c.to_string().len(), 96);
        assert_eq!(c.to_string().parse::<Cursor>(), Ok(c));
        assert!("abc".parse::<Cursor>().is_err());
        assert!("g".repeat(96).parse::<Cursor>().is_err());
    }

    #[test]
    fn prefixes_match_what_they_start() {
        let id = crate::Hash32::of(b"an id");
        let text = id.to_string();
        for len in [8, 9, 31, 64] {
            let p: IdPrefix = text[..len].to_uppercase().parse().unwrap();
            assert!(p.matches(&id.0), "{len}");
            assert_eq!(p.full().is_some(), len == 64);
        }
        let other = crate::Hash32::of(b"another");
        let p: IdPrefix = text[..10].parse().unwrap();
        assert_eq!(
            p.matches(&other.0),
            other.to_string().starts_with(&text[..10])
        );
        assert!("1234567".parse::<IdPrefix>().is_err());
        assert!("123456789x".parse::<IdPrefix>().is_err());
        assert!("1".repeat(65).parse::<IdPrefix>().is_err());
    }
}

/// Most certificates one certificate or register page returns.
pub const MAX_CERT_LIMIT: u32 = 256;

/// Certificates a light client asks a node for, each answered with its status under the
/// node's trust store. Every filter is optional; all given filters must hold.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CertQuery {
    /// These certificates (empty = any).
    pub ids: BoundedVec<ObjectId, 256>,
    /// About one of these keys (empty = any).
    pub subjects: BoundedVec<PublicKey, 256>,
    /// Issued by one of these keys (empty = any).
    pub issuers: BoundedVec<PublicKey, 64>,
    /// Stating this claim.
    pub claim: Option<ClaimFilter>,
    /// Only from issuers in the node's trust store (leaves out what strangers say about a key).
    pub trusted_only: bool,
    /// At most this many (capped at [`MAX_CERT_LIMIT`]; 0 means the cap).
    pub limit: u32,
    /// Continue after this certificate id (results come in id order).
    pub after: Option<ObjectId>,
}

impl CertQuery {
    /// Whether the certificate `id` matches every filter (the cursor aside), with `trust`
    /// the answering node's trust store.
    pub fn matches(&self, id: &ObjectId, cert: &Certificate, trust: &TrustStore) -> bool {
        (self.ids.is_empty() || self.ids.contains(id))
            && (self.subjects.is_empty() || self.subjects.contains(&cert.subject))
            && (self.issuers.is_empty() || self.issuers.contains(&cert.issuer))
            && self
                .claim
                .as_ref()
                .is_none_or(|f| cert.claims.iter().any(|c| f.matches(c)))
            && (!self.trusted_only || trust.issuer(&cert.issuer).is_some())
    }

    /// The effective page size.
    pub fn effective_limit(&self) -> usize {
        match self.limit {
            0 => MAX_CERT_LIMIT as usize,
            n => n.min(MAX_CERT_LIMIT) as usize,
        }
    }
}

/// Whose register.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegisterRole {
    /// Keys with at least one live offer.
    #[default]
    Providers,
    /// Keys that are the consumer of an agreement the node holds.
    Consumers,
    /// Every certified key.
    Any,
}

/// A register: certified keys of one role, by the node's trust store, in key order.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RegisterQuery {
    /// Providers, consumers, or anyone.
    pub role: RegisterRole,
    /// Only keys holding this claim.
    pub claim: Option<ClaimFilter>,
    /// Only keys with a valid certificate from the issuer of this name in the node's trust
    /// store (an unknown name is an error).
    pub issuer: Option<ShortText>,
    /// Also keys whose certificates from trusted issuers all fail (their statuses say why).
    pub include_uncertified: bool,
    /// At most this many keys (capped at 64; 0 means 64).
    pub limit: u32,
    /// Continue after this key.
    pub after: Option<PublicKey>,
}

impl RegisterQuery {
    /// The effective number of keys per page.
    pub fn effective_limit(&self) -> usize {
        match self.limit {
            0 => 64,
            n => n.min(64) as usize,
        }
    }
}
