//! Withholding detection: one question asked of several nodes, and every difference proved
//! with signed objects (decision 0060).
//!
//! A full node cannot forge an offer (the client verifies every object), but it can leave
//! offers out of its answers or serve an old listing. [`Client::cross_check`] finds that out:
//!
//! 1. **Digests first.** Every node's listing digest and per-provider digests
//!    (`/flashback/sync/1` `Summary`, every page). Equal digests everywhere, and equal
//!    answers, end the check.
//! 2. **Answers.** The query's answer from every node, every page (at most
//!    [`MAX_CHECK_OFFERS`] offers), each offer verified.
//! 3. **Drill down** on the providers whose digest differs between nodes, and the providers of
//!    offers one node answered and another did not (at most [`MAX_DRILL_PROVIDERS`]): each
//!    node's `(offer_key, seq, id)` list for them; every version some node lists is fetched
//!    from a node that lists it and verified.
//! 4. **Classify** each node against the newest version of each offer that some node proved
//!    ([`GapKind`]): it lacks the offer (missing), holds an older version (stale), holds
//!    another version with the same seq, also signed by the provider (forked: the provider
//!    equivocated, no node is at fault), or lists the version but left it out of its answer
//!    (hidden; only for queries whose answer does not depend on the node's own trust or rates).
//!
//! A gap on a version signed less than `grace_secs` ago may still be propagating and is not
//! held against the node. A node with a gap held against it *withheld*; the client then asks
//! the other nodes first ([`Client::preferred_node`]).

use std::collections::{BTreeMap, BTreeSet};

use flashback_net::{PeerId, Protocol};
use flashback_types::clock::now;
use flashback_types::protocol::MAX_OBJECTS;
use flashback_types::wire::{
    QueryRequest, QueryResponse, SyncRequest, SyncResponse, encode_message,
};
use flashback_types::{
    BoundedVec, Hash32, MAX_QUERY_LIMIT, Object, ObjectId, Offer, OfferQuery, PublicKey, Rule,
    Signed, Timestamp,
};

use crate::{Client, ClientError};

/// Most offers fetched from each node's answer (pages of 200).
pub const MAX_CHECK_OFFERS: usize = 10_000;

/// Most providers drilled into per check (one request per provider and node).
pub const MAX_DRILL_PROVIDERS: usize = 64;

/// Most summary pages read per node (4,096 providers each).
const MAX_SUMMARY_PAGES: usize = 16;

/// How one node's listing differs from the newest version of an offer that some node proved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum GapKind {
    /// The node holds no valid version of the offer.
    Missing,
    /// The node holds an older version, with this seq.
    Stale {
        /// The seq the node holds.
        seq: u64,
    },
    /// The node holds another version with the same seq, also signed by the provider: the
    /// provider equivocated. Not held against the node.
    Forked {
        /// The version the node holds.
        id: ObjectId,
    },
    /// The node's own listing holds the version, but its answer to the query left it out
    /// while another node's answer included it.
    Hidden,
}

impl GapKind {
    /// `missing`, `stale`, `forked` or `hidden`.
    pub fn name(&self) -> &'static str {
        match self {
            GapKind::Missing => "missing",
            GapKind::Stale { .. } => "stale",
            GapKind::Forked { .. } => "forked",
            GapKind::Hidden => "hidden",
        }
    }
}

/// One difference: what a node lacks, against the newest version some node proved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gap {
    /// The node.
    pub node: PeerId,
    /// The offer's provider.
    pub provider: PublicKey,
    /// The offer's key among the provider's offers.
    pub offer_key: String,
    /// What the node holds instead.
    pub kind: GapKind,
    /// The newest verified version.
    pub newest: ObjectId,
    /// Its seq.
    pub newest_seq: u64,
    /// When it was signed.
    pub created_at: Timestamp,
    /// Signed less than the grace period ago: it may still be propagating, so the gap is not
    /// held against the node.
    pub recent: bool,
}

impl Gap {
    /// Whether the gap counts as withholding by the node.
    pub fn held_against_node(&self) -> bool {
        !self.recent && !matches!(self.kind, GapKind::Forked { .. })
    }
}

/// What one node said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeView {
    /// The node.
    pub node: PeerId,
    /// Its listing digest.
    pub listing_digest: Hash32,
    /// Providers in its per-provider digests.
    pub providers: usize,
    /// Offers in its answer.
    pub answered: usize,
    /// Whether its whole answer was read (not cut at [`MAX_CHECK_OFFERS`]) and its summary
    /// too.
    pub complete: bool,
    /// Gaps held against it.
    pub withheld: usize,
}

/// The outcome of [`Client::cross_check`].
#[derive(Debug, Clone, Default)]
pub struct CrossCheck {
    /// Each node, in the order asked.
    pub nodes: Vec<NodeView>,
    /// Every node gave the same listing digest.
    pub digests_agree: bool,
    /// Every difference found, by provider, offer key and node.
    pub gaps: Vec<Gap>,
    /// Providers drilled into.
    pub drilled: usize,
    /// More providers differed than [`MAX_DRILL_PROVIDERS`]: the rest were not examined.
    pub truncated: bool,
    /// The query's answer depends on the node's trust store or rates (reputation floor,
    /// certificates, price across assets), so answers were not compared offer by offer.
    pub node_dependent: bool,
}

impl CrossCheck {
    /// True when no difference was found.
    pub fn consistent(&self) -> bool {
        self.gaps.is_empty()
    }

    /// The nodes that withheld, in the order asked.
    pub fn withholding(&self) -> Vec<PeerId> {
        self.nodes
            .iter()
            .filter(|n| n.withheld > 0)
            .map(|n| n.node)
            .collect()
    }
}

/// Whether the answer to `q` depends on the node's own trust store or rate table.
fn node_dependent(q: &OfferQuery) -> bool {
    q.min_reputation_bp.is_some()
        || q.certified_by.is_some()
        || !q.certified.is_empty()
        || q.max_price.is_some()
}

/// One node's summary, answer and heads.
struct Said {
    node: PeerId,
    listing: Hash32,
    digests: BTreeMap<PublicKey, Hash32>,
    summary_complete: bool,
    answer: Vec<Signed<Offer>>,
    answer_complete: bool,
    /// Per drilled provider: offer key → (seq, id).
    heads: BTreeMap<PublicKey, BTreeMap<String, (u64, ObjectId)>>,
}

impl Client {
    /// Asks `query` of every node this client is connected to, compares their digests and
    /// answers, drills into the providers that differ, and classifies every difference
    /// (module docs). Nodes found withholding are asked last from then on.
    pub async fn cross_check(
        &self,
        query: &OfferQuery,
        grace_secs: u64,
    ) -> Result<CrossCheck, ClientError> {
        if self.nodes().len() < 2 {
            return Err(ClientError::InvalidInput(
                "a cross-check needs at least two nodes: name another one".into(),
            ));
        }
        let mut said = Vec::with_capacity(self.nodes().len());
        for &node in self.nodes() {
            let (listing, digests, summary_complete) = self.summary(node).await?;
            let (answer, answer_complete) = self.whole_answer(node, query).await?;
            said.push(Said {
                node,
                listing,
                digests,
                summary_complete,
                answer,
                answer_complete,
                heads: BTreeMap::new(),
            });
        }
        let digests_agree = said.windows(2).all(|w| w[0].listing == w[1].listing);

        // Providers to drill into: differing digests, then differing answers.
        let mut drill: BTreeSet<PublicKey> = BTreeSet::new();
        let all_providers: BTreeSet<PublicKey> = said
            .iter()
            .flat_map(|s| s.digests.keys().copied())
            .collect();
        for p in &all_providers {
            let first = said[0].digests.get(p);
            if said.iter().any(|s| s.digests.get(p) != first) {
                drill.insert(*p);
            }
        }
        let answered: Vec<BTreeSet<ObjectId>> = said
            .iter()
            .map(|s| s.answer.iter().map(Signed::id).collect())
            .collect();
        for s in &said {
            for o in &s.answer {
                if answered.iter().any(|other| !other.contains(&o.id())) {
                    drill.insert(o.body().provider);
                }
            }
        }
        let truncated = drill.len() > MAX_DRILL_PROVIDERS;
        let drill: Vec<PublicKey> = drill.into_iter().take(MAX_DRILL_PROVIDERS).collect();
        for s in &mut said {
            for p in &drill {
                let heads = self.heads(s.node, p).await?;
                s.heads.insert(*p, heads);
            }
        }

        let verified = self.verify_claims(&said).await?;
        let mut gaps = classify(&said, &drill, &verified, now(), grace_secs);
        let dependent = node_dependent(query);
        if !dependent {
            gaps.extend(hidden(&said, &answered, &verified, now(), grace_secs));
        }
        gaps.sort_by(|a, b| {
            (a.provider, &a.offer_key, a.node.to_bytes()).cmp(&(
                b.provider,
                &b.offer_key,
                b.node.to_bytes(),
            ))
        });
        let nodes: Vec<NodeView> = said
            .iter()
            .map(|s| NodeView {
                node: s.node,
                listing_digest: s.listing,
                providers: s.digests.len(),
                answered: s.answer.len(),
                complete: s.summary_complete && s.answer_complete,
                withheld: gaps
                    .iter()
                    .filter(|g| g.node == s.node && g.held_against_node())
                    .count(),
            })
            .collect();
        let check = CrossCheck {
            nodes,
            digests_agree,
            gaps,
            drilled: drill.len(),
            truncated,
            node_dependent: dependent,
        };
        self.demote(&check.withholding());
        Ok(check)
    }

    async fn sync_request(
        &self,
        node: PeerId,
        req: &SyncRequest,
    ) -> Result<SyncResponse, ClientError> {
        match self.ask(node, Protocol::Sync, encode_message(req)).await? {
            SyncResponse::Error(e) => Err(ClientError::Node(e.message.to_string())),
            resp => Ok(resp),
        }
    }

    /// The node's listing digest and every page of its per-provider digests (at most
    /// [`MAX_SUMMARY_PAGES`]); the flag says whether every page was read.
    async fn summary(
        &self,
        node: PeerId,
    ) -> Result<(Hash32, BTreeMap<PublicKey, Hash32>, bool), ClientError> {
        let mut after = None;
        let mut digests = BTreeMap::new();
        let mut listing = Hash32::default();
        for _ in 0..MAX_SUMMARY_PAGES {
            let SyncResponse::Summary {
                listing: l,
                providers,
                more,
                ..
            } = self
                .sync_request(node, &SyncRequest::Summary { after })
                .await?
            else {
                return Err(self.wrong(node));
            };
            listing = l;
            let last = providers.last().map(|(p, _)| *p);
            digests.extend(providers.into_inner());
            if !more {
                return Ok((listing, digests, true));
            }
            // Pages must move forward, or a node could keep us asking.
            match last {
                Some(k) if after.is_none_or(|a| k > a) => after = Some(k),
                _ => return Err(self.wrong(node)),
            }
        }
        Ok((listing, digests, false))
    }

    /// Every page of `query` at `node` (at most [`MAX_CHECK_OFFERS`] offers), and whether
    /// the whole answer was read.
    async fn whole_answer(
        &self,
        node: PeerId,
        query: &OfferQuery,
    ) -> Result<(Vec<Signed<Offer>>, bool), ClientError> {
        let mut query = OfferQuery {
            limit: MAX_QUERY_LIMIT,
            cursor: None,
            ..query.clone()
        };
        let mut out = Vec::new();
        loop {
            let page = self.query_offers_at(node, &query).await?;
            out.extend(page.offers);
            match page.next_cursor {
                Some(c) if out.len() < MAX_CHECK_OFFERS => query.cursor = Some(c),
                Some(_) => return Ok((out, false)),
                None => return Ok((out, true)),
            }
        }
    }

    /// `provider`'s `(offer_key → (seq, id))` at `node`.
    async fn heads(
        &self,
        node: PeerId,
        provider: &PublicKey,
    ) -> Result<BTreeMap<String, (u64, ObjectId)>, ClientError> {
        let SyncResponse::Provider { offers } = self
            .sync_request(
                node,
                &SyncRequest::Provider {
                    provider: *provider,
                },
            )
            .await?
        else {
            return Err(self.wrong(node));
        };
        Ok(offers
            .into_inner()
            .into_iter()
            .map(|(key, seq, id)| (key.as_str().to_owned(), (seq, id)))
            .collect())
    }

    /// Fetches every version some node lists for a drilled provider, from a node that lists
    /// it, and keeps those that verify as live offers of that provider, key and seq. An
    /// expired one is simply not kept; a forged one fails the check, as everywhere.
    async fn verify_claims(
        &self,
        said: &[Said],
    ) -> Result<BTreeMap<ObjectId, Signed<Offer>>, ClientError> {
        // id → (claimant, provider, key, seq), the first claimant in the order asked.
        let mut claims: BTreeMap<ObjectId, (PeerId, PublicKey, String, u64)> = BTreeMap::new();
        for s in said {
            for (p, heads) in &s.heads {
                for (key, (seq, id)) in heads {
                    claims
                        .entry(*id)
                        .or_insert_with(|| (s.node, *p, key.clone(), *seq));
                }
            }
        }
        let mut by_node: BTreeMap<Vec<u8>, (PeerId, Vec<ObjectId>)> = BTreeMap::new();
        for (id, (node, ..)) in &claims {
            by_node
                .entry(node.to_bytes())
                .or_insert_with(|| (*node, Vec::new()))
                .1
                .push(*id);
        }
        let mut verified = BTreeMap::new();
        let t = now();
        for (node, ids) in by_node.into_values() {
            for chunk in ids.chunks(MAX_OBJECTS) {
                let ids = BoundedVec::try_from_vec(chunk.to_vec())
                    .map_err(|e| ClientError::InvalidInput(format!("too many ids: {e}")))?;
                let QueryResponse::Objects { objects } =
                    self.query_node(node, &QueryRequest::Get { ids }).await?
                else {
                    return Err(self.wrong(node));
                };
                for bytes in objects.iter() {
                    let offer = match Object::decode_at(bytes, t, &self.config.time) {
                        Ok(Object::Offer(o)) => o,
                        Ok(_) => continue,
                        Err(e) if matches!(e.rule, Rule::Expired | Rule::FromFuture) => continue,
                        Err(error) => {
                            return Err(ClientError::BadObject {
                                node: node.to_string(),
                                error,
                            });
                        }
                    };
                    let b = offer.body();
                    let matches = claims.get(&offer.id()).is_some_and(|(_, p, key, seq)| {
                        b.provider == *p && b.offer_key.as_str() == key && b.seq == *seq
                    });
                    if matches {
                        verified.insert(offer.id(), offer);
                    }
                }
            }
        }
        Ok(verified)
    }

    /// Moves `nodes` to the back of the order in which the client asks.
    fn demote(&self, nodes: &[PeerId]) {
        if nodes.is_empty() {
            return;
        }
        let mut order = self.order();
        order.sort_by_key(|n| nodes.contains(n));
    }
}

/// Gaps against the newest verified version of each drilled offer.
fn classify(
    said: &[Said],
    drill: &[PublicKey],
    verified: &BTreeMap<ObjectId, Signed<Offer>>,
    now: Timestamp,
    grace_secs: u64,
) -> Vec<Gap> {
    let mut gaps = Vec::new();
    for p in drill {
        let keys: BTreeSet<&String> = said
            .iter()
            .filter_map(|s| s.heads.get(p))
            .flat_map(|h| h.keys())
            .collect();
        for key in keys {
            // The newest proven version: highest seq, then smallest id.
            let held: Vec<(u64, ObjectId)> = said
                .iter()
                .filter_map(|s| s.heads.get(p)?.get(key).copied())
                .filter(|(_, id)| verified.contains_key(id))
                .collect();
            let Some(&(seq, id)) = held
                .iter()
                .max_by_key(|(seq, id)| (*seq, std::cmp::Reverse(*id)))
            else {
                continue;
            };
            let created_at = verified.get(&id).map_or(0, |o| o.body().created_at);
            for s in said {
                let kind = match s.heads.get(p).and_then(|h| h.get(key)) {
                    Some(&(_, mine)) if mine == id => continue,
                    Some(&(s_seq, _)) if s_seq < seq => GapKind::Stale { seq: s_seq },
                    Some(&(s_seq, mine)) if s_seq == seq && verified.contains_key(&mine) => {
                        GapKind::Forked { id: mine }
                    }
                    // Nothing, or a version it cannot back with a valid object.
                    _ => GapKind::Missing,
                };
                gaps.push(Gap {
                    node: s.node,
                    provider: *p,
                    offer_key: key.clone(),
                    kind,
                    newest: id,
                    newest_seq: seq,
                    created_at,
                    recent: created_at.saturating_add(grace_secs) > now,
                });
            }
        }
    }
    gaps
}

/// Offers a node lists (by its own heads) but left out of its answer while another node
/// answered them.
fn hidden(
    said: &[Said],
    answered: &[BTreeSet<ObjectId>],
    verified: &BTreeMap<ObjectId, Signed<Offer>>,
    now: Timestamp,
    grace_secs: u64,
) -> Vec<Gap> {
    let mut gaps = Vec::new();
    let mut seen = BTreeSet::new();
    for s in said {
        for o in &s.answer {
            if !seen.insert(o.id()) {
                continue;
            }
            let b = o.body();
            for (other, ids) in said.iter().zip(answered) {
                if !other.answer_complete || ids.contains(&o.id()) {
                    continue;
                }
                let listed = other
                    .heads
                    .get(&b.provider)
                    .and_then(|h| h.get(b.offer_key.as_str()))
                    .is_some_and(|(_, id)| *id == o.id());
                if listed && verified.contains_key(&o.id()) {
                    gaps.push(Gap {
                        node: other.node,
                        provider: b.provider,
                        offer_key: b.offer_key.as_str().to_owned(),
                        kind: GapKind::Hidden,
                        newest: o.id(),
                        newest_seq: b.seq,
                        created_at: b.created_at,
                        recent: b.created_at.saturating_add(grace_secs) > now,
                    });
                }
            }
        }
    }
    gaps
}
