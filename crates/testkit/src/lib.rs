//! Test support: a server process on a free port, and a raw TCP client that
//! can send any bytes and read responses with Osprey's own response parser.
//!
//! Servers are started as processes (the `fork` model must not run inside a
//! multi-threaded test harness, and signals need a process of their own). Tests
//! never sleep waiting for a server: the process prints `listening on …` once its
//! listeners are bound, and the fixture reads that line.

#![forbid(unsafe_code)]

pub mod browser;
pub mod tls;

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use osprey::h1::Limits;
use osprey::h1::{BodyDecoder, BodyFraming, Parsed, RequestContext, ResponseParser};

/// A server process started for one test; killed when dropped.
pub struct ServerProcess {
    child: Child,
    /// The first address it listens on.
    pub addr: SocketAddr,
    lines: mpsc::Receiver<String>,
}

impl ServerProcess {
    /// Starts `program` with `args` and waits for its `listening on` line.
    pub fn start(program: &str, args: &[&str]) -> ServerProcess {
        ServerProcess::start_with(program, args, false)
    }

    /// Like [`ServerProcess::start`], and the lines the server writes to
    /// stderr (its log) are read too, by [`ServerProcess::wait_for_line`].
    pub fn start_logged(program: &str, args: &[&str]) -> ServerProcess {
        ServerProcess::start_with(program, args, true)
    }

    fn start_with(program: &str, args: &[&str], stderr: bool) -> ServerProcess {
        let mut child = Command::new(program)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(if stderr {
                Stdio::piped()
            } else {
                Stdio::inherit()
            })
            .spawn()
            .unwrap_or_else(|e| panic!("start {program}: {e}"));
        let stdout: ChildStdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        if let Some(err) = child.stderr.take() {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(err).lines() {
                    let Ok(line) = line else { return };
                    eprintln!("{line}");
                    if tx.send(line).is_err() {
                        return;
                    }
                }
            });
        }
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let first = lines
            .recv_timeout(Duration::from_secs(30))
            .expect("server printed its address");
        let addr = first
            .strip_prefix("listening on http://")
            .or_else(|| first.strip_prefix("listening on https://"))
            .unwrap_or_else(|| panic!("unexpected first line: {first}"))
            .parse()
            .expect("address");
        ServerProcess { child, addr, lines }
    }

    /// Starts `program` (the test server) on a free port of 127.0.0.1 under
    /// `model`, with two reactor loops unless `extra` says `--workers`.
    pub fn start_model(program: &str, model: &str, extra: &[&str]) -> ServerProcess {
        let mut args = vec!["--listen", "127.0.0.1:0", "--model", model];
        if !extra.contains(&"--workers") {
            args.extend(["--workers", "2"]);
        }
        args.extend_from_slice(extra);
        ServerProcess::start(program, &args)
    }

    /// The next line the server prints, waiting at most `timeout`.
    pub fn next_line(&self, timeout: Duration) -> Option<String> {
        self.lines.recv_timeout(timeout).ok()
    }

    /// Waits for a line on the server's stdout (a readiness marker printed by a
    /// handler), at most `timeout`.
    pub fn wait_for_line(&self, text: &str, timeout: Duration) -> bool {
        let until = Instant::now() + timeout;
        while let Some(left) = until.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(text) => return true,
                Ok(_) => {}
                Err(_) => return false,
            }
        }
        false
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `http://addr` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Sends a signal (e.g. `libc::SIGTERM`).
    pub fn signal(&self, sig: i32) {
        osprey_rt::process::send_signal(self.child.id() as i32, sig).expect("kill");
    }

    /// Waits for the process to exit, at most `timeout`.
    pub fn wait(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let until = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= until {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Resident memory of the process in KiB (VmRSS).
    pub fn rss_kib(&self) -> u64 {
        rss_kib(self.child.id())
    }
}

/// VmRSS of process `pid` in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// CPU time (user + system) used so far by process `pid` and its threads.
pub fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name start with the state; utime
    // and stime are the 12th and 13th of them, in clock ticks (100 per second).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let ticks = field(11) + field(12);
    Duration::from_millis(ticks * 10)
}

/// The kernel's number for a TCP state, as /proc/net/tcp lists it.
pub mod tcp_state {
    /// Both sides open.
    pub const ESTABLISHED: u8 = 0x01;
    /// We closed (FIN queued behind any unsent data); the peer has not yet.
    pub const FIN_WAIT1: u8 = 0x04;
    /// The peer closed; we have not.
    pub const CLOSE_WAIT: u8 = 0x08;
    /// Both closed, our FIN not yet acknowledged.
    pub const LAST_ACK: u8 = 0x09;
}

/// What the kernel says about one TCP socket ([`tcp_socket`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpSocketInfo {
    /// The state ([`tcp_state`] numbers).
    pub state: u8,
    /// Bytes received that the socket's owner has not read yet (a FIN not yet
    /// read counts as one: it takes a sequence number).
    pub unread: u32,
}

/// The state of the IPv4 TCP socket bound to `local` and connected to `peer`
/// (this network namespace, any process); `None` when there is no such
/// socket. Lets a test watch the *server's* end of a connection: `CLOSE_WAIT`
/// means the server has not yet noticed the client's FIN; a state other than
/// `ESTABLISHED` and `CLOSE_WAIT` means the server closed its side, even while
/// unsent bytes are still queued in the kernel.
pub fn tcp_state(local: SocketAddr, peer: SocketAddr) -> Option<u8> {
    tcp_socket(local, peer).map(|s| s.state)
}

/// The state and receive queue of the IPv4 TCP socket bound to `local` and
/// connected to `peer`, as [`tcp_state`]; `unread == 0` on the server's end
/// means the server has read everything the client sent.
///
/// Asks the kernel for that one socket over sock_diag netlink, which takes
/// microseconds; /proc/net/tcp lists every socket and, with the thousands of
/// TIME_WAIT entries a test run leaves, takes up to a second to read. Falls back
/// to it where sock_diag is unavailable.
pub fn tcp_socket(local: SocketAddr, peer: SocketAddr) -> Option<TcpSocketInfo> {
    match sock_diag_state(local, peer) {
        Ok(info) => info,
        Err(_) => proc_net_tcp_state(local, peer),
    }
}

/// One `SOCK_DIAG_BY_FAMILY` request for an exact address pair.
fn sock_diag_state(local: SocketAddr, peer: SocketAddr) -> io::Result<Option<TcpSocketInfo>> {
    use socket2::{Domain, Protocol, Socket, Type};
    // Kernel ABI numbers (linux/netlink.h, linux/sock_diag.h, linux/inet_diag.h).
    const NETLINK_SOCK_DIAG: i32 = 4;
    const SOCK_DIAG_BY_FAMILY: u16 = 20;
    const NLM_F_REQUEST: u16 = 1;
    const NLMSG_ERROR: u16 = 2;
    const HEADER: usize = 16;
    let (SocketAddr::V4(local), SocketAddr::V4(peer)) = (local, peer) else {
        return Err(io::ErrorKind::Unsupported.into());
    };
    let socket = Socket::new(
        Domain::from(libc::AF_NETLINK),
        Type::DGRAM,
        Some(Protocol::from(NETLINK_SOCK_DIAG)),
    )?;
    socket.set_read_timeout(Some(Duration::from_secs(1)))?;
    // struct nlmsghdr, then struct inet_diag_req_v2 (host byte order except
    // the ports and addresses of the socket id, which are network order).
    let mut req = Vec::with_capacity(72);
    req.extend_from_slice(&72u32.to_ne_bytes());
    req.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    req.extend_from_slice(&NLM_F_REQUEST.to_ne_bytes());
    req.extend_from_slice(&1u32.to_ne_bytes()); // sequence
    req.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel fills it
    req.push(libc::AF_INET as u8);
    req.push(libc::IPPROTO_TCP as u8);
    req.push(0); // no extensions
    req.push(0);
    req.extend_from_slice(&u32::MAX.to_ne_bytes()); // any state
    req.extend_from_slice(&local.port().to_be_bytes());
    req.extend_from_slice(&peer.port().to_be_bytes());
    req.extend_from_slice(&local.ip().octets());
    req.extend_from_slice(&[0; 12]);
    req.extend_from_slice(&peer.ip().octets());
    req.extend_from_slice(&[0; 12]);
    req.extend_from_slice(&0u32.to_ne_bytes()); // any interface
    req.extend_from_slice(&[0xff; 8]); // INET_DIAG_NOCOOKIE
    assert_eq!(req.len(), 72);
    socket.send(&req)?;
    let mut reply = [0u8; 4096];
    let n = (&socket).read(&mut reply)?;
    let reply = &reply[..n];
    if n < HEADER + 4 {
        return Err(io::ErrorKind::InvalidData.into());
    }
    let kind = u16::from_ne_bytes([reply[4], reply[5]]);
    if kind == NLMSG_ERROR {
        let errno = -i32::from_ne_bytes(reply[HEADER..HEADER + 4].try_into().unwrap());
        return if errno == libc::ENOENT {
            Ok(None)
        } else {
            Err(io::Error::from_raw_os_error(errno))
        };
    }
    if kind != SOCK_DIAG_BY_FAMILY {
        return Err(io::ErrorKind::InvalidData.into());
    }
    // struct inet_diag_msg: family, state, timer, retransmits, the socket id
    // (source port, destination port, addresses, interface, cookie: 48 bytes),
    // expires, then the receive queue. With no connection of that pair the
    // kernel answers with the listener on the local address: destination
    // port 0.
    if n < HEADER + 60 || reply[HEADER + 6..HEADER + 8] != peer.port().to_be_bytes() {
        return Ok(None);
    }
    let unread = u32::from_ne_bytes(reply[HEADER + 56..HEADER + 60].try_into().unwrap());
    Ok(Some(TcpSocketInfo {
        state: reply[HEADER + 1],
        unread,
    }))
}

/// The same from /proc/net/tcp: "sl local_address rem_address st
/// tx_queue:rx_queue ...", with addresses as `%08X:%04X` (the network-order
/// address printed as a native integer).
fn proc_net_tcp_state(local: SocketAddr, peer: SocketAddr) -> Option<TcpSocketInfo> {
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    let parse = |field: &str| -> Option<SocketAddr> {
        let (ip, port) = field.split_once(':')?;
        let ip = u32::from_str_radix(ip, 16).ok()?;
        let port = u16::from_str_radix(port, 16).ok()?;
        Some(SocketAddr::from((ip.to_ne_bytes(), port)))
    };
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 5 || parse(fields[1])? != local || parse(fields[2])? != peer {
            return None;
        }
        let (_, rx) = fields[4].split_once(':')?;
        Some(TcpSocketInfo {
            state: u8::from_str_radix(fields[3], 16).ok()?,
            unread: u32::from_str_radix(rx, 16).ok()?,
        })
    })
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A response read by [`RawClient`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawResponse {
    /// Status code.
    pub status: u16,
    /// Header fields, names lowercased.
    pub headers: Vec<(String, String)>,
    /// The decoded body.
    pub body: Vec<u8>,
}

impl RawResponse {
    /// First value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A byte stream a [`RawClient`] talks through: TCP, or TLS over TCP.
pub trait ClientStream: Read + Write {
    /// The TCP socket underneath.
    fn tcp(&self) -> &TcpStream;
}

impl ClientStream for TcpStream {
    fn tcp(&self) -> &TcpStream {
        self
    }
}

/// A client that writes raw bytes and parses responses, over TCP or TLS
/// ([`tls::TlsStream`]).
pub struct RawClient<S: ClientStream = TcpStream> {
    /// The stream.
    pub stream: S,
    buf: Vec<u8>,
}

impl RawClient<TcpStream> {
    /// Connects, with a 10 s read timeout so a stuck server fails the test.
    pub fn connect(addr: SocketAddr) -> RawClient {
        let stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        RawClient::from_stream(stream)
    }

    /// Wraps an already connected socket.
    pub fn from_stream(stream: TcpStream) -> RawClient {
        RawClient::over(stream)
    }
}

impl<S: ClientStream> RawClient<S> {
    /// Wraps a connected stream.
    pub fn over(stream: S) -> RawClient<S> {
        stream.tcp().set_nodelay(true).unwrap();
        RawClient {
            stream,
            buf: Vec::new(),
        }
    }

    /// Writes all of `bytes`.
    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send");
    }

    fn fill(&mut self) -> io::Result<usize> {
        let mut chunk = [0u8; 64 * 1024];
        let n = self.stream.read(&mut chunk)?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    /// Parses the next response head in the buffer (reading as needed) and
    /// drops it from the buffer: the response without its body, and how the
    /// body is framed.
    fn next_head(&mut self, ctx: RequestContext) -> io::Result<(RawResponse, BodyFraming)> {
        let mut parser = ResponseParser::new(Limits::default());
        let head_len = loop {
            match parser.parse(&self.buf, ctx) {
                Ok(Parsed::Complete(n)) => break n,
                Ok(Parsed::Partial) => {
                    if self.fill()? == 0 {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                }
                Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
            }
        };
        let h = parser.head();
        let headers = h
            .headers(&self.buf)
            .map(|(n, v)| {
                (
                    String::from_utf8_lossy(n).to_ascii_lowercase(),
                    String::from_utf8_lossy(v).into_owned(),
                )
            })
            .collect();
        let parsed = (
            RawResponse {
                status: h.status.as_u16(),
                headers,
                body: Vec::new(),
            },
            h.body,
        );
        self.buf.drain(..head_len);
        Ok(parsed)
    }

    /// Reads one response (to a request of method HEAD if `head`).
    pub fn read_response_to(&mut self, head: bool) -> io::Result<RawResponse> {
        let ctx = RequestContext {
            head,
            connect: false,
        };
        loop {
            let (mut response, framing) = self.next_head(ctx)?;
            let mut decoder = BodyDecoder::new(
                framing,
                &Limits {
                    max_body: u64::MAX,
                    ..Limits::default()
                },
            );
            let body = &mut response.body;
            loop {
                let step = decoder
                    .decode(&self.buf)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                body.extend_from_slice(&self.buf[step.data.clone()]);
                self.buf.drain(..step.consumed);
                if step.done {
                    break;
                }
                if step.data.is_empty() && self.fill()? == 0 {
                    decoder
                        .eof()
                        .map_err(|e| io::Error::new(io::ErrorKind::UnexpectedEof, e))?;
                    break;
                }
            }
            // Interim responses (100 Continue) precede the final one.
            if (100..200).contains(&response.status) && response.status != 101 {
                continue;
            }
            return Ok(response);
        }
    }

    /// Reads a response head only (its body, or the bytes of a protocol
    /// switched to, stay buffered for [`RawClient::read_until`]).
    pub fn read_head(&mut self) -> io::Result<RawResponse> {
        let ctx = RequestContext {
            head: false,
            connect: false,
        };
        Ok(self.next_head(ctx)?.0)
    }

    /// Reads until the received bytes contain `needle`, and returns them up
    /// to and including it (the rest stays buffered). `UnexpectedEof` if the
    /// server closes first.
    pub fn read_until(&mut self, needle: &[u8]) -> io::Result<Vec<u8>> {
        loop {
            if let Some(at) = self.buf.windows(needle.len()).position(|w| w == needle) {
                return Ok(self.buf.drain(..at + needle.len()).collect());
            }
            if self.fill()? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    }

    /// Reads one response to a non-HEAD request.
    pub fn read_response(&mut self) -> io::Result<RawResponse> {
        self.read_response_to(false)
    }

    /// Sends `request` and reads its response.
    pub fn roundtrip(&mut self, request: &[u8]) -> RawResponse {
        self.send(request);
        self.read_response().expect("response")
    }

    /// Whether the server closes the connection (EOF, or a reset) within
    /// `timeout`, discarding anything else it sends.
    pub fn closed_within(&mut self, timeout: Duration) -> bool {
        let until = Instant::now() + timeout;
        let mut chunk = [0u8; 4096];
        while let Some(left) = until.checked_duration_since(Instant::now()) {
            self.stream
                .tcp()
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .unwrap();
            match self.stream.read(&mut chunk) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e)
                    if e.kind() == io::ErrorKind::WouldBlock
                        || e.kind() == io::ErrorKind::TimedOut =>
                {
                    return false
                }
                Err(_) => return true,
            }
        }
        false
    }
}

/// The example binary `name`, which `cargo test` builds next to the test
/// binaries (`target/<profile>/examples/`).
pub fn example(name: &str) -> String {
    let mut dir: std::path::PathBuf = std::env::current_exe().expect("test binary path");
    dir.pop(); // the test binary
    if dir.ends_with("deps") {
        dir.pop();
    }
    let path = dir.join("examples").join(name);
    assert!(
        path.exists(),
        "{} missing: run through `cargo test`",
        path.display()
    );
    path.to_string_lossy().into_owned()
}

/// `GET path HTTP/1.1` with a Host header and optional extra lines.
pub fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").into_bytes()
}

/// The byte at offset `i` of the test server's generated bodies.
pub fn pattern(i: u64) -> u8 {
    (i % 251) as u8
}

/// Whether `body` is the test server's pattern from offset 0.
pub fn is_pattern(body: &[u8]) -> bool {
    body.iter()
        .enumerate()
        .all(|(i, &b)| b == pattern(i as u64))
}

/// Raises this process's open-file limit (tests that open 1,000 sockets).
pub fn raise_fd_limit() {
    osprey_rt::net::raise_fd_limit().expect("raise the open-file limit");
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn tcp_state_follows_a_connection() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let server = listener.local_addr().unwrap();
        let client = TcpStream::connect(server).unwrap();
        let peer = client.local_addr().unwrap();
        let (accepted, _) = listener.accept().unwrap();
        let sock_diag = |a, b| sock_diag_state(a, b).expect("sock_diag answers");
        let open = TcpSocketInfo {
            state: tcp_state::ESTABLISHED,
            unread: 0,
        };
        assert_eq!(sock_diag(server, peer), Some(open));
        assert_eq!(proc_net_tcp_state(server, peer), Some(open));
        // Loopback delivers before write returns.
        (&client).write_all(b"hello").unwrap();
        let sent = TcpSocketInfo { unread: 5, ..open };
        assert_eq!(sock_diag(server, peer), Some(sent));
        assert_eq!(proc_net_tcp_state(server, peer), Some(sent));
        drop(client);
        // The client's FIN is processed on loopback before close returns; it
        // takes a sequence number, so it counts as one unread byte.
        let closed = TcpSocketInfo {
            state: tcp_state::CLOSE_WAIT,
            unread: 6,
        };
        assert_eq!(sock_diag(server, peer), Some(closed));
        assert_eq!(proc_net_tcp_state(server, peer), Some(closed));
        drop(accepted);
        assert!(!matches!(
            tcp_state(server, peer),
            Some(tcp_state::ESTABLISHED | tcp_state::CLOSE_WAIT)
        ));
        let unused: SocketAddr = "127.0.0.1:1".parse().unwrap();
        assert_eq!(sock_diag(server, unused), None);
    }
}
