//! `flashback offer publish|withdraw|list`: light-client commands (through `flashback-client`).

use anyhow::Context;
use flashback_client::{
    Client, ComputeSpecText, OfferSpec, PriceSpec, QosSpec, SeqBook, Withdrawn, human,
};
use flashback_types::clock::now;
use flashback_types::file::{MAX_CONFIG_BYTES, read_text_bounded};
use flashback_types::{OfferQuery, ResourceKind};
use serde_json::json;

use crate::cli::{OfferListArgs, PublishArgs, WithdrawArgs};
use crate::cmd::ids;
use crate::cmd::keys::read_key_file;
use crate::cmd::listing::{offer_json, offer_table};
use crate::cmd::node::node_addr;
use crate::output;

/// The offer to publish: the file's, or the flags' alone; flags given with a file override
/// its fields.
fn spec(args: &PublishArgs) -> anyhow::Result<OfferSpec> {
    let mut spec = match &args.file {
        Some(path) => {
            let text = read_text_bounded(path, MAX_CONFIG_BYTES)
                .with_context(|| format!("cannot read offer file {}", path.display()))?;
            OfferSpec::from_toml(&text)?
        }
        None => {
            let missing = |flag: &str| {
                anyhow::anyhow!(
                    "{flag} is required when no --file is given (or pass --file offer.toml)"
                )
            };
            OfferSpec {
                offer_key: args
                    .offer_key
                    .clone()
                    .ok_or_else(|| missing("--offer-key"))?,
                kind: ResourceKind::Storage,
                capacity: args.capacity.clone().ok_or_else(|| missing("--capacity"))?,
                price: PriceSpec {
                    amount: args.price.ok_or_else(|| missing("--price"))?,
                    asset: "USD".into(),
                },
                min_duration: "1h".into(),
                max_duration: "365d".into(),
                regions: Vec::new(),
                protocols: vec!["https".into()],
                endpoint: args.endpoint.clone().ok_or_else(|| missing("--endpoint"))?,
                qos: QosSpec::default(),
                redundancy: 1,
                certificates: Vec::new(),
                jurisdictions: Vec::new(),
                compliance_docs: Vec::new(),
                compute: None,
                valid_for: "30d".into(),
                seq: None,
            }
        }
    };
    if let Some(kind) = &args.kind {
        spec.kind = match kind.as_str() {
            "storage" => ResourceKind::Storage,
            "compute" => ResourceKind::Compute,
            other => anyhow::bail!("--kind {other:?}: use storage or compute"),
        };
    }
    let set = |field: &mut String, flag: &Option<String>| {
        if let Some(value) = flag {
            field.clone_from(value);
        }
    };
    set(&mut spec.offer_key, &args.offer_key);
    set(&mut spec.capacity, &args.capacity);
    set(&mut spec.endpoint, &args.endpoint);
    set(&mut spec.price.asset, &args.asset);
    set(&mut spec.min_duration, &args.min_duration);
    set(&mut spec.max_duration, &args.max_duration);
    set(&mut spec.valid_for, &args.valid_for);
    if let Some(amount) = args.price {
        spec.price.amount = amount;
    }
    if !args.regions.is_empty() {
        spec.regions.clone_from(&args.regions);
    }
    if !args.protocols.is_empty() {
        spec.protocols.clone_from(&args.protocols);
    }
    if !args.jurisdictions.is_empty() {
        spec.jurisdictions.clone_from(&args.jurisdictions);
    }
    if let Some(bp) = args.availability_bp {
        spec.qos.availability_bp = bp;
    }
    if let Some(ms) = args.p95_latency_ms {
        spec.qos.p95_latency_ms = ms;
    }
    if let Some(r) = args.redundancy {
        spec.redundancy = r;
    }
    if args.seq.is_some() {
        spec.seq = args.seq;
    }
    if args.vcpus.is_some() || args.memory.is_some() || args.accelerator.is_some() {
        let mut compute = spec.compute.take().unwrap_or(ComputeSpecText {
            vcpus: 0,
            memory: String::new(),
            accelerator: String::new(),
        });
        if let Some(vcpus) = args.vcpus {
            compute.vcpus = vcpus;
        }
        set(&mut compute.memory, &args.memory);
        set(&mut compute.accelerator, &args.accelerator);
        if compute.vcpus == 0 || compute.memory.trim().is_empty() {
            anyhow::bail!(
                "compute details need both --vcpus and --memory (or a [compute] section in --file)"
            );
        }
        spec.compute = Some(compute);
    }
    Ok(spec)
}

pub(crate) async fn publish(args: PublishArgs) -> anyhow::Result<()> {
    let key = read_key_file(&args.key)?;
    let spec = spec(&args)?;
    let body = spec.to_offer(key.public(), now())?;
    let mut book = SeqBook::open(&args.key, key.public())?;
    let addr = node_addr(&args.node)?;
    let client = Client::connect(&[addr]).await?;
    let result = client.publish_offer(&key, body, spec.seq, &mut book).await;
    client.close().await;
    let published = result?;
    let (o, id) = (published.offer.body(), published.submitted.id);
    if args.json {
        return output::json(&json!({
            "id": id.to_string(),
            "provider": o.provider.to_string(),
            "offer_key": o.offer_key.as_str(),
            "seq": o.seq,
            "replaced_seq": published.replaced,
            "duplicate": published.submitted.duplicate,
        }));
    }
    let replacing = published
        .replaced
        .map(|s| format!(", replacing seq {s}"))
        .unwrap_or_default();
    output::line(format_args!(
        "published offer {id} (key {}, seq {}{replacing}) as {}",
        o.offer_key, o.seq, o.provider
    ));
    Ok(())
}

pub(crate) async fn withdraw(args: WithdrawArgs) -> anyhow::Result<()> {
    let key = read_key_file(&args.key)?;
    let mut book = SeqBook::open(&args.key, key.public())?;
    let addr = node_addr(&args.node)?;
    let client = Client::connect(&[addr]).await?;
    let result = client
        .withdraw_offer(&key, &args.offer_key, &mut book)
        .await;
    client.close().await;
    let (tombstone, id, already) = match result? {
        Withdrawn::Now {
            tombstone,
            submitted,
        } => (tombstone, submitted.id, false),
        Withdrawn::Already(tombstone) => {
            let id = tombstone.id();
            (tombstone, id, true)
        }
    };
    let t = tombstone.body();
    if args.json {
        return output::json(&json!({
            "id": id.to_string(),
            "offer_key": t.offer_key.as_str(),
            "seq": t.seq,
            "withdrawn": true,
            "already": already,
        }));
    }
    if already {
        output::line(format_args!(
            "offer {} was already withdrawn (seq {}): tombstone {id}",
            t.offer_key, t.seq
        ));
    } else {
        output::line(format_args!(
            "withdrew offer {} (seq {}): tombstone {id}",
            t.offer_key, t.seq
        ));
    }
    Ok(())
}

pub(crate) async fn list(args: OfferListArgs) -> anyhow::Result<()> {
    let mine = match (&args.key, args.mine) {
        (Some(path), true) => Some(read_key_file(path)?.public()),
        _ => None,
    };
    let addr = node_addr(&args.node)?;
    let client = Client::connect(&[addr]).await?;
    let result = async {
        let provider = match (mine, &args.provider) {
            (Some(me), _) => me,
            (None, Some(text)) => ids::key(&client, "--provider", text).await?,
            (None, None) => anyhow::bail!("give --mine --key <file> or --provider <key>"),
        };
        let query = OfferQuery {
            provider: Some(provider),
            include_withdrawn: args.include_withdrawn,
            ..OfferQuery::default()
        };
        let all = client
            .all_offers(&query, flashback_client::MAX_ALL_OFFERS)
            .await?;
        let table = if args.json {
            None
        } else {
            Some(offer_table(&client, &all.offers, None).await?)
        };
        anyhow::Ok((provider, all, table))
    }
    .await;
    client.close().await;
    let (provider, all, table) = result?;
    if args.json {
        let items = all
            .offers
            .iter()
            .map(offer_json)
            .collect::<anyhow::Result<Vec<_>>>()?;
        return output::json(&items);
    }
    match table {
        Some(table) if !table.is_empty() => {
            table.print();
            output::line(format_args!(
                "{} of {provider}",
                human::count(all.offers.len(), "offer")
            ));
        }
        _ => output::line(format_args!("no offers of {provider}")),
    }
    Ok(())
}
