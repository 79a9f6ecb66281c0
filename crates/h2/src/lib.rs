//! Sans-IO HTTP/2 (RFC 9113) for Osprey: bytes in, events and bytes out.
//!
//! Layering, bottom up: [`frame`] (RFC 9113 §4, §6) encodes and decodes single
//! frames.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
pub mod frame;
pub mod hpack;

pub use error::{Error, ErrorCode};
