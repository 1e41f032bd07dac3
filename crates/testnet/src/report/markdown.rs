//! The Markdown rendering of a report (`report.md`).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::{Counts, Report};

fn ms(v: Option<u64>) -> String {
    v.map_or_else(|| "did not converge".to_owned(), |v| format!("{v} ms"))
}

fn short(hex: &str) -> &str {
    hex.get(..12).unwrap_or(hex)
}

impl Report {
    /// The report in Markdown (`report.md`).
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let r = &self.run;
        let _ = writeln!(
            s,
            "# Testnet report: {} — {}\n",
            r.scenario,
            if self.ok { "PASS" } else { "FAIL" }
        );
        if !r.description.is_empty() {
            let _ = writeln!(s, "{}\n", r.description);
        }
        let _ = writeln!(
            s,
            "{} nodes ({} providers, {} of them flaky; {} consumers) on {} cores, activity {:.0} \
             s, seed {}. Start-up {:.1} s, set-up {:.1} s, whole run {:.1} s. Rerun with \
             `{}`.\n",
            r.nodes,
            r.providers,
            r.flaky_providers,
            r.consumers,
            r.cores,
            r.duration_secs,
            r.seed,
            r.startup_secs,
            r.setup_secs,
            r.wall_secs,
            if r.rerun.is_empty() {
                format!(
                    "flashback testnet up --scenario {} --nodes {} --seed {}",
                    r.scenario, r.nodes, r.seed
                )
            } else {
                r.rerun.clone()
            }
        );

        let _ = writeln!(s, "## Checks\n\n| check | result | detail |\n|---|---|---|");
        for c in &self.checks {
            let result = if c.ok { "pass" } else { "**FAIL**" };
            row(&mut s, &[&c.name, &result, &c.detail]);
        }

        let c = &self.counts;
        let _ = writeln!(s, "\n## Counts\n\n| what | count |\n|---|---|");
        for (name, v) in [
            ("nodes", c.nodes as u64),
            ("offers published", c.offers as u64),
            ("live offers listed at the end", c.offers_listed),
            ("SLA proposals", c.proposals as u64),
            ("agreements", c.agreements as u64),
            ("rejected proposals", c.rejected_proposals as u64),
            ("attestations", c.attestations as u64),
            ("runner submits that failed", c.submit_failures as u64),
            ("objects accepted (all nodes)", c.accepted),
        ] {
            let _ = writeln!(s, "| {name} | {v} |");
        }
        for (name, total, by) in [
            ("objects rejected (all nodes)", c.rejected, &c.rejected_by),
            ("objects ignored (all nodes)", c.ignored, &c.ignored_by),
        ] {
            let _ = writeln!(s, "| {name} | {} |", Counts::with_outcomes(total, by));
        }

        let p = &self.propagation;
        let _ = writeln!(
            s,
            "\n## Propagation\n\nFrom publish to presence in each node's listing (`applied.log`), \
             over {} objects and {} (object, node) pairs; {} pairs never arrived.\n",
            p.objects, p.samples, p.missing
        );
        let _ = writeln!(
            s,
            "| kind | objects | samples | missing | p50 ms | p95 ms | p99 ms | max ms |\n|---|---|---|---|---|---|---|---|"
        );
        let _ = writeln!(
            s,
            "| **all** | {} | {} | {} | {:.0} | {:.0} | {:.0} | {:.0} |",
            p.objects, p.samples, p.missing, p.p50_ms, p.p95_ms, p.p99_ms, p.max_ms
        );
        for k in &p.by_kind {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {:.0} | {:.0} | {:.0} | {:.0} |",
                k.kind, k.objects, k.samples, k.missing, k.p50_ms, k.p95_ms, k.p99_ms, k.max_ms
            );
        }
        let _ = writeln!(s, "\n![propagation CDF](propagation_cdf.png)\n");
        super::wan::markdown(
            &mut s,
            self.links.as_ref(),
            &self.traffic,
            self.nat.as_ref(),
        );

        let v = &self.convergence;
        let _ = writeln!(
            s,
            "\n## Convergence\n\n{}: {} distinct digest(s) among {} nodes; time after the \
             activity phase: {}.",
            if v.converged {
                "Converged"
            } else {
                "**Did not converge**"
            },
            v.distinct_digests,
            v.digests.len(),
            ms(v.time_ms)
        );
        if !v.after_churn_ms.is_empty() {
            let list: Vec<String> = v.after_churn_ms.iter().map(|t| ms(*t)).collect();
            let _ = writeln!(s, "After each churn restart: {}.", list.join(", "));
        }
        if self.partition.is_some() {
            let _ = writeln!(s, "After the heal: {}.", ms(v.after_heal_ms));
        }
        let mut groups: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for d in &v.digests {
            groups
                .entry(d.digest.as_deref().map_or("(no answer)", short))
                .or_default()
                .push(&d.node);
        }
        let _ = writeln!(s, "\n| digest | nodes |\n|---|---|");
        for (digest, nodes) in groups {
            let _ = writeln!(s, "| `{digest}…` | {} |", nodes.join(" "));
        }

        let _ = writeln!(
            s,
            "\n## Reputation\n\n| provider | node | flaky | failure rate | added ms | price | regions | agreements | counted | probes ok | evidence | score | beta mean | compliance |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
        );
        for row in &self.reputation {
            let _ = writeln!(
                s,
                "| `{}…` | {} | {} | {:.2} | {} | {} | {} | {} | {} | {}/{} | {:.2} | {} | {:.3} | {:.3} |",
                short(&row.provider),
                row.node,
                if row.flaky { "yes" } else { "no" },
                row.failure_rate,
                row.added_latency_ms,
                row.price
                    .as_ref()
                    .map_or_else(|| "-".to_owned(), flashback_client::human::price),
                row.regions.join(" "),
                row.agreements,
                row.counted,
                row.successes,
                row.probes,
                row.evidence,
                row.score
                    .map_or_else(|| "unrated".to_owned(), |s| format!("{s:.3}")),
                row.beta_mean,
                row.compliance
            );
        }
        let _ = writeln!(s, "\n![reputation](reputation.png)");

        if !self.churn.is_empty() {
            let _ = writeln!(
                s,
                "\n## Churn\n\n| node | killed at | down | converged after restart |\n|---|---|---|---|"
            );
            for e in &self.churn {
                let _ = writeln!(
                    s,
                    "| {} | {:.1} s | {:.1} s | {} |",
                    e.node,
                    e.killed_at_ms as f64 / 1000.0,
                    e.down_ms as f64 / 1000.0,
                    ms(e.converged_ms)
                );
            }
        }
        if let Some(p) = &self.partition {
            let _ = writeln!(
                s,
                "\n## Partition\n\nSplit at {:.1} s into {{{}}} and {{{}}}; split verified \
                 (no peer across): {}; the halves diverged: {} (distinct digests per half \
                 before the heal: {} and {}). Healed at {:.1} s, {} former links dialled \
                 again; converged {} after the heal.",
                p.split_at_ms as f64 / 1000.0,
                p.groups[0].join(" "),
                p.groups[1].join(" "),
                p.split_verified,
                p.diverged,
                p.digests_before_heal[0],
                p.digests_before_heal[1],
                p.healed_at_ms as f64 / 1000.0,
                p.redialled,
                ms(p.converged_after_heal_ms)
            );
        }
        if let Some(f) = &self.flood {
            let sent: Vec<String> = f.sent.iter().map(|(k, v)| format!("{v} {k}")).collect();
            let rejected: Vec<String> = f
                .rejected_by_outcome
                .iter()
                .map(|(k, v)| format!("{v} {k}"))
                .collect();
            let _ = writeln!(
                s,
                "\n## Flood\n\nAttacker connected to {} from {:.1} s to {:.1} s. Gossiped: {} \
                 ({} not sent by the attacker's own stack); submitted {} refused, {} \
                 unanswered. {} gossip messages were validated and rejected; the other {} were \
                 dropped unread once the attacker's score fell under the graylist threshold. \
                 Rejected by the nodes: {} (at the target {}, elsewhere {}). \
                 Honest offers published during the flood: {}, delivered to every node: {}.",
                f.target,
                f.from_ms as f64 / 1000.0,
                f.until_ms as f64 / 1000.0,
                sent.join(", "),
                f.send_errors,
                f.submits_refused,
                f.submits_unanswered,
                f.gossip_rejected,
                f.gossip_unvalidated,
                if rejected.is_empty() {
                    "none".to_owned()
                } else {
                    rejected.join(", ")
                },
                f.rejected_at_target,
                f.rejected_elsewhere,
                f.honest_offers,
                f.honest_delivered_everywhere
            );
            if f.stalled_handshakes > 0 {
                let _ = writeln!(
                    s,
                    "\nMeanwhile {} stalled handshakes were held against {} from another \
                     address ({} connections opened in all); light-client queries answered: \
                     {}/{}.",
                    f.stalled_handshakes,
                    f.target,
                    f.stalled_opened,
                    f.light_queries_answered,
                    f.light_queries
                );
            }
            let r = &f.republish;
            let seqs: Vec<String> = r.seqs.iter().map(u64::to_string).collect();
            let _ = writeln!(
                s,
                "\nMeanwhile provider `{}…` published one offer twice, withdrew it and published it \
                 again within {} s, at seqs {}{}: {} nodes flag any provider for equivocation.",
                short(&r.provider),
                r.within_secs,
                if seqs.is_empty() {
                    "none".to_owned()
                } else {
                    seqs.join(", ")
                },
                r.error
                    .as_ref()
                    .map(|e| format!(" (stopped: {e})"))
                    .unwrap_or_default(),
                r.flagging_nodes
            );
        }
        if let Some(deals) = &self.deals {
            deals.markdown(&mut s);
        }
        if let Some(pay) = &self.payments {
            let _ = writeln!(
                s,
                "\n## Payments\n\nAgreements billed in ten periods of {} s; consumers paid \
                 the delivered ones with vouchers, less the SLA credits their attestations \
                 earned (decision 0091). Providers refuse consumers whose payment score is below \
                 {} bp.\n\n| provider | node | flaky | agreements | due | credited | earned | \
                 paid | outstanding | overdue |\n|---|---|---|---|---|---|---|---|---|---|",
                pay.period_secs, pay.floor_bp
            );
            for r in &pay.providers {
                let _ = writeln!(
                    s,
                    "| `{}…` | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                    short(&r.provider),
                    r.node,
                    if r.flaky { "yes" } else { "no" },
                    r.agreements,
                    r.due,
                    r.credited,
                    r.earned,
                    r.paid,
                    r.outstanding,
                    r.overdue
                );
            }
            let _ = writeln!(
                s,
                "\n| consumer | pays | vouchers | score | in arrears | next proposal |\n|---|---|---|---|---|---|"
            );
            for c in &pay.consumers {
                let _ = writeln!(
                    s,
                    "| `{}…` | {} | {} | {} bp | {} | {} |",
                    short(&c.consumer),
                    if c.pays { "yes" } else { "no" },
                    c.vouchers,
                    c.score_bp,
                    c.in_arrears,
                    c.next_proposal.as_deref().unwrap_or("—")
                );
            }
            if let Some(e) = &pay.error {
                let _ = writeln!(s, "\nThe payment phase stopped: {e}");
            }
        }
        if let Some(w) = &self.withholding {
            let gaps: Vec<String> = w.gaps.iter().map(|(k, v)| format!("{v} {k}")).collect();
            let _ = writeln!(
                s,
                "\n## Withholding\n\nA withholding node (`{}`) answered from {}'s listing \
                 without the offers of provider `{}…` ({} listed by {}). A light client \
                 cross-checked it with {}: listing digests {}; differences: {}; {} held \
                 against a node. Named as withholding: {}.{}",
                w.withholder,
                w.relays,
                short(&w.victim),
                w.victim_offers,
                w.honest,
                w.honest,
                if w.digests_agree { "agree" } else { "differ" },
                if gaps.is_empty() {
                    "none".to_owned()
                } else {
                    gaps.join(", ")
                },
                w.held,
                if w.named.is_empty() {
                    "nobody".to_owned()
                } else {
                    w.named.join(", ")
                },
                w.error
                    .as_ref()
                    .map(|e| format!(" The check could not run: {e}."))
                    .unwrap_or_default()
            );
        }

        let _ = writeln!(
            s,
            "\n## Resources\n\n| node | role | restarts | peak RSS MiB | last RSS MiB | CPU s | CPU % |\n|---|---|---|---|---|---|---|"
        );
        for row in &self.resources {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {:.1} | {:.1} | {:.1} | {:.1} |",
                row.node,
                row.role,
                row.restarts,
                row.rss_max_mib,
                row.rss_last_mib,
                row.cpu_secs,
                row.cpu_percent
            );
        }
        if !self.resources.is_empty() {
            let n = self.resources.len() as f64;
            let rss: f64 = self.resources.iter().map(|r| r.rss_max_mib).sum();
            let cpu: f64 = self.resources.iter().map(|r| r.cpu_secs).sum();
            let _ = writeln!(
                s,
                "| **all** | | {} | {:.1} (mean {:.1}) | | {:.1} | {:.1} (mean) |",
                self.resources.iter().map(|r| r.restarts).sum::<u32>(),
                rss,
                rss / n,
                cpu,
                self.resources.iter().map(|r| r.cpu_percent).sum::<f64>() / n
            );
        }
        let pr = &self.processes;
        let _ = writeln!(
            s,
            "\nProcesses started: {}; killed after the SIGTERM grace period: {}; left running: {}.",
            pr.started,
            if pr.forced_kills.is_empty() {
                "none".to_owned()
            } else {
                pr.forced_kills.join(" ")
            },
            if pr.left_running.is_empty() {
                "none".to_owned()
            } else {
                format!("{:?}", pr.left_running)
            }
        );
        s
    }
}

/// Appends one Markdown table row, `| a | b | … |`, each cell as it displays.
pub(super) fn row(s: &mut String, cells: &[&dyn std::fmt::Display]) {
    s.push('|');
    for cell in cells {
        let _ = write!(s, " {cell} |");
    }
    s.push('\n');
}
