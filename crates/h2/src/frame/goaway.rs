//! GOAWAY frames (RFC 9113 §6.8): stop new streams, say which were processed,
//! and (with a code other than NO_ERROR) report a connection error.

use bytes::{BufMut, Bytes};

use super::header::{FrameHeader, STREAM_ID_MASK};
use super::kind;
use crate::error::{Error, ErrorCode};

/// A GOAWAY frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoAway {
    /// The highest stream id the sender processed or might process.
    pub last_stream_id: u32,
    /// Why the connection is closing.
    pub code: ErrorCode,
    /// Opaque diagnostic data.
    pub debug_data: Bytes,
}

impl GoAway {
    /// Decodes a GOAWAY payload.
    pub fn decode(head: &FrameHeader, payload: Bytes) -> Result<GoAway, Error> {
        // §6.8: stream other than 0 is a connection error PROTOCOL_ERROR; the
        // payload must hold Last-Stream-ID and Error Code (§4.2: too small for
        // mandatory fields is FRAME_SIZE_ERROR).
        if head.stream_id != 0 {
            return Err(Error::conn(
                ErrorCode::PROTOCOL_ERROR,
                "GOAWAY on a stream other than 0",
            ));
        }
        if payload.len() < 8 {
            return Err(Error::conn(
                ErrorCode::FRAME_SIZE_ERROR,
                "GOAWAY shorter than 8 octets",
            ));
        }
        let last = u32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]]);
        let code = u32::from_be_bytes([payload[4], payload[5], payload[6], payload[7]]);
        Ok(GoAway {
            last_stream_id: last & STREAM_ID_MASK,
            code: ErrorCode(code),
            debug_data: payload.slice(8..),
        })
    }

    /// Appends the whole frame to `dst`.
    pub fn encode(&self, dst: &mut impl BufMut) {
        FrameHeader {
            length: 8 + self.debug_data.len() as u32,
            kind: kind::GOAWAY,
            flags: 0,
            stream_id: 0,
        }
        .encode(dst);
        dst.put_u32(self.last_stream_id & STREAM_ID_MASK);
        dst.put_u32(self.code.0);
        dst.put_slice(&self.debug_data);
    }
}

#[cfg(test)]
mod tests {
    use super::super::{decode_one, Frame};
    use super::*;

    #[test]
    fn bytes_and_rules() {
        let g = GoAway {
            last_stream_id: 0x7fff_ffff,
            code: ErrorCode::ENHANCE_YOUR_CALM,
            debug_data: Bytes::from_static(b"hi"),
        };
        let mut out = Vec::new();
        g.encode(&mut out);
        assert_eq!(
            out,
            b"\x00\x00\x0a\x07\x00\x00\x00\x00\x00\x7f\xff\xff\xff\x00\x00\x00\x0bhi"
        );
        assert_eq!(decode_one(&out).unwrap(), Frame::GoAway(g));
        let e = decode_one(b"\x00\x00\x08\x07\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00")
            .unwrap_err();
        assert_eq!(e.code(), ErrorCode::PROTOCOL_ERROR);
        let e = decode_one(b"\x00\x00\x04\x07\x00\x00\x00\x00\x00\x00\x00\x00\x00").unwrap_err();
        assert_eq!(e.code(), ErrorCode::FRAME_SIZE_ERROR);
    }
}
