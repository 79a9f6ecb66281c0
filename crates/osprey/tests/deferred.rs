//! Deferred replies at scale: 10,000 requests to `examples/hello`'s
//! `GET /delay/:ms` in flight at once on `--model epoll`, each answered by a
//! timer on the event loop. All are answered, the process starts no thread
//! for them, and the memory each pending request costs is measured (printed,
//! and bounded here; docs/backpressure.md quotes it).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use osprey_testkit::{example, rss_kib, ServerProcess};

const IN_FLIGHT: usize = 10_000;
const DELAY_MS: u64 = 4_000;

fn threads_of(pid: u32) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("Threads: line")
}

#[test]
fn ten_thousand_pending_replies_on_one_loop() {
    osprey_testkit::raise_fd_limit();
    let server = ServerProcess::start(
        &example("hello"),
        &["--listen", "127.0.0.1:0", "--model", "epoll"],
    );
    let pid = server.pid();
    // Warm the loop up (date cache, pools) and take the baselines.
    let mut warm = TcpStream::connect(server.addr).unwrap();
    warm.write_all(b"GET /delay/1 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut sink = Vec::new();
    warm.read_to_end(&mut sink).unwrap();
    assert!(sink.starts_with(b"HTTP/1.1 200 OK\r\n"));
    let threads_before = threads_of(pid);
    let rss_before = rss_kib(pid);

    let request = format!("GET /delay/{DELAY_MS} HTTP/1.1\r\nHost: t\r\n\r\n");
    let started = Instant::now();
    let mut clients = Vec::with_capacity(IN_FLIGHT);
    for _ in 0..IN_FLIGHT {
        let mut c = TcpStream::connect(server.addr).expect("connect");
        c.write_all(request.as_bytes()).unwrap();
        clients.push(c);
    }
    let sent_in = started.elapsed();
    assert!(
        sent_in < Duration::from_millis(DELAY_MS),
        "all requests must be in flight together (sending took {sent_in:?})"
    );
    // While they wait (until the first answer): no thread was started for
    // them, and the memory they hold is sampled at its highest.
    let waiting = Arc::new(AtomicBool::new(true));
    let mut sampler = Some({
        let waiting = waiting.clone();
        std::thread::spawn(move || {
            let (mut threads, mut rss) = (0, 0);
            while waiting.load(Ordering::Relaxed) {
                threads = threads.max(threads_of(pid));
                rss = rss.max(rss_kib(pid));
                std::thread::sleep(Duration::from_millis(20));
            }
            (threads, rss)
        })
    });
    let expected = format!("slept {DELAY_MS} ms");
    let mut sampled = None;
    for (i, mut c) in clients.into_iter().enumerate() {
        c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 512];
        while !got.ends_with(expected.as_bytes()) {
            let n = c
                .read(&mut buf)
                .unwrap_or_else(|e| panic!("client {i}: {e}"));
            assert!(n > 0, "client {i}: closed before its answer");
            got.extend_from_slice(&buf[..n]);
        }
        assert!(got.starts_with(b"HTTP/1.1 200 OK\r\n"), "client {i}");
        if let Some(sampler) = sampler.take() {
            waiting.store(false, Ordering::Relaxed);
            sampled = Some(sampler.join().unwrap());
        }
    }
    let (threads_during, rss_during) = sampled.unwrap();
    assert_eq!(
        threads_during, threads_before,
        "threads while {IN_FLIGHT} replies wait"
    );
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(DELAY_MS));
    let per_request = (rss_during.saturating_sub(rss_before)) * 1024 / IN_FLIGHT as u64;
    println!(
        "{IN_FLIGHT} pending replies: {per_request} bytes of RSS each \
         ({rss_before} KiB before, {rss_during} KiB while pending), \
         threads {threads_before} -> {threads_during}, all answered in {waited:?}"
    );
    // A pending request holds its connection, exchange state and reply
    // future, but no read buffer and no thread.
    assert!(
        per_request < 8 * 1024,
        "{per_request} bytes per pending request"
    );
}
