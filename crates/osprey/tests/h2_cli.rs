//! `osprey serve` over HTTP/2, as a user runs it: a folder served to curl
//! over cleartext with prior knowledge (h2c) and over TLS (ALPN `h2`) —
//! ranges, conditional requests (304), compression — with the access log
//! showing `HTTP/2.0`; and `--h2c off` turning h2c away.

mod common;

use std::path::Path;
use std::time::Duration;

use common::curl;
use osprey_testkit::tls::TestCa;
use osprey_testkit::ServerProcess;

const OSPREY: &str = env!("CARGO_BIN_EXE_osprey");

fn site() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("index.html"), "<h1>home</h1>").unwrap();
    std::fs::write(dir.path().join("digits.txt"), "0123456789abcdef").unwrap();
    std::fs::write(dir.path().join("big.txt"), "osprey ".repeat(2000)).unwrap();
    dir
}

fn serve(dir: &Path, extra: &[&str]) -> ServerProcess {
    let mut args = vec![
        "serve",
        dir.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--workers",
        "1",
        "--compress",
    ];
    args.extend_from_slice(extra);
    ServerProcess::start(OSPREY, &args)
}

/// The next access-log line (skipping what the server printed at startup).
fn log_line(server: &ServerProcess) -> String {
    loop {
        let line = server
            .next_line(Duration::from_secs(10))
            .expect("an access log line");
        if line.starts_with("127.0.0.1 ") {
            return line;
        }
    }
}

/// GET, a range, a 304 and a compressed answer over HTTP/2; `h2` are the
/// curl flags that make it speak HTTP/2 to `base`.
fn static_site_over_h2(server: &ServerProcess, base: &str, h2: &[&str]) {
    let with = |args: &[&str]| {
        let mut all = h2.to_vec();
        all.extend_from_slice(args);
        curl(&all)
    };
    let r = with(&["-w", "%{http_version}", &format!("{base}/")]);
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "<h1>home</h1>");
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    let line = log_line(server);
    assert!(line.contains("\"GET / HTTP/2.0\" 200 13"), "{line}");

    // RFC 9110 §14: a range.
    let r = with(&["-r", "2-5", &format!("{base}/digits.txt")]);
    assert_eq!((r.status, r.text().as_str()), (206, "2345"));
    assert_eq!(r.header("content-range"), Some("bytes 2-5/16"));
    assert_eq!(r.header("content-length"), Some("4"));
    log_line(server);

    // A conditional GET: 304, no content.
    let r = with(&[&format!("{base}/digits.txt")]);
    let etag = r.header("etag").expect("an etag").to_owned();
    log_line(server);
    let r = with(&[
        "-H",
        &format!("If-None-Match: {etag}"),
        &format!("{base}/digits.txt"),
    ]);
    assert_eq!(r.status, 304);
    assert!(r.body.is_empty());
    let line = log_line(server);
    assert!(line.contains("\"GET /digits.txt HTTP/2.0\" 304"), "{line}");

    // Compression (whichever coding curl prefers), decoded by curl.
    let r = with(&["--compressed", &format!("{base}/big.txt")]);
    assert_eq!(r.status, 200);
    let coding = r.header("content-encoding");
    assert!(matches!(coding, Some("gzip" | "br" | "zstd")), "{coding:?}");
    assert_eq!(r.text(), "osprey ".repeat(2000));
    log_line(server);

    // HEAD: the length, no content.
    let r = with(&["-I", &format!("{base}/digits.txt")]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("16"));
    log_line(server);
}

#[test]
fn serve_over_h2c() {
    let dir = site();
    let server = serve(dir.path(), &[]);
    let base = format!("http://127.0.0.1:{}", server.addr.port());
    static_site_over_h2(&server, &base, &["--http2-prior-knowledge"]);
    // HTTP/1.1 on the same port.
    let r = curl(&["--http1.1", &format!("{base}/")]);
    assert_eq!((r.status, r.text().as_str()), (200, "<h1>home</h1>"));
}

#[test]
fn serve_over_h2_tls() {
    let dir = site();
    let ca = TestCa::new("Osprey h2 CLI CA");
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = ca.issue(&["localhost"]).write(certs.path(), "site");
    let ca_file = ca.write_ca(certs.path());
    let server = serve(
        dir.path(),
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    let port = server.addr.port();
    let resolve = format!("localhost:{port}:127.0.0.1");
    let base = format!("https://localhost:{port}");
    static_site_over_h2(
        &server,
        &base,
        &[
            "--http2",
            "--cacert",
            ca_file.to_str().unwrap(),
            "--resolve",
            &resolve,
        ],
    );
}

#[test]
fn h2c_off_speaks_only_http1() {
    let dir = site();
    let server = serve(dir.path(), &["--h2c", "off"]);
    let base = format!("http://127.0.0.1:{}", server.addr.port());
    let out = std::process::Command::new("curl")
        .args(["-sS", "--max-time", "10", "--http2-prior-knowledge"])
        .arg(format!("{base}/"))
        .output()
        .unwrap();
    assert!(!out.status.success(), "h2c answered with --h2c off");
    let r = curl(&[&format!("{base}/")]);
    assert_eq!((r.status, r.text().as_str()), (200, "<h1>home</h1>"));
}
