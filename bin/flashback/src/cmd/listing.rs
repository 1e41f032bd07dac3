//! `flashback listing query`: a light-client command (through `flashback-client`).

use std::str::FromStr;

use flashback_client::{Client, parse_protocol, parse_size};
use flashback_types::{
    BoundedVec, Claim, ClaimFilter, Offer, OfferQuery, Price, PriceUnit, PublicKey, ResourceKind,
    Signed, SortKey,
};

use crate::cli::QueryArgs;
use crate::cmd::cross_check;
use crate::cmd::node::node_addr;
use crate::{human, output};

fn build_query(args: &QueryArgs) -> anyhow::Result<OfferQuery> {
    let kind = match args.kind.as_deref() {
        None => None,
        Some("storage") => Some(ResourceKind::Storage),
        Some("compute") => Some(ResourceKind::Compute),
        Some(other) => anyhow::bail!("--kind {other:?}: use storage or compute"),
    };
    let sort = match args.sort.as_str() {
        "price" => SortKey::Price,
        "reputation" => SortKey::Reputation,
        "capacity" => SortKey::Capacity,
        "newest" => SortKey::Newest,
        other => anyhow::bail!("--sort {other:?}: use price, reputation, capacity or newest"),
    };
    let key = |flag: &str, text: &Option<String>| -> anyhow::Result<Option<PublicKey>> {
        text.as_deref()
            .map(|t| PublicKey::from_str(t).map_err(|e| anyhow::anyhow!("{flag}: {e}")))
            .transpose()
    };
    let regions = args
        .regions
        .iter()
        .map(|r| {
            r.as_str()
                .try_into()
                .map_err(|e| anyhow::anyhow!("--region {r:?}: {e}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let min_reputation_bp = match args.min_reputation {
        Some(s) if !(0.0..=1.0).contains(&s) => {
            anyhow::bail!("--min-reputation {s}: use a score between 0.0 and 1.0")
        }
        Some(s) => Some((s * 10_000.0).round() as u16),
        None => None,
    };
    Ok(OfferQuery {
        kind,
        regions: BoundedVec::try_from_vec(regions).map_err(|e| anyhow::anyhow!("--region: {e}"))?,
        protocol: args.protocol.as_deref().map(parse_protocol).transpose()?,
        max_price: args
            .max_price
            .map(|amount| -> anyhow::Result<Price> {
                Ok(Price {
                    amount,
                    asset: args
                        .asset
                        .as_str()
                        .try_into()
                        .map_err(|e| anyhow::anyhow!("--asset: {e}"))?,
                    unit: PriceUnit::for_kind(kind.unwrap_or(ResourceKind::Storage)),
                })
            })
            .transpose()?,
        min_capacity: args
            .min_capacity
            .as_deref()
            .map(|s| parse_size("--min-capacity", s))
            .transpose()?,
        min_availability_bp: args.min_availability_bp,
        max_p95_latency_ms: args.max_latency_ms,
        certified_by: key("--certified-by", &args.certified_by)?,
        certified: BoundedVec::try_from_vec(
            args.certified
                .iter()
                .map(|c| c.parse::<ClaimFilter>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| anyhow::anyhow!("--certified: {e}"))?,
        )
        .map_err(|e| anyhow::anyhow!("--certified: {e}"))?,
        jurisdictions: BoundedVec::try_from_vec(
            args.jurisdictions
                .iter()
                .map(|j| j.trim().try_into())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| anyhow::anyhow!("--jurisdiction: {e}"))?,
        )
        .map_err(|e| anyhow::anyhow!("--jurisdiction: {e}"))?,
        min_reputation_bp,
        provider: key("--provider", &args.provider)?,
        include_withdrawn: args.include_withdrawn,
        include_unrated: args.include_unrated,
        sort,
        limit: args.limit,
        cursor: None,
    })
}

/// An offer as JSON: id and signer first, then every field of the body.
pub(crate) fn offer_json(offer: &Signed<Offer>) -> anyhow::Result<serde_json::Value> {
    let mut value = serde_json::to_value(offer.body())?;
    if let Some(map) = value.as_object_mut() {
        map.insert("id".into(), offer.id().to_string().into());
    }
    Ok(value)
}

/// The claims a provider holds, as badges (`name=value`).
fn badges(claims: &[Claim]) -> Vec<String> {
    claims
        .iter()
        .map(|c| format!("{}={}", c.name, c.value))
        .collect()
}

fn human_row(o: &Signed<Offer>) -> String {
    let b = o.body();
    let capacity = human::volume(b.capacity, PriceUnit::for_kind(b.kind));
    let unit = match b.price.unit {
        PriceUnit::GibMonth => "GiB-month",
        PriceUnit::UnitHour => "unit-hour",
    };
    let regions: Vec<&str> = b.regions.iter().map(|r| r.as_str()).collect();
    let protocols: Vec<String> = b
        .protocols
        .iter()
        .map(|p| {
            serde_json::to_value(p)
                .map(|v| v.to_string().replace('"', ""))
                .unwrap_or_default()
        })
        .collect();
    format!(
        "{}  {}  {:<16} seq {:<10} {:<10} {:>12}/{}  avail {:>5.2}%  [{}] [{}]{}",
        o.id().fmt_short(),
        b.provider.fmt_short(),
        b.offer_key.as_str(),
        b.seq,
        capacity,
        human::amount(b.price.amount, b.price.asset.as_str()),
        unit,
        f64::from(b.qos.availability_bp) / 100.0,
        regions.join(","),
        protocols.join(","),
        if b.withdrawn { "  WITHDRAWN" } else { "" }
    )
}

pub(crate) async fn query(args: QueryArgs) -> anyhow::Result<()> {
    let query = build_query(&args)?;
    let addr = node_addr(&args.node)?;
    let mut addrs = vec![addr.clone()];
    addrs.extend(cross_check::others(&args, &addr)?);
    let client = Client::connect(&addrs).await?;
    // A cross-check first, so that the answer shown comes from a node that did not withhold.
    let result = async {
        let check = cross_check::run(&client, &args, &query).await?;
        anyhow::Ok((check, client.certified_offers(&query).await?))
    }
    .await;
    let shown = client.preferred_node().to_string();
    client.close().await;
    let (check, certified) = result?;
    if !certified.dropped.is_empty() {
        output::warn(format_args!(
            "{} offer(s) left out: the node's certificates say their providers no longer hold              the claims asked for",
            certified.dropped.len()
        ));
    }
    let page = certified.page;
    let held = |o: &Signed<Offer>| {
        badges(
            certified
                .claims
                .get(&o.body().provider)
                .map_or(&[][..], Vec::as_slice),
        )
    };
    if args.json {
        let mut items = Vec::with_capacity(page.offers.len());
        for offer in &page.offers {
            let mut item = offer_json(offer)?;
            item["certified"] = held(offer).into();
            items.push(item);
        }
        match &check {
            Some(check) => output::json(&serde_json::json!({
                "offers": items,
                "cross_check": cross_check::to_json(check, &shown),
            })),
            None => output::json(&items),
        }
    } else {
        if page.offers.is_empty() {
            output::line("no offers match");
        }
        for offer in &page.offers {
            let badges = held(offer);
            if badges.is_empty() {
                output::line(human_row(offer));
            } else {
                output::line(format_args!(
                    "{}  ✓ {}",
                    human_row(offer),
                    badges.join(" ✓ ")
                ));
            }
        }
        if page.next_cursor.is_some() {
            output::line(format_args!(
                "(more: raise --limit, up to {})",
                flashback_types::MAX_QUERY_LIMIT
            ));
        }
        if let Some(check) = &check {
            cross_check::print(check, &shown);
        }
        Ok(())
    }
}
