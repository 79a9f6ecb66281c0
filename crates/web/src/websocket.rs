//! WebSocket endpoints (RFC 6455, with permessage-deflate, RFC 7692): how a
//! route answers an upgrade and how an application talks on the connection.
//!
//! A route validates the handshake with [`Upgrade::from_request`] (a
//! malformed one is answered 400, a missing `Upgrade: websocket` or an
//! unsupported version 426, and never upgrades), may check the origin and
//! choose a subprotocol, then [`Upgrade::accept`]s with a [`WsHandler`]: the
//! `101` response it returns carries the connection's [`Session`], which
//! the server runs as a protocol machine of its own once the `101` is out.
//! [`endpoint`] (and `Router::ws`) is the short form. Since the upgrade is an
//! ordinary request until the `101`, middleware (authentication, CORS, logs,
//! rate limits) apply to it like to any other.
//!
//! There is no async runtime: the handler's callbacks run on the
//! connection's own thread, one event at a time ([`WsHandler::on_open`],
//! [`WsHandler::on_message`], [`WsHandler::on_close`]), and send through the
//! [`Conn`] they are given. Other threads send through a [`Sender`]
//! ([`Conn::sender`], cloneable): its queue is bounded
//! ([`SEND_QUEUE`] messages), and [`Sender::try_send`] says `Full` rather than
//! growing it, so a broadcaster decides what a slow client costs (drop the
//! message, or disconnect it with [`Sender::close`]). A queued message wakes
//! the connection through its waker; the server moves queued messages to the
//! socket only while its output is below the high-water mark, which is what
//! makes the queue fill up behind a client that does not read.
//!
//! Nothing here does I/O: the protocol itself is `osprey-ws` (sans-IO), and
//! the server drives it ([`Session`] hands it over).

use std::collections::VecDeque;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Waker;

use bytes::Bytes;
use osprey_proto::{HeaderMap, HeaderName, HeaderValue};
pub use osprey_ws::{limits, CloseCode, DeflateSettings, Settings};

use crate::handler::Handler;
use crate::reply::Reply;
use crate::{Request, Response};

/// Messages other threads may queue for one connection ([`Sender`]) before
/// [`Sender::try_send`] reports `Full`. The server moves them to the socket
/// while its output is below the high-water mark (256 KiB by default), so a
/// client that stops reading holds at most that plus this many messages.
/// 256 absorbs bursts (a chat room's backlog) without hiding a dead reader
/// for long.
pub const SEND_QUEUE: usize = 256;

/// A whole data message (RFC 6455 §5.6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// UTF-8 text.
    Text(String),
    /// Bytes.
    Binary(Bytes),
}

impl Message {
    /// The text of a text message.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Message::Text(s) => Some(s),
            Message::Binary(_) => None,
        }
    }

    /// The payload's length in bytes.
    pub fn len(&self) -> usize {
        match self {
            Message::Text(s) => s.len(),
            Message::Binary(b) => b.len(),
        }
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl From<String> for Message {
    fn from(s: String) -> Message {
        Message::Text(s)
    }
}

impl From<&str> for Message {
    fn from(s: &str) -> Message {
        Message::Text(s.to_owned())
    }
}

impl From<Bytes> for Message {
    fn from(b: Bytes) -> Message {
        Message::Binary(b)
    }
}

impl From<Vec<u8>> for Message {
    fn from(b: Vec<u8>) -> Message {
        Message::Binary(b.into())
    }
}

/// What an application does on one WebSocket connection. Each callback runs
/// on the connection's thread, one at a time; none may block (hand long work
/// to another thread and answer through a [`Sender`]).
///
/// A closure `FnMut(&mut Conn<'_>, Message)` is a handler that only looks at
/// messages:
///
/// ```
/// use osprey_web::websocket::{Conn, Message, WsHandler};
/// fn takes(_: impl WsHandler) {}
/// takes(|ws: &mut Conn<'_>, msg: Message| {
///     let _ = ws.send(msg); // echo
/// });
/// ```
pub trait WsHandler: Send + 'static {
    /// The `101` is out: the connection is open. Keep [`Conn::sender`] to
    /// send from elsewhere (a room's member list).
    fn on_open(&mut self, ws: &mut Conn<'_>) {
        let _ = ws;
    }

    /// A whole text or binary message from the client.
    fn on_message(&mut self, ws: &mut Conn<'_>, message: Message);

    /// The connection is over, called once: the client's close code (`None`
    /// for a close frame without one), ours when we failed it for a protocol
    /// error (1002, 1007, 1009), 1001 at server shutdown, or 1006
    /// ([`CloseCode::ABNORMAL`]) when the transport ended without a close
    /// handshake (the client vanished, or stopped answering pings).
    fn on_close(&mut self, code: Option<CloseCode>, reason: &str) {
        let _ = (code, reason);
    }
}

impl<F> WsHandler for F
where
    F: FnMut(&mut Conn<'_>, Message) + Send + 'static,
{
    fn on_message(&mut self, ws: &mut Conn<'_>, message: Message) {
        self(ws, message)
    }
}

/// A send on a connection that is closing or closed (we or the client sent
/// a close frame, RFC 6455 §5.5.1: no data after it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Closed;

impl fmt::Display for Closed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the WebSocket is closing or closed")
    }
}

impl std::error::Error for Closed {}

/// The connection, as the callbacks of a [`WsHandler`] see it.
pub struct Conn<'a> {
    socket: &'a mut osprey_ws::WebSocket,
    outbox: &'a Arc<Outbox>,
    protocol: Option<&'a str>,
}

impl<'a> Conn<'a> {
    /// The view of `socket` a server gives a handler's callbacks (servers
    /// only).
    pub fn new(
        socket: &'a mut osprey_ws::WebSocket,
        outbox: &'a Arc<Outbox>,
        protocol: Option<&'a str>,
    ) -> Conn<'a> {
        Conn {
            socket,
            outbox,
            protocol,
        }
    }

    /// Sends a message (queued in the connection's output at once: the
    /// server stops reading the client while the output is large).
    pub fn send(&mut self, message: impl Into<Message>) -> Result<(), Closed> {
        match message.into() {
            Message::Text(s) => self.socket.send_text(&s),
            Message::Binary(b) => self.socket.send_binary(&b),
        }
        .map_err(|_| Closed)
    }

    /// Sends a text message.
    pub fn send_text(&mut self, text: &str) -> Result<(), Closed> {
        self.socket.send_text(text).map_err(|_| Closed)
    }

    /// Sends a binary message.
    pub fn send_binary(&mut self, data: &[u8]) -> Result<(), Closed> {
        self.socket.send_binary(data).map_err(|_| Closed)
    }

    /// Starts the close handshake (RFC 6455 §7.1.2) with `code` and `reason`
    /// (cut to 123 bytes). The server closes the connection when the client
    /// answers, or after its close timeout.
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Closed> {
        self.socket.close(code, reason).map_err(|_| Closed)
    }

    /// A handle to send from other threads.
    pub fn sender(&self) -> Sender {
        Sender {
            outbox: self.outbox.clone(),
        }
    }

    /// The subprotocol agreed in the handshake.
    pub fn protocol(&self) -> Option<&str> {
        self.protocol
    }

    /// Whether messages can still be sent.
    pub fn is_open(&self) -> bool {
        self.socket.state() == osprey_ws::State::Open
    }

    /// Whether permessage-deflate is in use.
    pub fn is_compressed(&self) -> bool {
        self.socket.is_compressed()
    }
}

/// Why [`Sender::try_send`] did not queue a message; the message comes back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrySendError {
    /// The queue holds its limit: the client is not reading fast enough.
    Full(Message),
    /// The connection is closing or closed.
    Closed(Message),
}

impl fmt::Display for TrySendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TrySendError::Full(_) => "the connection's send queue is full",
            TrySendError::Closed(_) => "the WebSocket is closing or closed",
        })
    }
}

impl std::error::Error for TrySendError {}

/// Sends on a connection from any thread: a bounded queue the connection
/// drains on its own thread. Cheap to clone; equal when for the same
/// connection.
#[derive(Clone)]
pub struct Sender {
    outbox: Arc<Outbox>,
}

impl fmt::Debug for Sender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("queued", &self.outbox.lock().queue.len())
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl PartialEq for Sender {
    fn eq(&self, other: &Sender) -> bool {
        Arc::ptr_eq(&self.outbox, &other.outbox)
    }
}

impl Eq for Sender {}

impl Sender {
    /// Queues `message` for the connection and wakes it; never blocks.
    pub fn try_send(&self, message: impl Into<Message>) -> Result<(), TrySendError> {
        let message = message.into();
        let waker = {
            let mut st = self.outbox.lock();
            if st.closed || st.close.is_some() {
                return Err(TrySendError::Closed(message));
            }
            if st.queue.len() >= self.outbox.capacity {
                return Err(TrySendError::Full(message));
            }
            st.queue.push_back(message);
            // One wake-up per batch: the connection drains the whole queue
            // (or stops at a full output, and goes on once it drains).
            if st.queue.len() == 1 {
                st.waker.clone()
            } else {
                None
            }
        };
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }

    /// Closes the connection from another thread with `code` and `reason`
    /// (1008 [`CloseCode::POLICY`] for a client too slow to keep up): what is
    /// still queued is dropped, and the close frame goes out next.
    pub fn close(&self, code: CloseCode, reason: &str) {
        let waker = {
            let mut st = self.outbox.lock();
            if st.closed || st.close.is_some() {
                return;
            }
            st.queue.clear();
            st.close = Some((code, reason.to_owned()));
            st.waker.clone()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Messages queued and not yet handed to the connection.
    pub fn queued(&self) -> usize {
        self.outbox.lock().queue.len()
    }

    /// Whether the connection is closing or closed: sending is pointless.
    pub fn is_closed(&self) -> bool {
        let st = self.outbox.lock();
        st.closed || st.close.is_some()
    }
}

/// The queue between [`Sender`]s and the connection (the server's side of
/// it; applications use [`Sender`]).
pub struct Outbox {
    capacity: usize,
    state: Mutex<OutboxState>,
}

#[derive(Default)]
struct OutboxState {
    queue: VecDeque<Message>,
    /// A close asked for by a `Sender`, not yet applied.
    close: Option<(CloseCode, String)>,
    /// The connection is closing or over.
    closed: bool,
    waker: Option<Waker>,
}

impl fmt::Debug for Outbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Outbox")
    }
}

/// What the connection takes from its [`Outbox`].
#[derive(Debug)]
pub enum Queued {
    /// A message to send.
    Message(Message),
    /// Close with this code and reason.
    Close(CloseCode, String),
}

impl Outbox {
    fn new(capacity: usize) -> Outbox {
        Outbox {
            capacity: capacity.max(1),
            state: Mutex::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, OutboxState> {
        // Plain data: a panic while holding the lock leaves nothing torn.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets the waker that queued messages wake (the connection's).
    pub fn set_waker(&self, waker: &Waker) {
        self.lock().waker = Some(waker.clone());
    }

    /// The next thing to do: a requested close first, then the oldest
    /// message.
    pub fn pop(&self) -> Option<Queued> {
        let mut st = self.lock();
        if let Some((code, reason)) = st.close.take() {
            st.closed = true;
            st.queue.clear();
            return Some(Queued::Close(code, reason));
        }
        st.queue.pop_front().map(Queued::Message)
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        let st = self.lock();
        st.queue.is_empty() && st.close.is_none()
    }

    /// The connection is closing or over: senders get `Closed` from now on,
    /// and the queue and the waker are dropped.
    pub fn shut(&self) {
        let mut st = self.lock();
        st.closed = true;
        st.queue.clear();
        st.waker = None;
    }
}

/// A connection handed to the server with the `101`: the protocol machine
/// (with permessage-deflate if negotiated), the application's handler, and
/// the queue its [`Sender`]s feed. A server without a WebSocket machine of
/// its own may run it as a plain [`crate::Upgraded`] byte protocol, which
/// closes the connection.
pub struct Session {
    /// The sans-IO WebSocket machine.
    pub socket: osprey_ws::WebSocket,
    /// The application's handler.
    pub handler: Box<dyn WsHandler>,
    /// The queue of [`Sender`]s.
    pub outbox: Arc<Outbox>,
    /// The subprotocol agreed, if any.
    pub protocol: Option<String>,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("protocol", &self.protocol)
            .finish()
    }
}

impl Session {
    /// Calls `f` with the handler and a [`Conn`] on the socket, catching a
    /// panic (false: the handler panicked; the caller fails the connection
    /// with 1011).
    pub fn call(&mut self, f: impl FnOnce(&mut dyn WsHandler, &mut Conn<'_>)) -> bool {
        let mut conn = Conn::new(&mut self.socket, &self.outbox, self.protocol.as_deref());
        let handler = &mut *self.handler;
        catch_unwind(AssertUnwindSafe(|| f(handler, &mut conn))).is_ok()
    }
}

/// What `Response::upgrade` carries for a WebSocket: the server takes the
/// session out ([`crate::Upgraded::take_websocket`]).
struct Carrier(Option<Session>);

impl crate::Upgraded for Carrier {
    fn on_data(&mut self, _: &[u8], _: &mut Vec<u8>) -> bool {
        // Reached only on a server without a WebSocket machine: end it.
        false
    }

    fn take_websocket(&mut self) -> Option<Session> {
        self.0.take()
    }
}

/// A valid opening handshake, before it is accepted: check the origin,
/// choose a subprotocol and the settings, then [`Upgrade::accept`].
///
/// ```
/// use osprey_web::websocket::{Conn, Message, Upgrade};
/// use osprey_web::{Method, Request, Response, Status};
///
/// fn chat(req: &mut Request) -> Response {
///     let upgrade = match Upgrade::from_request(req) {
///         Ok(u) => u,
///         Err(refusal) => return refusal, // 400 or 426
///     };
///     if upgrade.origin().is_some_and(|o| o != "https://example.com") {
///         return Response::status_text(Status::FORBIDDEN);
///     }
///     upgrade
///         .select_protocol(&["chat.v1"])
///         .accept(|ws: &mut Conn<'_>, msg: Message| {
///             let _ = ws.send(msg);
///         })
/// }
///
/// let mut req = Request::new(Method::Get, "/chat")
///     .with_header("Host", "example.com")
///     .with_header("Upgrade", "websocket")
///     .with_header("Connection", "Upgrade")
///     .with_header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
///     .with_header("Sec-WebSocket-Version", "13");
/// let resp = chat(&mut req);
/// assert_eq!(resp.status.as_u16(), 101);
/// assert_eq!(
///     resp.headers.get("sec-websocket-accept").unwrap().as_bytes(),
///     b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
/// );
/// assert_eq!(chat(&mut Request::new(Method::Get, "/chat")).status.as_u16(), 426);
/// ```
pub struct Upgrade {
    handshake: osprey_ws::Handshake,
    settings: Settings,
    send_queue: usize,
    protocol: Option<String>,
}

impl fmt::Debug for Upgrade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upgrade")
            .field("handshake", &self.handshake)
            .field("protocol", &self.protocol)
            .finish()
    }
}

/// The fields the handshake reads (RFC 6455 §4.2.1).
const HANDSHAKE_FIELDS: [&str; 8] = [
    "host",
    "upgrade",
    "connection",
    "origin",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-protocol",
    "sec-websocket-extensions",
];

impl Upgrade {
    /// Validates `req` as an HTTP/1.1 opening handshake (RFC 6455 §4.2.1).
    /// The error is the response to send: 400 for a malformed handshake,
    /// 426 with `Upgrade: websocket` and `Sec-WebSocket-Version: 13` when
    /// the request is no upgrade or asks for another version.
    #[allow(clippy::result_large_err)]
    pub fn from_request(req: &Request) -> Result<Upgrade, Response> {
        let mut headers = HeaderMap::with_capacity(HANDSHAKE_FIELDS.len());
        for (name, value) in req.headers() {
            if HANDSHAKE_FIELDS
                .iter()
                .any(|f| f.as_bytes().eq_ignore_ascii_case(name))
            {
                if let (Ok(n), Ok(v)) =
                    (HeaderName::from_bytes(name), HeaderValue::from_bytes(value))
                {
                    headers.append(n, v);
                }
            }
        }
        match osprey_ws::Handshake::from_http1(req.method(), req.version(), &headers) {
            Ok(handshake) => Ok(Upgrade {
                handshake,
                settings: Settings::default(),
                send_queue: SEND_QUEUE,
                protocol: None,
            }),
            Err(rejection) => {
                let mut resp = Response::text(rejection.reason).with_status(rejection.status);
                for (name, value) in rejection.headers().iter() {
                    resp.headers.append(name.clone(), value.clone());
                }
                Err(resp)
            }
        }
    }

    /// The `Origin` the client sent (browsers always do). An endpoint that
    /// relies on cookies must compare it with the origins it trusts and
    /// answer 403 to the others (RFC 6455 §10.2).
    pub fn origin(&self) -> Option<&str> {
        self.handshake.origin().and_then(|v| v.to_str())
    }

    /// The subprotocols the client offers, in its order of preference.
    pub fn protocols(&self) -> &[String] {
        self.handshake.protocols()
    }

    /// Chooses the first subprotocol the client offers among `supported`
    /// (none if it offers none of them).
    pub fn select_protocol(mut self, supported: &[&str]) -> Upgrade {
        self.protocol = self.handshake.select_protocol(supported).map(str::to_owned);
        self
    }

    /// The connection's limits and compression (default: the constants of
    /// `osprey_ws::limits`: 16 MiB messages, permessage-deflate accepted).
    pub fn settings(mut self, settings: Settings) -> Upgrade {
        self.settings = settings;
        self
    }

    /// The bound of the [`Sender`] queue (default [`SEND_QUEUE`]).
    pub fn send_queue(mut self, messages: usize) -> Upgrade {
        self.send_queue = messages;
        self
    }

    /// Accepts: the `101` response, after which `handler` has the
    /// connection.
    pub fn accept(self, handler: impl WsHandler) -> Response {
        // Streaming delivery is not offered by this API: whole messages.
        let settings = Settings {
            streaming: false,
            ..self.settings
        };
        let accepted = self.handshake.accept(&settings, self.protocol.as_deref());
        let mut resp = Response::new(accepted.status);
        resp.headers = accepted.headers;
        resp.body = crate::Body::Upgrade(Box::new(Carrier(Some(Session {
            socket: accepted.socket,
            handler: Box::new(handler),
            outbox: Arc::new(Outbox::new(self.send_queue)),
            protocol: self.protocol,
        }))));
        resp
    }
}

/// A route handler answering WebSocket upgrades; see [`endpoint`].
pub struct Endpoint<F> {
    make: F,
    settings: Settings,
    protocols: Vec<&'static str>,
}

/// A route that accepts WebSocket connections, each with the handler `make`
/// builds from the upgrade request (`Router::ws` registers one for GET). A
/// request that is not a valid handshake gets 400 or 426.
///
/// ```
/// use osprey_web::websocket::{self, Conn, Message};
/// use osprey_web::{Handler, Method, Request, Router};
/// let app = Router::new().ws("/echo", |_: &mut Request| {
///     |ws: &mut Conn<'_>, msg: Message| {
///         let _ = ws.send(msg);
///     }
/// });
/// let resp = app.respond(&mut Request::new(Method::Get, "/echo").with_header("Host", "x"));
/// assert_eq!(resp.status.as_u16(), 426);
/// ```
pub fn endpoint<F, H>(make: F) -> Endpoint<F>
where
    F: Fn(&mut Request) -> H + Send + Sync + 'static,
    H: WsHandler,
{
    Endpoint {
        make,
        settings: Settings::default(),
        protocols: Vec::new(),
    }
}

impl<F> Endpoint<F> {
    /// The connections' limits and compression.
    pub fn settings(mut self, settings: Settings) -> Endpoint<F> {
        self.settings = settings;
        self
    }

    /// The subprotocols this endpoint speaks, preferred by the client's
    /// order.
    pub fn protocols(mut self, protocols: &[&'static str]) -> Endpoint<F> {
        self.protocols = protocols.to_vec();
        self
    }
}

impl<F, H> Handler for Endpoint<F>
where
    F: Fn(&mut Request) -> H + Send + Sync + 'static,
    H: WsHandler,
{
    fn call(&self, req: &mut Request) -> Reply {
        match Upgrade::from_request(req) {
            Ok(upgrade) => {
                let handler = (self.make)(req);
                upgrade
                    .settings(self.settings)
                    .select_protocol(&self.protocols)
                    .accept(handler)
                    .into()
            }
            Err(refusal) => refusal.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Method;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    fn handshake() -> Request {
        Request::new(Method::Get, "/ws")
            .with_header("Host", "example.com")
            .with_header("Upgrade", "websocket")
            .with_header("Connection", "keep-alive, Upgrade")
            .with_header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
            .with_header("Sec-WebSocket-Version", "13")
    }

    fn session(resp: Response) -> Session {
        match resp.body {
            crate::Body::Upgrade(mut u) => u.take_websocket().expect("a websocket"),
            other => panic!("not an upgrade: {other:?}"),
        }
    }

    #[test]
    fn malformed_handshakes_are_refused_and_never_upgrade() {
        let bad_key = handshake().with_header("Sec-WebSocket-Key", "again");
        let resp = Upgrade::from_request(&bad_key).unwrap_err();
        assert_eq!(resp.status.as_u16(), 400);

        let mut old = Request::new(Method::Get, "/ws")
            .with_header("Host", "example.com")
            .with_header("Upgrade", "websocket")
            .with_header("Connection", "Upgrade")
            .with_header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
            .with_header("Sec-WebSocket-Version", "8");
        let resp = Upgrade::from_request(&old).unwrap_err();
        assert_eq!(resp.status.as_u16(), 426);
        assert_eq!(
            resp.headers
                .get("sec-websocket-version")
                .unwrap()
                .as_bytes(),
            b"13"
        );
        let route = endpoint(|_: &mut Request| |_: &mut Conn<'_>, _: Message| {});
        assert_eq!(route.respond(&mut old).status.as_u16(), 426);
        let mut post = handshake();
        post = Request::new(Method::Post, "/ws").with_header("Host", post.header("host").unwrap());
        assert!(route.respond(&mut post).status.as_u16() >= 400);
    }

    #[test]
    fn accepting_negotiates_protocol_and_deflate() {
        let req = handshake()
            .with_header("Sec-WebSocket-Protocol", "a, chat")
            .with_header("Sec-WebSocket-Extensions", "permessage-deflate");
        let resp = Upgrade::from_request(&req)
            .unwrap()
            .select_protocol(&["chat"])
            .accept(|_: &mut Conn<'_>, _: Message| {});
        assert_eq!(resp.status.as_u16(), 101);
        assert_eq!(
            resp.headers
                .get("sec-websocket-protocol")
                .unwrap()
                .as_bytes(),
            b"chat"
        );
        assert!(resp.headers.contains("sec-websocket-extensions"));
        let s = session(resp);
        assert!(s.socket.is_compressed());
        assert_eq!(s.protocol.as_deref(), Some("chat"));

        let off = Settings {
            deflate: DeflateSettings {
                enabled: false,
                ..DeflateSettings::default()
            },
            ..Settings::default()
        };
        let resp = Upgrade::from_request(&req)
            .unwrap()
            .settings(off)
            .accept(|_: &mut Conn<'_>, _: Message| {});
        assert!(!resp.headers.contains("sec-websocket-extensions"));
    }

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn the_send_queue_is_bounded_and_wakes_once_per_batch() {
        let resp = Upgrade::from_request(&handshake())
            .unwrap()
            .send_queue(2)
            .accept(|_: &mut Conn<'_>, _: Message| {});
        let mut s = session(resp);
        let count = Arc::new(Count(AtomicUsize::new(0)));
        s.outbox.set_waker(&Waker::from(count.clone()));
        let mut sender = None;
        s.call(|_, conn| sender = Some(conn.sender()));
        let sender = sender.unwrap();
        sender.try_send("a").unwrap();
        sender.try_send("b").unwrap();
        assert_eq!(
            sender.try_send("c"),
            Err(TrySendError::Full(Message::Text("c".into())))
        );
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert!(matches!(s.outbox.pop(), Some(Queued::Message(Message::Text(t))) if t == "a"));
        sender.close(CloseCode::POLICY, "too slow");
        assert!(sender.is_closed());
        assert!(matches!(
            s.outbox.pop(),
            Some(Queued::Close(CloseCode::POLICY, _))
        ));
        assert!(s.outbox.pop().is_none(), "the queue went with the close");
        assert!(matches!(sender.try_send("d"), Err(TrySendError::Closed(_))));
    }
}
