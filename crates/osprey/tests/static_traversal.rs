//! Path traversal against `StaticFiles` over real sockets: every spelling of
//! "go above the root" we know, sent raw over TCP and through
//! `curl --path-as-is`, and symbolic links pointing out of the root. Each
//! must be answered 400, 403 or 404, and no response may carry the marker
//! kept in files just outside the root. A control run with
//! `SymlinkPolicy::Always` shows the marker is reachable when the policy
//! allows it, so the check can fail.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

use common::{curl, TestServer};
use osprey::{Router, StaticFiles, SymlinkPolicy};

const MARKER: &str = "OSPREY-SECRET-MARKER-7f3a9c";

/// `base/secret.txt`, `base/www-secret/secret.txt` (a sibling whose name
/// extends the root's, against prefix checks on strings) and the root
/// `base/www` with links out of it.
struct Layout {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

fn layout() -> Layout {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path();
    let root = base.join("www");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::create_dir_all(base.join("www-secret")).unwrap();
    std::fs::write(base.join("secret.txt"), MARKER).unwrap();
    std::fs::write(base.join("www-secret/secret.txt"), MARKER).unwrap();
    std::fs::write(root.join("index.html"), "<h1>home</h1>").unwrap();
    std::fs::write(root.join("public.txt"), "public").unwrap();
    std::fs::write(root.join("sub/page.txt"), "page").unwrap();
    let link =
        |target: PathBuf, name: &str| std::os::unix::fs::symlink(target, root.join(name)).unwrap();
    link(base.join("secret.txt"), "leak.txt");
    link(base.to_path_buf(), "leakdir");
    link(base.join("www-secret/secret.txt"), "prefix.txt");
    link(base.join("www-secret"), "prefixdir");
    link(PathBuf::from("../secret.txt"), "relative-leak.txt");
    link(root.join("public.txt"), "inner.txt");
    Layout { _dir: dir, root }
}

/// Request targets, sent as they are.
const TARGETS: &[&str] = &[
    "/../secret.txt",
    "/../../secret.txt",
    "/../../../../../../secret.txt",
    "/sub/../../secret.txt",
    "/./../secret.txt",
    "//../secret.txt",
    "/..",
    "/../",
    "/..%2fsecret.txt",
    "/..%2Fsecret.txt",
    "/sub%2f..%2f..%2fsecret.txt",
    "/%2e%2e/secret.txt",
    "/%2E%2E/secret.txt",
    "/%2e%2e%2fsecret.txt",
    "/.%2e/secret.txt",
    "/%2e./secret.txt",
    "/%2e%2e/%2e%2e/%2e%2e/secret.txt",
    "/%252e%252e/secret.txt",
    "/%252e%252e%252fsecret.txt",
    "/..%255csecret.txt",
    "/..%5csecret.txt",
    "/..%5Csecret.txt",
    "/%2e%2e%5csecret.txt",
    "/..\\secret.txt",
    "/%c0%ae%c0%ae/secret.txt",
    "/%c0%af../secret.txt",
    "/..%c0%afsecret.txt",
    "/%e0%80%ae%e0%80%ae/secret.txt",
    "/%c1%9c../secret.txt",
    "/..%00/secret.txt",
    "/%00../secret.txt",
    "/.%00./secret.txt",
    "/secret.txt%00.html",
    "/....//secret.txt",
    "/...//secret.txt",
    "/..;/secret.txt",
    "/.../secret.txt",
    "/%2e%2e;/secret.txt",
    "/sub/..%2f..%2fsecret.txt",
    "/leak.txt",
    "/relative-leak.txt",
    "/leakdir/secret.txt",
    "/leakdir/www-secret/secret.txt",
    "/leakdir",
    "/leakdir/",
    "/prefix.txt",
    "/prefixdir/secret.txt",
    "/sub/../leak.txt",
    "/LEAK.txt/../leak.txt",
    "/%6ceak.txt",
];

fn raw(addr: SocketAddr, target: &str) -> (u16, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let req = format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let status = std::str::from_utf8(buf.get(9..12).unwrap_or(b"000"))
        .unwrap()
        .parse()
        .unwrap_or(0);
    (status, buf)
}

fn contains_marker(bytes: &[u8]) -> bool {
    bytes.windows(MARKER.len()).any(|w| w == MARKER.as_bytes())
}

/// Sends every target (with `prefix` before it) both ways; returns what
/// each got, asserting the marker never shows.
fn probe(server: &TestServer, prefix: &str) -> Vec<(String, u16, u16)> {
    let mut seen = vec![];
    for t in TARGETS {
        let target = format!("{prefix}{t}");
        let (raw_status, bytes) = raw(server.addr, &target);
        assert!(!contains_marker(&bytes), "raw {target}: leaked");
        // curl refuses a backslash in a URL; those go raw only.
        let curl_status = if target.contains('\\') {
            raw_status
        } else {
            let r = curl(&["--path-as-is", &server.url(&target)]);
            assert!(!contains_marker(&r.body), "curl {target}: leaked");
            r.status
        };
        seen.push((target, raw_status, curl_status));
    }
    seen
}

fn assert_refused(seen: &[(String, u16, u16)]) {
    for (target, raw_status, curl_status) in seen {
        for s in [raw_status, curl_status] {
            assert!(
                matches!(s, 400 | 403 | 404),
                "{target}: status {s} (raw {raw_status}, curl {curl_status})"
            );
        }
    }
}

#[test]
fn traversal_is_refused_over_tcp_and_curl() {
    assert!(TARGETS.len() >= 30);
    let l = layout();
    let server = TestServer::start(StaticFiles::new(&l.root).unwrap());
    let seen = probe(&server, "");
    assert_refused(&seen);
    // The encoded-separator and dot-dot spellings are 400, not a lookup.
    for (target, raw_status, _) in &seen {
        if target.contains("%2f") || target.contains("%2F") || target.starts_with("/../") {
            assert_eq!(*raw_status, 400, "{target}");
        }
    }
    // The site still works.
    let (status, body) = raw(server.addr, "/inner.txt");
    assert_eq!(status, 200);
    assert!(body.ends_with(b"public"));
}

#[test]
fn traversal_is_refused_under_a_catch_all_mount() {
    let l = layout();
    let app = Router::new().get("/static/*path", StaticFiles::new(&l.root).unwrap());
    let server = TestServer::start(app);
    let seen = probe(&server, "/static");
    assert_refused(&seen);
    let (status, _) = raw(server.addr, "/static/public.txt");
    assert_eq!(status, 200);
}

#[test]
fn permissive_settings_still_never_leak() {
    let l = layout();
    for handler in [
        // No index, so the root is listed.
        StaticFiles::new(&l.root)
            .unwrap()
            .index("no-index.html")
            .browse(true)
            .hidden(true)
            .spa(true),
        StaticFiles::new(&l.root)
            .unwrap()
            .index("no-index.html")
            .follow_symlinks(SymlinkPolicy::Never)
            .browse(true),
    ] {
        let server = TestServer::start(handler);
        // Statuses vary here (the SPA answers unknown paths with its
        // index), but the marker must never appear.
        probe(&server, "");
        let (_, listing) = raw(server.addr, "/?format=json");
        let listing = String::from_utf8_lossy(&listing);
        assert!(listing.contains("public.txt"), "{listing}");
        assert!(!listing.contains("leak"), "{listing}");
        assert!(!listing.contains("prefix"), "{listing}");
    }
}

#[test]
fn never_policy_refuses_even_inner_links() {
    let l = layout();
    let server = TestServer::start(
        StaticFiles::new(&l.root)
            .unwrap()
            .follow_symlinks(SymlinkPolicy::Never),
    );
    assert_eq!(raw(server.addr, "/inner.txt").0, 404);
    assert_eq!(raw(server.addr, "/public.txt").0, 200);
}

#[test]
fn control_the_marker_is_reachable_when_links_are_followed() {
    let l = layout();
    let server = TestServer::start(
        StaticFiles::new(&l.root)
            .unwrap()
            .follow_symlinks(SymlinkPolicy::Always),
    );
    let (status, body) = raw(server.addr, "/leak.txt");
    assert_eq!(status, 200);
    assert!(contains_marker(&body), "the probe's detector works");
    // Lexical rules hold whatever the link policy.
    assert_eq!(raw(server.addr, "/../secret.txt").0, 400);
}
