//! In-memory summaries of agreements, attestations, certificates, revocations and evidence:
//! small, sorted, rebuilt from sled at open. Reputation and the certificate filter read them.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use flashback_types::trust::{AUDITOR_CLAIM, counting_revocation};
use flashback_types::{
    Agreement, CertStatus, Certificate, Claim, Dispute, ObjectId, Party, PaymentVoucher, PublicKey,
    QosAttestation, Revocation, Role, Ruling, ShortText, Signed, Termination, Timestamp,
    TrustStore,
};

#[derive(Debug, Clone)]
pub(crate) struct AgrMeta {
    pub(crate) id: ObjectId,
    pub(crate) proposal_id: ObjectId,
    pub(crate) consumer: PublicKey,
    pub(crate) provider: PublicKey,
    pub(crate) start: Timestamp,
    pub(crate) end: Timestamp,
    pub(crate) volume: u64,
    /// The declared total and its asset: the value at stake.
    pub(crate) total: u64,
    pub(crate) asset: flashback_types::BoundedString<12>,
    pub(crate) availability_bp: u16,
    pub(crate) p95_latency_ms: u32,
    pub(crate) offer_id: ObjectId,
    /// The offer key of the referenced offer, once that offer has been seen.
    pub(crate) offer_key: Option<ShortText>,
}

impl AgrMeta {
    pub(crate) fn of(a: &Agreement) -> Self {
        let p = a.proposal().body();
        Self {
            id: a.id(),
            proposal_id: a.proposal_id(),
            consumer: p.consumer,
            provider: p.provider,
            start: p.start,
            end: p.end(),
            volume: p.volume,
            total: p.total,
            asset: p.price.asset.clone(),
            availability_bp: p.qos.availability_bp,
            p95_latency_ms: p.qos.p95_latency_ms,
            offer_id: p.offer_id,
            offer_key: None,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct AttMeta {
    pub(crate) id: ObjectId,
    pub(crate) attester: PublicKey,
    pub(crate) subject: PublicKey,
    pub(crate) agreement: Option<ObjectId>,
    pub(crate) window_start: Timestamp,
    pub(crate) window_end: Timestamp,
    pub(crate) probes: u32,
    pub(crate) successes: u32,
    pub(crate) latency_p95_ms: u32,
    pub(crate) expires_at: Timestamp,
}

impl AttMeta {
    pub(crate) fn of(a: &Signed<QosAttestation>) -> Self {
        let b = a.body();
        Self {
            id: a.id(),
            attester: b.attester,
            subject: b.subject,
            agreement: b.agreement,
            window_start: b.window_start,
            window_end: b.window_end,
            probes: b.probes,
            successes: b.successes,
            latency_p95_ms: b.latency_p95_ms,
            expires_at: b.expires_at,
        }
    }
}

/// A certificate's body (small: certificates are few, and verdicts read every claim).
#[derive(Debug, Clone)]
pub(crate) struct CertMeta {
    pub(crate) id: ObjectId,
    pub(crate) body: Certificate,
    pub(crate) expires_at: Timestamp,
}

impl CertMeta {
    pub(crate) fn of(c: &Signed<Certificate>) -> Self {
        Self {
            id: c.id(),
            body: c.body().clone(),
            expires_at: c.body().expires_at,
        }
    }
}

/// A revocation's body.
#[derive(Debug, Clone)]
pub(crate) struct RevMeta {
    pub(crate) body: Revocation,
    pub(crate) expires_at: Timestamp,
}

impl RevMeta {
    pub(crate) fn of(r: &Signed<Revocation>) -> Self {
        Self {
            body: r.body().clone(),
            expires_at: r.body().expires_at,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct TermMeta {
    pub(crate) id: ObjectId,
    pub(crate) party: PublicKey,
    pub(crate) agreement: ObjectId,
    pub(crate) created_at: Timestamp,
    pub(crate) expires_at: Timestamp,
}

impl TermMeta {
    pub(crate) fn of(t: &Signed<Termination>) -> Self {
        let b = t.body();
        Self {
            id: t.id(),
            party: b.party,
            agreement: b.agreement,
            created_at: b.created_at,
            expires_at: b.expires_at,
        }
    }
}

/// Where a piece of equivocation evidence came from.
pub(crate) type DerivedKey = (PublicKey, ShortText, u64);

#[derive(Debug, Clone)]
pub(crate) struct EvMeta {
    pub(crate) provider: PublicKey,
    pub(crate) expires_at: Timestamp,
    /// Received as an object (gossip, sync, submit).
    pub(crate) direct: bool,
    /// Built here from two offers with the same `(provider, offer_key, seq)`.
    pub(crate) derived: Option<DerivedKey>,
}

/// What every kind of summary has: an expiry.
pub(crate) trait Expiring {
    /// When the summarised object expires (and the store may delete it).
    fn expires_at(&self) -> Timestamp;
}

impl Expiring for AgrMeta {
    fn expires_at(&self) -> Timestamp {
        self.end
    }
}

/// Summaries whose expiry is their `expires_at` field.
macro_rules! expires_at_field {
    ($($meta:ty),*) => {
        $(impl Expiring for $meta {
            fn expires_at(&self) -> Timestamp {
                self.expires_at
            }
        })*
    };
}

/// A payment voucher, dispute or ruling: the agreement it is about (the id of its proposal).
#[derive(Debug, Clone)]
pub(crate) struct PayMeta {
    pub(crate) id: ObjectId,
    pub(crate) agreement: ObjectId,
    pub(crate) expires_at: Timestamp,
    /// A ruling's verdict (what a provider's reputation reads); `None` for other kinds.
    pub(crate) ruled: Option<Ruled>,
}

/// What a ruling decided, and by whom.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ruled {
    pub(crate) arbiter: PublicKey,
    pub(crate) dispute: ObjectId,
    pub(crate) in_favour_of: Party,
    pub(crate) created_at: Timestamp,
}

impl PayMeta {
    pub(crate) fn of_voucher(v: &Signed<PaymentVoucher>) -> Self {
        Self {
            id: v.id(),
            agreement: v.body().agreement,
            expires_at: v.body().expires_at,
            ruled: None,
        }
    }

    pub(crate) fn of_dispute(d: &Signed<Dispute>) -> Self {
        Self {
            id: d.id(),
            agreement: d.body().agreement,
            expires_at: d.body().expires_at,
            ruled: None,
        }
    }

    pub(crate) fn of_ruling(r: &Signed<Ruling>) -> Self {
        Self {
            id: r.id(),
            agreement: r.body().agreement,
            expires_at: r.body().expires_at,
            ruled: Some(Ruled {
                arbiter: r.body().arbiter,
                dispute: r.body().dispute,
                in_favour_of: r.body().in_favour_of,
                created_at: r.body().created_at,
            }),
        }
    }
}

expires_at_field!(AttMeta, CertMeta, RevMeta, EvMeta, TermMeta, PayMeta);

/// The summaries of one kind, seen through what every kind shares: ids and expiries. What the
/// store's generic paths (counts, sync ids, digests, GC) read.
pub(crate) trait Table {
    /// How many objects are held.
    fn len(&self) -> usize;
    /// Whether `id` is held.
    fn contains(&self, id: &ObjectId) -> bool;
    /// Every id held, sorted.
    fn ids(&self) -> Vec<ObjectId>;
    /// The ids whose expiry is at or before `now`, sorted.
    fn expired(&self, now: Timestamp) -> Vec<ObjectId>;
}

impl<M: Expiring> Table for BTreeMap<ObjectId, M> {
    fn len(&self) -> usize {
        BTreeMap::len(self)
    }

    fn contains(&self, id: &ObjectId) -> bool {
        self.contains_key(id)
    }

    fn ids(&self) -> Vec<ObjectId> {
        self.keys().copied().collect()
    }

    fn expired(&self, now: Timestamp) -> Vec<ObjectId> {
        self.iter()
            .filter(|(_, m)| m.expires_at() <= now)
            .map(|(id, _)| *id)
            .collect()
    }
}

fn remove_from<K: std::hash::Hash + Eq, V: Ord>(
    map: &mut HashMap<K, BTreeSet<V>>,
    key: &K,
    value: &V,
) {
    if let Some(set) = map.get_mut(key) {
        set.remove(value);
        if set.is_empty() {
            map.remove(key);
        }
    }
}

/// Everything but offers, summarised.
#[derive(Debug, Default)]
pub(crate) struct Summaries {
    pub(crate) agreements: BTreeMap<ObjectId, AgrMeta>,
    agr_by_party: HashMap<PublicKey, BTreeSet<ObjectId>>,
    agr_by_pair: HashMap<(PublicKey, PublicKey), BTreeSet<ObjectId>>,
    agr_by_proposal: HashMap<ObjectId, BTreeSet<ObjectId>>,
    agr_by_offer: HashMap<ObjectId, BTreeSet<ObjectId>>,
    pub(crate) attestations: BTreeMap<ObjectId, AttMeta>,
    att_by_subject: HashMap<PublicKey, BTreeSet<(PublicKey, ObjectId)>>,
    pub(crate) certs: BTreeMap<ObjectId, CertMeta>,
    certs_by_subject: HashMap<PublicKey, BTreeSet<ObjectId>>,
    certs_by_issuer: HashMap<PublicKey, BTreeSet<ObjectId>>,
    pub(crate) revocations: BTreeMap<ObjectId, RevMeta>,
    rev_by_cert: HashMap<ObjectId, BTreeSet<ObjectId>>,
    pub(crate) evidence: BTreeMap<ObjectId, EvMeta>,
    flags: BTreeMap<PublicKey, u32>,
    pub(crate) derived: HashMap<DerivedKey, ObjectId>,
    pub(crate) terminations: BTreeMap<ObjectId, TermMeta>,
    /// Terminations by the agreement (proposal id) they name.
    term_by_agreement: HashMap<ObjectId, BTreeSet<ObjectId>>,
    /// The best voucher of each agreement (only the best is kept).
    pub(crate) vouchers: BTreeMap<ObjectId, PayMeta>,
    voucher_by_agreement: HashMap<ObjectId, ObjectId>,
    pub(crate) disputes: BTreeMap<ObjectId, PayMeta>,
    pub(crate) rulings: BTreeMap<ObjectId, PayMeta>,
    /// Disputes and rulings by the agreement (proposal id) they name.
    pay_by_agreement: HashMap<ObjectId, BTreeSet<ObjectId>>,
    /// Bumped whenever an input of reputation or certification changes.
    pub(crate) epoch: u64,
}

impl Summaries {
    pub(crate) fn add_agreement(&mut self, m: AgrMeta) {
        self.agr_by_party
            .entry(m.consumer)
            .or_default()
            .insert(m.id);
        self.agr_by_party
            .entry(m.provider)
            .or_default()
            .insert(m.id);
        self.agr_by_pair
            .entry((m.consumer, m.provider))
            .or_default()
            .insert(m.id);
        self.agr_by_proposal
            .entry(m.proposal_id)
            .or_default()
            .insert(m.id);
        self.agr_by_offer
            .entry(m.offer_id)
            .or_default()
            .insert(m.id);
        self.agreements.insert(m.id, m);
        self.epoch += 1;
    }

    pub(crate) fn remove_agreement(&mut self, id: &ObjectId) -> Option<AgrMeta> {
        let m = self.agreements.remove(id)?;
        remove_from(&mut self.agr_by_party, &m.consumer, id);
        remove_from(&mut self.agr_by_party, &m.provider, id);
        remove_from(&mut self.agr_by_pair, &(m.consumer, m.provider), id);
        remove_from(&mut self.agr_by_proposal, &m.proposal_id, id);
        remove_from(&mut self.agr_by_offer, &m.offer_id, id);
        self.epoch += 1;
        Some(m)
    }

    /// Agreements on an offer id whose offer key is not known yet.
    pub(crate) fn unresolved_on_offer(&self, offer_id: &ObjectId) -> Vec<ObjectId> {
        self.agr_by_offer
            .get(offer_id)
            .map(|set| {
                set.iter()
                    .filter(|id| {
                        self.agreements
                            .get(id)
                            .is_some_and(|m| m.offer_key.is_none())
                    })
                    .copied()
                    .collect()
            })
            .unwrap_or_default()
    }

    pub(crate) fn agreements_of(&self, party: &PublicKey) -> Vec<ObjectId> {
        self.agr_by_party
            .get(party)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default()
    }

    pub(crate) fn agreement_for_proposal(&self, proposal: &ObjectId) -> Option<ObjectId> {
        self.agr_by_proposal
            .get(proposal)
            .and_then(|s| s.iter().next().copied())
    }

    /// Agreements where `consumer` buys from `provider`, in id order.
    pub(crate) fn agreements_between(
        &self,
        consumer: &PublicKey,
        provider: &PublicKey,
    ) -> impl Iterator<Item = &AgrMeta> + '_ {
        self.agr_by_pair
            .get(&(*consumer, *provider))
            .into_iter()
            .flat_map(|s| s.iter())
            .filter_map(|id| self.agreements.get(id))
    }

    pub(crate) fn accepted_volume(
        &self,
        provider: &PublicKey,
        offer_key: &str,
        now: Timestamp,
    ) -> u64 {
        self.agr_by_party
            .get(provider)
            .into_iter()
            .flat_map(|s| s.iter())
            .filter_map(|id| self.agreements.get(id))
            .filter(|m| {
                &m.provider == provider
                    && m.end > now
                    && m.offer_key
                        .as_ref()
                        .is_some_and(|k| k.as_str() == offer_key)
                    && self.terminated_at(m).is_none()
            })
            .fold(0u64, |acc, m| acc.saturating_add(m.volume))
    }

    /// When the agreement `m` was ended by one of its parties (the earliest such termination
    /// held), if it was: [`Termination::ends`]'s rule, on summaries.
    pub(crate) fn terminated_at(&self, m: &AgrMeta) -> Option<Timestamp> {
        self.term_by_agreement
            .get(&m.proposal_id)?
            .iter()
            .filter_map(|id| self.terminations.get(id))
            .filter(|t| t.party == m.consumer || t.party == m.provider)
            .map(|t| t.created_at)
            .min()
    }

    pub(crate) fn add_termination(&mut self, m: TermMeta) {
        self.term_by_agreement
            .entry(m.agreement)
            .or_default()
            .insert(m.id);
        self.terminations.insert(m.id, m);
        self.epoch += 1;
    }

    pub(crate) fn remove_termination(&mut self, id: &ObjectId) -> Option<TermMeta> {
        let m = self.terminations.remove(id)?;
        remove_from(&mut self.term_by_agreement, &m.agreement, id);
        self.epoch += 1;
        Some(m)
    }

    /// Terminations naming `agreement` (signed by anyone), by id.
    pub(crate) fn terminations_of(&self, agreement: &ObjectId) -> Vec<ObjectId> {
        self.term_by_agreement
            .get(agreement)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Keeps `m` as the best voucher of its agreement (the caller removed the one it beats).
    pub(crate) fn add_voucher(&mut self, m: PayMeta) {
        self.voucher_by_agreement.insert(m.agreement, m.id);
        self.vouchers.insert(m.id, m);
        self.epoch += 1;
    }

    pub(crate) fn remove_voucher(&mut self, id: &ObjectId) -> Option<PayMeta> {
        let m = self.vouchers.remove(id)?;
        if self.voucher_by_agreement.get(&m.agreement) == Some(id) {
            self.voucher_by_agreement.remove(&m.agreement);
        }
        self.epoch += 1;
        Some(m)
    }

    /// The best voucher held for `agreement`.
    pub(crate) fn voucher_of(&self, agreement: &ObjectId) -> Option<ObjectId> {
        self.voucher_by_agreement.get(agreement).copied()
    }

    pub(crate) fn add_dispute(&mut self, m: PayMeta) {
        self.pay_by_agreement
            .entry(m.agreement)
            .or_default()
            .insert(m.id);
        self.disputes.insert(m.id, m);
        self.epoch += 1;
    }

    pub(crate) fn remove_dispute(&mut self, id: &ObjectId) -> Option<PayMeta> {
        let m = self.disputes.remove(id)?;
        remove_from(&mut self.pay_by_agreement, &m.agreement, id);
        self.epoch += 1;
        Some(m)
    }

    pub(crate) fn add_ruling(&mut self, m: PayMeta) {
        self.pay_by_agreement
            .entry(m.agreement)
            .or_default()
            .insert(m.id);
        self.rulings.insert(m.id, m);
        self.epoch += 1;
    }

    pub(crate) fn remove_ruling(&mut self, id: &ObjectId) -> Option<PayMeta> {
        let m = self.rulings.remove(id)?;
        remove_from(&mut self.pay_by_agreement, &m.agreement, id);
        self.epoch += 1;
        Some(m)
    }

    /// Disputes and rulings naming `agreement`, by id: `(disputes, rulings)`.
    pub(crate) fn disputes_and_rulings_of(
        &self,
        agreement: &ObjectId,
    ) -> (Vec<ObjectId>, Vec<ObjectId>) {
        let ids = self.pay_by_agreement.get(agreement);
        let pick = |table: &BTreeMap<ObjectId, PayMeta>| -> Vec<ObjectId> {
            ids.into_iter()
                .flatten()
                .filter(|id| table.contains_key(id))
                .copied()
                .collect()
        };
        (pick(&self.disputes), pick(&self.rulings))
    }

    pub(crate) fn add_attestation(&mut self, m: AttMeta) {
        self.att_by_subject
            .entry(m.subject)
            .or_default()
            .insert((m.attester, m.id));
        self.attestations.insert(m.id, m);
        self.epoch += 1;
    }

    pub(crate) fn remove_attestation(&mut self, id: &ObjectId) -> Option<AttMeta> {
        let m = self.attestations.remove(id)?;
        remove_from(&mut self.att_by_subject, &m.subject, &(m.attester, m.id));
        self.epoch += 1;
        Some(m)
    }

    /// Attestations about `subject`, ordered by (attester, id).
    pub(crate) fn attestations_about(&self, subject: &PublicKey) -> Vec<&AttMeta> {
        self.att_by_subject
            .get(subject)
            .into_iter()
            .flat_map(|s| s.iter())
            .filter_map(|(_, id)| self.attestations.get(id))
            .collect()
    }

    /// Subjects that have at least one attestation.
    pub(crate) fn attested_subjects(&self) -> impl Iterator<Item = &PublicKey> + '_ {
        self.att_by_subject.keys()
    }

    /// The proposal ids of the agreements held (an agreement's name).
    pub(crate) fn proposal_ids(&self) -> impl Iterator<Item = &ObjectId> + '_ {
        self.agr_by_proposal.keys()
    }

    /// Every key the summaries name: parties to agreements, attesters and subjects of
    /// attestations, issuers and subjects of certificates (with repeats).
    pub(crate) fn known_keys(&self) -> impl Iterator<Item = &PublicKey> + '_ {
        self.agr_by_party
            .keys()
            .chain(self.att_by_subject.keys())
            .chain(self.attestations.values().map(|a| &a.attester))
            .chain(self.certs_by_subject.keys())
            .chain(self.certs_by_issuer.keys())
    }

    pub(crate) fn add_cert(&mut self, m: CertMeta) {
        self.certs_by_subject
            .entry(m.body.subject)
            .or_default()
            .insert(m.id);
        self.certs_by_issuer
            .entry(m.body.issuer)
            .or_default()
            .insert(m.id);
        self.certs.insert(m.id, m);
        self.epoch += 1;
    }

    pub(crate) fn remove_cert(&mut self, id: &ObjectId) -> Option<CertMeta> {
        let m = self.certs.remove(id)?;
        remove_from(&mut self.certs_by_subject, &m.body.subject, id);
        remove_from(&mut self.certs_by_issuer, &m.body.issuer, id);
        self.epoch += 1;
        Some(m)
    }

    pub(crate) fn certs_about(&self, subject: &PublicKey) -> Vec<ObjectId> {
        self.certs_by_subject
            .get(subject)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default()
    }

    pub(crate) fn add_revocation(&mut self, id: ObjectId, m: RevMeta) {
        self.rev_by_cert
            .entry(m.body.certificate)
            .or_default()
            .insert(id);
        self.revocations.insert(id, m);
        self.epoch += 1;
    }

    pub(crate) fn remove_revocation(&mut self, id: &ObjectId) -> Option<RevMeta> {
        let m = self.revocations.remove(id)?;
        remove_from(&mut self.rev_by_cert, &m.body.certificate, id);
        self.epoch += 1;
        Some(m)
    }

    /// Certificates issued by `issuer`, by id.
    pub(crate) fn certs_by(&self, issuer: &PublicKey) -> Vec<ObjectId> {
        self.certs_by_issuer
            .get(issuer)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default()
    }

    /// The revocation that counts for `cert` at `now`, with its id.
    pub(crate) fn revocation_of(
        &self,
        cert: &CertMeta,
        now: Timestamp,
    ) -> Option<(ObjectId, &Revocation)> {
        let ids = self.rev_by_cert.get(&cert.id)?;
        let candidates = ids
            .iter()
            .filter_map(|id| self.revocations.get(id).map(|r| (*id, &r.body)));
        counting_revocation(&cert.id, &cert.body, candidates, now)
    }

    /// Not expired, and no unexpired revocation by its issuer (whoever the issuer is).
    pub(crate) fn cert_live(&self, cert: &CertMeta, now: Timestamp) -> bool {
        cert.expires_at > now && self.revocation_of(cert, now).is_none()
    }

    /// The certificate's status under `trust` at `now`.
    pub(crate) fn status(&self, cert: &CertMeta, trust: &TrustStore, now: Timestamp) -> CertStatus {
        let revocation = self.revocation_of(cert, now).map(|(_, r)| r);
        trust.status(&cert.body, revocation, now)
    }

    /// `subject`'s certificates from issuers in `trust`, by id.
    pub(crate) fn trusted_certs_about(
        &self,
        subject: &PublicKey,
        trust: &TrustStore,
    ) -> Vec<&CertMeta> {
        self.certs_by_subject
            .get(subject)
            .into_iter()
            .flat_map(|s| s.iter())
            .filter_map(|id| self.certs.get(id))
            .filter(|c| trust.issuer(&c.body.issuer).is_some())
            .collect()
    }

    /// The claims `subject` holds under `trust` at `now`.
    pub(crate) fn held_claims(
        &self,
        subject: &PublicKey,
        trust: &TrustStore,
        now: Timestamp,
    ) -> Vec<Claim> {
        let certs = self.trusted_certs_about(subject, trust);
        let statuses: Vec<CertStatus> = certs.iter().map(|c| self.status(c, trust, now)).collect();
        trust.held_claims(certs.iter().map(|c| &c.body).zip(&statuses))
    }

    /// Keys with at least one certificate from an issuer in `trust`, sorted.
    pub(crate) fn trusted_subjects(&self, trust: &TrustStore) -> BTreeSet<PublicKey> {
        trust
            .issuers
            .iter()
            .filter_map(|i| self.certs_by_issuer.get(&i.key))
            .flat_map(|ids| ids.iter())
            .filter_map(|id| self.certs.get(id))
            .map(|c| c.body.subject)
            .collect()
    }

    /// Keys holding a live certificate from `issuer`.
    pub(crate) fn certified_by(&self, issuer: &PublicKey, now: Timestamp) -> Vec<PublicKey> {
        self.certs_by_issuer
            .get(issuer)
            .into_iter()
            .flat_map(|s| s.iter())
            .filter_map(|id| self.certs.get(id))
            .filter(|c| self.cert_live(c, now))
            .map(|c| c.body.subject)
            .collect()
    }

    /// The smallest-id valid certificate with the claim `auditor` on `key` from an issuer
    /// `trust` holds as an auditor.
    pub(crate) fn auditor_cert(
        &self,
        key: &PublicKey,
        trust: &TrustStore,
        now: Timestamp,
    ) -> Option<ObjectId> {
        self.certs_by_subject
            .get(key)?
            .iter()
            .filter_map(|id| self.certs.get(id))
            .find(|c| {
                c.body
                    .claims
                    .iter()
                    .any(|x| x.name.as_str() == AUDITOR_CLAIM)
                    && trust.has_role(&c.body.issuer, Role::Auditor)
                    && self.status(c, trust, now).is_valid()
            })
            .map(|c| c.id)
    }

    /// Keys that are the consumer of an agreement held.
    pub(crate) fn consumers(&self) -> BTreeSet<PublicKey> {
        self.agreements.values().map(|a| a.consumer).collect()
    }

    pub(crate) fn add_evidence(&mut self, id: ObjectId, m: EvMeta) {
        *self.flags.entry(m.provider).or_default() += 1;
        if let Some(k) = &m.derived {
            self.derived.insert(k.clone(), id);
        }
        self.evidence.insert(id, m);
    }

    pub(crate) fn remove_evidence(&mut self, id: &ObjectId) -> Option<EvMeta> {
        let m = self.evidence.remove(id)?;
        if let Some(n) = self.flags.get_mut(&m.provider) {
            *n -= 1;
            if *n == 0 {
                self.flags.remove(&m.provider);
            }
        }
        if let Some(k) = &m.derived
            && self.derived.get(k) == Some(id)
        {
            self.derived.remove(k);
        }
        Some(m)
    }

    pub(crate) fn is_flagged(&self, provider: &PublicKey) -> bool {
        self.flags.contains_key(provider)
    }

    pub(crate) fn flagged_count(&self) -> usize {
        self.flags.len()
    }

    pub(crate) fn evidence_about(&self, provider: &PublicKey) -> Vec<ObjectId> {
        self.evidence
            .iter()
            .filter(|(_, m)| &m.provider == provider)
            .map(|(id, _)| *id)
            .collect()
    }
}
