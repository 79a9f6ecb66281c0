//! HTTP/1.1 protocol errors: what was wrong, whose fault it was, and the status to answer.
//!
//! A parser never answers by itself; it returns a [`ProtoError`] and the server
//! sends the canned reply for [`ProtoError::status`], then closes the connection
//! (RFC 9112 §9.6: after a framing error the connection cannot be trusted). The
//! error never holds the offending bytes, so a reply built from it cannot echo
//! attacker input back.

use std::fmt;

use osprey_proto::Status;

/// Which side broke the protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The peer sent bytes that are not valid HTTP.
    Remote,
    /// Our side asked to send something HTTP cannot express.
    Local,
}

/// Every protocol violation the HTTP/1.1 machine detects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The request line or status line does not follow the grammar.
    BadStartLine,
    /// The method is not a token.
    BadMethod,
    /// The request-target has a forbidden byte or the wrong form for the method.
    BadTarget,
    /// The version is well-formed but not HTTP/1.0 or HTTP/1.1 (505).
    UnsupportedVersion,
    /// The request line is longer than the limit (414).
    RequestLineTooLong,
    /// The head is larger than the limit (431).
    HeadTooLarge,
    /// The head has more fields than the limit (431).
    TooManyHeaders,
    /// A field name is not a token or is empty.
    BadHeaderName,
    /// Whitespace between a field name and the colon (RFC 9112 §5.1).
    SpaceBeforeColon,
    /// A line begins with whitespace: obsolete line folding (RFC 9112 §5.2).
    ObsoleteFold,
    /// A field value holds NUL, CR, LF or another control character.
    BadHeaderValue,
    /// A CR not followed by LF.
    BareCr,
    /// A line ended with LF alone; Osprey requires CR LF (docs/http-subset.md).
    BareLf,
    /// HTTP/1.1 request without Host, or with more than one (RFC 9112 §3.2).
    BadHost,
    /// Both Transfer-Encoding and Content-Length (RFC 9112 §6.1).
    LengthAndTransferEncoding,
    /// Content-Length is not plain digits, overflows, or values differ.
    BadContentLength,
    /// Transfer-Encoding whose final coding is not `chunked` (RFC 9112 §6.3).
    ChunkedNotLast,
    /// A Transfer-Encoding list with an empty or malformed element, or `chunked`
    /// applied twice.
    BadTransferEncoding,
    /// A transfer coding Osprey does not implement (501, RFC 9112 §6.1).
    UnknownTransferCoding,
    /// Transfer-Encoding in an HTTP/1.0 message (RFC 9112 §6.1).
    TransferEncodingInHttp10,
    /// A malformed chunk-size line, chunk data not followed by CR LF, or a
    /// malformed trailer.
    BadChunk,
    /// A chunk-size line longer than the limit.
    ChunkLineTooLong,
    /// The trailer section is larger than the limit (431).
    TrailerTooLarge,
    /// The body is larger than the limit (413).
    BodyTooLarge,
    /// An `Expect` other than `100-continue` (417, RFC 9110 §10.1.1).
    UnsupportedExpectation,
    /// A response's status code is not three digits.
    BadStatus,
    /// The peer closed the connection before the message was complete.
    IncompleteMessage,
}

/// A protocol error with the status a server answers it with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProtoError {
    kind: ErrorKind,
    fault: Fault,
}

impl ProtoError {
    /// An error the peer caused.
    pub const fn remote(kind: ErrorKind) -> ProtoError {
        ProtoError {
            kind,
            fault: Fault::Remote,
        }
    }

    /// An error our side caused.
    pub const fn local(kind: ErrorKind) -> ProtoError {
        ProtoError {
            kind,
            fault: Fault::Local,
        }
    }

    /// What was wrong.
    pub const fn kind(self) -> ErrorKind {
        self.kind
    }

    /// Whose fault it was.
    pub const fn fault(self) -> Fault {
        self.fault
    }

    /// The status a server answers with. Every status here closes the connection.
    pub const fn status(self) -> Status {
        use ErrorKind::*;
        match self.kind {
            UnsupportedVersion => Status::HTTP_VERSION_NOT_SUPPORTED,
            RequestLineTooLong => Status::URI_TOO_LONG,
            HeadTooLarge | TooManyHeaders | TrailerTooLarge => {
                Status::REQUEST_HEADER_FIELDS_TOO_LARGE
            }
            UnknownTransferCoding => Status::NOT_IMPLEMENTED,
            BodyTooLarge => Status::CONTENT_TOO_LARGE,
            UnsupportedExpectation => Status::EXPECTATION_FAILED,
            _ => Status::BAD_REQUEST,
        }
    }

    /// A short, fixed description that never contains input bytes.
    pub const fn description(self) -> &'static str {
        use ErrorKind::*;
        match self.kind {
            BadStartLine => "malformed start line",
            BadMethod => "malformed method",
            BadTarget => "malformed request target",
            UnsupportedVersion => "unsupported HTTP version",
            RequestLineTooLong => "request line too long",
            HeadTooLarge => "request head too large",
            TooManyHeaders => "too many header fields",
            BadHeaderName => "malformed header field name",
            SpaceBeforeColon => "whitespace before colon in header field",
            ObsoleteFold => "obsolete line folding",
            BadHeaderValue => "invalid character in header field value",
            BareCr => "CR not followed by LF",
            BareLf => "line ending without CR",
            BadHost => "missing or repeated Host",
            LengthAndTransferEncoding => "both Content-Length and Transfer-Encoding",
            BadContentLength => "invalid Content-Length",
            ChunkedNotLast => "chunked is not the final transfer coding",
            BadTransferEncoding => "malformed Transfer-Encoding",
            UnknownTransferCoding => "unsupported transfer coding",
            TransferEncodingInHttp10 => "Transfer-Encoding in HTTP/1.0",
            BadChunk => "malformed chunked body",
            ChunkLineTooLong => "chunk size line too long",
            TrailerTooLarge => "trailer section too large",
            BodyTooLarge => "body too large",
            UnsupportedExpectation => "unsupported expectation",
            BadStatus => "malformed status code",
            IncompleteMessage => "connection closed before the message was complete",
        }
    }
}

impl fmt::Display for ProtoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.description(), self.status())
    }
}

impl std::error::Error for ProtoError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_for_kinds() {
        let s = |k| ProtoError::remote(k).status().as_u16();
        assert_eq!(s(ErrorKind::BadStartLine), 400);
        assert_eq!(s(ErrorKind::UnsupportedVersion), 505);
        assert_eq!(s(ErrorKind::RequestLineTooLong), 414);
        assert_eq!(s(ErrorKind::TooManyHeaders), 431);
        assert_eq!(s(ErrorKind::UnknownTransferCoding), 501);
        assert_eq!(s(ErrorKind::BodyTooLarge), 413);
        assert_eq!(s(ErrorKind::UnsupportedExpectation), 417);
        assert_eq!(ProtoError::remote(ErrorKind::BareLf).fault(), Fault::Remote);
    }
}
