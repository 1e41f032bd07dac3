//! Payment vouchers, disputes and rulings: their write paths (the best voucher per agreement
//! replaces the one it beats) and the reads that accounts and standings are computed from.

use flashback_types::payments::{self, Account, ConsumerStanding, Objects};
use flashback_types::{
    Agreement, Dispute, Kind, Object, ObjectError, ObjectId, PaymentVoucher, PublicKey, Role, Rule,
    Ruling, Signed, Timestamp,
};

use super::{Applied, State, Store, Summarised, Tree, Tx};
use crate::error::StoreError;
use crate::summaries::PayMeta;

/// The disputes and the rulings held about one agreement.
pub(crate) type DisputesAndRulings = (Vec<Signed<Dispute>>, Vec<Signed<Ruling>>);

/// Everything held about one agreement's payments, what [`Account::of`] reads.
#[derive(Debug, Clone)]
pub struct PaymentObjects {
    /// The agreement.
    pub agreement: Agreement,
    /// The consumer's attestations about the provider under the agreement.
    pub attestations: Vec<Signed<flashback_types::QosAttestation>>,
    /// The best voucher (the only one kept).
    pub vouchers: Vec<Signed<PaymentVoucher>>,
    /// Terminations naming the agreement.
    pub terminations: Vec<Signed<flashback_types::Termination>>,
    /// Disputes naming the agreement.
    pub disputes: Vec<Signed<Dispute>>,
    /// Rulings naming the agreement.
    pub rulings: Vec<Signed<Ruling>>,
}

impl PaymentObjects {
    /// The account at `now`, counting rulings by the arbiters `is_arbiter` accepts.
    pub fn account(&self, is_arbiter: impl Fn(&PublicKey) -> bool, now: Timestamp) -> Account {
        Account::of(
            &self.agreement,
            Objects {
                attestations: &self.attestations,
                vouchers: &self.vouchers,
                terminations: &self.terminations,
                disputes: &self.disputes,
                rulings: &self.rulings,
            },
            is_arbiter,
            now,
        )
    }
}

impl Store {
    /// The agreement made from proposal `proposal`, read inside a write (from the batch being
    /// written, if it is there).
    fn agreement_in(
        &self,
        st: &State,
        tx: &Tx,
        proposal: &ObjectId,
    ) -> Result<Option<Agreement>, StoreError> {
        let Some(id) = st.summaries.agreement_for_proposal(proposal) else {
            return Ok(None);
        };
        let t = Tree::Objects(Kind::Agreement);
        let bytes = match tx.pending(t, &id.0) {
            Some(Some(b)) => b.to_vec(),
            Some(None) => return Ok(None),
            None => match self.get_raw(t, &id.0)? {
                Some(v) => v.to_vec(),
                None => return Ok(None),
            },
        };
        self.decode_agreement(&id, &bytes).map(Some)
    }

    fn signed_in<X: flashback_types::SignedBody>(
        &self,
        tx: &Tx,
        kind: Kind,
        id: &ObjectId,
    ) -> Result<Option<Signed<X>>, StoreError> {
        let t = Tree::Objects(kind);
        match tx.pending(t, &id.0) {
            Some(Some(b)) => {
                let b = b.to_vec();
                self.decode_stored(t, id, &b).map(Some)
            }
            Some(None) => Ok(None),
            None => self.load_signed(t, id),
        }
    }

    /// A voucher: kept if it counts for its agreement and beats the best held, which it
    /// replaces ([`payments::check_voucher`]); refused by the rule it breaks otherwise.
    pub(super) fn apply_voucher(
        &self,
        st: &mut State,
        tx: &mut Tx,
        object: &Object,
        v: &Signed<PaymentVoucher>,
    ) -> Result<Applied, StoreError> {
        if st.summaries.vouchers.contains_key(&v.id()) {
            return Ok(Applied::Duplicate);
        }
        let agreement = self.agreement_in(st, tx, &v.body().agreement)?;
        let held = st.summaries.voucher_of(&v.body().agreement);
        let best = match held {
            Some(id) => self.signed_in::<PaymentVoucher>(tx, Kind::PaymentVoucher, &id)?,
            None => None,
        };
        if let Err(e) = payments::check_voucher(v, agreement.as_ref(), best.as_ref()) {
            return Ok(Applied::Refused(e));
        }
        if let Some(old) = held {
            self.forget(st, tx, Kind::PaymentVoucher, Summarised::Vouchers, &old);
        }
        let meta = PayMeta::of_voucher(v);
        Ok(
            self.apply_summarised(st, tx, object, Summarised::Vouchers, |s, _| {
                s.add_voucher(meta)
            }),
        )
    }

    /// A dispute: kept if its agreement is held and its signer is a party of it.
    pub(super) fn apply_dispute(
        &self,
        st: &mut State,
        tx: &mut Tx,
        object: &Object,
        d: &Signed<Dispute>,
    ) -> Result<Applied, StoreError> {
        if st.summaries.disputes.contains_key(&d.id()) {
            return Ok(Applied::Duplicate);
        }
        let Some(agreement) = self.agreement_in(st, tx, &d.body().agreement)? else {
            return Ok(Applied::Refused(ObjectError::new(
                Rule::UnknownAgreement,
                format!("agreement {} is not known here", d.body().agreement),
            )));
        };
        if !payments::dispute_counts(d.body(), &agreement) {
            return Ok(Applied::Refused(ObjectError::new(
                Rule::NotAParty,
                format!(
                    "{} is neither the consumer nor the provider of agreement {}",
                    d.body().party,
                    d.body().agreement
                ),
            )));
        }
        let meta = PayMeta::of_dispute(d);
        Ok(
            self.apply_summarised(st, tx, object, Summarised::Disputes, |s, _| {
                s.add_dispute(meta)
            }),
        )
    }

    /// A ruling: kept if the dispute it rules on is held and names the same agreement. Whether
    /// it counts is each reader's trust store's business.
    pub(super) fn apply_ruling(
        &self,
        st: &mut State,
        tx: &mut Tx,
        object: &Object,
        r: &Signed<Ruling>,
    ) -> Result<Applied, StoreError> {
        if st.summaries.rulings.contains_key(&r.id()) {
            return Ok(Applied::Duplicate);
        }
        let b = r.body();
        let dispute = match st.summaries.disputes.get(&b.dispute) {
            Some(_) => self.signed_in::<Dispute>(tx, Kind::Dispute, &b.dispute)?,
            None => None,
        };
        let Some(dispute) = dispute else {
            return Ok(Applied::Refused(ObjectError::new(
                Rule::UnknownAgreement,
                format!("dispute {} is not known here", b.dispute),
            )));
        };
        if dispute.body().agreement != b.agreement {
            return Ok(Applied::Refused(ObjectError::new(
                Rule::PartsMismatch,
                format!(
                    "the ruling names agreement {}, its dispute agreement {}",
                    b.agreement,
                    dispute.body().agreement
                ),
            )));
        }
        let meta = PayMeta::of_ruling(r);
        Ok(
            self.apply_summarised(st, tx, object, Summarised::Rulings, |s, _| {
                s.add_ruling(meta)
            }),
        )
    }

    /// The best voucher held for `agreement` (the id of its proposal).
    pub fn best_voucher(
        &self,
        agreement: &ObjectId,
    ) -> Result<Option<Signed<PaymentVoucher>>, StoreError> {
        let id = self.read_state().summaries.voucher_of(agreement);
        match id {
            Some(id) => self.load_signed(Tree::Objects(Kind::PaymentVoucher), &id),
            None => Ok(None),
        }
    }

    /// Disputes and rulings naming `agreement` (the id of its proposal), by id.
    pub fn disputes_of(&self, agreement: &ObjectId) -> Result<DisputesAndRulings, StoreError> {
        let (d_ids, r_ids) = self
            .read_state()
            .summaries
            .disputes_and_rulings_of(agreement);
        let mut disputes = Vec::with_capacity(d_ids.len());
        for id in d_ids {
            if let Some(d) = self.load_signed(Tree::Objects(Kind::Dispute), &id)? {
                disputes.push(d);
            }
        }
        let mut rulings = Vec::with_capacity(r_ids.len());
        for id in r_ids {
            if let Some(r) = self.load_signed(Tree::Objects(Kind::Ruling), &id)? {
                rulings.push(r);
            }
        }
        Ok((disputes, rulings))
    }

    /// Everything held about the payments of `agreement`.
    pub fn payment_objects(&self, agreement: Agreement) -> Result<PaymentObjects, StoreError> {
        let id = agreement.proposal_id();
        let attestations = self
            .attestations_about(agreement.provider())?
            .into_iter()
            .filter(|a| {
                a.body().agreement == Some(id) && &a.body().attester == agreement.consumer()
            })
            .collect();
        let vouchers = self.best_voucher(&id)?.into_iter().collect();
        let terminations = self.terminations_of(&id)?;
        let (disputes, rulings) = self.disputes_of(&id)?;
        Ok(PaymentObjects {
            agreement,
            attestations,
            vouchers,
            terminations,
            disputes,
            rulings,
        })
    }

    /// The accounts of every agreement `party` is the consumer or the provider of, at `now`,
    /// with rulings counted by the store's trust (the `arbiter` role).
    pub fn accounts_of(
        &self,
        party: &PublicKey,
        now: Timestamp,
    ) -> Result<Vec<Account>, StoreError> {
        let trust = self.trust();
        let is_arbiter = |k: &PublicKey| trust.has_role(k, Role::Arbiter);
        let mut out = Vec::new();
        for agreement in self.agreements_for(party)? {
            out.push(self.payment_objects(agreement)?.account(is_arbiter, now));
        }
        Ok(out)
    }

    /// How `consumer` pays, over the agreements it is the consumer of, at `now`.
    pub fn consumer_standing(
        &self,
        consumer: &PublicKey,
        now: Timestamp,
    ) -> Result<(ConsumerStanding, Vec<Account>), StoreError> {
        let accounts: Vec<Account> = self
            .accounts_of(consumer, now)?
            .into_iter()
            .filter(|a| &a.consumer == consumer)
            .collect();
        Ok((ConsumerStanding::of(&accounts), accounts))
    }
}
