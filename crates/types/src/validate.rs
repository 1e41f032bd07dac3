//! Validation rules. Each rule carries a [`Label`]: **Reject** (provably bad; the peer that
//! relayed it is penalised) or **Ignore** (stale, duplicate, superseded or early; dropped
//! without blame). Time is always passed in: no rule reads the clock.

use serde::{Deserialize, Serialize};

use crate::bodies::Timestamp;
use crate::encoding::DecodeError;
use crate::keys::KeyError;

/// What a failed rule means for the peer that relayed the object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Label {
    /// Provably bad: do not store, do not forward, penalise the relayer.
    Reject,
    /// Not useful now: do not store or forward, no penalty.
    Ignore,
}

/// Every validation rule, by name. The list (with labels) is documented in `docs/PROTOCOL.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// Input larger than the kind's size limit.
    TooLarge,
    /// Bytes left after a complete object.
    TrailingBytes,
    /// Bytes that do not decode as the expected object.
    Malformed,
    /// A body whose bytes are not its canonical encoding.
    NonCanonical,
    /// The envelope names another kind than expected.
    WrongKind,
    /// A public key that is not a canonical curve point.
    InvalidKey,
    /// A small-order public key.
    WeakKey,
    /// A signature that does not verify (strictly) over the received bytes.
    BadSignature,
    /// Signed by a key other than the body's author field.
    SignerMismatch,
    /// A field out of range, unsorted, or inconsistent with another field.
    InvalidField,
    /// `expires_at` not after `created_at`: the object was dead when signed.
    ExpiredAtCreation,
    /// `expires_at - created_at` longer than the kind allows.
    LifetimeTooLong,
    /// The parts of a composite object (agreement, evidence) do not belong together.
    PartsMismatch,
    /// An agreement whose decision is not an acceptance.
    NotAccepted,
    /// `expires_at` is in the past.
    Expired,
    /// `created_at` is further in the future than the allowed clock skew.
    FromFuture,
    /// Already held (same id).
    Duplicate,
    /// A newer `seq` of the same offer is already held.
    Superseded,
    /// A different body with the same `(provider, offer_key, seq)` is held: evidence is kept.
    Equivocation,
    /// A gossip message whose kind travels on another topic ([`crate::Kind::topic`]).
    /// Appended after the others: a rule's variant index is its number in
    /// `SubmitResponse::Refused` and never changes.
    WrongTopic,
    /// A voucher, dispute or ruling about an agreement this node does not hold (yet).
    UnknownAgreement,
    /// Signed by a key that is not a party of the agreement it is about (a voucher not by the
    /// agreement's consumer, or naming another provider; a dispute by a third key).
    NotAParty,
    /// A voucher in another asset than the agreement's price.
    AssetMismatch,
    /// A voucher promising more than the agreement's total.
    AboveTotal,
    /// A voucher that does not beat the best one held for its agreement (a replay or a lower
    /// amount): only the highest is kept.
    NotNewer,
}

impl Rule {
    /// All rules, for documentation and table tests.
    pub const ALL: [Rule; 25] = [
        Rule::TooLarge,
        Rule::TrailingBytes,
        Rule::Malformed,
        Rule::NonCanonical,
        Rule::WrongKind,
        Rule::InvalidKey,
        Rule::WeakKey,
        Rule::BadSignature,
        Rule::SignerMismatch,
        Rule::InvalidField,
        Rule::ExpiredAtCreation,
        Rule::LifetimeTooLong,
        Rule::PartsMismatch,
        Rule::NotAccepted,
        Rule::Expired,
        Rule::FromFuture,
        Rule::Duplicate,
        Rule::Superseded,
        Rule::Equivocation,
        Rule::WrongTopic,
        Rule::UnknownAgreement,
        Rule::NotAParty,
        Rule::AssetMismatch,
        Rule::AboveTotal,
        Rule::NotNewer,
    ];

    /// The rule's label.
    pub fn label(self) -> Label {
        match self {
            Rule::TooLarge
            | Rule::TrailingBytes
            | Rule::Malformed
            | Rule::NonCanonical
            | Rule::WrongKind
            | Rule::InvalidKey
            | Rule::WeakKey
            | Rule::BadSignature
            | Rule::SignerMismatch
            | Rule::InvalidField
            | Rule::ExpiredAtCreation
            | Rule::LifetimeTooLong
            | Rule::PartsMismatch
            | Rule::NotAccepted
            | Rule::WrongTopic
            | Rule::NotAParty
            | Rule::AssetMismatch
            | Rule::AboveTotal => Label::Reject,
            // The signer equivocated, not the relayer: the evidence travels as its own object.
            Rule::Expired
            | Rule::FromFuture
            | Rule::Duplicate
            | Rule::Superseded
            | Rule::Equivocation
            // The agreement may still be on its way; an older voucher relayed in good faith.
            | Rule::UnknownAgreement
            | Rule::NotNewer => Label::Ignore,
        }
    }

    /// Stable snake_case name (as in metrics and JSON).
    pub fn name(self) -> &'static str {
        match self {
            Rule::TooLarge => "too_large",
            Rule::TrailingBytes => "trailing_bytes",
            Rule::Malformed => "malformed",
            Rule::NonCanonical => "non_canonical",
            Rule::WrongKind => "wrong_kind",
            Rule::InvalidKey => "invalid_key",
            Rule::WeakKey => "weak_key",
            Rule::BadSignature => "bad_signature",
            Rule::SignerMismatch => "signer_mismatch",
            Rule::InvalidField => "invalid_field",
            Rule::ExpiredAtCreation => "expired_at_creation",
            Rule::LifetimeTooLong => "lifetime_too_long",
            Rule::PartsMismatch => "parts_mismatch",
            Rule::NotAccepted => "not_accepted",
            Rule::Expired => "expired",
            Rule::FromFuture => "from_future",
            Rule::Duplicate => "duplicate",
            Rule::Superseded => "superseded",
            Rule::Equivocation => "equivocation",
            Rule::WrongTopic => "wrong_topic",
            Rule::UnknownAgreement => "unknown_agreement",
            Rule::NotAParty => "not_a_party",
            Rule::AssetMismatch => "asset_mismatch",
            Rule::AboveTotal => "above_total",
            Rule::NotNewer => "not_newer",
        }
    }
}

/// Checks that a gossip message on `topic` carries a kind that travels there: the first check
/// of a gossip message, before [`crate::Object::decode`]. Returns the kind its tag names.
///
/// An empty message or an unknown tag is [`Rule::Malformed`]; a known kind on another topic
/// (or on a topic that is not ours) is [`Rule::WrongTopic`].
pub fn check_topic(topic: &str, data: &[u8]) -> Result<crate::Kind, ObjectError> {
    let Some(&tag) = data.first() else {
        return Err(ObjectError::new(Rule::Malformed, "empty input"));
    };
    let kind = crate::Kind::from_tag(tag)
        .ok_or_else(|| ObjectError::new(Rule::Malformed, format!("unknown kind tag {tag}")))?;
    if kind.topic().name() != topic {
        return Err(ObjectError::new(
            Rule::WrongTopic,
            format!("{kind} travels on {}, not on {topic:?}", kind.topic()),
        ));
    }
    Ok(kind)
}

/// An object failed a rule. `rule.label()` says what to tell gossip.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} ({}): {detail}", rule.name(), match rule.label() { Label::Reject => "reject", Label::Ignore => "ignore" })]
pub struct ObjectError {
    /// The rule that failed.
    pub rule: Rule,
    /// What exactly was wrong.
    pub detail: String,
}

impl ObjectError {
    /// A failure of `rule`.
    pub fn new(rule: Rule, detail: impl Into<String>) -> Self {
        Self {
            rule,
            detail: detail.into(),
        }
    }

    /// An [`Rule::InvalidField`] failure.
    pub fn field(detail: impl Into<String>) -> Self {
        Self::new(Rule::InvalidField, detail)
    }

    /// The label of the failed rule.
    pub fn label(&self) -> Label {
        self.rule.label()
    }
}

impl From<DecodeError> for ObjectError {
    fn from(e: DecodeError) -> Self {
        let rule = match &e {
            DecodeError::TooLarge { .. } => Rule::TooLarge,
            DecodeError::Trailing(_) => Rule::TrailingBytes,
            DecodeError::Malformed(_) => Rule::Malformed,
            DecodeError::NonCanonical => Rule::NonCanonical,
        };
        Self::new(rule, e.to_string())
    }
}

impl From<KeyError> for ObjectError {
    fn from(e: KeyError) -> Self {
        let rule = match e {
            KeyError::Weak => Rule::WeakKey,
            _ => Rule::InvalidKey,
        };
        Self::new(rule, e.to_string())
    }
}

/// Time-related validation settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TimeRules {
    /// How far in the future `created_at` may be (clock skew between honest nodes), seconds.
    pub max_future_skew_secs: u64,
}

impl Default for TimeRules {
    fn default() -> Self {
        Self {
            max_future_skew_secs: 300,
        }
    }
}

impl TimeRules {
    /// Checks an object's timestamps against `now`: expired objects and objects from too far
    /// in the future are ignored.
    pub fn check(
        &self,
        created_at: Timestamp,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<(), ObjectError> {
        if expires_at <= now {
            return Err(ObjectError::new(
                Rule::Expired,
                format!("expired at {expires_at}, now {now}"),
            ));
        }
        if created_at > now.saturating_add(self.max_future_skew_secs) {
            return Err(ObjectError::new(
                Rule::FromFuture,
                format!(
                    "created at {created_at}, more than {}s after now ({now})",
                    self.max_future_skew_secs
                ),
            ));
        }
        Ok(())
    }
}
