//! The canonical encoding: one fixed bincode configuration, size-limited decoding, and bounded
//! collections so that a hostile length prefix can never make us allocate beyond a limit.

use std::fmt;
use std::ops::Deref;

use serde::de::{self, DeserializeOwned, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// The one bincode configuration Flashback uses for every signed body and envelope:
/// little-endian, variable-length integers (bincode's `standard()`).
///
/// Canonicality does not rely on the decoder: after decoding, the body is re-encoded and must
/// equal the received bytes, so every object has exactly one valid encoding.
pub fn config() -> bincode::config::Configuration {
    bincode::config::standard()
}

/// Why bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input is larger than the limit for its kind.
    #[error("{len} bytes exceed the {limit}-byte limit")]
    TooLarge {
        /// Input length.
        len: usize,
        /// The limit that applied.
        limit: usize,
    },
    /// Bytes were left over after a complete value.
    #[error("{0} trailing bytes after a complete value")]
    Trailing(usize),
    /// The bytes do not form a value of the expected shape.
    #[error("malformed: {0}")]
    Malformed(String),
    /// The value decoded, but its encoding is not the canonical one.
    #[error("non-canonical encoding")]
    NonCanonical,
}

/// Encodes `value` with the canonical configuration.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    // Encoding our own types into a Vec cannot fail: there is no I/O and no limit on encode.
    bincode::serde::encode_to_vec(value, config()).expect("encoding into a Vec cannot fail")
}

/// Decodes one `T` from `bytes`, refusing inputs larger than `LIMIT`, trailing bytes, and any
/// length prefix that would make the decoder allocate more than `LIMIT` bytes.
pub fn decode<T: DeserializeOwned, const LIMIT: usize>(bytes: &[u8]) -> Result<T, DecodeError> {
    if bytes.len() > LIMIT {
        return Err(DecodeError::TooLarge {
            len: bytes.len(),
            limit: LIMIT,
        });
    }
    let cfg = config().with_limit::<LIMIT>();
    let (value, used) = bincode::serde::decode_from_slice::<T, _>(bytes, cfg)
        .map_err(|e| DecodeError::Malformed(e.to_string()))?;
    if used != bytes.len() {
        return Err(DecodeError::Trailing(bytes.len() - used));
    }
    Ok(value)
}

/// Like [`decode`], and also requires that re-encoding gives back exactly `bytes`.
pub fn decode_canonical<T: Serialize + DeserializeOwned, const LIMIT: usize>(
    bytes: &[u8],
) -> Result<T, DecodeError> {
    let value = decode::<T, LIMIT>(bytes)?;
    if encode(&value) != bytes {
        return Err(DecodeError::NonCanonical);
    }
    Ok(value)
}

/// How many bytes the canonical configuration takes for an unsigned integer (a length) of
/// value `n`: one byte below 251, else a marker byte (251, 252, 253) and 2, 4 or 8 bytes.
pub const fn varint_len(n: usize) -> usize {
    if n < 251 {
        1
    } else if n <= u16::MAX as usize {
        3
    } else if n <= u32::MAX as usize {
        5
    } else {
        9
    }
}

/// A `Vec` holding at most `N` items. Decoding refuses a longer sequence before allocating.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BoundedVec<T, const N: usize>(Vec<T>);

impl<T, const N: usize> Default for BoundedVec<T, N> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<T, const N: usize> BoundedVec<T, N> {
    /// The maximum number of items.
    pub const MAX: usize = N;

    /// An empty vector.
    pub fn new() -> Self {
        Self(Vec::new())
    }

    /// Wraps `items` if there are at most `N`.
    pub fn try_from_vec(items: Vec<T>) -> Result<Self, LengthError> {
        if items.len() > N {
            return Err(LengthError {
                len: items.len(),
                max: N,
            });
        }
        Ok(Self(items))
    }

    /// The items.
    pub fn into_inner(self) -> Vec<T> {
        self.0
    }

    /// The items as a slice.
    pub fn as_slice(&self) -> &[T] {
        &self.0
    }
}

impl<T, const N: usize> Deref for BoundedVec<T, N> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        &self.0
    }
}

impl<T: fmt::Debug, const N: usize> fmt::Debug for BoundedVec<T, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<T, const N: usize> TryFrom<Vec<T>> for BoundedVec<T, N> {
    type Error = LengthError;

    fn try_from(items: Vec<T>) -> Result<Self, LengthError> {
        Self::try_from_vec(items)
    }
}

/// A collection or string was longer than its bound.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{len} items or bytes, more than the maximum of {max}")]
pub struct LengthError {
    /// Actual length.
    pub len: usize,
    /// Allowed maximum.
    pub max: usize,
}

impl<T: Serialize, const N: usize> Serialize for BoundedVec<T, N> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de, T: Deserialize<'de>, const N: usize> Deserialize<'de> for BoundedVec<T, N> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct BoundedVisitor<T, const N: usize>(std::marker::PhantomData<T>);

        impl<'de, T: Deserialize<'de>, const N: usize> Visitor<'de> for BoundedVisitor<T, N> {
            type Value = BoundedVec<T, N>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a sequence of at most {N} items")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let hint = seq.size_hint().unwrap_or(0);
                if hint > N {
                    return Err(de::Error::invalid_length(hint, &self));
                }
                let mut items = Vec::with_capacity(hint);
                while let Some(item) = seq.next_element()? {
                    if items.len() == N {
                        return Err(de::Error::invalid_length(N + 1, &self));
                    }
                    items.push(item);
                }
                Ok(BoundedVec(items))
            }
        }

        deserializer.deserialize_seq(BoundedVisitor::<T, N>(std::marker::PhantomData))
    }
}

/// A UTF-8 string of at most `N` bytes.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct BoundedString<const N: usize>(String);

impl<const N: usize> BoundedString<N> {
    /// The maximum length in bytes.
    pub const MAX: usize = N;

    /// Wraps `s` if it is at most `N` bytes long.
    pub fn new(s: impl Into<String>) -> Result<Self, LengthError> {
        let s = s.into();
        if s.len() > N {
            return Err(LengthError {
                len: s.len(),
                max: N,
            });
        }
        Ok(Self(s))
    }

    /// The string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<const N: usize> Deref for BoundedString<N> {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl<const N: usize> fmt::Debug for BoundedString<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<const N: usize> fmt::Display for BoundedString<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<const N: usize> TryFrom<&str> for BoundedString<N> {
    type Error = LengthError;

    fn try_from(s: &str) -> Result<Self, LengthError> {
        Self::new(s)
    }
}

impl<const N: usize> Serialize for BoundedString<N> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de, const N: usize> Deserialize<'de> for BoundedString<N> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // The decoder's byte limit already bounds the allocation for the string itself.
        let s = String::deserialize(deserializer)?;
        Self::new(s).map_err(de::Error::custom)
    }
}
