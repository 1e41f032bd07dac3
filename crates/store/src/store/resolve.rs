//! Resolving the start of an id or key that a person typed ([`IdPrefix`]) to the ids and keys
//! the listing holds, like git's abbreviated hashes.

use std::collections::BTreeSet;

use flashback_types::{IdPrefix, IdSpace, Kind};

use super::{Store, Tree};
use crate::error::StoreError;

impl Store {
    /// The ids (or keys) of `space` that start with `prefix`, in increasing order: at most
    /// `max`, and whether more matched. Offers: every version held (sled's key order answers
    /// by range); agreements: by their proposal's id; keys: providers with offers, parties to
    /// agreements, attesters and the subjects of attestations and certificates.
    pub fn resolve(
        &self,
        space: IdSpace,
        prefix: &IdPrefix,
        max: usize,
    ) -> Result<(Vec<[u8; 32]>, bool), StoreError> {
        let mut found: Vec<[u8; 32]> = match space {
            IdSpace::Offers => {
                let (lo, hi) = prefix.range();
                let mut out = Vec::new();
                for item in self.tree(Tree::Objects(Kind::Offer))?.range(lo..=hi) {
                    let (key, _) = item.map_err(|e| self.sled_err(e))?;
                    out.push(self.key_id(Tree::Objects(Kind::Offer), &key)?.0);
                    if out.len() > max {
                        break;
                    }
                }
                out
            }
            IdSpace::Agreements => {
                let st = self.read_state();
                let ids: BTreeSet<[u8; 32]> = st
                    .summaries
                    .proposal_ids()
                    .map(|id| id.0)
                    .filter(|id| prefix.matches(id))
                    .collect();
                ids.into_iter().collect()
            }
            IdSpace::Keys => {
                let st = self.read_state();
                let keys: BTreeSet<[u8; 32]> = st
                    .index
                    .providers_with_heads()
                    .map(|(_, k)| k)
                    .chain(st.summaries.known_keys())
                    .map(|k| *k.as_bytes())
                    .filter(|k| prefix.matches(k))
                    .collect();
                keys.into_iter().collect()
            }
        };
        let more = found.len() > max;
        found.truncate(max);
        Ok((found, more))
    }
}
