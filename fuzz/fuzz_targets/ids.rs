//! The hex ids and addresses that arrive as text: API path parameters (`/v1/tx/{hash}`,
//! `/v1/account/{address}`, service, runner, execution, process and event ids), keys in genesis
//! and key files, and the listen and bootstrap addresses of `config.toml` (`parse_address`).
//! Whatever parses must print back to text that parses to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use runnet_p2p::parse_address;
use runnet_types::{Address, Hash, PublicKey, Signature, VrfPublicKey};
use std::fmt::Display;
use std::str::FromStr;

/// Parses `text` as a `T`; what parses must print as lowercase hex of the same digits.
fn hex_id<T: FromStr + Display + PartialEq + std::fmt::Debug>(text: &str, prefix: &str) {
    let Ok(value) = text.parse::<T>() else {
        return;
    };
    let shown = value.to_string();
    let digits = |s: &str| s.strip_prefix(prefix).unwrap_or(s).to_ascii_lowercase();
    assert_eq!(digits(&shown), digits(text));
    assert!(shown.parse::<T>().is_ok_and(|back| back == value));
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    hex_id::<Hash>(text, "");
    hex_id::<Address>(text, "0x");
    hex_id::<PublicKey>(text, "");
    hex_id::<Signature>(text, "");
    hex_id::<VrfPublicKey>(text, "");
    if let Ok(address) = parse_address(text) {
        let again = parse_address(&address.to_string()).expect("a printed address parses");
        assert_eq!(again, address);
    }
});
