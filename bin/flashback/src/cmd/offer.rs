//! `flashback offer publish|withdraw`: light-client commands (through `flashback-client`).

use anyhow::Context;
use flashback_client::{Client, OfferSpec, PriceSpec, QosSpec};
use flashback_types::clock::now;
use flashback_types::file::{MAX_CONFIG_BYTES, read_text_bounded};
use flashback_types::{Object, Signed};
use serde_json::json;

use crate::cli::{PublishArgs, WithdrawArgs};
use crate::cmd::keys::read_key_file;
use crate::cmd::node::node_addr;
use crate::output;

fn spec_from_flags(args: &PublishArgs) -> anyhow::Result<OfferSpec> {
    let missing = |flag: &str| {
        anyhow::anyhow!("{flag} is required when no --file is given (or pass --file offer.toml)")
    };
    let kind = match args.kind.as_str() {
        "storage" => flashback_types::ResourceKind::Storage,
        "compute" => flashback_types::ResourceKind::Compute,
        other => anyhow::bail!("--kind {other:?}: use storage or compute"),
    };
    Ok(OfferSpec {
        offer_key: args
            .offer_key
            .clone()
            .ok_or_else(|| missing("--offer-key"))?,
        kind,
        capacity: args.capacity.clone().ok_or_else(|| missing("--capacity"))?,
        price: PriceSpec {
            amount: args.price.ok_or_else(|| missing("--price"))?,
            asset: args.asset.clone(),
        },
        min_duration: "1h".into(),
        max_duration: "365d".into(),
        regions: args.regions.clone(),
        protocols: args.protocols.clone(),
        endpoint: args.endpoint.clone().ok_or_else(|| missing("--endpoint"))?,
        qos: QosSpec {
            availability_bp: args.availability_bp,
            p95_latency_ms: args.p95_latency_ms,
            ..QosSpec::default()
        },
        redundancy: args.redundancy,
        certificates: Vec::new(),
        compliance_docs: Vec::new(),
        compute: None,
        valid_for: args.valid_for.clone(),
        seq: args.seq,
    })
}

pub(crate) async fn publish(args: PublishArgs) -> anyhow::Result<()> {
    let key = read_key_file(&args.key)?;
    let spec = match &args.file {
        Some(path) => {
            let text = read_text_bounded(path, MAX_CONFIG_BYTES)
                .with_context(|| format!("cannot read offer file {}", path.display()))?;
            OfferSpec::from_toml(&text)?
        }
        None => spec_from_flags(&args)?,
    };
    let offer = spec.to_offer(key.public(), now())?;
    let signed = Signed::sign(offer, &key).map_err(|e| anyhow::anyhow!("cannot sign: {e}"))?;
    let addr = node_addr(&args.node)?;
    let client = Client::connect(&[addr]).await?;
    let result = client.submit(&Object::Offer(signed.clone())).await;
    client.close().await;
    let submitted = result?;
    let o = signed.body();
    if args.json {
        output::json(&json!({
            "id": submitted.id.to_string(),
            "provider": o.provider.to_string(),
            "offer_key": o.offer_key.as_str(),
            "seq": o.seq,
            "duplicate": submitted.duplicate,
        }))
    } else {
        output::line(format_args!(
            "published offer {} (key {}, seq {}) as {}",
            submitted.id, o.offer_key, o.seq, o.provider
        ));
        Ok(())
    }
}

pub(crate) async fn withdraw(args: WithdrawArgs) -> anyhow::Result<()> {
    let key = read_key_file(&args.key)?;
    let addr = node_addr(&args.node)?;
    let client = Client::connect(&[addr]).await?;
    let result = client.withdraw_offer(&key, &args.offer_key).await;
    client.close().await;
    let (signed, submitted) = result?;
    if args.json {
        output::json(&json!({
            "id": submitted.id.to_string(),
            "offer_key": signed.body().offer_key.as_str(),
            "seq": signed.body().seq,
            "withdrawn": true,
        }))
    } else {
        output::line(format_args!(
            "withdrew offer {} (seq {}): tombstone {}",
            signed.body().offer_key,
            signed.body().seq,
            submitted.id
        ));
        Ok(())
    }
}
