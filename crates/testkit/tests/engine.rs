//! The connection engine's seams, over real sockets on every model: a
//! protocol switch hands the connection to another machine (with the bytes
//! that arrived together with the request); deferred replies (a timer on the
//! server's own loop, another thread, cancellation when the client goes);
//! request bodies streamed to their handler with backpressure, `100
//! Continue` only when the handler reads, and early answers the client reads
//! even while it keeps sending.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use osprey_testkit::{get, pattern, RawClient, ServerProcess};
use sha2::{Digest, Sha256};

const SERVER: &str = env!("CARGO_BIN_EXE_osprey-test-server");

fn start(model: &str, extra: &[&str]) -> ServerProcess {
    ServerProcess::start_model(SERVER, model, extra)
}

const UPGRADE: &[u8] =
    b"GET /upgrade HTTP/1.1\r\nHost: t\r\nConnection: upgrade\r\nUpgrade: echo\r\n\r\n";

/// 101, then the line-echo protocol: the first line rides in the same write
/// as the request head, so it sits in the HTTP/1.1 machine's read buffer
/// when the switch happens and must reach the new machine.
fn upgrade_hands_the_connection_over(model: &str) {
    let server = start(model, &[]);
    let mut c = RawClient::connect(server.addr);
    c.send(&[UPGRADE, b"first\nsec"].concat());
    let head = c.read_head().unwrap();
    assert_eq!(head.status, 101);
    assert_eq!(head.header("upgrade"), Some("echo"));
    assert_eq!(head.header("connection"), Some("upgrade"));
    assert_eq!(head.header("content-length"), None);
    assert_eq!(c.read_until(b"\n").unwrap(), b"echo: first\n");
    // The rest of a line split across writes, then more lines.
    c.send(b"ond\nthird\n");
    assert_eq!(c.read_until(b"\n").unwrap(), b"echo: second\n");
    assert_eq!(c.read_until(b"\n").unwrap(), b"echo: third\n");
    // Something that looks like HTTP is just a line now.
    c.send(b"GET / HTTP/1.1\n");
    assert_eq!(c.read_until(b"\n").unwrap(), b"echo: GET / HTTP/1.1\n");
    // The protocol ends the connection.
    c.send(b"bye\n");
    assert_eq!(c.read_until(b"\n").unwrap(), b"bye\n");
    assert!(c.closed_within(Duration::from_secs(5)));

    // The peer ending its side reaches the protocol too.
    let mut c = RawClient::connect(server.addr);
    c.send(UPGRADE);
    assert_eq!(c.read_head().unwrap().status, 101);
    c.send(b"last\n");
    c.stream.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(c.read_until(b"eof\n").unwrap(), b"echo: last\neof\n");
    assert!(c.closed_within(Duration::from_secs(5)));

    // A handler answering 101 to a request that did not ask to switch is a
    // server error, not a switch (RFC 9110 §15.2.2); the server goes on.
    let mut c = RawClient::connect(server.addr);
    let r = c.roundtrip(b"GET /upgrade-unasked HTTP/1.1\r\nHost: t\r\n\r\nline\n");
    assert_eq!(r.status, 500);
    let mut c = RawClient::connect(server.addr);
    assert_eq!(c.roundtrip(&osprey_testkit::get("/")).status, 200);
}

/// Pending replies: a loop timer, another thread, and cancellation.
fn deferred_replies(model: &str) {
    let server = start(model, &[]);
    // A timer on the connection's own loop (or thread).
    let mut c = RawClient::connect(server.addr);
    let t0 = Instant::now();
    let r = c.roundtrip(&get("/delay?ms=300"));
    assert_eq!((r.status, r.body.as_slice()), (200, &b"slept 300 ms"[..]));
    assert!(t0.elapsed() >= Duration::from_millis(300));
    // Keep-alive goes on after a pending reply; pipelined requests wait
    // their turn behind it and come back in order.
    c.send(&[get("/delay?ms=100"), get("/"), get("/delay?ms=50")].concat());
    assert_eq!(c.read_response().unwrap().body, b"slept 100 ms");
    assert_eq!(c.read_response().unwrap().body, b"Hello, World!");
    assert_eq!(c.read_response().unwrap().body, b"slept 50 ms");
    // Completed from another thread.
    let r = c.roundtrip(&get("/later?ms=100"));
    assert_eq!((r.status, r.body.as_slice()), (200, &b"from a thread"[..]));
    drop(c); // `iterative` serves the next connection only after this one

    // Many at once on one server: all answered, waiting side by side
    // (`iterative` takes them one after another, so fewer there).
    let many = if model == "iterative" { 5 } else { 50 };
    let clients: Vec<RawClient> = (0..many)
        .map(|_| {
            let mut c = RawClient::connect(server.addr);
            c.send(&get("/delay?ms=300"));
            c
        })
        .collect();
    let t0 = Instant::now();
    for mut c in clients {
        assert_eq!(c.read_response().unwrap().body, b"slept 300 ms");
    }
    if model != "iterative" {
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "50 pending replies waited concurrently, not one after another: {:?}",
            t0.elapsed()
        );
    }

    // A client that goes away cancels its reply: the responder learns it.
    // (In `fork` the child serving the connection exits with it, producer
    // thread and all: there is no one left to tell.)
    if model == "fork" {
        return;
    }
    let mut c = RawClient::connect(server.addr);
    c.send(&get("/later?ms=60000&watch=1"));
    assert!(server.wait_for_line("later waiting", Duration::from_secs(10)));
    drop(c);
    assert!(
        server.wait_for_line("later cancelled", Duration::from_secs(10)),
        "the reply was dropped when the connection closed"
    );
    let r = RawClient::connect(server.addr).roundtrip(&get("/"));
    assert_eq!(r.status, 200);
}

fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Sends `len` pattern bytes as the body of `head` (chunked when `chunked`)
/// in pieces, from another thread, while the caller reads the response.
fn send_body(
    mut stream: TcpStream,
    len: u64,
    chunked: bool,
) -> std::thread::JoinHandle<(u64, String)> {
    std::thread::spawn(move || {
        let mut hasher = Sha256::new();
        let mut sent = 0u64;
        let mut piece = vec![0u8; 64 * 1024];
        while sent < len {
            let n = (len - sent).min(piece.len() as u64) as usize;
            for (i, b) in piece[..n].iter_mut().enumerate() {
                *b = pattern(sent + i as u64);
            }
            hasher.update(&piece[..n]);
            let ok = if chunked {
                stream
                    .write_all(format!("{n:x}\r\n").as_bytes())
                    .and_then(|()| stream.write_all(&piece[..n]))
                    .and_then(|()| stream.write_all(b"\r\n"))
            } else {
                stream.write_all(&piece[..n])
            };
            if ok.is_err() {
                break;
            }
            sent += n as u64;
        }
        if chunked && sent == len {
            let _ = stream.write_all(b"0\r\n\r\n");
        }
        let hex = hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        (sent, hex)
    })
}

/// Connects and POSTs `len` pattern bytes to `path`, the body sent by
/// another thread (see [`send_body`]) while the caller reads the answer.
fn post_streaming(
    addr: std::net::SocketAddr,
    path: &str,
    len: u64,
    chunked: bool,
) -> (RawClient, std::thread::JoinHandle<(u64, String)>) {
    let mut c = RawClient::connect(addr);
    let framing = if chunked {
        "Transfer-Encoding: chunked".to_string()
    } else {
        format!("Content-Length: {len}")
    };
    c.send(format!("POST {path} HTTP/1.1\r\nHost: t\r\n{framing}\r\n\r\n").as_bytes());
    let writer = send_body(c.stream.try_clone().unwrap(), len, chunked);
    (c, writer)
}

/// A body streamed to an async handler and to a blocking one on a worker:
/// what arrives is what was sent, with Content-Length and chunked.
fn streamed_request_bodies(model: &str) {
    let server = start(model, &["--max-body", "1073741824"]);
    for path in ["/stream-sha256", "/stream-sha256-blocking"] {
        for chunked in [false, true] {
            const LEN: u64 = 16 << 20;
            let (mut c, writer) = post_streaming(server.addr, path, LEN, chunked);
            let r = c.read_response().unwrap();
            let (sent, hex) = writer.join().unwrap();
            assert_eq!(sent, LEN);
            assert_eq!(r.status, 200, "{path} chunked={chunked}");
            assert_eq!(String::from_utf8(r.body).unwrap(), format!("{LEN} {hex}"));
            // The connection is reusable afterwards.
            assert_eq!(c.roundtrip(&get("/")).status, 200);
        }
    }
    // 100 Continue comes when the handler starts reading, then the body.
    let mut c = RawClient::connect(server.addr);
    c.send(b"POST /stream-sha256 HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
    let interim = c.read_head().unwrap();
    assert_eq!(interim.status, 100);
    c.send(b"hello");
    let r = c.read_response().unwrap();
    assert_eq!(
        String::from_utf8(r.body).unwrap(),
        format!("5 {}", sha256_hex(b"hello"))
    );
}

/// A handler that answers without reading the body (401), and a body over a
/// streaming route's limit (413): the client, which ignores the answer and
/// keeps sending, still reads it. With `Expect: 100-continue` the body is
/// never invited.
fn early_answers_reach_a_client_that_keeps_sending(model: &str) {
    let server = start(model, &["--max-body", "1073741824"]);
    for (path, status) in [("/stream-refuse", 401), ("/stream-limited", 413)] {
        for chunked in [false, true] {
            const LEN: u64 = 64 << 20;
            let (mut c, writer) = post_streaming(server.addr, path, LEN, chunked);
            let r = c.read_response().expect("the early answer arrives");
            assert_eq!(r.status, status, "{path} chunked={chunked}");
            drop(c);
            let _ = writer.join();
        }
    }
    let mut c = RawClient::connect(server.addr);
    c.send(b"POST /stream-refuse HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\nExpect: 100-continue\r\n\r\n");
    let r = c.read_response().unwrap();
    assert_eq!(r.status, 401, "no 100 Continue first");
    // The server is fine.
    assert_eq!(
        RawClient::connect(server.addr).roundtrip(&get("/")).status,
        200
    );
}

/// A client uploading at 1 KiB/s does not hold anyone else up.
fn slow_uploader_does_not_delay_others(model: &str) {
    let server = start(model, &[]);
    let mut slow = RawClient::connect(server.addr);
    slow.send(b"POST /stream-sha256 HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n");
    let mut stream = slow.stream.try_clone().unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let trickle = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if stream.write_all(&[b'x'; 100]).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    for i in 0..20 {
        let t0 = Instant::now();
        let r = RawClient::connect(server.addr).roundtrip(&get("/"));
        assert_eq!(r.status, 200);
        assert!(
            t0.elapsed() < Duration::from_secs(1),
            "request {i} waited {:?} behind a slow uploader",
            t0.elapsed()
        );
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = trickle.join();
    let mut buf = [0u8; 1];
    let _ = slow
        .stream
        .set_read_timeout(Some(Duration::from_millis(10)));
    let _ = slow.stream.read(&mut buf);
}

macro_rules! per_model {
    ($($model:ident),*) => {$(
        mod $model {
            fn m() -> &'static str { stringify!($model) }
            #[test] fn upgrade_hands_the_connection_over() { super::upgrade_hands_the_connection_over(m()) }
            #[test] fn deferred_replies() { super::deferred_replies(m()) }
            #[test] fn streamed_request_bodies() { super::streamed_request_bodies(m()) }
            #[test] fn early_answers_reach_a_client_that_keeps_sending() { super::early_answers_reach_a_client_that_keeps_sending(m()) }
        }
    )*};
}

per_model!(iterative, fork, threads, epoll, reactor);

// One connection at a time is what `iterative` is: it has no other clients
// to keep going.
macro_rules! concurrent_models {
    ($($model:ident),*) => {$(
        mod $model {
            #[test] fn slow_uploader_does_not_delay_others() { super::super::slow_uploader_does_not_delay_others(stringify!($model)) }
        }
    )*};
}

mod concurrent {
    concurrent_models!(fork, threads, epoll, reactor);
}
