//! Sans-IO HTTP/2 (RFC 9113) for Osprey: bytes in, events and bytes out.
//!
//! Nothing here opens a socket or a file, reads a clock or starts a thread:
//! the caller reads bytes from wherever the connection lives (TCP, TLS after
//! ALPN `h2`, or cleartext h2c with prior knowledge), hands them to a
//! [`Connection`], and writes back what the connection produces. Every
//! concurrency model in Osprey can drive it, and every rule can be tested byte
//! for byte. The protocol is implemented here from the RFCs; no HTTP/2 or
//! HPACK crate is used.
//!
//! # Layers, bottom up
//!
//! - [`frame`]: the 9-octet frame header and the ten frame types of RFC 9113
//!   §6, one file each, decoded with their size and stream-id rules and
//!   encoded byte for byte; [`frame::FrameDecoder`] cuts frames off a buffer
//!   and enforces SETTINGS_MAX_FRAME_SIZE. Unknown types and flags are
//!   ignored (§4.1, §5.5).
//! - [`hpack`]: RFC 7541 field compression: prefixed integers, Huffman
//!   coding, the static and dynamic tables, a bounded [`hpack::Decoder`] and
//!   an [`hpack::Encoder`] that indexes sensibly and keeps sensitive fields
//!   out of the table.
//! - [`Connection`]: the server's connection and stream state machines
//!   (§3.4, §5, §6): preface, SETTINGS, PING, flow control both ways,
//!   CONTINUATION assembly, error scopes (§5.4), GOAWAY, abuse bounds; and the
//!   HTTP message rules of §8 that turn field blocks into requests.
//!
//! Errors carry the scope §5.4 gives them ([`Error::Stream`] or
//! [`Error::Connection`]) and an [`ErrorCode`].
//!
//! # Driving a connection
//!
//! ```
//! use osprey_h2::{frame, Config, Connection, Event, PREFACE};
//! use osprey_proto::{HeaderMap, Status};
//!
//! let mut conn = Connection::new(Config::default());
//! // Our SETTINGS (the server preface) are ready to write at once.
//! let to_client = conn.take_output();
//! assert!(!to_client.is_empty());
//!
//! // What a client sends first: the preface, its SETTINGS, then a GET on
//! // stream 1 (":method GET", ":scheme https", ":path /", ":authority a"
//! // in HPACK: three static-table indexes and one literal).
//! let mut input = PREFACE.to_vec();
//! frame::Settings::default().encode(&mut input);
//! let block = bytes::Bytes::from_static(b"\x82\x87\x84\x41\x01a");
//! frame::Headers::new(1, block, true, true).encode(&mut input);
//!
//! conn.recv(&input).expect("no connection error");
//! while let Some(event) = conn.poll_event() {
//!     if let Event::Request { stream_id, path, .. } = event {
//!         assert_eq!(path.as_deref(), Some("/"));
//!         conn.send_response(stream_id, Status::OK, &HeaderMap::new(), false)
//!             .unwrap();
//!         // send_data returns how much flow control let through; the rest
//!         // waits for Event::SendReady.
//!         let sent = conn.send_data(stream_id, b"hello", true).unwrap();
//!         assert_eq!(sent, 5);
//!     }
//! }
//! // SETTINGS ACK, the response HEADERS and DATA, to write to the socket.
//! let out = conn.take_output();
//! assert!(!out.is_empty());
//! assert!(!conn.should_close());
//! ```
//!
//! The loop a server runs around it:
//!
//! 1. read bytes, [`Connection::recv`] them; on `Err` (a connection error,
//!    GOAWAY already queued) write the output and close;
//! 2. [`Connection::poll_event`] until `None`, routing
//!    [`Event::Request`]/[`Event::Data`]/[`Event::Trailers`] to handlers and
//!    calling [`Connection::release_capacity`] as request content is consumed;
//! 3. answer with [`Connection::send_response`], [`Connection::send_data`]
//!    (resume after [`Event::SendReady`]), [`Connection::send_trailers`] or
//!    [`Connection::reset`];
//! 4. write [`Connection::take_output`] (or [`Connection::output`] and
//!    [`Connection::advance_output`] for partial writes);
//! 5. close once [`Connection::should_close`] and the output is written. To
//!    stop a connection, [`Connection::go_away_graceful`] (two-step GOAWAY
//!    around a PING, §6.8) or [`Connection::go_away`].
//!
//! A server that accepts both HTTP/1.1 and h2c on one port tells them apart
//! with [`detect_preface`] on the first bytes.
//!
//! # Limits
//!
//! Every bound is a constant in [`limits`] and a field of [`Config`]:
//!
//! | constant | default | what happens beyond it |
//! |---|---|---|
//! | [`limits::MAX_CONCURRENT_STREAMS`] | 100 | RST_STREAM REFUSED_STREAM |
//! | [`limits::INITIAL_WINDOW_SIZE`] | 256 KiB | stream FLOW_CONTROL_ERROR |
//! | [`limits::CONNECTION_WINDOW_SIZE`] | 1 MiB | connection FLOW_CONTROL_ERROR |
//! | [`limits::MAX_FRAME_SIZE`] | 16 KiB | connection FRAME_SIZE_ERROR |
//! | [`limits::HEADER_TABLE_SIZE`] | 4 KiB | connection COMPRESSION_ERROR |
//! | [`limits::ENCODER_TABLE_SIZE`] | 4 KiB | (our own encoder's table) |
//! | [`limits::MAX_HEADER_LIST_SIZE`] | 32 KiB | 431 on the stream |
//! | [`limits::MAX_HEADER_BLOCK_SIZE`] | 64 KiB | GOAWAY ENHANCE_YOUR_CALM |
//! | [`limits::MAX_PEER_RESETS`] | 200 | GOAWAY ENHANCE_YOUR_CALM (rapid reset) |
//! | [`limits::MAX_LOCAL_RESETS`] | 200 | GOAWAY ENHANCE_YOUR_CALM |
//! | [`limits::MAX_PENDING_CONTROL`] | 1024 | GOAWAY ENHANCE_YOUR_CALM |
//! | [`limits::MAX_IDLE_CONTROL_FRAMES`] | 1000 | GOAWAY ENHANCE_YOUR_CALM |
//! | [`limits::MAX_EMPTY_FRAMES`] | 100 | GOAWAY ENHANCE_YOUR_CALM |
//! | [`limits::RESET_STREAMS_REMEMBERED`] | 256 | (older late frames are errors) |
//!
//! Not implemented: server push (never sent; `SETTINGS_ENABLE_PUSH` is
//! ignored), the RFC 7540 priority tree (PRIORITY is parsed and ignored,
//! §5.3.2), the deprecated HTTP/1.1 `Upgrade: h2c` (RFC 9113 §3.1 removed
//! it), and a SETTINGS timeout (it needs a clock: the caller may close a
//! connection whose [`Event::SettingsAcked`] never comes).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

// Module order, lowest first: error, limits -> frame -> hpack -> preface ->
// conn (flow, stream, message, event, the Connection).
mod conn;
mod error;
pub mod frame;
pub mod hpack;
pub mod limits;
mod preface;

pub use conn::{Connection, Event, SendError, StreamState, CONNECTION_SPECIFIC, DEFAULT_WINDOW};
pub use error::{Error, ErrorCode};
pub use limits::Config;
pub use preface::{detect_preface, PrefaceMatch, PREFACE};
