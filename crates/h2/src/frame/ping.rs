//! PING frames (RFC 9113 §6.7): liveness and round-trip checks; the receiver
//! echoes the 8 octets back with ACK set.

use bytes::{BufMut, Bytes};

use super::header::FrameHeader;
use super::{flags, kind};
use crate::error::{Error, ErrorCode};

/// A PING frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ping {
    /// ACK: this is the echo of a PING.
    pub ack: bool,
    /// Opaque data, echoed as is.
    pub payload: [u8; 8],
}

impl Ping {
    /// Decodes a PING payload.
    pub fn decode(head: &FrameHeader, payload: Bytes) -> Result<Ping, Error> {
        // §6.7: a stream other than 0 is a connection error PROTOCOL_ERROR; a
        // length other than 8 is a connection error FRAME_SIZE_ERROR.
        if head.stream_id != 0 {
            return Err(Error::conn(
                ErrorCode::PROTOCOL_ERROR,
                "PING on a stream other than 0",
            ));
        }
        let Ok(data) = <[u8; 8]>::try_from(&payload[..]) else {
            return Err(Error::conn(
                ErrorCode::FRAME_SIZE_ERROR,
                "PING length is not 8",
            ));
        };
        Ok(Ping {
            ack: head.has(flags::ACK),
            payload: data,
        })
    }

    /// Appends the whole frame to `dst`.
    pub fn encode(&self, dst: &mut impl BufMut) {
        FrameHeader {
            length: 8,
            kind: kind::PING,
            flags: if self.ack { flags::ACK } else { 0 },
            stream_id: 0,
        }
        .encode(dst);
        dst.put_slice(&self.payload);
    }
}

#[cfg(test)]
mod tests {
    use super::super::{decode_one, Frame};
    use super::*;

    #[test]
    fn bytes_and_rules() {
        let p = Ping {
            ack: true,
            payload: *b"12345678",
        };
        let mut out = Vec::new();
        p.encode(&mut out);
        assert_eq!(out, b"\x00\x00\x08\x06\x01\x00\x00\x00\x0012345678");
        assert_eq!(decode_one(&out).unwrap(), Frame::Ping(p));
        let e = decode_one(b"\x00\x00\x08\x06\x00\x00\x00\x00\x0112345678").unwrap_err();
        assert_eq!(e.code(), ErrorCode::PROTOCOL_ERROR);
        let e = decode_one(b"\x00\x00\x07\x06\x00\x00\x00\x00\x001234567").unwrap_err();
        assert_eq!(e.code(), ErrorCode::FRAME_SIZE_ERROR);
    }
}
