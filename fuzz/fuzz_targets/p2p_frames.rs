//! The length-prefixed frames of the batch and consensus streams, read as an inbound stream
//! reads them: no frame is empty or over the limit, and the frames read are exactly the bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use runnet_p2p::fuzzing::{FramesEnd, frame, read_frames};

fuzz_target!(|data: &[u8]| {
    // The first two bytes set the limit, so small inputs reach both sides of it.
    let Some((limit, wire)) = data.split_first_chunk::<2>() else {
        return;
    };
    let max = usize::from(u16::from_le_bytes(*limit)) + 1;
    let (frames, end, consumed) = read_frames(wire, max);
    let mut framed = Vec::new();
    for body in &frames {
        assert!(
            !body.is_empty() && body.len() <= max,
            "frame of {} bytes",
            body.len()
        );
        framed.extend(frame(body).expect("a frame under the limit encodes"));
    }
    assert_eq!(
        &wire[..framed.len()],
        &framed[..],
        "frames differ from the bytes read"
    );
    assert!(framed.len() <= consumed && consumed <= wire.len());
    let rest = &wire[framed.len()..];
    let header = rest
        .first_chunk::<4>()
        .map(|h| u32::from_be_bytes(*h) as usize);
    match end {
        FramesEnd::Closed => assert_eq!(header, None, "stopped before a whole header"),
        FramesEnd::Empty => assert_eq!(header, Some(0)),
        FramesEnd::TooLarge { len, max: m } => {
            assert_eq!((Some(len), m), (header, max));
            assert!(len > max);
        }
        FramesEnd::Truncated => {
            let len = header.expect("a truncated frame has a header");
            assert!(len > rest.len() - 4 && len <= max);
        }
    }
});
