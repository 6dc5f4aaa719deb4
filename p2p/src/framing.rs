//! The wire format of the one-way protocols: each message is a 4-byte big-endian length and
//! that many bytes. The length is checked against the protocol's limit before anything is
//! allocated, and the body buffer grows with the bytes that actually arrive, so a peer that
//! announces a large frame and stalls holds no more memory than it sent.

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use std::io;

#[derive(Debug, thiserror::Error)]
pub(crate) enum FrameError {
    #[error("empty frame")]
    Empty,
    #[error("frame of {len} bytes over the limit of {max}")]
    TooLarge { len: usize, max: usize },
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// The next frame's length, or `None` when the peer closed the stream between frames.
pub(crate) async fn read_len<R: AsyncRead + Unpin>(
    reader: &mut R,
    max: usize,
) -> Result<Option<usize>, FrameError> {
    let mut header = [0u8; 4];
    match reader.read_exact(&mut header).await {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let len = u32::from_be_bytes(header) as usize;
    if len == 0 {
        return Err(FrameError::Empty);
    }
    if len > max {
        return Err(FrameError::TooLarge { len, max });
    }
    Ok(Some(len))
}

/// Reads exactly `len` bytes; the caller has checked `len` against its limit.
pub(crate) async fn read_body<R: AsyncRead + Unpin>(
    reader: &mut R,
    len: usize,
) -> io::Result<Vec<u8>> {
    let mut body = Vec::with_capacity(len.min(64 << 10));
    reader.take(len as u64).read_to_end(&mut body).await?;
    if body.len() != len {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(body)
}

/// Writes one frame without flushing, so a burst of small messages leaves in few packets.
pub(crate) async fn write_frame<W: AsyncWrite + Unpin>(
    writer: &mut W,
    body: &[u8],
) -> io::Result<()> {
    let len =
        u32::try_from(body.len()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    writer.write_all(&len.to_be_bytes()).await?;
    writer.write_all(body).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::block_on;
    use futures::io::Cursor;

    #[test]
    fn round_trips_frames_and_stops_cleanly() {
        block_on(async {
            let mut wire = Vec::new();
            write_frame(&mut wire, b"hello").await.unwrap();
            write_frame(&mut wire, &[9; 70_000]).await.unwrap();
            let mut r = Cursor::new(wire);
            let len = read_len(&mut r, 1 << 20).await.unwrap().unwrap();
            assert_eq!(read_body(&mut r, len).await.unwrap(), b"hello");
            let len = read_len(&mut r, 1 << 20).await.unwrap().unwrap();
            assert_eq!(read_body(&mut r, len).await.unwrap(), vec![9; 70_000]);
            assert!(read_len(&mut r, 1 << 20).await.unwrap().is_none());
        });
    }

    #[test]
    fn refuses_empty_oversized_and_truncated_frames() {
        block_on(async {
            let mut r = Cursor::new(vec![0, 0, 0, 0]);
            assert!(matches!(read_len(&mut r, 10).await, Err(FrameError::Empty)));
            let mut r = Cursor::new(vec![0, 0, 0, 11]);
            assert!(matches!(
                read_len(&mut r, 10).await,
                Err(FrameError::TooLarge { len: 11, max: 10 })
            ));
            let mut r = Cursor::new(vec![0xff; 4]);
            assert!(matches!(
                read_len(&mut r, 4 << 20).await,
                Err(FrameError::TooLarge { .. })
            ));
            let mut r = Cursor::new(vec![0, 0, 0, 5, 1, 2]);
            let len = read_len(&mut r, 10).await.unwrap().unwrap();
            assert_eq!(
                read_body(&mut r, len).await.unwrap_err().kind(),
                io::ErrorKind::UnexpectedEof
            );
            // A header cut short is a closed stream, not a frame.
            let mut r = Cursor::new(vec![0, 0]);
            assert!(read_len(&mut r, 10).await.unwrap().is_none());
        });
    }
}
