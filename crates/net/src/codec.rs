//! Length-prefixed opaque bytes for the request-response protocols.
//!
//! Wire format of a request and of a response: an unsigned LEB128 varint (at most 10 bytes)
//! giving the body length, then the body. A length above the protocol's limit is refused before
//! any body byte is read or any buffer allocated, so a peer cannot make us allocate more than
//! the limit.

use std::io;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::{StreamProtocol, request_response};

use crate::ProtocolLimits;

/// Longest LEB128 encoding of a `u64`.
const MAX_VARINT_BYTES: usize = 10;

/// [`request_response::Codec`] moving `Vec<u8>` both ways, bounded by [`ProtocolLimits`].
#[derive(Debug, Clone)]
pub(crate) struct BytesCodec {
    limits: ProtocolLimits,
}

impl BytesCodec {
    pub(crate) fn new(limits: ProtocolLimits) -> Self {
        Self { limits }
    }
}

impl request_response::Codec for BytesCodec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T>(
        &mut self,
        protocol: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_frame(io, self.limits.max_request_bytes, protocol, "request").await
    }

    async fn read_response<T>(
        &mut self,
        protocol: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_frame(io, self.limits.max_response_bytes, protocol, "response").await
    }

    async fn write_request<T>(
        &mut self,
        protocol: &StreamProtocol,
        io: &mut T,
        req: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &req, self.limits.max_request_bytes, protocol, "request").await
    }

    async fn write_response<T>(
        &mut self,
        protocol: &StreamProtocol,
        io: &mut T,
        res: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(
            io,
            &res,
            self.limits.max_response_bytes,
            protocol,
            "response",
        )
        .await
    }
}

fn too_large(protocol: &StreamProtocol, what: &str, len: u64, max: usize) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{protocol} {what} of {len} bytes exceeds the {max}-byte limit"),
    )
}

async fn read_frame<T>(
    io: &mut T,
    max: usize,
    protocol: &StreamProtocol,
    what: &str,
) -> io::Result<Vec<u8>>
where
    T: AsyncRead + Unpin + Send,
{
    let len = read_varint(io).await?;
    if len > max as u64 {
        return Err(too_large(protocol, what, len, max));
    }
    // `len <= max`, and `max` is a `usize`, so this cannot truncate.
    let len = len as usize;
    let mut body = Vec::with_capacity(len);
    io.take(len as u64).read_to_end(&mut body).await?;
    if body.len() != len {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("{protocol} {what} truncated: {} of {len} bytes", body.len()),
        ));
    }
    Ok(body)
}

async fn write_frame<T>(
    io: &mut T,
    body: &[u8],
    max: usize,
    protocol: &StreamProtocol,
    what: &str,
) -> io::Result<()>
where
    T: AsyncWrite + Unpin + Send,
{
    if body.len() > max {
        return Err(too_large(protocol, what, body.len() as u64, max));
    }
    let mut prefix = [0u8; MAX_VARINT_BYTES];
    let n = encode_varint(body.len() as u64, &mut prefix);
    io.write_all(&prefix[..n]).await?;
    io.write_all(body).await?;
    io.flush().await
}

/// Writes `value` as LEB128 into `buf`, returns the number of bytes used.
fn encode_varint(mut value: u64, buf: &mut [u8; MAX_VARINT_BYTES]) -> usize {
    let mut i = 0;
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            buf[i] = byte;
            return i + 1;
        }
        buf[i] = byte | 0x80;
        i += 1;
    }
}

async fn read_varint<T>(io: &mut T) -> io::Result<u64>
where
    T: AsyncRead + Unpin + Send,
{
    let mut value: u64 = 0;
    for i in 0..MAX_VARINT_BYTES {
        let mut byte = [0u8; 1];
        io.read_exact(&mut byte).await?;
        let bits = u64::from(byte[0] & 0x7f);
        // The 10th byte may only carry the top bit of a u64.
        if i == MAX_VARINT_BYTES - 1 && bits > 1 {
            break;
        }
        value |= bits << (7 * i);
        if byte[0] & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidData,
        "length prefix is not a valid u64 varint",
    ))
}

#[cfg(test)]
mod tests {
    use futures::{executor::block_on, io::Cursor};
    use libp2p::request_response::Codec;

    use super::*;

    const PROTO: StreamProtocol = StreamProtocol::new("/flashback/test/1");

    fn codec(max: usize) -> BytesCodec {
        BytesCodec::new(ProtocolLimits {
            max_request_bytes: max,
            max_response_bytes: max,
        })
    }

    fn encode(body: &[u8]) -> Vec<u8> {
        let mut prefix = [0u8; MAX_VARINT_BYTES];
        let n = encode_varint(body.len() as u64, &mut prefix);
        let mut out = prefix[..n].to_vec();
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn round_trip_at_and_below_limit() {
        for len in [0usize, 1, 127, 128, 300, 1000] {
            let body: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mut wire = Cursor::new(Vec::new());
            block_on(codec(1000).write_request(&PROTO, &mut wire, body.clone())).expect("write");
            let mut wire = Cursor::new(wire.into_inner());
            let got = block_on(codec(1000).read_request(&PROTO, &mut wire)).expect("read");
            assert_eq!(got, body);
            let mut wire = Cursor::new(Vec::new());
            block_on(codec(1000).write_response(&PROTO, &mut wire, body.clone())).expect("write");
            let mut wire = Cursor::new(wire.into_inner());
            assert_eq!(
                block_on(codec(1000).read_response(&PROTO, &mut wire)).expect("read"),
                body
            );
        }
    }

    #[test]
    fn oversize_is_refused_on_both_ends() {
        let mut wire = Cursor::new(Vec::new());
        let err = block_on(codec(10).write_request(&PROTO, &mut wire, vec![0; 11]))
            .expect_err("write refused");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(wire.into_inner().is_empty(), "nothing written");

        let mut wire = Cursor::new(encode(&[0; 11]));
        let err = block_on(codec(10).read_request(&PROTO, &mut wire)).expect_err("read refused");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        // Only the prefix was consumed: the body was never read.
        assert_eq!(wire.position(), 1);
    }

    #[test]
    fn huge_announced_length_allocates_nothing() {
        let mut prefix = [0u8; MAX_VARINT_BYTES];
        let n = encode_varint(u64::MAX, &mut prefix);
        let mut wire = Cursor::new(prefix[..n].to_vec());
        let err = block_on(codec(10).read_request(&PROTO, &mut wire)).expect_err("refused");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn truncated_body_and_bad_varint_are_errors() {
        let mut wire = encode(&[7; 20]);
        wire.truncate(10);
        let err = block_on(codec(100).read_request(&PROTO, &mut Cursor::new(wire)))
            .expect_err("truncated");
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);

        let wire = vec![0xff; 11];
        let err = block_on(codec(100).read_request(&PROTO, &mut Cursor::new(wire)))
            .expect_err("bad varint");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn varint_matches_leb128() {
        let mut buf = [0u8; MAX_VARINT_BYTES];
        let n = encode_varint(300, &mut buf);
        assert_eq!(&buf[..n], &[0xac, 0x02]);
        assert_eq!(encode_varint(u64::MAX, &mut buf), 10);
        let got = block_on(read_varint(&mut Cursor::new(buf.to_vec()))).expect("decode");
        assert_eq!(got, u64::MAX);
    }
}
