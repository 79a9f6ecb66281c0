//! HTTP/2 over real sockets, on every model: curl over TLS (ALPN `h2`) and
//! over cleartext with prior knowledge (h2c) — GET, HEAD, POST, 32 MiB both
//! ways, file bodies, 100 transfers multiplexed on one connection —; a raw
//! frame client (built from osprey-h2's frame and HPACK codecs) opening 100
//! concurrent streams that each get their own body, small flow-control
//! windows granted a frame at a time, a slow stream that does not hold up
//! the others, the bounds on request bodies, graceful shutdown, and RFC 9113
//! violations answered with the exact GOAWAY or RST_STREAM code while the
//! server goes on serving other connections.
//!
//! curl must be built with HTTP/2 (nghttp2); a curl without it fails these
//! tests rather than skipping them.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use osprey_h2::frame::{Frame, FrameDecoder, Headers, RstStream, Settings, WindowUpdate};
use osprey_h2::hpack;
use osprey_h2::{ErrorCode, PREFACE};
use osprey_testkit::tls::{connect, TestCa};
use osprey_testkit::{is_pattern, ServerProcess};
use sha2::{Digest, Sha256};

const SERVER: &str = env!("CARGO_BIN_EXE_osprey-test-server");

/// A server on a free port, over TLS (a test CA's certificate for
/// localhost) or cleartext.
struct Site {
    // (Dropped first: the server goes before its certificate files.)
    server: ServerProcess,
    ca: Option<(TestCa, tempfile::TempDir, PathBuf)>,
}

impl Site {
    fn start(model: &str, tls: bool, extra: &[&str]) -> Site {
        let mut args: Vec<String> = Vec::new();
        if !extra.contains(&"--max-body") {
            args.extend(["--max-body".into(), "100000000".into()]);
        }
        let ca = tls.then(|| {
            let ca = TestCa::new("Osprey h2 test CA");
            let dir = tempfile::tempdir().unwrap();
            let (cert, key) = ca
                .issue(&["localhost", "127.0.0.1"])
                .write(dir.path(), "site");
            args.extend([
                "--tls-cert".into(),
                cert.to_str().unwrap().into(),
                "--tls-key".into(),
                key.to_str().unwrap().into(),
            ]);
            let ca_file = ca.write_ca(dir.path());
            (ca, dir, ca_file)
        });
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let server = ServerProcess::start_model(SERVER, model, &args);
        Site { server, ca }
    }

    fn url(&self, path: &str) -> String {
        match self.ca {
            Some(_) => format!("https://localhost:{}{path}", self.server.addr.port()),
            None => format!("http://127.0.0.1:{}{path}", self.server.addr.port()),
        }
    }

    /// curl speaking HTTP/2: ALPN over TLS, prior knowledge in cleartext.
    fn curl(&self, args: &[&str]) -> String {
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "--max-time", "60"]);
        match &self.ca {
            Some((_, _, ca_file)) => {
                cmd.arg("--http2").arg("--cacert").arg(ca_file);
                cmd.arg("--resolve")
                    .arg(format!("localhost:{}:127.0.0.1", self.server.addr.port()));
            }
            None => {
                cmd.arg("--http2-prior-knowledge");
            }
        }
        let out = cmd
            .args(args)
            .output()
            .expect("curl (apt-get install curl)");
        assert!(
            out.status.success(),
            "curl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// curl must speak HTTP/2, or these tests mean nothing.
fn require_curl_http2() {
    let out = Command::new("curl")
        .arg("--version")
        .output()
        .expect("curl is required (apt-get install curl)");
    let version = String::from_utf8_lossy(&out.stdout);
    assert!(
        version.contains("HTTP2"),
        "curl without HTTP/2 support: {version}"
    );
}

/// What curl does with our HTTP/2, over TLS or h2c.
fn curl_h2(model: &str, tls: bool) {
    require_curl_http2();
    let site = Site::start(model, tls, &[]);
    let out = site.curl(&["-w", "\n%{http_version}", &site.url("/")]);
    assert_eq!(out, "Hello, World!\n2");

    let head = site.curl(&["-I", &site.url("/")]);
    assert!(head.starts_with("HTTP/2 200"), "{head}");
    assert!(head.contains("content-length: 13"), "{head}");

    let out = site.curl(&["--data-binary", "posted", &site.url("/echo")]);
    assert_eq!(out, "posted");

    let out = site.curl(&[&site.url("/whoami")]);
    assert!(out.contains("version=HTTP/2.0\n"), "{out}");
    if tls {
        let out = site.curl(&[&site.url("/tls")]);
        assert!(out.contains("alpn=h2\n"), "{out}");
    }

    // 32 MiB up, gathered whole and streamed to the handler.
    let dir = tempfile::tempdir().unwrap();
    let upload = dir.path().join("upload");
    let data: Vec<u8> = (0..32u64 << 20).map(|i| (i * 7 % 253) as u8).collect();
    std::fs::write(&upload, &data).unwrap();
    let expect = format!(
        "{} {}",
        data.len(),
        Sha256::digest(&data)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    let at = format!("@{}", upload.display());
    for path in ["/sha256", "/stream-sha256", "/stream-sha256-blocking"] {
        let out = site.curl(&["--data-binary", &at, &site.url(path)]);
        assert_eq!(out, expect, "{path}");
    }

    // 32 MiB down, streamed; files read a frame at a time.
    for (path, len) in [
        ("/stream?bytes=33554432&chunk=65536", 32 << 20),
        ("/produce?bytes=4000000&chunk=10000", 4_000_000),
        ("/file?bytes=8388608", 8 << 20),
        ("/file?bytes=100000", 100_000),
        ("/big?bytes=1000000", 1_000_000),
    ] {
        let file = dir.path().join("download");
        site.curl(&["-o", file.to_str().unwrap(), &site.url(path)]);
        let body = std::fs::read(&file).unwrap();
        assert_eq!(body.len(), len, "{path}");
        assert!(is_pattern(&body), "{path}");
    }
}

/// curl multiplexing 100 transfers over one TLS connection (curl 7.88 fails
/// `--parallel` with `--http2-prior-knowledge` on its own side, so h2c gets
/// the raw client's test instead).
fn curl_parallel(model: &str) {
    require_curl_http2();
    let site = Site::start(model, true, &[]);
    let dir = tempfile::tempdir().unwrap();
    let mut args: Vec<String> = [
        "--parallel",
        "--parallel-max",
        "100",
        "-w",
        "%{http_version}:%{num_connects} ",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for i in 1..=100u64 {
        args.push("-o".into());
        args.push(dir.path().join(i.to_string()).to_str().unwrap().into());
        args.push(site.url(&format!("/big?bytes={}", i * 1000)));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = site.curl(&args);
    let mut connects = 0;
    for transfer in out.split_whitespace() {
        let (version, n) = transfer.split_once(':').unwrap();
        assert_eq!(version, "2", "{out}");
        connects += n.parse::<u32>().unwrap();
    }
    assert_eq!(connects, 1, "one connection for all: {out}");
    for i in 1..=100u64 {
        let body = std::fs::read(dir.path().join(i.to_string())).unwrap();
        assert_eq!(body.len() as u64, i * 1000);
        assert!(is_pattern(&body));
    }
}

// ----- a raw HTTP/2 client ---------------------------------------------------

/// A minimal client: the preface, SETTINGS with large windows, requests as
/// HEADERS (+ DATA), and frames read back one by one.
struct Client<S: Read + Write> {
    sock: S,
    input: BytesMut,
    frames: FrameDecoder,
    encoder: hpack::Encoder,
    decoder: hpack::Decoder,
}

impl Client<TcpStream> {
    fn h2c(addr: SocketAddr) -> Client<TcpStream> {
        let sock = TcpStream::connect(addr).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        sock.set_nodelay(true).unwrap();
        Client::over(sock)
    }
}

impl<S: Read + Write> Client<S> {
    /// A client with 1 GiB windows: flow control never holds the server.
    fn over(sock: S) -> Client<S> {
        Client::with_window(sock, 1 << 30, 1 << 30)
    }

    /// A client whose streams start with `window` octets of credit and whose
    /// connection window is raised by `increment` (0: the default 65,535).
    fn with_window(sock: S, window: u32, increment: u32) -> Client<S> {
        let mut c = Client {
            sock,
            input: BytesMut::new(),
            frames: FrameDecoder::new(1 << 14),
            encoder: hpack::Encoder::new(4096),
            decoder: hpack::Decoder::new(4096, 1 << 20),
        };
        let mut out = PREFACE.to_vec();
        Settings {
            initial_window_size: Some(window),
            ..Settings::default()
        }
        .encode(&mut out);
        if increment > 0 {
            WindowUpdate {
                stream_id: 0,
                increment,
            }
            .encode(&mut out);
        }
        c.send(&out);
        c
    }

    fn send(&mut self, bytes: &[u8]) {
        self.sock.write_all(bytes).unwrap();
        self.sock.flush().unwrap();
    }

    /// A request's HEADERS frame.
    fn headers(&mut self, id: u32, method: &str, path: &str, end_stream: bool) -> Vec<u8> {
        let mut block = BytesMut::new();
        self.encoder.encode(
            [
                (&b":method"[..], method.as_bytes(), false),
                (b":scheme", b"http", false),
                (b":path", path.as_bytes(), false),
                (b":authority", b"localhost", false),
            ],
            &mut block,
        );
        let mut out = Vec::new();
        Headers::new(id, block.freeze(), end_stream, true).encode(&mut out);
        out
    }

    fn get(&mut self, id: u32, path: &str) {
        let frame = self.headers(id, "GET", path, true);
        self.send(&frame);
    }

    /// The next frame, or `None` when the server closed the connection.
    fn frame(&mut self) -> Option<Frame> {
        loop {
            if let Some(f) = self.frames.decode(&mut self.input).unwrap() {
                return Some(f);
            }
            let mut buf = [0u8; 65536];
            match self.sock.read(&mut buf) {
                Ok(0) => return None,
                Ok(n) => self.input.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return None,
                Err(e) => panic!("reading a frame: {e}"),
            }
        }
    }

    /// Reads until every stream in `ids` is complete: status and body of
    /// each, and when each ended (since `t0`).
    fn responses(&mut self, ids: &[u32]) -> HashMap<u32, (u16, Vec<u8>, Instant)> {
        let mut open: HashMap<u32, (u16, Vec<u8>)> = HashMap::new();
        let mut done = HashMap::new();
        while done.len() < ids.len() {
            let frame = self
                .frame()
                .expect("connection closed before the responses");
            let (id, end) = match frame {
                Frame::Headers(h) => {
                    assert!(h.end_headers, "CONTINUATION not expected here");
                    let block = self.decoder.decode(&h.fragment).unwrap();
                    let status = block
                        .fields
                        .iter()
                        .find(|f| &f.name[..] == b":status")
                        .map(|f| std::str::from_utf8(&f.value).unwrap().parse().unwrap())
                        .unwrap();
                    open.entry(h.stream_id).or_default().0 = status;
                    (h.stream_id, h.end_stream)
                }
                Frame::Data(d) => {
                    open.entry(d.stream_id)
                        .or_default()
                        .1
                        .extend_from_slice(&d.data);
                    (d.stream_id, d.end_stream)
                }
                Frame::Settings(s) if !s.ack => {
                    let mut out = Vec::new();
                    Settings::ack().encode(&mut out);
                    self.send(&out);
                    continue;
                }
                Frame::GoAway(g) => panic!("GOAWAY {:?}", g.code),
                Frame::RstStream(r) => panic!("RST_STREAM {:?} on {}", r.code, r.stream_id),
                _ => continue,
            };
            if end {
                let (status, body) = open.remove(&id).unwrap_or_default();
                done.insert(id, (status, body, Instant::now()));
            }
        }
        done
    }

    /// Reads until a GOAWAY (returning its code) or the end of the
    /// connection (`None`).
    fn goaway(&mut self) -> Option<ErrorCode> {
        while let Some(frame) = self.frame() {
            if let Frame::GoAway(g) = frame {
                return Some(g.code);
            }
        }
        None
    }

    /// Reads until a RST_STREAM on `id` (its code) or a GOAWAY (panics).
    fn reset_of(&mut self, id: u32) -> ErrorCode {
        loop {
            match self.frame().expect("connection closed") {
                Frame::RstStream(r) if r.stream_id == id => return r.code,
                Frame::GoAway(g) => panic!("GOAWAY {:?}", g.code),
                _ => {}
            }
        }
    }
}

/// 100 concurrent streams on one connection, each answered with its own
/// body (sizes and kinds differ), then one more round on the same
/// connection.
fn many_streams(model: &str) {
    let site = Site::start(model, false, &[]);
    let mut c = Client::h2c(site.server.addr);
    for round in 0..2u32 {
        let mut ids = Vec::new();
        let mut wire = Vec::new();
        for i in 0..100u32 {
            let id = 1 + 2 * (i + round * 100);
            let path = match i % 4 {
                0 => format!("/big?bytes={}", 1000 + i * 997),
                1 => format!("/stream?bytes={}&chunk=3000", 1000 + i * 997),
                2 => format!("/file?bytes={}", 1000 + i * 997),
                _ => format!("/delay?ms={}", i % 7),
            };
            wire.extend(c.headers(id, "GET", &path, true));
            ids.push((id, i));
        }
        c.send(&wire);
        let got = c.responses(&ids.iter().map(|&(id, _)| id).collect::<Vec<_>>());
        for (id, i) in ids {
            let (status, body, _) = &got[&id];
            assert_eq!(*status, 200, "stream {id}");
            if i % 4 == 3 {
                assert_eq!(body, format!("slept {} ms", i % 7).as_bytes());
            } else {
                assert_eq!(body.len() as u32, 1000 + i * 997, "stream {id}");
                assert!(is_pattern(body), "stream {id}");
            }
        }
    }
}

/// A stream whose reply takes 2 s (pending on a timer; with `--blocking`,
/// a handler sleeping on the worker pool) holds up no other stream on the
/// same connection.
fn slow_stream_alone(model: &str, blocking: bool) {
    let extra: &[&str] = if blocking { &["--blocking"] } else { &[] };
    let site = Site::start(model, false, extra);
    let mut c = Client::h2c(site.server.addr);
    let slow = if blocking {
        "/slow?ms=2000"
    } else {
        "/delay?ms=2000"
    };
    let t0 = Instant::now();
    c.get(1, slow);
    for id in [3, 5, 7] {
        c.get(id, "/big?bytes=100000");
    }
    let mut fast = c.responses(&[3, 5, 7]);
    let fast_done = fast.values().map(|r| r.2).max().unwrap();
    assert!(
        fast_done - t0 < Duration::from_millis(1500),
        "fast streams took {:?}",
        fast_done - t0
    );
    for (_, (status, body, _)) in fast.drain() {
        assert_eq!(status, 200);
        assert_eq!(body.len(), 100_000);
    }
    let slow = c.responses(&[1]);
    assert_eq!(slow[&1].0, 200);
    assert!(slow[&1].2 - t0 >= Duration::from_millis(1900));
}

/// Small flow-control windows (RFC 9113 §6.9): streams of every body kind
/// (bytes, a file, a stream) wait for credit, stream by stream and on the
/// connection, and finish as the client grants it a little at a time; no
/// DATA frame ever exceeds the credit given.
fn flow_control(model: &str) {
    let site = Site::start(model, false, &[]);
    let sock = TcpStream::connect(site.server.addr).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut c = Client::with_window(sock, 1000, 0);
    let len = 300_000usize;
    let paths = [
        (1, format!("/big?bytes={len}")),
        (3, format!("/file?bytes={len}")),
        (5, format!("/stream?bytes={len}&chunk=7000")),
    ];
    for (id, path) in &paths {
        c.get(*id, path);
    }
    let mut bodies: HashMap<u32, Vec<u8>> = HashMap::new();
    let mut credit: HashMap<u32, i64> = paths.iter().map(|(id, _)| (*id, 1000)).collect();
    let mut connection: i64 = 65_535;
    let mut ended = 0;
    while ended < paths.len() {
        match c.frame().expect("connection closed") {
            Frame::Data(d) => {
                let n = d.data.len() as u32;
                let stream = credit.get_mut(&d.stream_id).unwrap();
                *stream -= n as i64;
                connection -= n as i64;
                assert!(*stream >= 0 && connection >= 0, "DATA beyond the credit");
                bodies
                    .entry(d.stream_id)
                    .or_default()
                    .extend_from_slice(&d.data);
                if d.end_stream {
                    ended += 1;
                }
                // Grant what was consumed, in small steps.
                if n > 0 {
                    let mut out = Vec::new();
                    for stream_id in [d.stream_id, 0] {
                        WindowUpdate {
                            stream_id,
                            increment: n,
                        }
                        .encode(&mut out);
                    }
                    *stream += n as i64;
                    connection += n as i64;
                    c.send(&out);
                }
            }
            Frame::Settings(s) if !s.ack => {
                let mut out = Vec::new();
                Settings::ack().encode(&mut out);
                c.send(&out);
            }
            Frame::GoAway(g) => panic!("GOAWAY {:?}", g.code),
            Frame::RstStream(r) => panic!("RST_STREAM {:?}", r.code),
            _ => {}
        }
    }
    for (id, path) in &paths {
        let body = &bodies[id];
        assert_eq!(body.len(), len, "{path}");
        assert!(is_pattern(body), "{path}");
    }
}

/// A request body over the route's limit is refused on its stream with 413,
/// and the connection goes on.
fn body_limits(model: &str) {
    let site = Site::start(model, false, &[]);
    let mut c = Client::h2c(site.server.addr);
    let mut wire = c.headers(1, "POST", "/stream-limited", false);
    osprey_h2::frame::Data::new(1, Bytes::from(vec![7u8; 5000]), true).encode(&mut wire);
    c.send(&wire);
    let got = c.responses(&[1]);
    assert_eq!(got[&1].0, 413);
    c.get(3, "/");
    assert_eq!(c.responses(&[3])[&3].1, b"Hello, World!");
}

/// Whole bodies held by one connection are bounded across its streams: the
/// stream that would pass the bound is refused (REFUSED_STREAM, safe to
/// retry) and the others are served.
fn gathered_bodies_bounded(model: &str) {
    let site = Site::start(
        model,
        false,
        &["--max-body", "200000", "--h2-gathered", "300000"],
    );
    let mut c = Client::h2c(site.server.addr);
    let body = vec![7u8; 150_000];
    let mut wire = Vec::new();
    for id in [1, 3, 5] {
        wire.extend(c.headers(id, "POST", "/sha256", false));
        let send = if id == 5 { &body[..10] } else { &body[..] };
        for piece in send.chunks(16_384) {
            osprey_h2::frame::Data::new(id, Bytes::copy_from_slice(piece), false).encode(&mut wire);
        }
    }
    c.send(&wire);
    assert_eq!(c.reset_of(5), ErrorCode::REFUSED_STREAM);
    let mut end = Vec::new();
    for id in [1, 3] {
        osprey_h2::frame::Data::new(id, Bytes::new(), true).encode(&mut end);
    }
    c.send(&end);
    let got = c.responses(&[1, 3]);
    let hex: String = Sha256::digest(&body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    for id in [1, 3] {
        assert_eq!(got[&id].0, 200);
        assert_eq!(got[&id].1, format!("150000 {hex}").as_bytes());
    }
}

// ----- protocol violations ---------------------------------------------------

/// Whether a new connection is served after a violation on another.
fn still_serving(addr: SocketAddr) {
    let mut c = Client::h2c(addr);
    c.get(1, "/");
    let got = c.responses(&[1]);
    assert_eq!(got[&1].1, b"Hello, World!");
}

fn frame_bytes(kind: u8, flags: u8, id: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut out = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// RFC 9113 MUSTs, each answered with its GOAWAY code (§5.4.1).
fn violations(model: &str) {
    let site = Site::start(model, true, &[]);
    let addr = site.server.addr;
    let (ca, _, _) = site.ca.as_ref().unwrap();

    // §3.4: an invalid preface after ALPN h2 is a PROTOCOL_ERROR.
    let tls = connect(addr, "localhost", ca.client_config(&[b"h2"], None)).unwrap();
    assert_eq!(tls.conn.alpn_protocol(), Some(&b"h2"[..]));
    let mut c = Client {
        sock: tls,
        input: BytesMut::new(),
        frames: FrameDecoder::new(1 << 14),
        encoder: hpack::Encoder::new(4096),
        decoder: hpack::Decoder::new(4096, 1 << 20),
    };
    c.send(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_eq!(c.goaway(), Some(ErrorCode::PROTOCOL_ERROR));

    // A request over TLS with ALPN h2 is served.
    let tls = connect(addr, "localhost", ca.client_config(&[b"h2"], None)).unwrap();
    let mut c = Client::over(tls);
    c.get(1, "/whoami");
    let got = c.responses(&[1]);
    assert!(String::from_utf8_lossy(&got[&1].1).contains("version=HTTP/2.0"));

    // Over a cleartext listener, the rest.
    let plain = Site::start(model, false, &[]);
    let addr = plain.server.addr;
    // §5.1.1: a client stream id must be odd.
    let mut c = Client::h2c(addr);
    let frame = c.headers(2, "GET", "/", true);
    c.send(&frame);
    assert_eq!(c.goaway(), Some(ErrorCode::PROTOCOL_ERROR));
    still_serving(addr);

    // §6.1: DATA on an idle stream.
    let mut c = Client::h2c(addr);
    c.send(&frame_bytes(0x0, 0x1, 5, b"hello"));
    assert_eq!(c.goaway(), Some(ErrorCode::PROTOCOL_ERROR));
    still_serving(addr);

    // §4.2: a frame larger than SETTINGS_MAX_FRAME_SIZE (16 KiB).
    let mut c = Client::h2c(addr);
    c.get(1, "/");
    c.responses(&[1]);
    c.send(&frame_bytes(0x0, 0x0, 1, &vec![0u8; 16_385]));
    assert_eq!(c.goaway(), Some(ErrorCode::FRAME_SIZE_ERROR));
    still_serving(addr);

    // Rapid reset (CVE-2023-44487): streams opened and cancelled at once,
    // beyond osprey_h2::limits::MAX_PEER_RESETS, end in ENHANCE_YOUR_CALM.
    let mut c = Client::h2c(addr);
    let mut wire = Vec::new();
    for i in 0..(osprey_h2::limits::MAX_PEER_RESETS + 10) {
        let id = 1 + 2 * i;
        wire.extend(c.headers(id, "GET", "/delay?ms=5000", true));
        RstStream {
            stream_id: id,
            code: ErrorCode::CANCEL,
        }
        .encode(&mut wire);
    }
    c.send(&wire);
    assert_eq!(c.goaway(), Some(ErrorCode::ENHANCE_YOUR_CALM));
    still_serving(addr);

    // A stream error stays on its stream: a request with a connection-specific
    // field (§8.2.2) is reset with PROTOCOL_ERROR, the connection goes on.
    let mut c = Client::h2c(addr);
    let mut block = BytesMut::new();
    c.encoder.encode(
        [
            (&b":method"[..], &b"GET"[..], false),
            (b":scheme", b"http", false),
            (b":path", b"/", false),
            (b":authority", b"localhost", false),
            (b"connection", b"close", false),
        ],
        &mut block,
    );
    let mut wire = Vec::new();
    Headers::new(1, block.freeze(), true, true).encode(&mut wire);
    c.send(&wire);
    assert_eq!(c.reset_of(1), ErrorCode::PROTOCOL_ERROR);
    c.get(3, "/");
    assert_eq!(c.responses(&[3])[&3].1, b"Hello, World!");
}

/// Graceful shutdown: GOAWAY, and a stream under way is served to the end.
fn graceful_shutdown(model: &str) {
    let mut site = Site::start(model, false, &["--grace-ms", "5000"]);
    let mut c = Client::h2c(site.server.addr);
    c.get(1, "/delay?ms=1000");
    // The stream is open once the server has read it: a second stream's
    // answer proves it.
    c.get(3, "/");
    c.responses(&[3]);
    site.server.signal(libc::SIGTERM);
    let mut goaway = None;
    let mut body = Vec::new();
    loop {
        match c.frame() {
            Some(Frame::GoAway(g)) => {
                assert_eq!(g.code, ErrorCode::NO_ERROR);
                goaway = Some(g.last_stream_id);
            }
            Some(Frame::Ping(p)) if !p.ack => {
                let mut out = Vec::new();
                osprey_h2::frame::Ping {
                    ack: true,
                    payload: p.payload,
                }
                .encode(&mut out);
                c.send(&out);
            }
            Some(Frame::Data(d)) if d.stream_id == 1 => {
                body.extend_from_slice(&d.data);
                if d.end_stream {
                    break;
                }
            }
            Some(_) => {}
            None => panic!("closed before stream 1 was answered"),
        }
    }
    assert!(goaway.is_some(), "GOAWAY before the end");
    assert_eq!(body, b"slept 1000 ms");
    assert!(site.server.wait(Duration::from_secs(10)).is_some());
}

macro_rules! per_model {
    ($($model:ident),*) => {$(
        mod $model {
            fn m() -> &'static str { stringify!($model) }
            #[test] fn curl_h2_over_tls() { super::curl_h2(m(), true) }
            #[test] fn curl_h2c_prior_knowledge() { super::curl_h2(m(), false) }
            #[test] fn curl_parallel_over_tls() { super::curl_parallel(m()) }
            #[test] fn many_streams() { super::many_streams(m()) }
            #[test] fn slow_stream_alone() { super::slow_stream_alone(m(), false) }
            #[test] fn slow_blocking_stream_alone() { super::slow_stream_alone(m(), true) }
            #[test] fn body_limits() { super::body_limits(m()) }
            #[test] fn flow_control() { super::flow_control(m()) }
            #[test] fn gathered_bodies_bounded() { super::gathered_bodies_bounded(m()) }
            #[test] fn violations() { super::violations(m()) }
            #[test] fn graceful_shutdown() { super::graceful_shutdown(m()) }
        }
    )*};
}

per_model!(iterative, fork, threads, epoll, reactor);
