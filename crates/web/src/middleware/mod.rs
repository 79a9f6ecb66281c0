//! Middleware: code that runs around handlers.
//!
//! A middleware is one method taking the request and [`Next`], the rest of the
//! chain. It may change the request before calling `next.run(req)`, change the
//! response after, or answer without calling `next` at all (authentication,
//! rate limits, CORS preflights). Middleware nest like an onion, in the order
//! they were added: the first added sees the request first and the response
//! last.
//!
//! ```
//! use osprey_web::{Handler, Method, Middleware, Next, Request, Response, Router};
//!
//! struct Tag(&'static str);
//! impl Middleware for Tag {
//!     fn handle(&self, req: &mut Request, next: Next<'_>) -> Response {
//!         let resp = next.run(req);
//!         let seen = resp.headers.get("x-seen").map(|v| v.to_str().unwrap().to_string());
//!         let value = match seen { Some(s) => format!("{s},{}", self.0), None => self.0.into() };
//!         resp.header("X-Seen", value)
//!     }
//! }
//!
//! let app = Router::new()
//!     .with(Tag("outer"))
//!     .with(Tag("inner"))
//!     .get("/", |_: &mut Request| Response::text("hi"));
//! let resp = app.call(&mut Request::new(Method::Get, "/"));
//! // The inner middleware saw the response first.
//! let seen: Vec<_> = resp.headers.get_all("x-seen").map(|v| v.to_str().unwrap()).collect();
//! assert_eq!(seen, ["inner", "inner,outer"]);
//! ```
//!
//! Built-ins, each in its own module: [`access_log`], [`compress`], [`auth`],
//! [`cors`], [`request_id`], [`security_headers`], [`rate_limit`] and
//! [`timeout`].

pub mod access_log;
pub mod auth;
pub mod compress;
pub mod cors;
pub mod rate_limit;
pub mod request_id;
pub mod security_headers;
pub mod timeout;

use std::sync::Arc;

use crate::handler::{Handler, Plan};
use crate::{Request, Response};

/// Code that runs around a handler. Closures of type
/// `Fn(&mut Request, Next<'_>) -> Response` are middleware.
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
    /// thread (the [`timeout`] middleware runs it on one).
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
    use crate::{Method, Status};
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
