//! Sans-IO HTTP/1.1 (RFC 9112): bytes in, events and bytes out.
//!
//! Nothing here opens a socket or a file, reads a clock or starts a thread, so
//! every concurrency model in Osprey drives the same machine, and every rule can
//! be tested byte for byte. The pieces, bottom up:
//!
//! - [`RequestParser`] / [`ResponseParser`]: incremental head parsing into spans
//!   of the caller's buffer, resumable at any split of the input;
//! - framing ([`BodyFraming`]): RFC 9112 §6 applied strictly, so a request has one
//!   body length or is refused;
//! - [`BodyDecoder`]: Content-Length, chunked and close-delimited bodies;
//! - [`OutQueue`] and [`encode_head`]: responses as segments for one `writev` or
//!   `sendfile`;
//! - [`ServerConn`]: the connection state machine tying them together, with
//!   keep-alive, pipelining and upgrades.
//!
//! Which inputs are accepted and which status each violation gets is listed in
//! docs/http-subset.md.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

// Module order, lowest first: each module uses only modules listed before it
// (through the crate root's re-exports of `error` and `limits` too):
// error, limits -> scan (line scanning) -> field (spans, field lines) ->
// authority (host[:port] grammar) -> framing (RFC 9112 §6 from the fields) ->
// head (request and status lines, field sections) -> body (decoders) ->
// out (segments) -> encode (response heads) -> conn (the state machine).
mod authority;
mod body;
mod conn;
mod encode;
mod error;
mod field;
mod framing;
mod head;
pub mod limits;
mod out;
mod scan;

pub use body::{BodyDecoder, Step};
pub use conn::{Event, ServerConn};
pub use encode::{
    chunk_end, chunk_start, chunked_finish, encode_canned, encode_error, encode_head, BodyLength,
    EncodeConfig, Framing, RequestMeta, CONTINUE,
};
pub use error::{ErrorKind, Fault, ProtoError};
pub use field::{Field, Span};
pub use framing::{BodyFraming, RequestContext};
pub use head::{Parsed, RequestHead, RequestParser, ResponseHead, ResponseParser, TargetForm};
pub use limits::Limits;
pub use out::{OutQueue, Pending, COPY_THRESHOLD};
