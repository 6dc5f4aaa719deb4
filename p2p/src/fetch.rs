//! Batch fetch by request-response: a request is a count and that many 32-byte digests; a
//! response is a count and that many length-prefixed batches. Both sides bound every count and
//! length before reading, so neither side can make the other allocate beyond its limits.

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;
use libp2p::request_response::Codec;
use runnet_types::Hash;
use std::io;

/// A request as read. Over-limit requests are read as far as the count, so the swarm learns
/// which peer sent one and can mark it down (a read error would reach it without the peer).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum FetchRequest {
    Digests(Vec<Hash>),
    OverLimit(usize),
}

#[derive(Clone, Debug)]
pub(crate) struct FetchCodec {
    pub max_digests: usize,
    pub max_batch_bytes: usize,
    pub max_response_bytes: usize,
}

fn invalid(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

async fn read_u32<T: AsyncRead + Unpin>(io: &mut T) -> io::Result<usize> {
    let mut buf = [0u8; 4];
    io.read_exact(&mut buf).await?;
    Ok(u32::from_be_bytes(buf) as usize)
}

fn len_u32(n: usize) -> io::Result<[u8; 4]> {
    u32::try_from(n)
        .map(u32::to_be_bytes)
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

impl FetchCodec {
    /// Keeps the batches, in order, that fit within the response limits.
    pub fn trim_response(&self, requested: usize, batches: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
        let mut total = 0usize;
        let mut out = Vec::new();
        let cap = requested.min(self.max_digests);
        for batch in batches {
            if batch.is_empty() || batch.len() > self.max_batch_bytes {
                continue;
            }
            if out.len() == cap || total + batch.len() > self.max_response_bytes {
                break;
            }
            total += batch.len();
            out.push(batch);
        }
        out
    }
}

impl Codec for FetchCodec {
    type Protocol = StreamProtocol;
    type Request = FetchRequest;
    type Response = Vec<Vec<u8>>;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<FetchRequest>
    where
        T: AsyncRead + Unpin + Send,
    {
        let count = read_u32(io).await?;
        if count > self.max_digests {
            return Ok(FetchRequest::OverLimit(count));
        }
        let mut digests = Vec::with_capacity(count);
        for _ in 0..count {
            let mut digest = [0u8; 32];
            io.read_exact(&mut digest).await?;
            digests.push(Hash(digest));
        }
        Ok(FetchRequest::Digests(digests))
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<Vec<u8>>>
    where
        T: AsyncRead + Unpin + Send,
    {
        let count = read_u32(io).await?;
        if count > self.max_digests {
            return Err(invalid(format!("response of {count} batches")));
        }
        let mut total = 0usize;
        let mut batches = Vec::with_capacity(count);
        for _ in 0..count {
            let len = read_u32(io).await?;
            total = total.saturating_add(len);
            if len > self.max_batch_bytes || total > self.max_response_bytes {
                return Err(invalid(format!(
                    "response batch of {len} bytes ({total} in all) over the limits"
                )));
            }
            batches.push(crate::framing::read_body(io, len).await?);
        }
        Ok(batches)
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        request: FetchRequest,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        let FetchRequest::Digests(digests) = request else {
            return Err(io::Error::from(io::ErrorKind::InvalidInput));
        };
        let mut buf = Vec::with_capacity(4 + 32 * digests.len());
        buf.extend_from_slice(&len_u32(digests.len())?);
        for digest in &digests {
            buf.extend_from_slice(digest.as_bytes());
        }
        io.write_all(&buf).await?;
        io.close().await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        batches: Vec<Vec<u8>>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        io.write_all(&len_u32(batches.len())?).await?;
        for batch in &batches {
            io.write_all(&len_u32(batch.len())?).await?;
            io.write_all(batch).await?;
        }
        io.close().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::block_on;
    use futures::io::Cursor;

    fn codec(max_digests: usize, max_response_bytes: usize) -> FetchCodec {
        FetchCodec {
            max_digests,
            max_batch_bytes: 100,
            max_response_bytes,
        }
    }

    fn proto() -> StreamProtocol {
        StreamProtocol::new("/test")
    }

    #[test]
    fn requests_and_responses_round_trip() {
        block_on(async {
            let mut c = codec(4, 1000);
            let digests = vec![Hash([1; 32]), Hash([2; 32])];
            let mut wire = Cursor::new(Vec::new());
            c.write_request(&proto(), &mut wire, FetchRequest::Digests(digests.clone()))
                .await
                .unwrap();
            let mut r = Cursor::new(wire.into_inner());
            assert_eq!(
                c.read_request(&proto(), &mut r).await.unwrap(),
                FetchRequest::Digests(digests)
            );

            let batches = vec![vec![7; 100], vec![8; 3]];
            let mut wire = Cursor::new(Vec::new());
            c.write_response(&proto(), &mut wire, batches.clone())
                .await
                .unwrap();
            let mut r = Cursor::new(wire.into_inner());
            assert_eq!(c.read_response(&proto(), &mut r).await.unwrap(), batches);
        });
    }

    #[test]
    fn over_limit_requests_and_responses_are_refused() {
        block_on(async {
            let mut big = codec(10, 1000);
            let mut small = codec(2, 150);
            let mut wire = Cursor::new(Vec::new());
            big.write_request(
                &proto(),
                &mut wire,
                FetchRequest::Digests(vec![Hash([1; 32]); 3]),
            )
            .await
            .unwrap();
            let read = small
                .read_request(&proto(), &mut Cursor::new(wire.into_inner()))
                .await
                .unwrap();
            assert_eq!(read, FetchRequest::OverLimit(3));

            // Two batches of 100 bytes exceed the small side's 150-byte response limit.
            let mut wire = Cursor::new(Vec::new());
            big.write_response(&proto(), &mut wire, vec![vec![1; 100], vec![2; 100]])
                .await
                .unwrap();
            let err = small
                .read_response(&proto(), &mut Cursor::new(wire.into_inner()))
                .await
                .unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidData);

            // A count claiming four billion digests is refused before anything is read.
            let read = big
                .read_request(&proto(), &mut Cursor::new(vec![0xff; 4]))
                .await
                .unwrap();
            assert_eq!(read, FetchRequest::OverLimit(u32::MAX as usize));
        });
    }

    #[test]
    fn trim_keeps_what_fits_in_order() {
        let c = codec(3, 150);
        let trimmed = c.trim_response(
            5,
            vec![vec![1; 60], vec![], vec![2; 101], vec![3; 60], vec![4; 60]],
        );
        // The empty and the oversized batch are skipped; the third 60 would pass 150 bytes.
        assert_eq!(trimmed, vec![vec![1; 60], vec![3; 60]]);
        assert_eq!(c.trim_response(1, vec![vec![1; 10], vec![2; 10]]).len(), 1);
    }
}
