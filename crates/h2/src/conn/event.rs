//! What the connection reports to the application, and what it refuses to
//! send.

use std::fmt;

use bytes::Bytes;
use osprey_proto::{HeaderMap, HeaderName, Method};

use crate::error::ErrorCode;

/// Something the peer did that the application must know about, in the order
/// it happened. Taken with [`Connection::poll_event`](crate::Connection::poll_event).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A new request (RFC 9113 §8.3.1), validated by the §8 rules.
    Request {
        /// Its stream.
        stream_id: u32,
        /// `:method`.
        method: Method,
        /// `:scheme` (absent for CONNECT).
        scheme: Option<String>,
        /// `:authority`, or the Host field when `:authority` was absent.
        authority: Option<String>,
        /// `:path` (absent for CONNECT).
        path: Option<String>,
        /// `:protocol` of an extended CONNECT (RFC 8441), such as `websocket`.
        protocol: Option<String>,
        /// The regular fields; `cookie` crumbs joined into one (§8.2.3).
        headers: HeaderMap,
        /// No content follows.
        end_stream: bool,
    },
    /// Request content. The application calls
    /// [`release_capacity`](crate::Connection::release_capacity) once it has
    /// consumed `data`, so the client may send more.
    Data {
        /// Its stream.
        stream_id: u32,
        /// The content (padding removed).
        data: Bytes,
        /// The request is complete.
        end_stream: bool,
    },
    /// A request's trailer section; the request is complete.
    Trailers {
        /// Its stream.
        stream_id: u32,
        /// The trailer fields.
        headers: HeaderMap,
    },
    /// A stream the application knows ended abnormally: reset by the peer
    /// (`remote`), or by this connection for a stream error the peer caused.
    /// Nothing more can be sent on it.
    StreamReset {
        /// The stream.
        stream_id: u32,
        /// The RST_STREAM error code.
        code: ErrorCode,
        /// Whether the peer sent the reset.
        remote: bool,
    },
    /// A stream whose last `send_data` was cut short by flow control may send
    /// again.
    SendReady {
        /// The stream.
        stream_id: u32,
    },
    /// The peer sent GOAWAY: it opens no more streams; finish the open ones.
    GoAway {
        /// The last stream id the peer says it processed.
        last_stream_id: u32,
        /// Why.
        code: ErrorCode,
        /// Opaque diagnostic data.
        debug_data: Bytes,
    },
    /// The peer answered a PING sent with `send_ping`.
    PingAck {
        /// The echoed payload.
        payload: [u8; 8],
    },
    /// The peer acknowledged our SETTINGS; they are in force.
    SettingsAcked,
}

/// Why a send method refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// The connection is closed (after a connection error or GOAWAY with an
    /// error).
    ConnectionClosed,
    /// No such open stream: never opened, or already closed or reset.
    UnknownStream,
    /// This side already ended the stream.
    StreamClosed,
    /// A final response was already sent.
    AlreadyResponded,
    /// DATA or trailers before a final response.
    NoResponse,
    /// 101 (not applicable to HTTP/2, §8.6), or an interim (1xx) response
    /// that would end the stream.
    InvalidStatus,
    /// A connection-specific field, or `te` other than `trailers` (§8.2.2).
    ForbiddenHeader(HeaderName),
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::ConnectionClosed => f.write_str("connection closed"),
            SendError::UnknownStream => f.write_str("no such open stream"),
            SendError::StreamClosed => f.write_str("stream already ended by this side"),
            SendError::AlreadyResponded => f.write_str("response already sent"),
            SendError::NoResponse => f.write_str("no response sent yet"),
            SendError::InvalidStatus => f.write_str("status not allowed here"),
            SendError::ForbiddenHeader(n) => write!(f, "field {n} not allowed in HTTP/2"),
        }
    }
}

impl std::error::Error for SendError {}
