//! Reads: objects by id, offer queries, SLA lookups, certificates, counts and reputation.

use std::collections::HashSet;
use std::sync::Arc;

use flashback_types::{
    AccessGrant, Agreement, Cursor, Demand, EquivocationEvidence, Kind, Object, ObjectId, Offer,
    OfferQuery, PerKind, PriceUnit, PublicKey, QosAttestation, Quote, ShortText, Signed,
    SlaDecision, SlaProposal, Termination, Timestamp,
};

use super::{Counts, Home, Idx, QueryPage, State, Store, Tree, home, lock};
use crate::error::StoreError;
use crate::index::{PageIds, Plan, PriceFilter, Scores};
use crate::reputation::{self, Assessment, Explanation, Reputation};

impl Store {
    /// Any stored object by id (expired ones too, until collected).
    pub fn get(&self, id: &ObjectId) -> Result<Option<Object>, StoreError> {
        for t in Kind::ALL.map(Tree::Objects) {
            if let Some(o) = self.load_object(t, id)? {
                return Ok(Some(o));
            }
        }
        Ok(None)
    }

    /// Offers named by the index, from the hot-offer cache or sled. Call with the state lock
    /// held, so that none of them can be deleted meanwhile.
    fn offers_by_ids(&self, ids: &[ObjectId]) -> Result<Vec<Signed<Offer>>, StoreError> {
        let mut out: Vec<Option<Signed<Offer>>> = {
            let mut cache = lock(&self.inner.offer_cache);
            ids.iter().map(|id| cache.get(id)).collect()
        };
        let mut loaded = Vec::new();
        for (slot, id) in out.iter_mut().zip(ids) {
            if slot.is_some() {
                continue;
            }
            match self.load_signed::<Offer>(Tree::Objects(Kind::Offer), id)? {
                Some(o) => {
                    loaded.push(o.clone());
                    *slot = Some(o);
                }
                None => {
                    if let Some(e) = self.poisoned() {
                        return Err(e);
                    }
                    return Err(self.corrupt_at(
                        Tree::Objects(Kind::Offer),
                        id,
                        "indexed offer is missing",
                    ));
                }
            }
        }
        if !loaded.is_empty() {
            let mut cache = lock(&self.inner.offer_cache);
            for o in loaded {
                cache.insert(o);
            }
        }
        Ok(out.into_iter().flatten().collect())
    }

    /// Like [`Store::fetch_offers`] without the hot-offer cache: sled lookup, checksum and
    /// decode for every offer (the benchmark's cold path).
    #[doc(hidden)]
    pub fn fetch_offers_uncached(
        &self,
        ids: &[ObjectId],
    ) -> Result<Vec<Signed<Offer>>, StoreError> {
        let _st = self.read_state();
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(o) = self.load_signed::<Offer>(Tree::Objects(Kind::Offer), id)? {
                out.push(o);
            }
        }
        Ok(out)
    }

    /// Offers matching `query` at `now`, one page, signed. See [`OfferQuery`] for the filters;
    /// pages continue with `next_cursor` and never repeat or skip an offer while the listing
    /// is unchanged.
    pub fn query_offers(
        &self,
        query: &OfferQuery,
        now: Timestamp,
    ) -> Result<QueryPage, StoreError> {
        let st = self.read_state();
        let page = self.query_ids(&st, query, now);
        let offers = self.offers_by_ids(&page.ids)?;
        Ok(QueryPage {
            offers,
            next_cursor: page.next,
        })
    }

    /// The ids of one page of `query` (the in-memory half of [`Store::query_offers`]; the
    /// benchmark times it separately).
    #[doc(hidden)]
    pub fn query_offer_ids(
        &self,
        query: &OfferQuery,
        now: Timestamp,
    ) -> (Vec<ObjectId>, Option<Cursor>) {
        let st = self.read_state();
        let page = self.query_ids(&st, query, now);
        (page.ids, page.next)
    }

    /// Fetches offers by id from sled (the second half of [`Store::query_offers`]).
    #[doc(hidden)]
    pub fn fetch_offers(&self, ids: &[ObjectId]) -> Result<Vec<Signed<Offer>>, StoreError> {
        let _st = self.read_state();
        self.offers_by_ids(ids)
    }

    fn query_ids(&self, st: &State, q: &OfferQuery, now: Timestamp) -> PageIds {
        let index = &st.index;
        let empty = PageIds::default();
        let regions = if q.regions.is_empty() {
            None
        } else {
            let ids: Vec<u32> = q
                .regions
                .iter()
                .filter_map(|r| index.region_lookup(r))
                .collect();
            if ids.is_empty() {
                return empty;
            }
            Some(ids)
        };
        let protocol = match &q.protocol {
            None => None,
            Some(p) => match index.protocol_lookup(p) {
                Some(id) => Some(id),
                None => return empty,
            },
        };
        let provider = match &q.provider {
            None => None,
            Some(p) => match index.provider_lookup(p) {
                Some(id) => Some(id),
                None => return empty,
            },
        };
        let asset = match &q.asset {
            None => None,
            Some(a) => match index.asset_lookup(a) {
                Some(id) => Some(id),
                None => return empty,
            },
        };
        let offer_key = match &q.offer_key {
            None => None,
            Some(k) => match index.keys.get(k) {
                Some(id) => Some(id),
                None => return empty,
            },
        };
        let price = match &q.max_price {
            None => None,
            Some(p) => {
                let unit_hour = p.unit == PriceUnit::UnitHour;
                let asset = index.asset_lookup(&p.asset);
                match index.rate_of(p.asset.as_str()) {
                    None => match asset {
                        None => return empty,
                        Some(asset) => Some(PriceFilter::SameAsset {
                            unit_hour,
                            asset,
                            amount: p.amount,
                        }),
                    },
                    Some(rate) => Some(PriceFilter::Cross {
                        unit_hour,
                        asset,
                        amount: p.amount,
                        rate,
                    }),
                }
            }
        };
        let jurisdictions = if q.jurisdictions.is_empty() {
            None
        } else {
            let ids: Vec<u32> = q
                .jurisdictions
                .iter()
                .filter_map(|j| index.jurisdiction_lookup(j))
                .collect();
            if ids.is_empty() {
                return empty;
            }
            Some(ids)
        };
        // Providers certified by the issuer asked for, and holding the claims asked for.
        let mut certified: Option<HashSet<PublicKey>> = q.certified_by.map(|issuer| {
            st.summaries
                .certified_by(&issuer, now)
                .into_iter()
                .collect()
        });
        if !q.certified.is_empty() {
            let holders = self.holders(st, &q.certified, now);
            certified = Some(match certified {
                Some(by) => by.intersection(&holders).copied().collect(),
                None => holders,
            });
        }
        let certified: Option<HashSet<u32>> = certified.map(|keys| {
            keys.iter()
                .filter_map(|k| index.provider_lookup(k))
                .collect()
        });
        let needs_scores =
            q.min_reputation_bp.is_some() || q.sort == flashback_types::SortKey::Reputation;
        let scores = if needs_scores {
            self.scores(st, now)
        } else {
            Arc::new(Scores::default())
        };
        let plan = Plan {
            now,
            kind: q.kind,
            regions,
            protocol,
            price,
            min_capacity: q.min_capacity,
            min_avail: q.min_availability_bp,
            max_p95: q.max_p95_latency_ms,
            provider,
            jurisdictions,
            asset,
            offer_key,
            certified: certified.as_ref(),
            min_reputation_bp: q.min_reputation_bp,
            include_unrated: q.include_unrated,
            scores: &scores,
            include_withdrawn: q.include_withdrawn,
            sort: q.sort,
            limit: q.effective_limit(),
            cursor: q.cursor,
        };
        index.query(&plan)
    }

    fn scores(&self, st: &State, now: Timestamp) -> Arc<Scores> {
        let trust_epoch = self.read_trust().epoch;
        let key = (
            now,
            st.summaries.epoch,
            trust_epoch,
            st.index.providers_len(),
        );
        if let Some((k, s)) = &lock(&self.inner.caches).scores
            && *k == key
        {
            return s.clone();
        }
        let assessment = self.assessment(st, now);
        let by_provider = assessment
            .explanations
            .iter()
            .filter_map(|(p, e)| Some((st.index.provider_lookup(p)?, e.reputation.score?)))
            .collect();
        let scores = Arc::new(Scores { by_provider });
        lock(&self.inner.caches).scores = Some((key, scores.clone()));
        scores
    }

    /// Every attested provider's reputation at `now`, cached per market state and trust.
    fn assessment(&self, st: &State, now: Timestamp) -> Arc<Assessment> {
        let (trust, trust_epoch) = {
            let t = self.read_trust();
            (t.store.clone(), t.epoch)
        };
        let key = (now, st.summaries.epoch, trust_epoch);
        if let Some((k, a)) = &lock(&self.inner.caches).assessment
            && *k == key
        {
            return a.clone();
        }
        let assessment = Arc::new(reputation::assess(
            &st.summaries,
            now,
            &self.inner.config.reputation,
            &trust,
        ));
        lock(&self.inner.caches).assessment = Some((key, assessment.clone()));
        assessment
    }

    /// The current offer of every `(provider, offer_key)` of `provider` (tombstones and
    /// not-yet-collected expired ones included), by offer key.
    pub fn offers_by_provider(
        &self,
        provider: &PublicKey,
    ) -> Result<Vec<Signed<Offer>>, StoreError> {
        let st = self.read_state();
        let mut heads: Vec<(&str, ObjectId)> = st
            .index
            .provider_heads(provider)
            .into_iter()
            .map(|e| (st.index.keys.resolve(e.offer_key).as_str(), e.id))
            .collect();
        heads.sort_unstable();
        let ids: Vec<ObjectId> = heads.into_iter().map(|(_, id)| id).collect();
        self.offers_by_ids(&ids)
    }

    /// The current offer for `(provider, offer_key)`, if any (possibly withdrawn or expired).
    pub fn current_offer(
        &self,
        provider: &PublicKey,
        offer_key: &str,
    ) -> Result<Option<Signed<Offer>>, StoreError> {
        let st = self.read_state();
        let Ok(key) = ShortText::try_from(offer_key) else {
            return Ok(None);
        };
        let Some(pk) = st.index.lookup_key(provider, &key) else {
            return Ok(None);
        };
        match st.index.head(pk) {
            Some(e) => Ok(self.offers_by_ids(&[e.id])?.pop()),
            None => Ok(None),
        }
    }

    fn agreements_by_ids(&self, ids: &[ObjectId]) -> Result<Vec<Agreement>, StoreError> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(v) = self.get_raw(Tree::Objects(Kind::Agreement), &id.0)? {
                out.push(self.decode_agreement(id, &v)?);
            }
        }
        Ok(out)
    }

    /// Agreements where `party` is the consumer or the provider, by id.
    pub fn agreements_for(&self, party: &PublicKey) -> Result<Vec<Agreement>, StoreError> {
        let ids = self.read_state().summaries.agreements_of(party);
        self.agreements_by_ids(&ids)
    }

    /// The agreement made from proposal `proposal_id` (the smallest id if a provider accepted
    /// twice).
    pub fn agreement_by_proposal(
        &self,
        proposal_id: &ObjectId,
    ) -> Result<Option<Agreement>, StoreError> {
        let id = self
            .read_state()
            .summaries
            .agreement_for_proposal(proposal_id);
        Ok(self
            .agreements_by_ids(&id.into_iter().collect::<Vec<_>>())?
            .pop())
    }

    /// Proposals addressed to `provider` whose decision deadline is after `now`, by id.
    pub fn proposals_for_provider(
        &self,
        provider: &PublicKey,
        now: Timestamp,
    ) -> Result<Vec<Signed<SlaProposal>>, StoreError> {
        let mut out = Vec::new();
        for item in self
            .tree(Tree::Index(Idx::ProposalsByProvider))?
            .scan_prefix(provider.as_bytes())
        {
            let (k, v) = item.map_err(|e| self.sled_err(e))?;
            let payload = self.unseal(Tree::Index(Idx::ProposalsByProvider), &k, &v)?;
            let expires = payload
                .try_into()
                .map(u64::from_be_bytes)
                .map_err(|_| self.corrupt("idx_proposals_by_provider: malformed value"))?;
            if expires <= now {
                continue;
            }
            let id = self.key_id(Tree::Index(Idx::ProposalsByProvider), &k[32..])?;
            if let Some(p) =
                self.load_signed::<SlaProposal>(Tree::Objects(Kind::SlaProposal), &id)?
            {
                out.push(p);
            }
        }
        Ok(out)
    }

    /// The provider's decision on `proposal_id`: an acceptance if there is one (from a stored
    /// decision or agreement), else the smallest-id rejection.
    pub fn decision_for(
        &self,
        proposal_id: &ObjectId,
    ) -> Result<Option<Signed<SlaDecision>>, StoreError> {
        let mut first_reject = None;
        for item in self
            .tree(Tree::Index(Idx::DecisionsByProposal))?
            .scan_prefix(proposal_id.0)
        {
            let (k, v) = item.map_err(|e| self.sled_err(e))?;
            let payload = self.unseal(Tree::Index(Idx::DecisionsByProposal), &k, &v)?;
            let id = self.key_id(Tree::Index(Idx::DecisionsByProposal), &k[32..])?;
            let accept = payload.first() == Some(&1);
            if accept {
                if let Some(d) =
                    self.load_signed::<SlaDecision>(Tree::Objects(Kind::SlaDecision), &id)?
                {
                    return Ok(Some(d));
                }
            } else if first_reject.is_none() {
                first_reject = Some(id);
            }
        }
        if let Some(a) = self.agreement_by_proposal(proposal_id)? {
            return Ok(Some(a.acceptance().clone()));
        }
        match first_reject {
            Some(id) => self.load_signed(Tree::Objects(Kind::SlaDecision), &id),
            None => Ok(None),
        }
    }

    /// Attestations about `subject`, by attester then id.
    pub fn attestations_about(
        &self,
        subject: &PublicKey,
    ) -> Result<Vec<Signed<QosAttestation>>, StoreError> {
        let ids: Vec<ObjectId> = self
            .read_state()
            .summaries
            .attestations_about(subject)
            .iter()
            .map(|m| m.id)
            .collect();
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(a) = self.load_signed(Tree::Objects(Kind::QosAttestation), &id)? {
                out.push(a);
            }
        }
        Ok(out)
    }

    /// Demands still open at `now`, by id.
    pub fn demands(&self, now: Timestamp) -> Result<Vec<Signed<Demand>>, StoreError> {
        let mut out = Vec::new();
        for item in self.tree(Tree::Objects(Kind::Demand))?.iter() {
            let (k, v) = item.map_err(|e| self.sled_err(e))?;
            let id = self.key_id(Tree::Objects(Kind::Demand), &k)?;
            let d: Signed<Demand> = self.decode_stored(Tree::Objects(Kind::Demand), &id, &v)?;
            if d.expires_at() > now {
                out.push(d);
            }
        }
        Ok(out)
    }

    /// Equivocation evidence held against `provider`, by id.
    pub fn evidence_about(
        &self,
        provider: &PublicKey,
    ) -> Result<Vec<EquivocationEvidence>, StoreError> {
        let ids = self.read_state().summaries.evidence_about(provider);
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(v) = self.get_raw(Tree::Objects(Kind::EquivocationEvidence), &id.0)? {
                out.push(self.decode_evidence(&id, &v)?);
            }
        }
        Ok(out)
    }

    /// Whether `provider` is flagged: equivocation evidence against it is held.
    pub fn is_flagged(&self, provider: &PublicKey) -> bool {
        self.read_state().summaries.is_flagged(provider)
    }

    /// Terminations naming `agreement` (the id of its proposal), by id: every one held, whoever
    /// signed it ([`Termination::ends`] says which count).
    pub fn terminations_of(
        &self,
        agreement: &ObjectId,
    ) -> Result<Vec<Signed<Termination>>, StoreError> {
        let ids = self.read_state().summaries.terminations_of(agreement);
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(t) = self.load_signed(Tree::Objects(Kind::Termination), &id)? {
                out.push(t);
            }
        }
        Ok(out)
    }

    /// Quotes answering `demand`, by id (expired ones included until collected).
    pub fn quotes_for(&self, demand: &ObjectId) -> Result<Vec<Signed<Quote>>, StoreError> {
        let t = Tree::Index(Idx::QuotesByDemand);
        let mut out = Vec::new();
        for item in self.tree(t)?.scan_prefix(demand.0) {
            let (k, _) = item.map_err(|e| self.sled_err(e))?;
            let id = self.key_id(t, &k[32..])?;
            if let Some(q) = self.load_signed(Tree::Objects(Kind::Quote), &id)? {
                out.push(q);
            }
        }
        Ok(out)
    }

    /// Access grants for `agreement` (the id of its proposal), by id.
    pub fn grants_for(&self, agreement: &ObjectId) -> Result<Vec<Signed<AccessGrant>>, StoreError> {
        let t = Tree::Index(Idx::GrantsByAgreement);
        let mut out = Vec::new();
        for item in self.tree(t)?.scan_prefix(agreement.0) {
            let (k, _) = item.map_err(|e| self.sled_err(e))?;
            let id = self.key_id(t, &k[32..])?;
            if let Some(g) = self.load_signed(Tree::Objects(Kind::AccessGrant), &id)? {
                out.push(g);
            }
        }
        Ok(out)
    }

    /// Sum of `volume` over agreements with `provider` on offer `offer_key` (any version of
    /// it) whose service has not ended at `now` and that no party terminated: the capacity
    /// promised.
    pub fn accepted_volume(&self, provider: &PublicKey, offer_key: &str, now: Timestamp) -> u64 {
        self.read_state()
            .summaries
            .accepted_volume(provider, offer_key, now)
    }

    /// Objects held, per kind.
    pub fn counts(&self) -> Counts {
        let st = self.read_state();
        let withdrawn = st.index.heads().filter(|(_, e)| e.withdrawn()).count();
        Counts {
            per_kind: PerKind::from_fn(|kind| match home(kind) {
                Home::Offers => st.index.heads_len() as u64,
                Home::Summaries(summarised) => summarised.table(&st.summaries).len() as u64,
                Home::Disk => st.on_disk[kind],
            }),
            withdrawn_offers: withdrawn as u64,
            offer_history: st.index.history_len() as u64,
            flagged_providers: st.summaries.flagged_count() as u64,
        }
    }

    /// Approximate heap bytes of the in-memory offer index.
    #[doc(hidden)]
    pub fn index_bytes(&self) -> usize {
        self.read_state().index.approx_bytes()
    }

    /// `provider`'s reputation at `now` (see `docs/STORE.md` for the formula).
    pub fn reputation(&self, provider: &PublicKey, now: Timestamp) -> Reputation {
        self.explain(provider, now).reputation
    }

    /// `provider`'s reputation at `now` with every attestation that counted, its attester's
    /// standing, its stake and weight, and every one that did not, with the reason.
    pub fn explain(&self, provider: &PublicKey, now: Timestamp) -> Explanation {
        let st = self.read_state();
        self.assessment(&st, now).explain(provider)
    }
}
