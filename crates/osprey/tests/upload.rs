//! `examples/upload` as its users run it: a 1 GiB PUT, with Content-Length
//! and chunked, under every model. The stored file's SHA-256 equals the sent
//! one, and the server's memory grows by less than 32 MiB while it streams the
//! body to disk (the body is never held whole; a full body buffer stops the
//! server reading the socket). Smaller checks: names that could escape the
//! directory are refused, the file is served back, an interrupted upload
//! leaves nothing behind.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use osprey_testkit::{example, pattern, rss_kib, RawClient, ServerProcess};
use sha2::{Digest, Sha256};

const GIB: u64 = 1 << 30;

fn start(model: &str, dir: &Path) -> ServerProcess {
    ServerProcess::start(
        &example("upload"),
        &[
            "--listen",
            "127.0.0.1:0",
            "--model",
            model,
            "--workers",
            "2",
            "--dir",
            dir.to_str().unwrap(),
        ],
    )
}

fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn sha256_of_file(path: &Path) -> (u64, String) {
    let mut file = std::fs::File::open(path).unwrap();
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut len = 0u64;
    loop {
        let n = file.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        len += n as u64;
    }
    (len, hex(&hasher.finalize()))
}

/// PUTs `len` pattern bytes to `/files/name`; returns the response and the
/// SHA-256 of what was sent. The body is generated as it is sent.
fn put(addr: std::net::SocketAddr, name: &str, len: u64, chunked: bool) -> (u16, String, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    let framing = if chunked {
        "Transfer-Encoding: chunked".to_string()
    } else {
        format!("Content-Length: {len}")
    };
    stream
        .write_all(format!("PUT /files/{name} HTTP/1.1\r\nHost: t\r\n{framing}\r\n\r\n").as_bytes())
        .unwrap();
    let mut hasher = Sha256::new();
    let mut piece = vec![0u8; 256 * 1024];
    let mut sent = 0u64;
    while sent < len {
        let n = (len - sent).min(piece.len() as u64) as usize;
        for (i, b) in piece[..n].iter_mut().enumerate() {
            *b = pattern(sent + i as u64);
        }
        hasher.update(&piece[..n]);
        if chunked {
            stream.write_all(format!("{n:x}\r\n").as_bytes()).unwrap();
            stream.write_all(&piece[..n]).unwrap();
            stream.write_all(b"\r\n").unwrap();
        } else {
            stream.write_all(&piece[..n]).unwrap();
        }
        sent += n as u64;
    }
    if chunked {
        stream.write_all(b"0\r\n\r\n").unwrap();
    }
    let mut client = RawClient::from_stream(stream);
    client
        .stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let r = client.read_response().expect("response");
    (
        r.status,
        String::from_utf8(r.body).unwrap(),
        hex(&hasher.finalize()),
    )
}

fn gigabyte_upload(model: &str) {
    let dir = tempfile::tempdir().unwrap();
    let server = start(model, dir.path());
    let pid = server.pid();
    // One small upload first, so that worker threads and pools exist.
    let (status, ..) = put(server.addr, "warm", 1000, false);
    assert_eq!(status, 201);
    let baseline = rss_kib(pid);
    for chunked in [false, true] {
        let peak = Arc::new(AtomicU64::new(baseline));
        let done = Arc::new(AtomicBool::new(false));
        let sampler = {
            let (peak, done) = (peak.clone(), done.clone());
            std::thread::spawn(move || {
                // Server processes in the fork model: the child serving the
                // upload is not `pid`; sum the process tree.
                while !done.load(Ordering::Relaxed) {
                    peak.fetch_max(tree_rss_kib(pid), Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(20));
                }
            })
        };
        let name = if chunked { "big-chunked" } else { "big" };
        let (status, body, sent_sha) = put(server.addr, name, GIB, chunked);
        done.store(true, Ordering::Relaxed);
        sampler.join().unwrap();
        assert_eq!(status, 201, "{model} chunked={chunked}: {body}");
        assert!(body.contains(&format!("\"bytes\":{GIB}")), "{body}");
        let (len, stored_sha) = sha256_of_file(&dir.path().join(name));
        assert_eq!(len, GIB);
        assert_eq!(
            stored_sha, sent_sha,
            "{model} chunked={chunked}: stored bytes differ"
        );
        let growth = peak.load(Ordering::Relaxed).saturating_sub(baseline);
        println!("{model} chunked={chunked}: RSS grew {growth} KiB during a 1 GiB upload");
        assert!(
            growth < 32 * 1024,
            "{model} chunked={chunked}: RSS grew {growth} KiB while storing 1 GiB"
        );
        std::fs::remove_file(dir.path().join(name)).unwrap();
    }
}

/// RSS of `pid` and its children (the `fork` model serves in a child).
fn tree_rss_kib(pid: u32) -> u64 {
    let mut total = rss_kib(pid);
    if let Ok(children) = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")) {
        for child in children.split_whitespace().filter_map(|c| c.parse().ok()) {
            total += rss_kib(child);
        }
    }
    total
}

#[test]
fn names_are_checked_and_files_served_back() {
    let dir = tempfile::tempdir().unwrap();
    let server = start("epoll", dir.path());
    let (status, body, _) = put(server.addr, "hello.txt", 5, false);
    assert_eq!(status, 201, "{body}");
    let (status, ..) = put(server.addr, "hello.txt", 5, false);
    assert_eq!(status, 200, "replaced");
    let r = ureq::get(&server.url("/files/hello.txt")).call().unwrap();
    assert_eq!(r.header("content-length"), Some("5"));
    let mut got = Vec::new();
    r.into_reader().read_to_end(&mut got).unwrap();
    assert_eq!(got, (0..5).map(pattern).collect::<Vec<_>>());
    for bad in [".hidden", "..", "a%2Fb", "a%00b", "%2E%2E"] {
        let (status, ..) = put(server.addr, bad, 3, false);
        assert_eq!(status, 400, "{bad}");
    }
    // An upload cut short leaves no file and no temporary behind.
    let mut c = TcpStream::connect(server.addr).unwrap();
    c.write_all(b"PUT /files/cut HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000\r\n\r\nabc")
        .unwrap();
    drop(c);
    // The server still answers, and nothing but hello.txt is there.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        if names == ["hello.txt"] {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "left behind: {names:?}"
        );
        std::thread::yield_now();
    }
}

macro_rules! per_model {
    ($($model:ident),*) => {$(
        #[test]
        fn $model() { gigabyte_upload(stringify!($model)) }
    )*};
}

mod gigabyte_upload {
    use super::gigabyte_upload;
    per_model!(iterative, fork, threads, epoll, reactor);
}
