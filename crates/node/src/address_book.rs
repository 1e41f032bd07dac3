//! Persistent address book: peers' listen addresses, so a restarted node rejoins without its
//! bootstrap list. Kept in memory and written to `peers.json` when it changes.

use std::collections::BTreeMap;
use std::path::Path;

use crate::files::JsonFile;

const FILE: &str = "peers.json";
/// Most peers remembered.
const MAX_PEERS: usize = 64;
/// Most addresses remembered per peer.
const MAX_ADDRS: usize = 8;

pub(crate) struct Book(JsonFile<BTreeMap<String, Vec<String>>>);

impl Book {
    /// The book in `data_dir`; empty when the file is missing or unreadable.
    pub(crate) fn load(data_dir: &Path) -> Self {
        let path = data_dir.join(FILE);
        let peers =
            flashback_types::file::read_text_bounded(&path, flashback_types::file::MAX_STATE_BYTES)
                .ok()
                .and_then(|text| serde_json::from_str(&text).ok())
                .unwrap_or_default();
        Self(JsonFile::new(path, peers))
    }

    /// One TCP address per remembered peer, as a dialable `/p2p/` multiaddr.
    pub(crate) fn dial_list(&self) -> Vec<String> {
        self.0
            .read(|peers| {
                peers
                    .iter()
                    .filter_map(|(peer, addrs)| {
                        addrs
                            .iter()
                            .find(|a| a.contains("/tcp/"))
                            .map(|a| format!("{a}/p2p/{peer}"))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Every remembered peer.
    pub(crate) fn peers(&self) -> Vec<flashback_net::PeerId> {
        self.0
            .read(|peers| peers.keys().filter_map(|p| p.parse().ok()).collect())
            .unwrap_or_default()
    }

    /// The listen addresses remembered for `peer` (empty when none).
    pub(crate) fn addrs_of(&self, peer: &flashback_net::PeerId) -> Vec<String> {
        self.0
            .read(|peers| peers.get(&peer.to_string()).cloned().unwrap_or_default())
            .unwrap_or_default()
    }

    /// Records a peer's listen addresses. True when the caller should run [`Book::save`]:
    /// the book changed and no save is queued yet.
    pub(crate) fn remember(
        &self,
        peer: flashback_net::PeerId,
        addrs: &[flashback_net::Multiaddr],
    ) -> bool {
        let addrs: Vec<String> = addrs
            .iter()
            .map(ToString::to_string)
            .filter(|a| !a.contains("/p2p/"))
            .take(MAX_ADDRS)
            .collect();
        if addrs.is_empty() {
            return false;
        }
        let peer = peer.to_string();
        self.0.update(|peers| {
            if peers.get(&peer) == Some(&addrs) {
                return false;
            }
            peers.insert(peer, addrs);
            while peers.len() > MAX_PEERS {
                if peers.pop_first().is_none() {
                    break;
                }
            }
            true
        })
    }

    /// Writes the book to its file (blocking). A failure is logged: the book is a
    /// convenience, the bootstrap list still works.
    pub(crate) fn save(&self) {
        if let Err(e) = self.0.save() {
            tracing::warn!(path = %self.0.path().display(), error = %e, "could not save the address book");
        }
    }
}
