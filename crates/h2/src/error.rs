//! HTTP/2 error codes (RFC 9113 §7) and the two scopes an error can have
//! (RFC 9113 §5.4): the whole connection, or one stream.
//!
//! Every check in this crate returns an [`Error`] saying which scope the RFC
//! gives the violation, so the connection can answer it the way §5.4 asks:
//! RST_STREAM for a stream error, GOAWAY and close for a connection error.

use std::fmt;

/// A 32-bit HTTP/2 error code (RFC 9113 §7). Codes this crate does not know are
/// kept as they are: §7 says an unknown code must not trigger special behaviour,
/// and may be treated as `INTERNAL_ERROR`, which [`ErrorCode::name`] reports.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ErrorCode(pub u32);

impl ErrorCode {
    /// 0x0: graceful shutdown, or a stream no longer needed.
    pub const NO_ERROR: ErrorCode = ErrorCode(0x0);
    /// 0x1: a protocol rule was broken and no more specific code applies.
    pub const PROTOCOL_ERROR: ErrorCode = ErrorCode(0x1);
    /// 0x2: an unexpected internal error.
    pub const INTERNAL_ERROR: ErrorCode = ErrorCode(0x2);
    /// 0x3: flow control was violated.
    pub const FLOW_CONTROL_ERROR: ErrorCode = ErrorCode(0x3);
    /// 0x4: a SETTINGS frame was not acknowledged in time.
    pub const SETTINGS_TIMEOUT: ErrorCode = ErrorCode(0x4);
    /// 0x5: a frame arrived after the stream was half-closed.
    pub const STREAM_CLOSED: ErrorCode = ErrorCode(0x5);
    /// 0x6: a frame had an invalid size.
    pub const FRAME_SIZE_ERROR: ErrorCode = ErrorCode(0x6);
    /// 0x7: the stream was refused before any application processing.
    pub const REFUSED_STREAM: ErrorCode = ErrorCode(0x7);
    /// 0x8: the stream is no longer needed.
    pub const CANCEL: ErrorCode = ErrorCode(0x8);
    /// 0x9: the field-section compression context cannot be maintained.
    pub const COMPRESSION_ERROR: ErrorCode = ErrorCode(0x9);
    /// 0xa: a CONNECT tunnel was reset or closed abnormally.
    pub const CONNECT_ERROR: ErrorCode = ErrorCode(0xa);
    /// 0xb: the peer behaves in a way that may be generating excessive load.
    pub const ENHANCE_YOUR_CALM: ErrorCode = ErrorCode(0xb);
    /// 0xc: the transport's security properties are not sufficient.
    pub const INADEQUATE_SECURITY: ErrorCode = ErrorCode(0xc);
    /// 0xd: the request must be retried over HTTP/1.1.
    pub const HTTP_1_1_REQUIRED: ErrorCode = ErrorCode(0xd);

    /// The name RFC 9113 §7 gives the code, or `"UNKNOWN"`.
    pub fn name(self) -> &'static str {
        match self.0 {
            0x0 => "NO_ERROR",
            0x1 => "PROTOCOL_ERROR",
            0x2 => "INTERNAL_ERROR",
            0x3 => "FLOW_CONTROL_ERROR",
            0x4 => "SETTINGS_TIMEOUT",
            0x5 => "STREAM_CLOSED",
            0x6 => "FRAME_SIZE_ERROR",
            0x7 => "REFUSED_STREAM",
            0x8 => "CANCEL",
            0x9 => "COMPRESSION_ERROR",
            0xa => "CONNECT_ERROR",
            0xb => "ENHANCE_YOUR_CALM",
            0xc => "INADEQUATE_SECURITY",
            0xd => "HTTP_1_1_REQUIRED",
            _ => "UNKNOWN",
        }
    }
}

impl fmt::Debug for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            "UNKNOWN" => write!(f, "ErrorCode({:#x})", self.0),
            name => f.write_str(name),
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// A protocol violation with the scope RFC 9113 §5.4 assigns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// §5.4.1: the connection cannot go on. The endpoint sends GOAWAY with this
    /// code and closes.
    Connection {
        /// The code sent in GOAWAY.
        code: ErrorCode,
        /// What was wrong, for logs (never sent to the peer).
        reason: &'static str,
    },
    /// §5.4.2: one stream cannot go on; the connection can. The endpoint sends
    /// RST_STREAM with this code.
    Stream {
        /// The stream concerned.
        stream_id: u32,
        /// The code sent in RST_STREAM.
        code: ErrorCode,
        /// What was wrong, for logs.
        reason: &'static str,
    },
}

impl Error {
    /// A connection error.
    pub const fn conn(code: ErrorCode, reason: &'static str) -> Error {
        Error::Connection { code, reason }
    }

    /// A stream error on `stream_id`.
    pub const fn stream(stream_id: u32, code: ErrorCode, reason: &'static str) -> Error {
        Error::Stream {
            stream_id,
            code,
            reason,
        }
    }

    /// The code either scope carries.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::Connection { code, .. } | Error::Stream { code, .. } => *code,
        }
    }

    /// The reason either scope carries.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::Connection { reason, .. } | Error::Stream { reason, .. } => reason,
        }
    }

    /// Whether this is a connection error.
    pub fn is_connection(&self) -> bool {
        matches!(self, Error::Connection { .. })
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Connection { code, reason } => write!(f, "connection error {code}: {reason}"),
            Error::Stream {
                stream_id,
                code,
                reason,
            } => write!(f, "stream {stream_id} error {code}: {reason}"),
        }
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_scopes() {
        assert_eq!(ErrorCode::ENHANCE_YOUR_CALM.name(), "ENHANCE_YOUR_CALM");
        assert_eq!(format!("{:?}", ErrorCode(0x42)), "ErrorCode(0x42)");
        let e = Error::stream(3, ErrorCode::CANCEL, "x");
        assert!(!e.is_connection());
        assert_eq!(e.code(), ErrorCode::CANCEL);
        assert_eq!(e.to_string(), "stream 3 error CANCEL: x");
        assert!(Error::conn(ErrorCode::PROTOCOL_ERROR, "y").is_connection());
    }
}
