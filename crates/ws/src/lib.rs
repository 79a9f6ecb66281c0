//! Sans-IO WebSocket (RFC 6455) for Osprey.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod close;
mod conn;
pub mod deflate;
mod error;
pub mod extension;
pub mod frame;
pub mod handshake;
pub mod limits;
pub mod utf8;

pub use close::{CloseCode, CloseFrame};
pub use conn::{Event, Fragment, MessageKind, State, WebSocket};
pub use deflate::DeflateParams;
pub use error::{ProtocolError, SendError};
pub use extension::Extension;
pub use handshake::{accept_key, Accepted, Handshake, Rejection};
pub use limits::{DeflateSettings, Settings};
