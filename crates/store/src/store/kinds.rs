//! The store's per-kind code, in one place: where each kind lives in memory ([`home`], the
//! store's one per-kind decision), the write path of each kind ([`Store::apply_one`]) and how
//! a summarised kind is rebuilt at open ([`Store::remember`]). Everything else (trees, counts,
//! sync ids, the listing digest, GC) follows from [`home`] and from `Kind`'s own answers, so a
//! new kind is a compile error here and nowhere else in the store.

use flashback_types::{
    Certificate, Dispute, GcRule, Kind, Object, ObjectId, PaymentVoucher, QosAttestation,
    Revocation, Ruling, Signed, Termination, Timestamp,
};

use super::open::Loading;
use super::{Applied, Idx, State, Store, Tree, Tx};
use crate::codec::cat;
use crate::error::StoreError;
use crate::summaries::{
    AgrMeta, AttMeta, CertMeta, EvMeta, PayMeta, RevMeta, Summaries, Table, TermMeta,
};

/// Where the store keeps what it knows of a kind in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Home {
    /// The offer index: heads, history and ordered lists ([`GcRule::HeadOutlivesVersions`]).
    Offers,
    /// A table of small summaries in [`Summaries`], which reputation and queries read.
    Summaries(Summarised),
    /// Nothing: the object tree and the expiry index only (short-lived kinds).
    Disk,
}

/// The kinds summarised in memory, each with its own table in [`Summaries`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Summarised {
    Agreements,
    Attestations,
    Certificates,
    Revocations,
    Evidence,
    Terminations,
    Vouchers,
    Disputes,
    Rulings,
}

/// The store's one per-kind decision: where a kind lives in memory. Everything else (trees,
/// counts, sync ids, digests, GC) follows from it and from [`Kind`]'s own answers.
pub(super) const fn home(kind: Kind) -> Home {
    match kind {
        Kind::Offer => Home::Offers,
        Kind::Demand | Kind::SlaProposal | Kind::SlaDecision => Home::Disk,
        Kind::Agreement => Home::Summaries(Summarised::Agreements),
        Kind::QosAttestation => Home::Summaries(Summarised::Attestations),
        Kind::Certificate => Home::Summaries(Summarised::Certificates),
        Kind::Revocation => Home::Summaries(Summarised::Revocations),
        Kind::EquivocationEvidence => Home::Summaries(Summarised::Evidence),
        // Capacity accounting reads terminations with every proposal a provider decides.
        Kind::Termination => Home::Summaries(Summarised::Terminations),
        Kind::Quote | Kind::AccessGrant => Home::Disk,
        // Amounts due and standings read them for every agreement of a party.
        Kind::PaymentVoucher => Home::Summaries(Summarised::Vouchers),
        Kind::Dispute => Home::Summaries(Summarised::Disputes),
        Kind::Ruling => Home::Summaries(Summarised::Rulings),
    }
}

const _: () = {
    let mut i = 0;
    while i < Kind::COUNT {
        let kind = Kind::ALL[i];
        // The offer index is the versioned kinds' home, and only theirs.
        assert!(
            matches!(home(kind), Home::Offers) == matches!(kind.gc(), GcRule::HeadOutlivesVersions)
        );
        // The listing digest is computed from memory, so everything it covers must be there.
        assert!(!kind.in_listing_digest() || !matches!(home(kind), Home::Disk));
        i += 1;
    }
};

impl Summarised {
    /// The kind's table.
    pub(super) fn table(self, summaries: &Summaries) -> &dyn Table {
        match self {
            Summarised::Agreements => &summaries.agreements,
            Summarised::Attestations => &summaries.attestations,
            Summarised::Certificates => &summaries.certs,
            Summarised::Revocations => &summaries.revocations,
            Summarised::Evidence => &summaries.evidence,
            Summarised::Terminations => &summaries.terminations,
            Summarised::Vouchers => &summaries.vouchers,
            Summarised::Disputes => &summaries.disputes,
            Summarised::Rulings => &summaries.rulings,
        }
    }

    /// Index trees keyed by the object's id, deleted with it.
    pub(super) fn companion(self) -> Option<Idx> {
        match self {
            Summarised::Agreements => Some(Idx::AgreementOfferKey),
            Summarised::Evidence => Some(Idx::EvidenceOrigin),
            Summarised::Attestations
            | Summarised::Certificates
            | Summarised::Revocations
            | Summarised::Terminations
            | Summarised::Vouchers
            | Summarised::Disputes
            | Summarised::Rulings => None,
        }
    }

    /// Drops `id` from memory.
    pub(super) fn forget(self, summaries: &mut Summaries, id: &ObjectId) {
        match self {
            Summarised::Agreements => {
                summaries.remove_agreement(id);
            }
            Summarised::Attestations => {
                summaries.remove_attestation(id);
            }
            Summarised::Certificates => {
                summaries.remove_cert(id);
            }
            Summarised::Revocations => {
                summaries.remove_revocation(id);
            }
            Summarised::Evidence => {
                summaries.remove_evidence(id);
            }
            Summarised::Terminations => {
                summaries.remove_termination(id);
            }
            Summarised::Vouchers => {
                summaries.remove_voucher(id);
            }
            Summarised::Disputes => {
                summaries.remove_dispute(id);
            }
            Summarised::Rulings => {
                summaries.remove_ruling(id);
            }
        }
    }
}

impl Store {
    /// Applies one object: the store's per-kind write paths, one arm per kind.
    pub(super) fn apply_one(
        &self,
        st: &mut State,
        tx: &mut Tx,
        object: &Object,
        now: Timestamp,
    ) -> Result<Applied, StoreError> {
        if object.expires_at() <= now {
            return Ok(Applied::Expired);
        }
        st.newest_created_at = st.newest_created_at.max(object.created_at());
        match object {
            Object::Offer(o) => self.apply_offer(st, tx, o),
            Object::Demand(_) => self.apply_on_disk(st, tx, object, None),
            Object::SlaProposal(p) => {
                let idx = cat(p.body().provider.as_bytes(), &p.id().0);
                let deadline = p.expires_at().to_be_bytes();
                self.apply_on_disk(
                    st,
                    tx,
                    object,
                    Some((Idx::ProposalsByProvider, idx, &deadline)),
                )
            }
            Object::SlaDecision(d) => {
                let idx = cat(&d.body().proposal_id.0, &d.id().0);
                let accept = matches!(d.body().decision, flashback_types::Decision::Accept);
                let payload = [u8::from(accept)];
                self.apply_on_disk(
                    st,
                    tx,
                    object,
                    Some((Idx::DecisionsByProposal, idx, &payload)),
                )
            }
            Object::Agreement(a) => {
                let mut meta = AgrMeta::of(a);
                meta.offer_key = self.offer_key_of(Some(tx), &meta.offer_id, &meta.provider)?;
                Ok(self.apply_summarised(
                    st,
                    tx,
                    object,
                    Summarised::Agreements,
                    |summaries, tx| {
                        if let Some(key) = &meta.offer_key {
                            tx.put_sealed(
                                Tree::Index(Idx::AgreementOfferKey),
                                a.id().0.to_vec(),
                                key.as_bytes(),
                            );
                        }
                        summaries.add_agreement(meta);
                    },
                ))
            }
            Object::QosAttestation(a) => {
                let add = |summaries: &mut Summaries, _: &mut Tx| {
                    summaries.add_attestation(AttMeta::of(a))
                };
                Ok(self.apply_summarised(st, tx, object, Summarised::Attestations, add))
            }
            Object::Certificate(c) => {
                let add =
                    |summaries: &mut Summaries, _: &mut Tx| summaries.add_cert(CertMeta::of(c));
                Ok(self.apply_summarised(st, tx, object, Summarised::Certificates, add))
            }
            Object::Revocation(r) => {
                let add = |summaries: &mut Summaries, _: &mut Tx| {
                    summaries.add_revocation(r.id(), RevMeta::of(r))
                };
                Ok(self.apply_summarised(st, tx, object, Summarised::Revocations, add))
            }
            Object::EquivocationEvidence(ev) => self.apply_evidence(st, tx, ev),
            Object::Quote(q) => {
                let idx = cat(&q.body().demand_id.0, &q.id().0);
                self.apply_on_disk(st, tx, object, Some((Idx::QuotesByDemand, idx, &[])))
            }
            Object::Termination(t) => {
                let add = |summaries: &mut Summaries, _: &mut Tx| {
                    summaries.add_termination(TermMeta::of(t))
                };
                Ok(self.apply_summarised(st, tx, object, Summarised::Terminations, add))
            }
            Object::AccessGrant(g) => {
                let idx = cat(&g.body().agreement.0, &g.id().0);
                self.apply_on_disk(st, tx, object, Some((Idx::GrantsByAgreement, idx, &[])))
            }
            Object::PaymentVoucher(v) => self.apply_voucher(st, tx, object, v),
            Object::Dispute(d) => self.apply_dispute(st, tx, object, d),
            Object::Ruling(r) => self.apply_ruling(st, tx, object, r),
        }
    }

    /// Adds one stored object of a summarised kind to memory while loading.
    pub(super) fn remember(
        &self,
        st: &mut State,
        summarised: Summarised,
        id: &ObjectId,
        bytes: &[u8],
        loading: &mut Loading,
    ) -> Result<(), StoreError> {
        match summarised {
            Summarised::Agreements => {
                let a = self.decode_agreement(id, bytes)?;
                let mut meta = AgrMeta::of(&a);
                meta.offer_key = match loading.resolved.get(id) {
                    Some(key) => Some(key.clone()),
                    None => self.offer_key_of(None, &meta.offer_id, &meta.provider)?,
                };
                st.summaries.add_agreement(meta);
            }
            Summarised::Attestations => {
                let t = Tree::Objects(Kind::QosAttestation);
                let a: Signed<QosAttestation> = self.decode_stored(t, id, bytes)?;
                st.summaries.add_attestation(AttMeta::of(&a));
            }
            Summarised::Certificates => {
                let t = Tree::Objects(Kind::Certificate);
                let c: Signed<Certificate> = self.decode_stored(t, id, bytes)?;
                st.summaries.add_cert(CertMeta::of(&c));
            }
            Summarised::Revocations => {
                let t = Tree::Objects(Kind::Revocation);
                let r: Signed<Revocation> = self.decode_stored(t, id, bytes)?;
                st.summaries.add_revocation(*id, RevMeta::of(&r));
            }
            Summarised::Terminations => {
                let t = Tree::Objects(Kind::Termination);
                let term: Signed<Termination> = self.decode_stored(t, id, bytes)?;
                st.summaries.add_termination(TermMeta::of(&term));
            }
            Summarised::Vouchers => {
                let t = Tree::Objects(Kind::PaymentVoucher);
                let v: Signed<PaymentVoucher> = self.decode_stored(t, id, bytes)?;
                st.summaries.add_voucher(PayMeta::of_voucher(&v));
            }
            Summarised::Disputes => {
                let t = Tree::Objects(Kind::Dispute);
                let d: Signed<Dispute> = self.decode_stored(t, id, bytes)?;
                st.summaries.add_dispute(PayMeta::of_dispute(&d));
            }
            Summarised::Rulings => {
                let t = Tree::Objects(Kind::Ruling);
                let r: Signed<Ruling> = self.decode_stored(t, id, bytes)?;
                st.summaries.add_ruling(PayMeta::of_ruling(&r));
            }
            Summarised::Evidence => {
                let ev = self.decode_evidence(id, bytes)?;
                // No origin entry (a crash between phases): treat as received, which keeps it.
                let (direct, derived) = loading.origins.remove(id).unwrap_or((true, None));
                st.summaries.add_evidence(
                    *id,
                    EvMeta {
                        provider: *ev.provider(),
                        expires_at: ev.expires_at(),
                        direct,
                        derived,
                    },
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_summarised_table_belongs_to_one_kind() {
        let mut seen = Vec::new();
        for kind in Kind::ALL {
            if let Home::Summaries(summarised) = home(kind) {
                assert!(!seen.contains(&summarised), "{kind} shares {summarised:?}");
                seen.push(summarised);
            }
        }
    }
}
