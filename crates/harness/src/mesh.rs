//! Waiting for the gossipsub meshes to settle before measuring anything.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use flashback_net::{NetHandle, PeerId};
use flashback_types::protocol::Topic;

use crate::NetworkSpec;

/// The meshes of the offers topic when [`crate::Network::wait_for_mesh`] returned.
#[derive(Debug, Clone)]
pub struct MeshState {
    /// Settled before the deadline (see [`crate::Network::wait_for_mesh`]).
    pub formed: bool,
    /// How long the wait took.
    pub elapsed: Duration,
    /// Mesh peers per peer, on average.
    pub mesh_avg: f64,
    /// The smallest mesh.
    pub mesh_min: usize,
    /// Peers whose mesh was smaller than `min(mesh_n_low, their connections)`: they get
    /// messages by gossip (IHAVE/IWANT, once a heartbeat) rather than by mesh forwarding.
    pub short_of_mesh: usize,
    /// Connected peers per peer, on average.
    pub connected_avg: f64,
}

/// Polls the mesh of every peer in `nets` for the offers topic, every two heartbeats of `spec`,
/// until each has at least `min(mesh_n_low, its connections)` mesh peers, the mesh graph is
/// connected, and the number of mesh links did not change since the previous poll; or until
/// `deadline` ([`MeshState::formed`] says which). [`crate::Network::wait_for_mesh`] for a
/// whole network; this for peers started otherwise.
pub async fn wait_for_mesh(
    nets: &[NetHandle],
    spec: &NetworkSpec,
    deadline: Duration,
) -> MeshState {
    let heartbeat = Duration::from_millis(spec.heartbeat_ms.max(1));
    let min_mesh = spec.min_mesh();
    let start = Instant::now();
    let index: HashMap<PeerId, usize> = nets
        .iter()
        .enumerate()
        .map(|(i, n)| (n.local_peer_id(), i))
        .collect();
    let mut previous_links = usize::MAX;
    loop {
        // Every peer asked at once: one by one, each answer waits for its swarm task's turn on
        // a runtime that runs all of them, which at 1,000 peers takes minutes per round.
        let (meshes, connected): (Vec<Vec<PeerId>>, Vec<usize>) =
            futures::future::join_all(nets.iter().map(|net| async move {
                let mesh = net
                    .mesh_peers(Topic::Offers.name())
                    .await
                    .unwrap_or_default();
                let connected = net.connected_peers().await.map_or(0, |c| c.len());
                (mesh, connected)
            }))
            .await
            .into_iter()
            .unzip();
        let short_of_mesh = meshes
            .iter()
            .zip(&connected)
            .filter(|(mesh, conn)| mesh.len() < min_mesh.min(**conn).max(1))
            .count();
        let big_enough = short_of_mesh == 0;
        let links: usize = meshes.iter().map(Vec::len).sum();
        let formed = big_enough && links == previous_links && mesh_connected(&meshes, &index);
        previous_links = links;
        if formed || start.elapsed() > deadline {
            let n = nets.len().max(1) as f64;
            return MeshState {
                formed,
                elapsed: start.elapsed(),
                mesh_avg: links as f64 / n,
                mesh_min: meshes.iter().map(Vec::len).min().unwrap_or(0),
                short_of_mesh,
                connected_avg: connected.iter().sum::<usize>() as f64 / n,
            };
        }
        tokio::time::sleep(heartbeat * 2).await;
    }
}

fn mesh_connected(meshes: &[Vec<PeerId>], index: &HashMap<PeerId, usize>) -> bool {
    if meshes.is_empty() {
        return true;
    }
    let mut adjacency = vec![HashSet::new(); meshes.len()];
    for (i, mesh) in meshes.iter().enumerate() {
        for peer in mesh {
            if let Some(&j) = index.get(peer) {
                adjacency[i].insert(j);
                adjacency[j].insert(i);
            }
        }
    }
    let mut seen = vec![false; meshes.len()];
    let mut queue = VecDeque::from([0]);
    seen[0] = true;
    while let Some(i) = queue.pop_front() {
        for &j in &adjacency[i] {
            if !seen[j] {
                seen[j] = true;
                queue.push_back(j);
            }
        }
    }
    seen.iter().all(|&s| s)
}
