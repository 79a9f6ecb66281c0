//! Osprey's application layer: what a handler sees and returns, routing and
//! middleware.
//!
//! Nothing here touches a socket. A [`Request`] is filled by the server from the
//! protocol layer; a [`Handler`] turns it into a [`Response`], whose [`Body`] is
//! bytes, a file range (sent with `sendfile` by the runtime) or a stream the server
//! pulls only when the client can take more. A [`Router`] is a handler that
//! dispatches on method and path to other handlers, through [`Middleware`]. The
//! same handler runs unchanged under every concurrency model.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod body;
pub mod coding;
mod cookie;
mod error;
mod handler;
pub mod middleware;
pub mod mime;
pub mod percent;
mod request;
mod response;
mod router;

pub use body::{Body, BodySender, BodySource, FileBody, Part, SendError};
pub use cookie::{Cookie, SameSite};
pub use error::{Error, Html, IntoResponse, Json};
pub use handler::{
    blocking, body_limit, Blocking, BodyLimit, Chain, Handler, Middleware, Next, OwnedNext, Plan,
};
pub use request::{Extensions, Request};
pub use response::Response;
pub use router::{RouteError, Router, TrailingSlash};

pub use osprey_proto::{HeaderMap, HeaderName, HeaderValue, Method, Status, Version};
