//! PUSH_PROMISE frames (RFC 9113 §6.6). Only servers push, so a server never
//! accepts one (§8.4: a client's PUSH_PROMISE is a connection error of type
//! PROTOCOL_ERROR). It is decoded anyway so that its size and padding rules are
//! checked like any other frame and the rejection names the right frame.

use bytes::{BufMut, Bytes};

use super::header::{FrameHeader, STREAM_ID_MASK};
use super::{flags, kind, pad};
use crate::error::{Error, ErrorCode};

/// A PUSH_PROMISE frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushPromise {
    /// The stream the promise is associated with.
    pub stream_id: u32,
    /// The stream being reserved.
    pub promised_id: u32,
    /// The field block fragment.
    pub fragment: Bytes,
    /// END_HEADERS.
    pub end_headers: bool,
    /// Pad Length when PADDED.
    pub pad: Option<u8>,
}

impl PushPromise {
    /// Decodes a PUSH_PROMISE payload.
    pub fn decode(head: &FrameHeader, payload: Bytes) -> Result<PushPromise, Error> {
        if head.stream_id == 0 {
            return Err(Error::conn(
                ErrorCode::PROTOCOL_ERROR,
                "PUSH_PROMISE on stream 0",
            ));
        }
        let (rest, pad) = pad::strip(payload, head.has(flags::PADDED))?;
        if rest.len() < 4 {
            return Err(Error::conn(
                ErrorCode::FRAME_SIZE_ERROR,
                "PUSH_PROMISE too short for the promised stream id",
            ));
        }
        let promised = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) & STREAM_ID_MASK;
        Ok(PushPromise {
            stream_id: head.stream_id,
            promised_id: promised,
            fragment: rest.slice(4..),
            end_headers: head.has(flags::END_HEADERS),
            pad,
        })
    }

    /// Appends the whole frame to `dst`.
    pub fn encode(&self, dst: &mut impl BufMut) {
        let mut f = 0;
        if self.end_headers {
            f |= flags::END_HEADERS;
        }
        if self.pad.is_some() {
            f |= flags::PADDED;
        }
        FrameHeader {
            length: (4 + self.fragment.len() + pad::overhead(self.pad)) as u32,
            kind: kind::PUSH_PROMISE,
            flags: f,
            stream_id: self.stream_id,
        }
        .encode(dst);
        pad::put_len(dst, self.pad);
        dst.put_u32(self.promised_id & STREAM_ID_MASK);
        dst.put_slice(&self.fragment);
        pad::put_padding(dst, self.pad);
    }
}

#[cfg(test)]
mod tests {
    use super::super::{decode_one, Frame};
    use super::*;

    #[test]
    fn bytes_and_rules() {
        let p = PushPromise {
            stream_id: 1,
            promised_id: 2,
            fragment: Bytes::from_static(b"\x82"),
            end_headers: true,
            pad: None,
        };
        let mut out = Vec::new();
        p.encode(&mut out);
        assert_eq!(
            out,
            b"\x00\x00\x05\x05\x04\x00\x00\x00\x01\x00\x00\x00\x02\x82"
        );
        assert_eq!(decode_one(&out).unwrap(), Frame::PushPromise(p));
        let e = decode_one(b"\x00\x00\x03\x05\x04\x00\x00\x00\x01\x00\x00\x00").unwrap_err();
        assert_eq!(e.code(), ErrorCode::FRAME_SIZE_ERROR);
    }
}
