//! The WebSocket machine: a connection the HTTP/1.1 machine handed over after
//! the `101` of an accepted handshake (`osprey_web::websocket`).
//!
//! It drives the sans-IO `osprey_ws::WebSocket` of the session: the bytes the
//! client sends are fed to it (starting with any that came in the same read
//! as the upgrade request), its events go to the application's handler on
//! this thread, and its output goes out through the driver's output queue.
//! Backpressure: while the output is above the high-water mark nothing is
//! read from the client and nothing is taken from the send queue that other
//! threads fill (`Sender`), so a client that does not read costs the
//! high-water mark plus that bounded queue. The connection's waker, given to
//! the queue, brings the machine back when another thread queues a message.
//!
//! Clocks (the machine has none; the driver's deadline runs them, see
//! [`Ws::deadline`]): a client silent for `ws_ping_interval` is pinged, and
//! one that sends nothing (a pong or anything else) for `ws_pong_timeout`
//! after that is dead: the transport is closed (RFC 6455 §7.1.1: the server
//! closes TCP). After our close frame the client's has `ws_close_timeout` to
//! arrive (§7.1.2). Shutdown ([`Machine::drain`]) closes with 1001 (going
//! away, §7.4.1).

use std::sync::Arc;
use std::time::Instant;

use osprey_web::websocket::{Message, Outbox, Queued, Session};
use osprey_ws::{CloseCode, Event, State};

use super::{AnyMachine, Cx, Expiry, Machine, Next, Pools};
use crate::buffers::Buffers;
use crate::config::Config;

/// A connection speaking WebSocket.
pub(crate) struct Ws {
    session: Session,
    outbox: Arc<Outbox>,
    /// `on_open` was called (on the first `process`, which has a waker).
    opened: bool,
    /// `on_close` was called: it is called once.
    close_told: bool,
    /// The transport is to be closed once the output is written.
    done: bool,
    /// Server shutdown: close with 1001 at the next turn.
    draining: bool,
    /// When the client last sent anything (the ping clock starts here).
    heard: Instant,
    /// When our unanswered ping went out.
    pinged: Option<Instant>,
    /// When our close frame went out (the close timeout starts here).
    closing_since: Option<Instant>,
}

impl Ws {
    pub fn new(session: Session, now: Instant) -> Ws {
        let outbox = session.outbox.clone();
        Ws {
            session,
            outbox,
            opened: false,
            close_told: false,
            done: false,
            draining: false,
            heard: now,
            pinged: None,
            closing_since: None,
        }
    }

    /// Tells the handler the connection is over (once).
    fn tell_close(&mut self, code: Option<CloseCode>, reason: &str) {
        if std::mem::replace(&mut self.close_told, true) {
            return;
        }
        self.outbox.shut();
        self.session.call(|h, _| h.on_close(code, reason));
    }

    /// The application's handler panicked: fail the connection with 1011
    /// (RFC 6455 §7.4.1, an unexpected condition).
    fn handler_failed(&mut self) {
        let _ = self
            .session
            .socket
            .close(CloseCode::INTERNAL_ERROR, "internal error");
        self.tell_close(Some(CloseCode::INTERNAL_ERROR), "handler panicked");
        self.done = true;
    }

    /// Moves the socket's output to the driver's queue.
    fn flush(&mut self, bufs: &mut Buffers) {
        if self.session.socket.has_output() {
            bufs.out.push_shared(self.session.socket.take_output());
        }
    }

    /// Notes that our close frame is out (the client's has a deadline now).
    fn note_closing(&mut self, now: Instant) {
        if self.session.socket.state() == State::Closing && self.closing_since.is_none() {
            self.closing_since = Some(now);
            self.outbox.shut();
        }
    }

    /// Delivers one event to the handler.
    fn deliver(&mut self, event: Event) {
        let ok = match event {
            Event::Text(text) => self
                .session
                .call(|h, conn| h.on_message(conn, Message::Text(text))),
            Event::Binary(data) => self
                .session
                .call(|h, conn| h.on_message(conn, Message::Binary(data))),
            // The pong is already queued (§5.5.2).
            Event::Ping(_) => true,
            Event::Pong(_) => {
                self.pinged = None;
                true
            }
            // Streaming is off in this API: whole messages only.
            Event::Fragment(_) => true,
            Event::Close { code, reason } => {
                self.tell_close(code, &reason);
                true
            }
            Event::Failed(e) => {
                self.tell_close(Some(e.code), e.reason);
                true
            }
        };
        if !ok {
            self.handler_failed();
        }
    }
}

impl Machine for Ws {
    fn process(&mut self, cx: &mut Cx<'_>, bufs: &mut Buffers) -> Next {
        let high_water = cx.config().output_high_water;
        if !self.opened {
            self.opened = true;
            self.outbox.set_waker(cx.waker());
            self.heard = cx.now;
            if !self.session.call(|h, conn| h.on_open(conn)) {
                self.handler_failed();
            }
        }
        if self.draining && self.session.socket.state() == State::Open {
            // §7.4.1: 1001, the server is going away.
            let _ = self
                .session
                .socket
                .close(CloseCode::GOING_AWAY, "server shutting down");
        }
        loop {
            self.note_closing(cx.now);
            self.flush(bufs);
            if self.done {
                // (The handler heard the close already, unless the
                // connection ends without one.)
                self.tell_close(Some(CloseCode::ABNORMAL), "");
                return Next::Close;
            }
            if bufs.out.len() as usize >= high_water {
                // A client that does not read is not fed: neither its input
                // (pongs would pile up) nor the send queue is taken.
                return Next::Write;
            }
            // Events of input taken earlier first: the messages before a
            // close frame, then the close itself (with the client's code).
            if let Some(event) = self.session.socket.poll_event() {
                self.deliver(event);
                continue;
            }
            if self.session.socket.is_closed() {
                // §7.1.1: the close handshake is over (or the connection
                // failed): write what is left, then close TCP.
                self.done = true;
                continue;
            }
            // Messages other threads queued, while the output has room.
            let mut moved = false;
            while (bufs.out.len() as usize + self.session.socket.output().len()) < high_water {
                match self.outbox.pop() {
                    Some(Queued::Message(m)) => {
                        moved = true;
                        let _ = match m {
                            Message::Text(t) => self.session.socket.send_text(&t),
                            Message::Binary(b) => self.session.socket.send_binary(&b),
                        };
                    }
                    Some(Queued::Close(code, reason)) => {
                        moved = true;
                        let _ = self.session.socket.close(code, &reason);
                    }
                    None => break,
                }
            }
            if !bufs.input.is_empty() {
                self.heard = cx.now;
                self.pinged = None;
                self.session.socket.recv(bufs.input.data());
                let n = bufs.input.len();
                bufs.input.consume(n);
                continue;
            }
            if moved {
                continue;
            }
            return Next::Read;
        }
    }

    fn input_ended(&mut self, cx: &mut Cx<'_>, bufs: &mut Buffers) {
        // Events of what came before the FIN first.
        let _ = self.process(cx, bufs);
        // §7.1.5: the transport closed without a close handshake.
        self.tell_close(Some(CloseCode::ABNORMAL), "");
        self.done = true;
    }

    fn deadline(&self, config: &Config) -> Option<(Instant, Expiry)> {
        if self.done {
            return None;
        }
        let at = if let Some(since) = self.closing_since {
            since + config.ws_close_timeout
        } else if let Some(pinged) = self.pinged {
            pinged + config.ws_pong_timeout
        } else {
            self.heard + config.ws_ping_interval
        };
        Some((at, Expiry::Timer))
    }

    fn timed_out(&mut self, cx: &mut Cx<'_>, bufs: &mut Buffers, _: Expiry) {
        let config = cx.config();
        let now = cx.now;
        if self
            .closing_since
            .is_some_and(|t| now >= t + config.ws_close_timeout)
        {
            // The client did not answer our close: close the transport.
            self.tell_close(Some(CloseCode::ABNORMAL), "no close frame from the client");
            self.done = true;
        } else if self
            .pinged
            .is_some_and(|t| now >= t + config.ws_pong_timeout)
        {
            // A dead client (or a dead path to it).
            self.tell_close(Some(CloseCode::ABNORMAL), "no pong from the client");
            self.done = true;
        } else if self.pinged.is_none()
            && self.closing_since.is_none()
            && now >= self.heard + config.ws_ping_interval
        {
            // §5.5.2: a ping as a keepalive; any frame back proves the client.
            if self.session.socket.send_ping(b"").is_ok() {
                self.pinged = Some(now);
                self.flush(bufs);
            }
        }
    }

    fn drain(&mut self) {
        self.draining = true;
    }

    fn is_idle(&self) -> bool {
        // Idle between messages: the connection may give its buffers back
        // (its socket state stays here). A queued message, pending input or
        // output, or a close in progress is work.
        !self.done
            && !self.draining
            && self.session.socket.state() == State::Open
            && !self.session.socket.has_output()
            && !self.session.socket.has_pending_input()
            && self.outbox.is_empty()
    }

    fn finished(&self) -> bool {
        self.done
    }

    fn handoff(&mut self) -> Option<AnyMachine> {
        None
    }

    fn release(&mut self, _: &mut Pools, _: &Config) {
        // Nothing is lent from the pools: the session lives as long as the
        // connection (see Drop).
    }
}

impl Drop for Ws {
    fn drop(&mut self) {
        // The connection is gone (closed by the driver, a write error, the
        // grace period at shutdown): the handler hears of it once.
        self.tell_close(Some(CloseCode::ABNORMAL), "");
    }
}
