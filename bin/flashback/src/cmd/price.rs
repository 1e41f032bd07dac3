//! The provider's tools: `flashback price suggest` (the advisor in `flashback-client`, the
//! plot) and `flashback offer status` (propagation feedback).

use flashback_client::price::{AssetMarket, Market, MarketQuery, Percentiles, WinPrice, kind_name};
use flashback_client::{Client, human, parse_duration, parse_protocol, parse_size};
use flashback_types::ResourceKind;
use flashback_types::wire::Held;

use crate::cli_price::{OfferStatusArgs, PriceSuggestArgs};
use crate::cmd::ids;
use crate::cmd::node::node_addr;
use crate::output;

fn query(args: &PriceSuggestArgs) -> anyhow::Result<MarketQuery> {
    let kind = match args.kind.as_str() {
        "storage" => ResourceKind::Storage,
        "compute" => ResourceKind::Compute,
        other => anyhow::bail!("--kind {other:?}: use storage or compute"),
    };
    anyhow::ensure!(
        (0.0..=100.0).contains(&args.availability),
        "--availability {}: use a percentage, e.g. 99.9",
        args.availability
    );
    let size = |flag: &str, text: &str| -> anyhow::Result<u64> {
        Ok(match kind {
            ResourceKind::Storage => parse_size(flag, text)?,
            ResourceKind::Compute => text
                .trim()
                .parse()
                .map_err(|_| anyhow::anyhow!("{flag}: a compute amount is a number of units"))?,
        })
    };
    let (price, price_asset) = match &args.price {
        Some(text) => {
            let (amount, asset) =
                human::parse_amount(text).map_err(|e| anyhow::anyhow!("--price: {e}"))?;
            (Some(amount), Some(asset))
        }
        None => (None, None),
    };
    let asset = args.asset.as_ref().map(|a| a.to_ascii_uppercase());
    if let (Some(a), Some(p)) = (&asset, &price_asset) {
        anyhow::ensure!(
            a == p,
            "--price is in {p} but --asset is {a}: use one asset"
        );
    }
    anyhow::ensure!(
        (1..=16).contains(&args.replicas),
        "--replicas {}: use 1 to 16",
        args.replicas
    );
    Ok(MarketQuery {
        kind,
        region: args
            .region
            .trim()
            .try_into()
            .map_err(|e| anyhow::anyhow!("--region {:?}: {e}", args.region))?,
        availability_bp: (args.availability * 100.0).round() as u16,
        protocols: args
            .protocols
            .iter()
            .map(|p| parse_protocol(p))
            .collect::<Result<_, _>>()?,
        asset: asset.or(price_asset),
        capacity: args
            .capacity
            .as_deref()
            .map(|c| size("--capacity", c))
            .transpose()?,
        price,
        provider: None,
        volume: size("--volume", &args.volume)?,
        duration_secs: parse_duration("--duration", &args.duration)?,
        replicas: args.replicas,
    })
}

pub(crate) async fn suggest(args: PriceSuggestArgs) -> anyhow::Result<()> {
    let mut q = query(&args)?;
    let client = Client::connect(&[node_addr(&args.node)?]).await?;
    let fetched = async {
        if let Some(text) = &args.provider {
            q.provider = Some(ids::key(&client, "--provider", text).await?);
        }
        anyhow::Ok(client.market(&q).await?)
    }
    .await;
    client.close().await;
    let market = fetched?;
    // Refuse before printing anything when no asset has enough comparable offers.
    let enough = market.suggest()?;
    if let Some(path) = &args.plot {
        let a = enough[0];
        let mut marks: Vec<(String, u64)> = Vec::new();
        if let Some(s) = a.suggestion {
            marks.push(("suggestion".into(), s));
        }
        if let Some(p) = a.weighted.or(a.unweighted) {
            marks.push(("median (weighted)".into(), p.p50));
        }
        if let Some(r) = &a.rank {
            marks.push(("your price".into(), r.price));
        }
        flashback_testnet::price_distribution(
            path,
            &format!(
                "{} in {}: {} ({})",
                kind_name(market.kind),
                market.region,
                human::count(a.offers, "comparable offer"),
                a.asset
            ),
            &format!("unit price, minor {} per {}", a.asset, human::unit(a.unit)),
            &a.prices,
            &marks,
        )?;
    }
    if args.json {
        return output::json(&market);
    }
    print(&market, &enough);
    Ok(())
}

fn print(m: &Market, enough: &[&AssetMarket]) {
    output::line(format!(
        "{} offers serving {} with availability {} to {}{}: {} listed in the region",
        kind_name(m.kind),
        m.region,
        human::availability(m.band.min_bp),
        human::availability(m.band.max_bp),
        if m.protocols.is_empty() {
            String::new()
        } else {
            format!(", protocols {:?}", m.protocols)
        },
        m.listed,
    ));
    for a in &m.assets {
        if !enough.iter().any(|e| e.asset == a.asset) {
            output::line(format!(
                "{}: {} comparable, fewer than {}; no figures",
                a.asset,
                human::count(a.offers, "offer"),
                m.minimum
            ));
            continue;
        }
        let money = |v: u64| format!("{}/{}", human::amount(v, &a.asset), human::unit(a.unit));
        output::line(format!(
            "{}: {} from {} ({} rated), capacity {}",
            a.asset,
            human::count(a.offers, "comparable offer"),
            human::count(a.providers, "provider"),
            a.rated,
            human::volume(u64::try_from(a.capacity).unwrap_or(u64::MAX), a.unit),
        ));
        let row = |name: &str, p: &Option<Percentiles>| {
            if let Some(p) = p {
                output::line(format!(
                    "  {name:<12} p10 {}  p25 {}  p50 {}  p75 {}  p90 {}",
                    money(p.p10),
                    money(p.p25),
                    money(p.p50),
                    money(p.p75),
                    money(p.p90)
                ));
            }
        };
        row("unweighted", &a.unweighted);
        row("weighted", &a.weighted);
        if let Some(r) = &a.rank {
            output::line(format!(
                "  {} ranks {} of {}: {} cheaper, {} equal, {} dearer ({:.0} % at or below)",
                money(r.price),
                r.cheaper + 1,
                a.offers + 1,
                r.cheaper,
                r.equal,
                r.dearer,
                r.at_or_below_pct
            ));
        }
        match &a.price_to_win {
            Some(WinPrice::AtMost { amount }) => output::line(format!(
                "  picked for a typical request ({} x {}, {}) up to {}",
                m.request.replicas,
                human::volume(m.request.volume, a.unit),
                human::duration(m.request.duration_secs),
                money(*amount)
            )),
            Some(WinPrice::AnyPrice) => output::line("  picked for a typical request at any price"),
            Some(WinPrice::Never { reason }) => {
                output::line(format!("  not picked for a typical request: {reason}"))
            }
            None => {}
        }
        if let Some(s) = a.suggestion {
            output::line(format!("  suggested price: {}", money(s)));
        }
        match &a.agreed.prices {
            Some(p) => output::line(format!(
                "  {} on comparable terms, {} in all, accepted prices p10 {} p50 {} p90 {}",
                human::count(a.agreed.count, "agreement"),
                human::volume(u64::try_from(a.agreed.volume).unwrap_or(u64::MAX), a.unit),
                money(p.p10),
                money(p.p50),
                money(p.p90)
            )),
            None => output::line("  no agreements on comparable terms yet"),
        }
    }
    output::line(format!(
        "based on {} listed offers and {} agreements the node holds; demands are not served \
         by the query protocol",
        m.listed, m.agreements_listed
    ));
}

/// `flashback offer status`.
pub(crate) async fn status(args: OfferStatusArgs) -> anyhow::Result<()> {
    let client = Client::connect(&[node_addr(&args.node)?]).await?;
    let fetched = async {
        let id = ids::offer(&client, "offer", &args.offer).await?;
        anyhow::Ok(client.offer_status(id, args.sample).await?)
    }
    .await;
    client.close().await;
    let s = fetched?;
    if args.json {
        return output::json(&s);
    }
    output::line(format!(
        "offer {} seq {}: held by {} of {} asked (this node, {} and {} beyond them)",
        s.offer,
        s.seq,
        s.holding,
        human::count(s.asked, "node"),
        human::count(s.direct as usize, "direct peer"),
        human::count(s.sampled as usize, "sampled peer"),
    ));
    if let (Some(p50), Some(max)) = (s.p50_seen_ms, s.max_seen_ms) {
        output::line(format!(
            "seen within {} ms of signing at the median holder, {} ms at the slowest",
            p50, max
        ));
    }
    if s.missing.is_empty() {
        output::line("every node asked holds it");
    }
    for m in &s.missing {
        let what = match &m.held {
            Held::Older(seq) => format!("holds seq {seq}"),
            Held::Newer(seq) => format!("holds a newer seq {seq}"),
            Held::Missing => "does not hold it".to_owned(),
            Held::NoAnswer(why) => format!("did not answer: {}", why.as_str()),
            Held::Current => continue,
        };
        output::line(format!(
            "missing at {}: {what}{}",
            m.peer_id,
            if m.pushed { " (pushed now)" } else { "" }
        ));
    }
    Ok(())
}
