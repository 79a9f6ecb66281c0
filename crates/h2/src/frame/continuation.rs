//! CONTINUATION frames (RFC 9113 §6.10): further fragments of a field block
//! started by HEADERS or PUSH_PROMISE. Which frames may come between is the
//! connection's business (§4.3: none may).

use bytes::{BufMut, Bytes};

use super::header::FrameHeader;
use super::{flags, kind};
use crate::error::{Error, ErrorCode};

/// A CONTINUATION frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Continuation {
    /// The stream of the block (never 0).
    pub stream_id: u32,
    /// The next fragment of the field block.
    pub fragment: Bytes,
    /// END_HEADERS: the block is complete.
    pub end_headers: bool,
}

impl Continuation {
    /// Decodes a CONTINUATION payload.
    pub fn decode(head: &FrameHeader, payload: Bytes) -> Result<Continuation, Error> {
        // §6.10: stream 0 is a connection error of type PROTOCOL_ERROR.
        if head.stream_id == 0 {
            return Err(Error::conn(
                ErrorCode::PROTOCOL_ERROR,
                "CONTINUATION on stream 0",
            ));
        }
        Ok(Continuation {
            stream_id: head.stream_id,
            fragment: payload,
            end_headers: head.has(flags::END_HEADERS),
        })
    }

    /// Appends the whole frame to `dst`.
    pub fn encode(&self, dst: &mut impl BufMut) {
        FrameHeader {
            length: self.fragment.len() as u32,
            kind: kind::CONTINUATION,
            flags: if self.end_headers {
                flags::END_HEADERS
            } else {
                0
            },
            stream_id: self.stream_id,
        }
        .encode(dst);
        dst.put_slice(&self.fragment);
    }
}

#[cfg(test)]
mod tests {
    use super::super::{decode_one, Frame};
    use super::*;

    #[test]
    fn bytes_and_rules() {
        let c = Continuation {
            stream_id: 1,
            fragment: Bytes::from_static(b"\x84"),
            end_headers: true,
        };
        let mut out = Vec::new();
        c.encode(&mut out);
        assert_eq!(out, b"\x00\x00\x01\x09\x04\x00\x00\x00\x01\x84");
        assert_eq!(decode_one(&out).unwrap(), Frame::Continuation(c));
        let e = decode_one(b"\x00\x00\x00\x09\x04\x00\x00\x00\x00").unwrap_err();
        assert_eq!(e.code(), ErrorCode::PROTOCOL_ERROR);
    }
}
