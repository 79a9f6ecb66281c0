//! SETTINGS frames (RFC 9113 §6.5): each endpoint's parameters, acknowledged
//! by the other side with an empty SETTINGS frame carrying ACK.
//!
//! A value is kept only for the identifiers this crate knows; §6.5.2 says an
//! unknown identifier "MUST be ignored". When one identifier repeats, the last
//! value wins, as processing "in the order in which they appear" implies.

use bytes::{BufMut, Bytes};

use super::header::{FrameHeader, MAX_LENGTH};
use super::window_update::MAX_WINDOW;
use super::{flags, kind};
use crate::error::{Error, ErrorCode};

/// Identifier of SETTINGS_HEADER_TABLE_SIZE (§6.5.2).
pub const HEADER_TABLE_SIZE: u16 = 0x1;
/// Identifier of SETTINGS_ENABLE_PUSH.
pub const ENABLE_PUSH: u16 = 0x2;
/// Identifier of SETTINGS_MAX_CONCURRENT_STREAMS.
pub const MAX_CONCURRENT_STREAMS: u16 = 0x3;
/// Identifier of SETTINGS_INITIAL_WINDOW_SIZE.
pub const INITIAL_WINDOW_SIZE: u16 = 0x4;
/// Identifier of SETTINGS_MAX_FRAME_SIZE.
pub const MAX_FRAME_SIZE: u16 = 0x5;
/// Identifier of SETTINGS_MAX_HEADER_LIST_SIZE.
pub const MAX_HEADER_LIST_SIZE: u16 = 0x6;
/// Identifier of SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441 §3).
pub const ENABLE_CONNECT_PROTOCOL: u16 = 0x8;

/// The smallest SETTINGS_MAX_FRAME_SIZE, and its initial value (§6.5.2).
pub const MIN_MAX_FRAME_SIZE: u32 = 1 << 14;

/// A SETTINGS frame: either an ACK or a set of parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    /// ACK: acknowledges the peer's SETTINGS; carries no parameters.
    pub ack: bool,
    /// SETTINGS_HEADER_TABLE_SIZE: the HPACK table the sender's decoder allows.
    pub header_table_size: Option<u32>,
    /// SETTINGS_ENABLE_PUSH (0 or 1).
    pub enable_push: Option<u32>,
    /// SETTINGS_MAX_CONCURRENT_STREAMS.
    pub max_concurrent_streams: Option<u32>,
    /// SETTINGS_INITIAL_WINDOW_SIZE (at most 2^31-1).
    pub initial_window_size: Option<u32>,
    /// SETTINGS_MAX_FRAME_SIZE (2^14..=2^24-1).
    pub max_frame_size: Option<u32>,
    /// SETTINGS_MAX_HEADER_LIST_SIZE (advisory).
    pub max_header_list_size: Option<u32>,
    /// SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441; 0 or 1).
    pub enable_connect_protocol: Option<u32>,
}

impl Settings {
    /// The acknowledgement of a SETTINGS frame.
    pub fn ack() -> Settings {
        Settings {
            ack: true,
            ..Settings::default()
        }
    }

    /// Decodes a SETTINGS payload, checking every known value's range.
    pub fn decode(head: &FrameHeader, payload: Bytes) -> Result<Settings, Error> {
        // §6.5: stream other than 0 → connection error PROTOCOL_ERROR.
        if head.stream_id != 0 {
            return Err(Error::conn(
                ErrorCode::PROTOCOL_ERROR,
                "SETTINGS on a stream other than 0",
            ));
        }
        let ack = head.has(flags::ACK);
        // §6.5: "Receipt of a SETTINGS frame with the ACK flag set and a length
        // field value other than 0 MUST be treated as a connection error ... of
        // type FRAME_SIZE_ERROR."
        if ack && !payload.is_empty() {
            return Err(Error::conn(
                ErrorCode::FRAME_SIZE_ERROR,
                "SETTINGS ACK with a payload",
            ));
        }
        // §6.5: a length not a multiple of 6 → FRAME_SIZE_ERROR.
        if payload.len() % 6 != 0 {
            return Err(Error::conn(
                ErrorCode::FRAME_SIZE_ERROR,
                "SETTINGS length not a multiple of 6",
            ));
        }
        let mut s = Settings {
            ack,
            ..Settings::default()
        };
        for entry in payload.chunks_exact(6) {
            let id = u16::from_be_bytes([entry[0], entry[1]]);
            let value = u32::from_be_bytes([entry[2], entry[3], entry[4], entry[5]]);
            s.set(id, value)?;
        }
        Ok(s)
    }

    /// Records one parameter after the §6.5.2 range checks.
    fn set(&mut self, id: u16, value: u32) -> Result<(), Error> {
        match id {
            HEADER_TABLE_SIZE => self.header_table_size = Some(value),
            ENABLE_PUSH => {
                if value > 1 {
                    return Err(Error::conn(
                        ErrorCode::PROTOCOL_ERROR,
                        "SETTINGS_ENABLE_PUSH not 0 or 1",
                    ));
                }
                self.enable_push = Some(value);
            }
            MAX_CONCURRENT_STREAMS => self.max_concurrent_streams = Some(value),
            INITIAL_WINDOW_SIZE => {
                // §6.5.2: above 2^31-1 "MUST be treated as a connection error
                // ... of type FLOW_CONTROL_ERROR".
                if value > MAX_WINDOW {
                    return Err(Error::conn(
                        ErrorCode::FLOW_CONTROL_ERROR,
                        "SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1",
                    ));
                }
                self.initial_window_size = Some(value);
            }
            MAX_FRAME_SIZE => {
                if !(MIN_MAX_FRAME_SIZE..=MAX_LENGTH).contains(&value) {
                    return Err(Error::conn(
                        ErrorCode::PROTOCOL_ERROR,
                        "SETTINGS_MAX_FRAME_SIZE out of range",
                    ));
                }
                self.max_frame_size = Some(value);
            }
            MAX_HEADER_LIST_SIZE => self.max_header_list_size = Some(value),
            ENABLE_CONNECT_PROTOCOL => {
                // RFC 8441 §3: "a value other than 0 or 1 ... MUST [be] treated
                // as a connection error of type PROTOCOL_ERROR".
                if value > 1 {
                    return Err(Error::conn(
                        ErrorCode::PROTOCOL_ERROR,
                        "SETTINGS_ENABLE_CONNECT_PROTOCOL not 0 or 1",
                    ));
                }
                self.enable_connect_protocol = Some(value);
            }
            _ => {} // §6.5.2: unknown identifiers are ignored.
        }
        Ok(())
    }

    /// The parameters present, in identifier order.
    pub fn entries(&self) -> impl Iterator<Item = (u16, u32)> {
        [
            (HEADER_TABLE_SIZE, self.header_table_size),
            (ENABLE_PUSH, self.enable_push),
            (MAX_CONCURRENT_STREAMS, self.max_concurrent_streams),
            (INITIAL_WINDOW_SIZE, self.initial_window_size),
            (MAX_FRAME_SIZE, self.max_frame_size),
            (MAX_HEADER_LIST_SIZE, self.max_header_list_size),
            (ENABLE_CONNECT_PROTOCOL, self.enable_connect_protocol),
        ]
        .into_iter()
        .filter_map(|(id, v)| v.map(|v| (id, v)))
    }

    /// Appends the whole frame to `dst`.
    pub fn encode(&self, dst: &mut impl BufMut) {
        let n = if self.ack { 0 } else { self.entries().count() };
        FrameHeader {
            length: (n * 6) as u32,
            kind: kind::SETTINGS,
            flags: if self.ack { flags::ACK } else { 0 },
            stream_id: 0,
        }
        .encode(dst);
        if !self.ack {
            for (id, v) in self.entries() {
                dst.put_u16(id);
                dst.put_u32(v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{decode_one, Frame};
    use super::*;

    #[test]
    fn bytes() {
        let s = Settings {
            max_concurrent_streams: Some(100),
            initial_window_size: Some(65535),
            ..Settings::default()
        };
        let mut out = Vec::new();
        s.encode(&mut out);
        assert_eq!(
            out,
            b"\x00\x00\x0c\x04\x00\x00\x00\x00\x00\x00\x03\x00\x00\x00\x64\x00\x04\x00\x00\xff\xff"
        );
        assert_eq!(decode_one(&out).unwrap(), Frame::Settings(s));
        let mut out = Vec::new();
        Settings::ack().encode(&mut out);
        assert_eq!(out, b"\x00\x00\x00\x04\x01\x00\x00\x00\x00");
        assert_eq!(decode_one(&out).unwrap(), Frame::Settings(Settings::ack()));
    }

    #[test]
    fn unknown_ids_ignored_and_last_value_wins() {
        let f = decode_one(
            b"\x00\x00\x12\x04\x00\x00\x00\x00\x00\x00\xaa\x00\x00\x00\x01\x00\x01\x00\x00\x00\x01\x00\x01\x00\x00\x00\x02",
        )
        .unwrap();
        assert_eq!(
            f,
            Frame::Settings(Settings {
                header_table_size: Some(2),
                ..Settings::default()
            })
        );
    }

    #[test]
    fn errors() {
        let cases: &[(&[u8], ErrorCode)] = &[
            // Stream 1.
            (
                b"\x00\x00\x00\x04\x00\x00\x00\x00\x01",
                ErrorCode::PROTOCOL_ERROR,
            ),
            // ACK with a payload.
            (
                b"\x00\x00\x06\x04\x01\x00\x00\x00\x00\x00\x03\x00\x00\x00\x01",
                ErrorCode::FRAME_SIZE_ERROR,
            ),
            // Length 5.
            (
                b"\x00\x00\x05\x04\x00\x00\x00\x00\x00\x00\x03\x00\x00\x00",
                ErrorCode::FRAME_SIZE_ERROR,
            ),
            // ENABLE_PUSH = 2.
            (
                b"\x00\x00\x06\x04\x00\x00\x00\x00\x00\x00\x02\x00\x00\x00\x02",
                ErrorCode::PROTOCOL_ERROR,
            ),
            // INITIAL_WINDOW_SIZE = 2^31.
            (
                b"\x00\x00\x06\x04\x00\x00\x00\x00\x00\x00\x04\x80\x00\x00\x00",
                ErrorCode::FLOW_CONTROL_ERROR,
            ),
            // MAX_FRAME_SIZE = 16383 and 2^24.
            (
                b"\x00\x00\x06\x04\x00\x00\x00\x00\x00\x00\x05\x00\x00\x3f\xff",
                ErrorCode::PROTOCOL_ERROR,
            ),
            (
                b"\x00\x00\x06\x04\x00\x00\x00\x00\x00\x00\x05\x01\x00\x00\x00",
                ErrorCode::PROTOCOL_ERROR,
            ),
            // ENABLE_CONNECT_PROTOCOL = 2.
            (
                b"\x00\x00\x06\x04\x00\x00\x00\x00\x00\x00\x08\x00\x00\x00\x02",
                ErrorCode::PROTOCOL_ERROR,
            ),
        ];
        for (raw, code) in cases {
            let e = decode_one(raw).unwrap_err();
            assert_eq!(e.code(), *code, "{raw:?}");
            assert!(e.is_connection());
        }
    }
}
