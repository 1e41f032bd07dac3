//! Flashback's listing store: the one place market state is written, indexed, queried and
//! scored.
//!
//! A [`Store`] is a sled database (one tree per object kind plus secondary indexes, every value
//! checksummed) and in-memory indexes rebuilt from it at open: a compact ordered index of the
//! current offers (ids, interned regions and protocols, numeric sort keys — not the objects)
//! and small summaries of agreements, attestations and certificates for reputation.
//!
//! - [`Store::apply`] / [`Store::apply_batch`] take verified [`Object`]s and say what happened
//!   ([`Applied`]), mapped to a validation [`Rule`](flashback_types::Rule) for gossip. A write
//!   is acknowledged only once it is durable.
//! - [`Store::query_offers`] answers an [`OfferQuery`] with signed offers, one page at a time.
//! - [`Store::reputation`] / [`Store::explain`]: agreement-backed, weighted by each attester's
//!   standing (anchored in the node's trust) and stake, time-decayed, deterministic; a
//!   provider without enough counted evidence is unrated.
//! - [`Store::set_trust`]: the trust store every verdict reads; [`Store::certificate_page`],
//!   [`Store::register`], [`Store::held_claims`]: certificates judged under it.
//! - [`Store::listing_digest`], [`Store::provider_digests`], [`Store::all_ids`]: what the sync
//!   protocol compares. The same objects give the same digests in any order.
//!
//! The on-disk format, the index and the reputation formula are documented in
//! `docs/STORE.md`.
//!
//! ```
//! use flashback_store::{Applied, Store, StoreConfig};
//! use flashback_types::*;
//!
//! let dir = tempfile::tempdir().unwrap();
//! let store = Store::open(dir.path().join("listing"), StoreConfig::default()).unwrap();
//!
//! let provider = SecretKey::generate();
//! let now = 1_800_000_000;
//! let offer = Offer {
//!     provider: provider.public(),
//!     offer_key: "eu-hot".try_into().unwrap(),
//!     seq: 1,
//!     withdrawn: false,
//!     kind: ResourceKind::Storage,
//!     capacity: 10 * GIB,
//!     price: Price { amount: 120, asset: "USD".try_into().unwrap(), unit: PriceUnit::GibMonth },
//!     min_duration_secs: 3600,
//!     max_duration_secs: 365 * 24 * 3600,
//!     regions: BoundedVec::try_from(vec!["eu-west".try_into().unwrap()]).unwrap(),
//!     protocols: BoundedVec::try_from(vec![DataProtocol::S3]).unwrap(),
//!     endpoint: "https://s3.example.net".try_into().unwrap(),
//!     qos: QosTargets { availability_bp: 9990, ..Default::default() },
//!     redundancy: 2,
//!     certificates: BoundedVec::new(),
//!     jurisdictions: BoundedVec::new(),
//!     compliance_docs: BoundedVec::new(),
//!     compute: None,
//!     created_at: now,
//!     expires_at: now + 86_400,
//! };
//! let object = Object::from(Signed::sign(offer, &provider).unwrap());
//! assert!(matches!(store.apply(&object, now).unwrap(), Applied::Applied));
//! assert!(matches!(store.apply(&object, now).unwrap(), Applied::Duplicate));
//!
//! let page = store.query_offers(&OfferQuery::default(), now).unwrap();
//! assert_eq!(page.offers.len(), 1);
//! ```

mod cache;
mod codec;
mod config;
mod error;
mod index;
mod ordered;
mod price;
mod reputation;
mod store;
mod summaries;

pub use config::{MIN_CACHE_CAPACITY_BYTES, Rate, ReputationParams, StoreConfig};
pub use error::StoreError;
pub use flashback_types::trust::AUDITOR_CLAIM;
pub use reputation::{
    Anchor, Basis, CountedAttestation, Discounts, ExcludedAttestation, ExclusionReason,
    Explanation, RULING_PENALTY, Reputation, RulingEffect, RulingOnProvider, Stake, Standing,
    StandingKind, Unearned,
};
pub use store::{
    Applied, CertPage, Counts, MAX_VERSIONS_PER_OFFER, PaymentObjects, QueryPage, RegisterPage,
    SCHEMA_VERSION, Store,
};

#[doc(no_inline)]
pub use flashback_types::{Object, OfferQuery};
