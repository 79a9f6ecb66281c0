//! Sans-IO WebSocket for Osprey: RFC 6455, permessage-deflate (RFC 7692) and
//! WebSockets over HTTP/2 (RFC 8441). Bytes in, events and bytes out.
//!
//! Nothing here opens a socket or a file, reads a clock or starts a thread:
//! the server's driver moves the bytes, and every rule can be tested byte for
//! byte. The pieces, bottom up:
//!
//! - [`utf8`]: incremental UTF-8 validation that fails at the first
//!   impossible byte, across any split;
//! - [`frame`]: the frame decoder (incremental, payloads streamed, every
//!   per-frame rule of §5.2) and encoder;
//! - [`close`]: close codes and the close payload rules;
//! - [`extension`] and [`handshake`]: `Sec-WebSocket-Extensions` parsing, the
//!   opening handshake's validation and response;
//! - [`deflate`]: permessage-deflate negotiation and the per-connection codec;
//! - [`WebSocket`]: the connection machine tying them together.
//!
//! # Using it in a server
//!
//! 1. Validate the request: [`Handshake::from_http1`] (a `GET` with `Upgrade:
//!    websocket`) or [`Handshake::from_http2`] (an extended `CONNECT`). A
//!    [`Rejection`] says what to answer: its `status` (400 or 426) and
//!    [`Rejection::headers`].
//! 2. Check [`Handshake::origin`] against the origins you trust, if the
//!    endpoint relies on cookies or other ambient credentials, and answer
//!    403 to the others: this crate cannot know that list.
//! 3. Choose a subprotocol ([`Handshake::select_protocol`]) and call
//!    [`Handshake::accept`]: it negotiates permessage-deflate and gives the
//!    response status (101, or 200 over HTTP/2) and headers to send, and the
//!    [`WebSocket`] to run once they are sent.
//! 4. Then loop: hand every byte read from the client to
//!    [`WebSocket::recv`], take the [`Event`]s from [`WebSocket::poll_event`]
//!    until it returns `None`, send with [`WebSocket::send_text`] and
//!    friends, and write [`WebSocket::output`] to the client
//!    ([`WebSocket::advance_output`] by what was written, or
//!    [`WebSocket::take_output`] all of it). `recv` decodes only up to the
//!    frame that gives the next event and keeps the rest for `poll_event`,
//!    so a reply to a message goes out before whatever the frames after it
//!    cause (a pong, the close of a protocol error), as if they had arrived
//!    one by one.
//!
//! The server must also:
//!
//! - honour [`WebSocket::is_closed`]: once it is true, write what is left of
//!   the output and close the transport (RFC 6455 §7.1.1: the server closes
//!   the TCP connection first). Input after that is ignored;
//! - stop reading from a client while the output is large (a client that
//!   sends pings and never reads would otherwise grow it with pongs);
//! - bound the wait for the client's close after [`WebSocket::close`] with a
//!   timer of its own, and close the transport when it fires; a connection
//!   whose transport ends without a close frame is over too (code 1006 in
//!   the application's terms);
//! - time out idle connections, or send pings to keep them alive: the machine
//!   has no clock.
//!
//! ```
//! use osprey_proto::{HeaderMap, HeaderName, HeaderValue, Method, Version};
//! use osprey_ws::{CloseCode, Event, Handshake, Settings};
//!
//! let mut headers = HeaderMap::new();
//! for (name, value) in [
//!     ("Host", "example.com"),
//!     ("Upgrade", "websocket"),
//!     ("Connection", "Upgrade"),
//!     ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
//!     ("Sec-WebSocket-Version", "13"),
//!     ("Sec-WebSocket-Protocol", "chat"),
//! ] {
//!     headers.append(HeaderName::try_from(name)?, HeaderValue::try_from(value)?);
//! }
//! let handshake = Handshake::from_http1(&Method::Get, Version::Http11, &headers)
//!     .map_err(|r| r.reason)?;
//! let protocol = handshake.select_protocol(&["chat"]);
//! let accepted = handshake.accept(&Settings::default(), protocol);
//! assert_eq!(accepted.status.as_u16(), 101);
//! assert_eq!(
//!     accepted.headers.get("sec-websocket-accept").unwrap().as_bytes(),
//!     b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
//! );
//! let mut ws = accepted.socket;
//!
//! // The client sends "Hello" (RFC 6455 §5.7: one masked text frame).
//! ws.recv(&[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]);
//! while let Some(event) = ws.poll_event() {
//!     match event {
//!         Event::Text(text) => ws.send_text(&text)?, // echo
//!         Event::Binary(data) => ws.send_binary(&data)?,
//!         Event::Close { .. } | Event::Failed(_) => break,
//!         _ => {}
//!     }
//! }
//! assert_eq!(ws.take_output(), &[0x81, 0x05, b'H', b'e', b'l', b'l', b'o'][..]);
//!
//! // We close; the client's close completes the handshake.
//! ws.close(CloseCode::NORMAL, "bye")?;
//! let _ = ws.take_output();
//! ws.recv(&[0x88, 0x82, 1, 2, 3, 4, 0x03 ^ 1, 0xe8 ^ 2]);
//! assert!(ws.is_closed());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Limits
//!
//! Each is a `pub const` in [`limits`] with its production default, and a
//! field of [`Settings`] (or [`DeflateSettings`]) to change it:
//!
//! | limit | default | beyond it |
//! | --- | --- | --- |
//! | [`limits::MAX_FRAME`]: one frame's payload | 16 MiB | close 1009 |
//! | [`limits::MAX_MESSAGE`]: one message, after decompression | 16 MiB | close 1009 |
//! | control frame payload (RFC 6455 §5.5, not configurable) | 125 bytes | close 1002 |
//! | [`limits::SEND_FRAGMENT`]: largest frame we send | 0 (one frame per message) | split |
//! | [`limits::MAX_OFFERS`]: subprotocols, extension offers in a handshake | 32 | 400 |
//! | [`limits::MAX_EXTENSION_PARAMS`]: parameters of one extension offer | 16 | 400 |
//! | [`limits::INFLATE_CHUNK`]: inflated at a time before the size check | 16 KiB | (fixed) |
//! | [`limits::DEFLATE_ENABLED`]: accept permessage-deflate | on | |
//! | [`limits::DEFLATE_WINDOW_BITS`]: our and the client's largest window | 15 | offer declined |
//! | [`limits::DEFLATE_MIN_SIZE`]: smaller messages are sent uncompressed | 64 bytes | |
//! | [`limits::DEFLATE_LEVEL`]: zlib level | 6 | |
//!
//! A whole message is held in memory until it is complete, so
//! `max_message` is the memory a message in progress may take; in streaming
//! mode ([`Settings::streaming`], [`Event::Fragment`]) nothing is held and
//! `max_message` only bounds the total. A compressed message is inflated
//! [`limits::INFLATE_CHUNK`] bytes at a time and each piece counted before it
//! is kept, so a compression bomb ends with 1009 at the limit. With
//! permessage-deflate a connection also holds one inflater and one deflater,
//! made on first use and kept: about 345 KiB per connection at window 15,
//! 200 KiB at window 9 (measured; see [`DeflateSettings`]).
//!
//! # Errors and close codes
//!
//! A client that breaks the protocol gets a close frame with 1002 (framing,
//! fragmentation, close payload), 1007 (text that is not UTF-8, a close
//! reason that is not UTF-8, invalid compressed data) or 1009 (over a
//! limit), and the application an [`Event::Failed`]; the connection is then
//! closed (RFC 6455 §7.1.7: no need to wait for the client's close).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

// Module order, lowest first: each module uses only modules listed before it:
// error -> limits -> utf8 -> frame -> close -> extension -> deflate -> conn
// (the machine) -> handshake (which builds the machine on accept).
pub mod close;
mod conn;
pub mod deflate;
mod error;
pub mod extension;
pub mod frame;
pub mod handshake;
pub mod limits;
pub mod utf8;

pub use close::{CloseCode, CloseFrame};
pub use conn::{Event, Fragment, MessageKind, State, WebSocket};
pub use deflate::DeflateParams;
pub use error::{ProtocolError, SendError};
pub use extension::Extension;
pub use handshake::{accept_key, Accepted, Handshake, Rejection};
pub use limits::{DeflateSettings, Settings};
