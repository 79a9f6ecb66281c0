//! Properties the fuzz targets check, one function per parser entry point of
//! osprey-h1. The targets in `fuzz_targets/` only call these, so the same code
//! can be driven by libFuzzer (cargo-fuzz), by a replay of a corpus, or by a
//! plain test. Each function panics when a property fails; that panic is the
//! finding.
//!
//! Every property is checked twice per input: under `Limits::default()` and
//! under [`tight_limits`], small enough that short inputs reach every limit.
//!
//! Input layouts (the leading control bytes are not part of the message):
//!
//! | target          | layout                                                      |
//! |-----------------|-------------------------------------------------------------|
//! | `request_head`  | `[split] message…`                                          |
//! | `response_head` | `[split] [ctx] message…` (ctx bit 0: HEAD, bit 1: CONNECT)  |
//! | `chunked`       | `[m] size×((m & 7) + 1) body…` (piece = size + 1 bytes)     |
//! | `server_conn`   | `[step] stream…` (second run reads step + 1 bytes at a time) |
//!
//! `split` places the split point at `len * split / 255` of the message.

use std::fmt::Write as _;

use osprey_h1::{
    BodyDecoder, BodyFraming, Event, Parsed, RequestContext, RequestParser, ResponseParser,
    ServerConn, Span,
};
use osprey_h1::{ErrorKind, Fault, Limits, ProtoError};
use osprey_proto::Method;

/// Every status a protocol error may be answered with.
pub const ERROR_STATUSES: [u16; 7] = [400, 413, 414, 417, 431, 501, 505];

/// Limits small enough for a fuzzer's short inputs to cross each of them.
pub fn tight_limits() -> Limits {
    Limits {
        max_request_line: 40,
        max_head: 160,
        max_headers: 4,
        max_body: 64,
        max_chunk_line: 12,
        max_trailer: 48,
        max_trailers: 2,
    }
}

/// The limit sets each property is checked under.
pub fn limit_sets() -> [Limits; 2] {
    [Limits::default(), tight_limits()]
}

/// Escapes bytes the way the golden fixtures do (`\r \n \t \0 \\ \xHH`), for
/// panic messages.
pub fn escape(bytes: &[u8]) -> String {
    let mut s = String::new();
    for &b in bytes {
        match b {
            b'\r' => s.push_str("\\r"),
            b'\n' => s.push_str("\\n"),
            b'\t' => s.push_str("\\t"),
            0 => s.push_str("\\0"),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(b as char),
            _ => write!(s, "\\x{b:02x}").unwrap(),
        }
    }
    s
}

fn split_point(ctl: u8, len: usize) -> usize {
    len * usize::from(ctl) / 255
}

/// An error must be the peer's fault and map to one of [`ERROR_STATUSES`].
pub fn check_error(what: &str, e: ProtoError) {
    let status = e.status().as_u16();
    assert!(
        ERROR_STATUSES.contains(&status),
        "{what}: {:?} answered with status {status}",
        e.kind()
    );
    assert_eq!(
        e.fault(),
        Fault::Remote,
        "{what}: {:?} blamed on our side",
        e.kind()
    );
}

fn check_parsed(what: &str, r: Result<Parsed, ProtoError>, len: usize) {
    match r {
        Ok(Parsed::Partial) => {}
        Ok(Parsed::Complete(n)) => {
            assert!(n <= len, "{what}: Complete({n}) past the {len}-byte input");
            assert!(n > 0, "{what}: Complete(0)");
        }
        Err(e) => check_error(what, e),
    }
}

/// The same outcome: both partial, both complete at the same length, or the
/// same error kind.
fn same_outcome(a: Result<Parsed, ProtoError>, b: Result<Parsed, ProtoError>) -> bool {
    match (a, b) {
        (Ok(x), Ok(y)) => x == y,
        (Err(x), Err(y)) => x.kind() == y.kind(),
        _ => false,
    }
}

fn span_in(what: &str, s: Span, len: usize) {
    assert!(
        s.start <= s.end && s.end as usize <= len,
        "{what}: span {s:?} outside the {len}-byte head"
    );
}

/// `request_head`: [`RequestParser::parse`] on the whole message, and on a
/// prefix then the whole. Each returns Partial, Complete(n) with 0 < n <= len,
/// or an error with an allowed status; both runs agree (the same Complete length
/// and the same head, or the same error kind). Never panics.
pub fn request_head(data: &[u8]) {
    let Some((&ctl, msg)) = data.split_first() else {
        return;
    };
    let k = split_point(ctl, msg.len());
    for limits in limit_sets() {
        let mut whole = RequestParser::new(limits);
        let w = whole.parse(msg);
        check_parsed("whole", w, msg.len());

        let mut split = RequestParser::new(limits);
        let first = split.parse(&msg[..k]);
        check_parsed("prefix", first, k);
        let s = match first {
            Ok(Parsed::Partial) => split.parse(msg),
            done => done,
        };
        check_parsed("split", s, msg.len());

        assert!(
            same_outcome(w, s),
            "whole {w:?} but split at {k} {s:?}\nlimits {limits:?}\ninput {}",
            escape(msg)
        );
        if let Ok(Parsed::Complete(n)) = w {
            let head = whole.head();
            assert_eq!(head.len, n, "head.len differs from Complete");
            span_in("target", head.target, n);
            for f in &head.fields {
                span_in("field name", f.name, n);
                span_in("field value", f.value, n);
            }
            for s in head.authority.iter().chain(head.upgrade.iter()) {
                span_in("authority/upgrade", *s, n);
            }
            assert_eq!(
                format!("{:?}", head),
                format!("{:?}", split.head()),
                "whole and split heads differ; input {}",
                escape(msg)
            );
        }
    }
}

/// `response_head`: the `request_head` property for [`ResponseParser::parse`],
/// with the request context taken from the second byte.
pub fn response_head(data: &[u8]) {
    let [ctl, ctx, msg @ ..] = data else {
        return;
    };
    let ctx = RequestContext {
        head: ctx & 1 != 0,
        connect: ctx & 2 != 0,
    };
    let k = split_point(*ctl, msg.len());
    for limits in limit_sets() {
        let mut whole = ResponseParser::new(limits);
        let w = whole.parse(msg, ctx);
        check_parsed("whole", w, msg.len());

        let mut split = ResponseParser::new(limits);
        let first = split.parse(&msg[..k], ctx);
        check_parsed("prefix", first, k);
        let s = match first {
            Ok(Parsed::Partial) => split.parse(msg, ctx),
            done => done,
        };
        check_parsed("split", s, msg.len());

        assert!(
            same_outcome(w, s),
            "whole {w:?} but split at {k} {s:?}\nlimits {limits:?} {ctx:?}\ninput {}",
            escape(msg)
        );
        if let Ok(Parsed::Complete(n)) = w {
            let head = whole.head();
            assert_eq!(head.len, n, "head.len differs from Complete");
            span_in("reason", head.reason, n);
            for f in &head.fields {
                span_in("field name", f.name, n);
                span_in("field value", f.value, n);
            }
            assert_eq!(
                format!("{:?}", head),
                format!("{:?}", split.head()),
                "whole and split heads differ; input {}",
                escape(msg)
            );
        }
    }
}

/// How feeding a chunked body ended.
#[derive(Debug, PartialEq, Eq)]
pub enum ChunkedEnd {
    /// The body is complete after this many input bytes; trailers as Debug text.
    Done(usize, String),
    /// All input consumed and the body is not complete.
    NeedMore,
    /// A protocol error.
    Error(ErrorKind),
}

/// Feeds `body` to a chunked [`BodyDecoder`], making `piece()` more bytes
/// available each time the decoder has used up what it has, and checks every
/// step: `consumed` within the input given, data within `..consumed`, progress
/// on every call. Returns the decoded bytes and how it ended.
pub fn decode_chunked(
    body: &[u8],
    limits: &Limits,
    mut piece: impl FnMut() -> usize,
) -> (Vec<u8>, ChunkedEnd) {
    let mut dec = BodyDecoder::new(BodyFraming::Chunked, limits);
    let mut out = Vec::new();
    let (mut pos, mut avail) = (0, 0);
    let mut calls = 0usize;
    loop {
        calls += 1;
        assert!(
            calls <= 3 * body.len() + 8,
            "chunked: no progress after {calls} calls at {pos}/{avail}"
        );
        let input = &body[pos..avail];
        let step = match dec.decode(input) {
            Ok(step) => step,
            Err(e) => {
                check_error("chunked", e);
                return (out, ChunkedEnd::Error(e.kind()));
            }
        };
        assert!(
            step.consumed <= input.len(),
            "chunked: consumed {} of {} bytes",
            step.consumed,
            input.len()
        );
        assert!(
            step.data.start <= step.data.end && step.data.end <= step.consumed,
            "chunked: data {:?} outside consumed ..{}",
            step.data,
            step.consumed
        );
        out.extend_from_slice(&input[step.data.clone()]);
        pos += step.consumed;
        assert_eq!(dec.received(), out.len() as u64, "chunked: received()");
        assert!(out.len() <= body.len(), "chunked: more data than input");
        if step.done {
            assert!(dec.is_done());
            return (out, ChunkedEnd::Done(pos, format!("{:?}", dec.trailers())));
        }
        if step.data.is_empty() {
            assert!(
                step.consumed == input.len(),
                "chunked: stopped at {} of {} bytes with no data, not done",
                step.consumed,
                input.len()
            );
            if avail == body.len() {
                return (out, ChunkedEnd::NeedMore);
            }
            avail = (avail + piece().max(1)).min(body.len());
        }
    }
}

/// `chunked`: a chunked body fed whole and fed in pieces whose sizes come from
/// the input. Both runs satisfy the step checks of [`decode_chunked`], decode at
/// most as many bytes as the input has, and give the same bytes and the same
/// ending (done at the same offset with the same trailers, needing more, or the
/// same error kind).
pub fn chunked(data: &[u8]) {
    let Some(&m) = data.first() else {
        return;
    };
    let m = usize::from(m & 7) + 1;
    if data.len() < 1 + m {
        return;
    }
    let (sizes, body) = data[1..].split_at(m);
    for limits in limit_sets() {
        let whole = decode_chunked(body, &limits, || body.len());
        let mut i = 0;
        let split = decode_chunked(body, &limits, || {
            i += 1;
            usize::from(sizes[(i - 1) % m]) + 1
        });
        assert_eq!(
            whole,
            split,
            "chunked: whole and split (pieces {sizes:?}) differ\nlimits {limits:?}\ninput {}",
            escape(body)
        );
    }
}

/// Runs `stream` through a [`ServerConn`], making `step` more bytes available
/// whenever it asks for more, accepting every upgrade and CONNECT. Checks every
/// call (consumed within the input, spans and data within what was consumed,
/// allowed error statuses, termination) and renders the events as text.
pub fn run_server_conn(stream: &[u8], limits: Limits, step: usize) -> Vec<String> {
    let mut conn = ServerConn::new(limits);
    let mut log = Vec::new();
    let mut avail = step.min(stream.len());
    let mut pos = 0;
    let mut body = Vec::new();
    let mut in_message = false;
    let mut calls = 0usize;
    loop {
        calls += 1;
        assert!(
            calls <= 4 * stream.len() + 64,
            "server_conn: no progress after {calls} calls at {pos}/{avail}"
        );
        let input = &stream[pos..avail];
        let (n, event) = match conn.read(input) {
            Ok(r) => r,
            Err(e) => {
                check_error("server_conn", e);
                log.push(format!("error {:?}", e.kind()));
                // After an error the connection reads nothing more.
                assert_eq!(conn.read(input).ok(), Some((0, Event::Closed)));
                return log;
            }
        };
        assert!(
            n <= input.len(),
            "server_conn: {event:?} consumed {n} of {}",
            input.len()
        );
        match event {
            Event::Partial => {
                pos += n;
                if n > 0 {
                    continue;
                }
                if avail == stream.len() {
                    if in_message || pos < stream.len() {
                        log.push(format!("partial at {pos}"));
                    }
                    return log;
                }
                avail = (avail + step).min(stream.len());
                continue;
            }
            Event::Head => {
                let h = conn.head();
                assert_eq!(h.len, n, "server_conn: Head consumed != head.len");
                span_in("target", h.target, n);
                for f in &h.fields {
                    span_in("field name", f.name, n);
                    span_in("field value", f.value, n);
                }
                for s in h.authority.iter().chain(h.upgrade.iter()) {
                    span_in("authority/upgrade", *s, n);
                }
                log.push(format!("head at {pos}: {h:?}"));
                if h.upgrade.is_some() || h.method == Method::Connect {
                    conn.accept_upgrade();
                }
                in_message = true;
            }
            Event::Data(range) => {
                assert!(
                    range.start < range.end && range.end <= n,
                    "server_conn: Data({range:?}) outside consumed ..{n}"
                );
                body.extend_from_slice(&input[range]);
            }
            Event::End => {
                assert!(in_message, "server_conn: End without a Head");
                log.push(format!("body {}", escape(&body)));
                log.push(format!("trailers {:?}", conn.trailers()));
                body.clear();
                in_message = false;
            }
            Event::Upgraded | Event::Closed => {
                assert_eq!(n, 0, "server_conn: {event:?} consumed bytes");
                assert!(!in_message);
                assert_eq!(conn.read(input).ok(), Some((0, event.clone())));
                log.push(format!("{event:?} at {pos}"));
                return log;
            }
        }
        pos += n;
    }
}

/// `server_conn`: a pipelined stream through [`ServerConn::read`], once whole and
/// once `step + 1` bytes at a time; each run satisfies the checks of
/// [`run_server_conn`] and both give the same events.
pub fn server_conn(data: &[u8]) {
    let Some((&step, stream)) = data.split_first() else {
        return;
    };
    for limits in limit_sets() {
        let whole = run_server_conn(stream, limits, stream.len());
        let split = run_server_conn(stream, limits, usize::from(step) + 1);
        assert_eq!(
            whole,
            split,
            "server_conn: whole and {}-byte reads differ\nlimits {limits:?}\ninput {}",
            usize::from(step) + 1,
            escape(stream)
        );
    }
}
