//! The wire protocol's names and limits, in one place: gossip topics, request-response
//! protocol ids, the DHT and identify names, and the size limits every node of a network must
//! agree on. `flashback-net` builds its behaviours from these, the node routes each object to
//! its kind's topic ([`crate::Kind::topic`]), and [`crate::wire`] sizes its messages with the
//! limits. `docs/PROTOCOL.md` §5 describes them.

use std::fmt;

use crate::kind::Kind;
use crate::query::MAX_QUERY_LIMIT;

with_all! {
    /// A gossipsub topic. A node subscribes to all of them and refuses subscriptions to any
    /// other; each object kind travels on exactly one ([`crate::Kind::topic`]).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
    pub enum Topic {
        /// Offers (and their withdrawals) and equivocation evidence.
        Offers,
        /// Consumers' open demands.
        Demands,
        /// SLA proposals and the providers' decisions.
        Sla,
        /// Agreements (proposal + acceptance).
        Agreements,
        /// QoS attestations.
        Attestations,
        /// Certificates and revocations.
        Certs,
        /// Terminations of agreements.
        Terminations,
        /// Access grants: credentials sealed to an agreement's consumer.
        Access,
        /// Payment vouchers, disputes and rulings.
        Payments,
        /// Providers' quotes answering demands.
        Quotes,
    }
}

impl Topic {
    /// The topic name on the wire, e.g. `flashback/1/offers`.
    pub const fn name(self) -> &'static str {
        match self {
            Topic::Offers => "flashback/1/offers",
            Topic::Demands => "flashback/1/demands",
            Topic::Sla => "flashback/1/sla",
            Topic::Agreements => "flashback/1/agreements",
            Topic::Attestations => "flashback/1/attestations",
            Topic::Certs => "flashback/1/certs",
            Topic::Terminations => "flashback/1/terminations",
            Topic::Access => "flashback/1/access",
            Topic::Payments => "flashback/1/payments",
            Topic::Quotes => "flashback/1/quotes",
        }
    }

    /// The topic with this wire name, if it is one of ours.
    pub fn from_name(name: &str) -> Option<Topic> {
        Topic::ALL.into_iter().find(|t| t.name() == name)
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

with_all! {
    /// A request-response protocol. Each carries bincode messages ([`crate::wire`]),
    /// length-prefixed, within [`MAX_REQUEST_BYTES`] and [`MAX_RESPONSE_BYTES`] by default.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub enum Protocol {
        /// `/flashback/sync/1`: listing reconciliation between full nodes.
        Sync,
        /// `/flashback/query/1`: light-client queries.
        Query,
        /// `/flashback/submit/1`: a light client hands a signed object to a full node.
        Submit,
    }
}

impl Protocol {
    /// The libp2p protocol id, e.g. `/flashback/sync/1`.
    pub const fn id(self) -> &'static str {
        match self {
            Protocol::Sync => "/flashback/sync/1",
            Protocol::Query => "/flashback/query/1",
            Protocol::Submit => "/flashback/submit/1",
        }
    }

    /// A short name (`sync`, `query`, `submit`), as used by configuration sections.
    pub const fn name(self) -> &'static str {
        match self {
            Protocol::Sync => "sync",
            Protocol::Query => "query",
            Protocol::Submit => "submit",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// Kademlia protocol id: our own DHT, not the public IPFS one.
pub const KAD_PROTOCOL: &str = "/flashback/kad/1.0.0";

/// `protocol_version` announced through identify (the identify stream protocol itself is the
/// standard `/ipfs/id/1.0.0`).
pub const IDENTIFY_PROTOCOL_VERSION: &str = "flashback/1";

/// Default largest gossipsub frame, bytes (`net.max_transmit_size`). All nodes of a network
/// must agree on it.
pub const MAX_GOSSIP_FRAME_BYTES: usize = 64 * 1024;

/// Default largest request on any request-response protocol, bytes.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;
/// Default largest response on any request-response protocol, bytes.
pub const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;
/// Most ids in one request or response list.
pub const MAX_IDS: usize = 1024;
/// Most objects in one response.
pub const MAX_OBJECTS: usize = 256;
/// Most providers in one sync summary page.
pub const MAX_PROVIDERS: usize = 4096;
/// Most per-kind digests in one sync summary: room for every kind there will be.
pub const MAX_SUMMARY_KINDS: usize = 16;
/// Most matches one id-prefix resolution lists.
pub const MAX_RESOLVED: usize = 16;
/// Most peers one `Peers` answer lists.
pub const MAX_PEERS_LISTED: usize = 512;
/// Most offers in one query page ([`MAX_QUERY_LIMIT`]).
pub const MAX_QUERY_OBJECTS: usize = MAX_QUERY_LIMIT as usize;

// Every kind fits in what carries it: a summary's per-kind digests, a gossip frame (with room
// for framing), a submit request (with room for its envelope).
const _: () = assert!(Kind::COUNT <= MAX_SUMMARY_KINDS);
const _: () = assert!(Kind::MAX_OBJECT_BYTES + 1024 <= MAX_GOSSIP_FRAME_BYTES);
const _: () = assert!(Kind::MAX_OBJECT_BYTES + 64 <= MAX_REQUEST_BYTES);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_versioned_and_unique() {
        let topics: Vec<&str> = Topic::ALL.iter().map(|t| t.name()).collect();
        assert_eq!(
            topics,
            [
                "flashback/1/offers",
                "flashback/1/demands",
                "flashback/1/sla",
                "flashback/1/agreements",
                "flashback/1/attestations",
                "flashback/1/certs",
                "flashback/1/terminations",
                "flashback/1/access",
                "flashback/1/payments",
                "flashback/1/quotes",
            ]
        );
        for topic in Topic::ALL {
            assert_eq!(Topic::from_name(topic.name()), Some(topic));
        }
        assert_eq!(Topic::from_name("flashback/1/other"), None);
        let ids: Vec<&str> = Protocol::ALL.iter().map(|p| p.id()).collect();
        assert_eq!(
            ids,
            [
                "/flashback/sync/1",
                "/flashback/query/1",
                "/flashback/submit/1"
            ]
        );
        for protocol in Protocol::ALL {
            assert_eq!(protocol.id(), format!("/flashback/{}/1", protocol.name()));
        }
    }
}
