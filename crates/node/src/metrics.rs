//! Prometheus metrics: libp2p's own (recorded by `flashback-net`) plus the node's counters,
//! served on loopback at `/metrics`.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::response::IntoResponse;
use flashback_net::Validation;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{DEFAULT_METRICS_ADDR, NodeError, bind_local};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ObjectLabels {
    kind: &'static str,
    outcome: &'static str,
    verdict: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JudgedLabels {
    on: &'static str,
}

/// Where a gossip message was judged.
#[derive(Debug, Clone, Copy)]
pub(crate) enum JudgedOn {
    /// On the network task as it arrived (`InlineGossip`).
    NetworkTask,
    /// In the validation pipeline, in a batch.
    Pipeline,
}

/// The node's own counters.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    objects: Family<ObjectLabels, Counter>,
    gossip_judged: Family<JudgedLabels, Counter>,
    sync_rounds: Counter,
    sync_fetched: Counter,
    peers: Gauge,
    low_reach: Gauge,
}

impl Metrics {
    /// Registers the counters in `registry` (prefix `flashback_`).
    pub(crate) fn register(registry: &mut Registry) -> Arc<Self> {
        let m = Self::default();
        let sub = registry.sub_registry_with_prefix("flashback");
        sub.register(
            "objects",
            "Objects validated, by kind, outcome (accepted or the rule that failed) and gossip verdict",
            m.objects.clone(),
        );
        sub.register(
            "gossip_judged",
            "Gossip messages judged, by where: on the network task as they arrived, or in the validation pipeline",
            m.gossip_judged.clone(),
        );
        sub.register(
            "sync_rounds",
            "Anti-entropy rounds completed",
            m.sync_rounds.clone(),
        );
        sub.register(
            "sync_fetched_objects",
            "Objects fetched through anti-entropy",
            m.sync_fetched.clone(),
        );
        sub.register("peers", "Connected peers", m.peers.clone());
        sub.register(
            "offers_low_reach",
            "Offers whose last `offer status` check found their current version at fewer than half of the peers asked",
            m.low_reach.clone(),
        );
        Arc::new(m)
    }

    pub(crate) fn object(&self, kind: &'static str, outcome: &'static str, verdict: Validation) {
        let verdict = match verdict {
            Validation::Accept => "accept",
            Validation::Reject => "reject",
            Validation::Ignore => "ignore",
        };
        self.objects
            .get_or_create(&ObjectLabels {
                kind,
                outcome,
                verdict,
            })
            .inc();
    }

    pub(crate) fn gossip_judged(&self, on: JudgedOn, n: u64) {
        let on = match on {
            JudgedOn::NetworkTask => "network_task",
            JudgedOn::Pipeline => "pipeline",
        };
        self.gossip_judged
            .get_or_create(&JudgedLabels { on })
            .inc_by(n);
    }

    pub(crate) fn sync_round(&self, fetched: u64) {
        self.sync_rounds.inc();
        self.sync_fetched.inc_by(fetched);
    }

    pub(crate) fn set_peers(&self, n: usize) {
        self.peers.set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    pub(crate) fn set_low_reach(&self, n: usize) {
        self.low_reach.set(i64::try_from(n).unwrap_or(i64::MAX));
    }
}

/// Binds the metrics endpoint: on `listen` as given, or, when unset, on
/// [`DEFAULT_METRICS_ADDR`], else (another node on this machine holds it) on a free port of
/// the same address ([`bind_local`]).
pub(crate) async fn bind(listen: Option<SocketAddr>) -> Result<TcpListener, NodeError> {
    bind_local(listen, DEFAULT_METRICS_ADDR, "metrics", "--metrics").await
}

/// Serves the metrics endpoint (plus `extra` routes, if any) on `listener` until `stop` is
/// cancelled. Returns the bound address (the configured port may be 0).
pub(crate) fn serve(
    listener: TcpListener,
    registry: Arc<Mutex<Registry>>,
    extra: Option<axum::Router>,
    stop: CancellationToken,
) -> Result<SocketAddr, NodeError> {
    let bound = listener
        .local_addr()
        .map_err(|e| NodeError::Metrics(e.to_string()))?;
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let registry = registry.clone();
            async move {
                let mut body = String::new();
                let encoded = registry.lock().map_err(|_| ()).and_then(|r| {
                    prometheus_client::encoding::text::encode(&mut body, &r).map_err(|_| ())
                });
                match encoded {
                    Ok(()) => (
                        [(
                            axum::http::header::CONTENT_TYPE,
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        )],
                        body,
                    )
                        .into_response(),
                    Err(()) => (
                        [(axum::http::header::CONTENT_TYPE, "text/plain")],
                        "metrics unavailable".to_owned(),
                    )
                        .into_response(),
                }
            }
        }),
    );
    // More routes on the same listener (the admin endpoint).
    let app = match extra {
        Some(extra) => app.merge(extra),
        None => app,
    };
    tokio::spawn(async move {
        let result = axum::serve(listener, app)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "metrics endpoint stopped");
        }
    });
    Ok(bound)
}
