//! Request-head parsing cost: Osprey's `RequestParser` and `ServerConn` against
//! httparse on the same bytes.
//!
//! Every benchmark reports throughput in requests, so criterion prints the time
//! per request (and requests per second).
//!
//! - `browser_get/*`: one ~600-byte, 12-field Chrome navigation request.
//!   `osprey_head` is the head parser alone (start line, fields, framing rules);
//!   `httparse` is `httparse::Request::parse` with a stack header array, as it is
//!   normally used (tokenizing only: no framing, Host or Connection semantics);
//!   `osprey_conn` is the whole connection machine: head, framing, body decoder,
//!   pipelining queue, and the response head that answers it.
//! - `pipelined16/*`: sixteen ~90-byte pipelined requests in one buffer, parsed
//!   one after the other, slicing the buffer at each head's length.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use osprey_h1::Limits;
use osprey_h1::{BodyLength, EncodeConfig, Event, OutQueue, Parsed, RequestParser, ServerConn};
use osprey_proto::{HeaderMap, Status};

/// A Chrome 120 top-level navigation, with the fields a browser really sends.
const BROWSER_GET: &[u8] = b"GET /articles/2024/http-parsing?ref=frontpage HTTP/1.1\r\n\
Host: www.example.com\r\n\
Connection: keep-alive\r\n\
Upgrade-Insecure-Requests: 1\r\n\
User-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8\r\n\
Sec-Fetch-Site: same-origin\r\n\
Sec-Fetch-Mode: navigate\r\n\
Sec-Fetch-Dest: document\r\n\
Referer: https://www.example.com/\r\n\
Accept-Encoding: gzip, deflate, br\r\n\
Accept-Language: en-US,en;q=0.9\r\n\
Cookie: session=8f2c1e0a9b7d4c3e; theme=dark; _ga=GA1.2.123456789.1700000000\r\n\
\r\n";

const BROWSER_FIELDS: usize = 12;

/// One small keep-alive request, as a load generator pipelines them.
const SMALL_GET: &[u8] =
    b"GET /plaintext HTTP/1.1\r\nHost: localhost\r\nAccept: text/plain\r\nConnection: keep-alive\r\n\r\n";

const PIPELINE: usize = 16;

fn pipelined() -> Vec<u8> {
    SMALL_GET.repeat(PIPELINE)
}

/// Parses `buf` as one head with a parser that is reused, as a connection does.
#[inline(always)]
fn osprey_parse(parser: &mut RequestParser, buf: &[u8]) -> usize {
    parser.reset();
    match parser.parse(buf) {
        Ok(Parsed::Complete(len)) => len,
        other => panic!("unexpected {other:?}"),
    }
}

#[inline(always)]
fn httparse_parse(buf: &[u8]) -> (usize, usize) {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => (len, req.headers.len()),
        other => panic!("unexpected {other:?}"),
    }
}

/// One request through the connection machine, answered so that the pipeline
/// queue stays empty. Returns the bytes consumed.
#[inline(always)]
fn conn_exchange(
    conn: &mut ServerConn,
    out: &mut OutQueue<()>,
    fields: &HeaderMap,
    config: &EncodeConfig<'_>,
    input: &[u8],
) -> usize {
    let (head_len, event) = conn.read(input).expect("valid head");
    debug_assert_eq!(event, Event::Head);
    let (body_len, event) = conn.read(&input[head_len..]).expect("empty body");
    assert!(event == Event::End, "unexpected {event:?}");
    conn.write_head(out, Status::OK, fields, BodyLength::Empty, config)
        .expect("response head");
    out.clear();
    head_len + body_len
}

fn check_inputs() {
    let len = BROWSER_GET.len();
    let mut parser = RequestParser::new(Limits::default());
    assert_eq!(parser.parse(BROWSER_GET).unwrap(), Parsed::Complete(len));
    assert_eq!(parser.head().fields.len(), BROWSER_FIELDS);
    assert!(parser.head().keep_alive);
    assert_eq!(httparse_parse(BROWSER_GET), (len, BROWSER_FIELDS));

    let mut conn = ServerConn::new(Limits::default());
    let mut out = OutQueue::<()>::new();
    let (fields, config) = (HeaderMap::new(), EncodeConfig::default());
    for _ in 0..3 {
        assert_eq!(
            conn_exchange(&mut conn, &mut out, &fields, &config, BROWSER_GET),
            len
        );
        assert_eq!(conn.in_flight(), 0);
        assert!(!conn.should_close());
    }

    let buf = pipelined();
    let mut rest = &buf[..];
    let mut n = 0;
    while !rest.is_empty() {
        let a = osprey_parse(&mut parser, rest);
        let (b, fields) = httparse_parse(rest);
        assert_eq!((a, b, fields), (SMALL_GET.len(), SMALL_GET.len(), 3));
        assert_eq!(parser.head().fields.len(), 3);
        rest = &rest[a..];
        n += 1;
    }
    assert_eq!(n, PIPELINE);
}

fn browser_get(c: &mut Criterion) {
    check_inputs();
    let mut group = c.benchmark_group("browser_get");
    group.throughput(Throughput::Elements(1));

    let mut parser = RequestParser::new(Limits::default());
    group.bench_function("osprey_head", |b| {
        b.iter(|| osprey_parse(&mut parser, black_box(BROWSER_GET)))
    });

    group.bench_function("httparse", |b| {
        b.iter(|| httparse_parse(black_box(BROWSER_GET)))
    });

    // One connection for the whole run; each request is answered with an empty
    // 200 so that nothing accumulates in the pipelining queue.
    let mut conn = ServerConn::new(Limits::default());
    let mut out = OutQueue::<()>::new();
    let (fields, config) = (HeaderMap::new(), EncodeConfig::default());
    group.bench_function("osprey_conn", |b| {
        b.iter(|| {
            conn_exchange(
                &mut conn,
                &mut out,
                &fields,
                &config,
                black_box(BROWSER_GET),
            )
        })
    });
    group.finish();
}

fn pipelined16(c: &mut Criterion) {
    let buf = pipelined();
    let mut group = c.benchmark_group("pipelined16");
    group.throughput(Throughput::Elements(PIPELINE as u64));

    let mut parser = RequestParser::new(Limits::default());
    group.bench_function("osprey", |b| {
        b.iter(|| {
            let mut rest = black_box(&buf[..]);
            while !rest.is_empty() {
                let len = osprey_parse(&mut parser, rest);
                rest = &rest[len..];
            }
        })
    });

    group.bench_function("httparse", |b| {
        b.iter(|| {
            let mut rest = black_box(&buf[..]);
            while !rest.is_empty() {
                let (len, _) = httparse_parse(rest);
                rest = &rest[len..];
            }
        })
    });
    group.finish();
}

criterion_group!(benches, browser_get, pipelined16);
criterion_main!(benches);
