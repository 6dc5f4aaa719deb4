//! Batch fetch requests and responses as the request-response codec reads them from a peer:
//! counts and lengths stay within the limits, and what is read re-encodes to the bytes read.
#![no_main]

use libfuzzer_sys::fuzz_target;
use runnet_p2p::fuzzing::{
    FetchLimits, Request, read_request, read_response, trim_response, write_request, write_response,
};

fuzz_target!(|data: &[u8]| {
    // Five bytes of limits, small enough that inputs of a few kilobytes cross them; the response
    // limit holds at least one batch, as `Limits::validate` requires.
    let Some((head, wire)) = data.split_first_chunk::<5>() else {
        return;
    };
    let max_batch_bytes = usize::from(u16::from_le_bytes([head[1], head[2]])) + 1;
    let limits = FetchLimits {
        max_digests: usize::from(head[0] % 32) + 1,
        max_batch_bytes,
        max_response_bytes: max_batch_bytes + usize::from(u16::from_le_bytes([head[3], head[4]])),
    };

    let (request, consumed) = read_request(wire, limits);
    match request {
        Ok(Request::Digests(digests)) => {
            assert!(digests.len() <= limits.max_digests);
            assert_eq!(consumed, 4 + 32 * digests.len());
            let again = write_request(digests, limits).expect("a read request encodes");
            assert_eq!(again, &wire[..consumed]);
        }
        Ok(Request::OverLimit(count)) => {
            assert!(count > limits.max_digests);
            assert_eq!(
                consumed, 4,
                "an over-limit request is read no further than its count"
            );
        }
        Err(_) => {
            // Only a stream that ends early fails a request.
            let count = wire
                .first_chunk::<4>()
                .map(|c| u32::from_be_bytes(*c) as usize);
            assert!(count.is_none_or(|c| wire.len() < 4 + 32 * c));
        }
    }

    let (response, consumed) = read_response(wire, limits);
    if let Ok(batches) = response {
        assert!(batches.len() <= limits.max_digests);
        assert!(batches.iter().all(|b| b.len() <= limits.max_batch_bytes));
        assert!(batches.iter().map(Vec::len).sum::<usize>() <= limits.max_response_bytes);
        let again = write_response(batches.clone(), limits).expect("a read response encodes");
        assert_eq!(again, &wire[..consumed]);
        // What a responder with the same limits would send back must be read whole.
        let trimmed = trim_response(limits, batches.len(), batches);
        let sent = write_response(trimmed.clone(), limits).expect("a trimmed response encodes");
        let (back, _) = read_response(&sent, limits);
        assert_eq!(back.expect("a trimmed response is readable"), trimmed);
    }
});
