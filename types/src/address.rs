//! Account addresses: the first 20 bytes of blake3(ed25519 public key), shown as `0x` + 40 hex.

use crate::bytes::fixed_bytes;
use crate::crypto::PublicKey;
use crate::hash::Hash;

fixed_bytes!(
    /// An account address. `Display` and JSON use `0x` + 40 lowercase hex digits; parsing accepts
    /// the `0x` prefix or none, any case.
    Address,
    20,
    "0x"
);

impl Address {
    pub fn of(key: &PublicKey) -> Address {
        let digest = Hash::digest(&key.0);
        let mut out = [0u8; 20];
        out.copy_from_slice(&digest.0[..20]);
        Address(out)
    }
}

impl PublicKey {
    pub fn address(&self) -> Address {
        Address::of(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::SecretKey;

    #[test]
    fn address_is_prefix_of_key_hash_and_round_trips() {
        let key = SecretKey::from_seed([7; 32]).public();
        let address = key.address();
        assert_eq!(&address.0[..], &blake3::hash(&key.0).as_bytes()[..20]);
        let text = address.to_string();
        assert!(text.starts_with("0x") && text.len() == 42);
        assert_eq!(text.parse::<Address>(), Ok(address));
        assert_eq!(text[2..].parse::<Address>(), Ok(address));
        assert_eq!(
            text.to_uppercase().replace("0X", "0x").parse::<Address>(),
            Ok(address)
        );
        let json = serde_json::to_string(&address).unwrap();
        assert_eq!(json, format!("\"{text}\""));
        assert_eq!(serde_json::from_str::<Address>(&json).unwrap(), address);
    }

    #[test]
    fn bad_addresses_are_refused_with_a_reason() {
        assert!(
            "0x1234"
                .parse::<Address>()
                .unwrap_err()
                .contains("40 hex digits")
        );
        let not_hex = format!("0x{}", "zz".repeat(20));
        assert!(
            not_hex
                .parse::<Address>()
                .unwrap_err()
                .contains("invalid hex")
        );
        assert!(serde_json::from_str::<Address>("\"0xabc\"").is_err());
    }

    #[test]
    fn binary_encoding_is_20_raw_bytes() {
        let address = Address([3; 20]);
        assert_eq!(crate::encoding::encode(&address), vec![3; 20]);
    }
}
