//! The request a handler receives.
//!
//! The server keeps one `Request` per event-loop thread and refills it for every
//! request, so its buffers are reused: on the keep-alive path a request costs no
//! allocation. Header fields are kept as offsets into a copy of the head bytes;
//! the path is percent-decoded once when the request is filled (into a reused
//! buffer, and only when it holds a `%`), and path parameters are ranges of
//! another reused buffer.

use std::any::{Any, TypeId};
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use osprey_proto::{HeaderMap, Method, Status, Version};
use serde::de::DeserializeOwned;

use crate::connection::ConnectionInfo;
use crate::error::Error;
use crate::incoming::RequestBody;
use crate::percent;
use crate::time::Timer;

/// An HTTP request: method, target, header fields, the whole body, the peer,
/// and what routing and middleware attached (parameters, extensions).
#[derive(Debug)]
pub struct Request {
    method: Method,
    version: Version,
    /// The raw head bytes; target and fields are ranges of it.
    head: Vec<u8>,
    target: (u32, u32),
    fields: Vec<[u32; 4]>,
    /// The decoded path when it differs from the raw one.
    decoded_path: String,
    path_state: PathState,
    param_names: Option<Arc<[Box<str>]>>,
    param_text: String,
    param_spans: Vec<(u32, u32)>,
    body: Vec<u8>,
    trailers: HeaderMap,
    /// The authority (absolute-form target, else Host), a range of `head`.
    authority: Option<(u32, u32)>,
    /// The protocol the client asked to switch to, a range of `head`.
    upgrade: Option<(u32, u32)>,
    /// The connection (shared by its requests); tests may set only a peer.
    connection: Option<Arc<ConnectionInfo>>,
    peer: Option<SocketAddr>,
    extensions: Extensions,
    /// The server's timer queue for this connection's thread.
    timer: Option<Timer>,
    /// The body as it arrives, for a handler that streams it.
    body_stream: Option<RequestBody>,
    /// A route match found by the handler's plan, for its call.
    planned: Option<(usize, u32)>,
}

/// Where the parts of a request head are in its bytes (for
/// [`Request::fill`]).
#[doc(hidden)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HeadSpans {
    /// The request-target.
    pub target: (u32, u32),
    /// The authority, when the head names one.
    pub authority: Option<(u32, u32)>,
    /// The `Upgrade` value of a request asking to switch protocols.
    pub upgrade: Option<(u32, u32)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PathState {
    /// The raw path needed no decoding.
    Raw,
    /// `decoded_path` holds the decoded path.
    Decoded,
    /// The path's encoding is invalid (bad escape, not UTF-8, NUL).
    Invalid,
}

impl Default for Request {
    fn default() -> Request {
        Request {
            method: Method::Get,
            version: Version::Http11,
            head: Vec::new(),
            target: (0, 0),
            fields: Vec::new(),
            decoded_path: String::new(),
            path_state: PathState::Raw,
            param_names: None,
            param_text: String::new(),
            param_spans: Vec::new(),
            body: Vec::new(),
            trailers: HeaderMap::new(),
            authority: None,
            upgrade: None,
            connection: None,
            peer: None,
            extensions: Extensions::default(),
            timer: None,
            body_stream: None,
            planned: None,
        }
    }
}

impl Request {
    /// A request for tests and for calling handlers directly.
    ///
    /// ```
    /// use osprey_web::{Method, Request};
    /// let req = Request::new(Method::Get, "/hello%20world?x=1").with_header("Accept", "text/plain");
    /// assert_eq!(req.path(), "/hello world");
    /// assert_eq!(req.raw_path(), "/hello%20world");
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
        r.decode_path();
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

    /// Sets the peer address (builder style, for tests).
    pub fn with_peer(mut self, peer: SocketAddr) -> Request {
        self.peer = Some(peer);
        self
    }

    /// Heap bytes this request keeps for reuse by the next [`Request::fill`]
    /// (head, field table, body, path and parameter text). A server that
    /// pools requests drops one that grew for a large message.
    #[doc(hidden)]
    pub fn reusable_capacity(&self) -> usize {
        self.head.capacity()
            + self.fields.capacity() * std::mem::size_of::<[u32; 4]>()
            + self.decoded_path.capacity()
            + self.param_text.capacity()
            + self.param_spans.capacity() * std::mem::size_of::<(u32, u32)>()
            + self.body.capacity()
    }

    /// Refills this request from a parsed head, reusing its buffers. The
    /// spans and `fields` are ranges of `head`. Called by the server; returns
    /// false when the path's percent-encoding is invalid (the server answers
    /// 400).
    #[doc(hidden)]
    pub fn fill(
        &mut self,
        method: Method,
        version: Version,
        head: &[u8],
        spans: HeadSpans,
        fields: impl Iterator<Item = [u32; 4]>,
        connection: Option<&Arc<ConnectionInfo>>,
    ) -> bool {
        self.method = method;
        self.version = version;
        self.head.clear();
        self.head.extend_from_slice(head);
        self.target = spans.target;
        self.authority = spans.authority;
        self.upgrade = spans.upgrade;
        self.fields.clear();
        self.fields.extend(fields);
        self.clear_params();
        self.body.clear();
        self.trailers.clear();
        if let Some(c) = connection {
            if !self
                .connection
                .as_ref()
                .is_some_and(|mine| Arc::ptr_eq(mine, c))
            {
                self.connection = Some(c.clone());
            }
            self.peer = Some(c.peer);
        } else {
            self.connection = None;
            self.peer = None;
        }
        self.extensions.clear();
        if self.body_stream.is_some() {
            self.body_stream = None;
        }
        self.planned = None;
        self.decode_path()
    }

    fn decode_path(&mut self) -> bool {
        let (s, e) = self.target;
        let raw =
            raw_path_of(std::str::from_utf8(&self.head[s as usize..e as usize]).unwrap_or(""));
        // The path is kept as text either way, so `path()` costs nothing
        // per call (a copy of a short path is cheaper than validating it
        // again each time a router or handler asks).
        self.path_state = match percent::decode(raw, false) {
            Ok(std::borrow::Cow::Borrowed(raw)) => {
                self.decoded_path.clear();
                self.decoded_path.push_str(raw);
                PathState::Raw
            }
            Ok(std::borrow::Cow::Owned(decoded)) => {
                self.decoded_path = decoded;
                PathState::Decoded
            }
            Err(_) => PathState::Invalid,
        };
        self.path_state != PathState::Invalid
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

    /// Forgets the path parameters (the router sets them per match).
    #[doc(hidden)]
    pub fn clear_params(&mut self) {
        self.param_names = None;
        self.param_text.clear();
        self.param_spans.clear();
    }

    /// Sets the path parameters: `names[i]` is the name of the i-th value
    /// pushed with [`Request::push_params`]. Called by the router.
    #[doc(hidden)]
    pub fn set_param_names(&mut self, names: Arc<[Box<str>]>) {
        self.param_names = Some(names);
    }

    /// Appends the path parameters: each span is a byte range of
    /// [`Request::raw_path`], decoded into the request's parameter buffer.
    #[doc(hidden)]
    pub fn push_params(&mut self, spans: impl Iterator<Item = (usize, usize)>) {
        // Field by field, so the head stays borrowed while the text grows.
        let (ts, te) = self.target;
        let target = std::str::from_utf8(&self.head[ts as usize..te as usize]).unwrap_or("");
        let path = raw_path_of(target);
        for (s, e) in spans {
            let start = self.param_text.len() as u32;
            let raw = &path[s..e];
            if !raw.as_bytes().contains(&b'%') {
                self.param_text.push_str(raw);
            } else if let Ok(v) = percent::decode(raw, false) {
                // Decoding cannot fail for a filled request (its path was
                // validated); a failure would leave the value empty.
                self.param_text.push_str(&v);
            }
            self.param_spans.push((start, self.param_text.len() as u32));
        }
    }

    /// A timer on the server's loop (or, outside a server, a shared timer
    /// thread), for waiting inside a pending reply without holding a thread.
    pub fn timer(&self) -> Timer {
        self.timer.clone().unwrap_or_default()
    }

    /// The body as it arrives, for a route that streams it (see
    /// [`crate::streaming`]); taken once. `None` for other routes, whose body
    /// is gathered whole ([`Request::body`]), and for requests without one.
    pub fn body_stream(&mut self) -> Option<RequestBody> {
        self.body_stream.take()
    }

    /// Gives the request its streamed body (the server does, at the head).
    #[doc(hidden)]
    pub fn set_body_stream(&mut self, body: RequestBody) {
        self.body_stream = Some(body);
    }

    /// Keeps a route match from the plan for the call (the router does).
    #[doc(hidden)]
    pub fn set_planned(&mut self, planned: Option<(usize, u32)>) {
        self.planned = planned;
    }

    /// Takes the match kept by [`Request::set_planned`].
    #[doc(hidden)]
    pub fn take_planned(&mut self) -> Option<(usize, u32)> {
        self.planned.take()
    }

    /// Installs the server's timer queue (kept across refills).
    #[doc(hidden)]
    pub fn set_timer(&mut self, timer: Timer) {
        self.timer = Some(timer);
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

    /// The path part of the target, before any `?`, as sent (not decoded).
    /// For an absolute-form target (`http://host/p`, RFC 9112 §3.2.2) it is
    /// the path part (`/p`).
    pub fn raw_path(&self) -> &str {
        raw_path_of(self.target())
    }

    /// The path, percent-decoded once. Empty when the encoding was invalid
    /// (the server answers such requests with 400 before any handler runs).
    #[inline]
    pub fn path(&self) -> &str {
        match self.path_state {
            PathState::Raw | PathState::Decoded => &self.decoded_path,
            PathState::Invalid => "",
        }
    }

    /// Whether the path's percent-encoding is valid (see [`Request::path`]).
    pub fn path_is_valid(&self) -> bool {
        self.path_state != PathState::Invalid
    }

    /// The query string after `?`, if any, as sent.
    pub fn query(&self) -> Option<&str> {
        self.target().split_once('?').map(|(_, q)| q)
    }

    /// The query's decoded `key=value` pairs in order, repeated keys kept
    /// (`application/x-www-form-urlencoded`: `+` is a space). A bad escape
    /// is a 400.
    pub fn query_pairs(&self) -> Result<Vec<(String, String)>, Error> {
        percent::form_pairs(self.query().unwrap_or(""))
            .map_err(|e| Error::bad_request(format!("invalid query: {e}")))
    }

    /// The first decoded value of query parameter `name`; `None` when absent
    /// (or when the query's encoding is invalid).
    ///
    /// ```
    /// use osprey_web::{Method, Request};
    /// let req = Request::new(Method::Get, "/search?q=a+b&tag=x&tag=y");
    /// assert_eq!(req.query_get("q").as_deref(), Some("a b"));
    /// assert_eq!(req.query_all("tag"), ["x", "y"]);
    /// ```
    pub fn query_get(&self, name: &str) -> Option<String> {
        self.query_all(name).into_iter().next()
    }

    /// Every decoded value of query parameter `name`, in order.
    pub fn query_all(&self, name: &str) -> Vec<String> {
        self.query_pairs()
            .unwrap_or_default()
            .into_iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v)
            .collect()
    }

    /// The query deserialized into `T` (serde); 400 when it does not fit.
    pub fn query_as<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_urlencoded::from_str(self.query().unwrap_or(""))
            .map_err(|_| Error::bad_request("the query does not have the expected parameters"))
    }

    /// The value of path parameter `name` (`:name` or `*name` in the route),
    /// percent-decoded.
    ///
    /// ```
    /// use osprey_web::{Method, Request, Response, Router};
    /// let app = Router::new().get("/users/:id", |req: &mut Request| {
    ///     Response::text(format!("user {}", req.param("id").unwrap()))
    /// });
    /// # use osprey_web::Handler;
    /// let resp = app.respond(&mut Request::new(Method::Get, "/users/42"));
    /// assert_eq!(resp.body.len_hint(), Some(7));
    /// ```
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// Every path parameter as `(name, value)`, in route order.
    pub fn params(&self) -> impl Iterator<Item = (&str, &str)> {
        let names = self.param_names.as_deref().unwrap_or(&[]);
        names
            .iter()
            .zip(&self.param_spans)
            .map(|(n, &(s, e))| (&**n, &self.param_text[s as usize..e as usize]))
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

    /// Every value of header `name` that is UTF-8, in order (a field may be
    /// repeated, RFC 9110 §5.3).
    pub fn header_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .filter_map(|(_, v)| std::str::from_utf8(v).ok())
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

    /// The value of cookie `name` from the `Cookie` header(s), as sent.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// Every cookie as `(name, value)`, in order.
    pub fn cookies(&self) -> impl Iterator<Item = (&str, &str)> {
        self.header_all("cookie")
            .flat_map(crate::cookie::parse_pairs)
    }

    /// The media type of the body (`Content-Type` without parameters),
    /// lower-cased.
    pub fn content_type(&self) -> Option<String> {
        let ct = self.header("content-type")?;
        let essence = ct.split(';').next().unwrap_or("").trim();
        (!essence.is_empty()).then(|| essence.to_ascii_lowercase())
    }

    /// The body, complete.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// Takes the body out without copying.
    pub fn take_body(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.body)
    }

    /// The body as UTF-8 text; 400 when it is not.
    pub fn text(&self) -> Result<&str, Error> {
        std::str::from_utf8(&self.body).map_err(|_| Error::bad_request("the body is not UTF-8"))
    }

    /// The body parsed as JSON into `T`. 415 unless the `Content-Type` is
    /// `application/json` (or `…+json`); 400 when it is malformed or does not
    /// fit `T`.
    ///
    /// ```
    /// use osprey_web::{Method, Request, Status};
    /// #[derive(serde::Deserialize)]
    /// struct New { title: String }
    /// let req = Request::new(Method::Post, "/todos")
    ///     .with_header("Content-Type", "application/json")
    ///     .with_body(r#"{"title":"milk"}"#);
    /// assert_eq!(req.json::<New>().unwrap().title, "milk");
    /// let bad = Request::new(Method::Post, "/todos").with_body("{}");
    /// assert_eq!(bad.json::<New>().err().unwrap().status(), Status::UNSUPPORTED_MEDIA_TYPE);
    /// ```
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        match self.content_type() {
            Some(ct) if ct == "application/json" || ct.ends_with("+json") => {}
            _ => {
                return Err(Error::new(
                    Status::UNSUPPORTED_MEDIA_TYPE,
                    "expected Content-Type: application/json",
                ))
            }
        }
        serde_json::from_slice(&self.body).map_err(json_error)
    }

    /// The body as `application/x-www-form-urlencoded` pairs, in order. 415
    /// for another `Content-Type`, 400 for a bad escape.
    pub fn form_pairs(&self) -> Result<Vec<(String, String)>, Error> {
        self.expect_form()?;
        percent::form_pairs(self.text()?)
            .map_err(|e| Error::bad_request(format!("invalid form: {e}")))
    }

    /// The form body deserialized into `T` (serde). 415 for another
    /// `Content-Type`, 400 when it does not fit.
    pub fn form<T: DeserializeOwned>(&self) -> Result<T, Error> {
        self.expect_form()?;
        serde_urlencoded::from_bytes(&self.body)
            .map_err(|_| Error::bad_request("the form does not have the expected fields"))
    }

    fn expect_form(&self) -> Result<(), Error> {
        if self.content_type().as_deref() == Some("application/x-www-form-urlencoded") {
            Ok(())
        } else {
            Err(Error::new(
                Status::UNSUPPORTED_MEDIA_TYPE,
                "expected Content-Type: application/x-www-form-urlencoded",
            ))
        }
    }

    /// Trailer fields of a chunked body.
    pub fn trailers(&self) -> &HeaderMap {
        &self.trailers
    }

    /// The client's address, when the request came over a socket.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.peer
    }

    /// Our address on the connection, when the request came over a socket.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.connection.as_ref().map(|c| c.local)
    }

    /// The connection the request came on: addresses, and what a TLS
    /// handshake settled ([`ConnectionInfo::tls`]).
    pub fn connection(&self) -> Option<&ConnectionInfo> {
        self.connection.as_deref()
    }

    /// The authority the request is for, as sent: the host (and port) of an
    /// absolute-form target (RFC 9112 §3.2.2: it wins over `Host`), else the
    /// `Host` field.
    pub fn authority(&self) -> Option<&str> {
        match self.authority {
            Some((s, e)) => std::str::from_utf8(&self.head[s as usize..e as usize]).ok(),
            None => self.header("host"),
        }
    }

    /// The protocol the client asks to switch to (`Upgrade`, when sent with
    /// `Connection: upgrade` over HTTP/1.1, RFC 9110 §7.8); see
    /// [`Response::upgrade`](crate::Response::upgrade).
    pub fn upgrade(&self) -> Option<&str> {
        let (s, e) = self.upgrade?;
        std::str::from_utf8(&self.head[s as usize..e as usize]).ok()
    }

    /// Values middleware attached to this request (a request id, the
    /// authenticated user), one per type.
    pub fn extensions(&self) -> &Extensions {
        &self.extensions
    }

    /// See [`Request::extensions`].
    pub fn extensions_mut(&mut self) -> &mut Extensions {
        &mut self.extensions
    }
}

/// The path of a request-target: before `?`, and after the authority of an
/// absolute-form target.
fn raw_path_of(target: &str) -> &str {
    // Byte searches: this runs several times per routed request.
    let t = match target.bytes().position(|b| b == b'?') {
        Some(i) => &target[..i],
        None => target,
    };
    if t.starts_with('/') || t == "*" {
        return t;
    }
    match t.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("/", |i| &rest[i..]),
        None => t,
    }
}

/// Describes a serde_json error by kind and position without quoting the
/// input (serde quotes offending values in some messages).
fn json_error(e: serde_json::Error) -> Error {
    use serde_json::error::Category;
    let at = format!("line {} column {}", e.line(), e.column());
    let message = match e.classify() {
        Category::Syntax | Category::Eof => format!("malformed JSON at {at}"),
        Category::Io => "the JSON body could not be read".into(),
        Category::Data => {
            let detail = e.to_string();
            if detail.contains('"') {
                format!("the JSON does not have the expected shape at {at}")
            } else {
                // "missing field `title` at line 1 column 2": names, not data.
                detail
            }
        }
    };
    Error::bad_request(message)
}

/// A small map from type to value, for what middleware attaches to a request.
#[derive(Default)]
pub struct Extensions {
    entries: Vec<(TypeId, Box<dyn Any + Send + Sync>)>,
}

impl Extensions {
    /// Stores `value`, replacing one of the same type; returns the old one.
    pub fn insert<T: Send + Sync + 'static>(&mut self, value: T) -> Option<T> {
        let old = self.remove::<T>();
        self.entries.push((TypeId::of::<T>(), Box::new(value)));
        old
    }

    /// The value of type `T`, if one was stored.
    pub fn get<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.entries
            .iter()
            .find(|(id, _)| *id == TypeId::of::<T>())
            .and_then(|(_, v)| v.downcast_ref())
    }

    /// Takes the value of type `T` out.
    pub fn remove<T: Send + Sync + 'static>(&mut self) -> Option<T> {
        let i = self
            .entries
            .iter()
            .position(|(id, _)| *id == TypeId::of::<T>())?;
        self.entries.swap_remove(i).1.downcast().ok().map(|b| *b)
    }

    fn clear(&mut self) {
        self.entries.clear();
    }
}

impl fmt::Debug for Extensions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Extensions({} values)", self.entries.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_is_decoded_once_and_invalid_paths_are_flagged() {
        let r = Request::new(Method::Get, "/a%2520b");
        assert_eq!(r.path(), "/a%20b");
        for bad in ["/%00", "/%zz", "/%FF", "/a%"] {
            let r = Request::new(Method::Get, bad);
            assert!(!r.path_is_valid(), "{bad}");
            assert_eq!(r.path(), "");
        }
    }

    #[test]
    fn query_helpers() {
        let r = Request::new(Method::Get, "/?a=1&b=%41&a=2");
        assert_eq!(r.query_get("b").as_deref(), Some("A"));
        assert_eq!(r.query_all("a"), ["1", "2"]);
        assert_eq!(r.query_get("zz"), None);
        #[derive(serde::Deserialize)]
        struct Q {
            b: String,
        }
        assert_eq!(r.query_as::<Q>().unwrap().b, "A");
        let bad = Request::new(Method::Get, "/?a=%zz");
        assert_eq!(bad.query_pairs().unwrap_err().status(), Status::BAD_REQUEST);
    }

    #[test]
    fn cookies_across_headers() {
        let r = Request::new(Method::Get, "/")
            .with_header("Cookie", "a=1; b=2")
            .with_header("cookie", "c=3");
        assert_eq!(r.cookie("b"), Some("2"));
        assert_eq!(r.cookie("c"), Some("3"));
        assert_eq!(r.cookies().count(), 3);
    }

    #[test]
    fn body_helpers() {
        #[derive(serde::Deserialize, Debug)]
        struct T {
            #[allow(dead_code)]
            n: u32,
        }
        let json = |ct: &str, body: &str| {
            Request::new(Method::Post, "/")
                .with_header("Content-Type", ct)
                .with_body(body)
                .json::<T>()
        };
        assert!(json("application/json; charset=utf-8", r#"{"n":1}"#).is_ok());
        assert!(json("application/problem+json", r#"{"n":1}"#).is_ok());
        assert_eq!(
            json("text/plain", r#"{"n":1}"#).unwrap_err().status(),
            Status::UNSUPPORTED_MEDIA_TYPE
        );
        let e = json("application/json", r#"{"n":"#).unwrap_err();
        assert_eq!(e.status(), Status::BAD_REQUEST);
        assert!(e.message().starts_with("malformed JSON at line 1"), "{e}");
        let e = json("application/json", r#"{"n":"secret-value"}"#).unwrap_err();
        assert!(!e.message().contains("secret"), "{e}");
        let e = json("application/json", r#"{}"#).unwrap_err();
        assert!(e.message().contains("missing field `n`"), "{e}");

        let form = Request::new(Method::Post, "/")
            .with_header("Content-Type", "application/x-www-form-urlencoded")
            .with_body("n=7&x=a+b");
        assert_eq!(form.form_pairs().unwrap()[1], ("x".into(), "a b".into()));
        #[derive(serde::Deserialize)]
        struct F {
            n: u32,
        }
        assert_eq!(form.form::<F>().unwrap().n, 7);
        let not_form = Request::new(Method::Post, "/").with_body("n=7");
        assert_eq!(
            not_form.form_pairs().unwrap_err().status(),
            Status::UNSUPPORTED_MEDIA_TYPE
        );
        let not_utf8 = Request::new(Method::Post, "/").with_body(vec![0xff]);
        assert_eq!(not_utf8.text().unwrap_err().status(), Status::BAD_REQUEST);
    }

    #[test]
    fn extensions_by_type() {
        let mut r = Request::new(Method::Get, "/");
        assert!(r.extensions().get::<u32>().is_none());
        r.extensions_mut().insert(5u32);
        r.extensions_mut().insert(String::from("x"));
        assert_eq!(r.extensions_mut().insert(6u32), Some(5));
        assert_eq!(r.extensions().get::<u32>(), Some(&6));
        assert_eq!(r.extensions_mut().remove::<String>().as_deref(), Some("x"));
    }
}
