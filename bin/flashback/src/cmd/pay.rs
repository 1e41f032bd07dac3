//! `flashback pay run|status`, `provider revenue`, `consumer show`, `dispute open` and
//! `arbiter rule`: payments through `flashback-client`. The node computes every amount
//! (`flashback_types::payments`); these commands show it and sign what it says is due.

use std::collections::BTreeMap;

use flashback_api::view::{
    ConsumerView, DisputeView, PaymentView, PaymentsView, RevenueView, RulingView,
};
use flashback_client::{Client, human, parse_duration};
use flashback_types::payments::{Account, AssetTotals, ConsumerStanding, totals_by_asset};
use flashback_types::wire::PaymentsReport;
use flashback_types::{Hash32, Party};
use serde_json::json;

use crate::cli_pay::{
    ConsumerShowArgs, DisputeOpenArgs, Favour, PayRunArgs, PayStatusArgs, RevenueArgs, RuleArgs,
};
use crate::cmd::ids;
use crate::cmd::keys::read_key_file;
use crate::cmd::node::node_addr;
use crate::output;

pub(crate) async fn run(args: PayRunArgs) -> anyhow::Result<()> {
    let key = read_key_file(&args.key)?;
    let client = Client::connect(&[node_addr(&args.node)?]).await?;
    let result = async {
        let only = match &args.agreement {
            Some(text) => Some(ids::agreement(&client, text).await?),
            None => None,
        };
        anyhow::Ok(client.pay_due(&key, only).await?)
    }
    .await;
    client.close().await;
    let paid = result?;
    if args.json {
        let list: Vec<PaymentView> = paid
            .iter()
            .map(|p| PaymentView::new(&p.voucher, p.account.paid, p.submitted.duplicate))
            .collect();
        return output::json(&json!({ "paid": list }));
    }
    if paid.is_empty() {
        output::line("nothing due: every delivered period is paid");
    }
    for p in &paid {
        let v = p.voucher.body();
        output::line(format_args!(
            "paid {} {} to {} for agreement {} (cumulative {}, voucher {} seq {})",
            v.cumulative - p.account.paid,
            v.asset.as_str(),
            v.provider.fmt_short(),
            v.agreement.fmt_short(),
            v.cumulative,
            p.voucher.id().fmt_short(),
            v.sequence
        ));
    }
    Ok(())
}

pub(crate) async fn status(args: PayStatusArgs) -> anyhow::Result<()> {
    let report = payments_of(&args.node, "--key", &args.key, args.agreement.as_deref()).await?;
    if args.json {
        return output::json(&PaymentsView::from(&report));
    }
    output::line(format_args!(
        "payments of {} ({} as of {})",
        report.party,
        human::count(report.accounts.len(), "agreement"),
        human::time(report.now)
    ));
    totals_lines(&totals_by_asset(report.accounts.iter()));
    for a in report.accounts.iter() {
        account_line(a, &report);
        for line in &a.periods {
            output::line(format_args!(
                "      period {:>4}  ends {}  {}  {} {}{}",
                line.period.index,
                human::time(line.period.end),
                if line.delivered {
                    "delivered"
                } else {
                    "pending  "
                },
                line.period.amount,
                a.asset,
                match line.measured_bp {
                    Some(m) if line.credit_bp > 0 => format!(
                        "  measured {}  credit {}% = {}",
                        percent(m),
                        line.credit_bp / 100,
                        line.credited
                    ),
                    Some(m) => format!("  measured {}", percent(m)),
                    None => "  not measured".into(),
                }
            ));
        }
    }
    if report.more {
        output::line("  (more agreements than one answer lists)");
    }
    Ok(())
}

pub(crate) async fn revenue(args: RevenueArgs) -> anyhow::Result<()> {
    let since = match &args.period {
        Some(text) => {
            Some(flashback_types::clock::now().saturating_sub(parse_duration("--period", text)?))
        }
        None => None,
    };
    let report = payments_of(&args.node, "provider", &args.provider, None).await?;
    let accounts: Vec<&Account> = report
        .accounts
        .iter()
        .filter(|a| a.provider == report.party)
        .filter(|a| since.is_none_or(|s| a.start >= s))
        .collect();
    let totals = totals_by_asset(accounts.iter().copied());
    if args.json {
        return output::json(&RevenueView::new(
            &report.party,
            report.now,
            since,
            &accounts,
        ));
    }
    output::line(format_args!(
        "revenue of provider {} ({} as of {})",
        report.party,
        human::count(accounts.len(), "agreement"),
        human::time(report.now)
    ));
    totals_lines(&totals);
    for a in &accounts {
        account_line(a, &report);
    }
    Ok(())
}

pub(crate) async fn consumer_show(args: ConsumerShowArgs) -> anyhow::Result<()> {
    let report = payments_of(&args.node, "consumer", &args.consumer, None).await?;
    let accounts: Vec<&Account> = report
        .accounts
        .iter()
        .filter(|a| a.consumer == report.party)
        .collect();
    if args.json {
        return output::json(&ConsumerView::new(
            &report.party,
            report.now,
            &report.standing,
            &accounts,
        ));
    }
    output::line(format_args!("consumer {}", report.party));
    standing_lines(&report.standing);
    for a in &accounts {
        account_line(a, &report);
    }
    Ok(())
}

pub(crate) async fn dispute(args: DisputeOpenArgs) -> anyhow::Result<()> {
    let key = read_key_file(&args.key)?;
    let evidence = args
        .evidence
        .iter()
        .map(|e| {
            e.parse::<Hash32>()
                .map_err(|err| anyhow::anyhow!("--evidence {e:?}: {err} (give whole ids)"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let client = Client::connect(&[node_addr(&args.node)?]).await?;
    let result = async {
        let agreement = ids::agreement(&client, &args.agreement).await?;
        anyhow::Ok(
            client
                .open_dispute(&key, agreement, &args.claim, evidence)
                .await?,
        )
    }
    .await;
    client.close().await;
    let d = result?;
    if args.json {
        return output::json(&DisputeView::from(&d));
    }
    output::line(format_args!(
        "dispute {} opened about agreement {}",
        d.id(),
        d.body().agreement
    ));
    Ok(())
}

pub(crate) async fn rule(args: RuleArgs) -> anyhow::Result<()> {
    let key = read_key_file(&args.key)?;
    let dispute: Hash32 = args
        .dispute
        .parse()
        .map_err(|e| anyhow::anyhow!("dispute {:?}: {e} (give the whole id)", args.dispute))?;
    let favour = match args.favour {
        Favour::Consumer => Party::Consumer,
        Favour::Provider => Party::Provider,
    };
    let client = Client::connect(&[node_addr(&args.node)?]).await?;
    let result = client
        .rule(&key, dispute, favour, args.amount_due, &args.reason)
        .await;
    client.close().await;
    let r = result?;
    if args.json {
        return output::json(&RulingView::from(&r));
    }
    output::line(format_args!(
        "ruling {} on dispute {}: {} is right, {} due for agreement {}",
        r.id(),
        dispute.fmt_short(),
        favour.name(),
        r.body().amount_due,
        r.body().agreement.fmt_short()
    ));
    Ok(())
}

/// The node's payments report for the party `key` names (a key file, a public key or a unique
/// start of one; `what` names it in errors), of one agreement when `agreement` names one.
async fn payments_of(
    node: &crate::cli::NodeAddr,
    what: &str,
    key: &str,
    agreement: Option<&str>,
) -> anyhow::Result<PaymentsReport> {
    let client = Client::connect(&[node_addr(node)?]).await?;
    let result = async {
        let party = ids::key(&client, what, key).await?;
        let only = match agreement {
            Some(text) => Some(ids::agreement(&client, text).await?),
            None => None,
        };
        anyhow::Ok(client.payments(party, only).await?)
    }
    .await;
    client.close().await;
    result
}

fn percent(bp: u16) -> String {
    format!("{}.{:02}%", bp / 100, bp % 100)
}

fn totals_lines(totals: &BTreeMap<String, AssetTotals>) {
    if totals.is_empty() {
        output::line("  no agreement");
    }
    for (asset, t) in totals {
        output::line(format_args!(
            "  {asset}: due {}  credited {}  earned {}  paid {}  outstanding {}  overdue {}",
            t.due, t.credited, t.earned, t.paid, t.outstanding, t.overdue
        ));
    }
}

fn account_line(a: &Account, report: &PaymentsReport) {
    let role = if a.consumer == report.party {
        format!("to {}", a.provider.fmt_short())
    } else {
        format!("from {}", a.consumer.fmt_short())
    };
    output::line(format_args!(
        "  agreement {} {role}: total {} {}, due {}, credited {}, paid {}, outstanding {}, \
         overdue {}{}",
        a.agreement.fmt_short(),
        a.total,
        a.asset,
        a.due,
        a.credited,
        a.paid,
        a.outstanding,
        a.overdue,
        if a.paid_late { " (paid late)" } else { "" }
    ));
    if let Some(r) = &a.ruling {
        output::line(format_args!(
            "    ruled by arbiter {} for the {}: {} due",
            r.arbiter.fmt_short(),
            r.in_favour_of.name(),
            r.amount_due
        ));
    }
    if a.disputes > 0 || a.untrusted_rulings > 0 {
        output::line(format_args!(
            "    {}, {} by arbiters this node does not trust (no effect)",
            human::count(a.disputes as usize, "dispute"),
            human::count(a.untrusted_rulings as usize, "ruling")
        ));
    }
}

fn standing_lines(s: &ConsumerStanding) {
    output::line(format_args!(
        "  payment score {}  (the lowest share paid of what is overdue over its agreements, {}, \
         less {} per late agreement and {} per lost dispute; see the user guide, \"Payments\")",
        percent(s.score_bp),
        percent(s.worst_paid_bp),
        percent(flashback_types::payments::LATE_PENALTY_BP),
        percent(flashback_types::payments::LOST_DISPUTE_PENALTY_BP)
    ));
    output::line(format_args!(
        "  {}: {} paid up, {} in arrears, {} paid late",
        human::count(s.agreements as usize, "agreement"),
        s.current,
        s.in_arrears,
        s.paid_late
    ));
    output::line(format_args!(
        "  disputes ruled by trusted arbiters: {} lost, {} won",
        s.disputes_lost, s.disputes_won
    ));
}
