//! Response encoding: the status line, the fields Osprey owns, and body framing
//! (RFC 9112 §4, §6, §7).
//!
//! The encoder decides framing from what the body knows about itself: a known
//! length gets `Content-Length`, an unknown one is chunked for HTTP/1.1 clients
//! and close-delimited for HTTP/1.0 ones. It owns the framing fields, so a
//! handler's own `Content-Length`, `Transfer-Encoding` or `Connection` is never
//! copied through: only the encoder can make the head and the body disagree, and
//! it doesn't. Field values were validated when the `HeaderMap` was built, so no
//! CR or LF can reach the wire from a handler.

use crate::ProtoError;
use osprey_proto::{HeaderMap, Status, Version};

use crate::framing::BodyFraming;
use crate::head::RequestHead;
use crate::out::OutQueue;

/// The interim response sent before reading a body the client is holding back
/// (`Expect: 100-continue`, RFC 9110 §10.1.1).
pub const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// What the encoder must know about the request being answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestMeta {
    /// The request's version: HTTP/1.0 clients get no chunked coding.
    pub version: Version,
    /// The request was HEAD: fields as for GET, no body.
    pub head: bool,
    /// The request was CONNECT: a 2xx answer opens a tunnel.
    pub connect: bool,
    /// The request allows the connection to persist.
    pub keep_alive: bool,
}

impl RequestMeta {
    /// The facts about `head` the response encoder needs.
    pub fn of(head: &RequestHead) -> RequestMeta {
        RequestMeta {
            version: head.version,
            head: head.method == osprey_proto::Method::Head,
            connect: head.method == osprey_proto::Method::Connect,
            keep_alive: head.keep_alive,
        }
    }
}

/// What the response body knows about its length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyLength {
    /// No body (`Content-Length: 0` where a body is possible).
    Empty,
    /// Exactly this many bytes.
    Known(u64),
    /// A stream whose end is found when it ends.
    Unknown,
}

/// Per-server settings for every head.
#[derive(Clone, Copy, Debug, Default)]
pub struct EncodeConfig<'a> {
    /// The formatted `Date` value (RFC 9110 §5.6.7), refreshed by the caller once
    /// a second; `None` omits the field.
    pub date: Option<&'a [u8]>,
    /// The `Server` value; `None` omits the field.
    pub server: Option<&'a [u8]>,
}

/// How the body that follows an encoded head must be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Framing {
    /// The framing the head announced.
    pub body: BodyFraming,
    /// Whether the connection stays open after this response.
    pub keep_alive: bool,
}

/// Writes a response head to `out` and returns the framing its body must use.
///
/// Rules (RFC 9112 §6.1–§6.3, RFC 9110 §6.4.1, §9.3.6):
/// - 1xx other than 101 is interim: status line and `fields` only;
/// - 101, and 2xx to CONNECT, open a tunnel: no length fields;
/// - 204 and 304 have no body and no length fields;
/// - HEAD gets the `Content-Length` a GET would, and no body;
/// - a known length gets `Content-Length`; an unknown one is chunked for
///   HTTP/1.1 and close-delimited for HTTP/1.0;
/// - `Connection: close` when the connection will close, `keep-alive` for an
///   HTTP/1.0 client whose connection persists.
pub fn encode_head<F>(
    out: &mut OutQueue<F>,
    request: &RequestMeta,
    status: Status,
    fields: &HeaderMap,
    body: BodyLength,
    config: &EncodeConfig<'_>,
) -> Framing {
    out.write_with(|buf| encode_head_into(buf, request, status, fields, body, config))
}

fn encode_head_into(
    out: &mut Vec<u8>,
    request: &RequestMeta,
    status: Status,
    fields: &HeaderMap,
    body: BodyLength,
    config: &EncodeConfig<'_>,
) -> Framing {
    write_status_line(out, status);
    if status.is_informational() && status != Status::SWITCHING_PROTOCOLS {
        write_fields(out, fields);
        out.extend_from_slice(b"\r\n");
        return Framing {
            body: BodyFraming::Empty,
            keep_alive: request.keep_alive,
        };
    }
    let mut keep_alive = request.keep_alive
        && !fields
            .get_all("connection")
            .any(|v| has_token(v.as_bytes(), b"close"));
    if let Some(date) = config.date.filter(|_| !fields.contains("date")) {
        write_field(out, b"Date", date);
    }
    if let Some(server) = config.server.filter(|_| !fields.contains("server")) {
        write_field(out, b"Server", server);
    }
    write_fields(out, fields);

    let framing = if status == Status::SWITCHING_PROTOCOLS {
        out.extend_from_slice(b"Connection: upgrade\r\n\r\n");
        return Framing {
            body: BodyFraming::Tunnel,
            keep_alive: false,
        };
    } else if request.connect && status.is_success() {
        out.extend_from_slice(b"\r\n");
        return Framing {
            body: BodyFraming::Tunnel,
            keep_alive: false,
        };
    } else if status.forbids_body() {
        BodyFraming::Empty
    } else {
        let framing = match body {
            BodyLength::Empty => BodyFraming::Length(0),
            BodyLength::Known(n) => BodyFraming::Length(n),
            BodyLength::Unknown if request.version >= Version::Http11 => BodyFraming::Chunked,
            BodyLength::Unknown => {
                keep_alive = false;
                BodyFraming::UntilClose
            }
        };
        match framing {
            BodyFraming::Length(n) => {
                let mut digits = [0u8; 20];
                write_field(out, b"Content-Length", format_decimal(n, &mut digits));
            }
            BodyFraming::Chunked if !request.head => {
                write_field(out, b"Transfer-Encoding", b"chunked")
            }
            _ => {}
        }
        if request.head {
            BodyFraming::Empty
        } else {
            framing
        }
    };
    if !keep_alive {
        out.extend_from_slice(b"Connection: close\r\n");
    } else if request.version == Version::Http10 {
        out.extend_from_slice(b"Connection: keep-alive\r\n");
    }
    out.extend_from_slice(b"\r\n");
    Framing {
        body: if framing == BodyFraming::Length(0) {
            BodyFraming::Empty
        } else {
            framing
        },
        keep_alive,
    }
}

fn write_status_line(out: &mut Vec<u8>, status: Status) {
    // One copy for the common case; the reason phrase is informative only.
    let line: &[u8] = match status.as_u16() {
        200 => b"HTTP/1.1 200 OK\r\n",
        204 => b"HTTP/1.1 204 No Content\r\n",
        304 => b"HTTP/1.1 304 Not Modified\r\n",
        404 => b"HTTP/1.1 404 Not Found\r\n",
        _ => {
            out.extend_from_slice(b"HTTP/1.1 ");
            out.extend_from_slice(&status.digits());
            out.extend_from_slice(b" ");
            out.extend_from_slice(status.reason().as_bytes());
            out.extend_from_slice(b"\r\n");
            return;
        }
    };
    out.extend_from_slice(line);
}

/// Fields Osprey writes itself; a handler's copies are dropped.
fn is_framing_field(name: &[u8]) -> bool {
    name.eq_ignore_ascii_case(b"content-length")
        || name.eq_ignore_ascii_case(b"transfer-encoding")
        || name.eq_ignore_ascii_case(b"connection")
}

fn write_fields(out: &mut Vec<u8>, fields: &HeaderMap) {
    for (name, value) in fields {
        if !is_framing_field(name.as_bytes()) {
            write_field(out, name.as_bytes(), value.as_bytes());
        }
    }
}

#[inline]
fn write_field(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

fn has_token(list: &[u8], token: &[u8]) -> bool {
    list.split(|&b| b == b',')
        .any(|t| osprey_proto::chars::trim_ows(t).eq_ignore_ascii_case(token))
}

/// Formats `n` in decimal into the tail of `buf`.
pub(crate) fn format_decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

/// Writes the size line of a chunk of `len` bytes (RFC 9112 §7.1). The caller
/// queues the data, then [`chunk_end`]. A zero-length chunk would end the body,
/// so `len` must not be 0.
pub fn chunk_start<F>(out: &mut OutQueue<F>, len: u64) {
    debug_assert!(len > 0, "an empty chunk ends the body");
    let mut hex = [0u8; 18];
    let mut i = 16;
    let mut n = len;
    loop {
        i -= 1;
        hex[i] = b"0123456789abcdef"[(n & 0xf) as usize];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    hex[16] = b'\r';
    hex[17] = b'\n';
    out.write(&hex[i..]);
}

/// Writes the CR LF that follows a chunk's data.
pub fn chunk_end<F>(out: &mut OutQueue<F>) {
    out.write(b"\r\n");
}

/// Writes the last chunk and the trailer section (RFC 9112 §7.1.2).
pub fn chunked_finish<F>(out: &mut OutQueue<F>, trailers: &HeaderMap) {
    out.write_with(|buf| {
        buf.extend_from_slice(b"0\r\n");
        write_fields(buf, trailers);
        buf.extend_from_slice(b"\r\n");
    });
}

/// Writes the complete reply to a protocol error: the status, a short fixed body
/// that never repeats the input, and `Connection: close` (RFC 9112 §9.6: after a
/// framing error nothing more on this connection can be trusted).
pub fn encode_error<F>(out: &mut OutQueue<F>, error: ProtoError, config: &EncodeConfig<'_>) {
    encode_canned(out, error.status(), config);
}

/// Writes a complete, closing response with a fixed text body for `status`:
/// used for protocol errors and for replies the server makes on its own (408,
/// 500, 503).
pub fn encode_canned<F>(out: &mut OutQueue<F>, status: Status, config: &EncodeConfig<'_>) {
    let reason = status.reason().as_bytes();
    let mut fields = HeaderMap::new();
    fields.append(
        osprey_proto::HeaderName::CONTENT_TYPE,
        osprey_proto::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    let meta = RequestMeta {
        version: Version::Http11,
        head: false,
        connect: false,
        keep_alive: false,
    };
    encode_head(
        out,
        &meta,
        status,
        &fields,
        BodyLength::Known(reason.len() as u64 + 1),
        config,
    );
    out.write(reason);
    out.write(b"\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_and_hex() {
        let mut buf = [0u8; 20];
        assert_eq!(format_decimal(0, &mut buf), b"0");
        assert_eq!(format_decimal(u64::MAX, &mut buf), b"18446744073709551615");
        let mut q: OutQueue<()> = OutQueue::new();
        chunk_start(&mut q, 0x1a2b);
        chunk_start(&mut q, u64::MAX);
        assert_eq!(
            q.to_bytes_with(|_, _, _| vec![]),
            b"1a2b\r\nffffffffffffffff\r\n"
        );
    }
}
