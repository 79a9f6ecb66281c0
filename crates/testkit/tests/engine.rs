//! The connection engine's seams, over real sockets on every model: a
//! protocol switch hands the connection to another machine (with the bytes
//! that arrived together with the request).

use std::time::Duration;

use osprey_testkit::{RawClient, ServerProcess};

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

macro_rules! per_model {
    ($($model:ident),*) => {$(
        mod $model {
            fn m() -> &'static str { stringify!($model) }
            #[test] fn upgrade_hands_the_connection_over() { super::upgrade_hands_the_connection_over(m()) }
        }
    )*};
}

per_model!(iterative, fork, threads, epoll, reactor);
