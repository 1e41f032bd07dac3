//! `/api/v1/events`: Server-Sent Events, one per object newly stored (new and superseding
//! offers, withdrawals, agreements, attestations, certificates, revocations, equivocations),
//! filterable by kind and provider.
//!
//! Bounded per subscriber: a forwarding task moves matching events from the node's broadcast
//! into the subscriber's own queue of `api.subscriber_buffer` events; when that queue is full
//! (the client reads too slowly) or the broadcast overtook the forwarder, the subscriber is
//! dropped: its stream ends with a last `dropped` event saying so. Nothing waits on a slow
//! reader, and nothing is buffered without limit.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use flashback_api::ErrorBody;
use flashback_api::event::{EVENT_KINDS, EventView};
use flashback_types::{ErrorCode, Object};
use futures::Stream;
use serde::Deserialize;
use tokio::sync::{OwnedSemaphorePermit, broadcast, mpsc};
use utoipa::IntoParams;

use super::{ApiError, ApiState};

pub(super) fn routes() -> Router<ApiState> {
    Router::new().route("/api/v1/events", get(events))
}

/// Which events to stream.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(default, deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct EventParams {
    /// Kinds, comma-separated (`offer,withdrawal`); default all.
    kind: Option<String>,
    /// Only events about this provider (key, hex, or a unique prefix).
    provider: Option<String>,
}

/// A subscriber's filter.
struct Filter {
    kinds: Vec<String>,
    provider: Option<String>,
}

impl Filter {
    fn admits(&self, event: &EventView) -> bool {
        (self.kinds.is_empty() || self.kinds.contains(&event.kind))
            && self
                .provider
                .as_ref()
                .is_none_or(|p| event.provider.as_ref() == Some(p))
    }
}

/// Live events, as `text/event-stream`: each event is named by its kind and carries an
/// `EventView` as JSON data.
#[utoipa::path(
    get, path = "/api/v1/events", tag = "events",
    params(EventParams),
    responses(
        (status = 200, description = "A stream of events (text/event-stream), each with an EventView as data", body = EventView, content_type = "text/event-stream"),
        (status = 400, description = "Unknown kind or bad provider", body = ErrorBody),
        (status = 503, description = "Too many subscribers", body = ErrorBody),
    )
)]
pub(crate) async fn events(
    State(state): State<ApiState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let params: EventParams = super::reads::query(raw)?;
    let kinds: Vec<String> = params
        .kind
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(str::to_owned)
        .collect();
    if let Some(bad) = kinds.iter().find(|k| !EVENT_KINDS.contains(&k.as_str())) {
        return Err(ApiError::bad(format!(
            "kind {bad:?}: use one of {}",
            EVENT_KINDS.join(", ")
        )));
    }
    let provider = match params.provider.as_deref().filter(|p| !p.is_empty()) {
        Some(text) => Some(
            super::reads::key(&state, "provider", text)
                .await?
                .to_string(),
        ),
        None => None,
    };
    let permit = state.subscribers.clone().try_acquire_owned().map_err(|_| {
        ApiError::new(
            ErrorCode::NodeFailed,
            "too many event subscribers on this node: try again later",
        )
    })?;
    let filter = Filter { kinds, provider };
    // Subscribed before answering, so nothing stored after the answer starts is missed.
    let applied = state.services.applied.subscribe();
    let (tx, rx) = mpsc::channel(state.subscriber_buffer);
    let dropped = Arc::new(AtomicBool::new(false));
    tokio::spawn(forward(applied, tx, filter, dropped.clone()));
    Ok(Sse::new(stream(rx, dropped, permit))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}

/// Moves matching events into the subscriber's queue until the subscriber goes away or falls
/// behind (then marks it dropped).
async fn forward(
    mut applied: broadcast::Receiver<Object>,
    tx: mpsc::Sender<EventView>,
    filter: Filter,
    dropped: Arc<AtomicBool>,
) {
    loop {
        let object = tokio::select! {
            received = applied.recv() => received,
            () = tx.closed() => return,
        };
        match object {
            Ok(object) => {
                let Some(event) = EventView::of(&object).filter(|e| filter.admits(e)) else {
                    continue;
                };
                match tx.try_send(event) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        dropped.store(true, Ordering::Release);
                        return;
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => return,
                }
            }
            Err(broadcast::error::RecvError::Lagged(_)) => {
                dropped.store(true, Ordering::Release);
                return;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// The subscriber's side: its queued events, then a `dropped` event if it was dropped.
fn stream(
    rx: mpsc::Receiver<EventView>,
    dropped: Arc<AtomicBool>,
    permit: OwnedSemaphorePermit,
) -> impl Stream<Item = Result<Event, Infallible>> {
    futures::stream::unfold(Some((rx, dropped, permit)), |state| async move {
        let (mut rx, dropped, permit) = state?;
        match rx.recv().await {
            Some(event) => Some((Ok(sse(&event)), Some((rx, dropped, permit)))),
            None if dropped.load(Ordering::Acquire) => {
                let last = EventView::dropped(
                    "this subscriber fell too far behind and was dropped: reconnect, and \
                     re-read the listing for what was missed",
                );
                Some((Ok(sse(&last)), None))
            }
            None => None,
        }
    })
}

fn sse(event: &EventView) -> Event {
    let data = serde_json::to_string(event).unwrap_or_else(|_| "{}".into());
    let named = Event::default().event(event.kind.as_str()).data(data);
    match &event.id {
        Some(id) => named.id(id.as_str()),
        None => named,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use futures::StreamExt as _;

    use super::*;

    fn offer(n: u64) -> Object {
        let key = flashback_types::SecretKey::generate();
        let t = flashback_types::clock::now();
        let body = flashback_types::samples::offer(key.public(), &format!("o{n}"), t, t);
        Object::Offer(flashback_types::Signed::sign(body, &key).unwrap())
    }

    /// A subscriber whose queue is full is dropped: it gets what was queued, then `dropped`,
    /// then the end of the stream; the forwarder stops, nothing more is buffered.
    #[tokio::test]
    async fn a_slow_subscriber_is_dropped_with_a_last_event() {
        let (tx, applied) = broadcast::channel(16);
        let (queue, rx) = mpsc::channel(2);
        let dropped = Arc::new(AtomicBool::new(false));
        let filter = Filter {
            kinds: vec!["offer".into()],
            provider: None,
        };
        for n in 0..3 {
            tx.send(offer(n)).unwrap();
        }
        // The forwarder meets the full queue at the third event and gives up.
        forward(applied, queue, filter, dropped.clone()).await;
        assert!(dropped.load(Ordering::Acquire));
        let permit = Arc::new(tokio::sync::Semaphore::new(1))
            .try_acquire_owned()
            .unwrap();
        let events: Vec<Event> = stream(rx, dropped, permit)
            .map(|e| e.unwrap())
            .collect()
            .await;
        assert_eq!(events.len(), 3, "two queued events and the last one");
        let last = format!("{:?}", events[2]);
        assert!(last.contains("dropped"), "{last}");
    }

    #[test]
    fn filters_by_kind_and_provider() {
        let event = EventView::of(&offer(1)).unwrap();
        let by_kind = |kinds: &[&str]| Filter {
            kinds: kinds.iter().map(|k| (*k).to_owned()).collect(),
            provider: None,
        };
        assert!(by_kind(&[]).admits(&event));
        assert!(by_kind(&["offer"]).admits(&event));
        assert!(!by_kind(&["withdrawal"]).admits(&event));
        let other = Filter {
            kinds: Vec::new(),
            provider: Some("00".repeat(32)),
        };
        assert!(!other.admits(&event));
    }
}
