//! Stream states (RFC 9113 §5.1) and what one stream carries: its two flow
//! control windows, and what has been said on it so far.

use super::flow::Window;

/// The state of a stream, as RFC 9113 §5.1 draws it:
///
/// ```text
///                          +--------+
///                  send PP |        | recv PP
///                 ,--------+  idle  +--------.
///                /         |        |         \
///               v          +--------+          v
///        +----------+          |           +----------+
///        |          |          | send H /  |          |
/// ,------+ reserved |          | recv H    | reserved +------.
/// |      | (local)  |          |           | (remote) |      |
/// |      +---+------+          v           +------+---+      |
/// |          |             +--------+             |          |
/// |          |     recv ES |        | send ES     |          |
/// |   send H |     ,-------+  open  +-------.     | recv H   |
/// |          |    /        |        |        \    |          |
/// |          v   v         +---+----+         v   v          |
/// |      +----------+          |           +----------+      |
/// |      |   half-  |          |           |   half-  |      |
/// |      |  closed  |          | send R /  |  closed  |      |
/// |      | (remote) |          | recv R    | (local)  |      |
/// |      +----+-----+          |           +-----+----+      |
/// |           |                |                 |           |
/// |           | send ES /      |       recv ES / |           |
/// |           | send R /       v        send R / |           |
/// |           | recv R     +--------+   recv R   |           |
/// | send R /  `----------->|        |<-----------'  send R / |
/// | recv R                 | closed |               recv R   |
/// `----------------------->|        |<-----------------------'
///                          +--------+
///
///    send:   endpoint sends this frame
///    recv:   endpoint receives this frame
///    H:  HEADERS frame (with implied CONTINUATION frames)
///    ES: END_STREAM flag
///    R:  RST_STREAM frame
///    PP: PUSH_PROMISE frame (with implied CONTINUATION frames)
/// ```
///
/// This server never pushes, so the reserved states are never entered; they
/// are listed so the type matches the RFC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Not yet used.
    Idle,
    /// Promised by this endpoint (push; unused by this server).
    ReservedLocal,
    /// Promised by the peer (a client never pushes).
    ReservedRemote,
    /// Both sides may send.
    Open,
    /// This side has sent END_STREAM; the peer may still send.
    HalfClosedLocal,
    /// The peer has sent END_STREAM; this side may still send.
    HalfClosedRemote,
    /// Done.
    Closed,
}

impl State {
    /// The state after receiving HEADERS that opens the stream.
    pub fn recv_headers(self, end_stream: bool) -> State {
        match (self, end_stream) {
            (State::Idle, false) => State::Open,
            (State::Idle, true) => State::HalfClosedRemote,
            (s, _) => s,
        }
    }

    /// The state after receiving END_STREAM.
    pub fn recv_end_stream(self) -> State {
        match self {
            State::Open => State::HalfClosedRemote,
            State::HalfClosedLocal => State::Closed,
            s => s,
        }
    }

    /// The state after sending END_STREAM.
    pub fn send_end_stream(self) -> State {
        match self {
            State::Open => State::HalfClosedLocal,
            State::HalfClosedRemote => State::Closed,
            s => s,
        }
    }

    /// Whether the peer may still send DATA or trailers.
    pub fn can_recv(self) -> bool {
        matches!(self, State::Open | State::HalfClosedLocal)
    }

    /// Whether this side may still send HEADERS or DATA.
    pub fn can_send(self) -> bool {
        matches!(self, State::Open | State::HalfClosedRemote)
    }
}

/// What the connection keeps for one open or half-closed stream.
#[derive(Debug)]
pub struct Stream {
    pub state: State,
    /// Credit for what we send (RFC 9113 §6.9).
    pub send: Window,
    /// Credit the peer has for what it sends us.
    pub recv: Window,
    /// Octets delivered to the application and not yet released by it.
    pub unreleased: u32,
    /// Octets released and not yet returned to the peer in WINDOW_UPDATE.
    pub release_pending: u32,
    /// The request's content-length, checked against the DATA received
    /// (RFC 9113 §8.1.1).
    pub content_length: Option<u64>,
    /// Content octets received.
    pub received: u64,
    /// A final (non-1xx) response has been sent.
    pub responded: bool,
    /// `send_data` was cut short by flow control: report when credit returns.
    pub blocked: bool,
}

impl Stream {
    pub fn new(state: State, send: i64, recv: i64) -> Stream {
        Stream {
            state,
            send: Window::new(send),
            recv: Window::new(recv),
            unreleased: 0,
            release_pending: 0,
            content_length: None,
            received: 0,
            responded: false,
            blocked: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transitions() {
        let s = State::Idle.recv_headers(false);
        assert_eq!(s, State::Open);
        assert!(s.can_recv() && s.can_send());
        assert_eq!(s.recv_end_stream(), State::HalfClosedRemote);
        assert_eq!(s.send_end_stream(), State::HalfClosedLocal);
        assert_eq!(s.recv_end_stream().send_end_stream(), State::Closed);
        assert_eq!(s.send_end_stream().recv_end_stream(), State::Closed);
        let s = State::Idle.recv_headers(true);
        assert_eq!(s, State::HalfClosedRemote);
        assert!(!s.can_recv() && s.can_send());
        assert!(!State::HalfClosedLocal.can_send());
        assert!(!State::Closed.can_recv());
    }
}
