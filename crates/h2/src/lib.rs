//! Sans-IO HTTP/2 (RFC 9113) for Osprey: bytes in, events and bytes out.
//!
//! Layering, bottom up: [`frame`] (RFC 9113 §4, §6) encodes and decodes single
//! frames.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod conn;
mod error;
pub mod frame;
pub mod hpack;
pub mod limits;
mod preface;

pub use conn::{Connection, Event, SendError, StreamState, CONNECTION_SPECIFIC, DEFAULT_WINDOW};
pub use error::{Error, ErrorCode};
pub use limits::Config;
pub use preface::{detect_preface, PrefaceMatch, PREFACE};
