//! SLA negotiation from the consumer's side: sign a proposal at an offer's terms, hand it to
//! the node (which gossips it to the provider's node), and wait for the signed decision. Every
//! object received is verified before it is returned.

use std::time::Duration;

use flashback_types::clock::now;
use flashback_types::proposal::ProposalError;
use flashback_types::wire::{QueryRequest, QueryResponse};
use flashback_types::{
    Object, Offer, Price, RejectReason, SecretKey, Signed, SlaDecision, SlaProposal,
};

use crate::{Client, ClientError, human};

pub use flashback_types::proposal::Terms;

/// What `offer` allows for the term a rejection names, for people: the limit to propose
/// within (`None` when the reason is not about the offer's terms).
pub fn limits_for(offer: &Offer, reason: RejectReason) -> Option<String> {
    let unit = offer.price.unit;
    Some(match reason {
        RejectReason::Duration => format!(
            "the offer accepts durations from {} to {}",
            human::duration(offer.min_duration_secs),
            human::duration(offer.max_duration_secs)
        ),
        RejectReason::Capacity => format!(
            "the offer has {} in all, less what agreements still running hold",
            human::volume(offer.capacity, unit)
        ),
        RejectReason::Price => format!("the offer's price is {}", human::price(&offer.price)),
        RejectReason::Terms => format!(
            "the offer is priced in {} per {} and keeps at most {} copies",
            offer.price.asset.as_str(),
            human::unit(unit),
            offer.redundancy
        ),
        RejectReason::OfferUnavailable => {
            "that version of the offer is no longer live (superseded, withdrawn or expired): \
             find its current version with `listing query`"
                .into()
        }
        RejectReason::ConsumerDenied => "the provider's policy refuses this consumer".into(),
        RejectReason::Expired => "the proposal expired before the provider decided".into(),
        RejectReason::Access => {
            "the provider could not provision access to its data plane for this agreement: try \
             again later, or another provider"
                .into()
        }
        RejectReason::ConsumerStanding => {
            "your payment score is below the provider's floor: `flashback consumer show <your \
             key>` explains it; pay what is overdue (`flashback pay run`)"
                .into()
        }
        RejectReason::Other => return None,
    })
}

impl Client {
    /// Signs a proposal for `offer` at the offer's price and terms, and submits it through the
    /// node, which gossips it to the provider's node. A volume or duration the offer does not
    /// allow is refused before signing ([`ClientError::Terms`], naming the offer's limits; the
    /// body is [`SlaProposal::at_terms_of`]'s). Returns the signed proposal; wait for the answer
    /// with [`Client::wait_decision`].
    pub async fn propose(
        &self,
        consumer: &SecretKey,
        offer: &Signed<Offer>,
        terms: Terms,
    ) -> Result<Signed<SlaProposal>, ClientError> {
        self.propose_at(consumer, offer, &offer.body().price, terms)
            .await
    }

    /// [`Client::propose`] at unit price `price` (a provider's quote), which must be in the
    /// offer's asset and unit and not below its price.
    pub async fn propose_at(
        &self,
        consumer: &SecretKey,
        offer: &Signed<Offer>,
        price: &Price,
        terms: Terms,
    ) -> Result<Signed<SlaProposal>, ClientError> {
        let o = offer.body();
        let body = SlaProposal::at_price_of(
            consumer.public(),
            offer,
            price,
            terms,
            now(),
            rand::random(),
        );
        let body = match body {
            Ok(body) => body,
            Err(ProposalError::Overflow) => {
                return Err(ClientError::InvalidInput(
                    ProposalError::Overflow.to_string(),
                ));
            }
            Err(ProposalError::Terms(reason)) => {
                let asked = match reason {
                    RejectReason::Duration => {
                        format!("a duration of {}", human::duration(terms.duration_secs))
                    }
                    RejectReason::Capacity => {
                        format!("a volume of {}", human::volume(terms.volume, o.price.unit))
                    }
                    _ => "these terms".into(),
                };
                let limits = limits_for(o, reason).unwrap_or_default();
                return Err(ClientError::Terms {
                    reason,
                    detail: format!("you asked for {asked}; {limits}"),
                });
            }
        };
        let signed = Signed::sign(body, consumer).map_err(|e| {
            ClientError::InvalidInput(format!("proposal is not valid: {}", e.detail))
        })?;
        self.submit(&Object::SlaProposal(signed.clone())).await?;
        Ok(signed)
    }

    /// Waits (held open by the node, not by polling) for the provider's decision on a proposal.
    /// `None` when no decision arrived within `timeout` (the node caps a single wait).
    pub async fn wait_decision(
        &self,
        proposal: &Signed<SlaProposal>,
        timeout: Duration,
    ) -> Result<Option<Signed<SlaDecision>>, ClientError> {
        let node = self.first();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            let req = QueryRequest::WaitDecision {
                proposal_id: proposal.id(),
                timeout_secs: u32::try_from(left.as_secs().max(1)).unwrap_or(u32::MAX),
            };
            match self.query_node(node, &req).await? {
                QueryResponse::Decision(Some(bytes)) => {
                    let decision = match self.verify(node, &bytes)? {
                        Object::SlaDecision(d) => d,
                        other => {
                            return Err(ClientError::BadResponse {
                                node: node.to_string(),
                                detail: format!("a {} instead of a decision", other.kind()),
                            });
                        }
                    };
                    let d = decision.body();
                    if d.proposal_id != proposal.id() || d.provider != proposal.body().provider {
                        return Err(ClientError::BadResponse {
                            node: node.to_string(),
                            detail: "a decision about another proposal".into(),
                        });
                    }
                    return Ok(Some(decision));
                }
                // The node's wait is capped; ask again until our own deadline.
                QueryResponse::Decision(None) => {}
                _ => return Err(self.wrong(node)),
            }
        }
    }
}
