//! The deal flow itself: [`Client::make_deal`] and the steps it takes.

use super::*;

/// What the deal knows of one candidate besides the optimizer's view.
struct Source {
    offer: Signed<Offer>,
    quote: Option<Signed<Quote>>,
}

/// A proposal given up on (timed out), to sweep for a late acceptance.
struct GivenUp {
    proposal: Signed<SlaProposal>,
}

impl Client {
    /// Signs `demand` with `consumer` and submits it through the node, which gossips it to
    /// the providers' nodes.
    pub async fn publish_demand(
        &self,
        consumer: &SecretKey,
        demand: Demand,
    ) -> Result<Signed<Demand>, ClientError> {
        let signed = Signed::sign(demand, consumer).map_err(|e| {
            ClientError::InvalidInput(format!("the demand is not valid: {}", e.detail))
        })?;
        self.submit(&Object::Demand(signed.clone())).await?;
        Ok(signed)
    }

    /// The live quotes the node holds for demand `demand`, each verified and about it.
    pub async fn quotes(&self, demand: ObjectId) -> Result<Vec<Signed<Quote>>, ClientError> {
        let node = self.first();
        let req = QueryRequest::Quotes { demand_id: demand };
        let QueryResponse::Objects { objects } = self.query_node(node, &req).await? else {
            return Err(self.wrong(node));
        };
        let mut out = Vec::new();
        for bytes in objects.iter() {
            match self.verify(node, bytes)? {
                Object::Quote(q) if q.body().demand_id == demand => out.push(q),
                other => {
                    return Err(ClientError::BadResponse {
                        node: node.to_string(),
                        detail: format!("a {} instead of a quote for the demand", other.kind()),
                    });
                }
            }
        }
        Ok(out)
    }

    /// Makes a deal: `req` (full copies only) as verified agreements signed by `consumer`, by
    /// the steps of this module's documentation, reporting each step to `progress`. Errors
    /// before any agreement exists (an infeasible request, no quotes); otherwise the report
    /// says what is held and, when short, why.
    pub async fn make_deal(
        &self,
        consumer: &SecretKey,
        req: &Request,
        trust: &TrustSource,
        config: &DealConfig,
        progress: &mut (dyn FnMut(DealEvent) + Send),
    ) -> Result<DealReport, ClientError> {
        let Redundancy::Replicas(wanted) = req.redundancy else {
            return Err(ClientError::InvalidInput(
                "a deal is made of full copies: use --replicas, not --shards".into(),
            ));
        };
        let wanted = usize::from(wanted);
        if !(1..=MAX_PROBES).contains(&config.probes) {
            return Err(ClientError::InvalidInput(format!(
                "a deal verifies each agreement with 1 to {MAX_PROBES} data-plane probes, not {}",
                config.probes
            )));
        }
        let me = consumer.public();

        // 1. Fail fast: quotes never undercut their offers, so a request the listing cannot
        // meet, no quote can make possible.
        let feed = self.candidates(req, trust).await?;
        let selector = Selector::new(req, &feed.candidates)
            .map_err(|e| ClientError::InvalidInput(e.to_string()))?;
        let rec = selector.recommendation();
        if let Some(inf) = rec.infeasible {
            return Err(ClientError::Infeasible(inf.finding.to_string()));
        }
        progress(DealEvent::Feasible {
            candidates: rec.candidates,
        });

        // 2. The demand, and the quotes of the window.
        let demand = demand_for(req, me, &config.protocols, now(), config.demand_lifetime)?;
        let demand = self.publish_demand(consumer, demand).await?;
        progress(DealEvent::DemandPublished(demand.id()));
        let deadline = tokio::time::Instant::now() + config.window;
        let mut quotes: BTreeMap<ObjectId, Signed<Quote>> = BTreeMap::new();
        loop {
            for q in self.quotes(demand.id()).await? {
                if q.body().consumer == me && !quotes.contains_key(&q.id()) {
                    progress(DealEvent::Quote {
                        provider: q.body().provider,
                        price: q.body().price.clone(),
                    });
                    quotes.insert(q.id(), q);
                }
            }
            if tokio::time::Instant::now() >= deadline {
                break;
            }
            // Asking again is cheap (one indexed read on the node); the window bounds it.
            tokio::time::sleep(Duration::from_millis(250).min(config.window)).await;
        }
        let quote_count = quotes.len();
        progress(DealEvent::QuotesClosed {
            quotes: quote_count,
        });
        if quotes.is_empty() {
            return Err(ClientError::NoQuotes(format!(
                "no provider quoted demand {} within {} s: no provider's policy matches the \
                 request (widen the regions, raise the budget) or the providers' nodes are not \
                 reached yet (try a longer --window)",
                demand.id(),
                config.window.as_secs()
            )));
        }

        // 3. Merge: a quote that matches its listed offer sets that offer's price.
        let mut failures = Vec::new();
        let mut candidates: Vec<Candidate> = Vec::new();
        let mut sources: Vec<Source> = Vec::new();
        let mut by_offer: BTreeMap<ObjectId, Signed<Quote>> = BTreeMap::new();
        for q in quotes.into_values() {
            let keep = by_offer
                .get(&q.body().offer_id)
                .is_none_or(|held| q.body().price.amount < held.body().price.amount);
            if keep {
                by_offer.insert(q.body().offer_id, q);
            }
        }
        for (cand, offer) in feed.candidates.iter().zip(&feed.offers) {
            let mut cand = cand.clone();
            let quote = by_offer.remove(&offer.id());
            if let Some(q) = &quote {
                if let Some(why) = quote_mismatch(q.body(), offer.body()) {
                    failures.push(failure(offer, Stage::Check, why, progress));
                    continue;
                }
                cand.price = q.body().price.clone();
            }
            candidates.push(cand);
            sources.push(Source {
                offer: offer.clone(),
                quote,
            });
        }

        // 4. Picks, checks, proposals and verification, re-solving without what failed.
        let mut held: Vec<DealAgreement> = Vec::new();
        let mut excluded: BTreeSet<PublicKey> = BTreeSet::new();
        let mut given_up: Vec<GivenUp> = Vec::new();
        let mut terminated = Vec::new();
        let mut short = None;
        while held.len() < wanted {
            let missing = wanted - held.len();
            let (sub, idx) = remaining_request(req, &held, missing, &candidates, &excluded);
            let sub_cands: Vec<Candidate> = idx.iter().map(|&i| candidates[i].clone()).collect();
            let placement = match Selector::new(&sub, &sub_cands) {
                Ok(sel) => {
                    let rec = sel.recommendation();
                    match (rec.placement, rec.infeasible) {
                        (Some(p), _) => p,
                        (None, Some(inf)) => {
                            short = Some(format!(
                                "no placement of the {missing} missing replicas remains: {}",
                                inf.finding
                            ));
                            break;
                        }
                        (None, None) => {
                            short = Some("the optimizer found no placement".into());
                            break;
                        }
                    }
                }
                Err(e) => {
                    short = Some(format!("the remaining request cannot be met: {e}"));
                    break;
                }
            };
            for pick in placement.picks {
                if held.len() >= wanted {
                    break;
                }
                let i = idx[pick.candidate];
                let (cand, src) = (&candidates[i], &sources[i]);
                excluded.insert(cand.provider);
                let outcome = self
                    .try_pick(consumer, req, cand, src, config, progress, &mut given_up)
                    .await?;
                match outcome {
                    Ok((agreement, id)) => {
                        progress(DealEvent::Verified {
                            provider: cand.provider,
                            agreement: id,
                        });
                        held.push(DealAgreement {
                            agreement: id,
                            provider: cand.provider,
                            offer: cand.offer,
                            region: pick.region.to_string(),
                            price: cand.price.clone(),
                            cost: agreement,
                            availability_bp: cand.availability_bp,
                            quoted: src.quote.is_some(),
                        });
                    }
                    Err((f, to_terminate)) => {
                        progress(DealEvent::Failed(f.clone()));
                        failures.push(f);
                        if let Some(id) = to_terminate {
                            let reason = format!(
                                "failed verification before use: {}",
                                failures.last().map_or("", |f| f.reason.as_str())
                            );
                            self.end(consumer, id, &reason, progress, &mut terminated)
                                .await;
                        }
                    }
                }
            }
        }

        // 5. Proposals given up on may still have been accepted: wait out their deadlines
        // (after which no acceptance is valid) and end any that were.
        if let Some(last) = given_up.iter().map(|g| g.proposal.expires_at()).max() {
            let wait = last.saturating_sub(now()).saturating_add(1);
            tokio::time::sleep(Duration::from_secs(wait).min(config.decide_within * 2)).await;
            for g in &given_up {
                let record = self
                    .agreement_record(g.proposal.id(), Duration::ZERO)
                    .await?;
                if record.agreement.is_some() {
                    self.end(
                        consumer,
                        g.proposal.id(),
                        "accepted after the consumer gave up waiting: not needed",
                        progress,
                        &mut terminated,
                    )
                    .await;
                }
            }
        }

        let total_cost = held.iter().map(|a| a.cost).sum();
        let down: f64 = held
            .iter()
            .map(|a| 1.0 - f64::from(a.availability_bp) / 10_000.0)
            .product();
        let availability = if held.is_empty() { 0.0 } else { 1.0 - down };
        if held.len() < wanted && short.is_none() {
            short = Some("every candidate was tried".into());
        }
        Ok(DealReport {
            demand: demand.id(),
            quotes: quote_count,
            wanted,
            agreements: held,
            failures,
            terminated,
            total_cost,
            asset: req.asset.to_string(),
            availability,
            short,
        })
    }

    /// One pick: checks, proposal, decision, verification. `Ok(Ok((cost, agreement)))` when it
    /// counts; `Ok(Err((failure, agreement to terminate)))` when it does not.
    #[allow(clippy::too_many_arguments, clippy::type_complexity)]
    async fn try_pick(
        &self,
        consumer: &SecretKey,
        req: &Request,
        cand: &Candidate,
        src: &Source,
        config: &DealConfig,
        progress: &mut (dyn FnMut(DealEvent) + Send),
        given_up: &mut Vec<GivenUp>,
    ) -> Result<Result<(u64, ObjectId), (Failure, Option<ObjectId>)>, ClientError> {
        let offer = &src.offer;
        let o = offer.body();
        let fail = |stage, reason: String| Failure {
            provider: o.provider,
            offer: offer.id(),
            stage,
            reason,
        };
        // Checks before signing anything.
        let t = now();
        if let Some(q) = &src.quote
            && q.body().expires_at <= t
        {
            return Ok(Err((fail(Stage::Check, "its quote expired".into()), None)));
        }
        match self.current_offer(o.provider, &o.offer_key).await? {
            Some(cur)
                if cur.id() == offer.id() && !cur.body().withdrawn && cur.body().expires_at > t => {
            }
            Some(_) => {
                return Ok(Err((
                    fail(Stage::Check, "the offer was superseded or withdrawn".into()),
                    None,
                )));
            }
            None => return Ok(Err((fail(Stage::Check, "the offer is gone".into()), None))),
        }
        progress(DealEvent::Proposing {
            provider: o.provider,
            offer: offer.id(),
            quoted: src.quote.is_some(),
        });
        let terms = Terms {
            volume: req.redundancy.share(req.volume),
            duration_secs: req.duration_secs,
            start: None,
            decide_within: config.decide_within,
        };
        let proposal = match self.propose_at(consumer, offer, &cand.price, terms).await {
            Ok(p) => p,
            Err(ClientError::Terms { reason, detail }) => {
                return Ok(Err((
                    fail(Stage::Check, format!("{}: {detail}", reason.code())),
                    None,
                )));
            }
            Err(e) => return Err(e),
        };
        let id = proposal.id();
        let cost = proposal.body().total;
        match self.wait_decision(&proposal, config.decide_within).await? {
            None => {
                given_up.push(GivenUp { proposal });
                return Ok(Err((
                    fail(
                        Stage::Timeout,
                        format!("no decision within {} s", config.decide_within.as_secs()),
                    ),
                    None,
                )));
            }
            Some(d) => match d.body().decision {
                Decision::Reject(reason) => {
                    let limits = limits_for(o, reason)
                        .map(|l| format!(" ({l})"))
                        .unwrap_or_default();
                    return Ok(Err((
                        fail(
                            Stage::Rejected,
                            format!("rejected: {}{limits}", reason.code()),
                        ),
                        None,
                    )));
                }
                Decision::Accept => {}
            },
        }
        progress(DealEvent::Accepted {
            provider: o.provider,
            agreement: id,
        });
        // Verification on the data plane, with the agreement's own credentials.
        let credentials = match self.access(consumer, id, config.grant_wait).await {
            Ok(c) => c,
            Err(e) => {
                return Ok(Err((
                    fail(Stage::Verification, format!("no usable access: {e}")),
                    Some(id),
                )));
            }
        };
        let plane = match Plane::open(&credentials, config.check_timeout) {
            Ok(p) => p,
            Err(e) => {
                return Ok(Err((
                    fail(
                        Stage::Verification,
                        format!("its data plane cannot be used: {e}"),
                    ),
                    Some(id),
                )));
            }
        };
        if let Err(why) = crate::probe::check_plane_repeatedly(
            &plane,
            config.probes,
            config.check_bytes,
            config.check_timeout,
        )
        .await
        {
            return Ok(Err((
                fail(
                    Stage::Verification,
                    format!("data-plane check failed: {why}"),
                ),
                Some(id),
            )));
        }
        Ok(Ok((cost, id)))
    }

    /// Terminates agreement `id`, recording it; a failure to do so is reported, not fatal.
    async fn end(
        &self,
        consumer: &SecretKey,
        id: ObjectId,
        reason: &str,
        progress: &mut (dyn FnMut(DealEvent) + Send),
        terminated: &mut Vec<ObjectId>,
    ) {
        match self.terminate(consumer, id, reason).await {
            Ok(_) => {
                progress(DealEvent::Terminated {
                    agreement: id,
                    reason: reason.to_owned(),
                });
                terminated.push(id);
            }
            Err(e) => tracing::warn!(agreement = %id, error = %e, "could not terminate"),
        }
    }
}

fn failure(
    offer: &Signed<Offer>,
    stage: Stage,
    reason: String,
    progress: &mut (dyn FnMut(DealEvent) + Send),
) -> Failure {
    let f = Failure {
        provider: offer.body().provider,
        offer: offer.id(),
        stage,
        reason,
    };
    progress(DealEvent::Failed(f.clone()));
    f
}

/// Why a quote cannot be taken at its word: it must be signed by its offer's provider, on the
/// version listed, in the offer's asset and unit, at no less than the offer's price.
fn quote_mismatch(q: &Quote, o: &Offer) -> Option<String> {
    if q.provider != o.provider {
        return Some("its quote is not signed by the offer's provider".into());
    }
    if q.offer_seq != o.seq {
        return Some("its quote is on another version of the offer".into());
    }
    if q.price.asset != o.price.asset || q.price.unit != o.price.unit {
        return Some("its quote is in another asset or unit than the offer".into());
    }
    if q.price.amount < o.price.amount {
        return Some(
            "its quote undercuts its own offer, which the provider's node would refuse".into(),
        );
    }
    None
}

/// The request for the `missing` replicas given what is `held`: the budget less what is
/// spent, the regions still needed, and the candidates whose provider is neither held nor
/// excluded (and whose region is not already full under `max_per_region`). Returns it with
/// the indexes of those candidates.
fn remaining_request(
    req: &Request,
    held: &[DealAgreement],
    missing: usize,
    candidates: &[Candidate],
    excluded: &BTreeSet<PublicKey>,
) -> (Request, Vec<usize>) {
    let mut sub = req.clone();
    sub.redundancy = Redundancy::Replicas(u8::try_from(missing).unwrap_or(u8::MAX));
    let spent: u64 = held.iter().map(|a| a.cost).sum();
    sub.budget = req.budget.map(|b| b.saturating_sub(spent));
    let mut per_region: BTreeMap<&str, u32> = BTreeMap::new();
    for a in held {
        *per_region.entry(a.region.as_str()).or_default() += 1;
    }
    let held_regions = u32::try_from(per_region.len()).unwrap_or(u32::MAX);
    sub.min_regions = req.min_regions.saturating_sub(held_regions);
    let full = |c: &Candidate| {
        req.max_per_region.is_some_and(|m| {
            c.regions
                .iter()
                .all(|r| per_region.get(r.as_str()).copied().unwrap_or(0) >= m)
        })
    };
    let idx = candidates
        .iter()
        .enumerate()
        .filter(|(_, c)| !excluded.contains(&c.provider) && !full(c))
        .map(|(i, _)| i)
        .collect();
    (sub, idx)
}
