//! The on-disk layout: one sled tree per object kind, laid out from [`Kind::ALL`] and named
//! by [`Kind::store_tree`], the metadata tree, and the secondary index trees.

use flashback_types::Kind;

/// A sled tree: one per object kind (id → signed encoding, named by [`Kind::store_tree`]), the
/// metadata tree, and the secondary indexes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Tree {
    Meta,
    Objects(Kind),
    Index(Idx),
}

/// The secondary index trees. The discriminant is how an expiry-index entry names the tree of
/// the secondary entry to delete with its object: it is on disk, never renumber.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(super) enum Idx {
    ProposalsByProvider = 10,
    DecisionsByProposal = 11,
    Expiry = 12,
    EvidenceOrigin = 13,
    AgreementOfferKey = 14,
    GrantsByAgreement = 15,
    QuotesByDemand = 16,
}

impl Idx {
    const ALL: [Idx; 7] = [
        Idx::ProposalsByProvider,
        Idx::DecisionsByProposal,
        Idx::Expiry,
        Idx::EvidenceOrigin,
        Idx::AgreementOfferKey,
        Idx::GrantsByAgreement,
        Idx::QuotesByDemand,
    ];

    pub(super) fn name(self) -> &'static str {
        match self {
            Idx::ProposalsByProvider => "idx_proposals_by_provider",
            Idx::DecisionsByProposal => "idx_decisions_by_proposal",
            Idx::Expiry => "idx_expiry",
            Idx::EvidenceOrigin => "idx_evidence_origin",
            Idx::AgreementOfferKey => "idx_agreement_offer_key",
            Idx::GrantsByAgreement => "idx_grants_by_agreement",
            Idx::QuotesByDemand => "idx_quotes_by_demand",
        }
    }

    pub(super) fn from_tag(tag: u8) -> Option<Idx> {
        Idx::ALL.into_iter().find(|i| *i as u8 == tag)
    }
}

/// Every tree: meta, one per kind (from [`Kind::ALL`]), then the indexes.
pub(super) const TREES: [Tree; 1 + Kind::COUNT + Idx::ALL.len()] = {
    let mut trees = [Tree::Meta; 1 + Kind::COUNT + Idx::ALL.len()];
    let mut i = 0;
    while i < Kind::COUNT {
        trees[1 + i] = Tree::Objects(Kind::ALL[i]);
        i += 1;
    }
    let mut j = 0;
    while j < Idx::ALL.len() {
        trees[1 + Kind::COUNT + j] = Tree::Index(Idx::ALL[j]);
        j += 1;
    }
    trees
};

impl Tree {
    pub(super) fn name(self) -> &'static str {
        match self {
            Tree::Meta => "meta",
            Tree::Objects(kind) => kind.store_tree(),
            Tree::Index(idx) => idx.name(),
        }
    }

    /// Position in [`TREES`].
    pub(super) fn slot(self) -> usize {
        match self {
            Tree::Meta => 0,
            Tree::Objects(kind) => 1 + kind.index(),
            Tree::Index(idx) => {
                1 + Kind::COUNT + (idx as usize - Idx::ProposalsByProvider as usize)
            }
        }
    }

    pub(super) fn is_object(self) -> bool {
        matches!(self, Tree::Objects(_))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn trees_are_laid_out_from_kinds_and_named_once() {
        let mut names = BTreeSet::new();
        for (i, t) in TREES.into_iter().enumerate() {
            assert_eq!(t.slot(), i, "{t:?}");
            assert!(names.insert(t.name()), "{} named twice", t.name());
        }
        for kind in Kind::ALL {
            assert!(TREES.contains(&Tree::Objects(kind)), "{kind} has no tree");
        }
        for idx in Idx::ALL {
            assert_eq!(Idx::from_tag(idx as u8), Some(idx));
        }
        // On disk: expiry entries name these trees by tag.
        assert_eq!(Idx::ProposalsByProvider as u8, 10);
        assert_eq!(Idx::DecisionsByProposal as u8, 11);
    }
}
