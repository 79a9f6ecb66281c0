//! The request a handler receives.
//!
//! The server keeps one `Request` per event-loop thread and refills it for every
//! request, so its buffers are reused: on the keep-alive path a request costs no
//! allocation. Header fields are kept as offsets into a copy of the head bytes.

use std::net::SocketAddr;

use osprey_proto::{HeaderMap, Method, Version};

/// An HTTP request: method, target, header fields, the whole body, the peer.
#[derive(Debug)]
pub struct Request {
    method: Method,
    version: Version,
    /// The raw head bytes; target and fields are ranges of it.
    head: Vec<u8>,
    target: (u32, u32),
    fields: Vec<[u32; 4]>,
    body: Vec<u8>,
    trailers: HeaderMap,
    peer: Option<SocketAddr>,
}

impl Default for Request {
    fn default() -> Request {
        Request {
            method: Method::Get,
            version: Version::Http11,
            head: Vec::new(),
            target: (0, 0),
            fields: Vec::new(),
            body: Vec::new(),
            trailers: HeaderMap::new(),
            peer: None,
        }
    }
}

impl Request {
    /// A request for tests and for calling handlers directly.
    ///
    /// ```
    /// use osprey_web::{Method, Request};
    /// let req = Request::new(Method::Get, "/hello?x=1").with_header("Accept", "text/plain");
    /// assert_eq!(req.path(), "/hello");
    /// assert_eq!(req.query(), Some("x=1"));
    /// assert_eq!(req.header("accept"), Some("text/plain"));
    /// ```
    pub fn new(method: Method, target: &str) -> Request {
        let mut r = Request {
            method,
            ..Request::default()
        };
        r.head.extend_from_slice(target.as_bytes());
        r.target = (0, target.len() as u32);
        r
    }

    /// Adds a header field (builder style, for tests).
    pub fn with_header(mut self, name: &str, value: &str) -> Request {
        let n = self.head.len() as u32;
        self.head.extend_from_slice(name.as_bytes());
        let v = self.head.len() as u32;
        self.head.extend_from_slice(value.as_bytes());
        self.fields.push([n, v, v, self.head.len() as u32]);
        self
    }

    /// Sets the body (builder style, for tests).
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Request {
        self.body = body.into();
        self
    }

    /// Refills this request from a parsed head, reusing its buffers. `target`
    /// and `fields` are ranges of `head`. Called by the server.
    #[doc(hidden)]
    pub fn fill(
        &mut self,
        method: Method,
        version: Version,
        head: &[u8],
        target: (u32, u32),
        fields: impl Iterator<Item = [u32; 4]>,
        peer: Option<SocketAddr>,
    ) {
        self.method = method;
        self.version = version;
        self.head.clear();
        self.head.extend_from_slice(head);
        self.target = target;
        self.fields.clear();
        self.fields.extend(fields);
        self.body.clear();
        self.trailers.clear();
        self.peer = peer;
    }

    /// The body buffer, for the server to append to.
    #[doc(hidden)]
    pub fn body_mut(&mut self) -> &mut Vec<u8> {
        &mut self.body
    }

    /// The trailer fields, for the server to set.
    #[doc(hidden)]
    pub fn set_trailers(&mut self, trailers: HeaderMap) {
        self.trailers = trailers;
    }

    /// The method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The protocol version.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The request-target exactly as sent (ASCII: the parser allows nothing else).
    pub fn target(&self) -> &str {
        let (s, e) = self.target;
        std::str::from_utf8(&self.head[s as usize..e as usize]).unwrap_or("")
    }

    /// The path part of the target, before any `?`, not percent-decoded.
    pub fn path(&self) -> &str {
        let t = self.target();
        t.split_once('?').map_or(t, |(p, _)| p)
    }

    /// The query string after `?`, if any.
    pub fn query(&self) -> Option<&str> {
        self.target().split_once('?').map(|(_, q)| q)
    }

    /// The first value of header `name` (case-insensitive) as bytes.
    pub fn header_bytes(&self, name: &str) -> Option<&[u8]> {
        self.headers()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v)
    }

    /// The first value of header `name` as text; `None` if absent or not UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.header_bytes(name)
            .and_then(|v| std::str::from_utf8(v).ok())
    }

    /// Every header field as `(name, value)` bytes, in order.
    pub fn headers(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.fields.iter().map(|&[ns, ne, vs, ve]| {
            (
                &self.head[ns as usize..ne as usize],
                &self.head[vs as usize..ve as usize],
            )
        })
    }

    /// The body, complete.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// Takes the body out without copying.
    pub fn take_body(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.body)
    }

    /// Trailer fields of a chunked body.
    pub fn trailers(&self) -> &HeaderMap {
        &self.trailers
    }

    /// The client's address, when the request came over a socket.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.peer
    }
}
