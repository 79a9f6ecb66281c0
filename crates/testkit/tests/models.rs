//! The server suite, run once per concurrency model over real sockets on
//! 127.0.0.1. Each test starts its own `osprey-test-server` process on a free
//! port with the model under test.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use osprey_testkit::{get, is_pattern, RawClient, ServerProcess};

const SERVER: &str = env!("CARGO_BIN_EXE_osprey-test-server");

fn start(model: &str, extra: &[&str]) -> ServerProcess {
    ServerProcess::start_model(SERVER, model, extra)
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn get_head_post(model: &str) {
    let server = start(model, &[]);
    let agent = ureq::agent();
    let r = agent.get(&server.url("/")).call().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(r.header("server"), Some("osprey"));
    assert!(r.header("date").is_some_and(|d| d.ends_with(" GMT")));
    assert_eq!(r.into_string().unwrap(), "Hello, World!");

    let r = agent.head(&server.url("/")).call().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.header("content-length"), Some("13"));
    assert_eq!(r.into_string().unwrap(), "");

    let r = agent
        .post(&server.url("/echo"))
        .send_bytes(b"ping pong")
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.into_string().unwrap(), "ping pong");
}

fn keep_alive(model: &str) {
    let server = start(model, &[]);
    let mut c = RawClient::connect(server.addr);
    for i in 0..5 {
        let r = c
            .roundtrip(format!("GET /big?bytes={} HTTP/1.1\r\nHost: t\r\n\r\n", 10 + i).as_bytes());
        assert_eq!(r.status, 200);
        assert_eq!(r.body.len(), 10 + i);
        assert_eq!(
            r.header("connection"),
            None,
            "HTTP/1.1 keep-alive needs no Connection field"
        );
    }
    // And `Connection: close` ends it.
    let r = c.roundtrip(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    assert_eq!(r.header("connection"), Some("close"));
    assert!(c.closed_within(Duration::from_secs(5)));
}

fn pipelined_16(model: &str) {
    let server = start(model, &[]);
    let mut c = RawClient::connect(server.addr);
    let batch: Vec<u8> = (1..=16)
        .flat_map(|i| format!("GET /big?bytes={i} HTTP/1.1\r\nHost: t\r\n\r\n").into_bytes())
        .collect();
    c.send(&batch);
    for i in 1..=16 {
        let r = c.read_response().unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.body.len(), i, "responses in request order");
    }
}

fn one_byte_at_a_time(model: &str) {
    let server = start(model, &[]);
    let mut c = RawClient::connect(server.addr);
    for b in b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello" {
        c.send(&[*b]);
    }
    let r = c.read_response().unwrap();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"hello"[..]));
}

fn garbage_gets_400_and_server_goes_on(model: &str) {
    let server = start(model, &[]);
    for garbage in [
        &b"\x00\x01\x02 garbage\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nHost: t\r\nBad Header\r\n\r\n",
        b"GET / HTTP/9.9\r\n\r\n",
    ] {
        let mut c = RawClient::connect(server.addr);
        c.send(garbage);
        let r = c.read_response().unwrap();
        assert!(r.status == 400 || r.status == 505, "status {}", r.status);
        assert_eq!(r.header("connection"), Some("close"));
        assert!(
            !String::from_utf8_lossy(&r.body).contains("garbage"),
            "never echoes input"
        );
        assert!(c.closed_within(Duration::from_secs(5)));
    }
    let r = RawClient::connect(server.addr).roundtrip(&get("/"));
    assert_eq!(r.body, b"Hello, World!");
}

const BIG: usize = 32 << 20;

fn big_post_content_length(model: &str) {
    let server = start(model, &["--max-body", "67108864"]);
    let body: Vec<u8> = (0..BIG).map(|i| (i * 7 % 256) as u8).collect();
    let r = ureq::post(&server.url("/sha256"))
        .send_bytes(&body)
        .unwrap();
    assert_eq!(
        r.into_string().unwrap(),
        format!("{BIG} {}", sha256_hex(&body))
    );
}

fn big_post_chunked(model: &str) {
    let server = start(model, &["--max-body", "67108864"]);
    let body: Vec<u8> = (0..BIG).map(|i| (i * 13 % 256) as u8).collect();
    let mut c = RawClient::connect(server.addr);
    c.send(b"POST /sha256 HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
    for piece in body.chunks(100_000) {
        c.send(format!("{:x}\r\n", piece.len()).as_bytes());
        c.send(piece);
        c.send(b"\r\n");
    }
    c.send(b"0\r\n\r\n");
    let r = c.read_response().unwrap();
    assert_eq!(
        String::from_utf8(r.body).unwrap(),
        format!("{BIG} {}", sha256_hex(&body))
    );
}

fn body_over_limit_gets_413(model: &str) {
    let server = start(model, &["--max-body", "1000"]);
    let mut c = RawClient::connect(server.addr);
    c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n");
    c.send(&[b'x'; 5000]);
    assert_eq!(c.read_response().unwrap().status, 413);
}

fn expect_continue(model: &str) {
    let server = start(model, &[]);
    let mut c = RawClient::connect(server.addr);
    c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n");
    let mut interim = [0u8; 25];
    c.stream.read_exact(&mut interim).unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    c.send(b"data");
    assert_eq!(c.read_response().unwrap().body, b"data");
}

fn thousand_connections(model: &str) {
    osprey_testkit::raise_fd_limit();
    let server = start(model, &[]);
    let mut conns: Vec<TcpStream> = (0..1000)
        .map(|_| TcpStream::connect(server.addr).expect("connect"))
        .collect();
    for c in &mut conns {
        c.write_all(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            .unwrap();
    }
    let mut ok = 0;
    for c in conns {
        c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut client = RawClient::from_stream(c);
        let r = client.read_response().expect("every connection answered");
        if r.status == 200 && r.body == b"Hello, World!" {
            ok += 1;
        }
    }
    assert_eq!(ok, 1000);
}

fn disconnect_mid_response_frees_the_connection(model: &str) {
    // Two connections allowed: a leaked one would soon block the third test
    // connection from ever being served.
    let server = start(model, &["--max-connections", "2"]);
    for _ in 0..6 {
        let mut c = RawClient::connect(server.addr);
        c.send(&get("/big?bytes=67108864"));
        let mut some = [0u8; 1024];
        c.stream.read_exact(&mut some).unwrap();
        drop(c);
    }
    for _ in 0..6 {
        let mut c = RawClient::connect(server.addr);
        c.send(&get("/stream?bytes=67108864"));
        let mut some = [0u8; 1024];
        c.stream.read_exact(&mut some).unwrap();
    }
    let r = RawClient::connect(server.addr).roundtrip(&get("/"));
    assert_eq!(r.body, b"Hello, World!");
}

fn idle_keep_alive_is_closed(model: &str) {
    let server = start(model, &["--keep-alive-ms", "300"]);
    let mut c = RawClient::connect(server.addr);
    assert_eq!(c.roundtrip(&get("/")).status, 200);
    let t0 = Instant::now();
    assert!(
        c.closed_within(Duration::from_secs(5)),
        "idle connection closed"
    );
    assert!(
        t0.elapsed() >= Duration::from_millis(250),
        "not before the timeout"
    );
}

fn slowloris_is_cut_while_others_are_served(model: &str) {
    let server = start(model, &["--header-timeout-ms", "600"]);
    let mut slow = RawClient::connect(server.addr);
    slow.send(b"GET / HTTP/1.1\r\nHost: t\r\n");
    let t0 = Instant::now();
    let mut served = 0;
    // Trickle one byte of a header line at a time while others are served:
    // progress never resets the header deadline.
    while t0.elapsed() < Duration::from_millis(1500) {
        if slow.stream.write_all(b"X").is_err() {
            break;
        }
        if model != "iterative" {
            let r = ureq::get(&server.url("/")).call().unwrap();
            assert_eq!(r.status(), 200);
            served += 1;
        } else {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let r = slow.read_response().expect("408 before close");
    assert_eq!(r.status, 408);
    assert!(slow.closed_within(Duration::from_secs(5)));
    if model != "iterative" {
        assert!(served > 5, "others were served meanwhile ({served})");
    } else {
        // One connection at a time: the next client is served once the
        // slowloris is cut.
        assert_eq!(
            RawClient::connect(server.addr).roundtrip(&get("/")).status,
            200
        );
    }
}

fn handler_panic_gives_500(model: &str) {
    let server = start(model, &[]);
    let mut c = RawClient::connect(server.addr);
    let r = c.roundtrip(&get("/panic"));
    assert_eq!(r.status, 500);
    assert_eq!(r.header("connection"), Some("close"));
    assert!(c.closed_within(Duration::from_secs(5)));
    let r = RawClient::connect(server.addr).roundtrip(&get("/"));
    assert_eq!(r.status, 200);
}

fn sigterm_lets_a_slow_request_finish(model: &str) {
    let mut server = start(model, &[]);
    let mut c = RawClient::connect(server.addr);
    c.send(&get("/slow?ms=800"));
    assert!(server.wait_for_line("slow started", Duration::from_secs(10)));
    server.signal(libc::SIGTERM);
    let r = c.read_response().expect("the in-flight request finishes");
    assert_eq!((r.status, r.body.as_slice()), (200, &b"slow done"[..]));
    let status = server.wait(Duration::from_secs(10)).expect("server exits");
    assert!(status.success(), "exit status {status:?}");
}

fn streamed_and_file_bodies(model: &str) {
    let server = start(model, &[]);
    let mut c = RawClient::connect(server.addr);
    for path in [
        "/stream?bytes=3000000&chunk=65536",
        "/produce?bytes=3000000&chunk=100000",
        "/file?bytes=3000000",
        "/big?bytes=3000000",
    ] {
        let r = c.roundtrip(&get(path));
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.body.len(), 3_000_000, "{path}");
        assert!(is_pattern(&r.body), "{path}: every byte right");
        let chunked = r.header("transfer-encoding") == Some("chunked");
        assert_eq!(
            chunked,
            path.starts_with("/stream") || path.starts_with("/produce"),
            "{path}"
        );
    }
}

macro_rules! suite {
    ($($model:ident),*) => {$(
        mod $model {
            fn m() -> &'static str { stringify!($model) }
            #[test] fn get_head_post() { super::get_head_post(m()) }
            #[test] fn keep_alive() { super::keep_alive(m()) }
            #[test] fn pipelined_16() { super::pipelined_16(m()) }
            #[test] fn one_byte_at_a_time() { super::one_byte_at_a_time(m()) }
            #[test] fn garbage_gets_400_and_server_goes_on() { super::garbage_gets_400_and_server_goes_on(m()) }
            #[test] fn big_post_content_length() { super::big_post_content_length(m()) }
            #[test] fn big_post_chunked() { super::big_post_chunked(m()) }
            #[test] fn body_over_limit_gets_413() { super::body_over_limit_gets_413(m()) }
            #[test] fn expect_continue() { super::expect_continue(m()) }
            #[test] fn thousand_connections() { super::thousand_connections(m()) }
            #[test] fn disconnect_mid_response_frees_the_connection() { super::disconnect_mid_response_frees_the_connection(m()) }
            #[test] fn idle_keep_alive_is_closed() { super::idle_keep_alive_is_closed(m()) }
            #[test] fn slowloris_is_cut_while_others_are_served() { super::slowloris_is_cut_while_others_are_served(m()) }
            #[test] fn handler_panic_gives_500() { super::handler_panic_gives_500(m()) }
            #[test] fn sigterm_lets_a_slow_request_finish() { super::sigterm_lets_a_slow_request_finish(m()) }
            #[test] fn streamed_and_file_bodies() { super::streamed_and_file_bodies(m()) }
        }
    )*};
}

suite!(iterative, fork, threads, epoll, reactor);
