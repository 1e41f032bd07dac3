//! The placement optimizer's feed: candidates built from the listing, every object verified.
//!
//! [`Client::candidates`] pages through every live offer that matches the request's
//! prefilters (kind, regions, capacity for one pick, availability and latency floors), asks
//! for each provider's reputation (unrated when the node counted too little evidence) and the claims each
//! provider holds by a trust store (the node's, or the caller's: [`TrustSource`]), from the
//! certificates about it, every verdict recomputed by the client. The optimizer
//! (`flashback-select`) then applies every rule itself, so a node that filters wrongly can
//! hide an offer but cannot slip in one that breaks the request.

use std::collections::{BTreeMap, BTreeSet};

use flashback_select::{Candidate, Request};
use flashback_types::{
    BoundedVec, Claim, Offer, OfferQuery, PublicKey, ShortText, Signed, SortKey,
};

use crate::{Client, ClientError, TrustSource};

/// The claim name that declares a provider's operator (at most one pick per operator).
pub const OPERATOR_CLAIM: &str = "operator";

/// Most offers one feed fetches (pages of 200): a bound on memory and on the node's work.
pub const MAX_FEED_OFFERS: usize = crate::MAX_ALL_OFFERS;

/// Candidates for one request and what they came from.
#[derive(Debug, Clone)]
pub struct Feed {
    /// One per offer, in the order the node listed them (cheapest first).
    pub candidates: Vec<Candidate>,
    /// The verified offers, in the same order.
    pub offers: Vec<Signed<Offer>>,
    /// Pages fetched.
    pub pages: usize,
    /// Providers left out because the node holds evidence that they equivocated.
    pub flagged: Vec<PublicKey>,
    /// Whether the listing had more matching offers than [`MAX_FEED_OFFERS`].
    pub truncated: bool,
}

impl Client {
    /// Builds the candidates for `req` from the listing: all pages of live offers matching
    /// its prefilters, each provider's reputation (providers the node flagged for
    /// equivocation are left out), and the claims each provider holds by `trust`.
    pub async fn candidates(
        &self,
        req: &Request,
        trust: &TrustSource,
    ) -> Result<Feed, ClientError> {
        let query = prefilters(req);
        let (offers, pages, truncated) = self.all_offers_live(&query).await?;

        // Reputation per provider, from the node's report (its counted attestations).
        let providers: BTreeSet<PublicKey> = offers.iter().map(|o| o.body().provider).collect();
        let (reputation, flagged) = self.reputations(&providers).await?;

        let providers: Vec<PublicKey> = providers.into_iter().collect();
        let claims = self.claims_of(&providers, trust).await?;
        let mut candidates = Vec::with_capacity(offers.len());
        let mut kept = Vec::with_capacity(offers.len());
        for offer in offers {
            let body = offer.body();
            if flagged.contains(&body.provider) {
                continue;
            }
            let held: Vec<Claim> = claims.get(&body.provider).cloned().unwrap_or_default();
            let operator = held
                .iter()
                .find(|c| c.name.as_str() == OPERATOR_CLAIM)
                .and_then(|c| ShortText::new(c.value.as_str()).ok());
            let rating = reputation.get(&body.provider).copied().flatten();
            candidates.push(Candidate::from_offer(
                body,
                offer.id(),
                rating,
                held,
                operator,
            ));
            kept.push(offer);
        }
        Ok(Feed {
            candidates,
            offers: kept,
            pages,
            flagged,
            truncated,
        })
    }

    /// Each provider's reputation from the node's report (`None`: unrated, its counted
    /// evidence below the node's `rated_at`), and the providers the node flagged for
    /// equivocation.
    pub(crate) async fn reputations(
        &self,
        providers: &BTreeSet<PublicKey>,
    ) -> Result<(BTreeMap<PublicKey, Option<f64>>, Vec<PublicKey>), ClientError> {
        let mut reputation = BTreeMap::new();
        let mut flagged = Vec::new();
        for p in providers {
            let report = self.provider_report(*p).await?.report;
            if report.flagged {
                flagged.push(*p);
            }
            // Unrated stays unrated (decision 0059); a non-finite number is no score either.
            reputation.insert(*p, report.score.filter(|s| s.is_finite()));
        }
        Ok((reputation, flagged))
    }

    /// Every page of live offers of `query` (at most [`MAX_FEED_OFFERS`]).
    pub(crate) async fn all_offers_live(
        &self,
        query: &OfferQuery,
    ) -> Result<(Vec<Signed<Offer>>, usize, bool), ClientError> {
        let all = self.all_offers(query, MAX_FEED_OFFERS).await?;
        let live = all
            .offers
            .into_iter()
            .filter(|o| !o.body().withdrawn)
            .collect();
        Ok((live, all.pages, all.truncated))
    }
}

/// The listing query that fetches what `req` could use: the node filters by what it can
/// judge alike for every consumer; the optimizer applies every rule again.
pub fn prefilters(req: &Request) -> OfferQuery {
    OfferQuery {
        kind: Some(req.kind),
        // The query carries at most 16 regions; with more, the optimizer alone filters.
        regions: BoundedVec::try_from_vec(req.regions.clone()).unwrap_or_default(),
        min_capacity: Some(req.redundancy.share(req.volume)),
        min_availability_bp: req.min_availability_bp,
        max_p95_latency_ms: req.max_p95_latency_ms,
        sort: SortKey::Price,
        limit: flashback_types::MAX_QUERY_LIMIT,
        ..OfferQuery::default()
    }
}
