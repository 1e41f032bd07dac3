//! The seam through which the node's HTTP API makes deals (`POST /api/v1/deals`) without
//! depending on the crate that knows how: the node holds an optional `Arc<dyn DealService>`,
//! supplied by whoever starts it (`flashback node run` passes
//! `flashback_client::deal_service::NodeDeals`, which makes the deal as a light client of the
//! node itself). Without one the deal routes answer 501.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use flashback_types::SecretKey;
use flashback_types::clock::now;

use crate::ErrorDetail;
use crate::draft::DealDraft;
use crate::view::{DealStepView, DealView};

/// A deal to make.
pub struct DealJob {
    /// The node's own address (a multiaddr ending in `/p2p/<peer id>`), to connect to.
    pub node: String,
    /// The consumer's key, which signs the demand, the proposals and any termination.
    pub key: SecretKey,
    /// The request, already accepted by [`DealService::check`].
    pub request: DealDraft,
    /// Where the steps go as they happen.
    pub progress: DealProgress,
}

/// Receives a deal's steps as they happen.
#[derive(Clone)]
pub struct DealProgress(Arc<dyn Fn(DealStepView) + Send + Sync>);

impl DealProgress {
    /// Steps go to `sink`, which must not block.
    pub fn new(sink: impl Fn(DealStepView) + Send + Sync + 'static) -> Self {
        Self(Arc::new(sink))
    }

    /// Reports one step, now.
    pub fn report(&self, step: &str, detail: String) {
        (self.0)(DealStepView {
            at: now().into(),
            step: step.to_owned(),
            detail,
        });
    }
}

impl std::fmt::Debug for DealProgress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DealProgress")
    }
}

/// How a deal ends: the deal (complete, or short with the reason in
/// [`DealView::short`]), or why none was made.
pub type DealOutcome = Result<DealView, ErrorDetail>;

/// A deal being made.
pub type DealFuture = Pin<Box<dyn Future<Output = DealOutcome> + Send>>;

/// Makes deals for the node's API.
pub trait DealService: Send + Sync {
    /// Checks a request before the API accepts it: `Err` says which field is wrong and why
    /// (answered as a 400).
    fn check(&self, request: &DealDraft) -> Result<(), String>;

    /// Makes the deal. The API runs it in a task of its own and bounds how many run at once.
    fn make(&self, job: DealJob) -> DealFuture;
}
