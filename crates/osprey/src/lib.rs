//! Osprey: an HTTP server written from raw sockets up, and a small library for
//! web apps. This facade re-exports what an application needs, so it depends on
//! `osprey` alone.
//!
//! ```no_run
//! use osprey::{Json, Request, Response, Router, Server};
//!
//! fn main() -> std::io::Result<()> {
//!     let app = Router::new()
//!         .get("/", |_: &mut Request| Response::text("Hello, World!"))
//!         .get("/users/:id", |req: &mut Request| {
//!             Json(serde_json::json!({ "id": req.param("id"), "name": "alice" }))
//!         });
//!     let server = Server::builder()
//!         .listen("127.0.0.1:8080".parse().unwrap())
//!         .handler(app)
//!         .bind()?;
//!     println!("listening on http://{}", server.local_addrs()[0]);
//!     server.run() // until SIGTERM or SIGINT
//! }
//! ```
//!
//! The pieces: [`Router`] and [`Handler`] (routing, handlers), [`Reply`] (a
//! response now, or later: a future the server polls, waiting on [`Timer`]s or
//! a streamed [`RequestBody`], or another thread's [`Responder`]),
//! [`Middleware`] and the built-ins in [`middleware`], [`StaticFiles`] (a
//! directory), and [`Server`] with its concurrency [`Model`]s. The design
//! notes are in the repository's `docs/` (web.md for this layer).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

/// The built-in middleware (the `osprey-middleware` crate), one module each.
pub use osprey_middleware as middleware;
pub use osprey_server::{config, tls, Config, Model, Server, ServerBuilder, Shutdown};
pub use osprey_server::{TlsBuilder, TlsConfig, TlsError};
/// The static-file server (the `osprey-static` crate): [`StaticFiles`] and its
/// pieces.
pub use osprey_static as static_files;
pub use osprey_static::{CacheConfig, StaticFiles, SymlinkPolicy};
// `BodyFeeder` (the server's end of a streamed request body) stays out.
pub use osprey_web::{
    blocking, body_limit, mime, percent, streaming, Blocking, Body, BodyLimit, BodyMode,
    BodySender, BodySource, Cancelled, Chain, Cookie, Error, Extensions, FileBody, Handler,
    HeaderMap, HeaderName, HeaderValue, Html, IntoReply, IntoResponse, Json, Method, Middleware,
    Next, OwnedNext, Part, Plan, Reply, Request, RequestBody, Responder, Response, RouteError,
    Router, SameSite, SendError, Sleep, Status, Streaming, Timer, TimerHeap, TimerQueue,
    TrailingSlash, Upgraded, Version,
};

/// WebSocket endpoints: `Router::ws`, [`websocket::Upgrade`], the handler
/// and its `Sender` (the `websocket` module of `osprey-web`).
pub use osprey_web::websocket;

/// The sans-IO HTTP/1.1 layer, for those who drive it themselves.
pub use osprey_h1 as h1;
/// Shared protocol types and limits.
pub use osprey_proto as proto;

/// The README's Rust code, compiled as a doctest so that it stays true.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
