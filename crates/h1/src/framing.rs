//! Message framing: how long is the body? (RFC 9112 §6.1–§6.3)
//!
//! This is where request smuggling is won or lost. Two servers that disagree
//! about where a body ends disagree about where the next request starts, so the
//! rules here are the strict reading of RFC 9112 §6 and every ambiguous case is an
//! error that closes the connection:
//!
//! - Transfer-Encoding and Content-Length together: 400 (§6.1 allows "TE wins";
//!   we refuse, because the sender is either broken or attacking).
//! - Transfer-Encoding must end in `chunked`, applied once (§6.1, §6.3); list
//!   elements must be tokens, and an empty element — which RFC 9110 §5.6.1 asks us
//!   to skip — is refused too: `chunked,` is a known obfuscation and no real client
//!   sends it. A coding other than chunked is 501: we implement none.
//! - Transfer-Encoding in HTTP/1.0: 400 (§6.1: HTTP/1.0 has no chunked coding).
//! - Content-Length must be digits; repeated or listed values must all agree, and
//!   then collapse into one (RFC 9110 §8.6).
//!
//! The same pass picks up the other fields the protocol layer acts on: Host,
//! Connection, Expect and Upgrade.

use crate::{ErrorKind, Limits, ProtoError};
use osprey_proto::chars::{is_token, trim_ows};
use osprey_proto::{Status, Version};

use crate::authority::parse_authority;
use crate::field::{Field, Span};

/// How a message body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body at all.
    Empty,
    /// Exactly this many bytes (`Content-Length`).
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Everything until the connection closes (responses only, RFC 9112 §6.3
    /// rule 8).
    UntilClose,
    /// The connection becomes a tunnel after this head (a 2xx answer to CONNECT,
    /// or 101 Switching Protocols).
    Tunnel,
}

/// What a response parser must know about the request a response answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestContext {
    /// The request was HEAD: the response has no body whatever it says.
    pub head: bool,
    /// The request was CONNECT: a 2xx turns the connection into a tunnel.
    pub connect: bool,
}

/// What the fields of a request head say about its message, once RFC 9112
/// §6.3 and §3.2 are applied. The head parser copies it into the head.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RequestFraming {
    /// How the body is delimited.
    pub body: BodyFraming,
    /// Whether the connection may carry another request after this one.
    pub keep_alive: bool,
    /// `Expect: 100-continue` in an HTTP/1.1 request.
    pub expect_continue: bool,
    /// The `Upgrade` value, when it counts (listed in Connection, HTTP/1.1).
    pub upgrade: Option<Span>,
    /// The Host value, a valid authority (RFC 9112 §3.2).
    pub host: Option<Span>,
}

/// What the fields of a response head say about its message (RFC 9112 §6.3).
#[derive(Clone, Copy, Debug)]
pub(crate) struct ResponseFraming {
    /// How the body is delimited, given the request it answers.
    pub body: BodyFraming,
    /// Whether the connection may carry another exchange.
    pub keep_alive: bool,
}

/// What the framing fields of one head say, before the rules are applied.
#[derive(Default)]
struct FramingFields {
    content_length: Option<u64>,
    bad_content_length: bool,
    transfer_encoding: bool,
    /// A coding list element that is empty or not a token, or `chunked` twice.
    bad_coding_list: bool,
    chunked_last: bool,
    unknown_coding: bool,
    close: bool,
    keep_alive: bool,
    connection_upgrade: bool,
}

impl FramingFields {
    fn content_length(&mut self, value: &[u8]) {
        for element in value.split(|&b| b == b',') {
            match parse_decimal(trim_ows(element)) {
                Some(n) if self.content_length.is_none_or(|seen| seen == n) => {
                    self.content_length = Some(n)
                }
                _ => self.bad_content_length = true,
            }
        }
    }

    fn transfer_encoding(&mut self, value: &[u8]) {
        self.transfer_encoding = true;
        for element in value.split(|&b| b == b',') {
            let coding = trim_ows(element);
            if !is_token(coding) {
                self.bad_coding_list = true;
            } else if coding.eq_ignore_ascii_case(b"chunked") {
                // RFC 9112 §6.1: chunked MUST NOT be applied more than once.
                if self.chunked_last {
                    self.bad_coding_list = true;
                }
                self.chunked_last = true;
            } else {
                if self.chunked_last {
                    // Something after chunked: the final coding is not chunked.
                    self.chunked_last = false;
                }
                self.unknown_coding = true;
            }
        }
    }

    fn connection(&mut self, value: &[u8]) {
        if value.eq_ignore_ascii_case(b"keep-alive") {
            self.keep_alive = true;
            return;
        }
        for option in value.split(|&b| b == b',').map(trim_ows) {
            if option.eq_ignore_ascii_case(b"close") {
                self.close = true;
            } else if option.eq_ignore_ascii_case(b"keep-alive") {
                self.keep_alive = true;
            } else if option.eq_ignore_ascii_case(b"upgrade") {
                self.connection_upgrade = true;
            }
        }
    }

    /// Whether the connection persists (RFC 9112 §9.3).
    fn persistent(&self, version: Version) -> bool {
        !self.close && (version >= Version::Http11 || self.keep_alive)
    }

    /// The Transfer-Encoding verdict for a message that has the header.
    fn chunked_or_error(&self) -> Result<BodyFraming, ProtoError> {
        if self.bad_coding_list {
            Err(err(ErrorKind::BadTransferEncoding))
        } else if !self.chunked_last {
            Err(err(ErrorKind::ChunkedNotLast))
        } else if self.unknown_coding {
            Err(err(ErrorKind::UnknownTransferCoding))
        } else {
            Ok(BodyFraming::Chunked)
        }
    }
}

/// Plain decimal digits that fit in a u64; no sign, no spaces, not empty.
pub(crate) fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &d| {
        if d.is_ascii_digit() {
            n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        } else {
            None
        }
    })
}

#[inline]
fn err(kind: ErrorKind) -> ProtoError {
    ProtoError::remote(kind)
}

/// Applies RFC 9112 §6.3 and §3.2 to the `fields` of a complete request head
/// of `version`, whose spans refer to `buf`.
pub(crate) fn request(
    fields: &[Field],
    buf: &[u8],
    version: Version,
    limits: &Limits,
) -> Result<RequestFraming, ProtoError> {
    let mut f = FramingFields::default();
    let mut host: Option<Span> = None;
    let mut hosts = 0usize;
    let mut upgrade: Option<Span> = None;
    let mut expect_continue = false;
    for field in fields {
        // Dispatch on length first: most fields are none of these and need not
        // even be sliced.
        let is = |lower: &[u8]| field.name.of(buf).eq_ignore_ascii_case(lower);
        let value = || field.value.of(buf);
        match field.name.len() {
            4 if is(b"host") => {
                hosts += 1;
                host = Some(field.value);
            }
            6 if is(b"expect") => {
                for e in value().split(|&b| b == b',').map(trim_ows) {
                    if e.eq_ignore_ascii_case(b"100-continue") {
                        expect_continue = true;
                    } else if !e.is_empty() {
                        // RFC 9110 §10.1.1: an expectation we cannot meet is 417.
                        return Err(err(ErrorKind::UnsupportedExpectation));
                    }
                }
            }
            7 if is(b"upgrade") => upgrade = Some(field.value),
            10 if is(b"connection") => f.connection(value()),
            14 if is(b"content-length") => f.content_length(value()),
            17 if is(b"transfer-encoding") => f.transfer_encoding(value()),
            _ => {}
        }
    }

    // RFC 9112 §3.2: exactly one Host in HTTP/1.1, at most one in HTTP/1.0, and
    // its value must be a valid authority (empty is allowed).
    if hosts > 1 || (hosts == 0 && version == Version::Http11) {
        return Err(err(ErrorKind::BadHost));
    }
    if let Some(h) = host {
        if parse_authority(h.of(buf)).is_none() {
            return Err(err(ErrorKind::BadHost));
        }
    }

    let body = if f.transfer_encoding {
        if version == Version::Http10 {
            return Err(err(ErrorKind::TransferEncodingInHttp10));
        }
        if f.content_length.is_some() || f.bad_content_length {
            return Err(err(ErrorKind::LengthAndTransferEncoding));
        }
        f.chunked_or_error()?
    } else if f.bad_content_length {
        return Err(err(ErrorKind::BadContentLength));
    } else {
        match f.content_length {
            Some(n) if n > limits.max_body => return Err(err(ErrorKind::BodyTooLarge)),
            Some(0) | None => BodyFraming::Empty,
            Some(n) => BodyFraming::Length(n),
        }
    };

    Ok(RequestFraming {
        body,
        keep_alive: f.persistent(version),
        // RFC 9110 §10.1.1: a 100-continue expectation in HTTP/1.0 is ignored.
        expect_continue: expect_continue && version == Version::Http11,
        // RFC 9110 §7.8: Upgrade counts only when listed in Connection, and never
        // in HTTP/1.0.
        upgrade: upgrade.filter(|_| f.connection_upgrade && version == Version::Http11),
        host,
    })
}

/// Applies RFC 9112 §6.3 to the `fields` of a complete response head of
/// `version` and `status`, answering `request`; the spans refer to `buf`.
pub(crate) fn response(
    fields: &[Field],
    buf: &[u8],
    version: Version,
    status: Status,
    request: RequestContext,
) -> Result<ResponseFraming, ProtoError> {
    let mut f = FramingFields::default();
    for field in fields {
        let is = |lower: &[u8]| field.name.of(buf).eq_ignore_ascii_case(lower);
        let value = || field.value.of(buf);
        match field.name.len() {
            10 if is(b"connection") => f.connection(value()),
            14 if is(b"content-length") => f.content_length(value()),
            17 if is(b"transfer-encoding") => f.transfer_encoding(value()),
            _ => {}
        }
    }
    let mut keep_alive = f.persistent(version);
    let body = if status == Status::SWITCHING_PROTOCOLS || (request.connect && status.is_success())
    {
        // Rule 2: after 101, or 2xx to CONNECT, the bytes belong to the tunnel.
        BodyFraming::Tunnel
    } else if request.head || status.forbids_body() {
        // Rule 1: HEAD, 1xx, 204, 304 have no body whatever the fields say.
        BodyFraming::Empty
    } else if f.transfer_encoding && version == Version::Http11 {
        // Rule 3 (and 4: TE overrides CL; we still refuse the ambiguity).
        if f.content_length.is_some() || f.bad_content_length {
            return Err(err(ErrorKind::LengthAndTransferEncoding));
        }
        match f.chunked_or_error() {
            Ok(framing) => framing,
            // A final coding other than chunked: read until close.
            Err(e) if e.kind() == ErrorKind::ChunkedNotLast => {
                keep_alive = false;
                BodyFraming::UntilClose
            }
            Err(e) => return Err(e),
        }
    } else if f.bad_content_length {
        return Err(err(ErrorKind::BadContentLength));
    } else {
        match f.content_length {
            Some(n) => BodyFraming::Length(n),
            None => {
                keep_alive = false;
                BodyFraming::UntilClose
            }
        }
    };
    Ok(ResponseFraming { body, keep_alive })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal() {
        assert_eq!(parse_decimal(b"0"), Some(0));
        assert_eq!(parse_decimal(b"007"), Some(7));
        assert_eq!(parse_decimal(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_decimal(b"18446744073709551616"), None);
        assert_eq!(parse_decimal(b"+5"), None);
        assert_eq!(parse_decimal(b""), None);
        assert_eq!(parse_decimal(b"5 "), None);
    }

    #[test]
    fn coding_lists() {
        let verdict = |values: &[&[u8]]| {
            let mut f = FramingFields::default();
            for v in values {
                f.transfer_encoding(v);
            }
            f.chunked_or_error().map_err(|e| e.status().as_u16())
        };
        assert_eq!(verdict(&[b"chunked"]), Ok(BodyFraming::Chunked));
        assert_eq!(verdict(&[b"CHUNKED"]), Ok(BodyFraming::Chunked));
        assert_eq!(verdict(&[b"gzip, chunked"]), Err(501));
        assert_eq!(verdict(&[b"gzip", b"chunked"]), Err(501));
        assert_eq!(verdict(&[b"chunked, gzip"]), Err(400));
        assert_eq!(verdict(&[b"chunked", b"chunked"]), Err(400));
        assert_eq!(verdict(&[b"chunked,"]), Err(400));
        assert_eq!(verdict(&[b"xchunked"]), Err(400));
        assert_eq!(verdict(&[b""]), Err(400));
    }
}
