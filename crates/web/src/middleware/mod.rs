//! The built-in middleware, each in its own module: [`access_log`],
//! [`compress`], [`auth`], [`cors`], [`request_id`], [`security_headers`],
//! [`rate_limit`] and [`timeout`].
//!
//! What a middleware is and how middleware nest: [`Middleware`].

pub mod access_log;
pub mod auth;
pub mod compress;
pub mod cors;
pub mod rate_limit;
pub mod request_id;
pub mod security_headers;
pub mod timeout;

// The composition types live beside `Handler` (see handler.rs); they are
// re-exported here so that `middleware::{Middleware, Next}` keeps working.
pub use crate::handler::{Chain, Middleware, Next, OwnedNext};
