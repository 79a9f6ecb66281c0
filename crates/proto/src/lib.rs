//! Shared HTTP vocabulary for every Osprey crate.
//!
//! This is layer 0 of the workspace: plain data types with no I/O. The protocol
//! machines (`osprey-h1`, later WebSocket and HTTP/2), the web layer and the server
//! all speak in these types, so they live apart from any one protocol.
//!
//! - [`Method`], [`Status`], [`Version`]: the request line and status line atoms.
//! - [`HeaderName`], [`HeaderValue`], [`HeaderMap`]: owned, case-insensitive fields.
//!
//! What belongs to one protocol stays in that protocol's crate: HTTP/1.1's error
//! kinds and parser limits are in `osprey-h1`.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod chars;
mod header;
mod method;
mod status;
mod version;

pub use header::{HeaderMap, HeaderName, HeaderValue, InvalidHeader};
pub use method::Method;
pub use status::Status;
pub use version::Version;
