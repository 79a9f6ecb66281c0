//! Sans-IO WebSocket (RFC 6455) for Osprey.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod close;
pub mod extension;
pub mod frame;
pub mod handshake;
pub mod limits;
pub mod utf8;
