//! `flashback trust add|remove|require|list`: the node's trust file (`list --node` asks a
//! running node through the light client).

use std::path::PathBuf;

use flashback_client::Client;
use flashback_node::{TRUST_FILE, edit_trust_file, load_trust_file};
use flashback_types::TrustStore;
use flashback_types::trust::{Issuer, Requirement, Role};
use serde_json::json;

use crate::cli_trust::{
    TrustAddArgs, TrustFileArgs, TrustListArgs, TrustRemoveArgs, TrustRequireArgs,
};
use crate::cmd::cert::parse_key;
use crate::output;

fn path(args: &TrustFileArgs) -> PathBuf {
    match (&args.file, &args.data_dir) {
        (Some(file), _) => file.clone(),
        (None, Some(dir)) => dir.join(TRUST_FILE),
        (None, None) => flashback_node::default_data_dir().join(TRUST_FILE),
    }
}

pub(crate) fn add(args: TrustAddArgs) -> anyhow::Result<()> {
    let roles = args
        .roles
        .iter()
        .map(|r| r.parse::<Role>())
        .collect::<Result<Vec<_>, _>>()?;
    let schemes: Vec<&str> = args.schemes.iter().map(String::as_str).collect();
    let issuer = Issuer::new(&args.name, parse_key("--key", &args.key)?, &roles, &schemes)?;
    let file = path(&args.file);
    let trust = edit_trust_file(&file, |t| t.add(issuer.clone(), args.replace))?;
    report(
        &trust,
        &file,
        &format!("trusted {}", describe(&issuer)),
        args.json,
    )
}

pub(crate) fn remove(args: TrustRemoveArgs) -> anyhow::Result<()> {
    let file = path(&args.file);
    let mut removed = None;
    let trust = edit_trust_file(&file, |t| {
        removed = Some(t.remove(args.name.trim())?);
        Ok(())
    })?;
    let what = removed.map_or_else(String::new, |i| describe(&i));
    report(
        &trust,
        &file,
        &format!("no longer trusted: {what}"),
        args.json,
    )
}

pub(crate) fn require(args: TrustRequireArgs) -> anyhow::Result<()> {
    let requirement: Requirement = args.requirement.parse()?;
    let file = path(&args.file);
    let scheme = args.scheme.trim();
    let trust = edit_trust_file(&file, |t| t.require(scheme, requirement))?;
    let line = match trust.needed(scheme) {
        Some(n) => format!("{scheme} needs {requirement} ({n} issuer(s) at present)"),
        None => format!(
            "{scheme} needs {requirement}: no key holds it until enough trusted issuers may \
             certify {scheme}"
        ),
    };
    report(&trust, &file, &line, args.json)
}

pub(crate) async fn list(args: TrustListArgs) -> anyhow::Result<()> {
    let (trust, source) = match &args.node {
        Some(addr) => {
            let client = Client::connect(std::slice::from_ref(addr)).await?;
            let trust = client.node_trust().await;
            client.close().await;
            (trust?, format!("node {addr}"))
        }
        None => {
            let file = path(&args.file);
            (load_trust_file(&file)?, file.display().to_string())
        }
    };
    if args.json {
        return output::json(&trust_json(&trust));
    }
    output::line(format_args!("trust store of {source}:"));
    if trust.issuers.is_empty() {
        output::line("  no issuer is trusted (`flashback trust add` adds one)");
    }
    for issuer in trust.issuers.iter() {
        output::line(format_args!("  {}", describe(issuer)));
    }
    for rule in trust.claims.iter() {
        output::line(format_args!(
            "  claim {} needs {} issuer(s)",
            rule.scheme, rule.require
        ));
    }
    Ok(())
}

fn describe(issuer: &Issuer) -> String {
    let roles: Vec<&str> = issuer.roles.iter().map(|r| r.name()).collect();
    let schemes: Vec<&str> = issuer.schemes.iter().map(|s| s.as_str()).collect();
    format!(
        "{} {} as {}{}",
        issuer.name,
        issuer.key,
        roles.join(", "),
        if schemes.is_empty() {
            String::new()
        } else {
            format!(" for {}", schemes.join(", "))
        }
    )
}

fn trust_json(trust: &TrustStore) -> serde_json::Value {
    json!({
        "issuers": trust.issuers.iter().map(|i| json!({
            "name": i.name.as_str(),
            "key": i.key.to_string(),
            "roles": i.roles.iter().map(|r| r.name()).collect::<Vec<_>>(),
            "schemes": i.schemes.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "claims": trust.claims.iter().map(|r| json!({
            "scheme": r.scheme.as_str(),
            "require": r.require.to_string(),
        })).collect::<Vec<_>>(),
    })
}

fn report(
    trust: &TrustStore,
    file: &std::path::Path,
    line: &str,
    json: bool,
) -> anyhow::Result<()> {
    if json {
        let mut value = trust_json(trust);
        value["file"] = file.display().to_string().into();
        return output::json(&value);
    }
    output::line(format_args!("{line} ({})", file.display()));
    Ok(())
}
