//! The one canonical binary encoding: bincode 2 through serde, little endian, fixed-width
//! integers, with a hard limit on how many bytes one decode may consume or allocate.
//!
//! Canonical means decode-then-encode gives back the same bytes: `decode` refuses anything else
//! (trailing bytes, a map out of order, a non-minimal form), so a value has exactly one encoding and
//! its hash is well defined. Wire types are never recursive, so decoding depth is bounded by the
//! type itself; variable-depth data (schemas, records) travels as bytes parsed by bounded parsers.

use crate::hash::Hash;
use bincode::config::{Configuration, Fixint, Limit, LittleEndian};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// No single decoded value may exceed this (a block's transactions are decoded one by one).
pub const MAX_DECODE_BYTES: usize = 32 << 20;

type Config = Configuration<LittleEndian, Fixint, Limit<MAX_DECODE_BYTES>>;

const CONFIG: Config = bincode::config::standard()
    .with_little_endian()
    .with_fixed_int_encoding()
    .with_limit::<MAX_DECODE_BYTES>();

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("input of {len} bytes exceeds the limit of {limit} bytes")]
    TooLarge { len: usize, limit: usize },
    #[error("malformed encoding: {0}")]
    Malformed(String),
    #[error("{0} trailing bytes after the value")]
    TrailingBytes(usize),
    #[error("not the canonical encoding of the value")]
    NotCanonical,
}

/// Encodes a value canonically.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    encode_into(value, &mut out);
    out
}

/// Appends the canonical encoding of `value` to `out`.
pub fn encode_into<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) {
    // Writing into a Vec cannot fail for our types: none has a custom Serialize that errors, none
    // serializes a sequence of unknown length, and the limit applies to decoding only.
    #[allow(clippy::expect_used)]
    bincode::serde::encode_into_std_write(value, out, CONFIG)
        .expect("encoding runnet types into memory is infallible");
}

/// Decodes a value, refusing oversized input, trailing bytes and non-canonical forms.
pub fn decode<T: Serialize + DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    decode_with_limit(bytes, MAX_DECODE_BYTES)
}

/// As [`decode`], with a tighter size limit for one kind of message.
pub fn decode_with_limit<T: Serialize + DeserializeOwned>(
    bytes: &[u8],
    limit: usize,
) -> Result<T, DecodeError> {
    if bytes.len() > limit.min(MAX_DECODE_BYTES) {
        return Err(DecodeError::TooLarge {
            len: bytes.len(),
            limit: limit.min(MAX_DECODE_BYTES),
        });
    }
    let (value, read): (T, usize) = bincode::serde::decode_from_slice(bytes, CONFIG)
        .map_err(|e| DecodeError::Malformed(e.to_string()))?;
    if read != bytes.len() {
        return Err(DecodeError::TrailingBytes(bytes.len() - read));
    }
    if !encodes_to(&value, bytes) {
        return Err(DecodeError::NotCanonical);
    }
    Ok(value)
}

/// Whether `value` encodes to exactly `bytes`, compared as the encoding streams out instead of
/// built in a buffer: re-encoding each decoded batch into a growing `Vec` was the largest memory
/// copy of a loaded node.
fn encodes_to<T: Serialize + ?Sized>(value: &T, bytes: &[u8]) -> bool {
    let mut same = SameBytes {
        rest: bytes,
        same: true,
    };
    bincode::serde::encode_into_std_write(value, &mut same, CONFIG).is_ok()
        && same.same
        && same.rest.is_empty()
}

/// A writer that only checks that what it is given follows `rest`.
struct SameBytes<'a> {
    rest: &'a [u8],
    same: bool,
}

impl std::io::Write for SameBytes<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self.rest.strip_prefix(buf) {
            Some(rest) if self.same => self.rest = rest,
            _ => self.same = false,
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The length of `value`'s canonical encoding, counted as it streams out (no buffer).
pub fn encoded_len<T: Serialize + ?Sized>(value: &T) -> usize {
    let mut counter = CountingWriter(0);
    // Cannot fail for the reasons `encode_into` gives; the counter never returns an error.
    match bincode::serde::encode_into_std_write(value, &mut counter, CONFIG) {
        Ok(_) => counter.0,
        Err(_) => usize::MAX,
    }
}

struct CountingWriter(usize);

impl std::io::Write for CountingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 = self.0.saturating_add(buf.len());
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// blake3 of the canonical encoding: the one way runnet hashes a structured value or a tuple of
/// values (docs/economy.md, "Encoding of hashed values").
pub fn hash_of<T: Serialize + ?Sized>(value: &T) -> Hash {
    let mut writer = HashWriter {
        hasher: blake3::Hasher::new(),
        buf: [0; HASH_BUFFER_BYTES],
        len: 0,
    };
    // Serializing through a buffer on the stack: no allocation, and the hasher gets a few
    // chunk-sized updates instead of one per field (each update costs about as much as hashing
    // the few bytes a field has, and a value spanning chunks is hashed with SIMD only when
    // they come in one update). It cannot fail for the reasons `encode_into` gives, and
    // `HashWriter::write` never returns an error.
    #[allow(clippy::expect_used)]
    bincode::serde::encode_into_std_write(value, &mut writer, CONFIG)
        .expect("encoding runnet types into a hasher is infallible");
    writer.drain();
    Hash(*writer.hasher.finalize().as_bytes())
}

/// What [`hash_of`] gathers before it hands bytes to the hasher: four of blake3's 1 KiB chunks,
/// so a large value is hashed four chunks at a time.
const HASH_BUFFER_BYTES: usize = 4096;

struct HashWriter {
    hasher: blake3::Hasher,
    buf: [u8; HASH_BUFFER_BYTES],
    len: usize,
}

impl HashWriter {
    fn drain(&mut self) {
        self.hasher.update(&self.buf[..self.len]);
        self.len = 0;
    }
}

impl std::io::Write for HashWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if self.len + bytes.len() > HASH_BUFFER_BYTES {
            self.drain();
            if bytes.len() >= HASH_BUFFER_BYTES {
                self.hasher.update(bytes);
                return Ok(bytes.len());
            }
        }
        self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn hash_of_is_blake3_of_the_encoding_whatever_the_writes() {
        // Small fields, fields that straddle the buffer, and fields larger than it.
        for sizes in [
            vec![],
            vec![1, 2, 3],
            vec![4_000, 200],
            vec![4_095, 1, 1],
            vec![4_096],
            vec![10_000, 3, 9_000],
            (0..3_000).map(|i| i % 7).collect(),
        ] {
            let value: Vec<Vec<u8>> = sizes
                .iter()
                .enumerate()
                .map(|(i, n)| vec![i as u8; *n])
                .collect();
            let tuple = ("domain", 7u64, &value);
            assert_eq!(hash_of(&tuple).0, *blake3::hash(&encode(&tuple)).as_bytes());
        }
    }

    #[test]
    fn round_trip_is_exact() {
        let value = (7u64, "exec".to_string(), vec![1u8, 2, 3], Some(true));
        let bytes = encode(&value);
        let back: (u64, String, Vec<u8>, Option<bool>) = decode(&bytes).unwrap();
        assert_eq!(back, value);
    }

    #[test]
    fn integers_are_fixed_width_little_endian() {
        assert_eq!(encode(&1u64), vec![1, 0, 0, 0, 0, 0, 0, 0]);
        // a string is a u64 length then its bytes
        assert_eq!(encode("ab"), vec![2, 0, 0, 0, 0, 0, 0, 0, b'a', b'b']);
    }

    #[test]
    fn trailing_bytes_are_refused() {
        let mut bytes = encode(&5u32);
        bytes.push(0);
        assert_eq!(decode::<u32>(&bytes), Err(DecodeError::TrailingBytes(1)));
    }

    #[test]
    fn huge_length_prefix_is_an_error_not_an_allocation() {
        // A Vec<u8> claiming 2^62 elements followed by nothing.
        let mut bytes = (1u64 << 62).to_le_bytes().to_vec();
        bytes.extend_from_slice(&[1, 2, 3]);
        assert!(matches!(
            decode::<Vec<u8>>(&bytes),
            Err(DecodeError::Malformed(_))
        ));
        let mut nested = (1u64 << 40).to_le_bytes().to_vec();
        nested.extend_from_slice(&[0; 16]);
        assert!(decode::<Vec<Vec<u64>>>(&nested).is_err());
    }

    #[test]
    fn oversized_input_is_refused_before_decoding() {
        let bytes = vec![0u8; 100];
        assert!(matches!(
            decode_with_limit::<Vec<u8>>(&bytes, 50),
            Err(DecodeError::TooLarge {
                len: 100,
                limit: 50
            })
        ));
    }

    #[test]
    fn encodes_to_compares_every_byte_and_the_length() {
        let value = (7u32, vec![1u8, 2, 3]);
        let bytes = encode(&value);
        assert!(encodes_to(&value, &bytes));
        assert!(!encodes_to(&value, &bytes[..bytes.len() - 1]));
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(!encodes_to(&value, &longer));
        let mut other = bytes.clone();
        other[0] = 8;
        assert!(!encodes_to(&value, &other));
        let last = other.len() - 1;
        other[0] = 7;
        other[last] = 9;
        assert!(!encodes_to(&value, &other));
    }

    #[test]
    fn unsorted_map_is_not_canonical() {
        // Encode a map by hand with keys 2 then 1: decoding sorts it, re-encoding differs.
        let mut bytes = 2u64.to_le_bytes().to_vec();
        for (k, v) in [(2u8, 20u8), (1, 10)] {
            bytes.push(k);
            bytes.push(v);
        }
        assert_eq!(
            decode::<BTreeMap<u8, u8>>(&bytes),
            Err(DecodeError::NotCanonical)
        );
    }

    #[test]
    fn bad_bool_and_option_tags_are_refused() {
        assert!(decode::<bool>(&[2]).is_err());
        assert!(decode::<Option<u8>>(&[2, 0]).is_err());
    }

    #[test]
    fn hash_of_matches_hash_of_encoding() {
        let value = ("seed", 42u64);
        assert_eq!(hash_of(&value), Hash::digest(&encode(&value)));
    }
}
