//! WebSocket over real sockets, under every concurrency model: the `ws_echo`
//! and `chat` examples, spoken to by a small client written here (raw frames
//! over a `TcpStream`, so it can also break the protocol on purpose) and by
//! the Python `websockets` library (permessage-deflate, a client we did not
//! write). `iterative` serves one connection at a time, so its tests use one
//! client at a time; the chat room needs shared memory between connections
//! and runs under `threads`, `epoll` and `reactor`.
//!
//! Python's `websockets` is installed by `.ci/run`; without it the tests that
//! use it fail (a test whose tool is missing must not pass).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use osprey::middleware::auth::{AuthUser, BearerAuth};
use osprey::websocket::{Conn, Message, WsHandler};
use osprey::{Next, Request, Router};
use osprey_testkit::{example, ServerProcess};

mod common;

/// Every read is bounded: a test fails rather than hangs.
const READ_TIMEOUT: Duration = Duration::from_secs(20);

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn start_echo(model: &str, extra: &[&str]) -> ServerProcess {
    let mut args = vec![
        "--listen",
        "127.0.0.1:0",
        "--model",
        model,
        "--workers",
        "2",
    ];
    args.extend_from_slice(extra);
    ServerProcess::start(&example("ws_echo"), &args)
}

/// A frame as received.
#[derive(Debug, PartialEq, Eq)]
struct Frame {
    fin: bool,
    rsv1: bool,
    opcode: u8,
    payload: Vec<u8>,
}

impl Frame {
    fn close_code(&self) -> Option<u16> {
        (self.opcode == 8 && self.payload.len() >= 2)
            .then(|| u16::from_be_bytes([self.payload[0], self.payload[1]]))
    }
}

/// A minimal WebSocket client: the handshake, masked frames out, frames in.
struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
}

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

impl Client {
    /// Connects and completes the opening handshake (no extensions).
    fn connect(addr: SocketAddr, path: &str) -> Client {
        let (status, head, client) = Client::handshake(addr, path, "");
        assert_eq!(status, 101, "{head}");
        assert!(
            head.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"),
            "{head}"
        );
        client
    }

    /// Sends a handshake with `extra` header lines; returns the status, the
    /// head, and the client (with whatever followed the head).
    fn handshake(addr: SocketAddr, path: &str, extra: &str) -> (u16, String, Client) {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        let mut c = Client {
            stream,
            buf: Vec::new(),
        };
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
        );
        c.stream.write_all(req.as_bytes()).unwrap();
        let end = loop {
            if let Some(i) = c.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            assert!(c.fill(), "closed before the response head");
        };
        let head = String::from_utf8_lossy(&c.buf[..end]).into_owned();
        c.buf.drain(..end);
        let status = head[9..12].parse().unwrap();
        (status, head, c)
    }

    /// Reads more; false at end of stream.
    fn fill(&mut self) -> bool {
        let mut tmp = [0u8; 65536];
        match self.stream.read(&mut tmp) {
            Ok(0) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&tmp[..n]);
                true
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => false,
            Err(e) => panic!("read: {e}"),
        }
    }

    /// A raw frame: `masked` as a client must (RFC 6455 §5.3), or not, to
    /// see the server refuse it.
    fn send_raw(&mut self, first: u8, payload: &[u8], masked: bool) {
        let mut f = vec![first];
        let m = if masked { 0x80 } else { 0 };
        match payload.len() {
            n if n < 126 => f.push(m | n as u8),
            n if n < 65536 => {
                f.push(m | 126);
                f.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                f.push(m | 127);
                f.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        if masked {
            let key = [0x12, 0x34, 0x56, 0x78];
            f.extend_from_slice(&key);
            f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        } else {
            f.extend_from_slice(payload);
        }
        self.stream.write_all(&f).unwrap();
    }

    fn send(&mut self, opcode: u8, payload: &[u8]) {
        self.send_raw(0x80 | opcode, payload, true);
    }

    /// The next frame, or `None` at end of stream.
    fn frame(&mut self) -> Option<Frame> {
        loop {
            if let Some((frame, used)) = parse_frame(&self.buf) {
                self.buf.drain(..used);
                return Some(frame);
            }
            if !self.fill() {
                return None;
            }
        }
    }

    /// The next frame that is not a ping or a pong (answering nothing).
    fn data(&mut self) -> Frame {
        loop {
            let f = self.frame().expect("a frame");
            if f.opcode != 0x9 && f.opcode != 0xA {
                return f;
            }
        }
    }

    /// Whether the server closes the TCP connection within `timeout`
    /// (reading and discarding frames meanwhile).
    fn closed_within(&mut self, timeout: Duration) -> bool {
        self.stream.set_read_timeout(Some(timeout)).unwrap();
        let until = Instant::now() + timeout;
        while Instant::now() < until {
            self.buf.clear();
            let mut tmp = [0u8; 65536];
            match self.stream.read(&mut tmp) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
                Err(_) => return false,
            }
        }
        false
    }
}

fn parse_frame(b: &[u8]) -> Option<(Frame, usize)> {
    if b.len() < 2 {
        return None;
    }
    assert_eq!(b[1] & 0x80, 0, "a server never masks (RFC 6455 §5.1)");
    let (len, mut at) = match b[1] & 0x7f {
        126 if b.len() >= 4 => (u16::from_be_bytes([b[2], b[3]]) as usize, 4),
        127 if b.len() >= 10 => (
            u64::from_be_bytes(b[2..10].try_into().unwrap()) as usize,
            10,
        ),
        126 | 127 => return None,
        n => (n as usize, 2),
    };
    if b.len() < at + len {
        return None;
    }
    let payload = b[at..at + len].to_vec();
    at += len;
    Some((
        Frame {
            fin: b[0] & 0x80 != 0,
            rsv1: b[0] & 0x40 != 0,
            opcode: b[0] & 0x0f,
            payload,
        },
        at,
    ))
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

/// Text and binary messages up to the 16 MiB limit, a fragmented message
/// with a ping between its fragments, and the close handshake.
fn echo(model: &str) {
    let server = start_echo(model, &[]);
    let mut c = Client::connect(server.addr, "/any/path");
    c.send(0x1, "héllo".as_bytes());
    assert_eq!(
        c.data(),
        Frame {
            fin: true,
            rsv1: false,
            opcode: 1,
            payload: "héllo".into()
        }
    );
    for size in [0, 125, 126, 65535, 65536, 1 << 20, 16 << 20] {
        let data = pattern(size);
        c.send(0x2, &data);
        let f = c.data();
        assert_eq!((f.opcode, f.payload.len()), (2, size));
        assert!(f.payload == data, "{size} bytes came back changed");
    }
    // §5.4: fragments, with a control frame between them (answered first).
    c.send_raw(0x01, b"frag", true);
    c.send(0x9, b"in between");
    c.send_raw(0x00, b"men", true);
    c.send_raw(0x80, b"ted", true);
    assert_eq!(
        c.frame().unwrap(),
        Frame {
            fin: true,
            rsv1: false,
            opcode: 0xA,
            payload: b"in between".to_vec()
        }
    );
    assert_eq!(c.data().payload, b"fragmented");
    // §7.1.2: our close is echoed, then the server closes TCP first.
    c.send(0x8, &1000u16.to_be_bytes());
    assert_eq!(c.frame().unwrap().close_code(), Some(1000));
    assert!(c.closed_within(Duration::from_secs(5)));
}

/// The close codes of a client that breaks the rules (RFC 6455 §7.4.1).
fn close_codes(model: &str) {
    let server = start_echo(model, &["--max-message", "65536"]);
    type Breach = Box<dyn Fn(&mut Client)>;
    let cases: [(&str, Breach, u16); 5] = [
        (
            "invalid UTF-8",
            Box::new(|c| c.send(0x1, b"ok \xff no")),
            1007,
        ),
        (
            "unmasked frame",
            Box::new(|c| c.send_raw(0x81, b"bare", false)),
            1002,
        ),
        (
            "message too big",
            Box::new(|c| c.send(0x2, &pattern(65537))),
            1009,
        ),
        (
            "continuation without a message",
            Box::new(|c| c.send_raw(0x80, b"x", true)),
            1002,
        ),
        (
            "reserved opcode",
            Box::new(|c| c.send_raw(0x83, b"", true)),
            1002,
        ),
    ];
    for (what, send, code) in cases {
        let mut c = Client::connect(server.addr, "/");
        send(&mut c);
        let f = c
            .frame()
            .unwrap_or_else(|| panic!("{what}: no close frame"));
        assert_eq!(f.close_code(), Some(code), "{what}: {f:?}");
        assert!(
            c.closed_within(Duration::from_secs(5)),
            "{what}: still open"
        );
    }
    // A text message split inside a character is fine (§8.1).
    let mut c = Client::connect(server.addr, "/");
    c.send_raw(0x01, &"é".as_bytes()[..1], true);
    c.send_raw(0x80, &"é".as_bytes()[1..], true);
    assert_eq!(c.data().payload, "é".as_bytes());
}

/// A malformed handshake gets 400, another version 426, and neither
/// upgrades.
fn handshake_refusals(model: &str) {
    let server = start_echo(model, &[]);
    let (status, head, _) = Client::handshake(
        server.addr,
        "/",
        "Sec-WebSocket-Key: second\r\n", // two keys
    );
    assert_eq!(status, 400, "{head}");
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    stream
        .write_all(
            b"GET / HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n",
        )
        .unwrap();
    let mut head = vec![0u8; 4096];
    let n = stream.read(&mut head).unwrap();
    let head = String::from_utf8_lossy(&head[..n]);
    assert!(head.starts_with("HTTP/1.1 426 "), "{head}");
    assert!(head.contains("Sec-WebSocket-Version: 13\r\n"), "{head}");
}

/// A client that stops answering is pinged, then closed; one that answers
/// stays.
fn ping_timeout(model: &str) {
    let server = start_echo(
        model,
        &["--ping-interval-ms", "300", "--pong-timeout-ms", "400"],
    );
    // Alive: it answers every ping (the test's read loop does).
    let mut c = Client::connect(server.addr, "/");
    let started = Instant::now();
    let mut pings = 0;
    while started.elapsed() < Duration::from_millis(1500) {
        let f = c.frame().expect("still open");
        assert_eq!(f.opcode, 0x9, "{f:?}");
        pings += 1;
        c.send(0xA, &f.payload);
    }
    assert!(pings >= 2, "{pings} pings");
    c.send(0x1, b"still here");
    assert_eq!(c.data().payload, b"still here");
    drop(c);
    // Dead: it reads the ping and never answers; the server closes TCP.
    let mut c = Client::connect(server.addr, "/");
    let started = Instant::now();
    assert_eq!(c.frame().unwrap().opcode, 0x9);
    assert!(
        c.closed_within(Duration::from_secs(5)),
        "a dead client kept"
    );
    assert!(started.elapsed() >= Duration::from_millis(300));
}

/// Server shutdown closes WebSockets with 1001 (going away).
fn shutdown_going_away(model: &str) {
    let server = start_echo(model, &[]);
    let mut c = Client::connect(server.addr, "/");
    c.send(0x1, b"up");
    assert_eq!(c.data().payload, b"up");
    server.signal(SIGTERM);
    let f = c.frame().expect("a close frame");
    assert_eq!(f.close_code(), Some(1001), "{f:?}");
    c.send(0x8, &1001u16.to_be_bytes());
    assert!(c.closed_within(Duration::from_secs(10)));
}

/// `SIGTERM` on Linux.
const SIGTERM: i32 = 15;

/// Runs a Python `websockets` script against `addr`; panics with its output
/// on failure.
fn python(script: &str, args: &[&str]) {
    let check = Command::new("python3")
        .args(["-c", "import websockets"])
        .output()
        .expect("python3");
    assert!(
        check.status.success(),
        "Python's websockets is missing: pip install websockets (.ci/run does)"
    );
    let out = Command::new("timeout")
        .arg("120")
        .arg("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "python failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

const PY_ECHO: &str = r#"
import asyncio, sys, websockets
url, deflate = sys.argv[1], sys.argv[2] == "on"
async def main():
    async with websockets.connect(url, max_size=None, compression="deflate") as ws:
        ext = ws.response.headers.get("Sec-WebSocket-Extensions")
        assert (ext is not None and ext.startswith("permessage-deflate")) == deflate, ext
        await ws.send("hello " * 1000)
        assert await ws.recv() == "hello " * 1000
        for size in (0, 10, 100000, 16 * 1024 * 1024):
            data = bytes(i % 251 for i in range(size))
            await ws.send(data)
            assert await ws.recv() == data, size
        await ws.send(["frag", "men", "ted " * 100])
        assert await ws.recv() == "fragmen" + "ted " * 100
        pong = await ws.ping(b"p")
        await asyncio.wait_for(pong, 10)
        await ws.close()
        assert ws.close_code == 1000, ws.close_code
asyncio.run(main())
"#;

fn python_echo(model: &str) {
    let server = start_echo(model, &[]);
    python(PY_ECHO, &[&format!("ws://{}/py", server.addr), "on"]);
    let server = start_echo(model, &["--no-deflate"]);
    python(PY_ECHO, &[&format!("ws://{}/py", server.addr), "off"]);
}

fn start_chat(model: &str, extra: &[&str]) -> ServerProcess {
    let www = repo_root().join("examples/www");
    let mut args = vec![
        "--listen",
        "127.0.0.1:0",
        "--model",
        model,
        "--workers",
        "2",
        "--dir",
        www.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    ServerProcess::start(&example("chat"), &args)
}

/// Text frames until one satisfies `want`, or `None` at the end.
fn text_until(c: &mut Client, want: impl Fn(&str) -> bool) -> Option<String> {
    loop {
        let f = c.frame()?;
        if f.opcode == 8 {
            eprintln!("close frame: {:?}", f.close_code());
        }
        if f.opcode == 1 {
            let t = String::from_utf8(f.payload).unwrap();
            if want(&t) {
                return Some(t);
            }
        }
    }
}

/// A member that stops reading is disconnected with 1008 once its queue is
/// full, while the others chat on and miss nothing.
fn chat_slow_reader(model: &str) {
    let server = start_chat(model, &["--send-queue", "8"]);
    // The slow member: a small receive window, and it reads nothing after
    // the handshake.
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    sock.connect(&server.addr.into()).unwrap();
    let stream: TcpStream = sock.into();
    stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    let mut slow = Client {
        stream,
        buf: Vec::new(),
    };
    slow.stream
        .write_all(
            format!(
                "GET /ws?name=slow HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\n\
                 Connection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\n\
                 Sec-WebSocket-Version: 13\r\n\r\n"
            )
            .as_bytes(),
        )
        .unwrap();
    while !slow.buf.windows(4).any(|w| w == b"\r\n\r\n") {
        assert!(slow.fill(), "slow: no handshake response");
    }
    let end = slow.buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert!(slow.buf.starts_with(b"HTTP/1.1 101 "));
    slow.buf.drain(..end);
    let mut a = Client::connect(server.addr, "/ws?name=a");
    text_until(&mut a, |t| t == "* a joined").unwrap();
    let mut b = Client::connect(server.addr, "/ws?name=b");
    text_until(&mut a, |t| t == "* b joined").unwrap();
    const N: usize = 200;
    let body = "x".repeat(30_000);
    let (seen, seen_rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut got = 0;
        let mut saw_slow = false;
        while got < N {
            let t = text_until(&mut b, |t| t.starts_with("a: ") || t.contains("too slow"))
                .expect("b: the room went on");
            if t.contains("slow too slow") {
                saw_slow = true;
            } else if t.starts_with("a: ") {
                assert!(t.starts_with(&format!("a: {got} ")), "b missed a message");
                got += 1;
                let _ = seen.send(got);
            }
        }
        (got, saw_slow)
    });
    let started = Instant::now();
    for i in 0..N {
        a.send(0x1, format!("{i} {body}").as_bytes());
        // A chat client's pace: its own message comes back before the next.
        text_until(&mut a, |t| t.starts_with(&format!("a: {i} "))).expect("a's echo");
        // And b has it: the room is as fast as its readers, not faster
        // (on a loaded machine this thread could otherwise outrun b's and
        // make b the slow one).
        assert_eq!(seen_rx.recv_timeout(READ_TIMEOUT), Ok(i + 1));
    }
    let (got, saw_slow) = reader.join().unwrap();
    assert_eq!(got, N);
    assert!(saw_slow, "the room was told the slow member left");
    assert!(started.elapsed() < Duration::from_secs(60));
    // The slow member finds its connection closed with 1008 once it reads.
    let close = loop {
        match slow.frame() {
            Some(f) if f.opcode == 8 => break f,
            Some(_) => {}
            None => panic!("slow: closed without a close frame"),
        }
    };
    assert_eq!(close.close_code(), Some(1008), "{close:?}");
}

/// chat.html in a real browser: the page connects, sends, and renders its
/// own message as the room echoes it, and a message from another member (a
/// client of this test that answers the page) — checked in the DOM.
#[test]
fn chat_page_in_chromium() {
    let Some(browser) = osprey_testkit::browser::chromium_or_skip() else {
        return;
    };
    let profile = tempfile::tempdir().unwrap();
    let server = start_chat("reactor", &[]);
    let mut peer = Client::connect(server.addr, "/ws?name=peer");
    let answering = std::thread::spawn(move || {
        // Answers each page's message, until the test ends the connection.
        while let Some(t) = text_until(&mut peer, |t| t.ends_with(": hello from chromium")) {
            let who = t.split(':').next().unwrap().to_owned();
            peer.send(0x1, format!("hi {who}").as_bytes());
        }
    });
    // The DOM is dumped when the page goes idle in virtual time; a message
    // still on its way then is missed, so a slow machine gets three tries.
    let mut last = String::new();
    let ok = (0..3).any(|i| {
        let name = format!("bot{i}");
        let url = server.url(&format!(
            "/chat.html?name={name}&say=hello%20from%20chromium"
        ));
        last =
            osprey_testkit::browser::run_chromium(browser, profile.path(), &["--dump-dom", &url]);
        last.contains(r#"data-state="echoed""#)
            && last.contains(&format!("<li>{name}: hello from chromium</li>"))
            && last.contains(&format!("<li>peer: hi {name}</li>"))
    });
    assert!(ok, "the page did not show the room:\n{last}");
    drop(server);
    answering.join().unwrap();
}

/// Greets its user by the name authentication found, then echoes.
struct Greeter(String);

impl WsHandler for Greeter {
    fn on_open(&mut self, ws: &mut Conn<'_>) {
        let _ = ws.send_text(&format!("hello {}", self.0));
    }
    fn on_message(&mut self, ws: &mut Conn<'_>, message: Message) {
        let _ = ws.send(message);
    }
}

/// The upgrade is a request like any other until the 101: authentication
/// refuses it without credentials (and it never upgrades), other middleware
/// see it and the 101 (a header added), and the handler sees what they
/// left in the request — also when the middleware blocks and the upgrade is
/// answered from the worker pool.
#[test]
fn middleware_apply_to_the_upgrade() {
    for blocking in [false, true] {
        let auth = BearerAuth::new([("alice", "s3cret")])
            .unwrap()
            .blocking(blocking);
        let app = Router::new()
            .with(|req: &mut Request, next: Next<'_>| next.run(req).header("X-Seen", "1"))
            .with(auth)
            .ws("/ws", |req: &mut Request| {
                let AuthUser(name) = req.extensions().get::<AuthUser>().expect("authenticated");
                Greeter(name.clone())
            });
        let server = common::TestServer::start(app);
        let (status, head, _) = Client::handshake(server.addr, "/ws", "");
        assert_eq!(status, 401, "{head}");
        assert!(head.contains("X-Seen: 1\r\n"), "{head}");
        let (status, head, mut c) =
            Client::handshake(server.addr, "/ws", "Authorization: Bearer s3cret\r\n");
        assert_eq!(status, 101, "{head}");
        assert!(head.contains("X-Seen: 1\r\n"), "{head}");
        assert_eq!(c.data().payload, b"hello alice");
        c.send(0x1, b"again");
        assert_eq!(c.data().payload, b"again");
    }
}

/// What a handler hears: its messages, then one close with the right code.
#[test]
fn the_handler_hears_every_message_then_one_close() {
    use std::sync::mpsc;
    struct Recorder(mpsc::Sender<String>);
    impl WsHandler for Recorder {
        fn on_message(&mut self, _: &mut Conn<'_>, message: Message) {
            let _ = self
                .0
                .send(format!("message {}", message.as_text().unwrap_or("?")));
        }
        fn on_close(&mut self, code: Option<osprey::websocket::CloseCode>, reason: &str) {
            let _ = self
                .0
                .send(format!("close {:?} {reason}", code.map(|c| c.0)));
        }
    }
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let app = Router::new().ws("/ws", move |_: &mut Request| {
        Recorder(tx.lock().unwrap().clone())
    });
    let server = common::TestServer::start(app);
    let next = || {
        rx.recv_timeout(READ_TIMEOUT)
            .expect("the handler heard something")
    };

    // A message and a close frame in one write: both, in order, with the
    // client's code.
    let mut c = Client::connect(server.addr, "/ws");
    let mut close = 4000u16.to_be_bytes().to_vec();
    close.extend_from_slice(b"bye");
    let mut both = Vec::new();
    for (first, payload) in [(0x81u8, &b"last words"[..]), (0x88, &close[..])] {
        let key = [1, 2, 3, 4];
        both.push(first);
        both.push(0x80 | payload.len() as u8);
        both.extend_from_slice(&key);
        both.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    }
    c.stream.write_all(&both).unwrap();
    assert_eq!(next(), "message last words");
    assert_eq!(next(), "close Some(4000) bye");
    assert_eq!(c.frame().unwrap().close_code(), Some(4000));
    assert!(c.closed_within(Duration::from_secs(5)));

    // A protocol error: our code.
    let mut c = Client::connect(server.addr, "/ws");
    c.send(0x1, b"\xc3");
    assert_eq!(c.frame().unwrap().close_code(), Some(1007));
    assert!(next().starts_with("close Some(1007) "));

    // The transport ends without a close frame: 1006.
    let c = Client::connect(server.addr, "/ws");
    drop(c);
    assert!(next().starts_with("close Some(1006) "));
    assert!(
        rx.recv_timeout(Duration::from_millis(300)).is_err(),
        "one close only"
    );
}

const PY_TLS_ECHO: &str = r#"
import asyncio, ssl, sys, websockets
url, ca = sys.argv[1], sys.argv[2]
async def main():
    ctx = ssl.create_default_context(cafile=ca)
    async with websockets.connect(url, ssl=ctx, max_size=None) as ws:
        await ws.send("over tls")
        assert await ws.recv() == "over tls"
        data = bytes(i % 251 for i in range(1 << 20))
        await ws.send(data)
        assert await ws.recv() == data
        await ws.close()
        assert ws.close_code == 1000, ws.close_code
asyncio.run(main())
"#;

/// `wss://`: the same machine over the TLS transport.
fn tls_echo(model: &str) {
    let ca = osprey_testkit::tls::TestCa::new("ws test CA");
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = ca.issue(&["127.0.0.1"]).write(dir.path(), "server");
    let ca_file = ca.write_ca(dir.path());
    let server = start_echo(
        model,
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    python(
        PY_TLS_ECHO,
        &[
            &format!("wss://{}/tls", server.addr),
            ca_file.to_str().unwrap(),
        ],
    );
}

macro_rules! per_model {
    ($($model:ident),*) => {$(
        mod $model {
            fn m() -> &'static str { stringify!($model) }
            #[test] fn echo() { super::echo(m()) }
            #[test] fn close_codes() { super::close_codes(m()) }
            #[test] fn handshake_refusals() { super::handshake_refusals(m()) }
            #[test] fn ping_timeout() { super::ping_timeout(m()) }
            #[test] fn shutdown_going_away() { super::shutdown_going_away(m()) }
            #[test] fn python_echo() { super::python_echo(m()) }
            #[test] fn tls_echo() { super::tls_echo(m()) }
        }
    )*};
}

per_model!(iterative, fork, threads, epoll, reactor);

// The room is shared memory: every connection must be in one process, and
// more than one served at once.
mod room {
    #[test]
    fn threads_slow_reader() {
        super::chat_slow_reader("threads")
    }
    #[test]
    fn epoll_slow_reader() {
        super::chat_slow_reader("epoll")
    }
    #[test]
    fn reactor_slow_reader() {
        super::chat_slow_reader("reactor")
    }
}
