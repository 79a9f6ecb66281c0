//! Runtime behaviour beyond the per-model suite: bounded memory for slow
//! readers, the connection limit, descriptor exhaustion, and blocking handlers
//! on the event loops' worker pool.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use osprey_testkit::{cpu_time, get, pattern, RawClient, ServerProcess};

const SERVER: &str = env!("CARGO_BIN_EXE_osprey-test-server");

fn start(model: &str, extra: &[&str]) -> ServerProcess {
    ServerProcess::start_model(SERVER, model, extra)
}

/// Reads a 48 MiB streamed body at about 24 MiB/s and checks the server's
/// memory stays within a few MiB of where it started: the stream is pulled only
/// as fast as the client reads.
fn slow_reader_memory_is_flat(model: &str, path: &str) {
    const TOTAL: u64 = 48 << 20;
    let server = start(model, &[]);
    let pid = server.pid();
    let baseline = server.rss_kib();
    let mut c = RawClient::connect(server.addr);
    c.send(&get(&format!("{path}?bytes={TOTAL}&chunk=65536")));
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut b = [0u8; 1];
        c.stream.read_exact(&mut b).unwrap();
        head.push(b[0]);
    }
    let mut buf = vec![0u8; 64 * 1024];
    let mut peak = baseline;
    let mut received = 0u64;
    let t0 = Instant::now();
    let mut chunk_line = Vec::new();
    // Chunked framing: read through it, checking only sizes and data.
    let mut left_in_chunk = 0u64;
    let mut data = 0u64;
    while data < TOTAL {
        let n = c.stream.read(&mut buf).unwrap();
        assert!(n > 0, "server closed early");
        received += n as u64;
        let mut i = 0;
        while i < n {
            if left_in_chunk > 0 {
                let take = left_in_chunk.min((n - i) as u64) as usize;
                for (k, &b) in buf[i..i + take].iter().enumerate() {
                    assert_eq!(b, pattern(data + k as u64));
                }
                data += take as u64;
                left_in_chunk -= take as u64;
                i += take;
            } else {
                chunk_line.push(buf[i]);
                i += 1;
                if chunk_line.ends_with(b"\r\n") {
                    let line =
                        String::from_utf8_lossy(&chunk_line[..chunk_line.len() - 2]).to_string();
                    chunk_line.clear();
                    if !line.is_empty() {
                        left_in_chunk = u64::from_str_radix(&line, 16).unwrap();
                    }
                }
            }
        }
        // Pace the reader: about 24 MiB/s.
        let due = Duration::from_secs_f64(received as f64 / (24 << 20) as f64);
        if let Some(wait) = due.checked_sub(t0.elapsed()) {
            std::thread::sleep(wait);
        }
        peak = peak.max(osprey_testkit::rss_kib(pid));
    }
    assert_eq!(data, TOTAL);
    let growth_kib = peak.saturating_sub(baseline);
    assert!(
        growth_kib < 12 * 1024,
        "{model} {path}: RSS grew by {growth_kib} KiB while streaming {} MiB",
        TOTAL >> 20
    );
}

#[test]
fn slow_reader_memory_is_flat_reactor_iterator() {
    slow_reader_memory_is_flat("reactor", "/stream");
}

#[test]
fn slow_reader_memory_is_flat_epoll_producer_thread() {
    slow_reader_memory_is_flat("epoll", "/produce");
}

#[test]
fn slow_reader_memory_is_flat_threads_producer_thread() {
    slow_reader_memory_is_flat("threads", "/produce");
}

/// At the connection limit the server stops accepting (without spinning) and
/// resumes when a connection closes.
fn connection_limit(model: &str) {
    // One loop, so the limit is not split between reactor loops.
    let server = start(model, &["--max-connections", "2", "--workers", "1"]);
    let mut a = RawClient::connect(server.addr);
    let mut b = RawClient::connect(server.addr);
    assert_eq!(a.roundtrip(&get("/")).status, 200);
    assert_eq!(b.roundtrip(&get("/")).status, 200);
    // The third completes the TCP handshake in the backlog but is not served.
    let mut c = RawClient::connect(server.addr);
    c.send(&get("/"));
    let cpu_before = cpu_time(server.pid());
    c.stream
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut byte = [0u8; 1];
    assert!(
        c.stream.read(&mut byte).is_err(),
        "not served while at the limit"
    );
    let cpu = cpu_time(server.pid()) - cpu_before;
    assert!(
        cpu < Duration::from_millis(200),
        "{model}: {cpu:?} of CPU in 500 ms at the limit: spinning"
    );
    drop(a);
    c.stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let r = c.read_response().expect("served once a slot frees");
    assert_eq!(r.status, 200);
    assert_eq!(b.roundtrip(&get("/")).status, 200);
}

#[test]
fn connection_limit_epoll() {
    connection_limit("epoll");
}

#[test]
fn connection_limit_reactor() {
    connection_limit("reactor");
}

#[test]
fn connection_limit_threads() {
    connection_limit("threads");
}

#[test]
fn connection_limit_fork() {
    connection_limit("fork");
}

/// With only a few descriptors the server hits EMFILE; it backs off instead of
/// spinning, keeps serving, and accepts the rest as descriptors free up.
fn descriptor_exhaustion(model: &str) {
    let server = start(model, &["--fd-limit", "24"]);
    let cpu_before = cpu_time(server.pid());
    let t0 = Instant::now();
    let mut conns: Vec<TcpStream> = (0..40)
        .map(|_| TcpStream::connect(server.addr).unwrap())
        .collect();
    for c in &mut conns {
        c.write_all(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            .unwrap();
    }
    for c in conns {
        c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let r = RawClient::from_stream(c).read_response().expect("answered");
        assert_eq!(r.body, b"Hello, World!");
    }
    let wall = t0.elapsed();
    let cpu = cpu_time(server.pid()) - cpu_before;
    assert!(
        cpu < wall / 2 + Duration::from_millis(100),
        "{model}: {cpu:?} CPU over {wall:?}: spinning on EMFILE"
    );
}

#[test]
fn descriptor_exhaustion_epoll() {
    descriptor_exhaustion("epoll");
}

#[test]
fn descriptor_exhaustion_threads() {
    descriptor_exhaustion("threads");
}

/// A handler marked blocking runs on the worker pool: a slow request does not
/// hold up the event loop.
fn blocking_handler_does_not_block_the_loop(model: &str) {
    let server = start(model, &["--blocking"]);
    let mut slow = RawClient::connect(server.addr);
    slow.send(&get("/slow?ms=2000"));
    assert!(server.wait_for_line("slow started", Duration::from_secs(10)));
    for _ in 0..20 {
        let r = RawClient::connect(server.addr).roundtrip(&get("/"));
        assert_eq!(r.status, 200);
    }
    // The slow one is still running; it then completes normally.
    slow.stream.set_nonblocking(true).unwrap();
    let mut byte = [0u8; 1];
    assert!(
        slow.stream.read(&mut byte).is_err(),
        "slow response not yet sent"
    );
    slow.stream.set_nonblocking(false).unwrap();
    let r = slow.read_response().unwrap();
    assert_eq!(r.body, b"slow done");
}

#[test]
fn blocking_handler_does_not_block_the_loop_epoll() {
    blocking_handler_does_not_block_the_loop("epoll");
}

#[test]
fn blocking_handler_does_not_block_the_loop_reactor() {
    blocking_handler_does_not_block_the_loop("reactor");
}

/// A body that stops arriving is cut: 408 once the body timeout (plus the
/// minimum-rate allowance) has passed, and the server goes on.
fn body_timeout(model: &str) {
    let server = start(model, &["--body-timeout-ms", "400"]);
    let mut c = RawClient::connect(server.addr);
    c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\npartial");
    let t0 = Instant::now();
    let r = c.read_response().expect("408 before close");
    assert_eq!(r.status, 408);
    assert!(
        t0.elapsed() >= Duration::from_millis(350),
        "not before the timeout"
    );
    assert!(c.closed_within(Duration::from_secs(5)));
    assert_eq!(
        RawClient::connect(server.addr).roundtrip(&get("/")).status,
        200
    );
}

#[test]
fn body_timeout_epoll() {
    body_timeout("epoll");
}

#[test]
fn body_timeout_threads() {
    body_timeout("threads");
}

/// A client that stops reading is dropped after the write timeout: it never
/// receives the whole (1 GiB) body, and the server goes on. The client's receive
/// buffer is fixed and small, so the kernel cannot keep absorbing the stream by
/// growing its window: the server's writes really stall.
fn write_timeout(model: &str) {
    use socket2::{Domain, Socket, Type};
    let server = start(model, &["--write-timeout-ms", "500"]);
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(&server.addr.into()).unwrap();
    let mut c = RawClient::from_stream(socket.into());
    c.send(&get("/stream?bytes=1073741824"));
    // A stalled client: it reads nothing for three write timeouts.
    std::thread::sleep(Duration::from_millis(1500));
    let mut received = 0u64;
    let mut buf = vec![0u8; 1 << 16];
    c.stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    loop {
        match c.stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => received += n as u64,
        }
    }
    assert!(
        received < 16 << 20,
        "dropped long before the end ({received} bytes)"
    );
    assert_eq!(
        RawClient::connect(server.addr).roundtrip(&get("/")).status,
        200
    );
}

#[test]
fn write_timeout_epoll() {
    write_timeout("epoll");
}

#[test]
fn write_timeout_threads() {
    write_timeout("threads");
}

/// Several `--listen` addresses are all served.
#[test]
fn listens_on_several_addresses() {
    let server = ServerProcess::start(
        SERVER,
        &[
            "--listen",
            "127.0.0.1:0",
            "--listen",
            "127.0.0.1:0",
            "--model",
            "reactor",
            "--workers",
            "2",
        ],
    );
    let second = server
        .next_line(Duration::from_secs(10))
        .expect("second address");
    let second: std::net::SocketAddr = second
        .strip_prefix("listening on http://")
        .unwrap()
        .parse()
        .unwrap();
    assert_ne!(second, server.addr);
    for addr in [server.addr, second] {
        assert_eq!(
            RawClient::connect(addr).roundtrip(&get("/")).body,
            b"Hello, World!"
        );
    }
}
