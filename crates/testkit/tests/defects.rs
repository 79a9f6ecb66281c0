//! Defects found by black-box probes, each checked on every concurrency model
//! over real sockets on 127.0.0.1:
//!
//! 1. a FIN that arrives in the same segment as data must still be seen (with
//!    edge-triggered epoll no later edge comes for it).
//!
//! The server's end of a connection is watched through /proc/net/tcp
//! ([`tcp_state`]): that sees the server close its socket even while the
//! kernel still holds unsent bytes for the client.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use osprey_testkit::tcp_state::{CLOSE_WAIT, ESTABLISHED};
use osprey_testkit::{get, is_pattern, tcp_state, RawClient, ServerProcess};
use socket2::{Domain, Protocol, Socket, Type};

const SERVER: &str = env!("CARGO_BIN_EXE_osprey-test-server");

/// The test server's file (`/file?bytes=N` serves its first N bytes).
const FILE_SIZE: u64 = 8 << 20;

/// How often a test looks again at something it waits for.
const POLL: Duration = Duration::from_millis(10);

fn start(model: &str, extra: &[&str]) -> ServerProcess {
    ServerProcess::start_model(SERVER, model, extra)
}

/// A connected client socket; `rcvbuf` is set before connecting, so the
/// window the client offers stays small from the first segment on.
fn connect(addr: SocketAddr, rcvbuf: Option<usize>) -> Socket {
    let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).expect("socket");
    if let Some(n) = rcvbuf {
        s.set_recv_buffer_size(n).expect("SO_RCVBUF");
    }
    s.connect(&addr.into()).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

fn local(s: &Socket) -> SocketAddr {
    s.local_addr().unwrap().as_socket().unwrap()
}

/// How the client ends its side after sending.
#[derive(Clone, Copy, Debug)]
enum End {
    /// `shutdown(SHUT_WR)`: the client still reads.
    HalfClose,
    /// `close`: the client is gone.
    Close,
}

/// Sends `bytes` followed by a FIN. With `together`, data and FIN leave in
/// one TCP segment: TCP_CORK holds the data back and the kernel tacks the FIN
/// onto the unsent segment, so the server sees both in a single readiness
/// event, which is the case an edge-triggered loop can miss. Returns the
/// socket when half-closed.
fn send_then_fin(s: Socket, bytes: &[u8], together: bool, end: End) -> Option<TcpStream> {
    if together {
        s.set_cork(true).unwrap();
    }
    let mut stream: TcpStream = s.into();
    stream.write_all(bytes).expect("send");
    match end {
        End::HalfClose => {
            stream.shutdown(Shutdown::Write).expect("shutdown");
            Some(stream)
        }
        End::Close => None,
    }
}

/// Waits until the server's socket for the connection from `client` is no
/// longer open on the server's side (gone, or closed by the server: neither
/// ESTABLISHED nor CLOSE_WAIT). Returns how long that took, or `None` if it
/// did not happen within `bound`.
fn server_releases(server: SocketAddr, client: SocketAddr, bound: Duration) -> Option<Duration> {
    let t0 = Instant::now();
    loop {
        match tcp_state(server, client) {
            Some(ESTABLISHED | CLOSE_WAIT) => {}
            _ => return Some(t0.elapsed()),
        }
        if t0.elapsed() >= bound {
            return None;
        }
        std::thread::sleep(POLL);
    }
}

/// Reads until EOF (or a reset), failing on any byte; returns how long it took.
fn expect_eof(stream: &mut TcpStream, bound: Duration, what: &str) -> Duration {
    let t0 = Instant::now();
    stream.set_read_timeout(Some(bound)).unwrap();
    let mut byte = [0u8; 1];
    match stream.read(&mut byte) {
        Ok(0) => t0.elapsed(),
        Ok(_) => panic!("{what}: unexpected byte {:?} after the response", byte[0]),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::TimedOut => {
            panic!("{what}: the server kept the connection open for {bound:?}")
        }
        // A reset also ends the connection.
        Err(_) => t0.elapsed(),
    }
}

// ---------------------------------------------------------------------------
// 1. A FIN together with data.

/// A partial head followed at once by the client's FIN: the server releases
/// the connection promptly, not at the header timeout (10 s by default; the
/// server runs with default timeouts so that the defect would show).
fn fin_after_partial_head(model: &str) {
    const BOUND: Duration = Duration::from_secs(2);
    let server = start(model, &[]);
    for together in [true, false] {
        // Closed: the server must notice and close its socket (leave CLOSE_WAIT).
        let s = connect(server.addr, None);
        let client = local(&s);
        send_then_fin(s, b"GET /index.ht", together, End::Close);
        let took = server_releases(server.addr, client, BOUND).unwrap_or_else(|| {
            panic!("{model}: partial head + close (data and FIN together: {together}): server socket still open after {BOUND:?}")
        });
        eprintln!("{model}: partial head + close (together: {together}): released in {took:?}");

        // Half-closed: the client sees the server's EOF.
        let s = connect(server.addr, None);
        let mut stream = send_then_fin(s, b"GET /index.ht", together, End::HalfClose).unwrap();
        let took = expect_eof(
            &mut stream,
            BOUND,
            &format!("{model}: partial head + shutdown"),
        );
        eprintln!("{model}: partial head + shutdown (together: {together}): EOF in {took:?}");
    }
}

/// Whole requests followed at once by the client's FIN (`shutdown(SHUT_WR)`):
/// every request is answered in full, then the server closes, instead of
/// waiting for the keep-alive timeout (15 s by default).
fn fin_after_whole_request(model: &str) {
    const BOUND: Duration = Duration::from_secs(3);
    let server = start(model, &[]);
    let hello = get("/");
    let two = [get("/big?bytes=10"), get("/")].concat();
    // Larger than the kernel's send buffer: the response is still being
    // written, over several turns, after the FIN has been read.
    let file = get(&format!("/file?bytes={FILE_SIZE}"));
    let cases: [(&str, &[u8], &[u64]); 3] = [
        ("GET /", &hello, &[13]),
        ("two pipelined GETs", &two, &[10, 13]),
        ("8 MiB file", &file, &[FILE_SIZE]),
    ];
    for together in [true, false] {
        for (name, request, lengths) in cases {
            let what = format!("{model}: {name} + shutdown (together: {together})");
            let s = connect(server.addr, None);
            let stream = send_then_fin(s, request, together, End::HalfClose).unwrap();
            let mut c = RawClient::from_stream(stream);
            for &len in lengths {
                let r = c
                    .read_response()
                    .unwrap_or_else(|e| panic!("{what}: response: {e}"));
                assert_eq!(r.status, 200, "{what}");
                assert_eq!(r.body.len() as u64, len, "{what}");
                if len == 13 {
                    assert_eq!(r.body, b"Hello, World!", "{what}");
                } else {
                    assert!(is_pattern(&r.body), "{what}: every byte right");
                }
            }
            let took = expect_eof(&mut c.stream, BOUND, &what);
            eprintln!("{what}: EOF {took:?} after the last response");
        }
    }
}

macro_rules! suite {
    ($($model:ident),*) => {$(
        mod $model {
            fn m() -> &'static str { stringify!($model) }
            #[test] fn fin_after_partial_head() { super::fin_after_partial_head(m()) }
            #[test] fn fin_after_whole_request() { super::fin_after_whole_request(m()) }
        }
    )*};
}

suite!(iterative, fork, threads, epoll, reactor);
