//! Handlers: one method, from a request to a response.
//!
//! Besides answering, a handler can say two things about a request before its
//! body is read ([`Handler::plan`]): whether answering it may block (event
//! loops then run it on a worker pool) and how large a body it accepts (the
//! server refuses a larger one with 413 without reading it). A router answers
//! both per route.

use std::sync::Arc;

use crate::error::IntoResponse;
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

// Composition: middleware around handlers. `Handler::with` returns a `Chain`,
// a `Chain` is a `Handler`, and a `Middleware` is given `Next`, a cursor into
// a `Chain`: the four types refer to one another, so they live in one module
// and the modules above (router, the built-in middleware) use them without a
// cycle.

/// Code that runs around a handler. Closures of type
/// `Fn(&mut Request, Next<'_>) -> Response` are middleware.
///
/// A middleware is one method taking the request and [`Next`], the rest of the
/// chain. It may change the request before calling `next.run(req)`, change the
/// response after, or answer without calling `next` at all (authentication,
/// rate limits, CORS preflights). Middleware nest like an onion, in the order
/// they were added: the first added sees the request first and the response
/// last. The built-ins are in the `osprey-middleware` crate
/// (`osprey::middleware`).
///
/// ```
/// use osprey_web::{Handler, Method, Middleware, Next, Request, Response, Router};
///
/// struct Tag(&'static str);
/// impl Middleware for Tag {
///     fn handle(&self, req: &mut Request, next: Next<'_>) -> Response {
///         let resp = next.run(req);
///         let seen = resp.headers.get("x-seen").map(|v| v.to_str().unwrap().to_string());
///         let value = match seen { Some(s) => format!("{s},{}", self.0), None => self.0.into() };
///         resp.header("X-Seen", value)
///     }
/// }
///
/// let app = Router::new()
///     .with(Tag("outer"))
///     .with(Tag("inner"))
///     .get("/", |_: &mut Request| Response::text("hi"));
/// let resp = app.call(&mut Request::new(Method::Get, "/"));
/// // The inner middleware saw the response first.
/// let seen: Vec<_> = resp.headers.get_all("x-seen").map(|v| v.to_str().unwrap()).collect();
/// assert_eq!(seen, ["inner", "inner,outer"]);
/// ```
pub trait Middleware: Send + Sync + 'static {
    /// Handles `req`, usually by calling `next.run(req)` somewhere inside.
    fn handle(&self, req: &mut Request, next: Next<'_>) -> Response;

    /// Whether this middleware itself may block (it waits on a clock or a
    /// lock held across requests). Routes behind it then run on the worker
    /// pool of the event-loop models.
    fn is_blocking(&self) -> bool {
        false
    }
}

impl<F> Middleware for F
where
    F: Fn(&mut Request, Next<'_>) -> Response + Send + Sync + 'static,
{
    #[inline]
    fn handle(&self, req: &mut Request, next: Next<'_>) -> Response {
        self(req, next)
    }
}

/// A handler behind a list of middleware: itself a [`Handler`].
#[derive(Clone)]
pub struct Chain {
    middleware: Arc<[Arc<dyn Middleware>]>,
    endpoint: Arc<dyn Handler>,
}

impl Chain {
    /// `handler` with no middleware yet.
    pub fn new(handler: impl Handler) -> Chain {
        Chain::from_parts(Vec::new(), Arc::new(handler))
    }

    pub(crate) fn from_parts(
        middleware: Vec<Arc<dyn Middleware>>,
        endpoint: Arc<dyn Handler>,
    ) -> Chain {
        Chain {
            middleware: middleware.into(),
            endpoint,
        }
    }

    /// Adds `middleware` inside the ones already there (nearest the handler).
    pub fn with(self, middleware: impl Middleware) -> Chain {
        self.with_arc(Arc::new(middleware))
    }

    pub(crate) fn with_arc(self, middleware: Arc<dyn Middleware>) -> Chain {
        let mut list = self.middleware.to_vec();
        list.push(middleware);
        Chain::from_parts(list, self.endpoint)
    }

    /// This chain placed inside `outer` middleware (they run first).
    pub(crate) fn within(self, outer: &[Arc<dyn Middleware>]) -> Chain {
        if outer.is_empty() {
            return self;
        }
        let mut list = outer.to_vec();
        list.extend(self.middleware.iter().cloned());
        Chain::from_parts(list, self.endpoint)
    }

    fn middleware_blocks(&self) -> bool {
        self.middleware.iter().any(|m| m.is_blocking())
    }
}

impl Handler for Chain {
    #[inline]
    fn call(&self, req: &mut Request) -> Response {
        Next {
            chain: self,
            index: 0,
        }
        .run(req)
    }

    fn is_blocking(&self) -> bool {
        self.middleware_blocks() || self.endpoint.is_blocking()
    }

    fn plan(&self, req: &Request) -> Plan {
        let plan = self.endpoint.plan(req);
        Plan {
            blocking: plan.blocking || self.middleware_blocks(),
            ..plan
        }
    }
}

/// The rest of a middleware chain, down to the handler.
pub struct Next<'a> {
    chain: &'a Chain,
    index: usize,
}

impl Next<'_> {
    /// Runs the rest of the chain and returns its response.
    #[inline]
    pub fn run(self, req: &mut Request) -> Response {
        match self.chain.middleware.get(self.index) {
            Some(m) => m.handle(
                req,
                Next {
                    chain: self.chain,
                    index: self.index + 1,
                },
            ),
            None => self.chain.endpoint.call(req),
        }
    }

    /// The rest of the chain as an owned value that can move to another
    /// thread (the `timeout` middleware runs it on one).
    pub fn into_owned(self) -> OwnedNext {
        OwnedNext {
            chain: self.chain.clone(),
            index: self.index,
        }
    }
}

/// [`Next`] detached from the borrow of the chain.
pub struct OwnedNext {
    chain: Chain,
    index: usize,
}

impl OwnedNext {
    /// Runs the rest of the chain.
    pub fn run(self, req: &mut Request) -> Response {
        Next {
            chain: &self.chain,
            index: self.index,
        }
        .run(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Method;
    use std::sync::Mutex;

    #[test]
    fn onion_order_and_short_circuit() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mw = |name: &'static str, log: Arc<Mutex<Vec<String>>>| {
            move |req: &mut Request, next: Next<'_>| {
                log.lock().unwrap().push(format!("{name} in"));
                if req.path() == "/stop" && name == "b" {
                    return Response::status_text(Status::FORBIDDEN);
                }
                let r = next.run(req);
                log.lock().unwrap().push(format!("{name} out"));
                r
            }
        };
        let l = log.clone();
        let chain = Chain::new(move |_: &mut Request| {
            l.lock().unwrap().push("handler".into());
            Response::text("ok")
        })
        .with(mw("a", log.clone()))
        .with(mw("b", log.clone()));
        assert_eq!(
            chain.call(&mut Request::new(Method::Get, "/")).status,
            Status::OK
        );
        assert_eq!(
            *log.lock().unwrap(),
            ["a in", "b in", "handler", "b out", "a out"]
        );
        log.lock().unwrap().clear();
        assert_eq!(
            chain.call(&mut Request::new(Method::Get, "/stop")).status,
            Status::FORBIDDEN
        );
        assert_eq!(*log.lock().unwrap(), ["a in", "b in", "a out"]);
    }

    #[test]
    fn owned_next_runs_on_another_thread() {
        let chain = Chain::new(|req: &mut Request| Response::text(req.path().to_string())).with(
            |req: &mut Request, next: Next<'_>| {
                let next = next.into_owned();
                let mut moved = std::mem::take(req);
                std::thread::spawn(move || next.run(&mut moved))
                    .join()
                    .unwrap()
            },
        );
        let resp = chain.call(&mut Request::new(Method::Get, "/there"));
        assert_eq!(resp.body.len_hint(), Some(6));
    }

    #[test]
    fn blocking_middleware_makes_the_chain_blocking() {
        struct Waits;
        impl Middleware for Waits {
            fn handle(&self, req: &mut Request, next: Next<'_>) -> Response {
                next.run(req)
            }
            fn is_blocking(&self) -> bool {
                true
            }
        }
        let plain = Chain::new(|_: &mut Request| Response::text("x"));
        assert!(!plain.plan(&Request::new(Method::Get, "/")).blocking);
        let chain = plain.with(Waits);
        assert!(chain.is_blocking());
        assert!(chain.plan(&Request::new(Method::Get, "/")).blocking);
    }
}
