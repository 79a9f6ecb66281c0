//! The response a handler returns, and builders for the usual kinds: text,
//! HTML, JSON, bytes, files, streams and redirects.

use std::fmt;
use std::path::Path;

use bytes::Bytes;
use osprey_proto::{HeaderMap, HeaderName, HeaderValue, Status};
use serde::Serialize;

use crate::body::Body;
use crate::cookie::Cookie;

/// Status, header fields and body. The server adds `Date`, `Server` and the
/// framing fields (`Content-Length` or `Transfer-Encoding`, `Connection`).
///
/// ```
/// use osprey_web::{Response, Status};
/// let r = Response::text("Hello, World!").header("Cache-Control", "no-store");
/// assert_eq!(r.status, Status::OK);
/// assert_eq!(r.headers.get("content-type").unwrap().as_bytes(), b"text/plain; charset=utf-8");
/// assert_eq!(r.headers.get("cache-control").unwrap().as_bytes(), b"no-store");
/// ```
#[derive(Debug)]
pub struct Response {
    /// The status code.
    pub status: Status,
    /// Header fields (validated when built).
    pub headers: HeaderMap,
    /// The body.
    pub body: Body,
}

const TEXT_PLAIN: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");
const TEXT_HTML: HeaderValue = HeaderValue::from_static("text/html; charset=utf-8");
const APPLICATION_JSON: HeaderValue = HeaderValue::from_static("application/json");

impl Response {
    /// An empty response with `status`.
    #[inline]
    pub fn new(status: Status) -> Response {
        Response {
            status,
            headers: HeaderMap::new(),
            body: Body::Empty,
        }
    }

    /// 200 with a `text/plain; charset=utf-8` body. A `&'static str` is not copied.
    #[inline]
    pub fn text(body: impl Into<Bytes>) -> Response {
        Response::bytes(TEXT_PLAIN, body)
    }

    /// 200 with a `text/html; charset=utf-8` body.
    pub fn html(body: impl Into<Bytes>) -> Response {
        Response::bytes(TEXT_HTML, body)
    }

    /// 200 with `value` serialized as `application/json`. A value that cannot
    /// be serialized (a map with non-string keys) is a bug: 500.
    ///
    /// ```
    /// use osprey_web::Response;
    /// let r = Response::json(&serde_json::json!({"id": "42", "name": "alice"}));
    /// assert_eq!(r.body.len_hint(), Some(26)); // {"id":"42","name":"alice"}
    /// ```
    pub fn json<T: Serialize + ?Sized>(value: &T) -> Response {
        match serde_json::to_vec(value) {
            Ok(body) => Response::bytes(APPLICATION_JSON, body),
            Err(_) => Response::status_text(Status::INTERNAL_SERVER_ERROR),
        }
    }

    /// `status` with its reason phrase as a text body: the usual error reply.
    #[inline]
    pub fn status_text(status: Status) -> Response {
        let mut r = Response::text(status.reason_line());
        r.status = status;
        r
    }

    /// 200 with a body of bytes and the given content type.
    #[inline]
    pub fn bytes(content_type: HeaderValue, body: impl Into<Bytes>) -> Response {
        Response::new(Status::OK)
            .header(HeaderName::CONTENT_TYPE, content_type)
            .body(Body::Bytes(body.into()))
    }

    /// 200 with the file at `path` as body (sent with `sendfile`), its type
    /// guessed from the extension. For serving a directory use
    /// `osprey::StaticFiles` (the osprey-static crate), which adds validators,
    /// ranges and safe paths.
    pub fn file(path: impl AsRef<Path>) -> std::io::Result<Response> {
        let path = path.as_ref();
        let body = Body::file(std::fs::File::open(path)?)?;
        let mime = crate::mime::for_path(path);
        Ok(Response::new(Status::OK)
            .header(HeaderName::CONTENT_TYPE, mime)
            .body(body))
    }

    /// 200 with a streamed body (sent chunked unless the source knows its
    /// length) of the given content type.
    pub fn stream(content_type: HeaderValue, body: Body) -> Response {
        Response::new(Status::OK)
            .header(HeaderName::CONTENT_TYPE, content_type)
            .body(body)
    }

    /// A redirect to `location` with `status` (301, 302, 303, 307 or 308).
    /// 303 turns the client's next request into a GET; 307 and 308 keep the
    /// method and body (RFC 9110 §15.4).
    ///
    /// # Panics
    /// When `status` is not one of those, or `location` holds bytes a header
    /// value may not (CR, LF, NUL).
    pub fn redirect(status: Status, location: &str) -> Response {
        assert!(
            matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308),
            "{status:?} is not a redirect status"
        );
        Response::status_text(status).header(HeaderName::LOCATION, location)
    }

    /// Sets the status (builder style).
    #[inline]
    pub fn with_status(mut self, status: Status) -> Response {
        self.status = status;
        self
    }

    /// Appends a header field (builder style). Names and values are validated,
    /// so a handler cannot inject a CR LF into the head.
    ///
    /// # Panics
    /// When the name is not a token or the value is not a valid field value;
    /// build a [`HeaderValue`] with `try_from` first for untrusted text.
    #[inline]
    pub fn header<N, V>(mut self, name: N, value: V) -> Response
    where
        N: TryInto<HeaderName>,
        N::Error: fmt::Debug,
        V: TryInto<HeaderValue>,
        V::Error: fmt::Debug,
    {
        let name = name.try_into().expect("invalid header name");
        let value = value.try_into().expect("invalid header value");
        self.headers.append(name, value);
        self
    }

    /// Adds a `Set-Cookie` field (builder style).
    ///
    /// # Panics
    /// When the cookie's name or value break RFC 6265 (see [`Cookie::new`]).
    pub fn set_cookie(self, cookie: Cookie) -> Response {
        assert!(cookie.is_valid(), "invalid cookie");
        self.header(HeaderName::SET_COOKIE, cookie.to_string())
    }

    /// Sets the body (builder style).
    #[inline]
    pub fn body(mut self, body: Body) -> Response {
        self.body = body;
        self
    }
}

/// Switching protocols (RFC 9110 §7.8, §15.2.2).
impl Response {
    /// `101 Switching Protocols` to `protocol` (the token the client offered
    /// in `Upgrade`), after which `upgraded` has the connection. The server
    /// switches only if the request asked to upgrade (`Connection: upgrade`
    /// and `Upgrade`); otherwise the handler's answer is a 500.
    ///
    /// ```
    /// use osprey_web::{Request, Response, Upgraded};
    /// struct Echo;
    /// impl Upgraded for Echo {
    ///     fn on_data(&mut self, input: &[u8], out: &mut Vec<u8>) -> bool {
    ///         out.extend_from_slice(input);
    ///         true
    ///     }
    /// }
    /// let resp = Response::upgrade("echo", Echo);
    /// assert_eq!(resp.status.as_u16(), 101);
    /// assert_eq!(resp.headers.get("upgrade").unwrap().as_bytes(), b"echo");
    /// ```
    pub fn upgrade(protocol: &str, upgraded: impl crate::upgrade::Upgraded) -> Response {
        let mut resp = Response::new(Status::SWITCHING_PROTOCOLS);
        if let Ok(value) = HeaderValue::try_from(protocol) {
            resp.headers.insert(HeaderName::UPGRADE, value);
        }
        resp.headers
            .insert(HeaderName::CONNECTION, HeaderValue::from_static("upgrade"));
        resp.body = Body::Upgrade(Box::new(upgraded));
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body_bytes(r: &Response) -> &[u8] {
        match &r.body {
            Body::Bytes(b) => b,
            other => panic!("not bytes: {other:?}"),
        }
    }

    #[test]
    fn builders_set_type_and_body() {
        let r = Response::html("<p>hi</p>");
        assert_eq!(
            r.headers.get("content-type").unwrap().as_bytes(),
            b"text/html; charset=utf-8"
        );
        let r = Response::json(&[1, 2, 3]);
        assert_eq!(body_bytes(&r), b"[1,2,3]");
        let r = Response::redirect(Status::SEE_OTHER, "/done?x=1");
        assert_eq!(r.status, Status::SEE_OTHER);
        assert_eq!(r.headers.get("location").unwrap().as_bytes(), b"/done?x=1");
    }

    #[test]
    #[should_panic(expected = "invalid header value")]
    fn header_injection_panics() {
        let _ = Response::text("x").header("X-A", "a\r\nSet-Cookie: evil=1");
    }

    #[test]
    #[should_panic(expected = "not a redirect")]
    fn redirect_needs_redirect_status() {
        let _ = Response::redirect(Status::OK, "/");
    }

    #[test]
    fn set_cookie_appends_fields() {
        let r = Response::text("x")
            .set_cookie(Cookie::new("a", "1"))
            .set_cookie(Cookie::new("b", "2").http_only());
        let all: Vec<_> = r
            .headers
            .get_all("set-cookie")
            .map(|v| v.as_bytes())
            .collect();
        assert_eq!(all, [&b"a=1"[..], b"b=2; HttpOnly"]);
    }

    #[test]
    fn file_guesses_type() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("page.html");
        std::fs::write(&path, "<h1>x</h1>").unwrap();
        let r = Response::file(&path).unwrap();
        assert_eq!(
            r.headers.get("content-type").unwrap().as_bytes(),
            b"text/html; charset=utf-8"
        );
        assert_eq!(r.body.len_hint(), Some(10));
        assert!(Response::file(dir.path().join("missing")).is_err());
    }
}
