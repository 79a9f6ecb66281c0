//! The server the integration suites run, one process per test, under any
//! model. Routes:
//!
//! - `GET /` → `Hello, World!`
//! - `POST /echo` → the request body
//! - `POST /sha256` → `<length> <hex sha256>` of the request body
//! - `GET /slow?ms=N` → prints `slow started`, sleeps N ms, then `slow done`
//! - `GET /panic` → the handler panics
//! - `GET /big?bytes=N` → N bytes in memory
//! - `GET /stream?bytes=N&chunk=K` → N bytes pulled from an iterator
//! - `GET /produce?bytes=N&chunk=K` → N bytes sent from a producer thread
//! - `GET /file?bytes=N` → the first N bytes of a temp file (sendfile)
//! - `GET /delay?ms=N` → `slept N ms`, a pending reply woken by the server's timer
//! - `GET /later?ms=N` → `from a thread`, a reply completed by another thread
//!   after N ms; with `watch=1` it prints `later waiting`, then `later
//!   cancelled` if the client goes away first
//! - `POST /stream-sha256` → `<length> <hex sha256>` of a body streamed to an
//!   async handler; `/stream-sha256-blocking` the same, read with
//!   `std::io::Read` by a blocking handler on a worker thread
//! - `POST /stream-refuse` → 401 without reading the (streamed) body
//! - `POST /stream-limited` → a streamed body limited to 1 KiB (413 beyond)
//! - `GET /whoami` → authority, version, upgrade, local and peer address
//! - `GET /tls` → what the TLS handshake settled (`tls=none` in cleartext)
//! - `GET /upgrade` with `Upgrade: echo` → 101, then a line-echo protocol:
//!   every line `L` comes back as `echo: L`; the line `bye` ends it
//!
//! Streamed and file bodies are the repeating pattern `i % 251` so a client can
//! check every byte.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use clap::Parser;
use osprey::{
    Body, BodyMode, Config, FileBody, Handler, Method, Model, Plan, Reply, Request, Response,
    Server, Status, TlsConfig, Upgraded,
};
use sha2::{Digest, Sha256};

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: Vec<SocketAddr>,
    #[arg(long, default_value = "reactor")]
    model: Model,
    #[arg(long)]
    workers: Option<usize>,
    /// Mark the handler blocking (event loops run it on the worker pool).
    #[arg(long)]
    blocking: bool,
    #[arg(long)]
    header_timeout_ms: Option<u64>,
    #[arg(long)]
    body_timeout_ms: Option<u64>,
    #[arg(long)]
    keep_alive_ms: Option<u64>,
    #[arg(long)]
    write_timeout_ms: Option<u64>,
    #[arg(long)]
    grace_ms: Option<u64>,
    #[arg(long)]
    max_body: Option<u64>,
    #[arg(long)]
    max_connections: Option<usize>,
    #[arg(long)]
    high_water: Option<usize>,
    /// Lower the open-file limit after binding (to provoke EMFILE).
    #[arg(long)]
    fd_limit: Option<u64>,
    /// Serve TLS with this certificate chain (PEM; repeatable, paired with
    /// `--tls-key` in order).
    #[arg(long)]
    tls_cert: Vec<std::path::PathBuf>,
    #[arg(long)]
    tls_key: Vec<std::path::PathBuf>,
    /// Require client certificates signed by this CA.
    #[arg(long)]
    tls_client_ca: Option<std::path::PathBuf>,
    #[arg(long)]
    tls_handshake_ms: Option<u64>,
    /// Whole request bodies one HTTP/2 connection may hold at once.
    #[arg(long)]
    h2_gathered: Option<u64>,
}

/// The byte at offset `i` of every generated body.
fn pattern(i: u64) -> u8 {
    (i % 251) as u8
}

fn pattern_bytes(start: u64, len: u64) -> Bytes {
    (start..start + len)
        .map(pattern)
        .collect::<Vec<u8>>()
        .into()
}

fn param(req: &Request, name: &str) -> Option<u64> {
    req.query()?
        .split('&')
        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('=')?.parse().ok())
}

/// The protocol behind `/upgrade`: each complete line comes back prefixed.
#[derive(Default)]
struct LineEcho {
    line: Vec<u8>,
}

impl Upgraded for LineEcho {
    fn on_data(&mut self, input: &[u8], out: &mut Vec<u8>) -> bool {
        for &b in input {
            if b != b'\n' {
                self.line.push(b);
                continue;
            }
            if self.line == b"bye" {
                out.extend_from_slice(b"bye\n");
                return false;
            }
            out.extend_from_slice(b"echo: ");
            out.append(&mut self.line);
            out.push(b'\n');
        }
        true
    }

    fn on_eof(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"eof\n");
    }
}

struct TestHandler {
    file: Arc<std::fs::File>,
    blocking: bool,
}

impl TestHandler {
    /// The routes answered with a pending reply or a streamed body.
    fn engine(&self, req: &mut Request) -> Option<Reply> {
        let hex = |d: &[u8]| d.iter().map(|b| format!("{b:02x}")).collect::<String>();
        Some(match req.path() {
            "/delay" => {
                let ms = param(req, "ms").unwrap_or(100);
                let timer = req.timer();
                Reply::pending(async move {
                    timer.sleep(Duration::from_millis(ms)).await;
                    format!("slept {ms} ms")
                })
            }
            "/later" => {
                let ms = param(req, "ms").unwrap_or(100);
                let watch = param(req, "watch") == Some(1);
                let (responder, reply) = Reply::later();
                std::thread::spawn(move || {
                    if watch {
                        println!("later waiting");
                    }
                    let until = std::time::Instant::now() + Duration::from_millis(ms);
                    while std::time::Instant::now() < until {
                        if responder.is_cancelled() {
                            println!("later cancelled");
                            return;
                        }
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    let _ = responder.send("from a thread");
                });
                reply
            }
            "/stream-sha256" => {
                let mut body = req.body_stream()?;
                Reply::pending(async move {
                    let mut hasher = Sha256::new();
                    let mut len = 0u64;
                    while let Some(piece) = body.chunk().await {
                        let Ok(piece) = piece else {
                            return Response::status_text(Status::BAD_REQUEST);
                        };
                        len += piece.len() as u64;
                        hasher.update(&piece);
                    }
                    Response::text(format!("{len} {}", hex(&hasher.finalize())))
                })
            }
            "/stream-sha256-blocking" => {
                let mut body = req.body_stream()?;
                let mut hasher = Sha256::new();
                let mut buf = vec![0u8; 64 * 1024];
                let mut len = 0u64;
                loop {
                    match std::io::Read::read(&mut body, &mut buf) {
                        Ok(0) => break,
                        Ok(n) => {
                            len += n as u64;
                            hasher.update(&buf[..n]);
                        }
                        Err(_) => return Some(Response::status_text(Status::BAD_REQUEST).into()),
                    }
                }
                Response::text(format!("{len} {}", hex(&hasher.finalize()))).into()
            }
            "/stream-refuse" => Response::status_text(Status::UNAUTHORIZED).into(),
            "/stream-limited" => {
                let mut body = req.body_stream()?;
                Reply::pending(async move {
                    match body.collect(usize::MAX).await {
                        Ok(all) => Response::text(format!("{} bytes", all.len())),
                        Err(_) => Response::status_text(Status::BAD_REQUEST),
                    }
                })
            }
            "/whoami" => Response::text(format!(
                "authority={}\nversion={}\nupgrade={}\nlocal={}\npeer={}\n",
                req.authority().unwrap_or("-"),
                req.version(),
                req.upgrade().unwrap_or("-"),
                req.local_addr().map_or("-".into(), |a| a.to_string()),
                req.peer_addr().map_or("-".into(), |a| a.to_string()),
            ))
            .into(),
            "/tls" => Response::text(match req.connection().and_then(|c| c.tls.as_deref()) {
                None => "tls=none\n".to_owned(),
                Some(t) => format!(
                    "sni={}\nalpn={}\nversion={}\nsuite={}\nclient_certs={}\n",
                    t.server_name.as_deref().unwrap_or("-"),
                    t.alpn
                        .as_deref()
                        .map_or("-".into(), |a| String::from_utf8_lossy(a).into_owned()),
                    t.version.as_deref().unwrap_or("-"),
                    t.cipher_suite.as_deref().unwrap_or("-"),
                    t.client_certificates.len(),
                ),
            })
            .into(),
            _ => return None,
        })
    }
}

impl Handler for TestHandler {
    fn call(&self, req: &mut Request) -> Reply {
        if let Some(reply) = self.engine(req) {
            return reply;
        }
        match (req.method().clone(), req.path()) {
            (Method::Post, "/echo") => Response::new(Status::OK).body(Body::from(req.take_body())),
            (Method::Post, "/sha256") => {
                let digest = Sha256::digest(req.body());
                let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
                Response::text(format!("{} {hex}", req.body().len()))
            }
            (_, "/slow") => {
                // A readiness marker for tests that act while a request runs.
                println!("slow started");
                std::thread::sleep(Duration::from_millis(param(req, "ms").unwrap_or(1000)));
                Response::text("slow done")
            }
            (_, "/panic") => panic!("test handler panics on purpose"),
            (_, "/upgrade") if req.header("upgrade") == Some("echo") => {
                Response::upgrade("echo", LineEcho::default())
            }
            (_, "/upgrade-unasked") => Response::upgrade("echo", LineEcho::default()),
            (_, "/big") => {
                let n = param(req, "bytes").unwrap_or(1 << 20);
                Response::new(Status::OK).body(Body::Bytes(pattern_bytes(0, n)))
            }
            (_, "/stream") => {
                let n = param(req, "bytes").unwrap_or(1 << 20);
                let chunk = param(req, "chunk").unwrap_or(64 * 1024).max(1);
                let pieces = (0..n)
                    .step_by(chunk as usize)
                    .map(move |start| pattern_bytes(start, chunk.min(n - start)));
                Response::new(Status::OK).body(Body::from_pieces(pieces))
            }
            (_, "/produce") => {
                let n = param(req, "bytes").unwrap_or(1 << 20);
                let chunk = param(req, "chunk").unwrap_or(64 * 1024).max(1);
                let (tx, body) = Body::channel(4);
                std::thread::spawn(move || {
                    let mut start = 0;
                    while start < n {
                        let len = chunk.min(n - start);
                        if tx.send(pattern_bytes(start, len)).is_err() {
                            return;
                        }
                        start += len;
                    }
                });
                Response::new(Status::OK).body(body)
            }
            (_, "/file") => {
                let len = param(req, "bytes").unwrap_or(1 << 20).min(FILE_SIZE);
                Response::new(Status::OK).body(Body::File(FileBody {
                    file: self.file.clone(),
                    offset: 0,
                    len,
                }))
            }
            _ => Response::text("Hello, World!"),
        }
        .into()
    }

    fn is_blocking(&self) -> bool {
        self.blocking
    }

    fn plan(&self, req: &mut Request) -> Plan {
        let path = req.path();
        let mut plan = Plan::default();
        plan.blocking = self.blocking || path == "/stream-sha256-blocking";
        plan.body_limit = (path == "/stream-limited").then_some(1024);
        if path.starts_with("/stream-") {
            plan.body = BodyMode::Stream;
        }
        plan
    }
}

const FILE_SIZE: u64 = 8 << 20;

fn main() {
    let args = Args::parse();
    let mut config = Config::default();
    let ms = Duration::from_millis;
    if let Some(v) = args.header_timeout_ms {
        config.header_timeout = ms(v);
    }
    if let Some(v) = args.body_timeout_ms {
        config.body_timeout = ms(v);
    }
    if let Some(v) = args.keep_alive_ms {
        config.keep_alive_timeout = ms(v);
    }
    if let Some(v) = args.write_timeout_ms {
        config.write_timeout = ms(v);
    }
    if let Some(v) = args.grace_ms {
        config.shutdown_grace = ms(v);
    }
    if let Some(v) = args.max_body {
        config.limits.max_body = v;
    }
    if let Some(v) = args.max_connections {
        config.max_connections = v;
        config.max_threads = v;
        config.max_children = v;
    }
    if let Some(v) = args.high_water {
        config.output_high_water = v;
    }
    if let Some(v) = args.tls_handshake_ms {
        config.tls_handshake_timeout = ms(v);
    }
    if let Some(v) = args.h2_gathered {
        config.h2_gathered_bodies = v;
    }
    let tls = (!args.tls_cert.is_empty()).then(|| {
        let mut tls = TlsConfig::builder();
        for (cert, key) in args.tls_cert.iter().zip(&args.tls_key) {
            tls = tls.cert_files(cert, key);
        }
        if let Some(ca) = &args.tls_client_ca {
            tls = tls.client_ca_file(ca);
        }
        tls.build().unwrap_or_else(|e| {
            eprintln!("osprey-test-server: {e}");
            std::process::exit(2);
        })
    });
    let path = std::env::temp_dir().join(format!("osprey-test-file-{}", std::process::id()));
    std::fs::write(&path, pattern_bytes(0, FILE_SIZE)).expect("write test file");
    let file = std::fs::File::open(&path).expect("open test file");
    let _ = std::fs::remove_file(&path);
    let handler = TestHandler {
        file: Arc::new(file),
        blocking: args.blocking,
    };
    let mut builder = Server::builder()
        .model(args.model)
        .config(config)
        .handler(handler);
    for addr in args.listen {
        builder = match &tls {
            Some(tls) => builder.listen_tls(addr, tls.clone()),
            None => builder.listen(addr),
        };
    }
    if let Some(n) = args.workers {
        builder = builder.workers(n);
    }
    let server = match builder.bind() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("osprey-test-server: {e}");
            std::process::exit(2);
        }
    };
    if let Some(n) = args.fd_limit {
        osprey_rt::net::set_fd_limit(n).expect("set the open-file limit");
    }
    let mut out = std::io::stdout().lock();
    for addr in server.local_addrs() {
        let scheme = if tls.is_some() { "https" } else { "http" };
        let _ = writeln!(out, "listening on {scheme}://{addr}");
    }
    let _ = out.flush();
    drop(out);
    if let Err(e) = server.run() {
        eprintln!("osprey-test-server: {e}");
        std::process::exit(1);
    }
}
