//! HTTPS over real sockets, on every model: curl against a test CA (GET,
//! HEAD, POST, keep-alive, 32 MiB both ways), pipelining through a rustls
//! client, certificates chosen by SNI, session resumption, the protocol
//! versions openssl may and may not use, client certificates, the handshake
//! timeout, plain HTTP sent to the TLS port, certificate reload, and the
//! ends of a connection (close_notify, truncation).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use osprey_testkit::tls::{connect, Issued, TestCa, TlsStream};
use osprey_testkit::{get, is_pattern, RawClient, ServerProcess};
use rustls::HandshakeKind;
use sha2::{Digest, Sha256};

const SERVER: &str = env!("CARGO_BIN_EXE_osprey-test-server");

/// A CA, a certificate for localhost and 127.0.0.1 in a directory, and a
/// server using it.
struct Site {
    ca: TestCa,
    dir: tempfile::TempDir,
    cert: PathBuf,
    key: PathBuf,
    server: ServerProcess,
}

impl Site {
    fn start(model: &str, extra: &[&str]) -> Site {
        let ca = TestCa::new("Osprey test CA");
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = ca
            .issue(&["localhost", "127.0.0.1"])
            .write(dir.path(), "site");
        let server = start(model, &cert, &key, extra);
        Site {
            ca,
            dir,
            cert,
            key,
            server,
        }
    }

    fn ca_file(&self) -> PathBuf {
        self.ca.write_ca(self.dir.path())
    }

    fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.server.addr.port())
    }

    fn client(&self) -> RawClient<TlsStream> {
        RawClient::connect_tls(
            self.server.addr,
            "localhost",
            self.ca.client_config(&[], None),
        )
    }

    /// curl with the test CA, resolving localhost to the server, speaking
    /// HTTP/1.1 (HTTP/2 over TLS is tests/h2.rs's).
    fn curl(&self, args: &[&str]) -> std::process::Output {
        let ca = self.ca_file();
        let out = Command::new("curl")
            .args(["-sS", "--http1.1", "--max-time", "60", "--cacert"])
            .arg(&ca)
            .args(args)
            .output()
            .expect("curl (apt-get install curl)");
        assert!(
            out.status.success(),
            "curl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }
}

fn start(model: &str, cert: &Path, key: &Path, extra: &[&str]) -> ServerProcess {
    let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());
    let mut args = vec!["--listen", "127.0.0.1:0", "--model", model];
    if !extra.contains(&"--workers") {
        args.extend(["--workers", "2"]);
    }
    args.extend(["--tls-cert", cert, "--tls-key", key]);
    args.extend_from_slice(extra);
    ServerProcess::start_logged(SERVER, &args)
}

fn text(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What curl, a real client, does with an HTTPS server.
fn curl_over_tls(model: &str) {
    let site = Site::start(model, &["--max-body", "100000000"]);
    let out = site.curl(&[&site.url("/")]);
    assert_eq!(text(&out), "Hello, World!");

    let out = site.curl(&["-I", &site.url("/")]);
    let head = text(&out);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("content-length: 13"),
        "{head}"
    );

    let out = site.curl(&["--data-binary", "posted", &site.url("/echo")]);
    assert_eq!(text(&out), "posted");

    // Keep-alive: the second transfer reuses the first connection.
    let out = site.curl(&[
        "-o",
        "/dev/null",
        "-o",
        "/dev/null",
        "-w",
        "%{num_connects} ",
        &site.url("/"),
        &site.url("/whoami"),
    ]);
    assert_eq!(text(&out), "1 0 ");

    // What the handshake settled reaches the handler.
    let out = site.curl(&[&site.url("/tls")]);
    let tls = text(&out);
    assert!(tls.contains("sni=localhost\n"), "{tls}");
    assert!(tls.contains("alpn=http/1.1\n"), "{tls}");
    assert!(tls.contains("version=TLSv1.3\n"), "{tls}");
    assert!(tls.contains("suite=TLS_AES_"), "{tls}");

    // 32 MiB up, hashed by the server.
    let big = site.dir.path().join("upload.bin");
    let data: Vec<u8> = (0..32u64 << 20).map(|i| (i * 7 % 253) as u8).collect();
    std::fs::write(&big, &data).unwrap();
    let out = site.curl(&[
        "--data-binary",
        &format!("@{}", big.display()),
        &site.url("/sha256"),
    ]);
    let expected = format!("{} {:x}", data.len(), Sha256::digest(&data));
    assert_eq!(text(&out), expected);

    // 32 MiB down, generated; and a file body, which TLS cannot sendfile.
    for (path, len) in [
        ("/stream?bytes=33554432&chunk=65536", 32 << 20),
        ("/file?bytes=8388608", 8 << 20),
    ] {
        let down = site.dir.path().join("download.bin");
        site.curl(&["-o", down.to_str().unwrap(), &site.url(path)]);
        let body = std::fs::read(&down).unwrap();
        assert_eq!(body.len(), len, "{path}");
        assert!(is_pattern(&body), "{path}: body differs from the pattern");
    }
}

/// Three requests in one write come back in order on one connection.
fn pipelining_over_tls(model: &str) {
    let site = Site::start(model, &[]);
    let mut c = site.client();
    c.send(&[get("/"), get("/whoami"), get("/")].concat());
    let first = c.read_response().unwrap();
    assert_eq!(
        (first.status, &first.body[..]),
        (200, &b"Hello, World!"[..])
    );
    let second = c.read_response().unwrap();
    assert!(String::from_utf8_lossy(&second.body).contains("authority=test"));
    let third = c.read_response().unwrap();
    assert_eq!(third.body, b"Hello, World!");
}

/// The server ends a connection with close_notify, so the client knows the
/// stream was not cut; and a request body cut by a bare TCP FIN (no
/// close_notify) is not taken as complete.
fn connection_ends(model: &str) {
    let site = Site::start(model, &[]);
    let mut c = site.client();
    let response = c.roundtrip(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    assert_eq!(response.status, 200);
    let mut rest = Vec::new();
    // rustls reports a TCP end without close_notify as UnexpectedEof.
    c.stream
        .read_to_end(&mut rest)
        .expect("close_notify, then EOF");
    assert!(rest.is_empty());

    let mut c = site.client();
    c.send(b"POST /sha256 HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000\r\n\r\n");
    c.send(&[b'x'; 500]);
    c.stream.flush().unwrap();
    c.stream.sock.shutdown(std::net::Shutdown::Write).unwrap();
    // Closed without an answer, or an error status: never the hash.
    if let Ok(r) = c.read_response() {
        assert_ne!(r.status, 200, "a truncated body was hashed");
    }
}

/// Plain HTTP sent to the TLS port is told so in plain HTTP, then closed.
fn plain_http_gets_400(model: &str) {
    let site = Site::start(model, &[]);
    let mut c = RawClient::connect(site.server.addr);
    let r = c.roundtrip(&get("/"));
    assert_eq!(r.status, 400);
    assert!(String::from_utf8_lossy(&r.body).contains("HTTPS"));
    assert!(c.closed_within(Duration::from_secs(5)));
    // The server goes on serving TLS.
    assert_eq!(site.client().roundtrip(&get("/")).status, 200);
}

/// openssl may connect with TLS 1.2 and 1.3, not with 1.1.
fn protocol_versions(model: &str) {
    let site = Site::start(model, &[]);
    let addr = site.server.addr.to_string();
    let run = |version: &str| {
        let out = Command::new("openssl")
            .args(["s_client", "-connect", &addr, version])
            // Let openssl offer old versions at all (its default security
            // level refuses TLS 1.1 by itself).
            .args(["-cipher", "DEFAULT@SECLEVEL=0", "-servername", "localhost"])
            .stdin(std::process::Stdio::null())
            .output()
            .expect("openssl (apt-get install openssl)");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (ok, out) = run("-tls1_1");
    assert!(!ok, "TLS 1.1 accepted: {out}");
    assert!(
        out.contains("alert handshake failure") || out.contains("alert protocol version"),
        "{out}"
    );
    assert!(out.contains("Cipher is (NONE)"), "{out}");
    let (ok, out) = run("-tls1_2");
    assert!(
        ok && out.contains("New, TLSv1.2, Cipher is ECDHE-"),
        "{out}"
    );
    let (ok, out) = run("-tls1_3");
    assert!(
        ok && out.contains("New, TLSv1.3, Cipher is TLS_AES_"),
        "{out}"
    );
}

/// Three certificates (two names and a wildcard): each name gets its own,
/// and a client without SNI, or with a name none has, gets the first.
fn sni_chooses_the_certificate(model: &str) {
    let ca = TestCa::new("SNI CA");
    let dir = tempfile::tempdir().unwrap();
    let a = ca.issue(&["a.test", "127.0.0.1"]);
    let b = ca.issue(&["b.test"]);
    let wild = ca.issue(&["*.wild.test"]);
    let (ca_, ka) = a.write(dir.path(), "a");
    let (cb, kb) = b.write(dir.path(), "b");
    let (cw, kw) = wild.write(dir.path(), "wild");
    let s = |p: &PathBuf| p.to_str().unwrap().to_owned();
    let extra = [
        "--tls-cert".into(),
        s(&cb),
        "--tls-key".into(),
        s(&kb),
        "--tls-cert".into(),
        s(&cw),
        "--tls-key".into(),
        s(&kw),
    ];
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let server = start(model, &ca_, &ka, &extra);
    let config = ca.client_config(&[], None);
    let served = |name: &str| -> Result<Vec<u8>, String> {
        let stream = connect(server.addr, name, config.clone()).map_err(|e| e.to_string())?;
        let leaf = stream.conn.peer_certificates().expect("certificate")[0].to_vec();
        Ok(leaf)
    };
    let der = |issued: &Issued| {
        use rustls_pki_types::pem::PemObject;
        rustls::pki_types::CertificateDer::from_pem_slice(issued.cert_pem.as_bytes())
            .unwrap()
            .to_vec()
    };
    assert_eq!(served("a.test").unwrap(), der(&a));
    assert_eq!(served("b.test").unwrap(), der(&b));
    assert_eq!(served("x.wild.test").unwrap(), der(&wild));
    // No SNI (an IP address): the first, which names 127.0.0.1.
    assert_eq!(served("127.0.0.1").unwrap(), der(&a));
    // A wildcard covers one label only; an unknown name gets the first
    // certificate, which the client refuses for that name.
    let err = served("x.y.wild.test").unwrap_err();
    assert!(err.contains("only valid for DnsName(\"a.test\")"), "{err}");
    // The handler sees the name asked for.
    let mut c = RawClient::over(connect(server.addr, "b.test", config).unwrap());
    let r = c.roundtrip(&get("/tls"));
    assert!(String::from_utf8_lossy(&r.body).contains("sni=b.test\n"));
}

/// Keys of every kind a certificate may have, in the formats openssl
/// writes (PKCS#8, PKCS#1 RSA, SEC1 EC), and a leaf served with its
/// intermediate CA: each is chosen by its name and accepted by a client that
/// trusts only the root.
fn key_types_and_chains(model: &str) {
    let ca = TestCa::new("Keys CA");
    let dir = tempfile::tempdir().unwrap();
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .output()
            .expect("openssl (apt-get install openssl)");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    // (name, key as the server reads it, the same key as PKCS#8 for rcgen)
    let rsa8 = openssl(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
    ]);
    let rsa1 = openssl(&["genrsa", "-traditional", "2048"]);
    let ec1 = openssl(&["ecparam", "-genkey", "-name", "prime256v1", "-noout"]);
    let ed = openssl(&["genpkey", "-algorithm", "ED25519"]);
    let to_pkcs8 = |pem: &str| {
        let path = dir.path().join("convert.pem");
        std::fs::write(&path, pem).unwrap();
        openssl(&["pkey", "-in", path.to_str().unwrap()])
    };
    assert!(rsa1.contains("BEGIN RSA PRIVATE KEY") && ec1.contains("BEGIN EC PRIVATE KEY"));
    let mut pairs = Vec::new();
    let mut expected = Vec::new();
    for (name, key) in [
        ("rsa.test", &rsa8),
        ("rsa1.test", &rsa1),
        ("ec.test", &ec1),
        ("ed.test", &ed),
    ] {
        let issued = ca.issue_for_key(&[name], &to_pkcs8(key));
        let cert = dir.path().join(format!("{name}.crt"));
        let key_file = dir.path().join(format!("{name}.key"));
        std::fs::write(&cert, &issued.cert_pem).unwrap();
        std::fs::write(&key_file, key).unwrap();
        pairs.push((cert, key_file));
        expected.push((name, issued));
    }
    let chained = ca.intermediate("Keys intermediate").issue(&["chain.test"]);
    let (cert, key) = chained.write(dir.path(), "chain");
    pairs.push((cert, key));
    expected.push(("chain.test", chained));
    let args: Vec<String> = pairs[1..]
        .iter()
        .flat_map(|(c, k)| {
            [
                "--tls-cert".into(),
                c.display().to_string(),
                "--tls-key".into(),
                k.display().to_string(),
            ]
        })
        .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = start(model, &pairs[0].0, &pairs[0].1, &args);
    let config = ca.client_config(&[], None);
    for (name, issued) in expected {
        let stream =
            connect(server.addr, name, config.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
        let served: Vec<Vec<u8>> = stream
            .conn
            .peer_certificates()
            .unwrap()
            .iter()
            .map(|c| c.to_vec())
            .collect();
        use rustls_pki_types::pem::PemObject;
        let chain: Vec<Vec<u8>> =
            rustls::pki_types::CertificateDer::pem_slice_iter(issued.cert_pem.as_bytes())
                .map(|c| c.unwrap().to_vec())
                .collect();
        assert_eq!(served, chain, "{name}");
        let mut c = RawClient::over(stream);
        assert_eq!(c.roundtrip(&get("/")).status, 200, "{name}");
    }
}

/// A client that connects again resumes its session (TLS 1.3 tickets, and
/// TLS 1.2).
fn resumption(model: &str) {
    let site = Site::start(model, &[]);
    for tls12 in [true, false] {
        let mut config = (*site.ca.client_config(&[], None)).clone();
        if tls12 {
            let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
            let mut roots = rustls::RootCertStore::empty();
            use rustls_pki_types::pem::PemObject;
            for c in rustls::pki_types::CertificateDer::pem_slice_iter(site.ca.pem.as_bytes()) {
                roots.add(c.unwrap()).unwrap();
            }
            config = rustls::ClientConfig::builder_with_provider(provider)
                .with_protocol_versions(&[&rustls::version::TLS12])
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth();
        }
        let config = std::sync::Arc::new(config);
        let kinds: Vec<_> = (0..2)
            .map(|_| {
                let mut c = RawClient::over(
                    connect(site.server.addr, "localhost", config.clone()).unwrap(),
                );
                // A full exchange, so that TLS 1.3 tickets (sent after the
                // handshake) reach the client.
                assert_eq!(c.roundtrip(&get("/")).status, 200);
                c.stream.conn.handshake_kind()
            })
            .collect();
        assert_eq!(
            kinds,
            [Some(HandshakeKind::Full), Some(HandshakeKind::Resumed)],
            "TLS 1.2 only: {tls12}"
        );
    }
}

/// With a client CA, a certificate it signed is accepted and reaches the
/// handler; no certificate, or one from another CA, is refused.
fn client_certificates(model: &str) {
    let ca = TestCa::new("Client CA");
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = ca.issue(&["localhost"]).write(dir.path(), "site");
    let ca_file = dir.path().join("client-ca.pem");
    std::fs::write(&ca_file, &ca.pem).unwrap();
    let server = start(
        model,
        &cert,
        &key,
        &["--tls-client-ca", ca_file.to_str().unwrap()],
    );

    let good = ca.client("alice");
    let mut c = RawClient::over(
        connect(server.addr, "localhost", ca.client_config(&[], Some(&good))).unwrap(),
    );
    let r = c.roundtrip(&get("/tls"));
    assert_eq!(r.status, 200);
    assert!(String::from_utf8_lossy(&r.body).contains("client_certs=1\n"));

    let foreign = TestCa::new("Other CA").client("mallory");
    for cert in [None, Some(&foreign)] {
        // TLS 1.3: the client's side of the handshake ends before the server
        // has checked the certificate; the refusal arrives as an alert.
        let refused = match connect(server.addr, "localhost", ca.client_config(&[], cert)) {
            Err(_) => true,
            Ok(stream) => {
                let mut c = RawClient::over(stream);
                c.send(&get("/"));
                c.read_response().is_err()
            }
        };
        assert!(refused, "client certificate {:?} accepted", cert.is_some());
    }
}

/// A client that opens TCP and stalls the handshake is cut when the
/// handshake timeout passes; others are served meanwhile.
fn handshake_timeout(model: &str) {
    let site = Site::start(model, &["--tls-handshake-ms", "700"]);
    let started = Instant::now();
    let mut stalled = TcpStream::connect(site.server.addr).unwrap();
    // Half a ClientHello record header.
    stalled.write_all(&[0x16, 0x03]).unwrap();
    if model != "iterative" {
        // One connection at a time is all `iterative` does.
        assert_eq!(site.client().roundtrip(&get("/")).status, 200);
    }
    let mut stalled = RawClient::from_stream(stalled);
    assert!(stalled.closed_within(Duration::from_secs(5)));
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(600), "cut after {took:?}");
    assert_eq!(site.client().roundtrip(&get("/")).status, 200);
}

/// Replace the certificate on disk: the next handshake gets the new one
/// while a connection opened before keeps working; a broken replacement is
/// refused with a log line and the certificate in use is kept.
fn reload(model: &str) {
    let site = Site::start(model, &[]);
    let leaf = |c: &TlsStream| c.conn.peer_certificates().unwrap()[0].to_vec();
    let mut old = site.client();
    let old_leaf = leaf(&old.stream);
    assert_eq!(old.roundtrip(&get("/")).status, 200);

    // An atomic replacement, as a certificate renewal does it.
    let replace = |issued: &Issued| {
        let (c, k) = issued.write(site.dir.path(), "next");
        std::fs::rename(c, &site.cert).unwrap();
        std::fs::rename(k, &site.key).unwrap();
    };
    let renewed = site.ca.issue(&["localhost", "127.0.0.1"]);
    replace(&renewed);
    assert!(site
        .server
        .wait_for_line("tls: reloaded", Duration::from_secs(10)));
    let config = site.ca.client_config(&[], None);
    let new_leaf = leaf(&connect(site.server.addr, "localhost", config.clone()).unwrap());
    assert_ne!(new_leaf, old_leaf);
    // The connection opened before goes on, with its certificate.
    assert_eq!(old.roundtrip(&get("/whoami")).status, 200);
    assert_eq!(leaf(&old.stream), old_leaf);

    // A key that does not match the certificate.
    let other = site.ca.issue(&["localhost"]);
    std::fs::write(&site.key, &other.key_pem).unwrap();
    assert!(site
        .server
        .wait_for_line("reload refused", Duration::from_secs(10)));
    let still = leaf(&connect(site.server.addr, "localhost", config.clone()).unwrap());
    assert_eq!(still, new_leaf);
    // Garbage in the certificate file.
    std::fs::write(&site.cert, "not a certificate").unwrap();
    assert!(site
        .server
        .wait_for_line("reload refused", Duration::from_secs(10)));
    let still = leaf(&connect(site.server.addr, "localhost", config).unwrap());
    assert_eq!(still, new_leaf);
}

macro_rules! per_model {
    ($($model:ident),*) => {$(
        mod $model {
            fn m() -> &'static str { stringify!($model) }
            #[test] fn curl_over_tls() { super::curl_over_tls(m()) }
            #[test] fn pipelining_over_tls() { super::pipelining_over_tls(m()) }
            #[test] fn connection_ends() { super::connection_ends(m()) }
            #[test] fn plain_http_gets_400() { super::plain_http_gets_400(m()) }
            #[test] fn protocol_versions() { super::protocol_versions(m()) }
            #[test] fn sni_chooses_the_certificate() { super::sni_chooses_the_certificate(m()) }
            #[test] fn resumption() { super::resumption(m()) }
            #[test] fn key_types_and_chains() { super::key_types_and_chains(m()) }
            #[test] fn client_certificates() { super::client_certificates(m()) }
            #[test] fn handshake_timeout() { super::handshake_timeout(m()) }
        }
    )*};
}

per_model!(iterative, fork, threads, epoll, reactor);

// A connection held open while new handshakes happen needs a model that
// serves more than one connection at a time.
mod concurrent {
    macro_rules! concurrent_models {
        ($($model:ident),*) => {$(
            mod $model {
                #[test] fn reload() { super::super::reload(stringify!($model)) }
            }
        )*};
    }
    concurrent_models!(fork, threads, epoll, reactor);
}
