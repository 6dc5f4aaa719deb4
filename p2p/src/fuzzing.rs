//! Entry points into the private wire decoders for the fuzz targets in `fuzz/` (docs/fuzzing.md).
//!
//! Each one feeds a byte slice through exactly the code a peer's stream reaches (the frame reader
//! the inbound streams use, the fetch codec) and reports what it read, so a target can check that
//! the limits held without this crate making those modules public. Not an API: nothing outside
//! the fuzz targets may call these.

use crate::fetch::{FetchCodec, FetchRequest};
use crate::framing::{FrameError, read_body, read_len, write_frame};
use futures::executor::block_on;
use futures::io::Cursor;
use libp2p::StreamProtocol;
use libp2p::request_response::Codec;
use runnet_types::Hash;
use std::io;

/// How a run of [`read_frames`] stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FramesEnd {
    /// The stream closed between frames (or inside a length header).
    Closed,
    Empty,
    TooLarge {
        len: usize,
        max: usize,
    },
    /// The stream ended inside a body.
    Truncated,
}

/// Reads frames from `bytes` as an inbound stream's reader does, until it would stop reading.
/// Returns the frames, how it stopped, and how many bytes it had consumed by then.
pub fn read_frames(bytes: &[u8], max: usize) -> (Vec<Vec<u8>>, FramesEnd, usize) {
    let mut reader = Cursor::new(bytes);
    let mut frames = Vec::new();
    let end = block_on(async {
        loop {
            let len = match read_len(&mut reader, max).await {
                Ok(Some(len)) => len,
                Ok(None) => return FramesEnd::Closed,
                Err(FrameError::Empty) => return FramesEnd::Empty,
                Err(FrameError::TooLarge { len, max }) => return FramesEnd::TooLarge { len, max },
                // A cursor over memory fails only by ending, which `read_len` reports as closed.
                Err(FrameError::Io(_)) => return FramesEnd::Closed,
            };
            match read_body(&mut reader, len).await {
                Ok(body) => frames.push(body),
                Err(_) => return FramesEnd::Truncated,
            }
        }
    });
    let consumed = usize::try_from(reader.position()).unwrap_or(usize::MAX);
    (frames, end, consumed)
}

/// The bytes `links` writes for one frame.
pub fn frame(body: &[u8]) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    block_on(write_frame(&mut out, body))?;
    Ok(out)
}

/// The fetch codec's limits (`Limits::max_fetch_digests`, `max_batch_bytes`,
/// `max_fetch_response_bytes`).
#[derive(Clone, Copy, Debug)]
pub struct FetchLimits {
    pub max_digests: usize,
    pub max_batch_bytes: usize,
    pub max_response_bytes: usize,
}

/// A fetch request as the codec read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    Digests(Vec<Hash>),
    /// The count was over the limit; nothing past it was read.
    OverLimit(usize),
}

fn codec(limits: FetchLimits) -> FetchCodec {
    FetchCodec {
        max_digests: limits.max_digests,
        max_batch_bytes: limits.max_batch_bytes,
        max_response_bytes: limits.max_response_bytes,
    }
}

fn protocol() -> StreamProtocol {
    StreamProtocol::new("/runnet/fuzz/batch-fetch/1")
}

/// Reads one fetch request from `bytes`; also returns how many bytes the codec consumed.
pub fn read_request(bytes: &[u8], limits: FetchLimits) -> (io::Result<Request>, usize) {
    let mut reader = Cursor::new(bytes);
    let read = block_on(codec(limits).read_request(&protocol(), &mut reader));
    let request = read.map(|r| match r {
        FetchRequest::Digests(digests) => Request::Digests(digests),
        FetchRequest::OverLimit(count) => Request::OverLimit(count),
    });
    let consumed = usize::try_from(reader.position()).unwrap_or(usize::MAX);
    (request, consumed)
}

/// Reads one fetch response from `bytes`; also returns how many bytes the codec consumed.
pub fn read_response(bytes: &[u8], limits: FetchLimits) -> (io::Result<Vec<Vec<u8>>>, usize) {
    let mut reader = Cursor::new(bytes);
    let read = block_on(codec(limits).read_response(&protocol(), &mut reader));
    let consumed = usize::try_from(reader.position()).unwrap_or(usize::MAX);
    (read, consumed)
}

/// The bytes the codec writes for a request of `digests`.
pub fn write_request(digests: Vec<Hash>, limits: FetchLimits) -> io::Result<Vec<u8>> {
    let mut out = Cursor::new(Vec::new());
    block_on(codec(limits).write_request(&protocol(), &mut out, FetchRequest::Digests(digests)))?;
    Ok(out.into_inner())
}

/// The bytes the codec writes for a response of `batches`.
pub fn write_response(batches: Vec<Vec<u8>>, limits: FetchLimits) -> io::Result<Vec<u8>> {
    let mut out = Cursor::new(Vec::new());
    block_on(codec(limits).write_response(&protocol(), &mut out, batches))?;
    Ok(out.into_inner())
}

/// What a responder keeps of `batches` for a request of `requested` digests.
pub fn trim_response(limits: FetchLimits, requested: usize, batches: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    codec(limits).trim_response(requested, batches)
}
