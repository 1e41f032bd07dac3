//! `flashback listing query`: a light-client command (through `flashback-client`), and the
//! offer table the other offer commands print too.

use std::collections::BTreeMap;

use flashback_api::view::OfferView;
use flashback_client::{Client, OfferPage, human, parse_protocol, parse_size};
use flashback_types::{
    BoundedString, BoundedVec, Claim, ClaimFilter, Cursor, Offer, OfferQuery, Price, PriceUnit,
    PublicKey, ResourceKind, Signed, SortKey,
};

use crate::cli::QueryArgs;
use crate::cmd::cross_check;
use crate::cmd::ids;
use crate::cmd::node::node_addr;
use crate::output;
use crate::table::{Align, Table};

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
    let asset: Option<BoundedString<12>> = args
        .asset
        .as_deref()
        .map(|a| {
            a.to_ascii_uppercase()
                .as_str()
                .try_into()
                .map_err(|e| anyhow::anyhow!("--asset {a:?}: {e}"))
        })
        .transpose()?;
    let cursor = args
        .after
        .as_deref()
        .map(|c| {
            c.parse::<Cursor>()
                .map_err(|e| anyhow::anyhow!("--after: {e}"))
        })
        .transpose()?;
    Ok(OfferQuery {
        kind,
        regions: BoundedVec::try_from_vec(regions).map_err(|e| anyhow::anyhow!("--region: {e}"))?,
        protocol: args.protocol.as_deref().map(parse_protocol).transpose()?,
        max_price: match (args.max_price, &asset) {
            (Some(amount), Some(asset)) => Some(Price {
                amount,
                asset: asset.clone(),
                unit: PriceUnit::for_kind(kind.unwrap_or(ResourceKind::Storage)),
            }),
            (Some(_), None) => anyhow::bail!("--max-price needs --asset (e.g. --asset USD)"),
            (None, _) => None,
        },
        min_capacity: args
            .min_capacity
            .as_deref()
            .map(|s| parse_size("--min-capacity", s))
            .transpose()?,
        min_availability_bp: args.min_availability_bp,
        max_p95_latency_ms: args.max_latency_ms,
        certified_by: None,
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
        provider: None,
        include_withdrawn: args.include_withdrawn,
        include_unrated: args.include_unrated,
        sort,
        limit: args.limit,
        cursor,
        asset,
        offer_key: None,
    })
}

/// An offer as JSON (the API's [`OfferView`]).
pub(crate) fn offer_json(offer: &Signed<Offer>) -> anyhow::Result<serde_json::Value> {
    Ok(serde_json::to_value(OfferView::new(offer, Vec::new()))?)
}

/// The claims a provider holds, as badges (`name=value`).
fn badges(claims: &[Claim]) -> Vec<String> {
    claims
        .iter()
        .map(|c| format!("{}={}", c.name, c.value))
        .collect()
}

/// A provider's reputation in a table cell: the node's score, `unrated` when the counted
/// evidence is too little for one (decision 0059), `FLAGGED` for a provider that equivocated.
pub(crate) fn reputation_cell(report: &flashback_types::wire::ProviderReport) -> String {
    match report.score {
        _ if report.flagged => "FLAGGED".into(),
        Some(score) => format!("{score:.3}"),
        None => "unrated".into(),
    }
}

/// The offers as a table with a header row: every term a consumer compares, and each
/// provider's reputation as the node computes it; with `claims`, a last column of the claims
/// each provider holds (the listing's badges).
pub(crate) async fn offer_table(
    client: &Client,
    offers: &[Signed<Offer>],
    claims: Option<&BTreeMap<PublicKey, Vec<Claim>>>,
) -> anyhow::Result<Table> {
    let mut reputation: BTreeMap<PublicKey, String> = BTreeMap::new();
    for o in offers {
        let p = o.body().provider;
        if let std::collections::btree_map::Entry::Vacant(slot) = reputation.entry(p) {
            slot.insert(reputation_cell(&client.reputation(p).await?));
        }
    }
    let mut columns = vec![
        ("ID", Align::Left),
        ("PROVIDER", Align::Left),
        ("OFFER", Align::Left),
        ("SEQ", Align::Right),
        ("CAPACITY", Align::Right),
        ("PRICE", Align::Right),
        ("AVAILABILITY", Align::Right),
        ("P95", Align::Right),
        ("DURATIONS", Align::Left),
        ("COPIES", Align::Right),
        ("REPUTATION", Align::Right),
        ("REGIONS", Align::Left),
        ("PROTOCOLS", Align::Left),
        ("EXPIRES", Align::Left),
    ];
    if claims.is_some() {
        columns.push(("CERTIFIED", Align::Left));
    }
    let mut table = Table::new(&columns);
    for o in offers {
        let b = o.body();
        let protocols: Vec<String> = b
            .protocols
            .iter()
            .map(|p| {
                serde_json::to_value(p)
                    .map(|v| v.to_string().replace('"', ""))
                    .unwrap_or_default()
            })
            .collect();
        let regions: Vec<&str> = b.regions.iter().map(|r| r.as_str()).collect();
        let mut row = vec![
            o.id().fmt_short(),
            b.provider.fmt_short(),
            if b.withdrawn {
                format!("{} (withdrawn)", b.offer_key)
            } else {
                b.offer_key.to_string()
            },
            b.seq.to_string(),
            human::volume(b.capacity, PriceUnit::for_kind(b.kind)),
            human::price(&b.price),
            human::availability(b.qos.availability_bp),
            human::latency(b.qos.p95_latency_ms),
            format!(
                "{} to {}",
                human::duration(b.min_duration_secs),
                human::duration(b.max_duration_secs)
            ),
            b.redundancy.to_string(),
            reputation.get(&b.provider).cloned().unwrap_or_default(),
            if regions.is_empty() {
                "any".into()
            } else {
                regions.join(",")
            },
            protocols.join(","),
            human::date(b.expires_at),
        ];
        if let Some(claims) = claims {
            let held = claims.get(&b.provider).map_or(&[][..], Vec::as_slice);
            row.push(badges(held).join(","));
        }
        table.row(row);
    }
    Ok(table)
}

pub(crate) async fn query(args: QueryArgs) -> anyhow::Result<()> {
    let mut query = build_query(&args)?;
    let addr = node_addr(&args.node)?;
    let mut addrs = vec![addr.clone()];
    addrs.extend(cross_check::others(&args, &addr)?);
    let client = Client::connect(&addrs).await?;
    let result = async {
        if let Some(text) = &args.provider {
            query.provider = Some(ids::key(&client, "--provider", text).await?);
        }
        if let Some(text) = &args.certified_by {
            query.certified_by = Some(ids::key(&client, "--certified-by", text).await?);
        }
        // A cross-check first, so that the answer shown comes from a node that did not withhold.
        let check = cross_check::run(&client, &args, &query).await?;
        let page = if args.all {
            let all = client
                .all_offers(&query, flashback_client::MAX_ALL_OFFERS)
                .await?;
            if all.truncated {
                output::warn(format_args!(
                    "more offers match than the {} fetched",
                    flashback_client::MAX_ALL_OFFERS
                ));
            }
            OfferPage {
                offers: all.offers,
                next_cursor: None,
            }
        } else {
            client.query_offers(&query).await?
        };
        let certified = client.certify(&query, page).await?;
        let table = if args.json {
            None
        } else {
            Some(offer_table(&client, &certified.page.offers, Some(&certified.claims)).await?)
        };
        anyhow::Ok((check, certified, table))
    }
    .await;
    let shown = client.preferred_node().to_string();
    client.close().await;
    let (check, certified, table) = result?;
    if !certified.dropped.is_empty() {
        output::warn(format_args!(
            "{} left out: the node's certificates say their providers no longer hold the claims \
             asked for",
            human::count(certified.dropped.len(), "offer")
        ));
    }
    let (offers, next) = (&certified.page.offers, certified.page.next_cursor);
    if args.json {
        let items: Vec<OfferView> = offers
            .iter()
            .map(|offer| {
                let held = certified
                    .claims
                    .get(&offer.body().provider)
                    .map_or(&[][..], Vec::as_slice);
                OfferView::new(offer, badges(held))
            })
            .collect();
        match &check {
            Some(check) => output::json(&serde_json::json!({
                "offers": items,
                "cross_check": cross_check::to_json(check, &shown),
            }))?,
            None => output::json(&items)?,
        }
        if let Some(cursor) = next {
            output::progress(format_args!(
                "more offers: the next page is --after {cursor}"
            ));
        }
        return Ok(());
    }
    match table {
        Some(table) if !table.is_empty() => table.print(),
        _ => output::line("no offers match"),
    }
    if let Some(cursor) = next {
        output::line(format_args!(
            "{} shown; more match: add --after {cursor} for the next page, or --all",
            human::count(offers.len(), "offer")
        ));
    }
    if let Some(check) = &check {
        cross_check::print(check, &shown);
    }
    Ok(())
}
