//! The errors of this crate: a [`ProtocolError`] fails the connection
//! (RFC 6455 §7.1.7) with a close code; a [`SendError`] refuses something the
//! application asked to send.

use std::fmt;

use crate::close::CloseCode;

/// Why we fail the connection: the close code we send (1002 protocol error,
/// 1007 invalid payload, 1009 too big, RFC 6455 §7.4.1) and a short reason,
/// sent as the close frame's reason and meant for the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProtocolError {
    /// The close code.
    pub code: CloseCode,
    /// What was wrong.
    pub reason: &'static str,
}

impl ProtocolError {
    pub(crate) const fn protocol(reason: &'static str) -> ProtocolError {
        ProtocolError {
            code: CloseCode::PROTOCOL_ERROR,
            reason,
        }
    }

    pub(crate) const fn invalid_payload(reason: &'static str) -> ProtocolError {
        ProtocolError {
            code: CloseCode::INVALID_PAYLOAD,
            reason,
        }
    }

    pub(crate) const fn too_big(reason: &'static str) -> ProtocolError {
        ProtocolError {
            code: CloseCode::TOO_BIG,
            reason,
        }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.reason, self.code)
    }
}

impl std::error::Error for ProtocolError {}

/// Why a send was refused. Nothing was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendError {
    /// We sent a close frame (RFC 6455 §5.5.1: no data after it) or the
    /// connection is closed.
    Closed,
    /// A message sent in fragments is still open: finish it first (§5.4:
    /// fragments of different messages are never interleaved).
    MessageInProgress,
    /// The fragment does not continue the open message (text after binary or
    /// the reverse).
    KindMismatch,
    /// A ping or pong payload over 125 bytes (§5.5).
    ControlTooLong,
    /// A close code that may not be sent (§7.4: 1005, 1006, 1015, reserved
    /// or out-of-range codes).
    InvalidCloseCode,
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SendError::Closed => "the connection is closing or closed",
            SendError::MessageInProgress => "a fragmented message is in progress",
            SendError::KindMismatch => "fragment of another message type",
            SendError::ControlTooLong => "control frame payload over 125 bytes",
            SendError::InvalidCloseCode => "close code not allowed on the wire",
        })
    }
}

impl std::error::Error for SendError {}
