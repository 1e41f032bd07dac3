//! `Signed<T>`: canonical bytes, domain-separated signatures, object ids, and the one decode
//! path for untrusted bytes.
//!
//! Wire form of a signed object (bincode, [`crate::encoding::config`]):
//!
//! ```text
//! kind: u8 | body: varint length + canonical body bytes | signer: 32 bytes | signature: 64 bytes
//! ```
//!
//! The signature is Ed25519 over `blake3::derive_key("flashback/v1/<kind>", body bytes)`, and is
//! checked with `verify_strict` over the exact body bytes received. The object id is blake3 of
//! the whole wire form.

use std::fmt;
use std::marker::PhantomData;
use std::ops::Range;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::bodies::{ObjectId, Timestamp};
use crate::encoding::{self, DecodeError};
use crate::keys::{Hash32, KeyCache, PublicKey, SecretKey, Signature};
use crate::kind::{Kind, decode_limited};
use crate::validate::{ObjectError, Rule};

/// A body that is signed by one key: offers, proposals, attestations, certificates…
pub trait SignedBody:
    Serialize + DeserializeOwned + Clone + fmt::Debug + Send + Sync + 'static
{
    /// The kind of object.
    const KIND: Kind;

    /// The key that must have signed this body.
    fn author(&self) -> &PublicKey;

    /// When the body was signed.
    fn created_at(&self) -> Timestamp;

    /// When the body stops being valid.
    fn expires_at(&self) -> Timestamp;

    /// The kind's own field rules (ranges, ordering, consistency). Stateless; no clock.
    fn check_fields(&self) -> Result<(), ObjectError>;

    /// All stateless rules: lifetimes and fields.
    fn check(&self) -> Result<(), ObjectError> {
        check_lifetime(Self::KIND, self.created_at(), self.expires_at())?;
        self.check_fields()
    }
}

/// `expires_at` after `created_at`, within the kind's lifetime limit.
pub(crate) fn check_lifetime(
    kind: Kind,
    created_at: Timestamp,
    expires_at: Timestamp,
) -> Result<(), ObjectError> {
    if expires_at <= created_at {
        return Err(ObjectError::new(
            Rule::ExpiredAtCreation,
            format!("expires_at {expires_at} is not after created_at {created_at}"),
        ));
    }
    if expires_at - created_at > kind.max_lifetime_secs() {
        return Err(ObjectError::new(
            Rule::LifetimeTooLong,
            format!(
                "lives {}s, more than the {}s allowed for {kind}",
                expires_at - created_at,
                kind.max_lifetime_secs()
            ),
        ));
    }
    Ok(())
}

/// The 32-byte digest that is actually signed: blake3 in key-derivation mode with the kind's
/// domain string as context.
pub fn signing_digest(kind: Kind, body_bytes: &[u8]) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new_derive_key(kind.domain());
    hasher.update(body_bytes);
    *hasher.finalize().as_bytes()
}

#[derive(Serialize, Deserialize)]
struct SignedWire<'a> {
    kind: u8,
    #[serde(borrow, with = "serde_bytes")]
    body: &'a [u8],
    signer: [u8; 32],
    signature: Signature,
}

/// A signed object whose structure has been parsed but whose signature has **not** been
/// checked. The only way to its body is [`Envelope::verify`].
///
/// Split from [`Signed::decode`] so a node can batch-verify many envelopes as a pre-filter
/// ([`batch_prefilter`]) before the strict per-object check.
#[derive(Clone)]
pub struct Envelope<T> {
    encoded: Arc<[u8]>,
    body: Range<usize>,
    signer: PublicKey,
    verifying_key: ed25519_dalek::VerifyingKey,
    signature: Signature,
    _body: PhantomData<fn() -> T>,
}

impl<T: SignedBody> Envelope<T> {
    /// Parses untrusted bytes: size limit, structure, no trailing bytes, kind tag, signer key.
    pub fn parse(bytes: &[u8]) -> Result<Self, ObjectError> {
        Self::parse_with(bytes, None)
    }

    /// [`Envelope::parse`], taking the signer's checked key from `keys` when it holds it.
    pub fn parse_with(bytes: &[u8], keys: Option<&KeyCache>) -> Result<Self, ObjectError> {
        let wire: SignedWire<'_> = decode_limited(T::KIND, bytes)?;
        if wire.kind != T::KIND.tag() {
            return Err(ObjectError::new(
                Rule::WrongKind,
                format!(
                    "expected {} (tag {}), got tag {}",
                    T::KIND,
                    T::KIND.tag(),
                    wire.kind
                ),
            ));
        }
        // bincode accepts a length prefix in a longer form than needed (`251, 5, 0` for 5): the
        // same object would then have a second encoding and a second id. Only the shortest
        // form is the object.
        if bytes.len() != 1 + encoding::varint_len(wire.body.len()) + wire.body.len() + 32 + 64 {
            return Err(DecodeError::NonCanonical.into());
        }
        let (signer, verifying_key) = match keys {
            Some(keys) => keys.checked(&wire.signer)?,
            None => PublicKey::checked(&wire.signer)?,
        };
        // The body is the last variable-length field before the 96 fixed bytes.
        let end = bytes.len() - 32 - 64;
        let start = end - wire.body.len();
        Ok(Self {
            encoded: Arc::from(bytes),
            body: start..end,
            signer,
            verifying_key,
            signature: wire.signature,
            _body: PhantomData,
        })
    }

    /// The signer named in the envelope (not yet verified).
    pub fn signer(&self) -> &PublicKey {
        &self.signer
    }

    /// The digest the signature should cover.
    pub fn digest(&self) -> [u8; 32] {
        signing_digest(T::KIND, &self.encoded[self.body.clone()])
    }

    /// The signature (not yet verified).
    pub fn signature(&self) -> &Signature {
        &self.signature
    }

    /// Strictly verifies the signature over the received body bytes, then decodes the body
    /// (size-limited, canonical), checks that the author is the signer and runs the kind's
    /// stateless rules. Hands back the object only when all of that holds.
    pub fn verify(self) -> Result<Signed<T>, ObjectError> {
        let body_bytes = &self.encoded[self.body.clone()];
        let digest = signing_digest(T::KIND, body_bytes);
        if !PublicKey::verify_strict_with(&self.verifying_key, &digest, &self.signature) {
            return Err(ObjectError::new(
                Rule::BadSignature,
                format!("signature by {} does not verify", self.signer.fmt_short()),
            ));
        }
        // The signer's key was checked when the envelope was parsed.
        let body: T =
            crate::keys::with_checked_key(&self.signer, || decode_limited(T::KIND, body_bytes))?;
        if encoding::encode(&body) != body_bytes {
            return Err(DecodeError::NonCanonical.into());
        }
        if body.author() != &self.signer {
            return Err(ObjectError::new(
                Rule::SignerMismatch,
                format!(
                    "signed by {} but authored by {}",
                    self.signer.fmt_short(),
                    body.author().fmt_short()
                ),
            ));
        }
        body.check()?;
        let id = Hash32::of(&self.encoded);
        Ok(Signed {
            body,
            signer: self.signer,
            signature: self.signature,
            encoded: self.encoded,
            id,
        })
    }
}

/// The (digest, signer, signature) of a signed object's envelope, for [`batch_prefilter`],
/// without verifying anything. `None` for composite kinds and for bytes that do not parse.
pub fn envelope_parts(bytes: &[u8]) -> Option<([u8; 32], PublicKey, Signature)> {
    let kind = Kind::from_tag(*bytes.first()?)?;
    if kind.is_composite() {
        return None;
    }
    let wire: SignedWire<'_> = decode_limited(kind, bytes).ok()?;
    let signer = PublicKey::from_bytes(&wire.signer).ok()?;
    Some((signing_digest(kind, wire.body), signer, wire.signature))
}

/// Batch-verifies many (digest, signer, signature) triples at once. `true` means all are
/// valid under ordinary (cofactored, non-strict) Ed25519: use it only as a fast pre-filter and
/// still call [`Envelope::verify`] on each object. `false` means at least one is bad.
pub fn batch_prefilter(items: &[([u8; 32], PublicKey, Signature)]) -> bool {
    let mut keys = Vec::with_capacity(items.len());
    for (_, key, _) in items {
        match key.to_dalek() {
            Some(k) => keys.push(k),
            None => return false,
        }
    }
    let messages: Vec<&[u8]> = items.iter().map(|(d, _, _)| d.as_slice()).collect();
    let signatures: Vec<ed25519_dalek::Signature> =
        items.iter().map(|(_, _, s)| s.to_dalek()).collect();
    ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_ok()
}

/// A verified signed object: the body is valid, canonical, authored by `signer`, and the
/// signature holds over exactly [`Signed::encoded`].
#[derive(Clone)]
pub struct Signed<T> {
    body: T,
    signer: PublicKey,
    signature: Signature,
    encoded: Arc<[u8]>,
    id: ObjectId,
}

impl<T: SignedBody> Signed<T> {
    /// Signs `body` with `key`, after checking that `key` is the body's author and that the
    /// body passes the kind's stateless rules.
    pub fn sign(body: T, key: &SecretKey) -> Result<Self, ObjectError> {
        if body.author() != &key.public() {
            return Err(ObjectError::new(
                Rule::SignerMismatch,
                format!(
                    "key {} cannot sign a body authored by {}",
                    key.public().fmt_short(),
                    body.author().fmt_short()
                ),
            ));
        }
        body.check()?;
        Ok(Self::sign_unchecked(body, key))
    }

    /// Signs without any check. For tests that need invalid objects; everything else should
    /// use [`Signed::sign`].
    #[doc(hidden)]
    pub fn sign_unchecked(body: T, key: &SecretKey) -> Self {
        let body_bytes = encoding::encode(&body);
        let signature = key.sign(&signing_digest(T::KIND, &body_bytes));
        let signer = key.public();
        let wire = SignedWire {
            kind: T::KIND.tag(),
            body: &body_bytes,
            signer: *signer.as_bytes(),
            signature,
        };
        let encoded: Arc<[u8]> = encoding::encode(&wire).into();
        let id = Hash32::of(&encoded);
        Self {
            body,
            signer,
            signature,
            encoded,
            id,
        }
    }

    /// Rebuilds an object from bytes that were fully verified before (by [`Signed::decode`] or
    /// [`Signed::sign`]) and kept since under an integrity check, such as the store's database
    /// (whose keys are the objects' blake3 ids). Skips the signature, key-validity,
    /// canonical-encoding and field checks (~50 µs per object); still refuses bytes that do not
    /// parse, within the kind's size limit, or whose author is not the signer.
    ///
    /// **Never use it on bytes from the network**: use [`Signed::decode`].
    pub fn decode_trusted(bytes: &[u8]) -> Result<Self, ObjectError> {
        crate::keys::with_trusted_keys(|| {
            let wire: SignedWire<'_> = decode_limited(T::KIND, bytes)?;
            if wire.kind != T::KIND.tag() {
                return Err(ObjectError::new(
                    Rule::WrongKind,
                    format!(
                        "expected {} (tag {}), got tag {}",
                        T::KIND,
                        T::KIND.tag(),
                        wire.kind
                    ),
                ));
            }
            let body: T = decode_limited(T::KIND, wire.body)?;
            if body.author().as_bytes() != &wire.signer {
                return Err(ObjectError::new(
                    Rule::SignerMismatch,
                    "author is not the signer",
                ));
            }
            Ok(Self {
                signer: *body.author(),
                body,
                signature: wire.signature,
                encoded: Arc::from(bytes),
                id: Hash32::of(bytes),
            })
        })
    }

    /// Decodes and verifies untrusted bytes (see [`Envelope::parse`] and [`Envelope::verify`]).
    /// Time rules are separate: see [`crate::TimeRules`].
    pub fn decode(bytes: &[u8]) -> Result<Self, ObjectError> {
        Self::decode_with(bytes, None)
    }

    /// [`Signed::decode`], taking the signer's checked key from `keys` when it holds it.
    pub fn decode_with(bytes: &[u8], keys: Option<&KeyCache>) -> Result<Self, ObjectError> {
        Envelope::<T>::parse_with(bytes, keys)?.verify()
    }

    /// The verified body.
    pub fn body(&self) -> &T {
        &self.body
    }

    /// The verified body, by value.
    pub fn into_body(self) -> T {
        self.body
    }

    /// The key that signed (equal to the body's author).
    pub fn signer(&self) -> &PublicKey {
        &self.signer
    }

    /// The signature.
    pub fn signature(&self) -> &Signature {
        &self.signature
    }

    /// The object id: blake3 of [`Signed::encoded`].
    pub fn id(&self) -> ObjectId {
        self.id
    }

    /// When the body was signed.
    pub fn created_at(&self) -> Timestamp {
        self.body.created_at()
    }

    /// When the body stops being valid.
    pub fn expires_at(&self) -> Timestamp {
        self.body.expires_at()
    }

    /// The exact signed encoding, as received or produced.
    pub fn encoded(&self) -> &[u8] {
        &self.encoded
    }

    /// A cheap shared handle to the encoding.
    pub fn encoded_arc(&self) -> Arc<[u8]> {
        self.encoded.clone()
    }
}

impl<T: fmt::Debug> fmt::Debug for Signed<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signed")
            .field("id", &self.id)
            .field("signer", &self.signer)
            .field("body", &self.body)
            .finish()
    }
}

impl<T> PartialEq for Signed<T> {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl<T> Eq for Signed<T> {}
