//! Key newtypes over ed25519-dalek, the key file format and the libp2p identity conversion.
//!
//! Dalek types stay inside this module: the rest of Flashback speaks [`PublicKey`],
//! [`SecretKey`] and [`Signature`]. Keys print as lowercase hex in human formats (TOML, JSON,
//! logs) and travel as raw bytes in bincode.

use std::fmt;
use std::str::FromStr;

use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::ser::{SerializeTuple, Serializer};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

pub mod keyfile;

/// Length of a public key in bytes.
pub const PUBLIC_KEY_LEN: usize = 32;
/// Length of a signature in bytes.
pub const SIGNATURE_LEN: usize = 64;

/// Why a key or signature could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The text was not hex of the right length.
    #[error("expected {expected} hex characters, got {got:?}")]
    BadText {
        /// Number of hex characters expected.
        expected: usize,
        /// What was given (truncated for display).
        got: String,
    },
    /// The 32 bytes are not a point on the curve, or not in canonical form.
    #[error("not a valid ed25519 public key")]
    InvalidPoint,
    /// The key is of small order: anyone could forge signatures for it.
    #[error("weak (small-order) ed25519 public key refused")]
    Weak,
    /// The key file could not be understood.
    #[error("{0}")]
    KeyFile(String),
    /// The libp2p peer id does not hold an ed25519 key.
    #[error("peer id {0} does not embed an ed25519 public key")]
    NotEd25519PeerId(String),
}

/// An ed25519 public key that is known to be a valid, canonical, not small-order point.
///
/// Holding a `PublicKey` therefore means "a key that can own objects": weak keys cannot be
/// constructed, decoded or parsed.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PublicKey([u8; PUBLIC_KEY_LEN]);

impl PublicKey {
    /// Checks and wraps 32 bytes.
    pub fn from_bytes(bytes: &[u8; PUBLIC_KEY_LEN]) -> Result<Self, KeyError> {
        Self::checked(bytes).map(|(key, _)| key)
    }

    /// Checks 32 bytes and also hands back the decompressed key, so a caller about to verify
    /// does not decompress twice.
    pub(crate) fn checked(bytes: &[u8; PUBLIC_KEY_LEN]) -> Result<(Self, VerifyingKey), KeyError> {
        // One key, one encoding: refuse y >= p (a second encoding of a point with small y).
        // The other non-canonical form, x = 0 with the sign bit set, only exists for the
        // small-order points y = ±1, which `is_weak` refuses below.
        let y_high = bytes[31] & 0x7f;
        if y_high == 0x7f && bytes[1..31].iter().all(|&b| b == 0xff) && bytes[0] >= 0xed {
            return Err(KeyError::InvalidPoint);
        }
        let vk = VerifyingKey::from_bytes(bytes).map_err(|_| KeyError::InvalidPoint)?;
        if vk.is_weak() {
            return Err(KeyError::Weak);
        }
        Ok((Self(*bytes), vk))
    }

    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; PUBLIC_KEY_LEN] {
        &self.0
    }

    /// A short form for logs and tables: the first 10 hex characters.
    pub fn fmt_short(&self) -> String {
        hex::encode(&self.0[..5])
    }

    /// Strict ed25519 verification (`verify_strict`) of `message`.
    pub fn verify_strict(&self, message: &[u8], signature: &Signature) -> bool {
        let Ok(vk) = VerifyingKey::from_bytes(&self.0) else {
            return false;
        };
        vk.verify_strict(message, &signature.to_dalek()).is_ok()
    }

    pub(crate) fn verify_strict_with(
        vk: &VerifyingKey,
        message: &[u8],
        signature: &Signature,
    ) -> bool {
        vk.verify_strict(message, &signature.to_dalek()).is_ok()
    }

    pub(crate) fn to_dalek(self) -> Option<VerifyingKey> {
        VerifyingKey::from_bytes(&self.0).ok()
    }

    /// The X25519 (Montgomery) form of this key, for sealing to its owner (`crate::seal`):
    /// the birational map from Edwards to Montgomery form, as libsodium's
    /// `crypto_sign_ed25519_pk_to_curve25519`.
    pub(crate) fn to_x25519(self) -> Option<[u8; 32]> {
        self.to_dalek().map(|vk| vk.to_montgomery().to_bytes())
    }

    /// The libp2p peer id of the node that uses this key as its identity.
    ///
    /// A provider's account id and its node's peer id name the same key.
    pub fn to_peer_id(&self) -> libp2p_identity::PeerId {
        self.to_libp2p().to_peer_id()
    }

    /// The libp2p public key for this key.
    pub fn to_libp2p(&self) -> libp2p_identity::PublicKey {
        let ed = libp2p_identity::ed25519::PublicKey::try_from_bytes(&self.0)
            .expect("a checked ed25519 key is a valid libp2p ed25519 key");
        libp2p_identity::PublicKey::from(ed)
    }

    /// The account key behind a peer id, when the peer id embeds an ed25519 key (all peer ids of
    /// Flashback nodes do).
    pub fn from_peer_id(peer: &libp2p_identity::PeerId) -> Result<Self, KeyError> {
        let not_ed = || KeyError::NotEd25519PeerId(peer.to_string());
        let multihash = peer.as_ref();
        // Identity multihash (code 0): the digest is the protobuf-encoded public key.
        if multihash.code() != 0 {
            return Err(not_ed());
        }
        let pk = libp2p_identity::PublicKey::try_decode_protobuf(multihash.digest())
            .map_err(|_| not_ed())?;
        let ed = pk.try_into_ed25519().map_err(|_| not_ed())?;
        Self::from_bytes(&ed.to_bytes())
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.fmt_short())
    }
}

impl FromStr for PublicKey {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes = parse_hex::<PUBLIC_KEY_LEN>(s)?;
        Self::from_bytes(&bytes)
    }
}

fn parse_hex<const N: usize>(s: &str) -> Result<[u8; N], KeyError> {
    let s = s.trim();
    let mut out = [0u8; N];
    hex::decode_to_slice(s, &mut out).map_err(|_| KeyError::BadText {
        expected: N * 2,
        got: s.chars().take(16).collect(),
    })?;
    Ok(out)
}

/// An ed25519 signature (64 bytes). Only meaningful together with a key and a message.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature([u8; SIGNATURE_LEN]);

impl Signature {
    /// Wraps 64 bytes.
    pub fn from_bytes(bytes: [u8; SIGNATURE_LEN]) -> Self {
        Self(bytes)
    }

    /// The raw 64 bytes.
    pub fn to_bytes(&self) -> [u8; SIGNATURE_LEN] {
        self.0
    }

    pub(crate) fn to_dalek(self) -> ed25519_dalek::Signature {
        ed25519_dalek::Signature::from_bytes(&self.0)
    }
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({}…)", hex::encode(&self.0[..6]))
    }
}

impl FromStr for Signature {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_hex::<SIGNATURE_LEN>(s).map(Self)
    }
}

/// An ed25519 secret key. Zeroized on drop, never printed (its `Debug` is redacted and it has
/// no `Display`).
#[derive(Clone)]
pub struct SecretKey(SigningKey);

impl SecretKey {
    /// A fresh key from the operating system's random source.
    pub fn generate() -> Self {
        let mut seed = Zeroizing::new([0u8; 32]);
        getrandom::fill(seed.as_mut()).expect("the operating system random source is available");
        Self(SigningKey::from_bytes(&seed))
    }

    /// A key from a 32-byte seed (RFC 8032 "secret key").
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self(SigningKey::from_bytes(seed))
    }

    /// The 32-byte seed. Handle with care: it is the whole secret.
    pub fn to_seed(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0.to_bytes())
    }

    /// The X25519 secret that goes with [`PublicKey::to_x25519`] of this key's public key: the
    /// first half of SHA-512 of the seed (which X25519 clamps), as libsodium's
    /// `crypto_sign_ed25519_sk_to_curve25519`.
    pub(crate) fn to_x25519(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0.to_scalar_bytes())
    }

    /// The matching public key.
    pub fn public(&self) -> PublicKey {
        // A key derived from a secret scalar is never of small order.
        PublicKey(self.0.verifying_key().to_bytes())
    }

    /// Signs `message` with plain Ed25519.
    pub fn sign(&self, message: &[u8]) -> Signature {
        use ed25519_dalek::Signer;
        Signature(self.0.sign(message).to_bytes())
    }

    /// The libp2p identity keypair for a node that uses this key.
    pub fn to_libp2p_keypair(&self) -> libp2p_identity::Keypair {
        let mut seed = self.to_seed();
        let secret = libp2p_identity::ed25519::SecretKey::try_from_bytes(seed.as_mut())
            .expect("32 bytes are a valid ed25519 secret key");
        libp2p_identity::Keypair::from(libp2p_identity::ed25519::Keypair::from(secret))
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey(for {}, redacted)", self.public().fmt_short())
    }
}

impl PartialEq for SecretKey {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl Eq for SecretKey {}

// --- serde: hex in human-readable formats, raw bytes (no length prefix) in bincode ---

fn serialize_fixed<S: Serializer, const N: usize>(
    bytes: &[u8; N],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    if serializer.is_human_readable() {
        serializer.serialize_str(&hex::encode(bytes))
    } else {
        let mut tuple = serializer.serialize_tuple(N)?;
        for b in bytes {
            tuple.serialize_element(b)?;
        }
        tuple.end()
    }
}

fn deserialize_fixed<'de, D: Deserializer<'de>, const N: usize>(
    deserializer: D,
) -> Result<[u8; N], D::Error> {
    struct FixedVisitor<const N: usize>;

    impl<'de, const N: usize> Visitor<'de> for FixedVisitor<N> {
        type Value = [u8; N];

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "{N} bytes or {} hex characters", N * 2)
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            parse_hex::<N>(v).map_err(E::custom)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = [0u8; N];
            for (i, slot) in out.iter_mut().enumerate() {
                *slot = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(i, &self))?;
            }
            Ok(out)
        }
    }

    if deserializer.is_human_readable() {
        deserializer.deserialize_str(FixedVisitor::<N>)
    } else {
        deserializer.deserialize_tuple(N, FixedVisitor::<N>)
    }
}

impl Serialize for PublicKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_fixed(&self.0, serializer)
    }
}

impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let bytes = deserialize_fixed::<D, PUBLIC_KEY_LEN>(deserializer)?;
        let checked = KEY_CHECKS.with(|c| match c.get() {
            KeyChecks::All => false,
            KeyChecks::Trusted => true,
            KeyChecks::Except(known) => known == bytes,
        });
        if checked {
            return Ok(PublicKey(bytes));
        }
        PublicKey::from_bytes(&bytes).map_err(de::Error::custom)
    }
}

/// Which public keys deserialization checks on this thread.
#[derive(Clone, Copy)]
enum KeyChecks {
    /// Every key (the default).
    All,
    /// None: the bytes were fully verified before ([`with_trusted_keys`]).
    Trusted,
    /// Every key but this one, which passed the same checks already ([`with_checked_key`]).
    Except([u8; PUBLIC_KEY_LEN]),
}

thread_local! {
    static KEY_CHECKS: std::cell::Cell<KeyChecks> = const { std::cell::Cell::new(KeyChecks::All) };
}

/// Runs `f` with `checks` in force for deserialization on this thread, then restores what was
/// in force before (also if `f` panics).
fn with_key_checks<R>(checks: KeyChecks, f: impl FnOnce() -> R) -> R {
    struct Restore(KeyChecks);
    impl Drop for Restore {
        fn drop(&mut self) {
            KEY_CHECKS.with(|c| c.set(self.0));
        }
    }
    let _restore = Restore(KEY_CHECKS.with(|c| c.replace(checks)));
    f()
}

/// Runs `f` with public-key validation turned off for deserialization on this thread. Only for
/// re-reading bytes that were fully verified before (`Object::decode_trusted`): the point
/// checks cost ~5 µs per key, more than everything else in decoding an offer.
pub(crate) fn with_trusted_keys<R>(f: impl FnOnce() -> R) -> R {
    with_key_checks(KeyChecks::Trusted, f)
}

/// Runs `f` with `key` counted as checked for deserialization on this thread: a body that
/// names its own signer (an offer's provider, an attestation's attester) does not decompress
/// and check the same 32 bytes a second time. Every other key is still checked. The verdict
/// is the same as checking again: `key` is a [`PublicKey`], so these exact bytes passed.
pub(crate) fn with_checked_key<R>(key: &PublicKey, f: impl FnOnce() -> R) -> R {
    with_key_checks(KeyChecks::Except(key.0), f)
}

impl Serialize for Signature {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_fixed(&self.0, serializer)
    }
}

impl<'de> Deserialize<'de> for Signature {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize_fixed::<D, SIGNATURE_LEN>(deserializer).map(Signature)
    }
}

/// A 32-byte blake3 hash: object ids and document digests.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Hash32(pub [u8; 32]);

impl Hash32 {
    /// blake3 of `data`.
    pub fn of(data: &[u8]) -> Self {
        Self(*blake3::hash(data).as_bytes())
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// A short form for logs: the first 12 hex characters.
    pub fn fmt_short(&self) -> String {
        hex::encode(&self.0[..6])
    }
}

impl fmt::Display for Hash32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for Hash32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.fmt_short())
    }
}

impl FromStr for Hash32 {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_hex::<32>(s).map(Self)
    }
}

impl Serialize for Hash32 {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_fixed(&self.0, serializer)
    }
}

impl<'de> Deserialize<'de> for Hash32 {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize_fixed::<D, 32>(deserializer).map(Hash32)
    }
}

/// Signer keys already checked and decompressed, so that checking many objects from one signer
/// decompresses its key once (about 3.6 µs of the 29 µs a decode and strict verification of an
/// offer takes; `cargo bench -p flashback-types --bench signing`, `key_from_bytes`).
///
/// An entry is keyed by the exact 32 bytes and holds what [`PublicKey::from_bytes`] computes
/// from them, after the same checks (canonical encoding, not of small order), so a hit gives
/// the same answer as checking again. Keys that fail the checks are not kept. Bounded:
/// beyond `capacity` keys, the least useful are dropped.
///
/// Each node keeps its own: nothing is shared between nodes that run in one process.
pub struct KeyCache {
    keys: quick_cache::sync::Cache<[u8; PUBLIC_KEY_LEN], VerifyingKey>,
}

impl KeyCache {
    /// A cache of at most `capacity` keys.
    pub fn new(capacity: usize) -> Self {
        Self {
            keys: quick_cache::sync::Cache::new(capacity.max(1)),
        }
    }

    /// [`PublicKey::checked`], from the cache when the key was checked before.
    pub(crate) fn checked(
        &self,
        bytes: &[u8; PUBLIC_KEY_LEN],
    ) -> Result<(PublicKey, VerifyingKey), KeyError> {
        if let Some(vk) = self.keys.get(bytes) {
            return Ok((PublicKey(*bytes), vk));
        }
        let (key, vk) = PublicKey::checked(bytes)?;
        self.keys.insert(*bytes, vk);
        Ok((key, vk))
    }

    /// Keys held now.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

impl fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyCache")
            .field("len", &self.len())
            .finish()
    }
}
