//! Seeds for the network's own framing and for ids that arrive as text. Frames and fetch
//! messages are written with the codec's own writers, behind the limit bytes the targets read
//! first.

use crate::Seeds;
use runnet_p2p::fuzzing::{FetchLimits, frame, write_request, write_response};
use runnet_p2p::peer_id_of;
use runnet_types::{Address, Hash, SecretKey, VrfSecretKey};

pub fn frames() -> Seeds {
    // The target's limit is the first two bytes (little endian) plus one: 1024 here.
    let with_limit = |frames: &[&[u8]], tail: &[u8]| {
        let mut out = 1023u16.to_le_bytes().to_vec();
        for body in frames {
            out.extend(frame(body).expect("a small frame encodes"));
        }
        out.extend_from_slice(tail);
        out
    };
    let big = vec![0xab; 1024];
    vec![
        ("frames", with_limit(&[b"hello", &[1; 100], &big], &[])),
        ("oversized", with_limit(&[b"ok"], &1025u32.to_be_bytes())),
        ("empty", with_limit(&[b"ok"], &[0, 0, 0, 0])),
        ("truncated", with_limit(&[], &[0, 0, 0, 9, 1, 2, 3])),
    ]
}

pub fn fetches() -> Seeds {
    // Head: digests % 32 + 1, then the batch limit and the response limit's extra (u16 each,
    // little endian): 8 digests, 1024-byte batches, 2047-byte responses.
    let limits = FetchLimits {
        max_digests: 8,
        max_batch_bytes: 1024,
        max_response_bytes: 2047,
    };
    let head = [7u8, 0xff, 0x03, 0xff, 0x03];
    let with_head = |wire: Vec<u8>| [head.as_slice(), &wire].concat();
    let digests = vec![Hash([1; 32]), Hash([2; 32]), Hash([3; 32])];
    let request = write_request(digests, limits).expect("a small request encodes");
    let batches = vec![vec![5; 100], vec![6; 1000], vec![]];
    let response = write_response(batches, limits).expect("a small response encodes");
    vec![
        ("request", with_head(request)),
        ("response", with_head(response)),
        ("over_limit", with_head(vec![0, 0, 0, 9])),
    ]
}

pub fn ids() -> Seeds {
    let key = SecretKey::from_seed([1; 32]);
    let signature = key.sign(runnet_types::Domain::Transaction, b"seed");
    let peer = peer_id_of([7; 32]).expect("a node key seed gives a peer id");
    let texts = [
        ("hash", Hash::digest(b"seed").to_string()),
        ("address", Address([0xab; 20]).to_string()),
        ("address_bare", hex_upper(&[0xcd; 20])),
        ("public_key", key.public().to_string()),
        ("signature", signature.to_string()),
        (
            "vrf_key",
            VrfSecretKey::from_seed([2; 32]).public().to_string(),
        ),
        ("listen", "/ip4/127.0.0.1/tcp/9000".into()),
        ("socket", "127.0.0.1:9000".into()),
        ("socket6", "[::1]:9000".into()),
        ("bootstrap", format!("/ip4/10.0.0.1/tcp/1/p2p/{peer}")),
    ];
    texts
        .into_iter()
        .map(|(name, text)| (name, text.into_bytes()))
        .collect()
}

/// Upper-case hex: parsing accepts any case, and the printed form is lower case.
fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}
