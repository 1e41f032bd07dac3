//! Sealing access credentials to a consumer's key: what an [`AccessGrant`] carries.
//!
//! The construction is HPKE (RFC 9180) in base mode with DHKEM(X25519, HKDF-SHA256),
//! HKDF-SHA256 and ChaCha20-Poly1305, through the `hpke` crate. The recipient's X25519 key is
//! its Ed25519 account key in Montgomery form (the secret: the first half of SHA-512 of the
//! seed, as libsodium's `crypto_sign_ed25519_sk_to_curve25519`), so a consumer needs no second
//! key: whoever holds the key that signed the proposal, and only they, can open the grant.
//!
//! - HPKE `info` = `flashback/v1/access_grant` (the domain, as for signatures);
//! - associated data = agreement id ‖ provider key ‖ consumer key (32 bytes each), so a
//!   ciphertext opens only inside a grant for the same agreement between the same parties;
//! - plaintext = the canonical encoding of [`AccessCredentials`], which names the agreement,
//!   the provider and the consumer again: [`open`] checks them against the grant.
//!
//! Only [`open`] ever holds the plaintext; the credentials' secret is zeroized on drop and never
//! printed ([`Secret`]'s `Debug` is redacted and it has no `Display` or `Serialize`).
//!
//! ```
//! use flashback_types::seal::{self, AccessCredentials, Secret};
//! use flashback_types::{DataProtocol, Hash32, SecretKey};
//!
//! let (provider, consumer) = (SecretKey::generate(), SecretKey::generate());
//! let credentials = AccessCredentials {
//!     agreement: Hash32::of(b"proposal"),
//!     provider: provider.public(),
//!     consumer: consumer.public(),
//!     protocol: DataProtocol::S3,
//!     endpoint: "http://127.0.0.1:9000".try_into().unwrap(),
//!     bucket: "fb-1".try_into().unwrap(),
//!     region: "us-east-1".try_into().unwrap(),
//!     access_key: "AKFB1".try_into().unwrap(),
//!     secret: Secret::new("not for anyone else").unwrap(),
//!     expires_at: 0,
//! };
//! let grant = seal::grant(&provider, &credentials, 1_800_000_000, 1_800_086_400).unwrap();
//! let opened = seal::open(grant.body(), &consumer).unwrap();
//! assert_eq!(opened.secret.expose(), "not for anyone else");
//! assert!(seal::open(grant.body(), &SecretKey::generate()).is_err());
//! ```

use std::fmt;

use hpke::aead::ChaCha20Poly1305;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, OpModeR, OpModeS, Serializable};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::bodies::{AccessGrant, DataProtocol, ObjectId, Sealed, ShortText, Text, Timestamp};
use crate::encoding::{self, BoundedVec};
use crate::keys::{PublicKey, SecretKey};
use crate::kind::Kind;
use crate::signed::Signed;

/// Largest sealed plaintext plus its tag, bytes.
pub const MAX_SEALED_BYTES: usize = 2048;
/// The AEAD tag's length (ChaCha20-Poly1305), bytes.
pub const TAG_BYTES: usize = 16;
/// Largest secret, bytes.
pub const MAX_SECRET_BYTES: usize = 1024;

type Kem = X25519HkdfSha256;

/// Why credentials could not be sealed or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// The grant was not sealed to this key, or its bytes were altered.
    #[error(
        "cannot open the access grant: it is not sealed to this key (use the key that signed \
         the proposal), or it was altered"
    )]
    NotForThisKey,
    /// The grant opened, but what it holds names another agreement or party than the grant.
    #[error(
        "the sealed credentials name another {0} than their grant: the provider sent a broken grant"
    )]
    Mismatch(&'static str),
    /// The credentials do not fit in a grant.
    #[error("the credentials take {0} bytes sealed, more than a grant holds ({MAX_SEALED_BYTES})")]
    TooLarge(usize),
    /// A key cannot be used for sealing.
    #[error("{0}")]
    Key(String),
    /// The grant could not be signed.
    #[error("the access grant is not valid: {0}")]
    Invalid(String),
}

/// A secret string (a password, a secret access key, a bearer token): at most
/// [`MAX_SECRET_BYTES`] bytes, zeroized on drop, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// Wraps `s`, refusing one longer than [`MAX_SECRET_BYTES`].
    pub fn new(s: impl Into<String>) -> Result<Self, SealError> {
        let s = Zeroizing::new(s.into());
        if s.len() > MAX_SECRET_BYTES {
            return Err(SealError::TooLarge(s.len()));
        }
        Ok(Self(s))
    }

    /// The secret itself. Hand it only to the data plane, or to a user who asked for it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(redacted)")
    }
}

/// Access to a provider's data plane for one agreement: what a grant seals. Fields a protocol
/// does not use are empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessCredentials {
    /// The agreement (the id of its accepted proposal).
    pub agreement: ObjectId,
    /// The provider.
    pub provider: PublicKey,
    /// The consumer.
    pub consumer: PublicKey,
    /// The data protocol these credentials open.
    pub protocol: DataProtocol,
    /// Where the data plane is reached (a URL).
    pub endpoint: Text,
    /// The consumer's bucket (S3) or namespace.
    pub bucket: ShortText,
    /// The signing region (S3), e.g. `us-east-1`.
    pub region: ShortText,
    /// The access key id (S3); empty for bearer tokens.
    pub access_key: Text,
    /// The secret: S3 secret access key, or bearer token.
    pub secret: Secret,
    /// When the provider revokes them, Unix seconds (0: at the agreement's end or termination).
    pub expires_at: Timestamp,
}

/// The plaintext's wire form (a private mirror, so that nothing outside this module can
/// serialize credentials by accident).
#[derive(Serialize, Deserialize)]
struct Plain {
    agreement: ObjectId,
    provider: PublicKey,
    consumer: PublicKey,
    protocol: DataProtocol,
    endpoint: Text,
    bucket: ShortText,
    region: ShortText,
    access_key: Text,
    secret: Zeroizing<String>,
    expires_at: Timestamp,
}

const INFO: &[u8] = Kind::AccessGrant.domain().as_bytes();

fn aad(agreement: &ObjectId, provider: &PublicKey, consumer: &PublicKey) -> [u8; 96] {
    let mut aad = [0u8; 96];
    aad[..32].copy_from_slice(&agreement.0);
    aad[32..64].copy_from_slice(provider.as_bytes());
    aad[64..].copy_from_slice(consumer.as_bytes());
    aad
}

/// Seals `credentials` to their consumer's key.
pub fn seal(credentials: &AccessCredentials) -> Result<Sealed, SealError> {
    let c = credentials;
    let plain = Plain {
        agreement: c.agreement,
        provider: c.provider,
        consumer: c.consumer,
        protocol: c.protocol.clone(),
        endpoint: c.endpoint.clone(),
        bucket: c.bucket.clone(),
        region: c.region.clone(),
        access_key: c.access_key.clone(),
        secret: c.secret.0.clone(),
        expires_at: c.expires_at,
    };
    let bytes = Zeroizing::new(encoding::encode(&plain));
    let sealed_len = bytes.len() + TAG_BYTES;
    if sealed_len > MAX_SEALED_BYTES {
        return Err(SealError::TooLarge(sealed_len));
    }
    let x25519 = c
        .consumer
        .to_x25519()
        .ok_or_else(|| SealError::Key("the consumer's key has no X25519 form".into()))?;
    let recipient = <Kem as hpke::Kem>::PublicKey::from_bytes(&x25519)
        .map_err(|e| SealError::Key(format!("the consumer's key cannot be sealed to: {e}")))?;
    let (enc, ciphertext) = hpke::single_shot_seal::<ChaCha20Poly1305, HkdfSha256, Kem>(
        &OpModeS::Base,
        &recipient,
        INFO,
        &bytes,
        &aad(&c.agreement, &c.provider, &c.consumer),
    )
    .map_err(|e| SealError::Key(format!("sealing failed: {e}")))?;
    let mut enc_bytes = [0u8; 32];
    enc_bytes.copy_from_slice(&enc.to_bytes());
    Ok(Sealed {
        enc: enc_bytes,
        ciphertext: BoundedVec::try_from_vec(ciphertext)
            .map_err(|_| SealError::TooLarge(sealed_len))?,
    })
}

/// Seals `credentials` and signs the grant that carries them with `provider`, which must be
/// the credentials' provider. The grant lives from `created_at` to `expires_at` (normally the
/// agreement's end).
pub fn grant(
    provider: &SecretKey,
    credentials: &AccessCredentials,
    created_at: Timestamp,
    expires_at: Timestamp,
) -> Result<Signed<AccessGrant>, SealError> {
    if provider.public() != credentials.provider {
        return Err(SealError::Mismatch("provider"));
    }
    let body = AccessGrant {
        provider: credentials.provider,
        consumer: credentials.consumer,
        agreement: credentials.agreement,
        protocol: credentials.protocol.clone(),
        sealed: seal(credentials)?,
        created_at,
        expires_at,
    };
    Signed::sign(body, provider).map_err(|e| SealError::Invalid(e.detail))
}

/// Opens `grant` with `consumer`'s key: its credentials, checked to name the grant's
/// agreement, provider, consumer and protocol. Fails for any other key.
pub fn open(grant: &AccessGrant, consumer: &SecretKey) -> Result<AccessCredentials, SealError> {
    if consumer.public() != grant.consumer {
        return Err(SealError::NotForThisKey);
    }
    let secret = consumer.to_x25519();
    let recipient = <Kem as hpke::Kem>::PrivateKey::from_bytes(secret.as_ref())
        .map_err(|_| SealError::NotForThisKey)?;
    let enc = <Kem as hpke::Kem>::EncappedKey::from_bytes(&grant.sealed.enc)
        .map_err(|_| SealError::NotForThisKey)?;
    let bytes = Zeroizing::new(
        hpke::single_shot_open::<ChaCha20Poly1305, HkdfSha256, Kem>(
            &OpModeR::Base,
            &recipient,
            &enc,
            INFO,
            &grant.sealed.ciphertext,
            &aad(&grant.agreement, &grant.provider, &grant.consumer),
        )
        .map_err(|_| SealError::NotForThisKey)?,
    );
    // Authenticated by the provider's seal: still decoded with a limit, never trusted to fit.
    let plain: Plain = encoding::decode::<_, MAX_SEALED_BYTES>(&bytes)
        .map_err(|e| SealError::Invalid(format!("the sealed credentials do not decode: {e}")))?;
    if plain.agreement != grant.agreement {
        return Err(SealError::Mismatch("agreement"));
    }
    if plain.provider != grant.provider {
        return Err(SealError::Mismatch("provider"));
    }
    if plain.consumer != grant.consumer {
        return Err(SealError::Mismatch("consumer"));
    }
    if plain.protocol != grant.protocol {
        return Err(SealError::Mismatch("protocol"));
    }
    if plain.secret.len() > MAX_SECRET_BYTES {
        return Err(SealError::TooLarge(plain.secret.len()));
    }
    Ok(AccessCredentials {
        agreement: plain.agreement,
        provider: plain.provider,
        consumer: plain.consumer,
        protocol: plain.protocol,
        endpoint: plain.endpoint,
        bucket: plain.bucket,
        region: plain.region,
        access_key: plain.access_key,
        secret: Secret(plain.secret),
        expires_at: plain.expires_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Hash32;

    fn credentials(provider: &SecretKey, consumer: &SecretKey) -> AccessCredentials {
        AccessCredentials {
            agreement: Hash32::of(b"agreement"),
            provider: provider.public(),
            consumer: consumer.public(),
            protocol: DataProtocol::S3,
            endpoint: Text::new("http://127.0.0.1:9000").unwrap_or_default(),
            bucket: ShortText::new("fb-bucket").unwrap_or_default(),
            region: ShortText::new("us-east-1").unwrap_or_default(),
            access_key: Text::new("AKIDFLASHBACK").unwrap_or_default(),
            secret: Secret::new("s3cr3t-never-printed").expect("short"),
            expires_at: 0,
        }
    }

    #[test]
    fn only_the_consumer_opens_a_grant() {
        let (provider, consumer) = (SecretKey::generate(), SecretKey::generate());
        let c = credentials(&provider, &consumer);
        let grant = grant(&provider, &c, 100, 200).expect("sealed");
        let opened = open(grant.body(), &consumer).expect("the consumer opens it");
        assert_eq!(opened, c);
        assert_eq!(opened.secret.expose(), "s3cr3t-never-printed");

        // Any other key fails: another consumer, the provider itself.
        assert_eq!(
            open(grant.body(), &SecretKey::generate()),
            Err(SealError::NotForThisKey)
        );
        assert_eq!(open(grant.body(), &provider), Err(SealError::NotForThisKey));
        // Even a grant re-addressed to another key (the public field) does not open for it.
        let thief = SecretKey::generate();
        let mut readdressed = grant.body().clone();
        readdressed.consumer = thief.public();
        assert_eq!(open(&readdressed, &thief), Err(SealError::NotForThisKey));
        // The secret is in no encoding of the grant, and not in its Debug.
        let encoded = grant.encoded();
        assert!(!encoded.windows(b"s3cr3t".len()).any(|w| w == b"s3cr3t"));
        assert!(!format!("{:?}", opened).contains("s3cr3t"));
    }

    #[test]
    fn a_ciphertext_opens_only_in_its_own_grant() {
        let (provider, consumer) = (SecretKey::generate(), SecretKey::generate());
        let grant = grant(&provider, &credentials(&provider, &consumer), 100, 200).expect("sealed");
        // Moved to another agreement: the associated data differs.
        let mut moved = grant.body().clone();
        moved.agreement = Hash32::of(b"another agreement");
        assert_eq!(open(&moved, &consumer), Err(SealError::NotForThisKey));
        // One flipped bit.
        let mut flipped = grant.body().clone();
        let mut ct = flipped.sealed.ciphertext.into_inner();
        ct[3] ^= 1;
        flipped.sealed.ciphertext = BoundedVec::try_from_vec(ct).expect("same length");
        assert_eq!(open(&flipped, &consumer), Err(SealError::NotForThisKey));
    }

    #[test]
    fn oversized_secrets_are_refused() {
        assert!(Secret::new("x".repeat(MAX_SECRET_BYTES)).is_ok());
        assert!(Secret::new("x".repeat(MAX_SECRET_BYTES + 1)).is_err());
    }
}
