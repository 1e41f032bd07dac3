//! What network to build: [`NetworkSpec`] and [`Topology`].

use rand::rngs::StdRng;
use rand::{RngExt as _, SeedableRng as _};
use std::path::PathBuf;

use flashback_net::NetConfig;
use flashback_node::{MetricsConfig, NodeConfig};

/// The shape of an in-process network.
#[derive(Debug, Clone)]
pub struct NetworkSpec {
    /// Peers (at least 1).
    pub nodes: usize,
    /// Whom each peer dials at start.
    pub topology: Topology,
    /// Gossipsub heartbeat (default `NetConfig`'s, 1000 ms). A shorter one forms meshes sooner,
    /// but mesh upkeep in every peer that often keeps a small machine's cores busy.
    pub heartbeat_ms: u64,
    /// One-way delay added to every link, both directions (`NetConfig::memory_link_delay_ms`;
    /// 0: the peers' CPU work alone).
    pub link_delay_ms: u64,
    /// Gossipsub mesh degree (default `NetConfig`'s).
    pub mesh_n: usize,
    /// Most connections each peer keeps (`NetConfig::max_established`, default 256). Kademlia's
    /// random walks connect every peer to as many others as this allows: at 1,000 peers in one
    /// process the default means hundreds of thousands of connections, so scale runs cap it.
    pub max_connections: u32,
    /// Run Kademlia (default on, as a node does). Its random walks keep dialling until every
    /// peer sits at `max_connections`, after which a newcomer's bootstrap dials are refused
    /// and, at 1,000 peers under a cap of 24, the network falls apart into islands (one run
    /// reached 177 of 999 peers). Scale runs turn it off: the connections are then those the
    /// topology dials ([`Topology::Random`] for a graph like discovery's), on which the gossip
    /// meshes form.
    pub kademlia: bool,
}

impl Default for NetworkSpec {
    fn default() -> Self {
        let net = NetConfig::default();
        Self {
            nodes: 10,
            topology: Topology::RandomEarlier { seed: 1 },
            heartbeat_ms: net.gossip_heartbeat_ms,
            link_delay_ms: 0,
            mesh_n: net.gossip_mesh_n,
            max_connections: net.max_established,
            kademlia: net.enable_kad,
        }
    }
}

impl NetworkSpec {
    /// A peer's network configuration: memory transport, listening on a fresh `/memory/`
    /// port, dialing `bootstrap` at start.
    pub fn net_config(&self, bootstrap: Vec<String>) -> NetConfig {
        NetConfig {
            memory_transport: true,
            memory_link_delay_ms: self.link_delay_ms,
            listen: vec!["/memory/0".into()],
            bootstrap,
            gossip_heartbeat_ms: self.heartbeat_ms.max(1),
            gossip_mesh_n: self.mesh_n,
            max_established: self.max_connections.max(1),
            enable_kad: self.kademlia,
            // One process holds every peer: each would measure the same process's memory at
            // every new connection, to the same end.
            max_memory_fraction: None,
            ..NetConfig::default()
        }
    }

    /// Fewest mesh peers a settled peer has: gossipsub's `mesh_n_low` for this mesh degree (a
    /// peer with fewer connections can only mesh with what it has).
    pub(crate) fn min_mesh(&self) -> usize {
        (self.mesh_n * 3 / 4).max(1)
    }
}

/// A full node of a harness network: default settings but `net`, data in `data_dir`, no
/// metrics endpoint (hundreds of nodes share one machine's ports).
pub fn full_node_config(data_dir: PathBuf, net: NetConfig) -> NodeConfig {
    NodeConfig {
        data_dir,
        net,
        metrics: MetricsConfig {
            enabled: false,
            ..MetricsConfig::default()
        },
        ..NodeConfig::default()
    }
}

/// Whom each peer dials at start: always earlier peers, whose addresses are known by then.
/// Identify, Kademlia and gossipsub's peer exchange then spread the connections further.
#[derive(Debug, Clone)]
pub enum Topology {
    /// Each peer after the first dials 2 or 3 distinct random earlier peers, drawn from `seed`.
    RandomEarlier {
        /// The same seed gives the same graph.
        seed: u64,
    },
    /// Each peer dials `dials` distinct random peers among all the others, drawn from `seed`:
    /// the earlier ones at start, the later ones once every peer has started
    /// ([`Topology::later_dials`]). In- and out-degree are both about `dials` and no peer is
    /// favoured: the shape discovery gives a real network, without Kademlia's cost (runs with
    /// [`crate::NetworkSpec::kademlia`] off). Gossipsub admits a peer into a full mesh only
    /// over a connection the full side dialled (the mesh is capped at D, decision 0026), so
    /// every peer needs peers that dialled it: with only earlier peers dialled, the last ones
    /// to start have none, and one run of 1,000 peers left 186 of them short of a mesh.
    Random {
        /// The same seed gives the same graph.
        seed: u64,
        /// Peers each peer dials.
        dials: usize,
    },
    /// Each peer after the first dials the one before it.
    Line,
    /// Peer `i` dials the peers listed at `i` (each below `i`; others are skipped).
    Given(Vec<Vec<usize>>),
}

impl Topology {
    /// For each of `n` peers, the earlier peers it dials.
    pub fn bootstrap_graph(&self, n: usize) -> Vec<Vec<usize>> {
        match self {
            Topology::RandomEarlier { seed } => {
                let mut rng = StdRng::seed_from_u64(*seed);
                (0..n)
                    .map(|i| {
                        let want = rng.random_range(2..=3);
                        pick_earlier(&mut rng, i, want)
                    })
                    .collect()
            }
            Topology::Random { seed, dials } => random_graph(*seed, n, *dials)
                .into_iter()
                .enumerate()
                .map(|(i, peers)| peers.into_iter().filter(|&j| j < i).collect())
                .collect(),
            Topology::Line => (0..n)
                .map(|i| i.checked_sub(1).into_iter().collect())
                .collect(),
            Topology::Given(graph) => (0..n)
                .map(|i| {
                    graph
                        .get(i)
                        .map(|earlier| earlier.iter().copied().filter(|&j| j < i).collect())
                        .unwrap_or_default()
                })
                .collect(),
        }
    }

    /// For each of `n` peers, the later peers it dials once every peer has started (only
    /// [`Topology::Random`] has any).
    pub fn later_dials(&self, n: usize) -> Vec<Vec<usize>> {
        match self {
            Topology::Random { seed, dials } => random_graph(*seed, n, *dials)
                .into_iter()
                .enumerate()
                .map(|(i, peers)| peers.into_iter().filter(|&j| j > i).collect())
                .collect(),
            _ => vec![Vec::new(); n],
        }
    }
}

/// `want` distinct random peers below `i` (all of them if there are fewer).
fn pick_earlier(rng: &mut StdRng, i: usize, want: usize) -> Vec<usize> {
    let want = want.min(i);
    let mut picked = Vec::with_capacity(want);
    while picked.len() < want {
        let j = rng.random_range(0..i);
        if !picked.contains(&j) {
            picked.push(j);
        }
    }
    picked
}

/// For each of `n` peers, `dials` distinct random other peers (all of them if there are fewer).
fn random_graph(seed: u64, n: usize, dials: usize) -> Vec<Vec<usize>> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n)
        .map(|i| {
            let want = dials.min(n.saturating_sub(1));
            let mut picked = Vec::with_capacity(want);
            while picked.len() < want {
                let j = rng.random_range(0..n);
                if j != i && !picked.contains(&j) {
                    picked.push(j);
                }
            }
            picked
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_peer_dials_only_earlier_peers() {
        for topology in [
            Topology::RandomEarlier { seed: 7 },
            Topology::Random { seed: 7, dials: 4 },
            Topology::Line,
            Topology::Given(vec![vec![], vec![0], vec![0, 1, 5], vec![2]]),
        ] {
            let graph = topology.bootstrap_graph(6);
            assert_eq!(graph.len(), 6);
            assert!(graph[0].is_empty());
            for (i, earlier) in graph.iter().enumerate().skip(1) {
                assert!(
                    !earlier.is_empty()
                        || matches!(topology, Topology::Given(_) | Topology::Random { .. })
                );
                assert!(earlier.iter().all(|&j| j < i), "{topology:?}: {graph:?}");
            }
        }
        let random = Topology::RandomEarlier { seed: 7 }.bootstrap_graph(50);
        assert!(random.iter().skip(3).all(|e| (2..=3).contains(&e.len())));
        assert_eq!(
            random,
            Topology::RandomEarlier { seed: 7 }.bootstrap_graph(50)
        );
        let random = Topology::Random { seed: 7, dials: 4 };
        let (earlier, later) = (random.bootstrap_graph(50), random.later_dials(50));
        for i in 0..50 {
            assert_eq!(earlier[i].len() + later[i].len(), 4, "peer {i}");
            assert!(later[i].iter().all(|&j| j > i && j < 50));
        }
        assert!(later[0].len() == 4 && earlier[49].len() == 4);
        assert!(Topology::Line.later_dials(3).iter().all(Vec::is_empty));
        assert_eq!(
            Topology::Line.bootstrap_graph(3),
            [vec![], vec![0], vec![1]]
        );
    }
}
