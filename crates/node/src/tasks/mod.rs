//! The node's long-running tasks that are not on the gossip path (for those, see
//! [`crate::gossip`]). Each runs until the node's stop token is cancelled, on the node's
//! task tracker, so that [`crate::Node::shutdown`] waits for it.
//!
//! - [`events`]: takes the network's events and hands each to its handler (gossip to the
//!   pipeline queue, requests to the services, new peers to the syncer, listen addresses to
//!   `node.json`, identified peers to the address book);
//! - [`syncer`]: anti-entropy rounds with each new peer and with a few random peers every
//!   `sync.interval_secs`;
//! - [`gc`]: drops expired objects every minute.
//!
//! Elsewhere: the SLA policy's task (`crate::sla`), the applied-object trace (`crate::trace`),
//! and the metrics and blob HTTP endpoints.

pub(crate) mod events;
pub(crate) mod gc;
pub(crate) mod syncer;
