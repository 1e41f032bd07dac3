//! The namespaces, veth pairs, bridge, qdiscs and nftables rules of a WAN testnet, made with
//! `ip`, `tc` and `nft`, and removed on every exit path: [`Netns::remove`] after the nodes
//! stopped, [`Drop`] on errors and panics, and [`cleanup`] (from `testnet down`) after a
//! runner that was killed. Everything made carries the run's name prefix (`fbt` and four hex
//! digits), recorded in `<out>/netns.json` before anything is made.
//!
//! Topology: a bridge `<prefix>br` in the runner's namespace, with the runner's address
//! `10.B.0.1/16`; each public node's namespace `<prefix>n<i>` joined to it by a veth pair
//! (`<prefix>h<i>` on the bridge, `eth0` inside), with no default route; each node behind NAT
//! in its own namespace behind a router namespace `<prefix>r<i>` (`pub0` on the bridge at
//! `10.B.250.k`, `lan0` at `10.(B+1).k.1/24`), which masquerades what leaves through `pub0` and
//! forwards nothing new inwards but from the runner (its management access: it submits,
//! queries and probes through the node itself, as an operator on that LAN would).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

use super::LinkPlan;
use crate::TestnetError;

/// Every name made by a run starts with this and four hex digits.
pub(crate) const PREFIX: &str = "fbt";
/// Where the run's prefix is recorded.
pub(crate) const NETNS_JSON: &str = "netns.json";

/// `<out>/netns.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct NetnsFile {
    pub(crate) prefix: String,
    pub(crate) runner_pid: u32,
}

/// What carried what on this run's links.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Carriers {
    /// `netem` carries delay, jitter and loss.
    pub(crate) netem: bool,
    /// nftables drops packets (when netem does not).
    pub(crate) nft: bool,
}

/// Why namespaces cannot be made here, if they cannot.
pub(crate) fn unusable() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().nth(1))
        .unwrap_or("?");
    if euid != "0" {
        return Some(format!(
            "network namespaces need root (effective uid {euid}); run as root, or with --links loopback"
        ));
    }
    for tool in ["ip", "tc"] {
        if run(Command::new(tool).arg("-V")).is_err() {
            return Some(format!(
                "`{tool}` is not installed (Debian: apt-get install iproute2)"
            ));
        }
    }
    None
}

/// Whether `nft` runs here.
pub(crate) fn have_nft() -> bool {
    run(Command::new("nft").arg("--version")).is_ok()
}

/// The network of one run.
pub(crate) struct Netns {
    prefix: String,
    out: PathBuf,
    namespaces: Vec<String>,
    /// Links made in the runner's namespace (the bridge, veth ends that stay there).
    links: Vec<String>,
}

impl Netns {
    /// Picks the run's prefix and records it in `<out>/netns.json`, before anything is made.
    pub(crate) fn new(out: &Path) -> Result<Self, TestnetError> {
        let prefix = format!("{PREFIX}{:04x}", rand::random::<u16>());
        let file = NetnsFile {
            prefix: prefix.clone(),
            runner_pid: std::process::id(),
        };
        let text =
            serde_json::to_string(&file).map_err(|e| TestnetError::Internal(e.to_string()))?;
        crate::fleet::write(&out.join(NETNS_JSON), text.as_bytes())?;
        Ok(Self {
            prefix,
            out: out.to_path_buf(),
            namespaces: Vec::new(),
            links: Vec::new(),
        })
    }

    /// The prefix of every name this run makes.
    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The namespace node `i` runs in.
    pub(crate) fn node_ns(&self, i: usize) -> String {
        format!("{}n{i:03}", self.prefix)
    }

    /// Makes the bridge, every node's namespace and link, the NAT routers and the shaping.
    /// Returns what carried delay and loss.
    pub(crate) fn build(&mut self, plan: &mut LinkPlan) -> Result<Carriers, TestnetError> {
        let p = self.prefix.clone();
        let b = plan.octet;
        let bridge = format!("{p}br");
        self.ip(&["link", "add", &bridge, "type", "bridge"])?;
        self.links.push(bridge.clone());
        self.ip(&["addr", "add", &format!("10.{b}.0.1/16"), "dev", &bridge])?;
        self.ip(&["link", "set", &bridge, "up"])?;
        // Does this kernel have netem? Asked of the bridge, then undone.
        let netem = run(Command::new("tc").args([
            "qdisc", "add", "dev", &bridge, "root", "netem", "delay", "1ms",
        ]))
        .is_ok();
        if netem {
            let _ = run(Command::new("tc").args(["qdisc", "del", "dev", &bridge, "root"]));
        }
        plan.netem = netem;
        let carriers = Carriers {
            netem,
            nft: !netem && have_nft(),
        };

        for i in 0..plan.places.len() {
            let ns = self.node_ns(i);
            self.add_ns(&ns)?;
            let place = plan.places[i].clone();
            match place.router {
                None => {
                    let (outside, inside) = (format!("{p}h{i:03}"), format!("{p}c{i:03}"));
                    self.veth(&outside, &inside, &ns)?;
                    self.ip(&["link", "set", &outside, "master", &bridge])?;
                    self.ip(&["link", "set", &outside, "up"])?;
                    self.inside(&ns, &inside, "eth0", &format!("{}/16", place.addr))?;
                    if plan.spec.rate_mbit > 0 {
                        tbf(None, &outside, plan.spec.rate_mbit)?;
                    }
                }
                Some(router_addr) => {
                    let k = place.addr.octets()[2];
                    let rns = format!("{p}r{i:03}");
                    self.add_ns(&rns)?;
                    let (outside, pub0) = (format!("{p}g{i:03}"), format!("{p}q{i:03}"));
                    self.veth(&outside, &pub0, &rns)?;
                    self.ip(&["link", "set", &outside, "master", &bridge])?;
                    self.ip(&["link", "set", &outside, "up"])?;
                    self.inside(&rns, &pub0, "pub0", &format!("{router_addr}/16"))?;
                    let (lan, eth) = (format!("{p}l{i:03}"), format!("{p}m{i:03}"));
                    self.ip(&["link", "add", &lan, "type", "veth", "peer", "name", &eth])?;
                    self.ip(&["link", "set", &lan, "netns", &rns])?;
                    self.ip(&["link", "set", &eth, "netns", &ns])?;
                    let gateway = format!("10.{}.{k}.1", b + 1);
                    self.inside(&rns, &lan, "lan0", &format!("{gateway}/24"))?;
                    self.inside(&ns, &eth, "eth0", &format!("{}/24", place.addr))?;
                    self.ip(&["-n", &ns, "route", "add", "default", "via", &gateway])?;
                    run(Command::new("ip").args([
                        "netns",
                        "exec",
                        &rns,
                        "sysctl",
                        "-qw",
                        "net.ipv4.ip_forward=1",
                    ]))?;
                    nft(&rns, &router_rules(&plan.runner_addr().to_string()))?;
                    // The runner reaches the node through its router (management access).
                    self.ip(&[
                        "route",
                        "add",
                        &format!("10.{}.{k}.0/24", b + 1),
                        "via",
                        &router_addr.to_string(),
                        "dev",
                        &bridge,
                    ])?;
                    if plan.spec.rate_mbit > 0 {
                        tbf(Some(&rns), "lan0", plan.spec.rate_mbit)?;
                    }
                }
            }
            self.shape_egress(plan, i, &ns, carriers)?;
        }
        Ok(carriers)
    }

    /// Upload rate, and delay and loss when the kernel carries them, on node `i`'s `eth0`.
    fn shape_egress(
        &self,
        plan: &LinkPlan,
        i: usize,
        ns: &str,
        carriers: Carriers,
    ) -> Result<(), TestnetError> {
        let rate = plan.spec.rate_mbit;
        if carriers.netem {
            for args in netem_tree(plan, i) {
                run(Command::new("tc").args(["-n", ns]).args(&args))?;
            }
        } else if rate > 0 {
            tbf(Some(ns), "eth0", rate)?;
        }
        if carriers.nft && plan.spec.loss_percent > 0.0 {
            nft(ns, &loss_rules(plan))?;
        }
        Ok(())
    }

    fn add_ns(&mut self, ns: &str) -> Result<(), TestnetError> {
        run(Command::new("ip").args(["netns", "add", ns]))?;
        self.namespaces.push(ns.to_owned());
        self.ip(&["-n", ns, "link", "set", "lo", "up"])
    }

    /// A veth pair whose `inside` end moves into `ns`.
    fn veth(&mut self, outside: &str, inside: &str, ns: &str) -> Result<(), TestnetError> {
        self.ip(&[
            "link", "add", outside, "type", "veth", "peer", "name", inside,
        ])?;
        self.links.push(outside.to_owned());
        self.ip(&["link", "set", inside, "netns", ns])
    }

    /// Renames `link` in `ns` to `name`, gives it `cidr` and brings it up.
    fn inside(&self, ns: &str, link: &str, name: &str, cidr: &str) -> Result<(), TestnetError> {
        self.ip(&["-n", ns, "link", "set", link, "name", name])?;
        self.ip(&["-n", ns, "addr", "add", cidr, "dev", name])?;
        self.ip(&["-n", ns, "link", "set", name, "up"])
    }

    fn ip(&self, args: &[&str]) -> Result<(), TestnetError> {
        run(Command::new("ip").args(args))
    }

    /// Removes everything this run made (namespaces first: their veth ends go with them) and
    /// anything else carrying its prefix. Returns what could not be removed.
    pub(crate) fn remove(&mut self) -> Vec<String> {
        self.namespaces.clear();
        self.links.clear();
        let left = cleanup(&self.prefix);
        if left.is_empty() {
            let _ = std::fs::remove_file(self.out.join(NETNS_JSON));
        }
        left
    }
}

impl Drop for Netns {
    /// The last line of defence (errors, panics): nothing made here outlives the runner.
    fn drop(&mut self) {
        if !self.namespaces.is_empty() || !self.links.is_empty() {
            self.remove();
        }
    }
}

/// Removes every namespace and link whose name starts with `prefix`; returns those left.
pub(crate) fn cleanup(prefix: &str) -> Vec<String> {
    for ns in names(prefix).0 {
        let _ = run(Command::new("ip").args(["netns", "del", &ns]));
    }
    for link in names(prefix).1 {
        let _ = run(Command::new("ip").args(["link", "del", &link]));
    }
    let (ns, links) = names(prefix);
    ns.into_iter().chain(links).collect()
}

/// Namespaces and links (in the runner's namespace) whose names start with `prefix`.
pub(crate) fn names(prefix: &str) -> (Vec<String>, Vec<String>) {
    let output = |args: &[&str]| {
        Command::new("ip")
            .args(args)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    };
    let namespaces = output(&["netns", "list"])
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(prefix))
        .map(str::to_owned)
        .collect();
    // `ip -o link` lines: "7: name@peer: <FLAGS> …".
    let links = output(&["-o", "link", "show"])
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or(n))
        .filter(|n| n.starts_with(prefix))
        .map(str::to_owned)
        .collect();
    (namespaces, links)
}

/// What `testnet down` removes: the prefix recorded in `<out>/netns.json`, if any.
pub(crate) fn recorded(out: &Path) -> Option<NetnsFile> {
    let text = std::fs::read_to_string(out.join(NETNS_JSON)).ok()?;
    serde_json::from_str(&text).ok()
}

/// A second octet `B` such that neither `10.B.0.0/16` nor `10.(B+1).0.0/16` is in use here.
pub(crate) fn free_octet() -> Result<u8, TestnetError> {
    let addrs = Command::new("ip")
        .args(["-4", "-o", "addr", "show"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let routes = Command::new("ip")
        .args(["-4", "route", "show"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let used = |b: u8| {
        let needle = format!(" 10.{b}.");
        addrs.contains(&needle) || routes.contains(&needle) || routes.starts_with(&needle[1..])
    };
    let start = 100 + 2 * (rand::random::<u8>() % 48);
    (0..48u8)
        .map(|k| 100 + (start - 100 + 2 * k) % 96)
        .find(|&b| !used(b) && !used(b + 1))
        .ok_or_else(|| {
            TestnetError::Node("no free 10.B.0.0/16 network between 10.100 and 10.197".into())
        })
}

/// The router's rules, a home router's: masquerade what leaves through `pub0`; forward inwards
/// only replies, and new connections from the runner; and drop, silently, what comes to the
/// router itself unasked. Without that last chain the router's kernel answers a peer's early
/// hole-punch SYN (sent before the node behind this router sent its own) with a reset, which
/// kills the attempt on the peer's side: a home router drops it, and the peer's SYN then
/// meets the node's own SYN (TCP simultaneous open).
fn router_rules(runner: &str) -> String {
    format!(
        "table ip fbnat {{
  chain masq {{ type nat hook postrouting priority srcnat; oifname \"pub0\" masquerade; }}
  chain guard {{ type filter hook forward priority filter; policy drop;
    ct state established,related accept
    iifname \"lan0\" accept
    iifname \"pub0\" ip saddr {runner} accept
  }}
  chain local {{ type filter hook input priority filter; policy drop;
    ct state established,related accept
    iifname != \"pub0\" accept
  }}
}}
"
    )
}

/// Drops `loss_percent` of the packets a node sends to other nodes (never the runner's).
fn loss_rules(plan: &LinkPlan) -> String {
    let per_100k = (plan.spec.loss_percent * 1000.0).round() as u64;
    format!(
        "table ip fbloss {{
  chain out {{ type filter hook output priority filter;
    ip daddr 10.{b}.0.0/16 ip daddr != {runner} numgen random mod 100000 < {per_100k} drop
  }}
}}
",
        b = plan.octet,
        runner = plan.runner_addr()
    )
}

/// `tc` arguments of node `i`'s egress when netem carries the links: an htb class per
/// destination (at the access rate), each with a netem qdisc of that pair's delay, jitter and
/// loss, chosen by destination address; the runner's traffic takes the default class.
fn netem_tree(plan: &LinkPlan, i: usize) -> Vec<Vec<String>> {
    let rate = if plan.spec.rate_mbit > 0 {
        format!("{}mbit", plan.spec.rate_mbit)
    } else {
        "10gbit".to_owned()
    };
    let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
    let mut cmds = vec![
        s(&[
            "qdisc", "add", "dev", "eth0", "root", "handle", "1:", "htb", "default", "1",
        ]),
        s(&[
            "class", "add", "dev", "eth0", "parent", "1:", "classid", "1:1", "htb", "rate", &rate,
        ]),
    ];
    for j in (0..plan.places.len()).filter(|&j| j != i) {
        let class = format!("1:{:x}", 16 + j);
        let (delay, jitter) = plan.one_way(plan.rtt_ms[i][j]);
        cmds.push(s(&[
            "class", "add", "dev", "eth0", "parent", "1:", "classid", &class, "htb", "rate", &rate,
        ]));
        cmds.push(s(&[
            "qdisc",
            "add",
            "dev",
            "eth0",
            "parent",
            &class,
            "netem",
            "delay",
            &format!("{delay}ms"),
            &format!("{jitter}ms"),
            "loss",
            &format!("{}%", plan.spec.loss_percent),
        ]));
        cmds.push(s(&[
            "filter",
            "add",
            "dev",
            "eth0",
            "parent",
            "1:",
            "protocol",
            "ip",
            "u32",
            "match",
            "ip",
            "dst",
            &format!("{}/32", plan.places[j].seen_as()),
            "flowid",
            &class,
        ]));
    }
    cmds
}

/// A token bucket of `mbit` on `dev` (in `ns`, or the runner's namespace).
fn tbf(ns: Option<&str>, dev: &str, mbit: u64) -> Result<(), TestnetError> {
    let mut cmd = Command::new("tc");
    if let Some(ns) = ns {
        cmd.args(["-n", ns]);
    }
    // A burst of 1 ms of traffic (at least 32 KiB), 50 ms of queue.
    let burst = (mbit * 1_000_000 / 8 / 1000).max(32 * 1024);
    run(cmd.args([
        "qdisc",
        "add",
        "dev",
        dev,
        "root",
        "tbf",
        "rate",
        &format!("{mbit}mbit"),
        "burst",
        &burst.to_string(),
        "latency",
        "50ms",
    ]))
}

/// Loads nftables `rules` into namespace `ns`.
fn nft(ns: &str, rules: &str) -> Result<(), TestnetError> {
    use std::io::Write as _;
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns, "nft", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| TestnetError::Node(format!("cannot run nft: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(rules.as_bytes())
            .map_err(|e| TestnetError::Node(format!("nft: {e}")))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| TestnetError::Node(format!("nft: {e}")))?;
    succeeded(&out, || format!("nft in {ns}"))
}

/// Runs a command; its stderr is the error.
fn run(cmd: &mut Command) -> Result<(), TestnetError> {
    let out = cmd
        .output()
        .map_err(|e| TestnetError::Node(format!("cannot run {cmd:?}: {e}")))?;
    succeeded(&out, || format!("{cmd:?}"))
}

/// A finished command's outcome: its stderr, after `what`, is the error.
fn succeeded(
    out: &std::process::Output,
    what: impl FnOnce() -> String,
) -> Result<(), TestnetError> {
    if out.status.success() {
        return Ok(());
    }
    Err(TestnetError::Node(format!(
        "{}: {}",
        what(),
        String::from_utf8_lossy(&out.stderr).trim()
    )))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use rand::SeedableRng as _;

    use super::*;
    use crate::links::LinkSpec;

    #[test]
    fn the_netem_tree_has_a_class_per_destination_with_its_delay() {
        let plan = LinkPlan::new(
            &LinkSpec::default(),
            None,
            &[],
            3,
            110,
            &mut rand::rngs::StdRng::seed_from_u64(1),
        );
        let cmds = netem_tree(&plan, 0);
        // Root and default class, then class, netem and filter for each of the 2 others.
        assert_eq!(cmds.len(), 2 + 3 * 2);
        let netem = cmds
            .iter()
            .find(|c| c.contains(&"netem".to_owned()))
            .unwrap();
        assert!(netem.contains(&format!("{}ms", plan.rtt_ms[0][1] / 2)));
        assert!(cmds.iter().any(|c| c.contains(&"10.110.1.3/32".to_owned())));
    }

    #[test]
    fn loss_spares_the_runner() {
        let spec = LinkSpec {
            loss_percent: 0.1,
            ..LinkSpec::default()
        };
        let plan = LinkPlan::new(
            &spec,
            None,
            &[],
            2,
            110,
            &mut rand::rngs::StdRng::seed_from_u64(1),
        );
        let rules = loss_rules(&plan);
        assert!(rules.contains("ip daddr != 10.110.0.1"));
        assert!(rules.contains("< 100 drop"));
    }
}
