//! Handlers: one method, from a request to a response.
//!
//! Besides answering, a handler can say two things about a request before its
//! body is read ([`Handler::plan`]): whether answering it may block (event
//! loops then run it on a worker pool) and how large a body it accepts (the
//! server refuses a larger one with 413 without reading it). A router answers
//! both per route.

use crate::error::IntoResponse;
use crate::middleware::{Chain, Middleware};
use crate::{Request, Response};
use osprey_proto::Status;

/// What a handler declares about a request once its head has arrived.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Run the handler off the event loop (it blocks on disk, locks, sleeps or
    /// other services).
    pub blocking: bool,
    /// The largest body accepted, below the server-wide `max_body`; a larger
    /// one is answered 413 before it is read.
    pub body_limit: Option<u64>,
}

/// Anything that answers requests. Functions and closures taking
/// `&mut Request` and returning anything [`IntoResponse`] are handlers — a
/// [`Response`], text, `Json(..)`, or a `Result` of those, so `?` works.
///
/// ```
/// use osprey_web::{Error, Handler, Method, Request, Response};
/// fn hello(_: &mut Request) -> Response {
///     Response::text("Hello, World!")
/// }
/// fn age(req: &mut Request) -> Result<String, Error> {
///     let n: u32 = req.query_get("n").and_then(|n| n.parse().ok()).ok_or(Error::bad_request("n?"))?;
///     Ok(format!("{n} years"))
/// }
/// assert_eq!(hello.call(&mut Request::new(Method::Get, "/")).body.len_hint(), Some(13));
/// assert_eq!(age.call(&mut Request::new(Method::Get, "/?n=x")).status.as_u16(), 400);
/// ```
pub trait Handler: Send + Sync + 'static {
    /// Answers one request. The request is mutable so the handler can take its
    /// body without copying.
    fn call(&self, req: &mut Request) -> Response;

    /// Whether this handler may block for some request (a router: whether any
    /// route may). Asked once when the server starts: event-loop servers
    /// start a worker pool only if so, and consult [`Handler::plan`] for a
    /// request without a body only then — so a handler whose plan can say
    /// `blocking` must answer true here.
    fn is_blocking(&self) -> bool {
        false
    }

    /// What this handler declares about `req` once its head has arrived (its
    /// body is not read yet).
    fn plan(&self, _req: &Request) -> Plan {
        Plan {
            blocking: self.is_blocking(),
            body_limit: None,
        }
    }

    /// Wraps this handler in `middleware` (route-level middleware). Several
    /// `with` calls nest in call order: the first is the outermost.
    ///
    /// ```
    /// use osprey_web::{Handler, Method, Next, Request, Response};
    /// let tagged = (|_: &mut Request| Response::text("hi")).with(|req: &mut Request, next: Next<'_>| {
    ///     next.run(req).header("X-Tag", "1")
    /// });
    /// let resp = tagged.call(&mut Request::new(Method::Get, "/"));
    /// assert_eq!(resp.headers.get("x-tag").unwrap().as_bytes(), b"1");
    /// ```
    fn with<M: Middleware>(self, middleware: M) -> Chain
    where
        Self: Sized,
    {
        Chain::new(self).with(middleware)
    }
}

impl<F, R> Handler for F
where
    F: Fn(&mut Request) -> R + Send + Sync + 'static,
    R: IntoResponse,
{
    #[inline]
    fn call(&self, req: &mut Request) -> Response {
        self(req).into_response()
    }
}

/// A handler marked as blocking; see [`blocking`].
pub struct Blocking<H>(pub H);

impl<H: Handler> Handler for Blocking<H> {
    fn call(&self, req: &mut Request) -> Response {
        self.0.call(req)
    }

    fn is_blocking(&self) -> bool {
        true
    }

    fn plan(&self, req: &Request) -> Plan {
        Plan {
            blocking: true,
            ..self.0.plan(req)
        }
    }
}

/// Marks `handler` as blocking: event loops run it on their worker pool.
pub fn blocking<H: Handler>(handler: H) -> Blocking<H> {
    Blocking(handler)
}

/// A handler with a body limit of its own; see [`body_limit`].
pub struct BodyLimit<H> {
    limit: u64,
    inner: H,
}

/// Accepts request bodies of at most `limit` bytes for `handler` (a per-route
/// limit). The server answers a larger body with 413 before reading it; the
/// limit can lower the server-wide `max_body`, not raise it.
///
/// ```
/// use osprey_web::{body_limit, Handler, Method, Request, Response};
/// let upload = body_limit(4, |_: &mut Request| Response::text("stored"));
/// let mut big = Request::new(Method::Post, "/").with_body("12345");
/// assert_eq!(upload.plan(&big).body_limit, Some(4));
/// assert_eq!(upload.call(&mut big).status.as_u16(), 413);
/// ```
pub fn body_limit<H: Handler>(limit: u64, handler: H) -> BodyLimit<H> {
    BodyLimit {
        limit,
        inner: handler,
    }
}

impl<H: Handler> Handler for BodyLimit<H> {
    fn call(&self, req: &mut Request) -> Response {
        // The server enforces the limit before reading; this covers direct calls.
        if req.body().len() as u64 > self.limit {
            return Response::status_text(Status::CONTENT_TOO_LARGE);
        }
        self.inner.call(req)
    }

    fn is_blocking(&self) -> bool {
        self.inner.is_blocking()
    }

    fn plan(&self, req: &Request) -> Plan {
        let inner = self.inner.plan(req);
        Plan {
            body_limit: Some(inner.body_limit.map_or(self.limit, |l| l.min(self.limit))),
            ..inner
        }
    }
}
