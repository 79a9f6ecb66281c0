//! HTTP message rules for HTTP/2 (RFC 9113 §8): turning a decoded field block
//! into a request, trailers, or refusing it as malformed; and the fields a
//! response may not carry.
//!
//! A malformed request (§8.1.1) is a stream error of type PROTOCOL_ERROR: the
//! caller resets the stream; the connection goes on.

use bytes::Bytes;
use osprey_proto::chars::TARGET;
use osprey_proto::{HeaderMap, HeaderName, HeaderValue, Method};

use crate::hpack::Field;

/// Fields that belong to one HTTP/1.1 connection and have no meaning in
/// HTTP/2 (§8.2.2): a message carrying one is malformed. `te` is allowed with
/// the value `trailers` only, and is checked apart.
pub const CONNECTION_SPECIFIC: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
];

/// A request's control data and fields, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    pub method: Method,
    pub scheme: Option<String>,
    pub authority: Option<String>,
    pub path: Option<String>,
    pub protocol: Option<String>,
    pub headers: HeaderMap,
    pub content_length: Option<u64>,
}

/// Why a message is malformed, for logs.
pub type Malformed = &'static str;

/// §8.2.1: a field name "MUST NOT contain characters in the ranges 0x00-0x20,
/// 0x41-0x5a, or 0x7f-0xff"; with the token grammar of RFC 9110 that leaves
/// lowercase tokens.
fn regular_name(name: &[u8]) -> Result<HeaderName, Malformed> {
    if name.iter().any(|b| b.is_ascii_uppercase()) {
        return Err("uppercase field name");
    }
    HeaderName::from_bytes(name).map_err(|_| "invalid field name")
}

/// §8.2.1: a value must not contain NUL, CR or LF, nor start or end with
/// whitespace; the shared grammar also refuses other controls.
fn value(v: &Bytes) -> Result<HeaderValue, Malformed> {
    HeaderValue::from_shared(v.clone()).map_err(|_| "invalid field value")
}

/// Checks a regular field against §8.2.2 and returns it typed.
fn regular(f: &Field) -> Result<(HeaderName, HeaderValue), Malformed> {
    let name = regular_name(&f.name)?;
    if CONNECTION_SPECIFIC.iter().any(|c| name.is(c)) {
        return Err("connection-specific field");
    }
    let v = value(&f.value)?;
    // §8.2.2: "The only exception to this is the TE header field, which MAY be
    // present in an HTTP/2 request; when it is, it MUST NOT contain any value
    // other than "trailers"."
    if name.is("te") && !v.as_bytes().eq_ignore_ascii_case(b"trailers") {
        return Err("te other than trailers");
    }
    Ok((name, v))
}

fn text(v: &Bytes, ok: impl Fn(u8) -> bool, what: Malformed) -> Result<String, Malformed> {
    if v.is_empty() || !v.iter().all(|&b| ok(b)) {
        return Err(what);
    }
    // Checked ASCII above.
    String::from_utf8(v.to_vec()).map_err(|_| what)
}

/// RFC 3986 §3.1: `ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )`.
fn scheme_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.')
}

/// Host and port as an authority may hold them: visible ASCII without the
/// characters that end an authority, and without userinfo (§8.3.1: ":authority
/// MUST NOT include the deprecated userinfo subcomponent").
fn authority_byte(b: u8) -> bool {
    TARGET[b as usize] && !matches!(b, b'@' | b'/' | b'?' | b'#')
}

/// The authority with the scheme's default port removed and in lowercase, so
/// that `Example.com:443` and `example.com` compare equal for https (§8.3.1
/// asks that values be normalised before comparing).
fn normalised_authority(a: &str, scheme: Option<&str>) -> String {
    let default = match scheme {
        Some("https") => Some(":443"),
        Some("http") => Some(":80"),
        _ => None,
    };
    let a = match default {
        Some(p) if a.ends_with(p) => &a[..a.len() - p.len()],
        _ => a,
    };
    a.to_ascii_lowercase()
}

/// Validates a request's field block (§8.3.1, §8.5, RFC 8441 §4).
pub fn request(fields: Vec<Field>, connect_protocol: bool) -> Result<RequestHead, Malformed> {
    let mut method = None;
    let mut scheme = None;
    let mut authority = None;
    let mut path = None;
    let mut protocol = None;
    let mut headers = HeaderMap::with_capacity(fields.len());
    let mut regular_seen = false;
    let mut cookies: Vec<Bytes> = Vec::new();
    let mut host: Option<HeaderValue> = None;
    let mut content_length: Option<u64> = None;

    for f in &fields {
        if f.name.first() == Some(&b':') {
            // §8.3: "All pseudo-header fields MUST appear in a field block
            // before all regular field lines"; none may repeat; unknown ones
            // and response ones (:status) make the request malformed.
            if regular_seen {
                return Err("pseudo-header after a regular field");
            }
            let slot = match &f.name[..] {
                b":method" => &mut method,
                b":scheme" => &mut scheme,
                b":authority" => &mut authority,
                b":path" => &mut path,
                // RFC 8441 §4: only when we sent SETTINGS_ENABLE_CONNECT_PROTOCOL.
                b":protocol" if connect_protocol => &mut protocol,
                _ => return Err("unknown or response pseudo-header"),
            };
            if slot.is_some() {
                return Err("repeated pseudo-header");
            }
            *slot = Some(f.value.clone());
            continue;
        }
        regular_seen = true;
        let (name, v) = regular(f)?;
        if name.is("cookie") {
            // §8.2.3: cookie crumbs are joined with "; " before leaving
            // HTTP/2, so the application sees one Cookie field.
            cookies.push(f.value.clone());
            continue;
        }
        if name.is("host") {
            if host.is_some() {
                return Err("repeated host");
            }
            host = Some(v.clone());
        }
        if name.is("content-length") {
            // Several identical values are one length (RFC 9110 §8.6).
            let n = parse_length(v.as_bytes()).ok_or("invalid content-length")?;
            if content_length.is_some_and(|c| c != n) {
                return Err("conflicting content-length");
            }
            content_length = Some(n);
        }
        headers.append(name, v);
    }
    if !cookies.is_empty() {
        let joined = cookies.join(&b"; "[..]);
        let v = HeaderValue::from_shared(Bytes::from(joined)).map_err(|_| "invalid cookie")?;
        headers.append(HeaderName::from_static("cookie"), v);
    }

    let method = method.ok_or("missing :method")?;
    let method = Method::from_bytes(&method).ok_or("invalid :method")?;
    let scheme = scheme
        .map(|s| text(&s, scheme_byte, "invalid :scheme"))
        .transpose()?;
    let mut authority = authority
        .map(|a| text(&a, authority_byte, "invalid :authority"))
        .transpose()?;
    let path = path
        .map(|p| text(&p, |b| TARGET[b as usize], "invalid :path"))
        .transpose()?;
    let protocol = protocol
        .map(|p| text(&p, |b| TARGET[b as usize], "invalid :protocol"))
        .transpose()?;

    if method == Method::Connect && protocol.is_none() {
        // §8.5: "The :scheme and :path pseudo-header fields MUST be omitted"
        // and ":authority ... contains the host and port to connect to".
        if scheme.is_some() || path.is_some() {
            return Err("CONNECT with :scheme or :path");
        }
        if authority.is_none() {
            return Err("CONNECT without :authority");
        }
    } else {
        if protocol.is_some() && method != Method::Connect {
            // RFC 8441 §4: :protocol only on CONNECT.
            return Err(":protocol on a method other than CONNECT");
        }
        // §8.3.1: every other request carries :method, :scheme and :path.
        let (Some(s), Some(p)) = (&scheme, &path) else {
            return Err("missing :scheme or :path");
        };
        if s == "http" || s == "https" {
            // §8.3.1: not empty; "/"-rooted, or "*" for OPTIONS.
            let asterisk = p == "*" && method == Method::Options;
            if !p.starts_with('/') && !asterisk {
                return Err(":path neither absolute nor * for OPTIONS");
            }
        }
        if protocol.is_some() && authority.is_none() {
            return Err("extended CONNECT without :authority");
        }
    }

    // §8.3.1: a Host that names another entity than :authority makes the
    // request malformed; without :authority, Host is the authority.
    if let Some(h) = &host {
        let h = text(
            &Bytes::copy_from_slice(h.as_bytes()),
            authority_byte,
            "invalid host",
        )?;
        match &authority {
            Some(a) => {
                let s = scheme.as_deref();
                if normalised_authority(a, s) != normalised_authority(&h, s) {
                    return Err("host differs from :authority");
                }
            }
            None => authority = Some(h),
        }
    }

    Ok(RequestHead {
        method,
        scheme,
        authority,
        path,
        protocol,
        headers,
        content_length,
    })
}

/// Validates a trailer section (§8.1: "Trailers MUST NOT include
/// pseudo-header fields").
pub fn trailers(fields: Vec<Field>) -> Result<HeaderMap, Malformed> {
    let mut headers = HeaderMap::with_capacity(fields.len());
    for f in &fields {
        if f.name.first() == Some(&b':') {
            return Err("pseudo-header in trailers");
        }
        let (name, v) = regular(f)?;
        headers.append(name, v);
    }
    Ok(headers)
}

/// A decimal content-length (RFC 9110 §8.6): digits only, no overflow.
fn parse_length(v: &[u8]) -> Option<u64> {
    if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    v.iter().try_fold(0u64, |n, &d| {
        n.checked_mul(10)?.checked_add((d - b'0') as u64)
    })
}

/// Whether a response (or trailer) field may be sent: §8.2.2 forbids the
/// connection-specific fields, and `te` other than `trailers`.
pub fn response_field_allowed(name: &HeaderName, value: &HeaderValue) -> bool {
    if CONNECTION_SPECIFIC.iter().any(|c| name.is(c)) {
        return false;
    }
    !name.is("te") || value.as_bytes().eq_ignore_ascii_case(b"trailers")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(list: &[(&str, &str)]) -> Vec<Field> {
        list.iter()
            .map(|(n, v)| Field {
                name: Bytes::copy_from_slice(n.as_bytes()),
                value: Bytes::copy_from_slice(v.as_bytes()),
                never_indexed: false,
            })
            .collect()
    }

    const GET: &[(&str, &str)] = &[
        (":method", "GET"),
        (":scheme", "https"),
        (":authority", "example.com"),
        (":path", "/a?b"),
    ];

    fn with(extra: &[(&'static str, &'static str)]) -> Vec<Field> {
        let mut v: Vec<(&str, &str)> = GET.to_vec();
        v.extend_from_slice(extra);
        fields(&v)
    }

    #[test]
    fn a_plain_get() {
        let r = request(with(&[("accept", "*/*")]), false).unwrap();
        assert_eq!(r.method, Method::Get);
        assert_eq!(r.scheme.as_deref(), Some("https"));
        assert_eq!(r.authority.as_deref(), Some("example.com"));
        assert_eq!(r.path.as_deref(), Some("/a?b"));
        assert_eq!(r.headers.get("accept").unwrap().as_bytes(), b"*/*");
        assert_eq!(r.content_length, None);
    }

    #[test]
    fn malformed_requests() {
        let cases: &[(&[(&str, &str)], bool)] = &[
            (
                &[
                    (":method", "GET"),
                    (":scheme", "https"),
                    (":path", "/"),
                    (":path", "/"),
                ],
                false,
            ),
            (&[(":method", "GET"), (":scheme", "https")], false),
            (&[(":scheme", "https"), (":path", "/")], false),
            (
                &[
                    (":method", "GET"),
                    (":scheme", "https"),
                    (":path", "/"),
                    (":status", "200"),
                ],
                false,
            ),
            (
                &[
                    (":method", "GET"),
                    (":scheme", "https"),
                    (":path", "/"),
                    (":foo", "x"),
                ],
                false,
            ),
            (
                &[
                    (":method", "GET"),
                    ("a", "b"),
                    (":scheme", "https"),
                    (":path", "/"),
                ],
                false,
            ),
            (
                &[(":method", "GET"), (":scheme", "https"), (":path", "")],
                false,
            ),
            (
                &[(":method", "GET"), (":scheme", "https"), (":path", "*")],
                false,
            ),
            (
                &[(":method", "GET"), (":scheme", "https"), (":path", "a")],
                false,
            ),
            (
                &[(":method", "G T"), (":scheme", "https"), (":path", "/")],
                false,
            ),
            (
                &[
                    (":method", "CONNECT"),
                    (":authority", "a:443"),
                    (":path", "/"),
                ],
                false,
            ),
            (&[(":method", "CONNECT")], false),
            (
                &[
                    (":method", "CONNECT"),
                    (":protocol", "websocket"),
                    (":scheme", "https"),
                    (":path", "/"),
                    (":authority", "a"),
                ],
                false,
            ),
            (
                &[
                    (":method", "GET"),
                    (":protocol", "websocket"),
                    (":scheme", "https"),
                    (":path", "/"),
                    (":authority", "a"),
                ],
                true,
            ),
            (
                &[
                    (":method", "CONNECT"),
                    (":protocol", "websocket"),
                    (":scheme", "https"),
                    (":authority", "a"),
                ],
                true,
            ),
            (
                &[
                    (":method", "GET"),
                    (":scheme", "https"),
                    (":path", "/"),
                    (":authority", "u@a"),
                ],
                false,
            ),
        ];
        for (f, cp) in cases {
            assert!(request(fields(f), *cp).is_err(), "{f:?}");
        }
        let bad_fields: &[(&str, &str)] = &[
            ("Accept", "x"),
            ("connection", "close"),
            ("keep-alive", "1"),
            ("proxy-connection", "x"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "h2c"),
            ("te", "gzip"),
            ("x", " padded"),
            ("x", "a\nb"),
            ("x y", "z"),
            ("content-length", "x"),
            ("host", "other.example"),
        ];
        for f in bad_fields {
            assert!(request(with(&[*f]), false).is_err(), "{f:?}");
        }
        assert!(request(
            with(&[("content-length", "1"), ("content-length", "2")]),
            false
        )
        .is_err());
        assert!(request(
            with(&[("host", "example.com"), ("host", "example.com")]),
            false
        )
        .is_err());
    }

    #[test]
    fn accepted_variants() {
        let r = request(
            with(&[
                ("te", "trailers"),
                ("content-length", "5"),
                ("content-length", "5"),
            ]),
            false,
        )
        .unwrap();
        assert_eq!(r.content_length, Some(5));
        let r = request(
            fields(&[
                (":method", "OPTIONS"),
                (":scheme", "https"),
                (":path", "*"),
                (":authority", "a"),
            ]),
            false,
        )
        .unwrap();
        assert_eq!(r.path.as_deref(), Some("*"));
        let r = request(
            fields(&[(":method", "CONNECT"), (":authority", "a:443")]),
            false,
        )
        .unwrap();
        assert_eq!((r.scheme, r.path), (None, None));
        let r = request(
            fields(&[
                (":method", "CONNECT"),
                (":protocol", "websocket"),
                (":scheme", "https"),
                (":path", "/chat"),
                (":authority", "a"),
            ]),
            true,
        )
        .unwrap();
        assert_eq!(r.protocol.as_deref(), Some("websocket"));
        // Cookies are joined.
        let r = request(
            with(&[("cookie", "a=1"), ("x", "y"), ("cookie", "b=2")]),
            false,
        )
        .unwrap();
        assert_eq!(r.headers.get("cookie").unwrap().as_bytes(), b"a=1; b=2");
    }

    #[test]
    fn host_and_authority() {
        // Same entity after normalisation.
        assert!(request(with(&[("host", "Example.COM:443")]), false).is_ok());
        // Host alone provides the authority.
        let r = request(
            fields(&[
                (":method", "GET"),
                (":scheme", "http"),
                (":path", "/"),
                ("host", "h.example:8080"),
            ]),
            false,
        )
        .unwrap();
        assert_eq!(r.authority.as_deref(), Some("h.example:8080"));
        assert!(request(with(&[("host", "example.com:8443")]), false).is_err());
    }

    #[test]
    fn trailer_rules() {
        assert!(trailers(fields(&[("x-checksum", "abc")])).is_ok());
        assert!(trailers(fields(&[(":status", "200")])).is_err());
        assert!(trailers(fields(&[("Connection", "x")])).is_err());
        assert!(trailers(fields(&[("transfer-encoding", "x")])).is_err());
    }

    #[test]
    fn response_fields() {
        let ok = HeaderValue::from_static("x");
        assert!(response_field_allowed(
            &HeaderName::from_static("Content-Type"),
            &ok
        ));
        assert!(!response_field_allowed(
            &HeaderName::from_static("Connection"),
            &ok
        ));
        assert!(!response_field_allowed(
            &HeaderName::from_static("Transfer-Encoding"),
            &ok
        ));
        assert!(!response_field_allowed(&HeaderName::from_static("te"), &ok));
        assert!(response_field_allowed(
            &HeaderName::from_static("te"),
            &HeaderValue::from_static("trailers")
        ));
    }
}
