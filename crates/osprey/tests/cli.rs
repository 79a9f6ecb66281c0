//! The `osprey` command line, run as a user runs it: help, version, errors
//! (one line, exit status 2), and `serve` with its flags over real sockets.

mod common;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::{curl, preflight};
use osprey_testkit::ServerProcess;

const OSPREY: &str = env!("CARGO_BIN_EXE_osprey");

fn osprey(args: &[&str]) -> Output {
    Command::new(OSPREY)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run osprey")
}

/// A usage error: exit status 2 and exactly one line on stderr, naming `what`.
fn assert_usage_error(args: &[&str], what: &str) {
    let out = osprey(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    assert_eq!(
        stderr.lines().count(),
        1,
        "{args:?} printed more than one line:\n{stderr}"
    );
    assert!(stderr.starts_with("osprey: "), "{stderr}");
    assert!(stderr.contains(what), "{args:?}: `{what}` not in: {stderr}");
}

fn serve(dir: &Path, extra: &[&str]) -> ServerProcess {
    let mut args = vec![
        "serve",
        dir.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--workers",
        "1",
    ];
    args.extend_from_slice(extra);
    ServerProcess::start(OSPREY, &args)
}

fn site() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("index.html"), "<h1>home</h1>").unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::fs::write(dir.path().join("sub/a.txt"), "alpha").unwrap();
    std::fs::write(dir.path().join("big.txt"), "osprey ".repeat(2000)).unwrap();
    dir
}

#[test]
fn help_lists_every_flag_and_version_works() {
    let out = osprey(&["serve", "--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--listen",
        "--model",
        "--workers",
        "--browse",
        "--spa",
        "--index",
        "--hidden",
        "--cache-control",
        "--compress",
        "--access-log",
        "--log-format",
        "--cors",
        "--auth",
        "--max-body",
        "--max-connections",
        "--header-timeout",
        "--keep-alive-timeout",
        "--write-timeout",
        "--shutdown-grace",
        "--quiet",
    ] {
        assert!(help.contains(flag), "{flag} missing from serve --help");
    }
    let top = String::from_utf8_lossy(&osprey(&["--help"]).stdout).into_owned();
    assert!(
        top.contains("serve") && top.contains("hash-password"),
        "{top}"
    );
    let out = osprey(&["--version"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("osprey {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn usage_errors_are_one_line_and_exit_2() {
    assert_usage_error(&["serve", "--no-such-flag"], "--no-such-flag");
    assert_usage_error(&["serve", "--model", "fibers"], "fibers");
    assert_usage_error(&["serve", "--max-body", "lots"], "lots");
    assert_usage_error(
        &["serve", "/definitely/not/here", "--listen", "127.0.0.1:0"],
        "no such folder",
    );
    let file = tempfile::NamedTempFile::new().unwrap();
    assert_usage_error(
        &[
            "serve",
            file.path().to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ],
        "cannot serve",
    );
    assert_usage_error(
        &["serve", ".", "--listen", "127.0.0.1:0", "--auth", "nocolon"],
        "USER:HASH",
    );
    assert_usage_error(
        &[
            "serve",
            ".",
            "--listen",
            "127.0.0.1:0",
            "--auth",
            "bob:plaintext",
        ],
        "bob",
    );
    // A busy port.
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    assert_usage_error(&["serve", ".", "--listen", &addr], "already in use");
}

#[test]
fn serves_a_folder_and_logs_requests() {
    let dir = site();
    let server = serve(dir.path(), &[]);
    // After the address: how to stop it.
    let hint = server.next_line(Duration::from_secs(10)).unwrap();
    assert!(hint.contains("Ctrl+C"), "{hint}");
    let r = curl(&["-A", "cli-test", &server.url("/")]);
    assert_eq!((r.status, r.text().as_str()), (200, "<h1>home</h1>"));
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    let r = curl(&[&server.url("/sub?x=1")]);
    assert_eq!((r.status, r.header("location")), (301, Some("/sub/?x=1")));
    assert_eq!(
        curl(&[&server.url("/sub/")]).status,
        404,
        "no listing without --browse"
    );
    // Common Log Format on stdout.
    let line = server
        .next_line(Duration::from_secs(10))
        .expect("an access log line");
    assert!(line.starts_with("127.0.0.1 - - ["), "{line}");
    assert!(line.contains("] \"GET / HTTP/1.1\" 200 13"), "{line}");
}

#[test]
fn browse_spa_index_and_cache_control() {
    let dir = site();
    let server = serve(
        dir.path(),
        &["--browse", "--quiet", "--cache-control", "*.txt=max-age=60"],
    );
    let listing = curl(&[&server.url("/sub/")]);
    assert_eq!(listing.status, 200);
    assert!(listing.text().contains("a.txt"), "{}", listing.text());
    let r = curl(&[&server.url("/sub/a.txt")]);
    assert_eq!(
        (r.status, r.header("cache-control")),
        (200, Some("max-age=60"))
    );

    let spa = serve(dir.path(), &["--spa", "--quiet"]);
    let r = curl(&[&spa.url("/app/route/42")]);
    assert_eq!((r.status, r.text().as_str()), (200, "<h1>home</h1>"));

    std::fs::write(dir.path().join("start.html"), "start").unwrap();
    let custom = serve(dir.path(), &["--index", "start.html", "--quiet"]);
    assert_eq!(curl(&[&custom.url("/")]).text(), "start");
}

#[test]
fn access_log_file_and_json_format() {
    let dir = site();
    let log = tempfile::NamedTempFile::new().unwrap();
    let path = log.path().to_str().unwrap();
    let server = serve(dir.path(), &["--access-log", path, "--log-format", "json"]);
    assert_eq!(curl(&[&server.url("/sub/a.txt")]).status, 200);
    let text = std::fs::read_to_string(path).unwrap();
    let entry: serde_json::Value =
        serde_json::from_str(text.lines().next().expect("a line")).unwrap();
    assert_eq!(entry["status"], 200);
    assert_eq!(entry["method"], "GET");
    assert_eq!(entry["target"], "/sub/a.txt");
}

#[test]
fn compress_cors_and_auth() {
    let dir = site();
    let hash = {
        let mut child = Command::new(OSPREY)
            .arg("hash-password")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child.stdin.take().unwrap().write_all(b"secret\n").unwrap();
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0));
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    let auth = format!("admin:{hash}");
    let server = serve(
        dir.path(),
        &[
            "--compress",
            "--cors",
            "https://app.example",
            "--auth",
            &auth,
            "--quiet",
        ],
    );
    let url = server.url("/big.txt");
    assert_eq!(curl(&[&url]).status, 401);
    assert_eq!(curl(&["-u", "admin:wrong", &url]).status, 401);
    let r = curl(&[
        "-u",
        "admin:secret",
        "--compressed",
        "-H",
        "Accept-Encoding: gzip",
        &url,
    ]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert_eq!(r.text(), "osprey ".repeat(2000));
    // A preflight needs no credentials.
    let r = preflight(&url, "https://app.example", "GET", None);
    assert!(r.status == 204 || r.status == 200, "{}", r.status);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example")
    );
}
