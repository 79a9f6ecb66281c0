//! `StaticFiles` over real sockets: MIME types, validators and conditional
//! requests, ranges (single, multipart parsed back, 416, If-Range),
//! precompressed siblings, HEAD, directory redirects and listings, dotfiles,
//! the custom 404 page, the SPA fallback, Cache-Control rules, methods, and
//! the small-file cache noticing a changed file. Each behaviour is checked
//! on a small (cached, in-memory) file and, where it differs, on a large one
//! (opened and sent with sendfile).

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{curl, CurlResponse, TestServer};
use osprey::{CacheConfig, Router, StaticFiles};

/// Bytes of a test file: position-dependent, so a wrong range shows.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| b'a' + (i % 26) as u8).collect()
}

/// Larger than the cache's per-file limit: served from the descriptor.
const LARGE: usize = 100 * 1024;

struct Site {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

fn site() -> Site {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("www");
    let w = |rel: &str, data: &[u8]| {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    };
    w("index.html", b"<h1>home</h1>");
    w("small.txt", &pattern(604));
    w("large.bin", &pattern(LARGE));
    w("app.js", b"console.log('identity')");
    w("app.js.br", b"BROTLI-BYTES");
    w("app.js.zst", b"ZSTD-BYTES");
    w("app.js.gz", b"GZIP-BYTES");
    w("only-gz.css", b"body{}");
    w("only-gz.css.gz", b"GZ-CSS");
    w("big.js", &pattern(LARGE));
    w("big.js.br", &pattern(LARGE / 2));
    w("docs/index.html", b"<h1>docs</h1>");
    w("files/a.txt", b"a");
    w("files/B.txt", b"bb");
    w("files/<script>.txt", b"x");
    w("files/.secret", b"hidden");
    w("files/sub/c.txt", b"c");
    w(".env", b"SECRET=1");
    w(".well-known/security.txt", b"Contact: x");
    w("404.html", b"<h1>custom not found</h1>");
    w("assets/logo.png", b"\x89PNG");
    w("assets/css/site.css", b"body{}");
    Site { _dir: dir, root }
}

fn serve(handler: StaticFiles) -> TestServer {
    TestServer::start(handler)
}

fn get(server: &TestServer, path: &str, headers: &[&str]) -> CurlResponse {
    let url = server.url(path);
    let mut args: Vec<&str> = vec!["--path-as-is"];
    for h in headers {
        args.push("-H");
        args.push(h);
    }
    args.push(&url);
    curl(&args)
}

/// A response read off a raw socket.
struct Raw {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.split("\r\n").skip(1).find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    /// Every field but Date (which may tick between two requests).
    fn fields(&self) -> Vec<String> {
        self.head
            .split("\r\n")
            .skip(1)
            .filter(|l| !l.to_ascii_lowercase().starts_with("date:"))
            .map(str::to_string)
            .collect()
    }
}

fn raw(addr: SocketAddr, request: &str) -> Raw {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    let end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete head");
    let head = String::from_utf8(buf[..end].to_vec()).unwrap();
    let status = head[9..12].parse().unwrap();
    Raw {
        status,
        head,
        body: buf[end + 4..].to_vec(),
    }
}

#[test]
fn mime_types_and_nosniff() {
    let dir = tempfile::tempdir().unwrap();
    let types = [
        ("html", "text/html; charset=utf-8"),
        ("css", "text/css; charset=utf-8"),
        ("js", "text/javascript; charset=utf-8"),
        ("mjs", "text/javascript; charset=utf-8"),
        ("json", "application/json; charset=utf-8"),
        ("txt", "text/plain; charset=utf-8"),
        ("xml", "text/xml; charset=utf-8"),
        ("csv", "text/csv; charset=utf-8"),
        ("md", "text/markdown; charset=utf-8"),
        ("svg", "image/svg+xml; charset=utf-8"),
        ("png", "image/png"),
        ("jpg", "image/jpeg"),
        ("jpeg", "image/jpeg"),
        ("gif", "image/gif"),
        ("webp", "image/webp"),
        ("avif", "image/avif"),
        ("ico", "image/x-icon"),
        ("pdf", "application/pdf"),
        ("zip", "application/zip"),
        ("wasm", "application/wasm"),
        ("woff2", "font/woff2"),
        ("ttf", "font/ttf"),
        ("mp4", "video/mp4"),
        ("webm", "video/webm"),
        ("mp3", "audio/mpeg"),
        ("webmanifest", "application/manifest+json; charset=utf-8"),
        ("unknownext", "application/octet-stream"),
    ];
    for (ext, _) in types {
        std::fs::write(dir.path().join(format!("f.{ext}")), ext).unwrap();
    }
    std::fs::write(dir.path().join("noext"), "x").unwrap();
    let server = serve(StaticFiles::new(dir.path()).unwrap());
    for (ext, want) in types {
        let r = get(&server, &format!("/f.{ext}"), &[]);
        assert_eq!(r.status, 200, "{ext}");
        assert_eq!(r.header("content-type"), Some(want), "{ext}");
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"), "{ext}");
        assert_eq!(r.body, ext.as_bytes());
    }
    let r = get(&server, "/noext", &[]);
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
}

#[test]
fn validators_and_not_modified() {
    let site = site();
    let server = serve(
        StaticFiles::new(&site.root)
            .unwrap()
            .cache_control("*.txt", "max-age=60"),
    );
    for path in ["/small.txt", "/large.bin"] {
        let r = get(&server, path, &[]);
        assert_eq!(r.status, 200);
        let etag = r.header("etag").unwrap().to_string();
        let lm = r.header("last-modified").unwrap().to_string();
        // A strong tag: quoted, no W/, hex pieces.
        assert!(etag.starts_with('"') && etag.ends_with('"') && !etag.starts_with("W/"));
        assert!(etag[1..etag.len() - 1]
            .split('-')
            .all(|h| u64::from_str_radix(h, 16).is_ok()));
        assert!(lm.ends_with(" GMT"), "{lm}");
        assert_eq!(r.header("accept-ranges"), Some("bytes"));

        let inm = format!("If-None-Match: {etag}");
        let r = get(&server, path, &[&inm]);
        assert_eq!(r.status, 304, "{path}");
        assert_eq!(r.header("etag"), Some(etag.as_str()));
        // RFC 9110 §15.4.5: with an ETag, no other representation metadata.
        assert_eq!(r.header("last-modified"), None);
        assert_eq!(r.header("content-type"), None);
        assert!(r.body.is_empty());
        if path == "/small.txt" {
            assert_eq!(r.header("cache-control"), Some("max-age=60"));
        }
        let r = get(&server, path, &["If-None-Match: \"other\", W/\"x\""]);
        assert_eq!(r.status, 200);
        let r = get(&server, path, &["If-None-Match: *"]);
        assert_eq!(r.status, 304);
        // A weak copy of the tag matches for If-None-Match (weak comparison).
        let weak = format!("If-None-Match: W/{etag}");
        assert_eq!(get(&server, path, &[&weak]).status, 304);

        let ims = format!("If-Modified-Since: {lm}");
        assert_eq!(get(&server, path, &[&ims]).status, 304);
        let old = "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT";
        assert_eq!(get(&server, path, &[old]).status, 200);
        assert_eq!(
            get(&server, path, &["If-Modified-Since: garbage"]).status,
            200
        );
        // If-None-Match wins: a non-matching tag ignores a matching date.
        assert_eq!(
            get(&server, path, &[&ims, "If-None-Match: \"nope\""]).status,
            200
        );
    }
}

#[test]
fn if_match_and_if_unmodified_since() {
    let site = site();
    let server = serve(StaticFiles::new(&site.root).unwrap());
    for path in ["/small.txt", "/large.bin"] {
        let r = get(&server, path, &[]);
        let etag = r.header("etag").unwrap().to_string();
        let lm = r.header("last-modified").unwrap().to_string();
        let r = get(&server, path, &["If-Match: \"wrong\""]);
        assert_eq!(r.status, 412, "{path}");
        assert_eq!(r.text(), "Precondition Failed\n", "no file bytes in a 412");
        assert_eq!(
            get(&server, path, &[&format!("If-Match: {etag}")]).status,
            200
        );
        assert_eq!(get(&server, path, &["If-Match: *"]).status, 200);
        // Strong comparison: the weak form fails.
        assert_eq!(
            get(&server, path, &[&format!("If-Match: W/{etag}")]).status,
            412
        );
        let old = "If-Unmodified-Since: Sun, 06 Nov 1994 08:49:37 GMT";
        assert_eq!(get(&server, path, &[old]).status, 412);
        assert_eq!(
            get(&server, path, &[&format!("If-Unmodified-Since: {lm}")]).status,
            200
        );
        // Repeated fields form one list (RFC 9110 §5.3).
        let r = get(
            &server,
            path,
            &["If-Match: \"a\"", &format!("If-Match: \"b\", {etag}")],
        );
        assert_eq!(r.status, 200);
    }
}

#[test]
fn single_ranges() {
    let site = site();
    let server = serve(StaticFiles::new(&site.root).unwrap());
    for (path, len) in [("/small.txt", 604usize), ("/large.bin", LARGE)] {
        let data = pattern(len);
        let cases = [
            ("bytes=0-9".to_string(), 0, 9),
            ("bytes=100-199".to_string(), 100, 199),
            (format!("bytes={}-", len - 50), len - 50, len - 1),
            ("bytes=-20".to_string(), len - 20, len - 1),
            (format!("bytes=10-{}", len * 10), 10, len - 1),
        ];
        for (spec, start, end) in cases {
            let r = get(&server, path, &[&format!("Range: {spec}")]);
            assert_eq!(r.status, 206, "{path} {spec}");
            assert_eq!(
                r.header("content-range"),
                Some(format!("bytes {start}-{end}/{len}").as_str())
            );
            assert_eq!(r.body, &data[start..=end], "{path} {spec}");
            assert_eq!(
                r.header("content-length"),
                Some((end - start + 1).to_string().as_str())
            );
            assert!(r.header("etag").is_some());
        }
        // Malformed or foreign ranges are ignored: the whole file.
        for spec in [
            "bytes=abc",
            "bytes=5-1",
            "items=0-1",
            "bytes=",
            "bytes=0-1,x",
        ] {
            let r = get(&server, path, &[&format!("Range: {spec}")]);
            assert_eq!((r.status, r.body.len()), (200, len), "{spec}");
        }
        // Unsatisfiable: 416 with the length.
        for spec in [
            format!("bytes={len}-"),
            "bytes=-0".into(),
            format!("bytes={}-{}", len + 5, len + 9),
        ] {
            let r = get(&server, path, &[&format!("Range: {spec}")]);
            assert_eq!(r.status, 416, "{spec}");
            assert_eq!(
                r.header("content-range"),
                Some(format!("bytes */{len}").as_str())
            );
            assert!(r.body.len() < 100);
        }
        // Range is for GET only: HEAD gets the full length.
        let r = curl(&["-I", "-H", "Range: bytes=0-9", &server.url(path)]);
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-length"), Some(len.to_string().as_str()));
    }
}

/// Splits a multipart/byteranges body into (Content-Type, Content-Range, bytes).
fn parse_multipart(body: &[u8], boundary: &str) -> Vec<(String, String, Vec<u8>)> {
    let delimiter = format!("--{boundary}");
    let d = delimiter.as_bytes();
    let mut positions = vec![];
    let mut i = 0;
    while i + d.len() <= body.len() {
        if &body[i..i + d.len()] == d {
            positions.push(i);
            i += d.len();
        } else {
            i += 1;
        }
    }
    let mut parts = vec![];
    for w in positions.windows(2) {
        let part = &body[w[0] + d.len()..w[1]];
        let part = part.strip_prefix(b"\r\n").expect("CRLF after the boundary");
        let part = part
            .strip_suffix(b"\r\n")
            .expect("CRLF before the next boundary");
        let end = part.windows(4).position(|x| x == b"\r\n\r\n").unwrap();
        let head = std::str::from_utf8(&part[..end]).unwrap();
        let field = |name: &str| {
            head.split("\r\n")
                .find_map(|l| l.strip_prefix(name))
                .unwrap()
                .trim()
                .to_string()
        };
        parts.push((
            field("Content-Type:"),
            field("Content-Range:"),
            part[end + 4..].to_vec(),
        ));
    }
    let last = *positions.last().unwrap();
    assert_eq!(&body[last + d.len()..], b"--\r\n", "closing delimiter");
    parts
}

#[test]
fn multipart_ranges() {
    let site = site();
    let server = serve(StaticFiles::new(&site.root).unwrap());
    for (path, len, ct) in [
        ("/small.txt", 604usize, "text/plain; charset=utf-8"),
        ("/large.bin", LARGE, "application/octet-stream"),
    ] {
        let data = pattern(len);
        // Out of order and overlapping: sorted, and 5-14 merges into 0-14.
        let r = get(
            &server,
            path,
            &["Range: bytes=500-509, 0-9, -4, 5-14, 200-"],
        );
        assert_eq!(r.status, 206, "{path}");
        let ctype = r.header("content-type").unwrap();
        let boundary = ctype
            .strip_prefix("multipart/byteranges; boundary=")
            .unwrap_or_else(|| panic!("{ctype}"));
        let parts = parse_multipart(&r.body, boundary);
        let want = [(0, 14), (200, len - 1)];
        // The suffix and 500-509 fall inside 200- for both files.
        assert_eq!(parts.len(), want.len(), "{path}");
        for ((pct, range, bytes), (s, e)) in parts.iter().zip(want) {
            assert_eq!(pct, ct);
            assert_eq!(range, &format!("bytes {s}-{e}/{len}"));
            assert_eq!(bytes, &data[s..=e]);
        }
        assert_eq!(
            r.header("content-length"),
            Some(r.body.len().to_string().as_str())
        );
        // Three disjoint ranges.
        let r = get(&server, path, &["Range: bytes=1-2,10-12,-3"]);
        let boundary = r
            .header("content-type")
            .unwrap()
            .strip_prefix("multipart/byteranges; boundary=")
            .unwrap()
            .to_string();
        let parts = parse_multipart(&r.body, &boundary);
        let want = [(1, 2), (10, 12), (len - 3, len - 1)];
        assert_eq!(parts.len(), 3);
        for ((_, range, bytes), (s, e)) in parts.iter().zip(want) {
            assert_eq!(range, &format!("bytes {s}-{e}/{len}"));
            assert_eq!(bytes, &data[s..=e]);
        }
    }
    // More than MAX_RANGES ranges: the whole file.
    let many: Vec<String> = (0..17).map(|i| format!("{}-{}", i * 10, i * 10)).collect();
    let r = get(
        &server,
        "/small.txt",
        &[&format!("Range: bytes={}", many.join(","))],
    );
    assert_eq!((r.status, r.body.len()), (200, 604));
}

#[test]
fn if_range() {
    let site = site();
    let server = serve(StaticFiles::new(&site.root).unwrap());
    for path in ["/small.txt", "/large.bin"] {
        let r = get(&server, path, &[]);
        let etag = r.header("etag").unwrap().to_string();
        let lm = r.header("last-modified").unwrap().to_string();
        let full = r.body.len();
        let range = "Range: bytes=0-3";
        let r = get(&server, path, &[range, &format!("If-Range: {etag}")]);
        assert_eq!((r.status, r.body.as_slice()), (206, &b"abcd"[..]));
        let r = get(&server, path, &[range, &format!("If-Range: {lm}")]);
        assert_eq!(r.status, 206);
        let r = get(&server, path, &[range, "If-Range: \"stale\""]);
        assert_eq!((r.status, r.body.len()), (200, full));
        let r = get(&server, path, &[range, &format!("If-Range: W/{etag}")]);
        assert_eq!(r.status, 200);
        let r = get(
            &server,
            path,
            &[range, "If-Range: Sun, 06 Nov 1994 08:49:37 GMT"],
        );
        assert_eq!(r.status, 200);
    }
}

#[test]
fn precompressed_variants() {
    let site = site();
    let server = serve(StaticFiles::new(&site.root).unwrap());
    let identity = get(&server, "/app.js", &[]);
    assert_eq!(identity.body, b"console.log('identity')");
    assert_eq!(identity.header("content-encoding"), None);
    // The plain response varies too, since siblings exist.
    assert_eq!(identity.header("vary"), Some("Accept-Encoding"));
    let mut etags = vec![identity.header("etag").unwrap().to_string()];
    for (ae, coding, body) in [
        ("br", "br", &b"BROTLI-BYTES"[..]),
        ("zstd", "zstd", b"ZSTD-BYTES"),
        ("gzip", "gzip", b"GZIP-BYTES"),
        ("gzip, deflate, br, zstd", "br", b"BROTLI-BYTES"),
        ("gzip;q=0.9, zstd;q=0.5", "gzip", b"GZIP-BYTES"),
        ("br;q=0, zstd", "zstd", b"ZSTD-BYTES"),
        ("*", "br", b"BROTLI-BYTES"),
    ] {
        let r = get(&server, "/app.js", &[&format!("Accept-Encoding: {ae}")]);
        assert_eq!(r.status, 200, "{ae}");
        assert_eq!(r.header("content-encoding"), Some(coding), "{ae}");
        assert_eq!(
            r.header("content-type"),
            Some("text/javascript; charset=utf-8")
        );
        assert_eq!(r.header("vary"), Some("Accept-Encoding"));
        assert_eq!(r.body, body, "{ae}");
        let etag = r.header("etag").unwrap().to_string();
        if !etags.contains(&etag) {
            etags.push(etag);
        }
    }
    assert_eq!(etags.len(), 4, "one tag per variant: {etags:?}");
    // Refused codings: identity.
    for ae in ["br;q=0, zstd;q=0, gzip;q=0", "*;q=0", "deflate", "identity"] {
        let r = get(&server, "/app.js", &[&format!("Accept-Encoding: {ae}")]);
        assert_eq!(r.header("content-encoding"), None, "{ae}");
        assert_eq!(r.body, b"console.log('identity')");
        assert_eq!(r.header("vary"), Some("Accept-Encoding"));
    }
    // Only some siblings: the best available one.
    let r = get(&server, "/only-gz.css", &["Accept-Encoding: br, gzip"]);
    assert_eq!(
        (r.header("content-encoding"), r.body.as_slice()),
        (Some("gzip"), &b"GZ-CSS"[..])
    );
    let r = get(&server, "/only-gz.css", &["Accept-Encoding: br"]);
    assert_eq!(r.header("content-encoding"), None);
    // No siblings: no Vary.
    assert_eq!(
        get(&server, "/small.txt", &["Accept-Encoding: br"]).header("vary"),
        None
    );
    // A 304 for a variant uses the variant's tag and keeps Vary.
    let br = get(&server, "/app.js", &["Accept-Encoding: br"]);
    let inm = format!("If-None-Match: {}", br.header("etag").unwrap());
    let r = get(&server, "/app.js", &["Accept-Encoding: br", &inm]);
    assert_eq!((r.status, r.header("vary")), (304, Some("Accept-Encoding")));
    assert_eq!(get(&server, "/app.js", &[&inm]).status, 200);
    // Ranges apply to the variant served (large: sendfile path).
    let r = get(
        &server,
        "/big.js",
        &["Accept-Encoding: br", "Range: bytes=0-4"],
    );
    assert_eq!(r.status, 206);
    assert_eq!(r.header("content-encoding"), Some("br"));
    assert_eq!(
        r.header("content-range"),
        Some(format!("bytes 0-4/{}", LARGE / 2).as_str())
    );
    let r = get(&server, "/big.js", &["Accept-Encoding: br"]);
    assert_eq!(r.body.len(), LARGE / 2);
    // Turned off: never a sibling, no Vary.
    let plain = serve(StaticFiles::new(&site.root).unwrap().precompressed(false));
    let r = get(&plain, "/app.js", &["Accept-Encoding: br"]);
    assert_eq!(
        (r.header("content-encoding"), r.header("vary")),
        (None, None)
    );
}

#[test]
fn head_has_the_headers_of_get_and_no_body() {
    let site = site();
    let server = serve(StaticFiles::new(&site.root).unwrap());
    for path in [
        "/small.txt",
        "/large.bin",
        "/app.js",
        "/docs/",
        "/nope",
        "/docs",
    ] {
        let req = |m: &str| {
            format!("{m} {path} HTTP/1.1\r\nHost: x\r\nAccept-Encoding: br\r\nConnection: close\r\n\r\n")
        };
        let g = raw(server.addr, &req("GET"));
        let h = raw(server.addr, &req("HEAD"));
        assert_eq!(g.status, h.status, "{path}");
        assert_eq!(g.fields(), h.fields(), "{path}");
        assert!(h.body.is_empty(), "{path}: HEAD body {:?}", h.body.len());
        assert_eq!(
            g.header("content-length")
                .map(|n| n.parse::<usize>().unwrap()),
            Some(g.body.len())
        );
    }
}

#[test]
fn directories_redirect_and_serve_their_index() {
    let site = site();
    let server = serve(StaticFiles::new(&site.root).unwrap());
    let r = get(&server, "/docs", &[]);
    assert_eq!((r.status, r.header("location")), (301, Some("/docs/")));
    let r = get(&server, "/docs?x=1&y=%20", &[]);
    assert_eq!(r.header("location"), Some("/docs/?x=1&y=%20"));
    // The raw path is kept as the client spelled it.
    let r = get(&server, "/d%6fcs", &[]);
    assert_eq!(r.header("location"), Some("/d%6fcs/"));
    // Never a `//host` location.
    let r = raw(
        server.addr,
        "GET //docs HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!((r.status, r.header("location")), (301, Some("/docs/")));
    let r = get(&server, "/docs/", &[]);
    assert_eq!((r.status, r.text().as_str()), (200, "<h1>docs</h1>"));
    let r = get(&server, "/", &[]);
    assert_eq!((r.status, r.text().as_str()), (200, "<h1>home</h1>"));
    // A file with a trailing slash is not a directory.
    assert_eq!(get(&server, "/small.txt/", &[]).status, 404);
    // No index and no listing: 404.
    let r = get(&server, "/files/", &[]);
    assert_eq!(r.status, 404);
    // Another index name.
    let server = serve(StaticFiles::new(&site.root).unwrap().index("a.txt"));
    assert_eq!(get(&server, "/files/", &[]).text(), "a");
}

#[test]
fn listings_in_html_and_json() {
    let site = site();
    let server = serve(StaticFiles::new(&site.root).unwrap().browse(true));
    let r = get(&server, "/files/", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    let html = r.text();
    assert!(!html.contains("<script>"), "{html}");
    assert!(html.contains("&lt;script&gt;.txt"));
    assert!(html.contains("href=\"./%3Cscript%3E.txt\""));
    assert!(html.contains("href=\"./sub/\""));
    assert!(html.contains("href=\"../\""));
    assert!(!html.contains(".secret"), "hidden files are not listed");
    // Directories first, then names ignoring case.
    let order: Vec<usize> = ["sub/", "&lt;script&gt;.txt", ">a.txt<", ">B.txt<"]
        .iter()
        .map(|n| html.find(n).unwrap_or_else(|| panic!("{n} in {html}")))
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
    assert!(html.contains("2 B"), "human-readable size");
    assert!(html.contains(" GMT"), "modification date");

    let r = get(&server, "/files/?format=json", &[]);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    let names: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["sub", "<script>.txt", "a.txt", "B.txt"]);
    assert_eq!(v[0]["type"], "dir");
    assert_eq!(v[3]["type"], "file");
    assert_eq!(v[3]["size"], 2);
    assert!(v[3]["modified"].as_str().unwrap().ends_with("GMT"));

    // The root has no parent link; a directory with an index is not listed.
    let r = get(&server, "/?format=json", &[]);
    assert_eq!(r.text(), "<h1>home</h1>");
    let hidden = serve(
        StaticFiles::new(&site.root)
            .unwrap()
            .browse(true)
            .hidden(true),
    );
    let html = get(&hidden, "/files/", &[]).text();
    assert!(html.contains(".secret"));
}

#[test]
fn dotfiles_are_hidden_unless_enabled() {
    let site = site();
    let server = serve(StaticFiles::new(&site.root).unwrap().not_found_page(false));
    for path in [
        "/.env",
        "/.well-known/security.txt",
        "/files/.secret",
        "/%2eenv",
    ] {
        let r = get(&server, path, &[]);
        assert_eq!(r.status, 404, "{path}");
        assert!(!r.text().contains("SECRET") && !r.text().contains("hidden"));
    }
    let server = serve(StaticFiles::new(&site.root).unwrap().hidden(true));
    assert_eq!(get(&server, "/.env", &[]).text(), "SECRET=1");
    assert_eq!(get(&server, "/.well-known/security.txt", &[]).status, 200);
}

#[test]
fn custom_not_found_page() {
    let site = site();
    let server = serve(StaticFiles::new(&site.root).unwrap());
    for path in ["/missing", "/missing.js", "/a/b/c/", "/.env"] {
        let r = get(&server, path, &[]);
        assert_eq!(r.status, 404, "{path}");
        assert_eq!(r.text(), "<h1>custom not found</h1>");
        assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
        assert_eq!(r.header("etag"), None);
    }
    // Preconditions and ranges do not apply to a 404.
    let r = get(
        &server,
        "/missing",
        &["Range: bytes=0-1", "If-Match: \"x\""],
    );
    assert_eq!(r.status, 404);
    // Disabled, or absent: a short text body.
    let server = serve(StaticFiles::new(&site.root).unwrap().not_found_page(false));
    let r = get(&server, "/missing", &[]);
    assert_eq!((r.status, r.text().as_str()), (404, "Not Found\n"));
    std::fs::remove_file(site.root.join("404.html")).unwrap();
    let server = serve(StaticFiles::new(&site.root).unwrap());
    assert_eq!(get(&server, "/missing", &[]).text(), "Not Found\n");
}

#[test]
fn spa_fallback() {
    let site = site();
    let server = serve(StaticFiles::new(&site.root).unwrap().spa(true));
    for path in ["/settings", "/users/42/profile", "/deep/route/"] {
        let r = get(&server, path, &[]);
        assert_eq!(
            (r.status, r.text().as_str()),
            (200, "<h1>home</h1>"),
            "{path}"
        );
        assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    }
    // With an extension, a missing file stays a 404 (the custom page).
    let r = get(&server, "/missing.js", &[]);
    assert_eq!(
        (r.status, r.text().as_str()),
        (404, "<h1>custom not found</h1>")
    );
    // Real files and dotfile refusals are unaffected.
    assert_eq!(get(&server, "/docs/", &[]).text(), "<h1>docs</h1>");
    assert_eq!(get(&server, "/.env", &[]).status, 404);
    let r = curl(&["-I", &server.url("/settings")]);
    assert_eq!(r.status, 200);
}

#[test]
fn cache_control_rules() {
    let site = site();
    let server = serve(
        StaticFiles::new(&site.root)
            .unwrap()
            .cache_control("/assets/css/**", "no-cache")
            .cache_control("/assets/**", "public, max-age=31536000, immutable")
            .cache_control("*.html", "no-store"),
    );
    let cc = |path: &str| {
        get(&server, path, &[])
            .header("cache-control")
            .map(str::to_string)
    };
    assert_eq!(
        cc("/assets/logo.png").as_deref(),
        Some("public, max-age=31536000, immutable")
    );
    assert_eq!(cc("/assets/css/site.css").as_deref(), Some("no-cache"));
    assert_eq!(cc("/docs/index.html").as_deref(), Some("no-store"));
    // A directory's index matches by the index file's path.
    assert_eq!(cc("/docs/").as_deref(), Some("no-store"));
    assert_eq!(cc("/small.txt"), None);
    assert_eq!(cc("/large.bin"), None);
    let r = get(&server, "/assets/logo.png", &["Range: bytes=0-1"]);
    assert_eq!(
        (r.status, r.header("cache-control")),
        (206, Some("public, max-age=31536000, immutable"))
    );
}

#[test]
fn methods() {
    let site = site();
    let server = serve(StaticFiles::new(&site.root).unwrap());
    for m in ["POST", "PUT", "DELETE", "PATCH"] {
        let r = curl(&["-X", m, &server.url("/small.txt")]);
        assert_eq!(r.status, 405, "{m}");
        assert_eq!(r.header("allow"), Some("GET, HEAD, OPTIONS"));
    }
    let r = curl(&["-X", "OPTIONS", &server.url("/small.txt")]);
    assert_eq!(
        (r.status, r.header("allow")),
        (204, Some("GET, HEAD, OPTIONS"))
    );
}

#[test]
fn cache_sees_a_changed_file_after_the_interval() {
    let site = site();
    let interval = Duration::from_millis(200);
    let server = serve(StaticFiles::new(&site.root).unwrap().cache(CacheConfig {
        revalidate_after: interval,
        ..CacheConfig::default()
    }));
    let path = site.root.join("note.txt");
    std::fs::write(&path, "version one").unwrap();
    let first = get(&server, "/note.txt", &[]);
    assert_eq!(first.text(), "version one");
    std::fs::write(&path, "version two!").unwrap();
    // Within the interval the cached copy may still be served; after it, the
    // change must show. Polls until `done` or a bound of 20 intervals.
    let poll = |done: &dyn Fn(&CurlResponse) -> bool| {
        let deadline = std::time::Instant::now() + interval * 20;
        loop {
            let r = get(&server, "/note.txt", &[]);
            if done(&r) || std::time::Instant::now() > deadline {
                break r;
            }
            std::thread::sleep(interval / 4);
        }
    };
    let seen = poll(&|r| r.text() == "version two!");
    assert_eq!(seen.text(), "version two!");
    assert_ne!(seen.header("etag"), first.header("etag"));
    // A removed file is a 404 after the interval.
    std::fs::remove_file(&path).unwrap();
    assert_eq!(poll(&|r| r.status == 404).status, 404);
    // The same with a long interval: the stale copy is still served.
    let sticky = serve(StaticFiles::new(&site.root).unwrap().cache(CacheConfig {
        revalidate_after: Duration::from_secs(3600),
        ..CacheConfig::default()
    }));
    std::fs::write(&path, "old").unwrap();
    assert_eq!(get(&sticky, "/note.txt", &[]).text(), "old");
    std::fs::write(&path, "new").unwrap();
    assert_eq!(get(&sticky, "/note.txt", &[]).text(), "old");
    // Without the cache every request sees the disk.
    let uncached = serve(
        StaticFiles::new(&site.root)
            .unwrap()
            .cache(CacheConfig::disabled()),
    );
    assert_eq!(get(&uncached, "/note.txt", &[]).text(), "new");
    std::fs::write(&path, "newer").unwrap();
    assert_eq!(get(&uncached, "/note.txt", &[]).text(), "newer");
}

#[test]
fn mounted_on_a_catch_all_and_as_a_fallback() {
    let site = site();
    let app = Router::new()
        .get(
            "/static/*path",
            StaticFiles::new(site.root.join("assets")).unwrap(),
        )
        .get("/api/ping", |_: &mut osprey::Request| {
            osprey::Response::text("pong")
        })
        .fallback(StaticFiles::new(&site.root).unwrap());
    let server = TestServer::start(app);
    assert_eq!(get(&server, "/static/logo.png", &[]).body, b"\x89PNG");
    assert_eq!(get(&server, "/static/css/site.css", &[]).text(), "body{}");
    let r = get(&server, "/static/css?v=2", &[]);
    assert_eq!(
        (r.status, r.header("location")),
        (301, Some("/static/css/?v=2"))
    );
    assert_eq!(get(&server, "/static/../index.html", &[]).status, 400);
    assert_eq!(get(&server, "/api/ping", &[]).text(), "pong");
    assert_eq!(get(&server, "/docs/", &[]).text(), "<h1>docs</h1>");
    assert_eq!(get(&server, "/small.txt", &[]).body, pattern(604));
    assert_eq!(get(&server, "/nothing-here", &[]).status, 404);
}

#[test]
fn unreadable_file_is_forbidden() {
    use std::os::unix::fs::PermissionsExt;
    let site = site();
    let path = site.root.join("locked.txt");
    std::fs::write(&path, "locked").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).unwrap();
    if std::fs::read(&path).is_ok() {
        return; // running as root: permissions do not apply
    }
    let server = serve(StaticFiles::new(&site.root).unwrap());
    let r = get(&server, "/locked.txt", &[]);
    assert_eq!((r.status, r.text().as_str()), (403, "Forbidden\n"));
}

#[test]
fn root_must_be_a_directory() {
    let site = site();
    assert!(StaticFiles::new(site.root.join("small.txt")).is_err());
    assert!(StaticFiles::new(site.root.join("missing")).is_err());
    assert!(StaticFiles::new(Path::new(&site.root)).is_ok());
}
