//! Osprey's built-in middleware, each in its own module: [`access_log`],
//! [`compress`], [`auth`], [`cors`], [`request_id`], [`security_headers`],
//! [`rate_limit`], [`timeout`] and [`https_redirect`]. They are plain [`Middleware`] from
//! `osprey-web`, and the `osprey` facade re-exports this crate as
//! `osprey::middleware`.
//!
//! What a middleware is and how middleware nest: [`Middleware`].

#![forbid(unsafe_code)]
#![warn(missing_docs)]

// Module order, lowest first: each module uses only osprey-web and the modules
// listed before it: compress, rate_limit, request_id, security_headers,
// timeout, https_redirect, cors -> auth (cors, to let preflights through) -> access_log (auth,
// for the user name).
pub mod access_log;
pub mod auth;
pub mod compress;
pub mod cors;
pub mod https_redirect;
pub mod rate_limit;
pub mod request_id;
pub mod security_headers;
pub mod timeout;

// The composition types belong to osprey-web (beside `Handler`); re-exported
// so that `osprey::middleware::{Middleware, Next, ...}` keeps working.
pub use osprey_web::{Chain, Middleware, Next, OwnedNext};
