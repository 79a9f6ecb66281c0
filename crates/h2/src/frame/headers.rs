//! HEADERS frames (RFC 9113 §6.2): open a stream and carry the first fragment
//! of a field block.
//!
//! The self-dependency rule of the optional priority fields is not checked
//! here: a HEADERS frame rejected as a stream error must still have its field
//! block decoded, or the HPACK state of the connection goes out of step
//! (RFC 9113 §4.3). The connection checks it after decoding.

use bytes::{BufMut, Bytes};

use super::header::FrameHeader;
use super::priority::{PrioritySpec, PRIORITY_LEN};
use super::{flags, kind, pad};
use crate::error::{Error, ErrorCode};

/// A HEADERS frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Headers {
    /// The stream (never 0).
    pub stream_id: u32,
    /// The field block fragment (HPACK-encoded).
    pub fragment: Bytes,
    /// END_STREAM: no DATA follows this field block.
    pub end_stream: bool,
    /// END_HEADERS: the block is complete; no CONTINUATION follows.
    pub end_headers: bool,
    /// The deprecated priority fields, when the PRIORITY flag was set.
    pub priority: Option<PrioritySpec>,
    /// Pad Length when PADDED.
    pub pad: Option<u8>,
}

impl Headers {
    /// A HEADERS frame without padding or priority.
    pub fn new(stream_id: u32, fragment: Bytes, end_stream: bool, end_headers: bool) -> Headers {
        Headers {
            stream_id,
            fragment,
            end_stream,
            end_headers,
            priority: None,
            pad: None,
        }
    }

    /// Decodes a HEADERS payload.
    pub fn decode(head: &FrameHeader, payload: Bytes) -> Result<Headers, Error> {
        // §6.2: stream 0 is a connection error of type PROTOCOL_ERROR.
        if head.stream_id == 0 {
            return Err(Error::conn(
                ErrorCode::PROTOCOL_ERROR,
                "HEADERS on stream 0",
            ));
        }
        let (mut rest, pad) = pad::strip(payload, head.has(flags::PADDED))?;
        let priority = if head.has(flags::PRIORITY) {
            if rest.len() < PRIORITY_LEN {
                return Err(Error::conn(
                    ErrorCode::FRAME_SIZE_ERROR,
                    "HEADERS too short for its priority fields",
                ));
            }
            let spec = PrioritySpec::parse(&rest[..PRIORITY_LEN]);
            rest = rest.slice(PRIORITY_LEN..);
            Some(spec)
        } else {
            None
        };
        Ok(Headers {
            stream_id: head.stream_id,
            fragment: rest,
            end_stream: head.has(flags::END_STREAM),
            end_headers: head.has(flags::END_HEADERS),
            priority,
            pad,
        })
    }

    /// Appends the whole frame to `dst`.
    pub fn encode(&self, dst: &mut impl BufMut) {
        let mut f = 0;
        if self.end_stream {
            f |= flags::END_STREAM;
        }
        if self.end_headers {
            f |= flags::END_HEADERS;
        }
        if self.pad.is_some() {
            f |= flags::PADDED;
        }
        if self.priority.is_some() {
            f |= flags::PRIORITY;
        }
        let len = self.fragment.len()
            + pad::overhead(self.pad)
            + self.priority.map_or(0, |_| PRIORITY_LEN);
        FrameHeader {
            length: len as u32,
            kind: kind::HEADERS,
            flags: f,
            stream_id: self.stream_id,
        }
        .encode(dst);
        pad::put_len(dst, self.pad);
        if let Some(p) = &self.priority {
            p.encode(dst);
        }
        dst.put_slice(&self.fragment);
        pad::put_padding(dst, self.pad);
    }
}

#[cfg(test)]
mod tests {
    use super::super::{decode_one, Frame};
    use super::*;

    #[test]
    fn plain_bytes() {
        let h = Headers::new(1, Bytes::from_static(b"\x82\x86"), true, true);
        let mut out = Vec::new();
        h.encode(&mut out);
        assert_eq!(out, b"\x00\x00\x02\x01\x05\x00\x00\x00\x01\x82\x86");
        assert_eq!(decode_one(&out).unwrap(), Frame::Headers(h));
    }

    #[test]
    fn padded_with_priority_bytes() {
        let h = Headers {
            stream_id: 3,
            fragment: Bytes::from_static(b"\x82"),
            end_stream: false,
            end_headers: true,
            priority: Some(PrioritySpec {
                exclusive: false,
                dependency: 1,
                weight: 255,
            }),
            pad: Some(1),
        };
        let mut out = Vec::new();
        h.encode(&mut out);
        assert_eq!(
            out,
            b"\x00\x00\x08\x01\x2c\x00\x00\x00\x03\x01\x00\x00\x00\x01\xff\x82\x00"
        );
        assert_eq!(decode_one(&out).unwrap(), Frame::Headers(h));
    }

    #[test]
    fn errors() {
        let e = decode_one(b"\x00\x00\x01\x01\x04\x00\x00\x00\x00\x82").unwrap_err();
        assert_eq!(e.code(), ErrorCode::PROTOCOL_ERROR);
        // PRIORITY flag without room for the fields.
        let e = decode_one(b"\x00\x00\x02\x01\x24\x00\x00\x00\x01\x00\x00").unwrap_err();
        assert_eq!(e.code(), ErrorCode::FRAME_SIZE_ERROR);
        // Padding longer than the payload.
        let e = decode_one(b"\x00\x00\x02\x01\x0c\x00\x00\x00\x01\x09\x82").unwrap_err();
        assert_eq!(e.code(), ErrorCode::PROTOCOL_ERROR);
    }
}
