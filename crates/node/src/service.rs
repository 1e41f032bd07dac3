//! The light-client services: `/flashback/query/1` (answered from the store with signed
//! objects) and `/flashback/submit/1` (validate, store, publish).

use std::sync::Arc;
use std::time::Duration;

use flashback_net::{NetHandle, PeerId};
use flashback_store::{Applied, Store, StoreError};
use flashback_types::protocol::{MAX_OBJECTS, MAX_RESOLVED};
use flashback_types::trust::{Judged, TrustError};
use flashback_types::wire::{
    CertificatePage, CountedAttestation, ErrorReply, ExcludedAttestation, MAX_ACCOUNTS,
    ObjectBytes, PaymentsReport, ProviderReport, ProviderRuling, QueryRequest, QueryResponse,
    RegisterPage, ScoreEvidence, SubmitRequest, SubmitResponse, decode_request, truncated,
};
use flashback_types::{
    Agreement, ErrorCode, Hash32, IdPrefix, Kind, Object, ObjectId, Offer, PublicKey, Rule, Signed,
    Timestamp, TrustStore,
};
use tokio::sync::broadcast;

use crate::address_book::Book;
use crate::pipeline::{Judgement, Validator, Verdict};
use crate::status::SharedSync;
use crate::{NodeError, blocking, bounded};
use flashback_types::clock::now;

/// Longest a `WaitDecision` query is held open (below the 30 s request timeout).
pub(crate) const MAX_WAIT_SECS: u32 = 20;

/// Everything the services need.
#[derive(Clone)]
pub(crate) struct Services {
    pub(crate) store: Store,
    pub(crate) net: NetHandle,
    pub(crate) validator: Validator,
    pub(crate) applied: broadcast::Sender<Object>,
    pub(crate) node_key: PublicKey,
    /// Peers' remembered addresses (for `Peers`).
    pub(crate) book: Arc<Book>,
    /// Anti-entropy's progress (for `Status`).
    pub(crate) sync: SharedSync,
    /// The reference blob endpoint, when served (for `Status`).
    pub(crate) blob_endpoint: Option<String>,
    /// The node's counters (for `OfferReach`'s low-reach gauge).
    pub(crate) metrics: Arc<crate::metrics::Metrics>,
    /// First sightings of offer versions at peers (for `OfferReach`).
    pub(crate) reach: Arc<crate::reach::ReachBook>,
}

impl Services {
    /// Answers one query from `from`.
    pub(crate) async fn query(&self, from: PeerId, request: &[u8]) -> QueryResponse {
        let req = match decode_request::<QueryRequest>(request) {
            Ok(req) => req,
            Err(e) => {
                return QueryResponse::Error(ErrorReply::with_code(
                    ErrorCode::InvalidInput,
                    format!("bad query: {e}"),
                ));
            }
        };
        match self.answer(from, req).await {
            Ok(resp) => resp,
            Err(e) => QueryResponse::Error(ErrorReply::with_code(query_code(&e), e.to_string())),
        }
    }

    async fn answer(&self, from: PeerId, req: QueryRequest) -> Result<QueryResponse, NodeError> {
        let store = self.store.clone();
        Ok(match req {
            QueryRequest::Offers(query) => {
                query.check_limit().map_err(NodeError::Request)?;
                let page = blocking(move || Ok(store.query_offers(&query, now())?)).await?;
                QueryResponse::Offers {
                    offers: bounded(page.offers.iter().map(|o| bytes(o.encoded())).collect()),
                    next_cursor: page.next_cursor,
                }
            }
            QueryRequest::Get { ids } => {
                let ids = ids.into_inner();
                let objects = blocking(move || crate::sync::fetch_objects(&store, &ids)).await?;
                QueryResponse::Objects {
                    objects: bounded(objects),
                }
            }
            QueryRequest::Agreements { party } => {
                let objects = blocking(move || {
                    let agreements = match party {
                        Some(p) => store.agreements_for(&p)?,
                        None => {
                            let ids = store.ids_by_kind(Kind::Agreement)?;
                            let mut out = Vec::new();
                            for id in ids.iter().rev().take(MAX_OBJECTS) {
                                if let Some(Object::Agreement(a)) = store.get(id)? {
                                    out.push(a);
                                }
                            }
                            out
                        }
                    };
                    Ok(agreements
                        .iter()
                        .take(MAX_OBJECTS)
                        .map(|a| bytes(a.encoded()))
                        .collect())
                })
                .await?;
                QueryResponse::Objects {
                    objects: bounded(objects),
                }
            }
            QueryRequest::Provider { provider } => {
                let report = blocking(move || provider_report(&store, provider)).await?;
                QueryResponse::Provider(report)
            }
            QueryRequest::WaitDecision {
                proposal_id,
                timeout_secs,
            } => QueryResponse::Decision(self.wait_decision(proposal_id, timeout_secs).await?),
            QueryRequest::Status => QueryResponse::Status(crate::status::status(self, from).await?),
            QueryRequest::Peers => QueryResponse::Peers(crate::status::peers(self, from).await?),
            QueryRequest::OfferReach {
                provider,
                offer_key,
                sample,
            } => QueryResponse::OfferReach(
                crate::reach::offer_reach(self, from, provider, offer_key.as_str(), sample).await?,
            ),
            QueryRequest::Resolve { space, prefix } => {
                let prefix: IdPrefix = prefix.as_str().parse().map_err(NodeError::Request)?;
                let (matches, more) =
                    blocking(move || Ok(store.resolve(space, &prefix, MAX_RESOLVED)?)).await?;
                QueryResponse::Resolved {
                    matches: bounded(matches.into_iter().map(Hash32).collect()),
                    more,
                }
            }
            QueryRequest::Certificates(query) => {
                let page = blocking(move || {
                    let now = now();
                    let page = store.certificate_page(&query, now)?;
                    Ok(certificate_page(
                        &page.trust,
                        now,
                        &page.certificates,
                        page.next,
                    ))
                })
                .await?;
                QueryResponse::Certificates(page)
            }
            QueryRequest::Register(query) => {
                let page = blocking(move || {
                    let now = now();
                    let register = store.register(&query, now)?;
                    let judged: Vec<Judged> = register
                        .entries
                        .iter()
                        .flat_map(|e| e.certificates.iter().cloned())
                        .collect();
                    Ok(RegisterPage {
                        page: certificate_page(&register.trust, now, &judged, None),
                        subjects: bounded(register.entries.iter().map(|e| e.subject).collect()),
                        next: register.next,
                    })
                })
                .await?;
                QueryResponse::Register(page)
            }
            QueryRequest::Trust => QueryResponse::Trust((*self.store.trust()).clone()),
            QueryRequest::AgreementRecord {
                proposal_id,
                wait_grant_secs,
            } => QueryResponse::Objects {
                objects: bounded(self.agreement_record(proposal_id, wait_grant_secs).await?),
            },
            QueryRequest::Payments { party, agreement } => QueryResponse::Payments(
                blocking(move || payments_report(&store, party, agreement, now())).await?,
            ),
            QueryRequest::Quotes { demand_id } => {
                let objects = blocking(move || {
                    let now = now();
                    Ok(store
                        .quotes_for(&demand_id)?
                        .iter()
                        .filter(|q| q.body().expires_at > now)
                        .take(MAX_OBJECTS)
                        .map(|q| bytes(q.encoded()))
                        .collect())
                })
                .await?;
                QueryResponse::Objects {
                    objects: bounded(objects),
                }
            }
        })
    }

    /// Everything held about one agreement; with `wait_secs`, once a grant is stored (or the
    /// capped wait is over).
    async fn agreement_record(
        &self,
        proposal_id: ObjectId,
        wait_secs: u32,
    ) -> Result<Vec<ObjectBytes>, NodeError> {
        // Subscribe before looking, so a grant stored in between is not missed.
        let mut applied = self.applied.subscribe();
        let lookup = || {
            let store = self.store.clone();
            blocking(move || {
                let mut objects: Vec<Object> = Vec::new();
                objects.extend(store.get(&proposal_id)?);
                if let Some(d) = store.decision_for(&proposal_id)? {
                    objects.push(d.into());
                }
                if let Some(a) = store.agreement_by_proposal(&proposal_id)? {
                    objects.push(a.into());
                }
                let grants = store.grants_for(&proposal_id)?;
                let granted = !grants.is_empty();
                objects.extend(grants.into_iter().map(Object::from));
                objects.extend(
                    store
                        .terminations_of(&proposal_id)?
                        .into_iter()
                        .map(Object::from),
                );
                let bytes = objects.iter().map(|o| bytes(o.encoded())).collect();
                Ok((bytes, granted))
            })
        };
        let (found, granted) = lookup().await?;
        if granted || wait_secs == 0 {
            return Ok(found);
        }
        let deadline = Duration::from_secs(u64::from(wait_secs.min(MAX_WAIT_SECS)));
        let wait = async {
            loop {
                match applied.recv().await {
                    Ok(Object::AccessGrant(g)) if g.body().agreement == proposal_id => return,
                    // A rejection: no grant will come.
                    Ok(Object::SlaDecision(d))
                        if d.body().proposal_id == proposal_id
                            && d.body().decision != flashback_types::Decision::Accept =>
                    {
                        return;
                    }
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        };
        let _ = tokio::time::timeout(deadline, wait).await;
        Ok(lookup().await?.0)
    }

    /// Waits (bounded) until a decision on `proposal_id` is stored.
    async fn wait_decision(
        &self,
        proposal_id: ObjectId,
        timeout_secs: u32,
    ) -> Result<Option<ObjectBytes>, NodeError> {
        // Subscribe before looking, so a decision stored in between is not missed.
        let mut applied = self.applied.subscribe();
        let lookup = || {
            let store = self.store.clone();
            blocking(move || {
                Ok(store
                    .decision_for(&proposal_id)?
                    .map(|d| bytes(d.encoded())))
            })
        };
        if let Some(found) = lookup().await? {
            return Ok(Some(found));
        }
        let deadline = Duration::from_secs(u64::from(timeout_secs.min(MAX_WAIT_SECS)));
        let wait = async {
            loop {
                match applied.recv().await {
                    Ok(Object::SlaDecision(d)) if d.body().proposal_id == proposal_id => {
                        return Ok(Some(bytes(d.encoded())));
                    }
                    Ok(_) => {}
                    // We missed some objects: look in the store instead.
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        if let Some(found) = lookup().await? {
                            return Ok(Some(found));
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => return Ok(None),
                }
            }
        };
        match tokio::time::timeout(deadline, wait).await {
            Ok(result) => result,
            Err(_) => Ok(None),
        }
    }

    /// Validates, stores and publishes one object from a light client.
    pub(crate) async fn submit(&self, request: &[u8]) -> SubmitResponse {
        let req = match decode_request::<SubmitRequest>(request) {
            Ok(req) => req,
            Err(e) => {
                return SubmitResponse::Error(ErrorReply::with_code(
                    ErrorCode::InvalidInput,
                    format!("bad submit request: {e}"),
                ));
            }
        };
        let (verdict, object) = self.submit_bytes(req.object.into_vec()).await;
        // A copy of an offer that lost to a newer version is held (as history), but it is not
        // what the listing shows: say so rather than "accepted".
        if let (Verdict::Stored(Applied::Duplicate), Some(Object::Offer(offer))) =
            (&verdict, &object)
        {
            let (store, o) = (self.store.clone(), offer.body().clone());
            let current = blocking(move || Ok(store.current_offer(&o.provider, &o.offer_key)?))
                .await
                .ok()
                .flatten();
            if let Some(current) = current.filter(|c| c.id() != offer.id()) {
                return refused(
                    Rule::Superseded,
                    &superseded(offer.body().seq, current.body()),
                );
            }
        }
        match (verdict, object) {
            (Verdict::Stored(applied @ (Applied::Applied | Applied::Duplicate)), Some(object)) => {
                SubmitResponse::Accepted {
                    id: object.id(),
                    duplicate: matches!(applied, Applied::Duplicate),
                }
            }
            (Verdict::Stored(Applied::Equivocation(_)), _) => refused(
                Rule::Equivocation,
                "a different offer with this seq is already known; both are now evidence of equivocation",
            ),
            (Verdict::Stored(Applied::Superseded), Some(Object::Offer(offer))) => {
                let (store, o) = (self.store.clone(), offer.body().clone());
                let current = blocking(move || Ok(store.current_offer(&o.provider, &o.offer_key)?))
                    .await
                    .ok()
                    .flatten();
                let detail = match current {
                    Some(c) => superseded(offer.body().seq, c.body()),
                    None => format!("seq {} is superseded", offer.body().seq),
                };
                refused(Rule::Superseded, &detail)
            }
            (Verdict::Stored(Applied::Refused(e)), _) => refused(e.rule, &e.detail),
            (Verdict::Stored(other), _) => {
                let rule = other.rule().unwrap_or(Rule::Duplicate);
                refused(rule, &format!("{other:?}"))
            }
            (Verdict::Invalid(e, _), _) => refused(e.rule, &e.detail),
            (Verdict::StoreFailed(e), _) => SubmitResponse::Error(ErrorReply::new(e)),
        }
    }

    /// Validates and stores an object submitted to this node, and publishes it: a new or
    /// already held object on its topic (re-publishing a duplicate is deliberate: an earlier
    /// publish may have found no peers, and gossipsub drops what it has already seen), the
    /// evidence of an equivocation on the offers topic. The answer comes once it is durable.
    ///
    /// A new offer is published as soon as it is verified, before it is listed, as gossip
    /// forwards it (`InlineGossip`): listing it is this node's own work, which its peers need
    /// not wait for. Should another writer change the listing in between, the offer is listed
    /// with the outcome staging gives and answered so; its peers ignore the copy they got.
    /// Anything else (and every object while the store is busy) is published once listed.
    pub(crate) async fn submit_bytes(&self, bytes: Vec<u8>) -> (Verdict, Option<Object>) {
        let (staged, published) = match self.validator.judge_now(&bytes) {
            Some(Judgement::NewOffer(object)) => {
                self.publish(&object).await;
                (self.validator.stage_verified(*object).await, true)
            }
            Some(Judgement::Staged(staged)) => (staged, false),
            None => (self.validator.stage(vec![bytes]).await, false),
        };
        if !published
            && let Some((Verdict::Stored(Applied::Applied | Applied::Duplicate), Some(object))) =
                staged.first()
        {
            self.publish(object).await;
        }
        let mut results = self.validator.settle(staged).await;
        let Some((verdict, object)) = results.pop() else {
            return (Verdict::StoreFailed("no result".into()), None);
        };
        if let Verdict::Stored(Applied::Equivocation(evidence)) = &verdict {
            self.publish(&Object::EquivocationEvidence((**evidence).clone()))
                .await;
        }
        (verdict, object)
    }

    /// Publishes an object on its topic. No peers yet is fine: sync delivers it later.
    pub(crate) async fn publish(&self, object: &Object) {
        let topic = object.kind().topic().name();
        if let Err(e) = self.net.publish(topic, object.encoded().to_vec()).await {
            tracing::debug!(id = %object.id(), %topic, error = %e, "publish did not go out");
        }
    }
}

/// The stable code of a query the node could not answer: the asker's mistake (a request it
/// does not serve as asked, a trust setting the node does not have), or the node's failure.
pub(crate) fn query_code(e: &NodeError) -> ErrorCode {
    match e {
        NodeError::Request(_) => ErrorCode::InvalidInput,
        // A register query naming an issuer the node's trust store does not have.
        NodeError::Store(StoreError::Trust(TrustError::UnknownIssuer(_))) => ErrorCode::NotFound,
        NodeError::Store(StoreError::Trust(_)) => ErrorCode::InvalidInput,
        _ => ErrorCode::NodeFailed,
    }
}

/// Why an offer at `seq` is not the one listed: `current` holds a higher seq.
fn superseded(seq: u64, current: &flashback_types::Offer) -> String {
    format!(
        "seq {seq} of offer {:?} is below the live seq {}{}: sign a new version with a higher \
         seq (seq {} or more)",
        current.offer_key.as_str(),
        current.seq,
        if current.withdrawn {
            " (a withdrawal)"
        } else {
            ""
        },
        current.seq.saturating_add(1)
    )
}

fn refused(rule: Rule, detail: &str) -> SubmitResponse {
    SubmitResponse::Refused {
        rule,
        detail: truncated(detail.to_owned()),
    }
}

/// `party`'s payment accounts and consumer standing at `now` ([`QueryRequest::Payments`]).
pub(crate) fn payments_report(
    store: &Store,
    party: PublicKey,
    agreement: Option<ObjectId>,
    now: Timestamp,
) -> Result<PaymentsReport, NodeError> {
    let (standing, _) = store.consumer_standing(&party, now)?;
    let mut accounts = store.accounts_of(&party, now)?;
    match agreement {
        Some(id) => accounts.retain(|a| a.agreement == id),
        None => accounts.iter_mut().for_each(|a| a.periods.clear()),
    }
    let more = accounts.len() > MAX_ACCOUNTS;
    accounts.truncate(MAX_ACCOUNTS);
    Ok(PaymentsReport {
        party,
        now,
        standing,
        accounts: bounded(accounts),
        more,
    })
}

fn provider_report(store: &Store, provider: PublicKey) -> Result<ProviderReport, NodeError> {
    Ok(provider_parts(store, provider)?.0)
}

/// A provider's report, with its live offers and its agreements as provider (what the report
/// carries encoded).
pub(crate) type ProviderParts = (ProviderReport, Vec<Signed<Offer>>, Vec<Agreement>);

/// A provider's report and the objects it carries encoded ([`ProviderParts`]).
pub(crate) fn provider_parts(
    store: &Store,
    provider: PublicKey,
) -> Result<ProviderParts, NodeError> {
    let now = now();
    let offers: Vec<_> = store
        .offers_by_provider(&provider)?
        .into_iter()
        .filter(|o| o.body().expires_at > now && !o.body().withdrawn)
        .collect();
    let agreements: Vec<Agreement> = store
        .agreements_for(&provider)?
        .into_iter()
        .filter(|a| a.provider() == &provider)
        .take(MAX_OBJECTS)
        .collect();
    let explanation = store.explain(&provider, now);
    let counted = explanation
        .counted
        .iter()
        .map(|c| CountedAttestation {
            id: c.id,
            attester: c.attester,
            window_end: c.window_end,
            probes: c.probes,
            successes: c.successes,
            weight: c.weight,
            standing: c.standing.value,
            stake: c.stake,
            standing_code: truncated(c.standing.kind.code().to_owned()),
            why: truncated(format!("{}; stake {}", c.standing, c.stake_basis)),
        })
        .collect();
    let excluded = explanation
        .excluded
        .iter()
        .map(|x| ExcludedAttestation {
            id: x.id,
            attester: x.attester,
            reason: truncated(x.reason.to_string()),
        })
        .collect();
    let r = &explanation.reputation;
    let mut offers = offers;
    offers.truncate(MAX_OBJECTS);
    let report = ProviderReport {
        provider,
        offers: bounded(offers.iter().map(|o| bytes(o.encoded())).collect()),
        agreements: bounded(agreements.iter().map(|a| bytes(a.encoded())).collect()),
        flagged: store.is_flagged(&provider),
        score: r.score,
        beta_mean: r.beta_mean,
        compliance: r.compliance,
        evidence: ScoreEvidence {
            total: r.evidence,
            anchored: r.anchored,
            rated_at: explanation.rated_at,
            anchored_node: explanation.anchored_node,
            no_standing: explanation.discounted.no_standing,
            low_stake: explanation.discounted.low_stake,
            capped: explanation.discounted.capped,
        },
        counted: bounded(counted),
        excluded: bounded(excluded),
        ruling_factor: explanation.ruling_factor,
        rulings: bounded(
            explanation
                .rulings
                .iter()
                .map(|r| ProviderRuling {
                    id: r.id,
                    arbiter: r.arbiter,
                    agreement: r.agreement,
                    in_favour_of: r.in_favour_of,
                    created_at: r.created_at,
                    effect: truncated(r.effect.code().to_owned()),
                    factor: r.factor,
                    why: truncated(r.effect.to_string()),
                })
                .collect(),
        ),
    };
    Ok((report, offers, agreements))
}

/// Judged certificates as the query protocol carries them.
fn certificate_page(
    trust: &TrustStore,
    now: Timestamp,
    judged: &[Judged],
    next: Option<ObjectId>,
) -> CertificatePage {
    CertificatePage {
        trust: trust.clone(),
        now,
        certificates: bounded(
            judged
                .iter()
                .map(|j| bytes(j.certificate.encoded()))
                .collect(),
        ),
        statuses: bounded(judged.iter().map(|j| j.status.clone()).collect()),
        revocations: bounded(
            judged
                .iter()
                .filter_map(|j| j.revocation.as_ref())
                .map(|r| bytes(r.encoded()))
                .collect(),
        ),
        next,
    }
}

fn bytes(b: &[u8]) -> ObjectBytes {
    ObjectBytes::from(b.to_vec())
}
