//! Fixed-size byte newtypes (hashes, keys, signatures) with one serde rule: hex text in
//! human-readable formats (JSON files, the API), raw fixed-width bytes in the binary encoding, so a
//! 32-byte hash costs 32 bytes on the wire and reads naturally in a genesis file.

use serde::de::{Error as _, SeqAccess, Visitor};
use serde::{Deserializer, Serializer};
use std::fmt;

pub(crate) fn serialize_fixed<S: Serializer, const N: usize>(
    bytes: &[u8; N],
    prefix: &str,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    if serializer.is_human_readable() {
        serializer.serialize_str(&format!("{prefix}{}", hex::encode(bytes)))
    } else {
        use serde::ser::SerializeTuple;
        let mut tuple = serializer.serialize_tuple(N)?;
        for byte in bytes {
            tuple.serialize_element(byte)?;
        }
        tuple.end()
    }
}

pub(crate) fn deserialize_fixed<'de, D: Deserializer<'de>, const N: usize>(
    deserializer: D,
    prefix: &str,
) -> Result<[u8; N], D::Error> {
    if deserializer.is_human_readable() {
        let text = <String as serde::Deserialize>::deserialize(deserializer)?;
        parse_hex_fixed::<N>(&text, prefix).map_err(D::Error::custom)
    } else {
        struct ArrayVisitor<const N: usize>;
        impl<'de, const N: usize> Visitor<'de> for ArrayVisitor<N> {
            type Value = [u8; N];
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "{N} bytes")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<[u8; N], A::Error> {
                let mut out = [0u8; N];
                for (i, slot) in out.iter_mut().enumerate() {
                    *slot = seq
                        .next_element()?
                        .ok_or_else(|| A::Error::invalid_length(i, &self))?;
                }
                Ok(out)
            }
        }
        deserializer.deserialize_tuple(N, ArrayVisitor::<N>)
    }
}

/// Parses `N` bytes of hex, with an optional `prefix` (such as `0x`) accepted but not required.
pub fn parse_hex_fixed<const N: usize>(text: &str, prefix: &str) -> Result<[u8; N], String> {
    let digits = if prefix.is_empty() {
        text
    } else {
        text.strip_prefix(prefix).unwrap_or(text)
    };
    if digits.len() != 2 * N {
        return Err(format!(
            "expected {} hex digits{}, got {} characters",
            2 * N,
            if prefix.is_empty() {
                String::new()
            } else {
                format!(" after '{prefix}'")
            },
            digits.len()
        ));
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(digits, &mut out).map_err(|e| format!("invalid hex: {e}"))?;
    Ok(out)
}

/// Declares a `[u8; N]` newtype with hex `Display`/`Debug`/`FromStr` and the serde rule above.
macro_rules! fixed_bytes {
    ($(#[$meta:meta])* $name:ident, $len:expr, $prefix:expr) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub [u8; $len]);

        impl $name {
            pub const LEN: usize = $len;
            pub fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }
            pub fn from_slice(bytes: &[u8]) -> Option<Self> {
                <[u8; $len]>::try_from(bytes).ok().map(Self)
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self([0; $len])
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}{}", $prefix, hex::encode(self.0))
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}({}{})", stringify!($name), $prefix, hex::encode(self.0))
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(text: &str) -> Result<Self, String> {
                $crate::bytes::parse_hex_fixed::<$len>(text, $prefix).map(Self)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                $crate::bytes::serialize_fixed(&self.0, $prefix, s)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                $crate::bytes::deserialize_fixed::<D, $len>(d, $prefix).map(Self)
            }
        }
    };
}
pub(crate) use fixed_bytes;
