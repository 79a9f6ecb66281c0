//! The response a handler returns.

use bytes::Bytes;
use osprey_proto::{HeaderMap, HeaderName, HeaderValue, Status};

use crate::body::Body;

/// Status, header fields and body. The server adds `Date`, `Server` and the
/// framing fields (`Content-Length` or `Transfer-Encoding`, `Connection`).
///
/// ```
/// use osprey_web::{Response, Status};
/// let r = Response::text("Hello, World!");
/// assert_eq!(r.status, Status::OK);
/// assert_eq!(r.headers.get("content-type").unwrap().as_bytes(), b"text/plain; charset=utf-8");
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
        Response::new(Status::OK)
            .header(HeaderName::CONTENT_TYPE, TEXT_PLAIN)
            .body(Body::Bytes(body.into()))
    }

    /// `status` with its reason phrase as a text body: the usual error reply.
    #[inline]
    pub fn status_text(status: Status) -> Response {
        let mut r = Response::text(format!("{}\n", status.reason()));
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

    /// Sets the status (builder style).
    #[inline]
    pub fn with_status(mut self, status: Status) -> Response {
        self.status = status;
        self
    }

    /// Appends a header field (builder style).
    #[inline]
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Response {
        self.headers.append(name, value);
        self
    }

    /// Sets the body (builder style).
    #[inline]
    pub fn body(mut self, body: Body) -> Response {
        self.body = body;
        self
    }
}
