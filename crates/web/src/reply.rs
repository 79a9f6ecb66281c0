//! Replies: what a handler gives back — a response now, or one that comes
//! later.
//!
//! A [`Reply`] is either ready (the common case: no allocation, no waiting) or
//! pending: a future the server polls on the connection's own thread, woken
//! through the connection's waker when it can make progress. A pending reply
//! holds no thread: it may wait for a timer on the event loop
//! ([`crate::Timer::sleep`]), for the request body to arrive
//! ([`crate::RequestBody`]), or for another thread to answer through a
//! [`Responder`] ([`Reply::later`]). When the client goes away the server drops
//! the reply, so its future is cancelled and a `Responder` learns it
//! ([`Responder::is_cancelled`]).
//!
//! Middleware that changes a response after the handler does so with
//! [`Reply::map`], which applies at once to a ready reply and when the
//! response arrives to a pending one.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use osprey_proto::{HeaderName, HeaderValue, Status};

use crate::error::IntoResponse;
use crate::Response;

type BoxFuture = Pin<Box<dyn Future<Output = Response> + Send>>;

/// A handler's answer: ready now, or pending.
#[must_use = "a reply does nothing until the server sends it"]
pub struct Reply(Inner);

enum Inner {
    Ready(Response),
    Pending(BoxFuture),
}

impl fmt::Debug for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Inner::Ready(r) => f.debug_tuple("Reply::Ready").field(r).finish(),
            Inner::Pending(_) => f.write_str("Reply::Pending"),
        }
    }
}

impl Reply {
    /// A response now.
    #[inline]
    pub fn ready(response: Response) -> Reply {
        Reply(Inner::Ready(response))
    }

    /// A response computed by `future`, polled by the server on the
    /// connection's thread whenever its waker fires. The future must not
    /// block: wait with [`crate::Timer::sleep`], [`crate::RequestBody::chunk`]
    /// or a [`Responder`], never with `thread::sleep` or a blocking read.
    ///
    /// ```
    /// use osprey_web::{Reply, Request, Response};
    /// let handler = |req: &mut Request| {
    ///     let timer = req.timer();
    ///     Reply::pending(async move {
    ///         timer.sleep(std::time::Duration::from_millis(5)).await;
    ///         Response::text("later")
    ///     })
    /// };
    /// # use osprey_web::Method;
    /// let resp = handler(&mut Request::new(Method::Get, "/")).wait();
    /// assert_eq!(resp.body.len_hint(), Some(5));
    /// ```
    pub fn pending<F>(future: F) -> Reply
    where
        F: Future + Send + 'static,
        F::Output: IntoResponse,
    {
        Reply(Inner::Pending(Box::pin(async move {
            future.await.into_response()
        })))
    }

    /// A reply another thread completes: send the response through the
    /// [`Responder`] (from any thread, at any time). If the responder is
    /// dropped without answering, the client gets a 500.
    ///
    /// ```
    /// use osprey_web::{Reply, Response};
    /// let (responder, reply) = Reply::later();
    /// std::thread::spawn(move || {
    ///     let _ = responder.send(Response::text("from a thread"));
    /// });
    /// assert_eq!(reply.wait().body.len_hint(), Some(13));
    /// ```
    pub fn later() -> (Responder, Reply) {
        let slot = Arc::new(Slot::default());
        let responder = Responder { slot: slot.clone() };
        let reply = Reply(Inner::Pending(Box::pin(Later { slot })));
        (responder, reply)
    }

    /// Transforms the response when it is there: at once for a ready reply,
    /// on arrival for a pending one.
    ///
    /// ```
    /// use osprey_web::{Reply, Response};
    /// let reply = Reply::from(Response::text("hi")).map(|r| r.header("X-Seen", "1"));
    /// assert_eq!(reply.wait().headers.get("x-seen").unwrap().as_bytes(), b"1");
    /// ```
    #[inline]
    pub fn map<F>(self, f: F) -> Reply
    where
        F: FnOnce(Response) -> Response + Send + 'static,
    {
        match self.0 {
            Inner::Ready(r) => Reply(Inner::Ready(f(r))),
            Inner::Pending(fut) => Reply(Inner::Pending(Box::pin(async move { f(fut.await) }))),
        }
    }

    /// Adds a header field to the response when it is there (like
    /// [`Response::header`], whose panics it shares, at the call).
    pub fn header<N, V>(self, name: N, value: V) -> Reply
    where
        N: TryInto<HeaderName>,
        V: TryInto<HeaderValue>,
        N::Error: fmt::Debug,
        V::Error: fmt::Debug,
    {
        let name = name.try_into().expect("invalid header name");
        let value = value.try_into().expect("invalid header value");
        self.map(move |mut r| {
            r.headers.append(name, value);
            r
        })
    }

    /// Whether the response is already there.
    pub fn is_ready(&self) -> bool {
        matches!(self.0, Inner::Ready(_))
    }

    /// The response if it is ready, else the reply back.
    // By value on purpose: this is the per-request path of every handler,
    // and boxing either side would allocate.
    #[allow(clippy::result_large_err)]
    #[inline]
    pub fn into_ready(self) -> Result<Response, Reply> {
        match self.0 {
            Inner::Ready(r) => Ok(r),
            pending => Err(Reply(pending)),
        }
    }

    /// Polls a pending reply (the server does this with the connection's
    /// waker). A ready reply is returned at once, and only once.
    pub fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Response> {
        match &mut self.0 {
            Inner::Ready(r) => Poll::Ready(std::mem::replace(r, Response::new(Status::OK))),
            Inner::Pending(fut) => fut.as_mut().poll(cx),
        }
    }

    /// Blocks the calling thread until the response is there. For tests,
    /// command-line tools and worker threads — never on a server's event loop,
    /// which this would stall.
    pub fn wait(self) -> Response {
        let mut fut = match self.0 {
            Inner::Ready(r) => return r,
            Inner::Pending(fut) => fut,
        };
        let parker = Arc::new(Parker::default());
        let waker = Waker::from(parker.clone());
        let mut cx = Context::from_waker(&waker);
        loop {
            if let Poll::Ready(r) = fut.as_mut().poll(&mut cx) {
                return r;
            }
            parker.park();
        }
    }
}

/// A reply can be awaited inside another pending reply (a middleware racing
/// it against a timer, a handler composing others).
impl Future for Reply {
    type Output = Response;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Response> {
        Reply::poll(self.get_mut(), cx)
    }
}

impl<T: IntoResponse> From<T> for Reply {
    #[inline]
    fn from(value: T) -> Reply {
        Reply::ready(value.into_response())
    }
}

/// Anything a handler may return: a [`Reply`], anything [`IntoResponse`]
/// (a `Response`, text, `Json(..)`, a `Status`, a `Result` of those), or a
/// `Result` whose success is a `Reply`.
pub trait IntoReply {
    /// The reply.
    fn into_reply(self) -> Reply;
}

impl<T: IntoResponse> IntoReply for T {
    #[inline]
    fn into_reply(self) -> Reply {
        Reply::ready(self.into_response())
    }
}

impl IntoReply for Reply {
    #[inline]
    fn into_reply(self) -> Reply {
        self
    }
}

impl<E: IntoResponse> IntoReply for Result<Reply, E> {
    #[inline]
    fn into_reply(self) -> Reply {
        match self {
            Ok(r) => r,
            Err(e) => Reply::ready(e.into_response()),
        }
    }
}

#[derive(Default)]
struct Slot {
    state: Mutex<SlotState>,
}

#[derive(Default)]
struct SlotState {
    response: Option<Response>,
    /// The responder was dropped (answered or not).
    closed: bool,
    /// The reply was dropped: nobody will read an answer.
    cancelled: bool,
    waker: Option<Waker>,
}

impl Slot {
    fn lock(&self) -> std::sync::MutexGuard<'_, SlotState> {
        // Plain data: a panic while holding the lock leaves nothing torn.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Completes a [`Reply::later`] from any thread.
pub struct Responder {
    slot: Arc<Slot>,
}

impl fmt::Debug for Responder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Responder")
    }
}

impl Responder {
    /// Sends the response and wakes the connection; fails if the client has
    /// gone away (the reply was dropped).
    pub fn send(self, response: impl IntoResponse) -> Result<(), Cancelled> {
        let mut state = self.slot.lock();
        if state.cancelled {
            return Err(Cancelled);
        }
        state.response = Some(response.into_response());
        // Drop (below) wakes the reply.
        Ok(())
    }

    /// Whether the reply was dropped: the client went away, or the server is
    /// shutting down. Long computations can check this and stop.
    pub fn is_cancelled(&self) -> bool {
        self.slot.lock().cancelled
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        let waker = {
            let mut state = self.slot.lock();
            state.closed = true;
            state.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// The reply a [`Responder`] would complete was dropped: the client went
/// away, or the server is shutting down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cancelled;

impl fmt::Display for Cancelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the reply is no longer wanted")
    }
}

impl std::error::Error for Cancelled {}

/// The reply side of [`Reply::later`].
struct Later {
    slot: Arc<Slot>,
}

impl Future for Later {
    type Output = Response;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Response> {
        let mut state = self.slot.lock();
        if let Some(r) = state.response.take() {
            return Poll::Ready(r);
        }
        if state.closed {
            // Dropped without an answer: the handler's mistake.
            return Poll::Ready(Response::status_text(Status::INTERNAL_SERVER_ERROR));
        }
        if !state
            .waker
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()))
        {
            state.waker = Some(cx.waker().clone());
        }
        Poll::Pending
    }
}

impl Drop for Later {
    fn drop(&mut self) {
        self.slot.lock().cancelled = true;
    }
}

/// Parks a thread until a waker fires (for [`Reply::wait`]).
#[derive(Default)]
pub(crate) struct Parker {
    woken: Mutex<bool>,
    signal: Condvar,
}

impl Parker {
    pub(crate) fn park(&self) {
        let mut woken = self.woken.lock().unwrap_or_else(|e| e.into_inner());
        while !*woken {
            woken = self.signal.wait(woken).unwrap_or_else(|e| e.into_inner());
        }
        *woken = false;
    }
}

impl Wake for Parker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        *self.woken.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.signal.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_responder_dropped_unanswered_gives_500() {
        let (responder, reply) = Reply::later();
        drop(responder);
        assert_eq!(reply.wait().status, Status::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn a_dropped_reply_cancels_its_responder() {
        let (responder, reply) = Reply::later();
        assert!(!responder.is_cancelled());
        drop(reply);
        assert!(responder.is_cancelled());
        assert!(responder.send(Response::text("late")).is_err());
    }

    #[test]
    fn map_applies_now_or_on_arrival() {
        let ready = Reply::from("now").map(|r| r.header("X-A", "1"));
        assert!(ready.is_ready());
        let (responder, later) = Reply::later();
        let later = later.map(|r| r.header("X-A", "2"));
        assert!(!later.is_ready());
        responder.send("then").unwrap();
        let r = later.wait();
        assert_eq!(r.headers.get("x-a").unwrap().as_bytes(), b"2");
        assert_eq!(r.body.len_hint(), Some(4));
    }
}
