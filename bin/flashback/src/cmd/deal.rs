//! `flashback demand …` and `flashback deal …`: light-client commands over
//! `flashback_client::deal`. Progress goes to stderr; results to stdout.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use flashback_api::view::{DealView, DemandView, QuoteView};
use flashback_client::deal::{DealConfig, DealEvent, demand_for};
use flashback_client::deal_service::{deal_view, describe};
use flashback_client::{Client, ClientError, human, parse_duration, parse_protocol, parse_size};
use flashback_types::clock::now;
use flashback_types::{DataProtocol, ObjectId, PriceUnit};

use crate::cli::RequestArgs;
use crate::cli_deal::{DealMakeArgs, DealShowArgs, DemandPublishArgs, DemandQuotesArgs};
use crate::cmd::keys::read_key_file;
use crate::cmd::node::node_addr;
use crate::cmd::recommend::{build_request, trust_source};
use crate::output;

/// Largest deal journal read by `deal show`.
const MAX_JOURNAL_BYTES: u64 = 16 << 20;

fn protocols(names: &[String]) -> anyhow::Result<Vec<DataProtocol>> {
    Ok(names
        .iter()
        .map(|n| parse_protocol(n))
        .collect::<Result<Vec<_>, _>>()?)
}

fn key_of(request: &RequestArgs, command: &str) -> anyhow::Result<flashback_types::SecretKey> {
    let Some(path) = &request.key else {
        anyhow::bail!("{command} signs with your key: pass --key FILE");
    };
    read_key_file(path)
}

pub(crate) async fn publish(args: DemandPublishArgs) -> anyhow::Result<()> {
    let key = key_of(&args.request, "demand publish")?;
    let req = build_request(&args.request)?;
    let open_for = Duration::from_secs(parse_duration("--open-for", &args.open_for)?);
    let demand = demand_for(
        &req,
        key.public(),
        &protocols(&args.protocols)?,
        now(),
        open_for,
    )?;
    let client = Client::connect(&[node_addr(&args.node)?]).await?;
    let published = client.publish_demand(&key, demand).await;
    client.close().await;
    let demand = published?;
    if args.json {
        return output::json(&DemandView::from(&demand));
    }
    let d = demand.body();
    output::line(format_args!("demand {}", demand.id()));
    output::line(format_args!(
        "  {} × {} for {}, at most {} per {}, open until {}",
        d.redundancy,
        human::volume(d.volume, PriceUnit::for_kind(d.kind)),
        human::duration(d.duration_secs),
        human::amount(d.max_price.amount, d.max_price.asset.as_str()),
        human::unit(d.max_price.unit),
        flashback_api::units::rfc3339(d.expires_at).unwrap_or_default()
    ));
    output::line(format_args!(
        "quotes arrive by gossip: `flashback demand quotes {}`",
        demand.id()
    ));
    Ok(())
}

pub(crate) async fn quotes(args: DemandQuotesArgs) -> anyhow::Result<()> {
    let demand: ObjectId = args.demand.trim().parse().map_err(|e| {
        anyhow::anyhow!(
            "demand id {:?}: {e} (give its 64 hex characters)",
            args.demand
        )
    })?;
    let client = Client::connect(&[node_addr(&args.node)?]).await?;
    let found = client.quotes(demand).await;
    client.close().await;
    let mut quotes = found?;
    quotes.sort_by_key(|q| (q.body().price.amount, q.id()));
    if args.json {
        let views: Vec<QuoteView> = quotes.iter().map(QuoteView::from).collect();
        return output::json(&views);
    }
    if quotes.is_empty() {
        output::line("no quotes (yet) for this demand");
        return Ok(());
    }
    for q in &quotes {
        let b = q.body();
        output::line(format_args!(
            "quote {}  provider {}  offer {}  {}  until {}",
            q.id().fmt_short(),
            b.provider.fmt_short(),
            b.offer_id.fmt_short(),
            human::price(&b.price),
            flashback_api::units::rfc3339(b.expires_at).unwrap_or_default()
        ));
    }
    Ok(())
}

/// Prints a step on stderr, the steps about one provider indented under the deal's.
fn show_event(event: DealEvent) {
    let (step, text) = describe(&event);
    let indent = matches!(
        step,
        "quote" | "accepted" | "verified" | "failed" | "terminated"
    );
    output::progress(format_args!("{}{text}", if indent { "  " } else { "" }));
}

fn print_deal(view: &DealView) {
    output::line(format_args!(
        "deal for demand {}: {} of {} agreements, {} quotes",
        view.demand_id,
        view.agreements.len(),
        view.wanted,
        view.quotes
    ));
    for a in &view.agreements {
        output::line(format_args!(
            "  agreement {}  provider {}  {:<10} {:>12}  avail {}{}{}",
            short(&a.agreement_id),
            short(&a.provider),
            a.region,
            human::amount(a.cost.amount, &a.cost.asset),
            human::availability(a.availability_bp),
            if a.quoted { "  quoted" } else { "" },
            a.status
                .as_deref()
                .map(|s| format!("  {s}"))
                .unwrap_or_default()
        ));
    }
    output::line(format_args!(
        "total {}, availability {:.6} %",
        human::amount(view.total_cost.amount, &view.total_cost.asset),
        view.availability * 100.0
    ));
    for f in &view.failures {
        output::line(format_args!(
            "  not used: provider {} ({}): {}",
            short(&f.provider),
            f.stage,
            f.reason
        ));
    }
    for t in &view.terminated {
        output::line(format_args!("  terminated: agreement {}", short(t)));
    }
    if let Some(why) = &view.short {
        output::line(format_args!("short: {why}"));
    }
}

fn short(hex: &str) -> &str {
    hex.get(..12).unwrap_or(hex)
}

/// Where the deals of a key are recorded: beside the key file.
fn journal(key_file: &Path) -> PathBuf {
    let mut name = key_file.as_os_str().to_owned();
    name.push(".deals");
    PathBuf::from(name)
}

fn record(key_file: &Path, view: &DealView) -> anyhow::Result<()> {
    let path = journal(key_file);
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| anyhow::anyhow!("cannot record the deal in {}: {e}", path.display()))?;
    let mut line = serde_json::to_vec(view)?;
    line.push(b'\n');
    file.write_all(&line)
        .and_then(|()| file.sync_all())
        .map_err(|e| anyhow::anyhow!("cannot record the deal in {}: {e}", path.display()))
}

pub(crate) async fn make(args: DealMakeArgs) -> anyhow::Result<()> {
    let key = key_of(&args.request, "deal make")?;
    let key_file = args.request.key.clone().unwrap_or_default();
    let req = build_request(&args.request)?;
    let config = DealConfig {
        window: Duration::from_secs(parse_duration("--window", &args.window)?.max(1)),
        decide_within: Duration::from_secs(
            parse_duration("--decide-within", &args.decide_within)?.max(1),
        ),
        probes: args.probes,
        check_bytes: usize::try_from(parse_size("--check-size", &args.check_size)?)
            .unwrap_or(usize::MAX)
            .clamp(1, flashback_client::probe::MAX_BLOB_BYTES),
        protocols: protocols(&args.protocols)?,
        ..DealConfig::default()
    };
    let client = Client::connect(&[node_addr(&args.node)?]).await?;
    let made = async {
        let trust = trust_source(&client, &args.request).await?;
        let mut progress = show_event;
        anyhow::Ok(
            client
                .make_deal(&key, &req, &trust, &config, &mut progress)
                .await?,
        )
    }
    .await;
    client.close().await;
    let report = made?;
    let view = deal_view(&report, now());
    if !report.agreements.is_empty() {
        record(&key_file, &view)?;
    }
    if args.json {
        output::json(&view)?;
    } else {
        print_deal(&view);
    }
    match &report.short {
        Some(why) => Err(ClientError::DealShort(format!(
            "the deal holds {} of {} agreements: {why}",
            report.agreements.len(),
            report.wanted
        ))
        .into()),
        None => Ok(()),
    }
}

pub(crate) async fn show(args: DealShowArgs) -> anyhow::Result<()> {
    read_key_file(&args.key)?;
    let path = journal(&args.key);
    let text = match flashback_types::file::read_text_bounded(&path, MAX_JOURNAL_BYTES) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => anyhow::bail!("cannot read {}: {e}", path.display()),
    };
    let mut deals: Vec<DealView> = Vec::new();
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        deals.push(serde_json::from_str(line).map_err(|e| {
            anyhow::anyhow!("{} line {}: not a deal record: {e}", path.display(), n + 1)
        })?);
    }
    let client = Client::connect(&[node_addr(&args.node)?]).await?;
    let looked = async {
        for deal in &mut deals {
            for a in &mut deal.agreements {
                let id: ObjectId = a.agreement_id.parse()?;
                let record = client.agreement_record(id, Duration::ZERO).await?;
                a.status = Some(record.status(now()).code().to_owned());
            }
        }
        anyhow::Ok(())
    }
    .await;
    client.close().await;
    looked?;
    if args.json {
        return output::json(&deals);
    }
    if deals.is_empty() {
        output::line("no deals made with this key (see `flashback deal make`)");
    }
    for deal in &deals {
        print_deal(deal);
    }
    Ok(())
}
