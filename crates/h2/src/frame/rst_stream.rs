//! RST_STREAM frames (RFC 9113 §6.4): end one stream at once.

use bytes::{BufMut, Bytes};

use super::header::FrameHeader;
use super::kind;
use crate::error::{Error, ErrorCode};

/// A RST_STREAM frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RstStream {
    /// The stream ended (never 0).
    pub stream_id: u32,
    /// Why.
    pub code: ErrorCode,
}

impl RstStream {
    /// Decodes a RST_STREAM payload.
    pub fn decode(head: &FrameHeader, payload: Bytes) -> Result<RstStream, Error> {
        // §6.4: stream 0 is a connection error of type PROTOCOL_ERROR; a length
        // other than 4 is a connection error of type FRAME_SIZE_ERROR.
        if head.stream_id == 0 {
            return Err(Error::conn(
                ErrorCode::PROTOCOL_ERROR,
                "RST_STREAM on stream 0",
            ));
        }
        let Ok(code) = <[u8; 4]>::try_from(&payload[..]) else {
            return Err(Error::conn(
                ErrorCode::FRAME_SIZE_ERROR,
                "RST_STREAM length is not 4",
            ));
        };
        Ok(RstStream {
            stream_id: head.stream_id,
            code: ErrorCode(u32::from_be_bytes(code)),
        })
    }

    /// Appends the whole frame to `dst`.
    pub fn encode(&self, dst: &mut impl BufMut) {
        FrameHeader {
            length: 4,
            kind: kind::RST_STREAM,
            flags: 0,
            stream_id: self.stream_id,
        }
        .encode(dst);
        dst.put_u32(self.code.0);
    }
}

#[cfg(test)]
mod tests {
    use super::super::{decode_one, Frame};
    use super::*;

    #[test]
    fn bytes_and_rules() {
        let r = RstStream {
            stream_id: 7,
            code: ErrorCode::CANCEL,
        };
        let mut out = Vec::new();
        r.encode(&mut out);
        assert_eq!(out, b"\x00\x00\x04\x03\x00\x00\x00\x00\x07\x00\x00\x00\x08");
        assert_eq!(decode_one(&out).unwrap(), Frame::RstStream(r));
        let e = decode_one(b"\x00\x00\x04\x03\x00\x00\x00\x00\x00\x00\x00\x00\x08").unwrap_err();
        assert_eq!(e.code(), ErrorCode::PROTOCOL_ERROR);
        let e = decode_one(b"\x00\x00\x03\x03\x00\x00\x00\x00\x01\x00\x00\x08").unwrap_err();
        assert_eq!(e.code(), ErrorCode::FRAME_SIZE_ERROR);
        assert!(e.is_connection());
    }
}
