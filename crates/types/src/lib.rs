//! Flashback's protocol objects: keys, `Signed<T>`, the canonical encoding, object ids and the
//! validation rules. Every other crate builds on this one; it does no network I/O and its rules
//! read no clock (they take the time as an argument).
//!
//! - [`keys`]: [`PublicKey`], [`SecretKey`], [`Signature`], the key file format and the
//!   conversion to libp2p identities (a provider's account key *is* its node's peer id);
//!   [`keyfile`] writes and reads key files and other secrets.
//! - [`file`]: [`file::read_bounded`], the one way a file a user names is read (with a size
//!   limit). With the key files, the crate's only file I/O.
//! - [`Signed`]: a body, its signer and an Ed25519 signature over the domain-separated digest
//!   `blake3::derive_key("flashback/v1/<kind>", canonical bincode bytes)`, verified with
//!   `verify_strict` over the exact bytes received.
//! - [`Object::decode`]: the one decode function for untrusted bytes (size limit per kind,
//!   trailing bytes rejected, canonical re-encoding required, never panics).
//! - [`validate`]: every rule with its [`Label`] (Reject or Ignore), which drives gossip scoring.
//! - [`trust`]: a node's trust store (issuer keys by name, roles, the claims each may certify)
//!   and its verdicts on certificates.
//! - [`proposal`]: the SLA proposal a consumer signs at an offer's terms (the SDK's and the
//!   node's HTTP API's one way to build one).
//! - [`seal`]: access credentials sealed to a consumer's key (HPKE), what an
//!   [`AccessGrant`] carries.
//! - [`Kind`]: every kind of object and every per-kind rule (topic, sync class, listing
//!   digest, store tree, limits, GC), each one exhaustive `match`; [`protocol`]: topic names,
//!   protocol ids and the limits of the wire.
//!
//! ```
//! use flashback_types::*;
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
//! let signed = Signed::sign(offer, &provider).unwrap();
//!
//! // Anyone holding the bytes can check them.
//! let received = Object::decode_at(signed.encoded(), now, &TimeRules::default()).unwrap();
//! assert_eq!(received.id(), signed.id());
//!
//! // One flipped bit and the object is refused, with a label for peer scoring.
//! let mut bad = signed.encoded().to_vec();
//! bad[40] ^= 1;
//! let err = Object::decode(&bad).unwrap_err();
//! assert_eq!(err.label(), Label::Reject);
//! ```

#[macro_use]
mod macros;

pub mod bodies;
pub mod clock;
mod code;
mod composite;
pub mod digest;
pub mod encoding;
pub mod file;
pub mod keys;
mod kind;
mod object;
pub mod payments;
pub mod proposal;
pub mod protocol;
pub mod query;
mod rules;
pub mod samples;
pub mod seal;
mod signed;
pub mod stats;
pub mod trust;
pub mod validate;
pub mod wire;

pub use bodies::*;
pub use code::ErrorCode;
pub use composite::{Agreement, EquivocationEvidence};
pub use encoding::{BoundedString, BoundedVec, DecodeError, LengthError};
pub use keys::{Hash32, KeyCache, KeyError, PublicKey, SecretKey, Signature, keyfile};
pub use kind::{GcRule, Kind, PerKind, SyncClass};
pub use object::Object;
pub use query::{
    CertQuery, Cursor, DEFAULT_QUERY_LIMIT, IdPrefix, IdSpace, MAX_CERT_LIMIT, MAX_QUERY_LIMIT,
    MIN_ID_PREFIX, OfferQuery, RegisterQuery, RegisterRole, SortKey, price_group,
};
pub use rules::{
    ENDPOINT_SCHEMES, valid_asset, valid_claim_name, valid_endpoint, valid_offer_key,
    valid_protocol_name, valid_region,
};
pub use signed::{Envelope, Signed, SignedBody, batch_prefilter, envelope_parts, signing_digest};
pub use trust::{CertStatus, ClaimFilter, Role, TrustStore};
pub use validate::{Label, ObjectError, Rule, TimeRules, check_topic};
