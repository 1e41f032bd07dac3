//! [`Store`]: the sled database, the in-memory indexes built from it, and every read and
//! write of market state.
//!
//! The path of the data, one module per step:
//!
//! 1. [`open`]: sled's lock, the schema version, then one scan of every tree ([`trees`]: one per
//!    kind, plus indexes) that checks each value ([`decode`]) and rebuilds memory: the offer
//!    index, the summaries of the kinds reputation reads, counts of the rest.
//! 2. [`commit`]: [`Store::apply_batch`] and its variants take the writer lock and stage a batch
//!    of verified objects into a `Tx` of pending writes.
//! 3. [`kinds`]: one arm per kind sends each object down its kind's path in [`apply`] (offer
//!    versions and equivocation, evidence, kinds summarised in memory, kinds kept on disk
//!    only), which updates memory and the `Tx` together.
//! 4. [`commit`] again: the `Tx` reaches sled in three phases (index inserts, objects, index
//!    removals), and a group-committed flush makes it durable before anyone is told.
//! 5. [`gc`]: what expired goes, by each kind's GC rule.
//! 6. [`query`] and [`digest`]: reads under the read lock, from memory first and from sled for
//!    the objects themselves; digests are cached per change epoch.
//!
//! Per-kind choices are made once, in [`kinds`]; the rest reads them through its `home`.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use flashback_types::{
    Cursor, EquivocationEvidence, Hash32, Kind, ObjectError, Offer, PerKind, PublicKey, Rule,
    Signed, Timestamp, TrustStore,
};

use crate::cache::OfferCache;
use crate::config::StoreConfig;
use crate::error::StoreError;
use crate::index::{OfferIndex, Scores};
use crate::reputation::Assessment;
use crate::summaries::Summaries;

mod apply;
mod certs;
mod commit;
mod decode;
mod digest;
mod gc;
mod kinds;
mod open;
mod payments;
mod query;
mod resolve;
mod trees;

pub use certs::{CertPage, RegisterPage};
use commit::Tx;
use kinds::{Home, Summarised, home};
pub use payments::PaymentObjects;
use trees::{Idx, TREES, Tree};

/// The on-disk schema this build reads and writes.
pub const SCHEMA_VERSION: u32 = 1;

/// Most stored versions of one `(provider, offer_key)`: the highest `(seq, lowest id)` are
/// kept. Superseded versions are kept (until they expire) so that equivocation at any `seq`
/// is detected whatever order offers arrive in; a provider with more unexpired versions than
/// this loses that guarantee for its oldest ones.
pub const MAX_VERSIONS_PER_OFFER: usize = 64;

/// What [`Store::apply`] did with an object.
#[derive(Debug, Clone)]
pub enum Applied {
    /// Stored: new information.
    Applied,
    /// Already held (same id).
    Duplicate,
    /// An offer older than the one held for its `(provider, offer_key)`. Kept as history
    /// (for equivocation checks) but never listed.
    Superseded,
    /// An offer with the same `(provider, offer_key, seq)` as a different one held: both are
    /// kept, evidence is stored and the provider flagged. Carries evidence pairing this offer
    /// with the held one (boxed: it holds two offers).
    Equivocation(Box<EquivocationEvidence>),
    /// Already expired at `now`: not stored.
    Expired,
    /// Refused by a rule that needs what the store holds (a voucher above its agreement's
    /// total, from another key than its consumer, or not beating the best held).
    Refused(ObjectError),
}

impl Applied {
    /// The validation rule the outcome corresponds to, for labelling gossip (`None` for
    /// [`Applied::Applied`]).
    pub fn rule(&self) -> Option<Rule> {
        match self {
            Applied::Applied => None,
            Applied::Duplicate => Some(Rule::Duplicate),
            Applied::Superseded => Some(Rule::Superseded),
            Applied::Equivocation(_) => Some(Rule::Equivocation),
            Applied::Expired => Some(Rule::Expired),
            Applied::Refused(e) => Some(e.rule),
        }
    }
}

/// One page of offers, signed (light clients re-verify), and where the next page starts.
#[derive(Debug, Clone, Default)]
pub struct QueryPage {
    /// The offers, in the query's order.
    pub offers: Vec<Signed<Offer>>,
    /// Pass as `OfferQuery::cursor` to get the next page; `None` on the last page.
    pub next_cursor: Option<Cursor>,
}

/// How many objects the store holds, per kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Per kind; current offers (one per `(provider, offer_key)`, tombstones included) for
    /// [`Kind::Offer`].
    per_kind: PerKind<u64>,
    /// Current offers that are withdrawn (tombstones).
    pub withdrawn_offers: u64,
    /// Superseded offer versions kept as history.
    pub offer_history: u64,
    /// Providers flagged for equivocation.
    pub flagged_providers: u64,
}

impl Counts {
    /// The count for one kind (current offers for [`Kind::Offer`]).
    pub fn of(&self, kind: Kind) -> u64 {
        self.per_kind[kind]
    }
}

#[derive(Debug, Default)]
struct State {
    index: OfferIndex,
    summaries: Summaries,
    /// Objects held of each [`Home::Disk`] kind.
    on_disk: PerKind<u64>,
    /// Bumped on every change to the digest set.
    digest_epoch: u64,
    /// The latest `created_at` of any object listed (offers at load, every kind since): how
    /// far the clocks of the objects' signers have been seen to go (see [`Store::gc`]).
    newest_created_at: Timestamp,
}

type ProviderDigests = Arc<Vec<(PublicKey, Hash32)>>;

/// What cached scores depend on: the instant, the summaries' and the trust store's change
/// counters, and the number of providers.
type ScoresKey = (Timestamp, u64, u64, usize);

/// What a cached assessment depends on: the instant, the summaries' and the trust store's
/// change counters.
type AssessmentKey = (Timestamp, u64, u64);

#[derive(Default)]
struct Caches {
    listing: Option<(u64, Hash32)>,
    providers: Option<(u64, ProviderDigests)>,
    scores: Option<(ScoresKey, Arc<Scores>)>,
    assessment: Option<(AssessmentKey, Arc<Assessment>)>,
}

/// The trust store in force, and a counter of its changes (caches key on it).
#[derive(Debug, Default)]
struct Trust {
    store: Arc<TrustStore>,
    epoch: u64,
}

/// The open sled database and its trees, replaced whole when a store that failed to write
/// reopens it (see `Store::recover`).
struct Sled {
    db: sled::Db,
    trees: Vec<sled::Tree>,
}

impl Sled {
    fn open(path: &Path, cache_capacity: u64) -> Result<Self, StoreError> {
        let db = open::open_sled(path, cache_capacity)?;
        let trees = TREES
            .iter()
            .map(|t| db.open_tree(t.name()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| open::open_error(path, e))?;
        Ok(Self { db, trees })
    }
}

struct Inner {
    path: PathBuf,
    config: StoreConfig,
    /// `None` only while a failed store reopens its database, or when that failed.
    sled: RwLock<Option<Arc<Sled>>>,
    state: RwLock<State>,
    writer: Mutex<()>,
    /// Group commit: `staged` counts commits to sled, `durable` is the highest count a
    /// completed flush covered. Flushes are serialised by `flushing`.
    staged: AtomicU64,
    durable: AtomicU64,
    flushing: Mutex<()>,
    poisoned: Mutex<Option<String>>,
    /// When a poisoned store last tried to write again (see `check_poisoned`).
    recovery: Mutex<Option<std::time::Instant>>,
    caches: Mutex<Caches>,
    offer_cache: Mutex<OfferCache>,
    trust: RwLock<Trust>,
}

/// The listing: a sled database plus in-memory indexes. Cheap to clone (an `Arc` inside),
/// `Send + Sync`; writers are serialised, readers run concurrently.
///
/// ```
/// use flashback_store::{Store, StoreConfig};
/// use flashback_types::Kind;
/// let dir = tempfile::tempdir().unwrap();
/// let store = Store::open(dir.path().join("listing"), StoreConfig::default()).unwrap();
/// assert_eq!(store.counts().of(Kind::Offer), 0);
/// ```
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Store {
    fn sled(&self) -> Result<Arc<Sled>, StoreError> {
        self.inner
            .sled
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
            .ok_or_else(|| {
                self.poisoned().unwrap_or_else(|| StoreError::Io {
                    path: self.inner.path.clone(),
                    detail: "the database is closed".into(),
                })
            })
    }

    fn tree(&self, t: Tree) -> Result<sled::Tree, StoreError> {
        Ok(self.sled()?.trees[t.slot()].clone())
    }

    fn read_state(&self) -> RwLockReadGuard<'_, State> {
        self.inner
            .state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write_state(&self) -> RwLockWriteGuard<'_, State> {
        self.inner
            .state
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The database directory.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The configuration the store was opened with.
    pub fn config(&self) -> &StoreConfig {
        &self.inner.config
    }

    /// The trust store every verdict reads: which issuers count for which claims, who is an
    /// auditor (reputation) or an arbiter. At open: the deprecated `trusted_certifiers` and
    /// `trusted_auditors` settings ([`StoreConfig::legacy_trust`]); the node replaces it with
    /// its trust file.
    pub fn trust(&self) -> Arc<TrustStore> {
        self.read_trust().store.clone()
    }

    /// Replaces the trust store. Queries, registers and reputation use it from now on.
    pub fn set_trust(&self, trust: TrustStore) {
        let mut current = self
            .inner
            .trust
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if *current.store != trust {
            current.store = Arc::new(trust);
            current.epoch += 1;
        }
    }

    fn read_trust(&self) -> RwLockReadGuard<'_, Trust> {
        self.inner
            .trust
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
