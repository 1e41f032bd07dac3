//! Payments from the client: reading accounts and standings from a node, paying what is due
//! with vouchers (release on delivery), opening disputes and ruling on them.
//!
//! The amounts are computed by `flashback_types::payments` at the node, from the objects it
//! holds and the arbiters its trust store names; the client signs what that says is due.

use flashback_types::clock::now;
use flashback_types::payments::Account;
use flashback_types::wire::{PaymentsReport, QueryRequest, QueryResponse};
use flashback_types::{
    BoundedVec, Dispute, Object, ObjectId, Party, PaymentVoucher, PublicKey, Ruling, SecretKey,
    Signed, Text,
};

use crate::{Client, ClientError, Submitted};

/// How long nodes keep a voucher after its agreement ends: the provider's window to redeem it
/// and anyone's to dispute (decision 0093).
pub const VOUCHER_KEEP_SECS: u64 = 90 * 24 * 3600;

/// How long nodes keep disputes and rulings (decision 0093).
pub const DISPUTE_KEEP_SECS: u64 = 2 * 365 * 24 * 3600;

/// A voucher signed and handed to the node.
#[derive(Debug, Clone)]
pub struct Paid {
    /// The account it pays (as the node computed it before).
    pub account: Account,
    /// The voucher.
    pub voucher: Signed<PaymentVoucher>,
    /// What the node did with it.
    pub submitted: Submitted,
}

impl Client {
    /// `party`'s payment accounts and standing as a consumer, computed by the node; with
    /// `agreement`, that one only, with its billing periods.
    pub async fn payments(
        &self,
        party: PublicKey,
        agreement: Option<ObjectId>,
    ) -> Result<PaymentsReport, ClientError> {
        let node = self.first();
        match self
            .query_node(node, &QueryRequest::Payments { party, agreement })
            .await?
        {
            QueryResponse::Payments(report) if report.party == party => Ok(report),
            _ => Err(self.wrong(node)),
        }
    }

    /// Pays what is due on every agreement `consumer` is the consumer of (or on `only`): for
    /// each account whose delivered periods, less credits, are above the best voucher, signs
    /// the next cumulative voucher and submits it. Returns what it paid.
    pub async fn pay_due(
        &self,
        consumer: &SecretKey,
        only: Option<ObjectId>,
    ) -> Result<Vec<Paid>, ClientError> {
        let me = consumer.public();
        let report = self.payments(me, only).await?;
        let mut out = Vec::new();
        for account in report.accounts.into_inner() {
            if account.consumer != me {
                continue;
            }
            let Some(cumulative) = account.to_pay() else {
                continue;
            };
            let voucher = self.sign_voucher(consumer, &account, cumulative)?;
            let submitted = self
                .submit(&Object::PaymentVoucher(voucher.clone()))
                .await?;
            out.push(Paid {
                account,
                voucher,
                submitted,
            });
        }
        Ok(out)
    }

    /// The voucher that brings `account` to `cumulative`, signed by `consumer` now.
    pub fn sign_voucher(
        &self,
        consumer: &SecretKey,
        account: &Account,
        cumulative: u64,
    ) -> Result<Signed<PaymentVoucher>, ClientError> {
        let t = now();
        let end = account.end.max(t);
        let body =
            PaymentVoucher {
                consumer: consumer.public(),
                provider: account.provider,
                agreement: account.agreement,
                asset: account.asset.as_str().try_into().map_err(|e| {
                    ClientError::InvalidInput(format!("asset {}: {e}", account.asset))
                })?,
                cumulative,
                sequence: account.paid_sequence.saturating_add(1),
                created_at: t,
                expires_at: end.saturating_add(VOUCHER_KEEP_SECS),
            };
        Signed::sign(body, consumer).map_err(|e| {
            ClientError::InvalidInput(format!("the voucher is not valid: {}", e.detail))
        })
    }

    /// Opens a dispute about `agreement` as `party` (its consumer or provider), with `claim`
    /// and the ids of the objects that support it.
    pub async fn open_dispute(
        &self,
        party: &SecretKey,
        agreement: ObjectId,
        claim: &str,
        mut evidence: Vec<ObjectId>,
    ) -> Result<Signed<Dispute>, ClientError> {
        evidence.sort();
        evidence.dedup();
        let t = now();
        let body = Dispute {
            party: party.public(),
            agreement,
            claim: Text::new(claim.trim())
                .map_err(|e| ClientError::InvalidInput(format!("the claim is too long: {e}")))?,
            evidence: BoundedVec::try_from_vec(evidence).map_err(|e| {
                ClientError::InvalidInput(format!("too many evidence ids (16 at most): {e}"))
            })?,
            created_at: t,
            expires_at: t + DISPUTE_KEEP_SECS,
        };
        let signed = Signed::sign(body, party).map_err(|e| {
            ClientError::InvalidInput(format!("the dispute is not valid: {}", e.detail))
        })?;
        self.submit(&Object::Dispute(signed.clone())).await?;
        Ok(signed)
    }

    /// Rules on dispute `dispute` as `arbiter`: who is right and the amount due for the whole
    /// agreement. It counts at nodes whose trust store names `arbiter` with the `arbiter`
    /// role.
    pub async fn rule(
        &self,
        arbiter: &SecretKey,
        dispute: ObjectId,
        in_favour_of: Party,
        amount_due: u64,
        reason: &str,
    ) -> Result<Signed<Ruling>, ClientError> {
        let disputed = match self.get(&[dispute]).await?.pop() {
            Some(Object::Dispute(d)) => d,
            _ => {
                return Err(ClientError::InvalidInput(format!(
                    "{dispute} is not a dispute the node holds"
                )));
            }
        };
        let t = now();
        let body = Ruling {
            arbiter: arbiter.public(),
            dispute,
            agreement: disputed.body().agreement,
            in_favour_of,
            amount_due,
            reason: Text::new(reason.trim())
                .map_err(|e| ClientError::InvalidInput(format!("the reason is too long: {e}")))?,
            created_at: t,
            expires_at: t + DISPUTE_KEEP_SECS,
        };
        let signed = Signed::sign(body, arbiter).map_err(|e| {
            ClientError::InvalidInput(format!("the ruling is not valid: {}", e.detail))
        })?;
        self.submit(&Object::Ruling(signed.clone())).await?;
        Ok(signed)
    }
}
