//! Shared HTTP vocabulary for every Osprey crate.
//!
//! This is layer 0 of the workspace: plain data types with no I/O. The protocol
//! machines (`osprey-h1`, later WebSocket and HTTP/2), the web layer and the server
//! all speak in these types, so they live apart from any one protocol.
//!
//! - [`Method`], [`Status`], [`Version`]: the request line and status line atoms.
//! - [`HeaderName`], [`HeaderValue`], [`HeaderMap`]: owned, case-insensitive fields.
//! - [`Limits`]: every bound the parsers enforce, with production defaults.
//! - [`ProtoError`]: a protocol violation, carrying the status to answer with.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod chars;
mod error;
mod header;
mod limits;
mod method;
mod status;
mod version;

pub use error::{ErrorKind, Fault, ProtoError};
pub use header::{HeaderMap, HeaderName, HeaderValue, InvalidHeader};
pub use limits::Limits;
pub use method::Method;
pub use status::Status;
pub use version::Version;
