//! HTTP/2 frames (RFC 9113 §4, §6): one file per frame type, each with its
//! decoder (the size and stream-identifier rules of its section) and encoder.
//!
//! [`FrameDecoder`] cuts whole frames off an input buffer and enforces
//! SETTINGS_MAX_FRAME_SIZE (§4.2). Decoding looks at one frame alone; what a
//! frame means for a stream or the connection (and which frames may follow
//! which) is the connection's business, in `conn`.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::error::{Error, ErrorCode};

mod continuation;
mod data;
mod goaway;
mod header;
mod headers;
mod pad;
mod ping;
mod priority;
mod push_promise;
mod rst_stream;
mod settings;
mod window_update;

pub use continuation::Continuation;
pub use data::Data;
pub use goaway::GoAway;
pub use header::{FrameHeader, HEADER_LEN, MAX_LENGTH, STREAM_ID_MASK};
pub use headers::Headers;
pub use ping::Ping;
pub use priority::{Priority, PrioritySpec, PRIORITY_LEN};
pub use push_promise::PushPromise;
pub use rst_stream::RstStream;
pub use settings::{Settings, MIN_MAX_FRAME_SIZE};
pub use window_update::{WindowUpdate, MAX_WINDOW};

/// SETTINGS parameter identifiers (RFC 9113 §6.5.2, RFC 8441 §3).
pub mod setting_id {
    pub use super::settings::{
        ENABLE_CONNECT_PROTOCOL, ENABLE_PUSH, HEADER_TABLE_SIZE, INITIAL_WINDOW_SIZE,
        MAX_CONCURRENT_STREAMS, MAX_FRAME_SIZE, MAX_HEADER_LIST_SIZE,
    };
}

/// Frame type codes (RFC 9113 §6, registry in §11.2).
pub mod kind {
    /// DATA (§6.1)
    pub const DATA: u8 = 0x0;
    /// HEADERS (§6.2)
    pub const HEADERS: u8 = 0x1;
    /// PRIORITY (§6.3)
    pub const PRIORITY: u8 = 0x2;
    /// RST_STREAM (§6.4)
    pub const RST_STREAM: u8 = 0x3;
    /// SETTINGS (§6.5)
    pub const SETTINGS: u8 = 0x4;
    /// PUSH_PROMISE (§6.6)
    pub const PUSH_PROMISE: u8 = 0x5;
    /// PING (§6.7)
    pub const PING: u8 = 0x6;
    /// GOAWAY (§6.8)
    pub const GOAWAY: u8 = 0x7;
    /// WINDOW_UPDATE (§6.9)
    pub const WINDOW_UPDATE: u8 = 0x8;
    /// CONTINUATION (§6.10)
    pub const CONTINUATION: u8 = 0x9;
}

/// Flag bits. Each type defines its own; §4.1 says the rest "MUST be ignored
/// on receipt", which decoding does by looking only at the bits it knows.
pub mod flags {
    /// END_STREAM on DATA and HEADERS.
    pub const END_STREAM: u8 = 0x1;
    /// ACK on SETTINGS and PING.
    pub const ACK: u8 = 0x1;
    /// END_HEADERS on HEADERS, PUSH_PROMISE and CONTINUATION.
    pub const END_HEADERS: u8 = 0x4;
    /// PADDED on DATA, HEADERS and PUSH_PROMISE.
    pub const PADDED: u8 = 0x8;
    /// PRIORITY on HEADERS.
    pub const PRIORITY: u8 = 0x20;
}

/// A frame of a type this crate does not know. §4.1 and §5.5: "Implementations
/// MUST ignore and discard frames of unknown types" (except inside a field
/// block, which the connection checks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unknown {
    /// The type code.
    pub kind: u8,
    /// The flags as received.
    pub flags: u8,
    /// The stream identifier.
    pub stream_id: u32,
    /// The payload, untouched.
    pub payload: Bytes,
}

/// Any decoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// DATA
    Data(Data),
    /// HEADERS
    Headers(Headers),
    /// PRIORITY
    Priority(Priority),
    /// RST_STREAM
    RstStream(RstStream),
    /// SETTINGS
    Settings(Settings),
    /// PUSH_PROMISE
    PushPromise(PushPromise),
    /// PING
    Ping(Ping),
    /// GOAWAY
    GoAway(GoAway),
    /// WINDOW_UPDATE
    WindowUpdate(WindowUpdate),
    /// CONTINUATION
    Continuation(Continuation),
    /// A type not defined by RFC 9113.
    Unknown(Unknown),
}

impl Frame {
    /// Decodes a frame from its header and exactly `head.length` octets of
    /// payload.
    pub fn decode(head: &FrameHeader, payload: Bytes) -> Result<Frame, Error> {
        debug_assert_eq!(payload.len(), head.length as usize);
        Ok(match head.kind {
            kind::DATA => Frame::Data(Data::decode(head, payload)?),
            kind::HEADERS => Frame::Headers(Headers::decode(head, payload)?),
            kind::PRIORITY => Frame::Priority(Priority::decode(head, payload)?),
            kind::RST_STREAM => Frame::RstStream(RstStream::decode(head, payload)?),
            kind::SETTINGS => Frame::Settings(Settings::decode(head, payload)?),
            kind::PUSH_PROMISE => Frame::PushPromise(PushPromise::decode(head, payload)?),
            kind::PING => Frame::Ping(Ping::decode(head, payload)?),
            kind::GOAWAY => Frame::GoAway(GoAway::decode(head, payload)?),
            kind::WINDOW_UPDATE => Frame::WindowUpdate(WindowUpdate::decode(head, payload)?),
            kind::CONTINUATION => Frame::Continuation(Continuation::decode(head, payload)?),
            other => Frame::Unknown(Unknown {
                kind: other,
                flags: head.flags,
                stream_id: head.stream_id,
                payload,
            }),
        })
    }

    /// Appends the whole frame, header included, to `dst`.
    pub fn encode(&self, dst: &mut impl BufMut) {
        match self {
            Frame::Data(f) => f.encode(dst),
            Frame::Headers(f) => f.encode(dst),
            Frame::Priority(f) => f.encode(dst),
            Frame::RstStream(f) => f.encode(dst),
            Frame::Settings(f) => f.encode(dst),
            Frame::PushPromise(f) => f.encode(dst),
            Frame::Ping(f) => f.encode(dst),
            Frame::GoAway(f) => f.encode(dst),
            Frame::WindowUpdate(f) => f.encode(dst),
            Frame::Continuation(f) => f.encode(dst),
            Frame::Unknown(f) => {
                FrameHeader {
                    length: f.payload.len() as u32,
                    kind: f.kind,
                    flags: f.flags,
                    stream_id: f.stream_id,
                }
                .encode(dst);
                dst.put_slice(&f.payload);
            }
        }
    }

    /// The frame's stream identifier (0 for connection-level frames).
    pub fn stream_id(&self) -> u32 {
        match self {
            Frame::Data(f) => f.stream_id,
            Frame::Headers(f) => f.stream_id,
            Frame::Priority(f) => f.stream_id,
            Frame::RstStream(f) => f.stream_id,
            Frame::PushPromise(f) => f.stream_id,
            Frame::WindowUpdate(f) => f.stream_id,
            Frame::Continuation(f) => f.stream_id,
            Frame::Unknown(f) => f.stream_id,
            Frame::Settings(_) | Frame::Ping(_) | Frame::GoAway(_) => 0,
        }
    }
}

/// Cuts frames off the front of an input buffer.
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    max_frame_size: u32,
}

impl FrameDecoder {
    /// A decoder accepting payloads up to `max_frame_size` octets: the value of
    /// SETTINGS_MAX_FRAME_SIZE this endpoint advertised.
    pub fn new(max_frame_size: u32) -> FrameDecoder {
        FrameDecoder {
            max_frame_size: max_frame_size.clamp(MIN_MAX_FRAME_SIZE, MAX_LENGTH),
        }
    }

    /// The payload size accepted.
    pub fn max_frame_size(&self) -> u32 {
        self.max_frame_size
    }

    /// Changes the payload size accepted.
    pub fn set_max_frame_size(&mut self, n: u32) {
        self.max_frame_size = n.clamp(MIN_MAX_FRAME_SIZE, MAX_LENGTH);
    }

    /// The header of the next frame, once its 9 octets are in `buf`, checked
    /// against the size limit but not removed.
    pub fn peek_header(&self, buf: &[u8]) -> Result<Option<FrameHeader>, Error> {
        let Some(raw) = buf.first_chunk::<HEADER_LEN>() else {
            return Ok(None);
        };
        let head = FrameHeader::parse(raw);
        // §4.2: "An endpoint MUST send an error code of FRAME_SIZE_ERROR if a
        // frame exceeds the size defined in SETTINGS_MAX_FRAME_SIZE". A frame
        // that big is refused before its payload is buffered; treating it as a
        // connection error is always allowed, and saves skipping megabytes.
        if head.length > self.max_frame_size {
            return Err(Error::conn(
                ErrorCode::FRAME_SIZE_ERROR,
                "frame larger than SETTINGS_MAX_FRAME_SIZE",
            ));
        }
        Ok(Some(head))
    }

    /// Removes and decodes the next whole frame from `buf`; `Ok(None)` when the
    /// frame is not complete yet.
    pub fn decode(&self, buf: &mut BytesMut) -> Result<Option<Frame>, Error> {
        let Some(head) = self.peek_header(buf)? else {
            return Ok(None);
        };
        let total = HEADER_LEN + head.length as usize;
        if buf.len() < total {
            return Ok(None);
        }
        buf.advance(HEADER_LEN);
        let payload = buf.split_to(head.length as usize).freeze();
        Frame::decode(&head, payload).map(Some)
    }
}

/// Decodes exactly one frame from `bytes` (tests and tools).
#[cfg(test)]
pub(crate) fn decode_one(bytes: &[u8]) -> Result<Frame, Error> {
    let mut buf = BytesMut::from(bytes);
    let f = FrameDecoder::new(MAX_LENGTH)
        .decode(&mut buf)?
        .expect("whole frame");
    assert!(buf.is_empty(), "trailing bytes");
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_types_are_kept_for_ignoring() {
        let raw = b"\x00\x00\x02\xfa\xff\x00\x00\x00\x01ab";
        let f = decode_one(raw).unwrap();
        assert_eq!(
            f,
            Frame::Unknown(Unknown {
                kind: 0xfa,
                flags: 0xff,
                stream_id: 1,
                payload: Bytes::from_static(b"ab")
            })
        );
        let mut out = Vec::new();
        f.encode(&mut out);
        assert_eq!(out, raw);
    }

    #[test]
    fn max_frame_size_and_partial_input() {
        let d = FrameDecoder::new(MIN_MAX_FRAME_SIZE);
        let mut big = BytesMut::from(&b"\x00\x40\x01\x00\x00\x00\x00\x00\x01"[..]);
        let e = d.decode(&mut big).unwrap_err();
        assert_eq!(e.code(), ErrorCode::FRAME_SIZE_ERROR);
        let mut ok = BytesMut::from(&b"\x00\x40\x00\x00\x00\x00\x00\x00\x01"[..]);
        assert_eq!(d.decode(&mut ok).unwrap(), None);
        ok.extend_from_slice(&[0; 0x4000]);
        assert!(matches!(d.decode(&mut ok).unwrap(), Some(Frame::Data(_))));
        assert!(ok.is_empty());
        let mut short = BytesMut::from(&b"\x00\x00"[..]);
        assert_eq!(d.decode(&mut short).unwrap(), None);
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    fn bytes(max: usize) -> impl Strategy<Value = Bytes> {
        proptest::collection::vec(any::<u8>(), 0..max).prop_map(Bytes::from)
    }

    fn stream() -> impl Strategy<Value = u32> {
        1..=STREAM_ID_MASK
    }

    fn frame() -> impl Strategy<Value = Frame> {
        let spec =
            (any::<bool>(), 0..=STREAM_ID_MASK, any::<u8>()).prop_map(|(e, d, w)| PrioritySpec {
                exclusive: e,
                dependency: d,
                weight: w,
            });
        prop_oneof![
            (
                stream(),
                bytes(64),
                any::<bool>(),
                proptest::option::of(any::<u8>())
            )
                .prop_map(|(s, d, e, p)| Frame::Data(Data {
                    stream_id: s,
                    data: d,
                    end_stream: e,
                    pad: p
                })),
            (
                stream(),
                bytes(64),
                any::<bool>(),
                any::<bool>(),
                proptest::option::of(spec.clone()),
                proptest::option::of(any::<u8>())
            )
                .prop_map(|(s, b, es, eh, pr, p)| Frame::Headers(Headers {
                    stream_id: s,
                    fragment: b,
                    end_stream: es,
                    end_headers: eh,
                    priority: pr,
                    pad: p
                })),
            (stream(), spec)
                .prop_filter("self dependency", |(s, p)| p.dependency != *s)
                .prop_map(|(s, p)| Frame::Priority(Priority {
                    stream_id: s,
                    spec: p
                })),
            (stream(), any::<u32>()).prop_map(|(s, c)| Frame::RstStream(RstStream {
                stream_id: s,
                code: ErrorCode(c)
            })),
            (
                proptest::option::of(any::<u32>()),
                proptest::option::of(0..=1u32),
                proptest::option::of(any::<u32>()),
                proptest::option::of(0..=MAX_WINDOW),
                proptest::option::of(MIN_MAX_FRAME_SIZE..=MAX_LENGTH),
                proptest::option::of(any::<u32>()),
                proptest::option::of(0..=1u32),
            )
                .prop_map(|(a, b, c, d, e, f, g)| Frame::Settings(Settings {
                    ack: false,
                    header_table_size: a,
                    enable_push: b,
                    max_concurrent_streams: c,
                    initial_window_size: d,
                    max_frame_size: e,
                    max_header_list_size: f,
                    enable_connect_protocol: g,
                })),
            (
                stream(),
                0..=STREAM_ID_MASK,
                bytes(32),
                any::<bool>(),
                proptest::option::of(any::<u8>())
            )
                .prop_map(|(s, p, b, e, pad)| Frame::PushPromise(PushPromise {
                    stream_id: s,
                    promised_id: p,
                    fragment: b,
                    end_headers: e,
                    pad
                })),
            (any::<bool>(), any::<[u8; 8]>())
                .prop_map(|(a, p)| Frame::Ping(Ping { ack: a, payload: p })),
            (0..=STREAM_ID_MASK, any::<u32>(), bytes(32)).prop_map(|(l, c, d)| Frame::GoAway(
                GoAway {
                    last_stream_id: l,
                    code: ErrorCode(c),
                    debug_data: d
                }
            )),
            (0..=STREAM_ID_MASK, 1..=MAX_WINDOW).prop_map(|(s, i)| Frame::WindowUpdate(
                WindowUpdate {
                    stream_id: s,
                    increment: i
                }
            )),
            (stream(), bytes(64), any::<bool>()).prop_map(|(s, b, e)| Frame::Continuation(
                Continuation {
                    stream_id: s,
                    fragment: b,
                    end_headers: e
                }
            )),
            (10u8..=255, any::<u8>(), 0..=STREAM_ID_MASK, bytes(32)).prop_map(|(k, f, s, p)| {
                Frame::Unknown(Unknown {
                    kind: k,
                    flags: f,
                    stream_id: s,
                    payload: p,
                })
            }),
        ]
    }

    proptest! {
        #[test]
        fn encode_then_decode_is_identity(f in frame()) {
            let mut out = BytesMut::new();
            f.encode(&mut out);
            let back = FrameDecoder::new(MAX_LENGTH).decode(&mut out).unwrap().unwrap();
            prop_assert!(out.is_empty());
            prop_assert_eq!(back, f);
        }

        #[test]
        fn random_bytes_never_panic(raw in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut buf = BytesMut::from(&raw[..]);
            let d = FrameDecoder::new(MIN_MAX_FRAME_SIZE);
            while let Ok(Some(_)) = d.decode(&mut buf) {}
        }
    }
}
