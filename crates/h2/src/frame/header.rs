//! The 9-octet frame header every HTTP/2 frame starts with (RFC 9113 §4.1).

use bytes::BufMut;

/// Octets in a frame header.
pub const HEADER_LEN: usize = 9;

/// The largest payload length the 24-bit Length field can carry (RFC 9113 §4.1),
/// and the upper bound of SETTINGS_MAX_FRAME_SIZE (§6.5.2).
pub const MAX_LENGTH: u32 = (1 << 24) - 1;

/// Mask clearing the reserved high bit of a 31-bit stream identifier. §4.1: the
/// bit "MUST remain unset (0x00) when sending and MUST be ignored when receiving".
pub const STREAM_ID_MASK: u32 = 0x7fff_ffff;

/// A decoded frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// Payload length in octets (24 bits).
    pub length: u32,
    /// Frame type (§11.2 registry; unknown types are kept, then ignored).
    pub kind: u8,
    /// Flags; the bits a type does not define are ignored (§4.1).
    pub flags: u8,
    /// Stream identifier, reserved bit cleared.
    pub stream_id: u32,
}

impl FrameHeader {
    /// Reads a header from its 9 octets.
    pub fn parse(b: &[u8; HEADER_LEN]) -> FrameHeader {
        FrameHeader {
            length: u32::from_be_bytes([0, b[0], b[1], b[2]]),
            kind: b[3],
            flags: b[4],
            stream_id: u32::from_be_bytes([b[5], b[6], b[7], b[8]]) & STREAM_ID_MASK,
        }
    }

    /// Appends the 9 octets of this header to `dst`.
    pub fn encode(&self, dst: &mut impl BufMut) {
        debug_assert!(self.length <= MAX_LENGTH, "frame length over 2^24-1");
        let len = self.length.to_be_bytes();
        dst.put_slice(&len[1..]);
        dst.put_u8(self.kind);
        dst.put_u8(self.flags);
        dst.put_u32(self.stream_id & STREAM_ID_MASK);
    }

    /// Whether `flag` is set.
    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_reserved_bit() {
        let raw = [0x00, 0x01, 0x02, 0x01, 0x25, 0x80, 0x00, 0x00, 0x03];
        let h = FrameHeader::parse(&raw);
        assert_eq!(
            h,
            FrameHeader {
                length: 258,
                kind: 1,
                flags: 0x25,
                stream_id: 3
            }
        );
        let mut out = Vec::new();
        h.encode(&mut out);
        // The reserved bit is ignored on receipt and never sent.
        assert_eq!(out, [0x00, 0x01, 0x02, 0x01, 0x25, 0x00, 0x00, 0x00, 0x03]);
    }
}
