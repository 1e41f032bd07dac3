//! [`Store`]: the sled database, the in-memory indexes built from it, and every read and
//! write of market state.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use flashback_types::{
    Agreement, Certificate, Cursor, Demand, EquivocationEvidence, GcRule, Hash32, Kind, Object,
    ObjectError, ObjectId, Offer, OfferQuery, PerKind, PriceUnit, PublicKey, QosAttestation,
    Revocation, Rule, ShortText, Signed, SignedBody, SlaDecision, SlaProposal, Timestamp,
};
use tracing::{debug, info, warn};

use crate::cache::OfferCache;
use crate::codec::{self, cat, expiry_key, id_from, parse_expiry_key, seal, unseal};
use crate::config::StoreConfig;
use crate::error::StoreError;
use crate::index::{OfferIndex, PageIds, Plan, PriceFilter, Scores, Version};
use crate::market::{AgrMeta, AttMeta, CertMeta, DerivedKey, EvMeta, Market, RevMeta, Table};
use crate::price;
use crate::reputation::{self, Explanation, Reputation};

/// The on-disk schema this build reads and writes.
pub const SCHEMA_VERSION: u32 = 1;

/// Most stored versions of one `(provider, offer_key)`: the highest `(seq, lowest id)` are
/// kept. Superseded versions are kept (until they expire) so that equivocation at any `seq`
/// is detected whatever order offers arrive in; a provider with more unexpired versions than
/// this loses that guarantee for its oldest ones.
pub const MAX_VERSIONS_PER_OFFER: usize = 64;

const SCHEMA_KEY: &[u8] = b"schema_version";

/// A sled tree: one per object kind (id → signed encoding, named by [`Kind::store_tree`]), the
/// metadata tree, and the secondary indexes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tree {
    Meta,
    Objects(Kind),
    Index(Idx),
}

/// The secondary index trees. The discriminant is how an expiry-index entry names the tree of
/// the secondary entry to delete with its object: it is on disk, never renumber.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Idx {
    ProposalsByProvider = 10,
    DecisionsByProposal = 11,
    Expiry = 12,
    EvidenceOrigin = 13,
    AgreementOfferKey = 14,
}

impl Idx {
    const ALL: [Idx; 5] = [
        Idx::ProposalsByProvider,
        Idx::DecisionsByProposal,
        Idx::Expiry,
        Idx::EvidenceOrigin,
        Idx::AgreementOfferKey,
    ];

    fn name(self) -> &'static str {
        match self {
            Idx::ProposalsByProvider => "idx_proposals_by_provider",
            Idx::DecisionsByProposal => "idx_decisions_by_proposal",
            Idx::Expiry => "idx_expiry",
            Idx::EvidenceOrigin => "idx_evidence_origin",
            Idx::AgreementOfferKey => "idx_agreement_offer_key",
        }
    }

    fn from_tag(tag: u8) -> Option<Idx> {
        Idx::ALL.into_iter().find(|i| *i as u8 == tag)
    }
}

/// Every tree: meta, one per kind (from [`Kind::ALL`]), then the indexes.
const TREES: [Tree; 1 + Kind::COUNT + Idx::ALL.len()] = {
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
    fn name(self) -> &'static str {
        match self {
            Tree::Meta => "meta",
            Tree::Objects(kind) => kind.store_tree(),
            Tree::Index(idx) => idx.name(),
        }
    }

    /// Position in [`TREES`].
    fn slot(self) -> usize {
        match self {
            Tree::Meta => 0,
            Tree::Objects(kind) => 1 + kind.index(),
            Tree::Index(idx) => {
                1 + Kind::COUNT + (idx as usize - Idx::ProposalsByProvider as usize)
            }
        }
    }

    fn is_object(self) -> bool {
        matches!(self, Tree::Objects(_))
    }
}

/// Where the store keeps what it knows of a kind in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Home {
    /// The offer index: heads, history and ordered lists ([`GcRule::HeadOutlivesVersions`]).
    Offers,
    /// A table of small summaries in [`Market`], which reputation and queries read.
    Summaries(Summarised),
    /// Nothing: the object tree and the expiry index only (short-lived kinds).
    Disk,
}

/// The kinds summarised in memory, each with its own table in [`Market`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Summarised {
    Agreements,
    Attestations,
    Certificates,
    Revocations,
    Evidence,
}

/// The store's one per-kind decision: where a kind lives in memory. Everything else (trees,
/// counts, sync ids, digests, GC) follows from it and from [`Kind`]'s own answers.
const fn home(kind: Kind) -> Home {
    match kind {
        Kind::Offer => Home::Offers,
        Kind::Demand | Kind::SlaProposal | Kind::SlaDecision => Home::Disk,
        Kind::Agreement => Home::Summaries(Summarised::Agreements),
        Kind::QosAttestation => Home::Summaries(Summarised::Attestations),
        Kind::Certificate => Home::Summaries(Summarised::Certificates),
        Kind::Revocation => Home::Summaries(Summarised::Revocations),
        Kind::EquivocationEvidence => Home::Summaries(Summarised::Evidence),
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
    fn table(self, market: &Market) -> &dyn Table {
        match self {
            Summarised::Agreements => &market.agreements,
            Summarised::Attestations => &market.attestations,
            Summarised::Certificates => &market.certs,
            Summarised::Revocations => &market.revocations,
            Summarised::Evidence => &market.evidence,
        }
    }

    /// Index trees keyed by the object's id, deleted with it.
    fn companion(self) -> Option<Idx> {
        match self {
            Summarised::Agreements => Some(Idx::AgreementOfferKey),
            Summarised::Evidence => Some(Idx::EvidenceOrigin),
            Summarised::Attestations | Summarised::Certificates | Summarised::Revocations => None,
        }
    }

    /// Drops `id` from memory.
    fn forget(self, market: &mut Market, id: &ObjectId) {
        match self {
            Summarised::Agreements => {
                market.remove_agreement(id);
            }
            Summarised::Attestations => {
                market.remove_attestation(id);
            }
            Summarised::Certificates => {
                market.remove_cert(id);
            }
            Summarised::Revocations => {
                market.remove_revocation(id);
            }
            Summarised::Evidence => {
                market.remove_evidence(id);
            }
        }
    }
}

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

/// Pending writes of one apply/gc call, last write per key wins. Committed in three phases —
/// index inserts, object trees, index removals — so that a crash between phases can leave an
/// index entry without its object (ignored on read) but never an object without its index.
struct Tx {
    writes: Vec<BTreeMap<Vec<u8>, Option<Vec<u8>>>>,
    offers: HashMap<ObjectId, Signed<Offer>>,
}

impl Tx {
    fn new() -> Self {
        Self {
            writes: vec![BTreeMap::new(); TREES.len()],
            offers: HashMap::new(),
        }
    }

    fn put(&mut self, t: Tree, key: Vec<u8>, value: Vec<u8>) {
        self.writes[t.slot()].insert(key, Some(value));
    }

    fn put_sealed(&mut self, t: Tree, key: Vec<u8>, payload: &[u8]) {
        let v = seal(t.name(), &key, payload);
        self.put(t, key, v);
    }

    fn del(&mut self, t: Tree, key: Vec<u8>) {
        self.writes[t.slot()].insert(key, None);
    }

    fn pending(&self, t: Tree, key: &[u8]) -> Option<Option<&[u8]>> {
        self.writes[t.slot()].get(key).map(|v| v.as_deref())
    }

    fn is_empty(&self) -> bool {
        self.writes.iter().all(BTreeMap::is_empty)
    }
}

#[derive(Debug, Default)]
struct State {
    index: OfferIndex,
    market: Market,
    /// Objects held of each [`Home::Disk`] kind.
    on_disk: PerKind<u64>,
    /// Bumped on every change to the digest set.
    digest_epoch: u64,
}

/// Index entries read before the objects they describe, while loading.
struct Loading {
    origins: HashMap<ObjectId, (bool, Option<DerivedKey>)>,
    resolved: HashMap<ObjectId, ShortText>,
}

type ProviderDigests = Arc<Vec<(PublicKey, Hash32)>>;

#[derive(Default)]
struct Caches {
    listing: Option<(u64, Hash32)>,
    providers: Option<(u64, ProviderDigests)>,
    scores: Option<((Timestamp, u64, usize), Arc<Scores>)>,
}

struct Inner {
    path: PathBuf,
    config: StoreConfig,
    db: sled::Db,
    trees: Vec<sled::Tree>,
    state: RwLock<State>,
    writer: Mutex<()>,
    /// Group commit: `staged` counts commits to sled, `durable` is the highest count a
    /// completed flush covered. Flushes are serialised by `flushing`.
    staged: AtomicU64,
    durable: AtomicU64,
    flushing: Mutex<()>,
    poisoned: Mutex<Option<String>>,
    caches: Mutex<Caches>,
    offer_cache: Mutex<OfferCache>,
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

/// How long [`Store::open`] waits for the database's file lock. sled releases it from one of
/// its IO threads shortly after the last handle is dropped, so a store closed and reopened in
/// the same process (a node restarted in place, a test) may briefly find it still held.
const LOCK_WAIT: Duration = Duration::from_secs(3);

fn open_sled(path: &Path, cache_capacity: u64) -> Result<sled::Db, StoreError> {
    let deadline = Instant::now() + LOCK_WAIT;
    let mut pause = Duration::from_millis(2);
    loop {
        let opened = sled::Config::new()
            .path(path)
            .cache_capacity(cache_capacity)
            // Every write is flushed before it is acknowledged (`Store::flush`), so sled's
            // background flusher, a thread per database waking every 500 ms, has nothing to add.
            .flush_every_ms(None)
            .open();
        match opened {
            // sled reports a held lock as an `Other` error naming the lock.
            Err(sled::Error::Io(io))
                if io.to_string().contains("could not acquire lock")
                    && Instant::now() < deadline =>
            {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(100));
            }
            other => return other.map_err(|e| open_error(path, e)),
        }
    }
}

fn open_error(path: &Path, e: sled::Error) -> StoreError {
    match e {
        sled::Error::Io(io) => StoreError::Open {
            path: path.to_path_buf(),
            detail: io.to_string(),
        },
        other => StoreError::from_sled(path, other),
    }
}

impl Store {
    // ----- opening -----

    /// Opens (or creates) the listing at `path` and builds the in-memory indexes from it.
    ///
    /// Every stored object is checked against its id (blake3) while loading; a mismatch, an
    /// undecodable value or a schema version this build does not know is an error that says
    /// how to rebuild (see [`Store::destroy_and_recreate`]).
    pub fn open(path: impl AsRef<Path>, config: StoreConfig) -> Result<Store, StoreError> {
        config.validate()?;
        let path = path.as_ref().to_path_buf();
        let started = Instant::now();
        let db = open_sled(&path, config.cache_capacity_bytes)?;
        let mut trees = Vec::with_capacity(TREES.len());
        for t in TREES {
            trees.push(db.open_tree(t.name()).map_err(|e| open_error(&path, e))?);
        }
        let offer_cache = Mutex::new(OfferCache::new(config.offer_cache_entries));
        let store = Store {
            inner: Arc::new(Inner {
                state: RwLock::new(State {
                    index: OfferIndex::new(config.rates.clone()),
                    ..State::default()
                }),
                path,
                config,
                db,
                trees,
                writer: Mutex::new(()),
                staged: AtomicU64::new(0),
                durable: AtomicU64::new(0),
                flushing: Mutex::new(()),
                poisoned: Mutex::new(None),
                caches: Mutex::new(Caches::default()),
                offer_cache,
            }),
        };
        store.check_schema()?;
        store.load()?;
        let c = store.counts();
        info!(
            path = %store.inner.path.display(),
            offers = c.of(Kind::Offer),
            agreements = c.of(Kind::Agreement),
            attestations = c.of(Kind::QosAttestation),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "listing store opened"
        );
        Ok(store)
    }

    /// Deletes the listing at `path` and opens an empty one: the documented way out of a
    /// corrupt or incompatible database (`flashback node run --rebuild-store`). The network
    /// refills the listing through sync. Refuses to delete a directory that does not look like
    /// a sled database.
    pub fn destroy_and_recreate(
        path: impl AsRef<Path>,
        config: StoreConfig,
    ) -> Result<Store, StoreError> {
        let path = path.as_ref();
        if path.exists() {
            let io = |e: std::io::Error| StoreError::Io {
                path: path.to_path_buf(),
                detail: e.to_string(),
            };
            let names: Vec<String> = std::fs::read_dir(path)
                .map_err(io)?
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            let sled_like =
                |n: &str| matches!(n, "conf" | "db" | "blobs" | "snap") || n.starts_with("snap.");
            if let Some(odd) = names.iter().find(|n| !sled_like(n)) {
                return Err(StoreError::NotAStore {
                    path: path.to_path_buf(),
                    detail: format!("it contains {odd:?}"),
                });
            }
            warn!(path = %path.display(), "deleting the listing database to rebuild it");
            std::fs::remove_dir_all(path).map_err(io)?;
        }
        Store::open(path, config)
    }

    fn check_schema(&self) -> Result<(), StoreError> {
        let meta = self.tree(Tree::Meta);
        match meta.get(SCHEMA_KEY).map_err(|e| self.sled_err(e))? {
            Some(v) => {
                let payload = unseal(Tree::Meta.name(), SCHEMA_KEY, &v)
                    .ok_or_else(|| self.corrupt("meta/schema_version: checksum mismatch"))?;
                let bytes: [u8; 4] = payload
                    .try_into()
                    .map_err(|_| self.corrupt("meta/schema_version: wrong length"))?;
                let found = u32::from_be_bytes(bytes);
                if found != SCHEMA_VERSION {
                    return Err(StoreError::UnsupportedSchema {
                        path: self.inner.path.clone(),
                        found,
                        supported: SCHEMA_VERSION,
                    });
                }
            }
            None => {
                let fresh = TREES
                    .iter()
                    .filter(|t| t.is_object())
                    .all(|&t| self.tree(t).is_empty());
                if !fresh {
                    return Err(self.corrupt("meta/schema_version is missing"));
                }
                let v = seal(Tree::Meta.name(), SCHEMA_KEY, &SCHEMA_VERSION.to_be_bytes());
                meta.insert(SCHEMA_KEY, v).map_err(|e| self.sled_err(e))?;
                self.flush_sled()?;
            }
        }
        Ok(())
    }

    /// Builds the in-memory indexes from the trees, checking every value on the way.
    fn load(&self) -> Result<(), StoreError> {
        let mut st = self.write_state();
        let st = &mut *st;
        let mut loading = self.load_index_entries()?;
        for kind in Kind::ALL {
            let t = Tree::Objects(kind);
            match home(kind) {
                Home::Offers => self.load_offers(st, t)?,
                Home::Summaries(summarised) => {
                    for item in self.tree(t).iter() {
                        let (k, v) = item.map_err(|e| self.sled_err(e))?;
                        let id = self.key_id(t, &k)?;
                        self.remember(st, summarised, &id, &v, &mut loading)?;
                    }
                }
                Home::Disk => {
                    for item in self.tree(t).iter() {
                        let (k, v) = item.map_err(|e| self.sled_err(e))?;
                        let id = self.key_id(t, &k)?;
                        if Hash32::of(&v) != id {
                            return Err(self.corrupt_at(t, &id, "checksum mismatch"));
                        }
                        st.on_disk[kind] += 1;
                    }
                }
            }
        }
        Ok(())
    }

    fn load_offers(&self, st: &mut State, t: Tree) -> Result<(), StoreError> {
        // Offers: every stored version; the head of each key is the highest seq (lowest id).
        for item in self.tree(t).iter() {
            let (k, v) = item.map_err(|e| self.sled_err(e))?;
            let id = self.key_id(t, &k)?;
            let o: Signed<Offer> = self.decode_stored(t, &id, &v)?;
            let pk = st.index.intern_key(&o.body().provider, &o.body().offer_key);
            let version = Version {
                seq: o.body().seq,
                id,
                expires_at: o.body().expires_at,
            };
            let beats = match st.index.head(pk) {
                None => true,
                Some(h) => (version.seq, std::cmp::Reverse(id)) > (h.seq, std::cmp::Reverse(h.id)),
            };
            if beats {
                if let Some(old) = st.index.load_head(&o) {
                    st.index.add_history(pk, old);
                }
            } else {
                st.index.add_history(pk, version);
            }
        }
        st.index.rebuild_orders();
        Ok(())
    }

    /// What the index trees recorded about summarised objects: derived-evidence origins and
    /// agreement → offer-key resolutions.
    fn load_index_entries(&self) -> Result<Loading, StoreError> {
        let mut origins: HashMap<ObjectId, (bool, Option<DerivedKey>)> = HashMap::new();
        for item in self.tree(Tree::Index(Idx::EvidenceOrigin)).iter() {
            let (k, v) = item.map_err(|e| self.sled_err(e))?;
            let id = self.key_id(Tree::Index(Idx::EvidenceOrigin), &k)?;
            let payload = self.unseal(Tree::Index(Idx::EvidenceOrigin), &k, &v)?;
            origins.insert(id, self.parse_origin(payload)?);
        }
        let mut resolved: HashMap<ObjectId, ShortText> = HashMap::new();
        for item in self.tree(Tree::Index(Idx::AgreementOfferKey)).iter() {
            let (k, v) = item.map_err(|e| self.sled_err(e))?;
            let id = self.key_id(Tree::Index(Idx::AgreementOfferKey), &k)?;
            let payload = self.unseal(Tree::Index(Idx::AgreementOfferKey), &k, &v)?;
            let key = std::str::from_utf8(payload)
                .ok()
                .and_then(|s| ShortText::try_from(s).ok())
                .ok_or_else(|| self.corrupt("idx_agreement_offer_key: not an offer key"))?;
            resolved.insert(id, key);
        }
        Ok(Loading { origins, resolved })
    }

    /// Adds one stored object of a summarised kind to memory while loading.
    fn remember(
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
                st.market.add_agreement(meta);
            }
            Summarised::Attestations => {
                let t = Tree::Objects(Kind::QosAttestation);
                let a: Signed<QosAttestation> = self.decode_stored(t, id, bytes)?;
                st.market.add_attestation(AttMeta::of(&a));
            }
            Summarised::Certificates => {
                let t = Tree::Objects(Kind::Certificate);
                let c: Signed<Certificate> = self.decode_stored(t, id, bytes)?;
                st.market.add_cert(CertMeta::of(&c));
            }
            Summarised::Revocations => {
                let t = Tree::Objects(Kind::Revocation);
                let r: Signed<Revocation> = self.decode_stored(t, id, bytes)?;
                st.market.add_revocation(*id, RevMeta::of(&r));
            }
            Summarised::Evidence => {
                let ev = self.decode_evidence(id, bytes)?;
                // No origin entry (a crash between phases): treat as received, which keeps it.
                let (direct, derived) = loading.origins.remove(id).unwrap_or((true, None));
                st.market.add_evidence(
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

    // ----- small helpers -----

    fn tree(&self, t: Tree) -> &sled::Tree {
        &self.inner.trees[t.slot()]
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

    fn sled_err(&self, e: sled::Error) -> StoreError {
        StoreError::from_sled(&self.inner.path, e)
    }

    fn corrupt(&self, detail: impl Into<String>) -> StoreError {
        StoreError::Corrupt {
            path: self.inner.path.clone(),
            detail: detail.into(),
        }
    }

    fn corrupt_at(&self, t: Tree, id: &ObjectId, detail: impl std::fmt::Display) -> StoreError {
        self.corrupt(format!("{} tree, key {id}: {detail}", t.name()))
    }

    fn key_id(&self, t: Tree, key: &[u8]) -> Result<ObjectId, StoreError> {
        id_from(key).ok_or_else(|| {
            self.corrupt(format!(
                "{} tree holds a {}-byte key, not an object id",
                t.name(),
                key.len()
            ))
        })
    }

    fn unseal<'v>(&self, t: Tree, key: &[u8], value: &'v [u8]) -> Result<&'v [u8], StoreError> {
        unseal(t.name(), key, value).ok_or_else(|| {
            self.corrupt(format!(
                "{} tree, key {}: checksum mismatch",
                t.name(),
                hex_short(key)
            ))
        })
    }

    fn decode_stored<X: SignedBody>(
        &self,
        t: Tree,
        id: &ObjectId,
        bytes: &[u8],
    ) -> Result<Signed<X>, StoreError> {
        let s = Signed::<X>::decode_trusted(bytes).map_err(|e| self.corrupt_at(t, id, e))?;
        if s.id() != *id {
            return Err(self.corrupt_at(
                t,
                id,
                "checksum mismatch (blake3 of the value is not its id)",
            ));
        }
        Ok(s)
    }

    fn decode_object(&self, t: Tree, id: &ObjectId, bytes: &[u8]) -> Result<Object, StoreError> {
        if Hash32::of(bytes) != *id {
            return Err(self.corrupt_at(
                t,
                id,
                "checksum mismatch (blake3 of the value is not its id)",
            ));
        }
        let o = Object::decode_trusted(bytes).map_err(|e| self.corrupt_at(t, id, e))?;
        if Tree::Objects(o.kind()) != t {
            return Err(self.corrupt_at(t, id, format!("holds a {}", o.kind())));
        }
        Ok(o)
    }

    fn decode_agreement(&self, id: &ObjectId, bytes: &[u8]) -> Result<Agreement, StoreError> {
        match self.decode_object(Tree::Objects(Kind::Agreement), id, bytes)? {
            Object::Agreement(a) => Ok(a),
            _ => Err(self.corrupt_at(Tree::Objects(Kind::Agreement), id, "not an agreement")),
        }
    }

    fn decode_evidence(
        &self,
        id: &ObjectId,
        bytes: &[u8],
    ) -> Result<EquivocationEvidence, StoreError> {
        match self.decode_object(Tree::Objects(Kind::EquivocationEvidence), id, bytes)? {
            Object::EquivocationEvidence(e) => Ok(e),
            _ => Err(self.corrupt_at(
                Tree::Objects(Kind::EquivocationEvidence),
                id,
                "not equivocation evidence",
            )),
        }
    }

    fn get_raw(&self, t: Tree, key: &[u8]) -> Result<Option<sled::IVec>, StoreError> {
        self.tree(t).get(key).map_err(|e| self.sled_err(e))
    }

    fn load_signed<X: SignedBody>(
        &self,
        t: Tree,
        id: &ObjectId,
    ) -> Result<Option<Signed<X>>, StoreError> {
        match self.get_raw(t, &id.0)? {
            Some(v) => self.decode_stored(t, id, &v).map(Some),
            None => Ok(None),
        }
    }

    fn load_object(&self, t: Tree, id: &ObjectId) -> Result<Option<Object>, StoreError> {
        match self.get_raw(t, &id.0)? {
            Some(v) => self.decode_object(t, id, &v).map(Some),
            None => Ok(None),
        }
    }

    /// An offer, looking at the pending writes of `tx` first.
    fn read_offer(
        &self,
        tx: Option<&Tx>,
        id: &ObjectId,
    ) -> Result<Option<Signed<Offer>>, StoreError> {
        if let Some(tx) = tx {
            if let Some(o) = tx.offers.get(id) {
                return Ok(Some(o.clone()));
            }
            if let Some(None) = tx.pending(Tree::Objects(Kind::Offer), &id.0) {
                return Ok(None);
            }
        }
        self.load_signed(Tree::Objects(Kind::Offer), id)
    }

    fn exists(&self, tx: &Tx, t: Tree, key: &[u8]) -> Result<bool, StoreError> {
        match tx.pending(t, key) {
            Some(v) => Ok(v.is_some()),
            None => self.tree(t).contains_key(key).map_err(|e| self.sled_err(e)),
        }
    }

    /// The offer key of `offer_id` if that offer is held and belongs to `provider`.
    fn offer_key_of(
        &self,
        tx: Option<&Tx>,
        offer_id: &ObjectId,
        provider: &PublicKey,
    ) -> Result<Option<ShortText>, StoreError> {
        Ok(self
            .read_offer(tx, offer_id)?
            .filter(|o| &o.body().provider == provider)
            .map(|o| o.body().offer_key.clone()))
    }

    fn parse_origin(&self, p: &[u8]) -> Result<(bool, Option<DerivedKey>), StoreError> {
        let bad = || self.corrupt("idx_evidence_origin: malformed entry");
        let (&direct, rest) = p.split_first().ok_or_else(bad)?;
        let (&has, rest) = rest.split_first().ok_or_else(bad)?;
        if has == 0 {
            return Ok((direct != 0, None));
        }
        if rest.len() < 40 {
            return Err(bad());
        }
        let pk: [u8; 32] = rest[..32].try_into().map_err(|_| bad())?;
        let provider = PublicKey::from_bytes(&pk).map_err(|_| bad())?;
        let seq = u64::from_be_bytes(rest[32..40].try_into().map_err(|_| bad())?);
        let key = std::str::from_utf8(&rest[40..])
            .ok()
            .and_then(|s| ShortText::try_from(s).ok())
            .ok_or_else(bad)?;
        Ok((direct != 0, Some((provider, key, seq))))
    }

    fn origin_payload(meta: &EvMeta) -> Vec<u8> {
        let mut p = vec![u8::from(meta.direct)];
        match &meta.derived {
            None => p.push(0),
            Some((provider, key, seq)) => {
                p.push(1);
                p.extend_from_slice(provider.as_bytes());
                p.extend_from_slice(&seq.to_be_bytes());
                p.extend_from_slice(key.as_bytes());
            }
        }
        p
    }

    fn check_poisoned(&self) -> Result<(), StoreError> {
        match &*lock(&self.inner.poisoned) {
            Some(detail) => Err(StoreError::Poisoned {
                path: self.inner.path.clone(),
                detail: detail.clone(),
            }),
            None => Ok(()),
        }
    }

    fn poison(&self, e: &StoreError) {
        warn!(error = %e, "listing store write failed; refusing further writes until restart");
        let mut p = lock(&self.inner.poisoned);
        if p.is_none() {
            *p = Some(e.to_string());
        }
    }

    fn commit(&self, tx: &Tx) -> Result<(), StoreError> {
        let phase = |inserts: bool, objects: bool| -> Result<(), StoreError> {
            for t in TREES {
                if t.is_object() != objects {
                    continue;
                }
                let ops: Vec<(&Vec<u8>, &Option<Vec<u8>>)> = tx.writes[t.slot()]
                    .iter()
                    .filter(|(_, v)| objects || inserts == v.is_some())
                    .collect();
                let tree = self.tree(t);
                let written = match ops.as_slice() {
                    [] => Ok(()),
                    // One write is atomic without a batch. A batch takes sled's process-wide
                    // write lock, which waits for every reader of every tree (queries, sync
                    // serving) and holds them off; a lone insert or remove does not.
                    [(k, Some(v))] => tree.insert(k.as_slice(), v.as_slice()).map(drop),
                    [(k, None)] => tree.remove(k.as_slice()).map(drop),
                    _ => {
                        let mut batch = sled::Batch::default();
                        for (k, v) in ops {
                            match v {
                                Some(v) => batch.insert(k.as_slice(), v.as_slice()),
                                None => batch.remove(k.as_slice()),
                            }
                        }
                        tree.apply_batch(batch)
                    }
                };
                written.map_err(|e| self.sled_err(e))?;
            }
            Ok(())
        };
        phase(true, false)?;
        phase(true, true)?;
        phase(false, false)?;
        let deleted = tx.writes[Tree::Objects(Kind::Offer).slot()]
            .iter()
            .filter(|(_, v)| v.is_none())
            .filter_map(|(k, _)| id_from(k));
        let mut cache = lock(&self.inner.offer_cache);
        for id in deleted {
            cache.remove(&id);
        }
        Ok(())
    }

    fn flush_sled(&self) -> Result<(), StoreError> {
        self.inner
            .db
            .flush()
            .map(|_| ())
            .map_err(|e| self.sled_err(e))
    }

    /// Makes every write staged so far durable (one `fsync`); a no-op when nothing is pending.
    ///
    /// Group commit: concurrent callers share flushes. A caller whose writes were covered by a
    /// flush that completed while it waited returns without flushing again; it never returns
    /// before its own writes are durable.
    ///
    /// A failed flush poisons the store (memory may hold what disk does not): further writes
    /// are refused until a restart rebuilds the indexes from disk.
    pub fn flush(&self) -> Result<(), StoreError> {
        let inner = &self.inner;
        let wanted = inner.staged.load(Ordering::Acquire);
        if inner.durable.load(Ordering::Acquire) >= wanted {
            return Ok(());
        }
        let _flushing = lock(&inner.flushing);
        if inner.durable.load(Ordering::Acquire) >= wanted {
            return Ok(());
        }
        self.check_poisoned()?;
        // Everything committed up to here is in sled's buffers and covered by this flush.
        let covered = inner.staged.load(Ordering::Acquire);
        match self.flush_sled() {
            Ok(()) => {
                inner.durable.fetch_max(covered, Ordering::AcqRel);
                Ok(())
            }
            Err(e) => {
                self.poison(&e);
                Err(e)
            }
        }
    }

    /// Records that writes were committed to sled and await a flush.
    fn mark_staged(&self) {
        self.inner.staged.fetch_add(1, Ordering::AcqRel);
    }

    // ----- writes -----

    /// Applies one verified object. Returns only once the write is durable (`fsync`ed), which
    /// costs one flush per call: use [`Store::apply_batch`] for bursts.
    ///
    /// The object must come from [`Object::decode`] / [`Object::decode_at`] (or be built
    /// locally): the store trusts signatures and checks only expiry and its own rules.
    pub fn apply(&self, object: &Object, now: Timestamp) -> Result<Applied, StoreError> {
        let mut out = self.apply_batch(std::slice::from_ref(object), now)?;
        out.pop()
            .ok_or_else(|| self.corrupt("internal: apply produced no outcome"))
    }

    /// Applies many objects with one set of sled batches and one flush: the same outcomes as
    /// applying them one by one, in order. Returns once everything is durable.
    pub fn apply_batch(
        &self,
        objects: &[Object],
        now: Timestamp,
    ) -> Result<Vec<Applied>, StoreError> {
        let out = self.stage_batch(objects, now)?;
        self.flush()?;
        Ok(out)
    }

    /// [`Store::apply_batch`] without the flush: the outcomes are final and readers see the
    /// objects at once, but they are durable only after the next [`Store::flush`] (by anyone).
    /// For a caller that has something useful to do before paying for the `fsync` — the node
    /// relays a verified gossip object first — and must not acknowledge anything before it.
    pub fn stage_batch(
        &self,
        objects: &[Object],
        now: Timestamp,
    ) -> Result<Vec<Applied>, StoreError> {
        self.stage_locked(&lock(&self.inner.writer), self.write_state(), objects, now)
    }

    /// [`Store::stage_batch`] if no other write (a batch, a GC) is in progress and no reader
    /// (a query, a sync request) holds the indexes; `None` without waiting otherwise. For
    /// callers that must not block, such as an async task.
    pub fn try_stage_batch(
        &self,
        objects: &[Object],
        now: Timestamp,
    ) -> Option<Result<Vec<Applied>, StoreError>> {
        use std::sync::TryLockError;
        let writer = match self.inner.writer.try_lock() {
            Ok(guard) => guard,
            Err(TryLockError::Poisoned(e)) => e.into_inner(),
            Err(TryLockError::WouldBlock) => return None,
        };
        let state = match self.inner.state.try_write() {
            Ok(guard) => guard,
            Err(TryLockError::Poisoned(e)) => e.into_inner(),
            Err(TryLockError::WouldBlock) => return None,
        };
        Some(self.stage_locked(&writer, state, objects, now))
    }

    /// Whether staging `offer` now would list it as new ([`Applied::Applied`]) rather than find
    /// it a duplicate, superseded, an equivocation or expired; without changing anything, and
    /// `None` without waiting if a writer holds the indexes. A concurrent writer may still
    /// change the answer before the offer is staged.
    pub fn try_offer_is_new(
        &self,
        offer: &Signed<Offer>,
        now: Timestamp,
    ) -> Option<Result<bool, StoreError>> {
        use std::sync::TryLockError;
        if let Err(e) = self.check_poisoned() {
            return Some(Err(e));
        }
        let st = match self.inner.state.try_read() {
            Ok(guard) => guard,
            Err(TryLockError::Poisoned(e)) => e.into_inner(),
            Err(TryLockError::WouldBlock) => return None,
        };
        let b = offer.body();
        if b.expires_at <= now {
            return Some(Ok(false));
        }
        let Some(pk) = st.index.lookup_key(&b.provider, &b.offer_key) else {
            return Some(Ok(true));
        };
        let id = offer.id();
        // `apply_offer` lists it if it is not held and its seq is above the head's: the head has
        // the highest seq held, so nothing held can be it or share its seq.
        let new = match st.index.head(pk) {
            None => !st.index.history(pk).iter().any(|v| v.id == id),
            Some(head) => head.seq < b.seq,
        };
        Some(Ok(new))
    }

    /// Stages `objects`; the caller holds the writer lock and the indexes.
    fn stage_locked(
        &self,
        _writer: &MutexGuard<'_, ()>,
        mut st: RwLockWriteGuard<'_, State>,
        objects: &[Object],
        now: Timestamp,
    ) -> Result<Vec<Applied>, StoreError> {
        self.check_poisoned()?;
        let mut tx = Tx::new();
        let result = {
            let mut out = Vec::with_capacity(objects.len());
            let mut result = Ok(());
            for o in objects {
                match self.apply_one(&mut st, &mut tx, o, now) {
                    Ok(a) => out.push(a),
                    Err(e) => {
                        result = Err(e);
                        break;
                    }
                }
            }
            result.and_then(|()| self.commit(&tx)).map(|()| out)
        };
        drop(st);
        match result {
            Ok(out) => {
                if !tx.is_empty() {
                    self.mark_staged();
                }
                Ok(out)
            }
            Err(e) => {
                // Memory may now hold what disk does not: stop writing until a restart
                // rebuilds the indexes from disk.
                self.poison(&e);
                Err(e)
            }
        }
    }

    /// Applies one object: the store's per-kind write paths, one arm per kind.
    fn apply_one(
        &self,
        st: &mut State,
        tx: &mut Tx,
        object: &Object,
        now: Timestamp,
    ) -> Result<Applied, StoreError> {
        if object.expires_at() <= now {
            return Ok(Applied::Expired);
        }
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
                Ok(
                    self.apply_summarised(st, tx, object, Summarised::Agreements, |market, tx| {
                        if let Some(key) = &meta.offer_key {
                            tx.put_sealed(
                                Tree::Index(Idx::AgreementOfferKey),
                                a.id().0.to_vec(),
                                key.as_bytes(),
                            );
                        }
                        market.add_agreement(meta);
                    }),
                )
            }
            Object::QosAttestation(a) => {
                let add = |market: &mut Market, _: &mut Tx| market.add_attestation(AttMeta::of(a));
                Ok(self.apply_summarised(st, tx, object, Summarised::Attestations, add))
            }
            Object::Certificate(c) => {
                let add = |market: &mut Market, _: &mut Tx| market.add_cert(CertMeta::of(c));
                Ok(self.apply_summarised(st, tx, object, Summarised::Certificates, add))
            }
            Object::Revocation(r) => {
                let add =
                    |market: &mut Market, _: &mut Tx| market.add_revocation(r.id(), RevMeta::of(r));
                Ok(self.apply_summarised(st, tx, object, Summarised::Revocations, add))
            }
            Object::EquivocationEvidence(ev) => self.apply_evidence(st, tx, ev),
        }
    }

    /// A kind summarised in memory: a duplicate if its table holds the id, else written to its
    /// tree and added to memory by `add` (which may write index entries too).
    fn apply_summarised(
        &self,
        st: &mut State,
        tx: &mut Tx,
        object: &Object,
        summarised: Summarised,
        add: impl FnOnce(&mut Market, &mut Tx),
    ) -> Applied {
        let kind = object.kind();
        debug_assert_eq!(home(kind), Home::Summaries(summarised), "{kind}");
        if summarised.table(&st.market).contains(&object.id()) {
            return Applied::Duplicate;
        }
        tx.put(
            Tree::Objects(kind),
            object.id().0.to_vec(),
            object.encoded().to_vec(),
        );
        add(&mut st.market, tx);
        st.digest_epoch += 1;
        Applied::Applied
    }

    /// A kind kept on disk only: a duplicate if its tree holds the id, else written with its
    /// expiry-index entry and its `secondary` index entry `(tree, key, payload)`, if any, which
    /// the expiry entry names so that GC deletes both.
    fn apply_on_disk(
        &self,
        st: &mut State,
        tx: &mut Tx,
        object: &Object,
        secondary: Option<(Idx, Vec<u8>, &[u8])>,
    ) -> Result<Applied, StoreError> {
        let (kind, id) = (object.kind(), object.id());
        debug_assert_eq!(home(kind), Home::Disk, "{kind}");
        if self.exists(tx, Tree::Objects(kind), &id.0)? {
            return Ok(Applied::Duplicate);
        }
        let expiry_payload = match secondary {
            Some((idx, key, payload)) => {
                let named = cat(&[idx as u8], &key);
                tx.put_sealed(Tree::Index(idx), key, payload);
                named
            }
            None => Vec::new(),
        };
        tx.put_sealed(
            Tree::Index(Idx::Expiry),
            expiry_key(object.expires_at(), kind.tag(), &id),
            &expiry_payload,
        );
        tx.put(
            Tree::Objects(kind),
            id.0.to_vec(),
            object.encoded().to_vec(),
        );
        st.on_disk[kind] += 1;
        Ok(Applied::Applied)
    }

    fn apply_offer(
        &self,
        st: &mut State,
        tx: &mut Tx,
        o: &Signed<Offer>,
    ) -> Result<Applied, StoreError> {
        let b = o.body();
        let id = o.id();
        let pk = st.index.intern_key(&b.provider, &b.offer_key);
        let versions = st.index.versions(pk);
        if versions.iter().any(|v| v.id == id) {
            return Ok(Applied::Duplicate);
        }
        tx.put(
            Tree::Objects(Kind::Offer),
            id.0.to_vec(),
            o.encoded().to_vec(),
        );
        tx.offers.insert(id, o.clone());
        st.digest_epoch += 1;
        // Agreements that named this offer before it arrived learn its key now.
        for agr in st.market.unresolved_on_offer(&id) {
            if let Some(meta) = st.market.agreements.get_mut(&agr)
                && meta.provider == b.provider
            {
                meta.offer_key = Some(b.offer_key.clone());
                tx.put_sealed(
                    Tree::Index(Idx::AgreementOfferKey),
                    agr.0.to_vec(),
                    b.offer_key.as_bytes(),
                );
            }
        }
        let version = Version {
            seq: b.seq,
            id,
            expires_at: b.expires_at,
        };
        let same_seq: Vec<ObjectId> = versions
            .iter()
            .filter(|v| v.seq == b.seq)
            .map(|v| v.id)
            .collect();
        let outcome = match st.index.head(pk).map(|h| (h.seq, h.id)) {
            None => {
                st.index.set_head(o);
                Applied::Applied
            }
            Some((head_seq, head_id)) => {
                if b.seq > head_seq || (b.seq == head_seq && id < head_id) {
                    if let Some(old) = st.index.set_head(o) {
                        st.index.add_history(pk, old);
                    }
                } else {
                    st.index.add_history(pk, version);
                }
                if !same_seq.is_empty() {
                    Applied::Equivocation(Box::new(self.equivocation(st, tx, o, &same_seq)?))
                } else if b.seq < head_seq {
                    Applied::Superseded
                } else {
                    Applied::Applied
                }
            }
        };
        // Keep the newest MAX_VERSIONS_PER_OFFER versions.
        let mut all = st.index.versions(pk);
        if all.len() > MAX_VERSIONS_PER_OFFER {
            all.sort_by(|a, b| (b.seq, a.id).cmp(&(a.seq, b.id)));
            for v in all.split_off(MAX_VERSIONS_PER_OFFER) {
                st.index.remove_history(pk, &v.id);
                tx.offers.remove(&v.id);
                tx.del(Tree::Objects(Kind::Offer), v.id.0.to_vec());
            }
        }
        Ok(outcome)
    }

    /// `o` has the same `(provider, offer_key, seq)` as the offers `others`. Keeps the derived
    /// evidence of that seq equal to the pair with the two smallest ids (so the stored set
    /// does not depend on arrival order) and returns evidence pairing `o` with the smallest.
    fn equivocation(
        &self,
        st: &mut State,
        tx: &mut Tx,
        o: &Signed<Offer>,
        others: &[ObjectId],
    ) -> Result<EquivocationEvidence, StoreError> {
        let b = o.body();
        let mut ids: Vec<ObjectId> = others.to_vec();
        ids.push(o.id());
        ids.sort_unstable();
        let fetch = |id: &ObjectId, tx: &Tx| -> Result<Signed<Offer>, StoreError> {
            if *id == o.id() {
                return Ok(o.clone());
            }
            self.read_offer(Some(tx), id)?.ok_or_else(|| {
                self.corrupt_at(
                    Tree::Objects(Kind::Offer),
                    id,
                    "indexed offer version is missing",
                )
            })
        };
        let evidence = |a: Signed<Offer>, c: Signed<Offer>| {
            EquivocationEvidence::from_offers(a, c).map_err(|e: ObjectError| {
                self.corrupt(format!("building equivocation evidence: {e}"))
            })
        };
        let smallest_other = others.iter().min().copied().unwrap_or(ids[0]);
        let returned = evidence(fetch(&smallest_other, tx)?, o.clone())?;
        let derived =
            if ids[0] == smallest_other.min(o.id()) && ids[1] == smallest_other.max(o.id()) {
                returned.clone()
            } else {
                evidence(fetch(&ids[0], tx)?, fetch(&ids[1], tx)?)?
            };
        let dk: DerivedKey = (b.provider, b.offer_key.clone(), b.seq);
        let previous = st.market.derived.get(&dk).copied();
        if previous != Some(derived.id()) {
            if let Some(prev) = previous {
                self.unmark_derived(st, tx, &prev);
            }
            self.store_evidence(st, tx, &derived, false, Some(dk));
        }
        Ok(returned)
    }

    fn unmark_derived(&self, st: &mut State, tx: &mut Tx, id: &ObjectId) {
        let Some(meta) = st.market.evidence.get(id).cloned() else {
            return;
        };
        if meta.direct {
            let mut meta = meta;
            if let Some(k) = meta.derived.take() {
                st.market.derived.remove(&k);
            }
            tx.put_sealed(
                Tree::Index(Idx::EvidenceOrigin),
                id.0.to_vec(),
                &Self::origin_payload(&meta),
            );
            if let Some(m) = st.market.evidence.get_mut(id) {
                *m = meta;
            }
        } else {
            let kind = Kind::EquivocationEvidence;
            self.forget(st, tx, kind, Summarised::Evidence, id);
            st.digest_epoch += 1;
        }
    }

    fn store_evidence(
        &self,
        st: &mut State,
        tx: &mut Tx,
        ev: &EquivocationEvidence,
        direct: bool,
        derived: Option<DerivedKey>,
    ) -> bool {
        let id = ev.id();
        let meta = match st.market.evidence.get(&id).cloned() {
            Some(mut m) => {
                m.direct |= direct;
                if let Some(k) = derived {
                    st.market.derived.insert(k.clone(), id);
                    m.derived = Some(k);
                }
                if let Some(slot) = st.market.evidence.get_mut(&id) {
                    *slot = m.clone();
                }
                tx.put_sealed(
                    Tree::Index(Idx::EvidenceOrigin),
                    id.0.to_vec(),
                    &Self::origin_payload(&m),
                );
                return false;
            }
            None => EvMeta {
                provider: *ev.provider(),
                expires_at: ev.expires_at(),
                direct,
                derived,
            },
        };
        tx.put_sealed(
            Tree::Index(Idx::EvidenceOrigin),
            id.0.to_vec(),
            &Self::origin_payload(&meta),
        );
        tx.put(
            Tree::Objects(Kind::EquivocationEvidence),
            id.0.to_vec(),
            ev.encoded().to_vec(),
        );
        st.market.add_evidence(id, meta);
        st.digest_epoch += 1;
        true
    }

    fn apply_evidence(
        &self,
        st: &mut State,
        tx: &mut Tx,
        ev: &EquivocationEvidence,
    ) -> Result<Applied, StoreError> {
        if st.market.evidence.get(&ev.id()).is_some_and(|m| m.direct) {
            return Ok(Applied::Duplicate);
        }
        Ok(if self.store_evidence(st, tx, ev, true, None) {
            Applied::Applied
        } else {
            Applied::Duplicate
        })
    }

    /// Removes everything expired at `now` (offers keep their newest version while any
    /// version of the same key is still unexpired, so older ones stay refused) and returns how
    /// many objects were deleted. Durable on return.
    pub fn gc(&self, now: Timestamp) -> Result<usize, StoreError> {
        let _writer = lock(&self.inner.writer);
        self.check_poisoned()?;
        let mut tx = Tx::new();
        let result = {
            let mut st = self.write_state();
            self.collect(&mut st, &mut tx, now)
                .and_then(|n| self.commit(&tx).map(|()| n))
        };
        let removed = match result {
            Ok(n) => n,
            Err(e) => {
                self.poison(&e);
                return Err(e);
            }
        };
        if !tx.is_empty() {
            self.mark_staged();
        }
        self.flush()?;
        debug!(removed, now, "listing gc");
        Ok(removed)
    }

    /// Deletes what expired at `now`, by each kind's [`GcRule`] and home.
    fn collect(&self, st: &mut State, tx: &mut Tx, now: Timestamp) -> Result<usize, StoreError> {
        let mut removed = 0usize;
        for kind in Kind::ALL {
            match home(kind) {
                Home::Offers => removed += self.collect_offers(st, tx, Tree::Objects(kind), now),
                Home::Summaries(summarised) => {
                    for id in summarised.table(&st.market).expired(now) {
                        self.forget(st, tx, kind, summarised, &id);
                        removed += 1;
                    }
                }
                // All together below, in expiry order.
                Home::Disk => {}
            }
        }
        if removed > 0 {
            st.digest_epoch += 1;
        }
        Ok(removed + self.collect_on_disk(st, tx, now)?)
    }

    /// Offer versions: each goes once expired, except that a head stays until every version
    /// of its key has expired ([`GcRule::HeadOutlivesVersions`]).
    fn collect_offers(&self, st: &mut State, tx: &mut Tx, t: Tree, now: Timestamp) -> usize {
        let mut removed = 0usize;
        let mut keys: HashSet<(u32, u32)> = st
            .index
            .heads()
            .filter(|(_, e)| e.expires_at <= now)
            .map(|(pk, _)| pk)
            .collect();
        keys.extend(st.index.keys_with_history());
        let mut keys: Vec<(u32, u32)> = keys.into_iter().collect();
        keys.sort_unstable();
        for pk in keys {
            let versions = st.index.versions(pk);
            let all_expired = versions.iter().all(|v| v.expires_at <= now);
            if all_expired && st.index.remove_head(pk).is_some() {
                st.digest_epoch += 1;
            }
            for v in versions {
                if v.expires_at > now {
                    continue;
                }
                let is_history = st.index.remove_history(pk, &v.id);
                if is_history || all_expired {
                    tx.del(t, v.id.0.to_vec());
                    removed += 1;
                }
            }
        }
        removed
    }

    /// Kinds kept on disk only, through the expiry index (in expiry order, so the scan stops at
    /// the first entry still valid).
    fn collect_on_disk(
        &self,
        st: &mut State,
        tx: &mut Tx,
        now: Timestamp,
    ) -> Result<usize, StoreError> {
        let mut removed = 0usize;
        for item in self.tree(Tree::Index(Idx::Expiry)).iter() {
            let (k, v) = item.map_err(|e| self.sled_err(e))?;
            let (expires_at, tag, id) =
                parse_expiry_key(&k).ok_or_else(|| self.corrupt("idx_expiry: malformed key"))?;
            if expires_at > now {
                break;
            }
            let payload = self.unseal(Tree::Index(Idx::Expiry), &k, &v)?;
            let kind = Kind::from_tag(tag)
                .ok_or_else(|| self.corrupt(format!("idx_expiry: unknown kind tag {tag}")))?;
            let t = Tree::Objects(kind);
            if self
                .tree(t)
                .contains_key(id.0)
                .map_err(|e| self.sled_err(e))?
            {
                tx.del(t, id.0.to_vec());
                removed += 1;
                st.on_disk[kind] = st.on_disk[kind].saturating_sub(1);
            }
            if let Some((&secondary, key)) = payload.split_first()
                && let Some(idx) = Idx::from_tag(secondary)
            {
                tx.del(Tree::Index(idx), key.to_vec());
            }
            tx.del(Tree::Index(Idx::Expiry), k.to_vec());
        }
        Ok(removed)
    }

    /// Drops a summarised object: from memory, its tree, and the index entries keyed by its id.
    fn forget(
        &self,
        st: &mut State,
        tx: &mut Tx,
        kind: Kind,
        summarised: Summarised,
        id: &ObjectId,
    ) {
        summarised.forget(&mut st.market, id);
        tx.del(Tree::Objects(kind), id.0.to_vec());
        if let Some(idx) = summarised.companion() {
            tx.del(Tree::Index(idx), id.0.to_vec());
        }
    }

    // ----- reads -----

    /// Any stored object by id (expired ones too, until collected).
    pub fn get(&self, id: &ObjectId) -> Result<Option<Object>, StoreError> {
        for t in Kind::ALL.map(Tree::Objects) {
            if let Some(o) = self.load_object(t, id)? {
                return Ok(Some(o));
            }
        }
        Ok(None)
    }

    /// Offers named by the index, from the hot-offer cache or sled. Call with the state lock
    /// held, so that none of them can be deleted meanwhile.
    fn offers_by_ids(&self, ids: &[ObjectId]) -> Result<Vec<Signed<Offer>>, StoreError> {
        let mut out: Vec<Option<Signed<Offer>>> = {
            let mut cache = lock(&self.inner.offer_cache);
            ids.iter().map(|id| cache.get(id)).collect()
        };
        let mut loaded = Vec::new();
        for (slot, id) in out.iter_mut().zip(ids) {
            if slot.is_some() {
                continue;
            }
            match self.load_signed::<Offer>(Tree::Objects(Kind::Offer), id)? {
                Some(o) => {
                    loaded.push(o.clone());
                    *slot = Some(o);
                }
                None => {
                    self.check_poisoned()?;
                    return Err(self.corrupt_at(
                        Tree::Objects(Kind::Offer),
                        id,
                        "indexed offer is missing",
                    ));
                }
            }
        }
        if !loaded.is_empty() {
            let mut cache = lock(&self.inner.offer_cache);
            for o in loaded {
                cache.insert(o);
            }
        }
        Ok(out.into_iter().flatten().collect())
    }

    /// Like [`Store::fetch_offers`] without the hot-offer cache: sled lookup, checksum and
    /// decode for every offer (the benchmark's cold path).
    #[doc(hidden)]
    pub fn fetch_offers_uncached(
        &self,
        ids: &[ObjectId],
    ) -> Result<Vec<Signed<Offer>>, StoreError> {
        let _st = self.read_state();
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(o) = self.load_signed::<Offer>(Tree::Objects(Kind::Offer), id)? {
                out.push(o);
            }
        }
        Ok(out)
    }

    /// Offers matching `query` at `now`, one page, signed. See [`OfferQuery`] for the filters;
    /// pages continue with `next_cursor` and never repeat or skip an offer while the listing
    /// is unchanged.
    pub fn query_offers(
        &self,
        query: &OfferQuery,
        now: Timestamp,
    ) -> Result<QueryPage, StoreError> {
        let st = self.read_state();
        let page = self.query_ids(&st, query, now);
        let offers = self.offers_by_ids(&page.ids)?;
        Ok(QueryPage {
            offers,
            next_cursor: page.next,
        })
    }

    /// The ids of one page of `query` (the in-memory half of [`Store::query_offers`]; the
    /// benchmark times it separately).
    #[doc(hidden)]
    pub fn query_offer_ids(
        &self,
        query: &OfferQuery,
        now: Timestamp,
    ) -> (Vec<ObjectId>, Option<Cursor>) {
        let st = self.read_state();
        let page = self.query_ids(&st, query, now);
        (page.ids, page.next)
    }

    /// Fetches offers by id from sled (the second half of [`Store::query_offers`]).
    #[doc(hidden)]
    pub fn fetch_offers(&self, ids: &[ObjectId]) -> Result<Vec<Signed<Offer>>, StoreError> {
        let _st = self.read_state();
        self.offers_by_ids(ids)
    }

    fn query_ids(&self, st: &State, q: &OfferQuery, now: Timestamp) -> PageIds {
        let index = &st.index;
        let empty = PageIds::default();
        let regions = if q.regions.is_empty() {
            None
        } else {
            let ids: Vec<u32> = q
                .regions
                .iter()
                .filter_map(|r| index.region_lookup(r))
                .collect();
            if ids.is_empty() {
                return empty;
            }
            Some(ids)
        };
        let protocol = match &q.protocol {
            None => None,
            Some(p) => match index.protocol_lookup(p) {
                Some(id) => Some(id),
                None => return empty,
            },
        };
        let provider = match &q.provider {
            None => None,
            Some(p) => match index.provider_lookup(p) {
                Some(id) => Some(id),
                None => return empty,
            },
        };
        let price = match &q.max_price {
            None => None,
            Some(p) => {
                let unit_hour = p.unit == PriceUnit::UnitHour;
                let asset = index.asset_lookup(&p.asset);
                match index.rate_of(p.asset.as_str()) {
                    None => match asset {
                        None => return empty,
                        Some(asset) => Some(PriceFilter::SameAsset {
                            unit_hour,
                            asset,
                            amount: p.amount,
                        }),
                    },
                    Some(rate) => Some(PriceFilter::Cross {
                        unit_hour,
                        asset,
                        amount: p.amount,
                        rate,
                        max_key: price::price_key(p.amount, Some(rate)),
                    }),
                }
            }
        };
        let certified: Option<HashSet<u32>> = q.certified_by.map(|issuer| {
            st.market
                .certified_by(&issuer, now)
                .iter()
                .filter_map(|k| index.provider_lookup(k))
                .collect()
        });
        let needs_scores =
            q.min_reputation_bp.is_some() || q.sort == flashback_types::SortKey::Reputation;
        let scores = if needs_scores {
            self.scores(st, now)
        } else {
            Arc::new(Scores::default())
        };
        let plan = Plan {
            now,
            kind: q.kind,
            regions,
            protocol,
            price,
            min_capacity: q.min_capacity,
            min_avail: q.min_availability_bp,
            max_p95: q.max_p95_latency_ms,
            provider,
            certified: certified.as_ref(),
            min_reputation_bp: q.min_reputation_bp,
            scores: &scores,
            include_withdrawn: q.include_withdrawn,
            sort: q.sort,
            limit: q.effective_limit(),
            cursor: q.cursor,
        };
        index.query(&plan)
    }

    fn scores(&self, st: &State, now: Timestamp) -> Arc<Scores> {
        let key = (now, st.market.epoch, st.index.providers_len());
        if let Some((k, s)) = &lock(&self.inner.caches).scores
            && *k == key
        {
            return s.clone();
        }
        let cfg = &self.inner.config;
        let mut subjects: Vec<&PublicKey> = st.market.attested_subjects().collect();
        subjects.sort_unstable();
        let by_provider = subjects
            .into_iter()
            .filter_map(|s| {
                let p = st.index.provider_lookup(s)?;
                let r =
                    reputation::explain(&st.market, s, now, &cfg.reputation, &cfg.trusted_auditors);
                Some((p, r.reputation.score))
            })
            .collect();
        let scores = Arc::new(Scores {
            prior: reputation::prior_score(&cfg.reputation),
            by_provider,
        });
        lock(&self.inner.caches).scores = Some((key, scores.clone()));
        scores
    }

    /// The current offer of every `(provider, offer_key)` of `provider` (tombstones and
    /// not-yet-collected expired ones included), by offer key.
    pub fn offers_by_provider(
        &self,
        provider: &PublicKey,
    ) -> Result<Vec<Signed<Offer>>, StoreError> {
        let st = self.read_state();
        let mut heads: Vec<(&str, ObjectId)> = st
            .index
            .provider_heads(provider)
            .into_iter()
            .map(|e| (st.index.keys.resolve(e.offer_key).as_str(), e.id))
            .collect();
        heads.sort_unstable();
        let ids: Vec<ObjectId> = heads.into_iter().map(|(_, id)| id).collect();
        self.offers_by_ids(&ids)
    }

    /// The current offer for `(provider, offer_key)`, if any (possibly withdrawn or expired).
    pub fn current_offer(
        &self,
        provider: &PublicKey,
        offer_key: &str,
    ) -> Result<Option<Signed<Offer>>, StoreError> {
        let st = self.read_state();
        let Ok(key) = ShortText::try_from(offer_key) else {
            return Ok(None);
        };
        let Some(pk) = st.index.lookup_key(provider, &key) else {
            return Ok(None);
        };
        match st.index.head(pk) {
            Some(e) => Ok(self.offers_by_ids(&[e.id])?.pop()),
            None => Ok(None),
        }
    }

    fn agreements_by_ids(&self, ids: &[ObjectId]) -> Result<Vec<Agreement>, StoreError> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(v) = self.get_raw(Tree::Objects(Kind::Agreement), &id.0)? {
                out.push(self.decode_agreement(id, &v)?);
            }
        }
        Ok(out)
    }

    /// Agreements where `party` is the consumer or the provider, by id.
    pub fn agreements_for(&self, party: &PublicKey) -> Result<Vec<Agreement>, StoreError> {
        let ids = self.read_state().market.agreements_of(party);
        self.agreements_by_ids(&ids)
    }

    /// The agreement made from proposal `proposal_id` (the smallest id if a provider accepted
    /// twice).
    pub fn agreement_by_proposal(
        &self,
        proposal_id: &ObjectId,
    ) -> Result<Option<Agreement>, StoreError> {
        let id = self.read_state().market.agreement_for_proposal(proposal_id);
        Ok(self
            .agreements_by_ids(&id.into_iter().collect::<Vec<_>>())?
            .pop())
    }

    /// Proposals addressed to `provider` whose decision deadline is after `now`, by id.
    pub fn proposals_for_provider(
        &self,
        provider: &PublicKey,
        now: Timestamp,
    ) -> Result<Vec<Signed<SlaProposal>>, StoreError> {
        let mut out = Vec::new();
        for item in self
            .tree(Tree::Index(Idx::ProposalsByProvider))
            .scan_prefix(provider.as_bytes())
        {
            let (k, v) = item.map_err(|e| self.sled_err(e))?;
            let payload = self.unseal(Tree::Index(Idx::ProposalsByProvider), &k, &v)?;
            let expires = payload
                .try_into()
                .map(u64::from_be_bytes)
                .map_err(|_| self.corrupt("idx_proposals_by_provider: malformed value"))?;
            if expires <= now {
                continue;
            }
            let id = self.key_id(Tree::Index(Idx::ProposalsByProvider), &k[32..])?;
            if let Some(p) =
                self.load_signed::<SlaProposal>(Tree::Objects(Kind::SlaProposal), &id)?
            {
                out.push(p);
            }
        }
        Ok(out)
    }

    /// The provider's decision on `proposal_id`: an acceptance if there is one (from a stored
    /// decision or agreement), else the smallest-id rejection.
    pub fn decision_for(
        &self,
        proposal_id: &ObjectId,
    ) -> Result<Option<Signed<SlaDecision>>, StoreError> {
        let mut first_reject = None;
        for item in self
            .tree(Tree::Index(Idx::DecisionsByProposal))
            .scan_prefix(proposal_id.0)
        {
            let (k, v) = item.map_err(|e| self.sled_err(e))?;
            let payload = self.unseal(Tree::Index(Idx::DecisionsByProposal), &k, &v)?;
            let id = self.key_id(Tree::Index(Idx::DecisionsByProposal), &k[32..])?;
            let accept = payload.first() == Some(&1);
            if accept {
                if let Some(d) =
                    self.load_signed::<SlaDecision>(Tree::Objects(Kind::SlaDecision), &id)?
                {
                    return Ok(Some(d));
                }
            } else if first_reject.is_none() {
                first_reject = Some(id);
            }
        }
        if let Some(a) = self.agreement_by_proposal(proposal_id)? {
            return Ok(Some(a.acceptance().clone()));
        }
        match first_reject {
            Some(id) => self.load_signed(Tree::Objects(Kind::SlaDecision), &id),
            None => Ok(None),
        }
    }

    /// Attestations about `subject`, by attester then id.
    pub fn attestations_about(
        &self,
        subject: &PublicKey,
    ) -> Result<Vec<Signed<QosAttestation>>, StoreError> {
        let ids: Vec<ObjectId> = self
            .read_state()
            .market
            .attestations_about(subject)
            .iter()
            .map(|m| m.id)
            .collect();
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(a) = self.load_signed(Tree::Objects(Kind::QosAttestation), &id)? {
                out.push(a);
            }
        }
        Ok(out)
    }

    /// Certificates about `subject` (valid or not), by id.
    pub fn certificates_about(
        &self,
        subject: &PublicKey,
    ) -> Result<Vec<Signed<Certificate>>, StoreError> {
        let ids = self.read_state().market.certs_about(subject);
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(c) = self.load_signed(Tree::Objects(Kind::Certificate), &id)? {
                out.push(c);
            }
        }
        Ok(out)
    }

    /// Certificates about `subject` that are valid at `now` (unexpired, unrevoked) and issued
    /// by a key in [`StoreConfig::trusted_certifiers`].
    pub fn trusted_certificates(
        &self,
        subject: &PublicKey,
        now: Timestamp,
    ) -> Result<Vec<Signed<Certificate>>, StoreError> {
        let ids: Vec<ObjectId> = {
            let st = self.read_state();
            st.market
                .certs_about(subject)
                .into_iter()
                .filter(|id| {
                    st.market.certs.get(id).is_some_and(|c| {
                        self.inner.config.trusted_certifiers.contains(&c.issuer)
                            && st.market.cert_valid(c, now)
                    })
                })
                .collect()
        };
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(c) = self.load_signed(Tree::Objects(Kind::Certificate), &id)? {
                out.push(c);
            }
        }
        Ok(out)
    }

    /// Demands still open at `now`, by id.
    pub fn demands(&self, now: Timestamp) -> Result<Vec<Signed<Demand>>, StoreError> {
        let mut out = Vec::new();
        for item in self.tree(Tree::Objects(Kind::Demand)).iter() {
            let (k, v) = item.map_err(|e| self.sled_err(e))?;
            let id = self.key_id(Tree::Objects(Kind::Demand), &k)?;
            let d: Signed<Demand> = self.decode_stored(Tree::Objects(Kind::Demand), &id, &v)?;
            if d.expires_at() > now {
                out.push(d);
            }
        }
        Ok(out)
    }

    /// Equivocation evidence held against `provider`, by id.
    pub fn evidence_about(
        &self,
        provider: &PublicKey,
    ) -> Result<Vec<EquivocationEvidence>, StoreError> {
        let ids = self.read_state().market.evidence_about(provider);
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(v) = self.get_raw(Tree::Objects(Kind::EquivocationEvidence), &id.0)? {
                out.push(self.decode_evidence(&id, &v)?);
            }
        }
        Ok(out)
    }

    /// Whether `provider` is flagged: equivocation evidence against it is held.
    pub fn is_flagged(&self, provider: &PublicKey) -> bool {
        self.read_state().market.is_flagged(provider)
    }

    /// Sum of `volume` over agreements with `provider` on offer `offer_key` (any version of
    /// it) whose service has not ended at `now`: the capacity already promised.
    pub fn accepted_volume(&self, provider: &PublicKey, offer_key: &str, now: Timestamp) -> u64 {
        self.read_state()
            .market
            .accepted_volume(provider, offer_key, now)
    }

    /// Objects held, per kind.
    pub fn counts(&self) -> Counts {
        let st = self.read_state();
        let withdrawn = st.index.heads().filter(|(_, e)| e.withdrawn()).count();
        Counts {
            per_kind: PerKind::from_fn(|kind| match home(kind) {
                Home::Offers => st.index.heads_len() as u64,
                Home::Summaries(summarised) => summarised.table(&st.market).len() as u64,
                Home::Disk => st.on_disk[kind],
            }),
            withdrawn_offers: withdrawn as u64,
            offer_history: st.index.history_len() as u64,
            flagged_providers: st.market.flagged_count() as u64,
        }
    }

    /// Approximate heap bytes of the in-memory offer index.
    #[doc(hidden)]
    pub fn index_bytes(&self) -> usize {
        self.read_state().index.approx_bytes()
    }

    // ----- reputation -----

    /// `provider`'s reputation at `now` (see `docs/STORE.md` for the formula).
    pub fn reputation(&self, provider: &PublicKey, now: Timestamp) -> Reputation {
        self.explain(provider, now).reputation
    }

    /// `provider`'s reputation at `now` with every attestation that counted, how much, and
    /// every one that did not, with the reason.
    pub fn explain(&self, provider: &PublicKey, now: Timestamp) -> Explanation {
        let st = self.read_state();
        let cfg = &self.inner.config;
        reputation::explain(
            &st.market,
            provider,
            now,
            &cfg.reputation,
            &cfg.trusted_auditors,
        )
    }

    // ----- digests for sync -----

    /// `(offer_key, seq, id)` of every current offer of `provider` (tombstones included),
    /// sorted by offer key.
    pub fn provider_summary(&self, provider: &PublicKey) -> Vec<(ShortText, u64, ObjectId)> {
        let st = self.read_state();
        Self::summary(&st, provider)
    }

    fn summary(st: &State, provider: &PublicKey) -> Vec<(ShortText, u64, ObjectId)> {
        let mut out: Vec<(ShortText, u64, ObjectId)> = st
            .index
            .provider_heads(provider)
            .into_iter()
            .map(|e| (st.index.keys.resolve(e.offer_key).clone(), e.seq, e.id))
            .collect();
        out.sort_unstable();
        out
    }

    fn summary_digest(summary: &[(ShortText, u64, ObjectId)]) -> Hash32 {
        let mut h = blake3::Hasher::new_derive_key("flashback/store/v1/provider-digest");
        for (key, seq, id) in summary {
            h.update(&[key.len() as u8]);
            h.update(key.as_bytes());
            h.update(&seq.to_be_bytes());
            h.update(&id.0);
        }
        Hash32(*h.finalize().as_bytes())
    }

    /// Per provider with offers: blake3 over its [`Store::provider_summary`], sorted by key.
    pub fn provider_digests(&self) -> Vec<(PublicKey, Hash32)> {
        let st = self.read_state();
        if let Some((epoch, d)) = &lock(&self.inner.caches).providers
            && *epoch == st.digest_epoch
        {
            return d.as_ref().clone();
        }
        let mut providers: Vec<PublicKey> =
            st.index.providers_with_heads().map(|(_, k)| *k).collect();
        providers.sort_unstable();
        let out: Vec<(PublicKey, Hash32)> = providers
            .into_iter()
            .map(|p| (p, Self::summary_digest(&Self::summary(&st, &p))))
            .collect();
        lock(&self.inner.caches).providers = Some((st.digest_epoch, Arc::new(out.clone())));
        out
    }

    /// The ids of a kind kept in memory, sorted (current offers for the offer index); `None`
    /// for a kind kept on disk only.
    fn memory_ids(st: &State, kind: Kind) -> Option<Vec<ObjectId>> {
        match home(kind) {
            Home::Offers => {
                let mut v: Vec<ObjectId> = st.index.heads().map(|(_, e)| e.id).collect();
                v.sort_unstable();
                Some(v)
            }
            Home::Summaries(summarised) => Some(summarised.table(&st.market).ids()),
            Home::Disk => None,
        }
    }

    /// What the listing digest covers: the kinds in it ([`Kind::in_listing_digest`], all kept
    /// in memory: checked when the crate builds), sorted by kind then id.
    fn digest_ids(st: &State) -> Vec<(Kind, ObjectId)> {
        Kind::ALL
            .into_iter()
            .filter(|k| k.in_listing_digest())
            .flat_map(|kind| {
                Self::memory_ids(st, kind)
                    .unwrap_or_default()
                    .into_iter()
                    .map(move |id| (kind, id))
            })
            .collect()
    }

    /// blake3 over the sorted `(kind, id)` of every current offer (tombstones included) and
    /// every agreement, attestation, certificate, revocation and evidence held. Two stores
    /// holding the same objects have the same digest, whatever order they were applied in.
    pub fn listing_digest(&self) -> Hash32 {
        let st = self.read_state();
        if let Some((epoch, d)) = lock(&self.inner.caches).listing
            && epoch == st.digest_epoch
        {
            return d;
        }
        let mut h = blake3::Hasher::new_derive_key("flashback/store/v1/listing-digest");
        for (kind, id) in Self::digest_ids(&st) {
            h.update(&[kind.tag()]);
            h.update(&id.0);
        }
        let d = Hash32(*h.finalize().as_bytes());
        lock(&self.inner.caches).listing = Some((st.digest_epoch, d));
        d
    }

    /// The ids [`Store::listing_digest`] covers, sorted by kind then id.
    pub fn all_ids(&self) -> Vec<(Kind, ObjectId)> {
        Self::digest_ids(&self.read_state())
    }

    /// Every stored id of one kind, sorted (current offers only for [`Kind::Offer`]).
    pub fn ids_by_kind(&self, kind: Kind) -> Result<Vec<ObjectId>, StoreError> {
        if let Some(ids) = Self::memory_ids(&self.read_state(), kind) {
            return Ok(ids);
        }
        // On disk only: read the tree without holding the indexes.
        let t = Tree::Objects(kind);
        let mut ids = Vec::new();
        for k in self.tree(t).iter().keys() {
            let k = k.map_err(|e| self.sled_err(e))?;
            ids.push(self.key_id(t, &k)?);
        }
        Ok(ids)
    }

    /// The database directory.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The configuration the store was opened with.
    pub fn config(&self) -> &StoreConfig {
        &self.inner.config
    }
}

fn hex_short(key: &[u8]) -> String {
    key.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

// `codec::CHECKSUM_LEN` is part of the documented format.
const _: () = assert!(codec::CHECKSUM_LEN == 16);

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
