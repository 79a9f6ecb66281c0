//! PRIORITY frames (RFC 9113 §6.3) and the priority fields HEADERS may carry.
//!
//! RFC 9113 §5.3.2 deprecates the RFC 7540 priority scheme; a server may ignore
//! the signal. The frame is still parsed so its size and stream rules are
//! enforced, and so the one rule that remains an error is checked: a stream may
//! not depend on itself (§5.3.1).

use bytes::{BufMut, Bytes};

use super::header::{FrameHeader, STREAM_ID_MASK};
use super::kind;
use crate::error::{Error, ErrorCode};

/// Octets of the priority fields: E + Stream Dependency (4) and Weight (1).
pub const PRIORITY_LEN: usize = 5;

/// Exclusive flag, stream dependency and weight (RFC 9113 §6.3 / RFC 7540 §5.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrioritySpec {
    /// Whether the dependency is exclusive.
    pub exclusive: bool,
    /// The stream this one depends on.
    pub dependency: u32,
    /// Weight minus one, as sent (0..=255 means 1..=256).
    pub weight: u8,
}

impl PrioritySpec {
    /// Reads the 5 octets of priority fields.
    pub fn parse(b: &[u8]) -> PrioritySpec {
        let word = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        PrioritySpec {
            exclusive: word & !STREAM_ID_MASK != 0,
            dependency: word & STREAM_ID_MASK,
            weight: b[4],
        }
    }

    /// Writes the 5 octets.
    pub fn encode(&self, dst: &mut impl BufMut) {
        let e = if self.exclusive { !STREAM_ID_MASK } else { 0 };
        dst.put_u32(e | (self.dependency & STREAM_ID_MASK));
        dst.put_u8(self.weight);
    }

    /// §5.3.1: "A stream cannot depend on itself. An endpoint MUST treat this
    /// as a stream error of type PROTOCOL_ERROR."
    pub fn check(&self, stream_id: u32) -> Result<(), Error> {
        if self.dependency == stream_id {
            Err(Error::stream(
                stream_id,
                ErrorCode::PROTOCOL_ERROR,
                "stream depends on itself",
            ))
        } else {
            Ok(())
        }
    }
}

/// A PRIORITY frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Priority {
    /// The stream whose priority is given.
    pub stream_id: u32,
    /// The priority fields.
    pub spec: PrioritySpec,
}

impl Priority {
    /// Decodes a PRIORITY payload.
    pub fn decode(head: &FrameHeader, payload: Bytes) -> Result<Priority, Error> {
        // §6.3: stream 0 is a connection error of type PROTOCOL_ERROR.
        if head.stream_id == 0 {
            return Err(Error::conn(
                ErrorCode::PROTOCOL_ERROR,
                "PRIORITY on stream 0",
            ));
        }
        // §6.3: "A PRIORITY frame with a length other than 5 octets MUST be
        // treated as a stream error ... of type FRAME_SIZE_ERROR."
        if payload.len() != PRIORITY_LEN {
            return Err(Error::stream(
                head.stream_id,
                ErrorCode::FRAME_SIZE_ERROR,
                "PRIORITY length is not 5",
            ));
        }
        let spec = PrioritySpec::parse(&payload);
        spec.check(head.stream_id)?;
        Ok(Priority {
            stream_id: head.stream_id,
            spec,
        })
    }

    /// Appends the whole frame to `dst`.
    pub fn encode(&self, dst: &mut impl BufMut) {
        FrameHeader {
            length: PRIORITY_LEN as u32,
            kind: kind::PRIORITY,
            flags: 0,
            stream_id: self.stream_id,
        }
        .encode(dst);
        self.spec.encode(dst);
    }
}

#[cfg(test)]
mod tests {
    use super::super::{decode_one, Frame};
    use super::*;

    #[test]
    fn bytes_and_rules() {
        let p = Priority {
            stream_id: 5,
            spec: PrioritySpec {
                exclusive: true,
                dependency: 3,
                weight: 15,
            },
        };
        let mut out = Vec::new();
        p.encode(&mut out);
        assert_eq!(
            out,
            b"\x00\x00\x05\x02\x00\x00\x00\x00\x05\x80\x00\x00\x03\x0f"
        );
        assert_eq!(decode_one(&out).unwrap(), Frame::Priority(p));

        let e =
            decode_one(b"\x00\x00\x05\x02\x00\x00\x00\x00\x05\x00\x00\x00\x05\x00").unwrap_err();
        assert_eq!(e.code(), ErrorCode::PROTOCOL_ERROR);
        assert!(!e.is_connection());
        let e = decode_one(b"\x00\x00\x04\x02\x00\x00\x00\x00\x05\x00\x00\x00\x03").unwrap_err();
        assert_eq!(
            e,
            Error::stream(5, ErrorCode::FRAME_SIZE_ERROR, "PRIORITY length is not 5")
        );
        let e =
            decode_one(b"\x00\x00\x05\x02\x00\x00\x00\x00\x00\x00\x00\x00\x03\x00").unwrap_err();
        assert!(e.is_connection());
    }
}
