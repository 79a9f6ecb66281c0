//! Osprey's app API: what a handler sees and returns, how handlers compose
//! with middleware, and routing.
//!
//! Nothing here touches a socket. A [`Request`] is filled by the server from the
//! protocol layer; a [`Handler`] turns it into a [`Response`], whose [`Body`] is
//! bytes, a file range (sent with `sendfile` by the runtime) or a stream the server
//! pulls only when the client can take more. A [`Router`] is a handler that
//! dispatches on method and path to other handlers, through [`Middleware`]. The
//! same handler runs unchanged under every concurrency model.
//!
//! The built-in middleware live in `osprey-middleware` and the static-file
//! server in `osprey-static`, both on top of this crate (the `osprey` facade
//! re-exports all three). What both need from here beyond the handler API is
//! public: [`mime`] (content types, what is worth compressing) and [`coding`]
//! (`Accept-Encoding` negotiation) — kept here because `Response::file` needs
//! the one and both upper crates need the other, and neither may depend on
//! its sibling.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

// Module order, lowest first: each module uses only modules listed before it
// (also through the crate root's re-exports): percent, mime, coding, cookie,
// connection, time, upgrade, incoming -> body (upgrade) -> response (body, cookie, mime)
// -> error (response) -> reply (error, response) -> request (error, percent,
// cookie, connection, time, incoming) -> handler (error, reply, request, response; the
// middleware composition lives here too) -> router (handler, percent) ->
// websocket (handler, reply, request, response; upgrade names its session).
mod body;
pub mod coding;
mod connection;
mod cookie;
mod error;
mod handler;
mod incoming;
pub mod mime;
pub mod percent;
mod reply;
mod request;
mod response;
mod router;
mod time;
mod upgrade;
pub mod websocket;

pub use body::{Body, BodySender, BodySource, FileBody, Part, SendError};
pub use connection::{ConnectionInfo, TlsInfo};
pub use cookie::{Cookie, SameSite};
pub use error::{Error, Html, IntoResponse, Json};
pub use handler::{
    blocking, body_limit, streaming, Blocking, BodyLimit, BodyMode, Chain, Handler, Middleware,
    Next, OwnedNext, Plan, Streaming,
};
pub use incoming::{BodyFeeder, RequestBody};
pub use reply::{Cancelled, IntoReply, Reply, Responder};
pub use request::{Extensions, HeadSpans, Request};
pub use response::Response;
pub use router::{RouteError, Router, TrailingSlash};
pub use time::{Sleep, Timer, TimerHeap, TimerQueue};
pub use upgrade::Upgraded;

pub use osprey_proto::{HeaderMap, HeaderName, HeaderValue, Method, Status, Version};
