//! Shared by the library's integration tests: an Osprey server running a
//! handler in this process on a free port of 127.0.0.1, stopped when dropped,
//! and a `curl` runner (curl is the real HTTP client these tests speak through;
//! it decodes gzip, br and zstd itself).

#![allow(dead_code)]

use std::net::SocketAddr;
use std::process::Command;
use std::thread::JoinHandle;

use osprey::{Handler, Model, Server, Shutdown};

/// A server on a free port, shut down (and joined) when dropped.
pub struct TestServer {
    pub addr: SocketAddr,
    shutdown: Shutdown,
    thread: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    /// Serves `handler` with the `epoll` model (one event loop thread).
    pub fn start(handler: impl Handler) -> TestServer {
        TestServer::start_with(handler, Model::Epoll)
    }

    /// Serves `handler` under `model` (`epoll` or `reactor`; the blocking models
    /// run fine too, but `fork` must not be used inside a test process).
    pub fn start_with(handler: impl Handler, model: Model) -> TestServer {
        let shutdown = Shutdown::manual();
        let server = Server::builder()
            .listen("127.0.0.1:0".parse().unwrap())
            .model(model)
            .workers(1)
            .shutdown(shutdown.clone())
            .handler(handler)
            .bind()
            .expect("bind a free port");
        let addr = server.local_addrs()[0];
        // Bound listeners accept at once (the backlog holds connections until
        // the loop runs), so no readiness wait is needed.
        let thread = std::thread::spawn(move || server.run());
        TestServer {
            addr,
            shutdown,
            thread: Some(thread),
        }
    }

    /// `http://ADDR/path`
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown.request();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// What curl saw: status, header fields (names lower-cased) and body.
pub struct CurlResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl CurlResponse {
    /// The first value of `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Runs `curl -s -D - ARGS URL`-style: `args` are passed as given (include the
/// URL). Returns the last response (after any 100 Continue), body as sent
/// after curl's own decoding if `--compressed` was given.
pub fn curl(args: &[&str]) -> CurlResponse {
    let dir = tempfile::tempdir().unwrap();
    let head_path = dir.path().join("head");
    let body_path = dir.path().join("body");
    let out = Command::new("curl")
        .args(["-s", "-S", "--max-time", "30", "-D"])
        .arg(&head_path)
        .arg("-o")
        .arg(&body_path)
        .args(args)
        .output()
        .expect("run curl (install it: apt-get install curl)");
    assert!(
        out.status.success(),
        "curl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let head = std::fs::read_to_string(&head_path).unwrap_or_default();
    let body = std::fs::read(&body_path).unwrap_or_default();
    // Several heads when curl saw interim responses or followed redirects: keep the last.
    let last = head
        .split("\r\n\r\n")
        .filter(|h| h.starts_with("HTTP/"))
        .last()
        .unwrap_or("");
    let mut lines = last.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    CurlResponse {
        status,
        headers,
        body,
    }
}

/// A CORS preflight (RFC 9110 OPTIONS with the Fetch standard's request
/// fields) from `origin` for `method`, asking for `headers` when given.
pub fn preflight(url: &str, origin: &str, method: &str, headers: Option<&str>) -> CurlResponse {
    let origin = format!("Origin: {origin}");
    let method = format!("Access-Control-Request-Method: {method}");
    let mut args = vec!["-X", "OPTIONS", "-H", &origin, "-H", &method];
    let asked = headers.map(|h| format!("Access-Control-Request-Headers: {h}"));
    if let Some(h) = &asked {
        args.extend(["-H", h.as_str()]);
    }
    args.push(url);
    curl(&args)
}
