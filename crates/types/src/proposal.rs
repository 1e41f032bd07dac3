//! Building an SLA proposal at an offer's terms: what the SDK signs for a consumer and what a
//! node's HTTP API signs with an account key it holds. Pure: the caller gives the time and the
//! nonce, signs the body, and submits it.

use std::time::Duration;

use crate::{Offer, PublicKey, RejectReason, Signed, SlaProposal, Timestamp};

/// Terms of a proposal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Terms {
    /// Bytes (storage) or units (compute).
    pub volume: u64,
    /// Seconds of service.
    pub duration_secs: u64,
    /// Start of service (Unix seconds); `None` = now.
    pub start: Option<u64>,
    /// How long the provider has to decide (at least a second is given).
    pub decide_within: Duration,
}

/// Why no proposal was built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProposalError {
    /// Volume × duration × price does not fit a `u64` total.
    #[error("volume × duration × price overflows")]
    Overflow,
    /// The terms break one of the offer's, as the provider's node would reject them.
    #[error("the proposal breaks the offer's terms ({})", .0.code())]
    Terms(RejectReason),
}

impl SlaProposal {
    /// The proposal `consumer` makes for `offer` at the offer's price, redundancy and QoS and
    /// at `terms`, created at `now` with `nonce` (a random value: equal proposals stay
    /// distinct). Checked, before anything is signed, against what the provider's node checks
    /// ([`SlaProposal::breaks_terms_of`] with nothing promised: only the provider's node knows
    /// the capacity its running agreements hold).
    pub fn at_terms_of(
        consumer: PublicKey,
        offer: &Signed<Offer>,
        terms: Terms,
        now: Timestamp,
        nonce: u64,
    ) -> Result<SlaProposal, ProposalError> {
        Self::at_price_of(consumer, offer, &offer.body().price, terms, now, nonce)
    }

    /// [`SlaProposal::at_terms_of`] at unit price `price` (a provider's quote), which must be
    /// in the offer's asset and unit and not below its price (else
    /// [`ProposalError::Terms`]).
    pub fn at_price_of(
        consumer: PublicKey,
        offer: &Signed<Offer>,
        price: &crate::Price,
        terms: Terms,
        now: Timestamp,
        nonce: u64,
    ) -> Result<SlaProposal, ProposalError> {
        let o = offer.body();
        let total = price
            .total(terms.volume, terms.duration_secs)
            .ok_or(ProposalError::Overflow)?;
        let body = SlaProposal {
            consumer,
            provider: o.provider,
            offer_id: offer.id(),
            offer_seq: o.seq,
            volume: terms.volume,
            duration_secs: terms.duration_secs,
            redundancy: o.redundancy,
            qos: o.qos.clone(),
            price: price.clone(),
            total,
            start: terms.start.unwrap_or(now),
            nonce,
            created_at: now,
            expires_at: now.saturating_add(terms.decide_within.as_secs().max(1)),
        };
        match body.breaks_terms_of(o, 0) {
            Some(reason) => Err(ProposalError::Terms(reason)),
            None => Ok(body),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::{SecretKey, samples};

    fn offer() -> Signed<Offer> {
        let key = SecretKey::generate();
        Signed::sign(samples::offer(key.public(), "eu-hot", 1, 1_000), &key).unwrap()
    }

    fn terms(volume: u64, duration_secs: u64) -> Terms {
        Terms {
            volume,
            duration_secs,
            start: None,
            decide_within: Duration::from_secs(60),
        }
    }

    #[test]
    fn a_proposal_takes_the_offers_terms_and_prices_the_total() {
        let offer = offer();
        let o = offer.body();
        let consumer = SecretKey::generate().public();
        let d = o.min_duration_secs;
        let p = SlaProposal::at_terms_of(consumer, &offer, terms(o.capacity, d), 2_000, 7).unwrap();
        assert_eq!((p.consumer, p.provider), (consumer, o.provider));
        assert_eq!((p.offer_id, p.offer_seq), (offer.id(), o.seq));
        assert_eq!(
            (p.price.clone(), p.qos.clone()),
            (o.price.clone(), o.qos.clone())
        );
        assert_eq!(p.total, o.price.total(o.capacity, d).unwrap());
        assert_eq!(
            (p.start, p.created_at, p.expires_at, p.nonce),
            (2_000, 2_000, 2_060, 7)
        );
    }

    #[test]
    fn terms_the_offer_refuses_are_refused_before_signing() {
        let offer = offer();
        let o = offer.body();
        let consumer = SecretKey::generate().public();
        let at = |t| SlaProposal::at_terms_of(consumer, &offer, t, 2_000, 1);
        assert_eq!(
            at(terms(o.capacity + 1, o.min_duration_secs)),
            Err(ProposalError::Terms(RejectReason::Capacity))
        );
        assert_eq!(
            at(terms(1, o.max_duration_secs + 1)),
            Err(ProposalError::Terms(RejectReason::Duration))
        );
        assert_eq!(at(terms(u64::MAX, u64::MAX)), Err(ProposalError::Overflow));
    }
}
