//! `osprey serve` over HTTPS, run as a user runs it: a development
//! certificate made once and reused, the site through curl (GET, HEAD,
//! ranges), the cleartext redirect and HSTS, certificate pairs given as
//! files, SIGHUP reloading them, usage errors, and a 1 GiB file over TLS in
//! flat memory.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::curl;
use osprey_testkit::tls::TestCa;
use osprey_testkit::ServerProcess;
use sha2::{Digest, Sha256};

const OSPREY: &str = env!("CARGO_BIN_EXE_osprey");

/// The signal number of SIGHUP on Linux.
const SIGHUP: i32 = 1;

fn site() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("index.html"), "<h1>secure home</h1>").unwrap();
    std::fs::write(dir.path().join("digits.txt"), "0123456789abcdef").unwrap();
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
        "--quiet",
    ];
    args.extend_from_slice(extra);
    ServerProcess::start_logged(OSPREY, &args)
}

/// The lines the server printed after `listening on`, until `serving`.
fn startup_lines(server: &ServerProcess) -> Vec<String> {
    let mut lines = Vec::new();
    while let Some(line) = server.next_line(Duration::from_secs(10)) {
        if line.starts_with("serving ") {
            return lines;
        }
        lines.push(line);
    }
    panic!("no `serving` line; saw {lines:?}");
}

fn https(server: &ServerProcess, path: &str) -> String {
    format!("https://localhost:{}{path}", server.addr.port())
}

fn fingerprint_of(cert: &Path) -> String {
    use rustls_pki_types::pem::PemObject;
    let der = rustls_pki_types::CertificateDer::from_pem_file(cert).unwrap();
    let hex: Vec<String> = Sha256::digest(&der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    hex.join(":")
}

#[test]
fn self_signed_certificate_is_made_once_and_reused() {
    let www = site();
    let state = tempfile::tempdir().unwrap();
    let state_dir = state.path().join("osprey-state");
    let dir = state_dir.to_str().unwrap();
    let cert = state_dir.join("self-signed.crt");

    let server = serve(www.path(), &["--tls-self-signed", "--tls-state-dir", dir]);
    let lines = startup_lines(&server);
    let made = lines.join("\n");
    assert!(
        made.contains("tls: made a self-signed certificate for localhost, 127.0.0.1, ::1"),
        "{made}"
    );
    assert!(made.contains(&cert.display().to_string()), "{made}");
    let fingerprint = fingerprint_of(&cert);
    assert!(
        made.contains(&format!("SHA-256 fingerprint {fingerprint}")),
        "{made}"
    );
    // The key is for the owner's eyes only.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(state_dir.join("self-signed.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0, "key readable by others: {mode:o}");

    // A client that trusts the certificate reaches the site by name and by
    // address.
    let ca = cert.to_str().unwrap();
    let r = curl(&["--cacert", ca, &https(&server, "/")]);
    assert_eq!((r.status, r.text().as_str()), (200, "<h1>secure home</h1>"));
    let r = curl(&[
        "--cacert",
        ca,
        &format!("https://127.0.0.1:{}/", server.addr.port()),
    ]);
    assert_eq!(r.status, 200);
    let r = curl(&["--cacert", ca, "-I", &https(&server, "/digits.txt")]);
    assert_eq!((r.status, r.header("content-length")), (200, Some("16")));
    // (curl -I writes the head where the body would go.)
    assert!(
        !r.text().contains("0123"),
        "a HEAD response carried the body"
    );
    let r = curl(&["--cacert", ca, "-r", "4-7", &https(&server, "/digits.txt")]);
    assert_eq!((r.status, r.text().as_str()), (206, "4567"));
    assert_eq!(r.header("content-range"), Some("bytes 4-7/16"));
    drop(server);

    // The next start reuses it.
    let server = serve(www.path(), &["--tls-self-signed", "--tls-state-dir", dir]);
    let again = startup_lines(&server).join("\n");
    assert!(
        again.contains("tls: reusing the self-signed certificate"),
        "{again}"
    );
    assert!(again.contains(&fingerprint), "{again}");
    assert_eq!(fingerprint_of(&cert), fingerprint);
    let r = curl(&["--cacert", ca, &https(&server, "/")]);
    assert_eq!(r.status, 200);
}

#[test]
fn cleartext_listener_redirects_and_hsts_is_sent_over_https() {
    let www = site();
    let state = tempfile::tempdir().unwrap();
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let plain = free.local_addr().unwrap();
    drop(free);
    let server = serve(
        www.path(),
        &[
            "--tls-self-signed",
            "--tls-state-dir",
            state.path().to_str().unwrap(),
            "--redirect-http",
            &plain.to_string(),
            "--hsts",
        ],
    );
    let lines = startup_lines(&server).join("\n");
    assert!(
        lines.contains(&format!("listening on http://{plain} (redirects to https)")),
        "{lines}"
    );
    let port = server.addr.port();

    let r = curl(&[
        "-X",
        "POST",
        "-H",
        "Host: example.test:8080",
        &format!("http://{plain}/a/b?c=d"),
    ]);
    assert_eq!(r.status, 308);
    assert_eq!(
        r.header("location"),
        Some(format!("https://example.test:{port}/a/b?c=d").as_str())
    );
    assert_eq!(r.header("strict-transport-security"), None);

    let ca = state.path().join("self-signed.crt");
    let ca = ca.to_str().unwrap();
    // curl follows the redirect to the HTTPS listener.
    let r = curl(&[
        "--cacert",
        ca,
        "-L",
        &format!("http://localhost:{}/digits.txt", plain.port()),
    ]);
    assert_eq!((r.status, r.text().as_str()), (200, "0123456789abcdef"));
    assert_eq!(
        r.header("strict-transport-security"),
        Some("max-age=31536000")
    );
}

#[test]
fn certificate_files_reload_on_sighup() {
    let www = site();
    let ca = TestCa::new("CLI CA");
    let keys = tempfile::tempdir().unwrap();
    let (cert, key) = ca.issue(&["localhost"]).write(keys.path(), "site");
    let ca_file = ca.write_ca(keys.path());
    let server = serve(
        www.path(),
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    let r = curl(&["--cacert", ca_file.to_str().unwrap(), &https(&server, "/")]);
    assert_eq!(r.status, 200);
    server.signal(SIGHUP);
    assert!(server.wait_for_line("tls: reloaded", Duration::from_secs(10)));
    // Still serving, with the same files.
    let r = curl(&["--cacert", ca_file.to_str().unwrap(), &https(&server, "/")]);
    assert_eq!(r.status, 200);
}

#[test]
fn tls_usage_errors() {
    let www = site();
    let dir = www.path().to_str().unwrap();
    let ca = TestCa::new("Errors CA");
    let keys = tempfile::tempdir().unwrap();
    let (cert, _) = ca.issue(&["localhost"]).write(keys.path(), "one");
    let (_, other_key) = ca.issue(&["localhost"]).write(keys.path(), "two");
    let cert = cert.to_str().unwrap();
    let other_key = other_key.to_str().unwrap();
    let cases: [(&[&str], &str); 4] = [
        (&["--hsts"], "--hsts needs HTTPS"),
        (&["--tls-cert", cert], "1 --tls-cert but 0 --tls-key"),
        (
            &["--tls-cert", cert, "--tls-key", other_key],
            "does not match the certificate",
        ),
        (
            &["--tls-cert", cert, "--tls-key", "/nonexistent.key"],
            "cannot read /nonexistent.key",
        ),
    ];
    for (extra, what) in cases {
        let out = Command::new(OSPREY)
            .args(["serve", dir, "--listen", "127.0.0.1:0"])
            .args(extra)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(what), "{extra:?}: `{what}` not in {stderr}");
    }
}

/// A 1 GiB file over TLS: no sendfile, so the server reads it piece by piece
/// as the client takes it; its memory stays flat.
#[test]
fn a_large_file_over_tls_streams_in_flat_memory() {
    const SIZE: u64 = 1 << 30;
    let www = site();
    let big = www.path().join("big.bin");
    // Sparse: reading it costs no disk.
    std::fs::File::create(&big).unwrap().set_len(SIZE).unwrap();
    let state = tempfile::tempdir().unwrap();
    let server = serve(
        www.path(),
        &[
            "--tls-self-signed",
            "--tls-state-dir",
            state.path().to_str().unwrap(),
        ],
    );
    let ca: PathBuf = state.path().join("self-signed.crt");
    let before = server.rss_kib();
    let mut download = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "300",
            "-o",
            "/dev/null",
            "-w",
            "%{size_download}",
        ])
        .arg("--cacert")
        .arg(&ca)
        .arg(https(&server, "/big.bin"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("curl");
    let mut peak = before;
    let started = Instant::now();
    while download.try_wait().unwrap().is_none() {
        peak = peak.max(server.rss_kib());
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "download too slow"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = download.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), SIZE.to_string());
    let grew = peak.saturating_sub(before);
    assert!(
        grew < 16 * 1024,
        "RSS grew {grew} KiB serving 1 GiB over TLS"
    );
}
