//! WINDOW_UPDATE frames (RFC 9113 §6.9): grant flow-control credit to the
//! connection (stream 0) or to one stream.

use bytes::{BufMut, Bytes};

use super::header::{FrameHeader, STREAM_ID_MASK};
use super::kind;
use crate::error::{Error, ErrorCode};

/// The largest window (and increment) flow control allows: 2^31-1 (§6.9.1).
pub const MAX_WINDOW: u32 = 0x7fff_ffff;

/// A WINDOW_UPDATE frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowUpdate {
    /// 0 for the connection, otherwise the stream.
    pub stream_id: u32,
    /// Octets of credit granted (1..=2^31-1).
    pub increment: u32,
}

impl WindowUpdate {
    /// Decodes a WINDOW_UPDATE payload.
    pub fn decode(head: &FrameHeader, payload: Bytes) -> Result<WindowUpdate, Error> {
        // §6.9: "A WINDOW_UPDATE frame with a length other than 4 octets MUST be
        // treated as a connection error ... of type FRAME_SIZE_ERROR."
        let Ok(word) = <[u8; 4]>::try_from(&payload[..]) else {
            return Err(Error::conn(
                ErrorCode::FRAME_SIZE_ERROR,
                "WINDOW_UPDATE length is not 4",
            ));
        };
        let increment = u32::from_be_bytes(word) & STREAM_ID_MASK;
        // §6.9: an increment of 0 is a stream error PROTOCOL_ERROR on a stream,
        // a connection error on the connection's own window.
        if increment == 0 {
            return Err(if head.stream_id == 0 {
                Error::conn(ErrorCode::PROTOCOL_ERROR, "WINDOW_UPDATE of 0")
            } else {
                Error::stream(
                    head.stream_id,
                    ErrorCode::PROTOCOL_ERROR,
                    "WINDOW_UPDATE of 0",
                )
            });
        }
        Ok(WindowUpdate {
            stream_id: head.stream_id,
            increment,
        })
    }

    /// Appends the whole frame to `dst`.
    pub fn encode(&self, dst: &mut impl BufMut) {
        FrameHeader {
            length: 4,
            kind: kind::WINDOW_UPDATE,
            flags: 0,
            stream_id: self.stream_id,
        }
        .encode(dst);
        dst.put_u32(self.increment & STREAM_ID_MASK);
    }
}

#[cfg(test)]
mod tests {
    use super::super::{decode_one, Frame};
    use super::*;

    #[test]
    fn bytes_and_rules() {
        let w = WindowUpdate {
            stream_id: 0,
            increment: 0x10000,
        };
        let mut out = Vec::new();
        w.encode(&mut out);
        assert_eq!(out, b"\x00\x00\x04\x08\x00\x00\x00\x00\x00\x00\x01\x00\x00");
        assert_eq!(decode_one(&out).unwrap(), Frame::WindowUpdate(w));
        // Reserved bit ignored.
        let f = decode_one(b"\x00\x00\x04\x08\x00\x00\x00\x00\x01\x80\x00\x00\x01").unwrap();
        assert_eq!(
            f,
            Frame::WindowUpdate(WindowUpdate {
                stream_id: 1,
                increment: 1
            })
        );
        let e = decode_one(b"\x00\x00\x04\x08\x00\x00\x00\x00\x01\x00\x00\x00\x00").unwrap_err();
        assert_eq!(
            e,
            Error::stream(1, ErrorCode::PROTOCOL_ERROR, "WINDOW_UPDATE of 0")
        );
        let e = decode_one(b"\x00\x00\x04\x08\x00\x00\x00\x00\x00\x00\x00\x00\x00").unwrap_err();
        assert!(e.is_connection());
        let e = decode_one(b"\x00\x00\x03\x08\x00\x00\x00\x00\x00\x00\x00\x01").unwrap_err();
        assert_eq!(e.code(), ErrorCode::FRAME_SIZE_ERROR);
    }
}
