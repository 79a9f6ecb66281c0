//! Handlers: one method, from a request to a reply.
//!
//! A handler answers with a [`Reply`]: a response now, or one that comes later
//! (see [`crate::reply`]). Besides answering, a handler says three things about
//! a request before its body is read ([`Handler::plan`]): whether answering it
//! may block (event loops then run it on a worker pool), how large a body it
//! accepts (the server refuses a larger one with 413 without reading it), and
//! whether it wants the body whole or as it arrives ([`BodyMode`]). A router
//! answers per route, and remembers the route it found for the call.

use std::sync::Arc;

use crate::reply::{IntoReply, Reply};
use crate::{Request, Response};
use osprey_proto::Status;

/// What a handler declares about a request once its head has arrived.
/// Start from `Plan::default()` and set what differs (more fields may come).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Plan {
    /// Run the handler off the event loop (it blocks on disk, locks, sleeps or
    /// other services).
    pub blocking: bool,
    /// The largest body accepted, below the server-wide `max_body`; a larger
    /// one is answered 413 before it is read.
    pub body_limit: Option<u64>,
    /// How the body reaches the handler.
    pub body: BodyMode,
}

/// How a handler receives the request body.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BodyMode {
    /// Gathered whole before the handler runs ([`Request::body`],
    /// [`Request::json`], [`Request::form`] ...), within the body limit.
    #[default]
    Whole,
    /// The handler runs as soon as the head is in and pulls the body as it
    /// arrives ([`Request::body_stream`]); see [`streaming`].
    Stream,
}

/// Anything that answers requests. Functions and closures taking
/// `&mut Request` and returning a [`Reply`] or anything
/// [`IntoResponse`](crate::IntoResponse) are handlers — a [`Response`], text,
/// `Json(..)`, or a `Result` of those, so `?` works.
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
/// assert_eq!(hello.respond(&mut Request::new(Method::Get, "/")).body.len_hint(), Some(13));
/// assert_eq!(age.respond(&mut Request::new(Method::Get, "/?n=x")).status.as_u16(), 400);
/// ```
pub trait Handler: Send + Sync + 'static {
    /// Answers one request. The request is mutable so the handler can take its
    /// body without copying.
    fn call(&self, req: &mut Request) -> Reply;

    /// Answers one request and waits for a pending reply: for tests and
    /// direct calls, never on a server's event loop (which the server does
    /// not do: it polls a pending reply instead).
    fn respond(&self, req: &mut Request) -> Response {
        self.call(req).wait()
    }

    /// Whether this handler may block for some request (a router: whether any
    /// route may). Asked once when the server starts: event-loop servers
    /// start a worker pool only if so, and consult [`Handler::plan`] for a
    /// request without a body only then — so a handler whose plan can say
    /// `blocking` must answer true here.
    fn is_blocking(&self) -> bool {
        false
    }

    /// What this handler declares about `req` once its head has arrived (its
    /// body is not read yet). The request is mutable so a router can keep
    /// the route it found for the call that follows.
    fn plan(&self, _req: &mut Request) -> Plan {
        Plan {
            blocking: self.is_blocking(),
            ..Plan::default()
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
    /// let resp = tagged.respond(&mut Request::new(Method::Get, "/"));
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
    R: IntoReply,
{
    #[inline]
    fn call(&self, req: &mut Request) -> Reply {
        self(req).into_reply()
    }
}

/// A handler marked as blocking; see [`blocking`].
pub struct Blocking<H>(pub H);

impl<H: Handler> Handler for Blocking<H> {
    fn call(&self, req: &mut Request) -> Reply {
        self.0.call(req)
    }

    fn is_blocking(&self) -> bool {
        true
    }

    fn plan(&self, req: &mut Request) -> Plan {
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

/// A handler that takes its body as it arrives; see [`streaming`].
pub struct Streaming<H>(pub H);

/// Calls `handler` as soon as the request head is in; it pulls the body with
/// [`Request::body_stream`] — asynchronously in a pending reply, or with
/// `std::io::Read` when it is also [`blocking`] (it then runs on a worker
/// thread in every model, since the connection's own thread keeps feeding
/// the body). The server reads the socket only while the body's buffer has
/// room, so an upload costs the buffer, not its size.
///
/// ```
/// use osprey_web::{streaming, BodyMode, Handler, Method, Reply, Request, Response};
/// let count = streaming(|req: &mut Request| {
///     let mut body = req.body_stream().expect("a streamed body");
///     Reply::pending(async move {
///         let mut n = 0;
///         while let Some(Ok(piece)) = body.chunk().await {
///             n += piece.len();
///         }
///         Response::text(format!("{n} bytes"))
///     })
/// });
/// assert_eq!(count.plan(&mut Request::new(Method::Post, "/")).body, BodyMode::Stream);
/// ```
pub fn streaming<H: Handler>(handler: H) -> Streaming<H> {
    Streaming(handler)
}

impl<H: Handler> Handler for Streaming<H> {
    fn call(&self, req: &mut Request) -> Reply {
        self.0.call(req)
    }

    fn is_blocking(&self) -> bool {
        self.0.is_blocking()
    }

    fn plan(&self, req: &mut Request) -> Plan {
        Plan {
            body: BodyMode::Stream,
            ..self.0.plan(req)
        }
    }
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
/// assert_eq!(upload.plan(&mut big).body_limit, Some(4));
/// assert_eq!(upload.respond(&mut big).status.as_u16(), 413);
/// ```
pub fn body_limit<H: Handler>(limit: u64, handler: H) -> BodyLimit<H> {
    BodyLimit {
        limit,
        inner: handler,
    }
}

impl<H: Handler> Handler for BodyLimit<H> {
    fn call(&self, req: &mut Request) -> Reply {
        // The server enforces the limit before reading; this covers direct calls.
        if req.body().len() as u64 > self.limit {
            return Response::status_text(Status::CONTENT_TOO_LARGE).into();
        }
        self.inner.call(req)
    }

    fn is_blocking(&self) -> bool {
        self.inner.is_blocking()
    }

    fn plan(&self, req: &mut Request) -> Plan {
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
/// `Fn(&mut Request, Next<'_>) -> R`, where `R` is a [`Reply`] or anything
/// [`IntoResponse`](crate::IntoResponse), are middleware.
///
/// A middleware is one method taking the request and [`Next`], the rest of the
/// chain. It may change the request before calling `next.run(req)`, change the
/// response after with [`Reply::map`] (which waits for a pending reply's
/// response rather than blocking for it), or answer without calling `next`
/// at all (authentication, rate limits, CORS preflights). Middleware nest like an onion, in the order
/// they were added: the first added sees the request first and the response
/// last. The built-ins are in the `osprey-middleware` crate
/// (`osprey::middleware`).
///
/// ```
/// use osprey_web::{Handler, Method, Middleware, Next, Reply, Request, Response, Router};
///
/// struct Tag(&'static str);
/// impl Middleware for Tag {
///     fn handle(&self, req: &mut Request, next: Next<'_>) -> Reply {
///         let tag = self.0;
///         next.run(req).map(move |resp| {
///             let seen = resp.headers.get("x-seen").map(|v| v.to_str().unwrap().to_string());
///             let value = match seen { Some(s) => format!("{s},{tag}"), None => tag.into() };
///             resp.header("X-Seen", value)
///         })
///     }
/// }
///
/// let app = Router::new()
///     .with(Tag("outer"))
///     .with(Tag("inner"))
///     .get("/", |_: &mut Request| Response::text("hi"));
/// let resp = app.respond(&mut Request::new(Method::Get, "/"));
/// // The inner middleware saw the response first.
/// let seen: Vec<_> = resp.headers.get_all("x-seen").map(|v| v.to_str().unwrap()).collect();
/// assert_eq!(seen, ["inner", "inner,outer"]);
/// ```
pub trait Middleware: Send + Sync + 'static {
    /// Handles `req`, usually by calling `next.run(req)` somewhere inside.
    fn handle(&self, req: &mut Request, next: Next<'_>) -> Reply;

    /// Whether this middleware itself may block (it waits on a clock or a
    /// lock held across requests). Routes behind it then run on the worker
    /// pool of the event-loop models.
    fn is_blocking(&self) -> bool {
        false
    }
}

impl<F, R> Middleware for F
where
    F: Fn(&mut Request, Next<'_>) -> R + Send + Sync + 'static,
    R: IntoReply,
{
    #[inline]
    fn handle(&self, req: &mut Request, next: Next<'_>) -> Reply {
        self(req, next).into_reply()
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
    fn call(&self, req: &mut Request) -> Reply {
        Next {
            chain: self,
            index: 0,
        }
        .run(req)
    }

    fn is_blocking(&self) -> bool {
        self.middleware_blocks() || self.endpoint.is_blocking()
    }

    fn plan(&self, req: &mut Request) -> Plan {
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
    /// Runs the rest of the chain and returns its reply.
    #[inline]
    pub fn run(self, req: &mut Request) -> Reply {
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
    pub fn run(self, req: &mut Request) -> Reply {
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
                    return Response::status_text(Status::FORBIDDEN).into();
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
            chain.respond(&mut Request::new(Method::Get, "/")).status,
            Status::OK
        );
        assert_eq!(
            *log.lock().unwrap(),
            ["a in", "b in", "handler", "b out", "a out"]
        );
        log.lock().unwrap().clear();
        assert_eq!(
            chain
                .respond(&mut Request::new(Method::Get, "/stop"))
                .status,
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
                std::thread::spawn(move || next.run(&mut moved).wait())
                    .join()
                    .unwrap()
            },
        );
        let resp = chain.respond(&mut Request::new(Method::Get, "/there"));
        assert_eq!(resp.body.len_hint(), Some(6));
    }

    #[test]
    fn blocking_middleware_makes_the_chain_blocking() {
        struct Waits;
        impl Middleware for Waits {
            fn handle(&self, req: &mut Request, next: Next<'_>) -> Reply {
                next.run(req)
            }
            fn is_blocking(&self) -> bool {
                true
            }
        }
        let plain = Chain::new(|_: &mut Request| Response::text("x"));
        assert!(!plain.plan(&mut Request::new(Method::Get, "/")).blocking);
        let chain = plain.with(Waits);
        assert!(chain.is_blocking());
        assert!(chain.plan(&mut Request::new(Method::Get, "/")).blocking);
    }
}
