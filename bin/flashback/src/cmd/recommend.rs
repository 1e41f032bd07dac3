//! `flashback recommend`: a light-client command (the feed through `flashback-client`, the
//! optimizer in `flashback-select`).

use flashback_client::{Client, TrustSource, human, parse_duration, parse_size};
use flashback_select::{
    Explanation, Objective, PriceToWin, Recommendation, Redundancy, Request, Selector, Verdict,
};
use flashback_types::trust::{Issuer, Role, parse_claim};
use flashback_types::{PriceUnit, ResourceKind, SecretKey, TrustStore};
use serde_json::json;

use crate::cli::{RecommendArgs, RequestArgs};
use crate::cmd::ids::{self, OfferOrKey};
use crate::cmd::keys::read_key_file;
use crate::cmd::node::node_addr;
use crate::output;

pub(crate) fn build_request(args: &RequestArgs) -> anyhow::Result<Request> {
    let kind = match args.kind.as_str() {
        "storage" => ResourceKind::Storage,
        "compute" => ResourceKind::Compute,
        other => anyhow::bail!("--kind {other:?}: use storage or compute"),
    };
    let volume = match kind {
        ResourceKind::Storage => parse_size("--volume", &args.volume)?,
        ResourceKind::Compute => args
            .volume
            .trim()
            .parse()
            .map_err(|_| anyhow::anyhow!("--volume: a compute volume is a number of units"))?,
    };
    let redundancy = match (&args.shards, args.replicas) {
        (Some(text), _) => {
            let (k, n) = text
                .split_once('/')
                .and_then(|(k, n)| Some((k.trim().parse().ok()?, n.trim().parse().ok()?)))
                .ok_or_else(|| anyhow::anyhow!("--shards {text:?}: use k/n, e.g. 10/16"))?;
            Redundancy::Shards { k, n }
        }
        (None, r) => Redundancy::Replicas(r.unwrap_or(1)),
    };
    let (budget, asset) = match &args.budget {
        Some(text) => {
            let (amount, asset) =
                human::parse_amount(text).map_err(|e| anyhow::anyhow!("--budget: {e}"))?;
            (Some(amount), asset)
        }
        None => (None, args.asset.to_ascii_uppercase()),
    };
    let mut req = Request::new(
        kind,
        volume,
        parse_duration("--duration", &args.duration)?,
        redundancy,
        asset
            .as_str()
            .try_into()
            .map_err(|e| anyhow::anyhow!("asset {asset:?}: {e}"))?,
    );
    req.budget = budget;
    req.min_availability_bp = args
        .min_availability
        .map(|p| {
            anyhow::ensure!(
                (0.0..=100.0).contains(&p),
                "--min-availability {p}: use a percentage, e.g. 99.9"
            );
            Ok((p * 100.0).round() as u16)
        })
        .transpose()?;
    req.max_p95_latency_ms = args.max_p95_ms;
    req.min_throughput = args
        .min_throughput
        .as_deref()
        .map(|t| parse_size("--min-throughput", t))
        .transpose()?;
    req.loss_target = args.loss_target;
    req.regions = args
        .regions
        .iter()
        .map(|r| {
            r.trim()
                .try_into()
                .map_err(|e| anyhow::anyhow!("--regions {r:?}: {e}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    req.max_per_region = args.max_per_region;
    req.min_regions = args.min_regions;
    req.min_reputation = args.min_reputation;
    req.max_unrated = args.explore;
    req.required_claims = args
        .require_claim
        .iter()
        .map(|c| parse_claim(c).map_err(|e| anyhow::anyhow!("--require-claim: {e}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if args.maximize_availability {
        req.objective = Objective::MaxAvailability;
    }
    anyhow::ensure!(
        (0.0..=10.0).contains(&args.tolerance),
        "--tolerance {}: use a percentage between 0 and 10",
        args.tolerance
    );
    req.tolerance_bp = (args.tolerance * 100.0).round() as u16;
    // The anti-herding seed: your key, your text, or a fresh random choice.
    let consumer: Vec<u8> = match (&args.key, &args.seed) {
        (Some(path), _) => read_key_file(path)?.public().as_bytes().to_vec(),
        (None, Some(text)) => text.as_bytes().to_vec(),
        (None, None) => SecretKey::generate().public().as_bytes().to_vec(),
    };
    req.seed = req.seed_for(&consumer);
    req.check()?;
    Ok(req)
}

/// Whose trust decides which claims count: `--trust-file`, `--trust-issuer` keys (any claim;
/// a key, a key file or any unique start of a key the node knows), or by default the node's
/// trust store.
pub(crate) async fn trust_source(
    client: &Client,
    args: &RequestArgs,
) -> anyhow::Result<TrustSource> {
    if let Some(path) = &args.trust_file {
        return Ok(TrustSource::Local(flashback_node::load_trust_file(path)?));
    }
    if args.trust_issuer.is_empty() {
        return Ok(TrustSource::Node);
    }
    let mut trust = TrustStore::default();
    for (n, text) in args.trust_issuer.iter().enumerate() {
        let key = ids::key(client, "--trust-issuer", text).await?;
        let issuer = Issuer::new(&format!("issuer-{n}"), key, &[Role::Certifier], &["*"])?;
        trust.add(issuer, false)?;
    }
    Ok(TrustSource::Local(trust))
}

pub(crate) async fn run(args: RecommendArgs) -> anyhow::Result<()> {
    let req = build_request(&args.request)?;
    let addr = node_addr(&args.node)?;
    let client = Client::connect(&[addr]).await?;
    let fetched = async {
        let trust = trust_source(&client, &args.request).await?;
        let target = match &args.why {
            Some(text) => Some(ids::offer_or_key(&client, "--why", text).await?),
            None => None,
        };
        let feed = client.candidates(&req, &trust).await?;
        anyhow::Ok((target, feed))
    }
    .await;
    client.close().await;
    let (target, feed) = fetched?;
    if feed.truncated {
        output::warn(format_args!(
            "the listing has more matching offers than {}: only those were considered",
            flashback_client::recommend::MAX_FEED_OFFERS
        ));
    }
    let selector = Selector::new(&req, &feed.candidates)?;
    let rec = selector.recommendation();
    let why = match &target {
        Some(target) => {
            let found = matching(&selector, target)?;
            found
                .into_iter()
                .filter_map(|i| selector.explain(i))
                .collect()
        }
        None => Vec::new(),
    };
    if args.json {
        print_json(&selector, &rec, &why, feed.pages)?;
    } else {
        print_human(&selector, &rec, &why);
    }
    match &rec.infeasible {
        Some(inf) if args.why.is_none() => {
            anyhow::bail!("no placement meets the request: {}", inf.finding)
        }
        _ => Ok(()),
    }
}

/// Candidates with this offer id or provider key.
fn matching(selector: &Selector<'_>, target: &OfferOrKey) -> anyhow::Result<Vec<usize>> {
    let found: Vec<usize> = selector
        .candidates()
        .iter()
        .enumerate()
        .filter(|(_, c)| match target {
            OfferOrKey::Offer(id) => c.offer == *id,
            OfferOrKey::Key(k) => c.provider == *k,
        })
        .map(|(i, _)| i)
        .collect();
    anyhow::ensure!(
        !found.is_empty(),
        "--why: no live offer of that kind, in those regions, with that id or provider"
    );
    Ok(found)
}

fn print_human(selector: &Selector<'_>, rec: &Recommendation, why: &[Explanation]) {
    let req = selector.request();
    let asset = req.asset.as_str();
    let shape = match req.redundancy {
        Redundancy::Replicas(r) => human::count(usize::from(r), "replica"),
        Redundancy::Shards { k, n } => format!("{k}-of-{n} shards"),
    };
    output::line(format_args!(
        "{shape} of {} for {}",
        human::volume(req.volume, PriceUnit::for_kind(req.kind)),
        human::duration(req.duration_secs)
    ));
    match (&rec.placement, &rec.infeasible) {
        (Some(p), _) => {
            output::line("picks:");
            for pick in &p.picks {
                output::line(format_args!(
                    "  {}  {}  {:<12} {:>14} ({:>3.0} %)  avail {:>6.2} %  {}  loss if down {:.2e}",
                    pick.offer.fmt_short(),
                    pick.provider.fmt_short(),
                    pick.region.as_str(),
                    human::amount(pick.cost, asset),
                    pick.cost_share * 100.0,
                    f64::from(pick.availability_bp) / 100.0,
                    pick.reputation
                        .map_or_else(|| "unrated".to_owned(), |r| format!("rep {r:.3}")),
                    pick.loss_without,
                ));
            }
            let optimum = match p.optimum_cost {
                Some(o) if o != p.total_cost => format!(
                    " (optimum {}; within the {:.2} % tolerance, chosen for you)",
                    human::amount(o, asset),
                    f64::from(req.tolerance_bp) / 100.0
                ),
                Some(_) => " (the optimum)".to_owned(),
                None => String::new(),
            };
            output::line(format_args!(
                "total {}{optimum}",
                human::amount(p.total_cost, asset)
            ));
            output::line(format_args!(
                "loss probability {:.3e}, availability {:.9} %, {}",
                p.loss_probability,
                p.availability * 100.0,
                human::count(p.regions, "region")
            ));
        }
        (None, Some(inf)) => {
            output::line(format_args!("no placement: {}", inf.finding));
        }
        (None, None) => {}
    }
    output::line(format_args!(
        "candidates: {} offered, {} passed the filters, {} searched after pruning",
        rec.candidates, rec.passed, rec.considered
    ));
    if !rec.removed.is_empty() {
        let removed: Vec<String> = rec
            .removed
            .iter()
            .map(|r| format!("{} {}", r.rule, r.count))
            .collect();
        output::line(format_args!("removed: {}", removed.join(", ")));
    }
    for e in why {
        print_explanation(selector, e);
    }
}

fn print_explanation(selector: &Selector<'_>, e: &Explanation) {
    let req = selector.request();
    let c = &selector.candidates()[e.candidate];
    let regions: Vec<&str> = c.regions.iter().map(|r| r.as_str()).collect();
    output::line(format_args!(
        "offer {} by provider {}: [{}], {}/{}, availability {}, {}",
        e.offer,
        e.provider,
        regions.join(","),
        human::amount(c.price.amount, c.price.asset.as_str()),
        human::unit(c.price.unit),
        human::availability(c.availability_bp),
        c.reputation
            .map_or_else(|| "unrated".to_owned(), |r| format!("reputation {r:.3}"))
    ));
    let verdict = match &e.verdict {
        Verdict::Picked { region } => format!("picked, in {region}"),
        Verdict::Excluded { rule } => format!("excluded by {rule}"),
        Verdict::Dominated => "dominated: enough providers in its region are at least as good on everything that matters".into(),
        Verdict::Lost { rules } if rules.is_empty() => {
            "not picked: it costs more than any pick it could replace".into()
        }
        Verdict::Lost { .. } => "not picked: swapping it in for a costlier pick would break a rule".into(),
        Verdict::Unplaced => "passed the filters, but no placement meets the request".into(),
    };
    output::line(format_args!("  verdict: {verdict}"));
    for f in &e.findings {
        output::line(format_args!("    {f}"));
    }
    if !e.dominated_by.is_empty() {
        let by: Vec<String> = e
            .dominated_by
            .iter()
            .map(|&i| selector.candidates()[i].offer.fmt_short())
            .collect();
        output::line(format_args!("    dominated by offers {}", by.join(", ")));
    }
    if let Some(p) = &e.pick {
        output::line(format_args!(
            "  costs {} ({:.0} % of the total); the loss probability would be {:.2e} without it",
            human::amount(p.cost, req.asset.as_str()),
            p.cost_share * 100.0,
            p.loss_without
        ));
    } else if let Some(cost) = e.cost {
        output::line(format_args!(
            "  would cost {}",
            human::amount(cost, req.asset.as_str())
        ));
    }
    let now = human::amount(c.price.amount, c.price.asset.as_str());
    match &e.price_to_win {
        PriceToWin::AtMost { amount } => output::line(format_args!(
            "  price to win: at most {}/{} (now {now})",
            human::amount(*amount, req.asset.as_str()),
            human::unit(c.price.unit)
        )),
        PriceToWin::AnyPrice => output::line("  price to win: any (no placement works without it)"),
        PriceToWin::Never { finding } => {
            output::line(format_args!("  price to win: none ({finding})"))
        }
    }
}

fn print_json(
    selector: &Selector<'_>,
    rec: &Recommendation,
    why: &[Explanation],
    pages: usize,
) -> anyhow::Result<()> {
    let verdicts: Vec<serde_json::Value> = rec
        .verdicts
        .iter()
        .zip(selector.candidates())
        .map(|(v, c)| {
            let mut value = serde_json::to_value(v)?;
            if let Some(map) = value.as_object_mut() {
                map.insert("offer".into(), c.offer.to_string().into());
                map.insert("provider".into(), c.provider.to_string().into());
            }
            Ok(value)
        })
        .collect::<anyhow::Result<_>>()?;
    output::json(&json!({
        "request": selector.request(),
        "pages": pages,
        "candidates": rec.candidates,
        "passed": rec.passed,
        "considered": rec.considered,
        "removed": rec.removed,
        "placement": rec.placement,
        "infeasible": rec.infeasible,
        "verdicts": verdicts,
        "why": why,
    }))
}
