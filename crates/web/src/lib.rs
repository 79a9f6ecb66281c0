//! Osprey's application layer: what a handler sees and returns.
//!
//! Nothing here touches a socket. A [`Request`] is filled by the server from the
//! protocol layer; a [`Handler`] turns it into a [`Response`], whose [`Body`] is
//! bytes, a file range (sent with `sendfile` by the runtime) or a stream the server
//! pulls only when the client can take more. The same handler runs unchanged under
//! every concurrency model.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod body;
mod handler;
mod request;
mod response;

pub use body::{Body, BodySender, BodySource, FileBody, SendError};
pub use handler::{blocking, Blocking, Handler};
pub use request::Request;
pub use response::Response;

pub use osprey_proto::{HeaderMap, HeaderName, HeaderValue, Method, Status, Version};
