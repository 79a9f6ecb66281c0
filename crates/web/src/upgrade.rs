//! Switching protocols: a handler answers `101` and another protocol takes the
//! connection over (RFC 9110 §7.8, §15.2.2).
//!
//! The new protocol is sans-IO like everything the server drives: it gets the
//! bytes the peer sends — starting with any that arrived together with the
//! upgrade request — and appends what it wants to send. The server runs it as
//! one of its protocol machines, under every concurrency model, with the same
//! backpressure and timeouts as HTTP. WebSocket plugs in here too.

use osprey_proto::{HeaderName, HeaderValue, Status};

use crate::{Body, Response};

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
}

impl Response {
    /// `101 Switching Protocols` to `protocol` (the token the client offered
    /// in `Upgrade`), after which `upgraded` has the connection. The server
    /// switches only if the request asked to upgrade (`Connection: upgrade`
    /// and `Upgrade`); otherwise the handler's answer is a 500.
    ///
    /// ```
    /// use osprey_web::{Request, Response, Upgraded};
    /// struct Echo;
    /// impl Upgraded for Echo {
    ///     fn on_data(&mut self, input: &[u8], out: &mut Vec<u8>) -> bool {
    ///         out.extend_from_slice(input);
    ///         true
    ///     }
    /// }
    /// let resp = Response::upgrade("echo", Echo);
    /// assert_eq!(resp.status.as_u16(), 101);
    /// assert_eq!(resp.headers.get("upgrade").unwrap().as_bytes(), b"echo");
    /// ```
    pub fn upgrade(protocol: &str, upgraded: impl Upgraded) -> Response {
        let mut resp = Response::new(Status::SWITCHING_PROTOCOLS);
        if let Ok(value) = HeaderValue::try_from(protocol) {
            resp.headers.insert(HeaderName::UPGRADE, value);
        }
        resp.headers
            .insert(HeaderName::CONNECTION, HeaderValue::from_static("upgrade"));
        resp.body = Body::Upgrade(Box::new(upgraded));
        resp
    }
}
