//! Switching protocols: a handler answers `101` and another protocol takes the
//! connection over (RFC 9110 §7.8, §15.2.2).
//!
//! The new protocol is sans-IO like everything the server drives: it gets the
//! bytes the peer sends — starting with any that arrived together with the
//! upgrade request — and appends what it wants to send. The server runs it as
//! one of its protocol machines, under every concurrency model, with the same
//! backpressure and timeouts as HTTP. WebSocket plugs in here too.

/// A byte protocol that takes a connection over after `101 Switching
/// Protocols`.
pub trait Upgraded: Send + 'static {
    /// Bytes from the peer, in order. Append anything to send to `out`.
    /// Return `false` to end the connection once `out` is written.
    fn on_data(&mut self, input: &[u8], out: &mut Vec<u8>) -> bool;

    /// The peer ended its sending side; last words go to `out`, then the
    /// connection closes.
    fn on_eof(&mut self, out: &mut Vec<u8>) {
        let _ = out;
    }

    /// The WebSocket session this is, if it is one
    /// ([`crate::websocket::Upgrade::accept`]): a server with a WebSocket
    /// machine of its own runs it there (pings, timeouts, a send queue)
    /// instead of as bytes. Other protocols keep the default.
    fn take_websocket(&mut self) -> Option<crate::websocket::Session> {
        None
    }
}
