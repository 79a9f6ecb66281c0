//! Handlers: one method, from a request to a response.

use crate::{Request, Response};

/// Anything that answers requests. Closures and functions of type
/// `Fn(&mut Request) -> Response` are handlers.
///
/// ```
/// use osprey_web::{Handler, Method, Request, Response};
/// let hello = |_: &mut Request| Response::text("Hello, World!");
/// let resp = hello.call(&mut Request::new(Method::Get, "/"));
/// assert_eq!(resp.body.len_hint(), Some(13));
/// ```
pub trait Handler: Send + Sync + 'static {
    /// Answers one request. The request is mutable so the handler can take its
    /// body without copying.
    fn call(&self, req: &mut Request) -> Response;

    /// Whether this handler may block (disk, locks, other services). In the
    /// event-loop models a blocking handler runs on a small worker pool so the
    /// loop keeps serving other connections.
    fn is_blocking(&self) -> bool {
        false
    }
}

impl<F> Handler for F
where
    F: Fn(&mut Request) -> Response + Send + Sync + 'static,
{
    fn call(&self, req: &mut Request) -> Response {
        self(req)
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
}

/// Marks `handler` as blocking: event loops run it on their worker pool.
pub fn blocking<H: Handler>(handler: H) -> Blocking<H> {
    Blocking(handler)
}
