//! The compression middleware over real sockets, decoded by curl's own gzip,
//! Brotli and zstd decoders: large bodies and streams round-trip for each
//! coding, raw responses carry the right Content-Encoding and Vary, and PNG or
//! small bodies go out unencoded.

mod common;

use bytes::Bytes;
use common::{curl, TestServer};
use osprey::middleware::compress::Compress;
use osprey::{Body, HeaderValue, Request, Response, Router};

/// About 200 KiB of text that compresses well but not trivially.
fn big_text() -> String {
    (0..4000)
        .map(|i| format!("line {i:05}: the quick brown fox jumps over the lazy dog\n"))
        .collect()
}

/// The pieces of the streamed body.
fn stream_pieces() -> Vec<String> {
    (0..300)
        .map(|i| format!("data: event number {i} with some payload\n\n"))
        .collect()
}

fn app() -> Router {
    Router::new()
        .with(Compress::new())
        .get("/big", |_: &mut Request| Response::text(big_text()))
        .get("/stream", |_: &mut Request| {
            let pieces = stream_pieces().into_iter().map(Bytes::from);
            Response::stream(
                HeaderValue::from_static("text/event-stream"),
                Body::from_pieces(pieces),
            )
        })
        .get("/png", |_: &mut Request| {
            Response::bytes(HeaderValue::from_static("image/png"), big_text())
        })
        .get("/small", |_: &mut Request| Response::text("small body\n"))
}

#[test]
fn each_coding_round_trips_through_curl() {
    let server = TestServer::start(app());
    let streamed: String = stream_pieces().concat();
    for coding in ["gzip", "br", "zstd"] {
        let accept = format!("Accept-Encoding: {coding}");
        let r = curl(&["--compressed", "-H", &accept, &server.url("/big")]);
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-encoding"), Some(coding));
        assert_eq!(r.text(), big_text(), "{coding} big body");

        let r = curl(&["--compressed", "-H", &accept, &server.url("/stream")]);
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-encoding"), Some(coding));
        assert_eq!(r.header("transfer-encoding"), Some("chunked"));
        assert_eq!(r.text(), streamed, "{coding} stream");
    }
}

#[test]
fn raw_responses_carry_the_coding_and_vary() {
    let server = TestServer::start(app());
    let original = big_text();
    for (accept, coding) in [
        ("br", "br"),
        ("gzip;q=0.5, zstd", "zstd"),
        ("gzip, br;q=0.9", "gzip"),
        ("*", "zstd"),
    ] {
        let r = curl(&[
            "-H",
            &format!("Accept-Encoding: {accept}"),
            &server.url("/big"),
        ]);
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-encoding"), Some(coding), "{accept}");
        assert_eq!(r.header("vary"), Some("Accept-Encoding"), "{accept}");
        // Not the original bytes, and much shorter.
        assert!(
            r.body.len() < original.len() / 4,
            "{accept}: {}",
            r.body.len()
        );
        // Small in memory bodies keep a length; this one is over the in-memory
        // limit and goes chunked.
        assert_eq!(r.header("content-length"), None);
    }
    // Nothing acceptable but identity, or no header at all: identity, with Vary.
    for args in [
        &[][..],
        &["-H", "Accept-Encoding: deflate"],
        &["-H", "Accept-Encoding;"], // an empty field value
        &["-H", "Accept-Encoding: gzip;q=0, identity;q=0"],
    ] {
        let mut all = args.to_vec();
        let url = server.url("/big");
        all.push(&url);
        let r = curl(&all);
        assert_eq!(r.header("content-encoding"), None, "{args:?}");
        assert_eq!(r.header("vary"), Some("Accept-Encoding"), "{args:?}");
        assert_eq!(r.text(), original);
    }
    // HEAD: the same fields as GET.
    let r = curl(&["-I", "-H", "Accept-Encoding: br", &server.url("/big")]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-encoding"), Some("br"));
    assert_eq!(r.header("vary"), Some("Accept-Encoding"));
}

#[test]
fn png_and_small_bodies_are_not_compressed() {
    let server = TestServer::start(app());
    let r = curl(&["--compressed", &server.url("/png")]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-encoding"), None);
    assert_eq!(r.header("vary"), None);
    assert_eq!(r.text(), big_text());
    let r = curl(&[
        "-H",
        "Accept-Encoding: gzip, br, zstd",
        &server.url("/small"),
    ]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-encoding"), None);
    assert_eq!(r.header("content-length"), Some("11"));
    assert_eq!(r.text(), "small body\n");
}
