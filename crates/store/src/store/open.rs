//! Opening: sled's file lock, the schema version, and the scan of every tree that checks each
//! value and rebuilds the in-memory indexes.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use flashback_types::{Kind, ObjectId, Offer, ShortText, Signed};
use tracing::{info, warn};

use super::{
    Caches, Home, Idx, Inner, SCHEMA_VERSION, Sled, State, Store, TREES, Tree, Trust, home,
};
use crate::cache::OfferCache;
use crate::codec::{seal, unseal};
use crate::config::StoreConfig;
use crate::error::StoreError;
use crate::index::{OfferIndex, Version};
use crate::summaries::DerivedKey;
use flashback_types::Hash32;

const SCHEMA_KEY: &[u8] = b"schema_version";

/// Index entries read before the objects they describe, while loading.
pub(super) struct Loading {
    pub(super) origins: HashMap<ObjectId, (bool, Option<DerivedKey>)>,
    pub(super) resolved: HashMap<ObjectId, ShortText>,
}

/// How long [`Store::open`] waits for the database's file lock. sled releases it from one of
/// its IO threads shortly after the last handle is dropped, so a store closed and reopened in
/// the same process (a node restarted in place, a test) may briefly find it still held.
const LOCK_WAIT: Duration = Duration::from_secs(3);

pub(super) fn open_sled(path: &Path, cache_capacity: u64) -> Result<sled::Db, StoreError> {
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

pub(super) fn open_error(path: &Path, e: sled::Error) -> StoreError {
    match e {
        sled::Error::Io(io) => StoreError::Open {
            path: path.to_path_buf(),
            detail: io.to_string(),
        },
        other => StoreError::from_sled(path, other),
    }
}

impl Store {
    /// Opens (or creates) the listing at `path` and builds the in-memory indexes from it.
    ///
    /// Every stored object is checked against its id (blake3) while loading; a mismatch, an
    /// undecodable value or a schema version this build does not know is an error that says
    /// how to rebuild (`flashback node run --rebuild-store`).
    pub fn open(path: impl AsRef<Path>, config: StoreConfig) -> Result<Store, StoreError> {
        config.validate()?;
        let path = path.as_ref().to_path_buf();
        let started = Instant::now();
        let sled = Sled::open(&path, config.cache_capacity_bytes)?;
        let offer_cache = Mutex::new(OfferCache::new(config.offer_cache_entries));
        let store = Store {
            inner: Arc::new(Inner {
                state: RwLock::new(State {
                    index: OfferIndex::new(config.rates.clone()),
                    ..State::default()
                }),
                path,
                sled: RwLock::new(Some(Arc::new(sled))),
                writer: Mutex::new(()),
                staged: AtomicU64::new(0),
                durable: AtomicU64::new(0),
                flushing: Mutex::new(()),
                poisoned: Mutex::new(None),
                recovery: Mutex::new(None),
                caches: Mutex::new(Caches::default()),
                offer_cache,
                trust: RwLock::new(Trust {
                    store: Arc::new(config.legacy_trust()),
                    epoch: 0,
                }),
                config,
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

    /// Deletes the listing at `path` and opens an empty one, for tools that want a damaged
    /// database gone. The node does not use it: `flashback node run --rebuild-store` moves the
    /// damaged database aside and opens a fresh one, and the network refills the listing
    /// through sync. Refuses to delete a directory that does not look like a sled database.
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
            let sled_like = |n: &str| {
                matches!(n, "conf" | "db" | "blobs" | "snap" | "write-probe")
                    || n.starts_with("snap.")
            };
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
        let meta = self.tree(Tree::Meta)?;
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
                    .all(|&t| self.tree(t).is_ok_and(|t| t.is_empty()));
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
        self.load_into(&mut self.write_state())
    }

    /// [`Store::load`] into indexes the caller holds (empty ones).
    pub(super) fn load_into(&self, st: &mut State) -> Result<(), StoreError> {
        let mut loading = self.load_index_entries()?;
        for kind in Kind::ALL {
            let t = Tree::Objects(kind);
            match home(kind) {
                Home::Offers => self.load_offers(st, t)?,
                Home::Summaries(summarised) => {
                    for item in self.tree(t)?.iter() {
                        let (k, v) = item.map_err(|e| self.sled_err(e))?;
                        let id = self.key_id(t, &k)?;
                        self.remember(st, summarised, &id, &v, &mut loading)?;
                    }
                }
                Home::Disk => {
                    for item in self.tree(t)?.iter() {
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
        for item in self.tree(t)?.iter() {
            let (k, v) = item.map_err(|e| self.sled_err(e))?;
            let id = self.key_id(t, &k)?;
            let o: Signed<Offer> = self.decode_stored(t, &id, &v)?;
            st.newest_created_at = st.newest_created_at.max(o.body().created_at);
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
        for item in self.tree(Tree::Index(Idx::EvidenceOrigin))?.iter() {
            let (k, v) = item.map_err(|e| self.sled_err(e))?;
            let id = self.key_id(Tree::Index(Idx::EvidenceOrigin), &k)?;
            let payload = self.unseal(Tree::Index(Idx::EvidenceOrigin), &k, &v)?;
            origins.insert(id, self.parse_origin(payload)?);
        }
        let mut resolved: HashMap<ObjectId, ShortText> = HashMap::new();
        for item in self.tree(Tree::Index(Idx::AgreementOfferKey))?.iter() {
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
}
