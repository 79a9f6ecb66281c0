//! DATA frames (RFC 9113 §6.1): the octets of a message's content.

use bytes::{BufMut, Bytes};

use super::header::FrameHeader;
use super::{flags, kind, pad};
use crate::error::{Error, ErrorCode};

/// A DATA frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Data {
    /// The stream the data belongs to (never 0).
    pub stream_id: u32,
    /// The content, padding removed.
    pub data: Bytes,
    /// END_STREAM: the last frame the sender sends on this stream.
    pub end_stream: bool,
    /// Pad Length when the frame was (or is to be) PADDED.
    pub pad: Option<u8>,
}

impl Data {
    /// An unpadded DATA frame.
    pub fn new(stream_id: u32, data: Bytes, end_stream: bool) -> Data {
        Data {
            stream_id,
            data,
            end_stream,
            pad: None,
        }
    }

    /// Octets this frame counts against flow control: §6.1 says "the entire
    /// DATA frame payload is included in flow control, including the Pad Length
    /// and Padding fields if present".
    pub fn flow_len(&self) -> u32 {
        (self.data.len() + pad::overhead(self.pad)) as u32
    }

    /// Decodes the payload of a frame whose header says DATA.
    pub fn decode(head: &FrameHeader, payload: Bytes) -> Result<Data, Error> {
        // §6.1: "If a DATA frame is received whose Stream Identifier field is
        // 0x00, the recipient MUST respond with a connection error ... of type
        // PROTOCOL_ERROR."
        if head.stream_id == 0 {
            return Err(Error::conn(ErrorCode::PROTOCOL_ERROR, "DATA on stream 0"));
        }
        let (data, pad) = pad::strip(payload, head.has(flags::PADDED))?;
        Ok(Data {
            stream_id: head.stream_id,
            data,
            end_stream: head.has(flags::END_STREAM),
            pad,
        })
    }

    /// Appends the whole frame, header included, to `dst`.
    pub fn encode(&self, dst: &mut impl BufMut) {
        let mut f = 0;
        if self.end_stream {
            f |= flags::END_STREAM;
        }
        if self.pad.is_some() {
            f |= flags::PADDED;
        }
        FrameHeader {
            length: self.flow_len(),
            kind: kind::DATA,
            flags: f,
            stream_id: self.stream_id,
        }
        .encode(dst);
        pad::put_len(dst, self.pad);
        dst.put_slice(&self.data);
        pad::put_padding(dst, self.pad);
    }
}

#[cfg(test)]
mod tests {
    use super::super::{decode_one, Frame};
    use super::*;

    #[test]
    fn plain_and_padded_bytes() {
        let mut out = Vec::new();
        Data::new(1, Bytes::from_static(b"hi"), true).encode(&mut out);
        assert_eq!(out, b"\x00\x00\x02\x00\x01\x00\x00\x00\x01hi");
        assert_eq!(
            decode_one(&out).unwrap(),
            Frame::Data(Data::new(1, Bytes::from_static(b"hi"), true))
        );

        let padded = Data {
            stream_id: 3,
            data: Bytes::from_static(b"abc"),
            end_stream: false,
            pad: Some(2),
        };
        let mut out = Vec::new();
        padded.encode(&mut out);
        assert_eq!(out, b"\x00\x00\x06\x00\x08\x00\x00\x00\x03\x02abc\x00\x00");
        assert_eq!(padded.flow_len(), 6);
        assert_eq!(decode_one(&out).unwrap(), Frame::Data(padded));
    }

    #[test]
    fn errors() {
        // Stream 0.
        let e = decode_one(b"\x00\x00\x00\x00\x00\x00\x00\x00\x00").unwrap_err();
        assert_eq!(
            e,
            Error::conn(ErrorCode::PROTOCOL_ERROR, "DATA on stream 0")
        );
        // Pad length equal to the payload length.
        let e = decode_one(b"\x00\x00\x02\x00\x08\x00\x00\x00\x01\x02a").unwrap_err();
        assert_eq!(e.code(), ErrorCode::PROTOCOL_ERROR);
        assert!(e.is_connection());
        // Unknown flags (0x02, 0xf0) are ignored.
        let f = decode_one(b"\x00\x00\x01\x00\xf2\x00\x00\x00\x01x").unwrap();
        assert_eq!(
            f,
            Frame::Data(Data::new(1, Bytes::from_static(b"x"), false))
        );
    }
}
