//! The opening handshake, server side: RFC 6455 §4.2 over HTTP/1.1 (`GET`
//! with `Upgrade: websocket`, answered `101`) and RFC 8441 over HTTP/2 (an
//! extended `CONNECT` with `:protocol websocket`, answered `200`).
//!
//! [`Handshake::from_http1`] / [`Handshake::from_http2`] read a request's
//! head and either describe the client's offer (subprotocols, extensions,
//! origin) or give a [`Rejection`]: the status and headers to answer with and
//! a short reason. The server then chooses, and
//! [`Handshake::response_headers`] (or [`Handshake::accept`], which also
//! negotiates permessage-deflate and builds the [`crate::WebSocket`]) gives
//! the response.
//!
//! The origin check (§4.2.2 item 4, §10.2) is the caller's: browsers send
//! `Origin` ([`Handshake::origin`]) and a server that relies on cookies or
//! other ambient credentials must compare it with the origins it trusts and
//! answer `403 Forbidden` to the others. This crate cannot know that list,
//! so it accepts any origin.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use osprey_proto::chars::is_token;
use osprey_proto::{HeaderMap, HeaderName, HeaderValue, Method, Status, Version};
use sha1::{Digest, Sha1};

use crate::conn::WebSocket;
use crate::deflate::negotiate;
use crate::extension::{parse_extensions, Extension};
use crate::limits::{Settings, MAX_OFFERS};

/// The GUID appended to the client's key before hashing (RFC 6455 §1.3).
pub const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The one protocol version this crate speaks (RFC 6455 §4.1, §11.6).
pub const VERSION: &str = "13";

/// `Sec-WebSocket-Key` (RFC 6455 §11.3.1).
pub const SEC_WEBSOCKET_KEY: HeaderName = HeaderName::from_static("Sec-WebSocket-Key");
/// `Sec-WebSocket-Accept` (RFC 6455 §11.3.3).
pub const SEC_WEBSOCKET_ACCEPT: HeaderName = HeaderName::from_static("Sec-WebSocket-Accept");
/// `Sec-WebSocket-Version` (RFC 6455 §11.3.5).
pub const SEC_WEBSOCKET_VERSION: HeaderName = HeaderName::from_static("Sec-WebSocket-Version");
/// `Sec-WebSocket-Protocol` (RFC 6455 §11.3.4).
pub const SEC_WEBSOCKET_PROTOCOL: HeaderName = HeaderName::from_static("Sec-WebSocket-Protocol");
/// `Sec-WebSocket-Extensions` (RFC 6455 §11.3.2).
pub const SEC_WEBSOCKET_EXTENSIONS: HeaderName =
    HeaderName::from_static("Sec-WebSocket-Extensions");

/// `Sec-WebSocket-Accept` for a client's `Sec-WebSocket-Key` (RFC 6455 §4.2.2
/// item 5.4): the base64 of the SHA-1 of the key (as sent, trimmed) followed by
/// [`GUID`].
pub fn accept_key(key: &[u8]) -> String {
    let mut h = Sha1::new();
    h.update(key);
    h.update(GUID.as_bytes());
    BASE64.encode(h.finalize())
}

/// A request that is not an acceptable WebSocket handshake, and how to answer
/// it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// 400 Bad Request for a malformed handshake; 426 Upgrade Required for a
    /// missing `Upgrade: websocket` or an unsupported `Sec-WebSocket-Version`
    /// over HTTP/1.1 (over HTTP/2 the latter is 400, as HTTP/2 has no
    /// `Upgrade`).
    pub status: Status,
    /// What was wrong, short, for the response body and the log.
    pub reason: &'static str,
    http2: bool,
}

impl Rejection {
    fn bad(reason: &'static str, http2: bool) -> Rejection {
        Rejection {
            status: Status::BAD_REQUEST,
            reason,
            http2,
        }
    }

    fn version(reason: &'static str, http2: bool) -> Rejection {
        Rejection {
            status: if http2 {
                Status::BAD_REQUEST
            } else {
                Status::UPGRADE_REQUIRED
            },
            reason,
            http2,
        }
    }

    /// The header fields the rejection must carry. A 426 names the protocol
    /// to upgrade to (RFC 9110 §15.5.22: `Upgrade`, with `Connection:
    /// upgrade`, §7.8) and the version we speak (RFC 6455 §4.2.2 item 4:
    /// `Sec-WebSocket-Version: 13`); an HTTP/2 version mismatch carries the
    /// latter alone; other rejections carry nothing.
    pub fn headers(&self) -> HeaderMap {
        let mut h = HeaderMap::new();
        if self.status == Status::UPGRADE_REQUIRED {
            h.append(HeaderName::UPGRADE, HeaderValue::from_static("websocket"));
            h.append(HeaderName::CONNECTION, HeaderValue::from_static("upgrade"));
        }
        if self.status == Status::UPGRADE_REQUIRED || (self.http2 && self.reason == BAD_VERSION) {
            h.append(SEC_WEBSOCKET_VERSION, HeaderValue::from_static(VERSION));
        }
        h
    }
}

const BAD_VERSION: &str = "unsupported Sec-WebSocket-Version (13 expected)";

/// A valid opening handshake: what the client offers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Handshake {
    /// `Sec-WebSocket-Key` as sent (HTTP/1.1 only).
    key: Option<String>,
    protocols: Vec<String>,
    extensions: Vec<Extension>,
    origin: Option<HeaderValue>,
    http2: bool,
}

/// The comma-separated elements of every field line of `name`, trimmed, empty
/// ones skipped (RFC 9110 §5.6.1).
fn list<'a>(headers: &'a HeaderMap, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
    headers
        .get_all(name)
        .flat_map(|v| v.as_bytes().split(|&b| b == b','))
        .map(osprey_proto::chars::trim_ows)
        .filter(|e| !e.is_empty())
}

/// The value of a field that must appear exactly once.
fn single<'a>(headers: &'a HeaderMap, name: &'a str) -> Option<&'a HeaderValue> {
    let mut all = headers.get_all(name);
    let first = all.next()?;
    all.next().is_none().then_some(first)
}

impl Handshake {
    /// Validates an HTTP/1.1 upgrade request (RFC 6455 §4.2.1): `GET`, HTTP/1.1
    /// or later, `Host`, `Upgrade` listing `websocket`, `Connection` listing
    /// `upgrade` (both case-insensitive), one `Sec-WebSocket-Key` that is the
    /// base64 of 16 bytes, `Sec-WebSocket-Version: 13`, and well-formed
    /// `Sec-WebSocket-Protocol` and `Sec-WebSocket-Extensions` lists.
    pub fn from_http1(
        method: &Method,
        version: Version,
        headers: &HeaderMap,
    ) -> Result<Handshake, Rejection> {
        let bad = |r| Rejection::bad(r, false);
        // §4.1 item 2: "The method of the request MUST be GET, and the HTTP
        // version MUST be at least 1.1."
        if *method != Method::Get {
            return Err(bad("a WebSocket handshake is a GET request"));
        }
        if version != Version::Http11 {
            return Err(bad("a WebSocket handshake needs HTTP/1.1"));
        }
        // §4.2.1 item 3: Upgrade containing "websocket", case-insensitively.
        // Without it the request is not a handshake at all: 426 tells the
        // client this resource wants one.
        if !list(headers, "upgrade").any(|p| p.eq_ignore_ascii_case(b"websocket")) {
            return Err(Rejection::version("missing Upgrade: websocket", false));
        }
        // §4.2.1 item 4: Connection containing the "Upgrade" token.
        if !list(headers, "connection").any(|t| t.eq_ignore_ascii_case(b"upgrade")) {
            return Err(bad("missing Connection: upgrade"));
        }
        // §4.2.1 item 2: a Host header (RFC 9112 §3.2 checks it further).
        if !headers.contains("host") {
            return Err(bad("missing Host"));
        }
        // §4.2.1 item 6 / §4.4: the version is checked before the key, so an
        // older client learns which version to retry with.
        check_version(headers, false)?;
        // §4.2.1 item 5: the key is a base64-encoded 16-byte nonce.
        let key = single(headers, "sec-websocket-key")
            .ok_or(bad("missing or repeated Sec-WebSocket-Key"))?;
        match BASE64.decode(key.as_bytes()) {
            Ok(nonce) if nonce.len() == 16 => {}
            _ => return Err(bad("Sec-WebSocket-Key is not 16 bytes in base64")),
        }
        let key = key.to_str().map(str::to_owned);
        let (protocols, extensions) = offers(headers, false)?;
        Ok(Handshake {
            key,
            protocols,
            extensions,
            origin: headers.get("origin").cloned(),
            http2: false,
        })
    }

    /// Validates an HTTP/2 extended CONNECT (RFC 8441 §4, §5): method
    /// `CONNECT`, `:protocol` `websocket` (`protocol` is that pseudo-header's
    /// value, `None` when absent), `sec-websocket-version: 13`, and the same
    /// subprotocol and extension lists as over HTTP/1.1. There is no key and
    /// no accept (§5); the answer is `200`. `:scheme`, `:path` and
    /// `:authority` are the HTTP/2 layer's to check.
    pub fn from_http2(
        method: &Method,
        protocol: Option<&str>,
        headers: &HeaderMap,
    ) -> Result<Handshake, Rejection> {
        let bad = |r| Rejection::bad(r, true);
        if *method != Method::Connect {
            return Err(bad("a WebSocket over HTTP/2 is an extended CONNECT"));
        }
        if !protocol.is_some_and(|p| p.eq_ignore_ascii_case("websocket")) {
            return Err(bad("missing :protocol websocket"));
        }
        check_version(headers, true)?;
        let (protocols, extensions) = offers(headers, true)?;
        Ok(Handshake {
            key: None,
            protocols,
            extensions,
            origin: headers.get("origin").cloned(),
            http2: true,
        })
    }

    /// The subprotocols the client offers, in its order of preference
    /// (RFC 6455 §4.2.1 item 8, §11.3.4).
    pub fn protocols(&self) -> &[String] {
        &self.protocols
    }

    /// The extensions the client offers, in its order of preference.
    pub fn extensions(&self) -> &[Extension] {
        &self.extensions
    }

    /// The `Origin` header, for the caller's origin check (see the module
    /// documentation). Absent from non-browser clients.
    pub fn origin(&self) -> Option<&HeaderValue> {
        self.origin.as_ref()
    }

    /// The client's `Sec-WebSocket-Key` (HTTP/1.1 only).
    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// Whether the handshake came over HTTP/2 (RFC 8441).
    pub fn is_http2(&self) -> bool {
        self.http2
    }

    /// The first subprotocol the client offers that is in `supported`, the
    /// usual way to choose one (§4.2.2 item 5.4 leaves the choice to the
    /// server).
    pub fn select_protocol(&self, supported: &[&str]) -> Option<&str> {
        self.protocols
            .iter()
            .map(String::as_str)
            .find(|p| supported.contains(p))
    }

    /// The status of the success response: `101 Switching Protocols` over
    /// HTTP/1.1 (RFC 6455 §4.2.2), `200 OK` over HTTP/2 (RFC 8441 §5).
    pub fn response_status(&self) -> Status {
        if self.http2 {
            Status::OK
        } else {
            Status::SWITCHING_PROTOCOLS
        }
    }

    /// The header fields of the success response (RFC 6455 §4.2.2 item 5):
    /// over HTTP/1.1 `Upgrade: websocket`, `Connection: Upgrade` and
    /// `Sec-WebSocket-Accept`; then `Sec-WebSocket-Protocol` with `protocol`,
    /// which must be one the client offered (another one is not sent: the
    /// client would fail the connection, §4.1), and `Sec-WebSocket-Extensions`
    /// with the accepted `extension`, if any.
    pub fn response_headers(
        &self,
        protocol: Option<&str>,
        extension: Option<&Extension>,
    ) -> HeaderMap {
        let mut h = HeaderMap::with_capacity(5);
        if let Some(key) = &self.key {
            h.append(HeaderName::UPGRADE, HeaderValue::from_static("websocket"));
            h.append(HeaderName::CONNECTION, HeaderValue::from_static("Upgrade"));
            let accept = HeaderValue::try_from(accept_key(key.as_bytes()))
                .expect("base64 is a valid field value");
            h.append(SEC_WEBSOCKET_ACCEPT, accept);
        }
        if let Some(p) = protocol {
            debug_assert!(
                self.protocols.iter().any(|o| o == p),
                "subprotocol {p:?} was not offered"
            );
            if self.protocols.iter().any(|o| o == p) {
                if let Ok(v) = HeaderValue::try_from(p) {
                    h.append(SEC_WEBSOCKET_PROTOCOL, v);
                }
            }
        }
        if let Some(e) = extension {
            if let Ok(v) = HeaderValue::try_from(e.to_string()) {
                h.append(SEC_WEBSOCKET_EXTENSIONS, v);
            }
        }
        h
    }
}

/// An accepted handshake: the response to send and the connection machine
/// to run once it is sent.
#[derive(Debug)]
pub struct Accepted {
    /// `101 Switching Protocols` (HTTP/1.1) or `200 OK` (HTTP/2).
    pub status: Status,
    /// The response's header fields.
    pub headers: HeaderMap,
    /// The connection, with permessage-deflate if it was negotiated.
    pub socket: WebSocket,
}

impl Handshake {
    /// Accepts the handshake: negotiates permessage-deflate within
    /// `settings.deflate` ([`crate::deflate::negotiate`]), answers with
    /// `protocol` (which must be one the client offered, see
    /// [`Handshake::select_protocol`]), and builds the machine. The caller
    /// has done its origin check.
    pub fn accept(&self, settings: &Settings, protocol: Option<&str>) -> Accepted {
        let deflate = negotiate(&self.extensions, &settings.deflate);
        let ext = deflate.map(|d| d.response());
        Accepted {
            status: self.response_status(),
            headers: self.response_headers(protocol, ext.as_ref()),
            socket: WebSocket::with_deflate(*settings, deflate),
        }
    }
}

/// `Sec-WebSocket-Version`: once, exactly `13` (RFC 6455 §4.2.1 item 6). A
/// missing or other version is answered with the version we speak (§4.4).
fn check_version(headers: &HeaderMap, http2: bool) -> Result<(), Rejection> {
    match single(headers, "sec-websocket-version") {
        Some(v) if v.as_bytes() == VERSION.as_bytes() => Ok(()),
        _ => Err(Rejection::version(BAD_VERSION, http2)),
    }
}

/// The offered subprotocols (a list of tokens, §4.1) and extensions (§9.1).
fn offers(headers: &HeaderMap, http2: bool) -> Result<(Vec<String>, Vec<Extension>), Rejection> {
    let bad = |r| Rejection::bad(r, http2);
    let mut protocols = Vec::new();
    for p in list(headers, "sec-websocket-protocol") {
        if !is_token(p) {
            return Err(bad("malformed Sec-WebSocket-Protocol"));
        }
        if protocols.len() == MAX_OFFERS {
            return Err(bad("too many subprotocols offered"));
        }
        protocols.push(String::from_utf8_lossy(p).into_owned());
    }
    let extensions = parse_extensions(
        headers
            .get_all("sec-websocket-extensions")
            .map(HeaderValue::as_bytes),
    )
    .map_err(|e| bad(e.0))?;
    Ok((protocols, extensions))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(fields: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in fields {
            h.append(
                HeaderName::try_from(*n).unwrap(),
                HeaderValue::try_from(*v).unwrap(),
            );
        }
        h
    }

    const GOOD: &[(&str, &str)] = &[
        ("Host", "server.example.com"),
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("Origin", "http://example.com"),
        ("Sec-WebSocket-Protocol", "chat, superchat"),
        ("Sec-WebSocket-Version", "13"),
    ];

    fn with(replace: &str, value: Option<&str>) -> HeaderMap {
        let mut fields: Vec<(&str, &str)> = GOOD
            .iter()
            .copied()
            .filter(|(n, _)| !n.eq_ignore_ascii_case(replace))
            .collect();
        if let Some(v) = value {
            fields.push((replace, v));
        }
        headers(&fields)
    }

    fn h1(h: &HeaderMap) -> Result<Handshake, Rejection> {
        Handshake::from_http1(&Method::Get, Version::Http11, h)
    }

    #[test]
    fn rfc_accept_example() {
        // RFC 6455 §1.3 (and §4.2.2): the key from the example handshake.
        assert_eq!(
            accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn rfc_example_request() {
        let hs = h1(&headers(GOOD)).unwrap();
        assert_eq!(hs.protocols(), ["chat", "superchat"]);
        assert_eq!(hs.origin().unwrap().as_bytes(), b"http://example.com");
        assert_eq!(hs.select_protocol(&["superchat", "chat"]), Some("chat"));
        assert_eq!(hs.select_protocol(&["other"]), None);
        assert_eq!(hs.response_status(), Status::SWITCHING_PROTOCOLS);
        let r = hs.response_headers(Some("chat"), None);
        let got: Vec<(String, &[u8])> = r
            .iter()
            .map(|(n, v)| (n.as_str().to_owned(), v.as_bytes()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("Upgrade".to_owned(), &b"websocket"[..]),
                ("Connection".to_owned(), b"Upgrade"),
                (
                    "Sec-WebSocket-Accept".to_owned(),
                    b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
                ),
                ("Sec-WebSocket-Protocol".to_owned(), b"chat"),
            ]
        );
    }

    #[test]
    fn tokens_are_case_insensitive_and_listed() {
        let h = with("Upgrade", Some("foo/2, WebSocket"));
        assert!(h1(&h).is_ok());
        let h = with("Connection", Some("keep-alive, UPGRADE"));
        assert!(h1(&h).is_ok());
    }

    #[test]
    fn rejections() {
        let bad = Status::BAD_REQUEST;
        let upgrade = Status::UPGRADE_REQUIRED;
        let cases: Vec<(HeaderMap, Status)> = vec![
            (with("Upgrade", None), upgrade),
            (with("Upgrade", Some("websocket2")), upgrade),
            (with("Connection", None), bad),
            (with("Connection", Some("keep-alive")), bad),
            (with("Host", None), bad),
            (with("Sec-WebSocket-Key", None), bad),
            (
                with("Sec-WebSocket-Key", Some("dGhlIHNhbXBsZSBub25jZQ")),
                bad,
            ),
            (
                with("Sec-WebSocket-Key", Some("AAAAAAAAAAAAAAAAAAAAAAAA")),
                bad,
            ),
            (with("Sec-WebSocket-Key", Some("not base64 at all!")), bad),
            (with("Sec-WebSocket-Version", None), upgrade),
            (with("Sec-WebSocket-Version", Some("8")), upgrade),
            (with("Sec-WebSocket-Version", Some("13, 8")), upgrade),
            (with("Sec-WebSocket-Protocol", Some("a b")), bad),
            (with("Sec-WebSocket-Extensions", Some("x; =")), bad),
        ];
        for (h, status) in cases {
            let r = h1(&h).unwrap_err();
            assert_eq!(r.status, status, "{h:?}: {}", r.reason);
        }
        let mut twice = headers(GOOD);
        twice.append(
            SEC_WEBSOCKET_KEY,
            HeaderValue::from_static("dGhlIHNhbXBsZSBub25jZQ=="),
        );
        assert_eq!(h1(&twice).unwrap_err().status, bad);
        let r = Handshake::from_http1(&Method::Post, Version::Http11, &headers(GOOD)).unwrap_err();
        assert_eq!(r.status, bad);
        let r = Handshake::from_http1(&Method::Get, Version::Http10, &headers(GOOD)).unwrap_err();
        assert_eq!(r.status, bad);
    }

    #[test]
    fn the_426_names_upgrade_and_version() {
        let r = h1(&with("Sec-WebSocket-Version", Some("7"))).unwrap_err();
        let h = r.headers();
        assert_eq!(h.get("upgrade").unwrap().as_bytes(), b"websocket");
        assert_eq!(h.get("connection").unwrap().as_bytes(), b"upgrade");
        assert_eq!(h.get("sec-websocket-version").unwrap().as_bytes(), b"13");
        let r = h1(&with("Host", None)).unwrap_err();
        assert!(r.headers().is_empty());
    }

    #[test]
    fn extensions_are_parsed() {
        let h = with(
            "Sec-WebSocket-Extensions",
            Some("permessage-deflate; client_max_window_bits, x-foo; a=\"b\""),
        );
        let hs = h1(&h).unwrap();
        assert_eq!(hs.extensions().len(), 2);
        assert_eq!(
            hs.extensions()[1],
            Extension::new("x-foo").param("a", Some("b"))
        );
        let ext = Extension::new("permessage-deflate").param("client_max_window_bits", Some("10"));
        let r = hs.response_headers(None, Some(&ext));
        assert_eq!(
            r.get("sec-websocket-extensions").unwrap().as_bytes(),
            b"permessage-deflate; client_max_window_bits=10"
        );
    }

    #[test]
    fn http2_extended_connect() {
        let h = headers(&[
            ("sec-websocket-version", "13"),
            ("sec-websocket-protocol", "chat"),
            ("origin", "https://example.com"),
        ]);
        let hs = Handshake::from_http2(&Method::Connect, Some("websocket"), &h).unwrap();
        assert!(hs.is_http2());
        assert_eq!(hs.key(), None);
        assert_eq!(hs.response_status(), Status::OK);
        let r = hs.response_headers(Some("chat"), None);
        assert_eq!(r.len(), 1);
        assert_eq!(r.get("sec-websocket-protocol").unwrap().as_bytes(), b"chat");

        let bad = |m: &Method, p: Option<&str>, h: &HeaderMap| {
            Handshake::from_http2(m, p, h).unwrap_err()
        };
        assert_eq!(
            bad(&Method::Get, Some("websocket"), &h).status,
            Status::BAD_REQUEST
        );
        assert_eq!(bad(&Method::Connect, None, &h).status, Status::BAD_REQUEST);
        assert_eq!(
            bad(&Method::Connect, Some("h2c"), &h).status,
            Status::BAD_REQUEST
        );
        let old = headers(&[("sec-websocket-version", "8")]);
        let r = bad(&Method::Connect, Some("websocket"), &old);
        assert_eq!(r.status, Status::BAD_REQUEST);
        let rh = r.headers();
        assert_eq!(rh.len(), 1);
        assert_eq!(rh.get("sec-websocket-version").unwrap().as_bytes(), b"13");
    }
}
