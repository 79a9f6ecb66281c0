//! A deadline for handlers: answer 503 when the rest of the chain takes too
//! long to produce its response.
//!
//! [`Timeout`] runs the rest of the chain on a helper thread and waits for
//! its response at most the configured time. Rust cannot cancel a thread, so
//! a handler that overruns keeps running, detached, until it returns on its
//! own; its response is then discarded. The number of such detached threads
//! is bounded ([`DEFAULT_MAX_DETACHED`]): above it, requests are answered 503
//! at once rather than given another thread to get stuck on. A handler that
//! can be interrupted (a database query with its own timeout) should be
//! bounded there too; this middleware bounds what the *client* waits.
//!
//! A handler that answers with a pending [`Reply`] (it waits on a timer, a
//! streamed request body or another thread's [`Responder`](osprey_web::Responder))
//! gives its helper thread back as soon as it returns: the rest of the
//! deadline is kept on the request's [`Timer`](osprey_web::Timer), racing the
//! pending reply without a thread, and a reply that loses the race is dropped,
//! which cancels it (nothing is left running, nothing counts as detached).
//!
//! The deadline covers producing the [`Response`], not sending its body: a
//! streamed body is pulled later, under the server's write timeout.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::task::Poll;
use std::thread;
use std::time::{Duration, Instant};

use osprey_proto::Status;

use osprey_web::{Middleware, Next};
use osprey_web::{Reply, Request, Response, Sleep};

/// How many handlers may still be running after their deadline passed (32),
/// per `Timeout`. Each holds a thread and whatever the handler holds; past
/// this, requests get the timeout status immediately.
pub const DEFAULT_MAX_DETACHED: usize = 32;

/// The status answered by default when the deadline passes. Not 408 Request
/// Timeout: that says the *client* was too slow to send its request (RFC
/// 9110 §15.5.9). Not 504 Gateway Timeout: that is for a gateway whose
/// upstream did not answer (§15.6.5) — a proxying application may prefer
/// it, hence [`Timeout::status`]. 503 Service Unavailable (§15.6.4) says the
/// server cannot handle the request right now, which is what happened.
pub const DEFAULT_TIMEOUT_STATUS: Status = Status::SERVICE_UNAVAILABLE;

/// The helper thread is still producing the response.
const RUNNING: u8 = 0;
/// The helper thread is done (its response, if any, is in the channel).
const FINISHED: u8 = 1;
/// The waiter gave up; the helper thread counts as detached until it ends.
const ABANDONED: u8 = 2;

/// Marks a helper thread's end, even when its handler panics: dropped last in
/// the thread, after the response was sent.
struct Finish {
    state: Arc<AtomicU8>,
    detached: Arc<AtomicUsize>,
}

impl Drop for Finish {
    fn drop(&mut self) {
        if self.state.swap(FINISHED, Ordering::AcqRel) == ABANDONED {
            self.detached.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// Answers 503 when the rest of the chain takes longer than a deadline; see
/// the [module](self) documentation.
///
/// Each request's handler runs on a thread spawned for it. A pool would save
/// the spawn (some tens of microseconds, little next to a request worth a
/// deadline) but a pool thread stuck in an overrunning handler would be lost
/// to every other request until it returned; a thread per request costs
/// only itself, and the stuck ones are counted and bounded. The middleware
/// is blocking (it waits), so event loops run it on their worker pool.
///
/// ```
/// use std::time::Duration;
/// use osprey_middleware::timeout::Timeout;
/// use osprey_web::{Handler, Method, Request, Response};
///
/// let app = (|req: &mut Request| {
///     if req.path() == "/slow" {
///         std::thread::sleep(Duration::from_millis(300));
///     }
///     Response::text("done")
/// })
/// .with(Timeout::new(Duration::from_millis(50)));
///
/// assert_eq!(app.respond(&mut Request::new(Method::Get, "/fast")).status.as_u16(), 200);
/// assert_eq!(app.respond(&mut Request::new(Method::Get, "/slow")).status.as_u16(), 503);
/// ```
pub struct Timeout {
    limit: Duration,
    status: Status,
    max_detached: usize,
    detached: Arc<AtomicUsize>,
}

impl Timeout {
    /// Waits at most `limit` for the rest of the chain.
    pub fn new(limit: Duration) -> Timeout {
        Timeout {
            limit,
            status: DEFAULT_TIMEOUT_STATUS,
            max_detached: DEFAULT_MAX_DETACHED,
            detached: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// The status answered when the deadline passes (default
    /// [`DEFAULT_TIMEOUT_STATUS`]).
    pub fn status(mut self, status: Status) -> Timeout {
        self.status = status;
        self
    }

    /// How many overrunning handlers may still run detached (default
    /// [`DEFAULT_MAX_DETACHED`]).
    pub fn max_detached(mut self, max_detached: usize) -> Timeout {
        self.max_detached = max_detached;
        self
    }

    /// How many handlers are running past their deadline now.
    pub fn detached(&self) -> usize {
        self.detached.load(Ordering::Acquire)
    }

    fn too_late(&self) -> Response {
        Response::status_text(self.status)
    }
}

impl Middleware for Timeout {
    fn handle(&self, req: &mut Request, next: Next<'_>) -> Reply {
        if self.detached() >= self.max_detached {
            return self.too_late().into();
        }
        let deadline = Instant::now() + self.limit;
        let timer = req.timer();
        let next = next.into_owned();
        // The request moves to the helper thread and comes back with the
        // reply, so middleware outside this one sees what the handler
        // attached to it.
        let mut moved = std::mem::take(req);
        let (send, receive) = mpsc::sync_channel(1);
        let state = Arc::new(AtomicU8::new(RUNNING));
        let finish = Finish {
            state: state.clone(),
            detached: self.detached.clone(),
        };
        let spawned = thread::Builder::new()
            .name("osprey-timeout".into())
            .spawn(move || {
                let _finish = finish;
                // A pending reply is not waited for here: it comes back as
                // it is and its deadline is kept without a thread (below).
                let reply = next.run(&mut moved);
                // The waiter may have given up: then nobody receives.
                let _ = send.send((reply, moved));
            });
        if spawned.is_err() {
            // No thread to be had (the process is at its limit): as busy as
            // can be. The request went with the failed closure.
            return self.too_late().into();
        }
        let outcome = match receive.recv_timeout(self.limit) {
            Err(mpsc::RecvTimeoutError::Timeout) => {
                // Count the thread as detached before marking it so: its
                // `Finish` may run at any moment and must find the count.
                self.detached.fetch_add(1, Ordering::AcqRel);
                match state.compare_exchange(
                    RUNNING,
                    ABANDONED,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => return self.too_late().into(),
                    Err(_) => {
                        // It finished right at the deadline: use its answer.
                        self.detached.fetch_sub(1, Ordering::AcqRel);
                        receive.recv().ok()
                    }
                }
            }
            Ok(outcome) => Some(outcome),
            Err(mpsc::RecvTimeoutError::Disconnected) => None,
        };
        match outcome {
            Some((reply, moved)) => {
                *req = moved;
                match reply.into_ready() {
                    Ok(resp) => resp.into(),
                    Err(pending) => race(pending, timer.sleep_until(deadline), self.status),
                }
            }
            // The handler panicked (its thread dropped the sender unsent).
            None => Response::status_text(Status::INTERNAL_SERVER_ERROR).into(),
        }
    }

    /// It waits for the helper thread.
    fn is_blocking(&self) -> bool {
        true
    }
}

/// `reply`, or `status` if `sleep` ends first: a deadline for a pending reply
/// that holds no thread (the sleep is on the server's timer). The reply is
/// dropped when the deadline wins, which cancels it.
fn race(mut reply: Reply, mut sleep: Sleep, status: Status) -> Reply {
    Reply::pending(async move {
        std::future::poll_fn(|cx| {
            // The reply first: a response that is there at the deadline wins.
            if let Poll::Ready(resp) = reply.poll(cx) {
                return Poll::Ready(resp);
            }
            match Pin::new(&mut sleep).poll(cx) {
                Poll::Ready(()) => Poll::Ready(Response::status_text(status)),
                Poll::Pending => Poll::Pending,
            }
        })
        .await
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use osprey_web::{Chain, Handler, Method};
    use std::sync::Mutex;
    use std::time::Instant;

    fn body(resp: &Response) -> &[u8] {
        match &resp.body {
            osprey_web::Body::Bytes(b) => b,
            other => panic!("{other:?}"),
        }
    }

    /// Spins (yielding) until `done`, failing after 10 s: for the moment a
    /// detached thread has finished, which nothing else signals.
    fn eventually(done: impl Fn() -> bool) {
        let start = Instant::now();
        while !done() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "condition never held"
            );
            thread::yield_now();
        }
    }

    #[test]
    fn fast_handlers_pass_through_unchanged_and_the_request_comes_back() {
        let app = (|req: &mut Request| {
            req.extensions_mut().insert(7u32);
            Response::text(format!("path {}", req.path())).header("X-A", "1")
        })
        .with(Timeout::new(Duration::from_secs(5)));
        // An outer middleware sees what the handler attached to the request.
        let app = Chain::new(app).with(|req: &mut Request, next: Next<'_>| {
            let resp = next.run(req);
            assert_eq!(req.extensions().get::<u32>(), Some(&7));
            assert_eq!(req.path(), "/x");
            resp
        });
        let r = app.respond(&mut Request::new(Method::Get, "/x"));
        assert_eq!((r.status, body(&r)), (Status::OK, &b"path /x"[..]));
        assert_eq!(r.headers.get("x-a").unwrap().as_bytes(), b"1");
    }

    #[test]
    fn slow_handlers_get_503_within_the_deadline() {
        let release = Arc::new(Mutex::new(()));
        let held = release.lock().unwrap();
        let gate = release.clone();
        let timeout = Arc::new(Timeout::new(Duration::from_millis(100)));
        let mw = timeout.clone();
        let app = Chain::new(move |_: &mut Request| {
            // Blocks until the test lets go: a handler that overruns.
            drop(gate.lock().unwrap());
            Response::text("late")
        })
        .with(move |req: &mut Request, next: Next<'_>| mw.handle(req, next));
        let start = Instant::now();
        let r = app.respond(&mut Request::new(Method::Get, "/"));
        let waited = start.elapsed();
        assert_eq!(
            (r.status, body(&r)),
            (Status::SERVICE_UNAVAILABLE, &b"Service Unavailable\n"[..])
        );
        assert!(waited >= Duration::from_millis(100), "{waited:?}");
        assert!(waited < Duration::from_secs(2), "{waited:?}");
        assert_eq!(timeout.detached(), 1);
        drop(held);
        eventually(|| timeout.detached() == 0);
    }

    #[test]
    fn detached_threads_are_bounded() {
        let release = Arc::new(Mutex::new(()));
        let held = release.lock().unwrap();
        let gate = release.clone();
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = calls.clone();
        let timeout = Arc::new(
            Timeout::new(Duration::from_millis(20))
                .max_detached(1)
                .status(Status::GATEWAY_TIMEOUT),
        );
        let mw = timeout.clone();
        let app = Chain::new(move |_: &mut Request| {
            counted.fetch_add(1, Ordering::SeqCst);
            drop(gate.lock().unwrap());
            Response::text("late")
        })
        .with(move |req: &mut Request, next: Next<'_>| mw.handle(req, next));
        assert_eq!(
            app.respond(&mut Request::new(Method::Get, "/")).status,
            Status::GATEWAY_TIMEOUT
        );
        assert_eq!(timeout.detached(), 1);
        // At the bound: refused at once, the handler not even started.
        let start = Instant::now();
        assert_eq!(
            app.respond(&mut Request::new(Method::Get, "/")).status,
            Status::GATEWAY_TIMEOUT
        );
        assert!(start.elapsed() < Duration::from_millis(20));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        drop(held);
        eventually(|| timeout.detached() == 0);
        assert_eq!(
            app.respond(&mut Request::new(Method::Get, "/")).status,
            Status::OK
        );
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_panicking_handler_is_500_and_not_counted() {
        let timeout = Arc::new(Timeout::new(Duration::from_secs(5)));
        let mw = timeout.clone();
        let app = Chain::new(|_: &mut Request| -> Response { panic!("handler bug") })
            .with(move |req: &mut Request, next: Next<'_>| mw.handle(req, next));
        let r = app.respond(&mut Request::new(Method::Get, "/"));
        assert_eq!(r.status, Status::INTERNAL_SERVER_ERROR);
        assert_eq!(timeout.detached(), 0);
    }

    #[test]
    fn a_pending_reply_past_the_deadline_gets_503_without_a_thread() {
        let timeout = Arc::new(Timeout::new(Duration::from_millis(200)));
        let mw = timeout.clone();
        let responders = Arc::new(Mutex::new(Vec::new()));
        let kept = responders.clone();
        let app = Chain::new(move |_: &mut Request| {
            // Answered by nobody: only the deadline ends it.
            let (responder, reply) = Reply::later();
            kept.lock().unwrap().push(responder);
            reply
        })
        .with(move |req: &mut Request, next: Next<'_>| mw.handle(req, next));
        let start = Instant::now();
        let reply = app.call(&mut Request::new(Method::Get, "/"));
        // The caller is not held for the pending part (held, it would have
        // a ready 503), and nothing counts as detached.
        assert!(!reply.is_ready());
        assert_eq!(timeout.detached(), 0);
        let r = reply.wait();
        let waited = start.elapsed();
        assert_eq!(
            (r.status, body(&r)),
            (Status::SERVICE_UNAVAILABLE, &b"Service Unavailable\n"[..])
        );
        assert!(waited >= Duration::from_millis(200), "{waited:?}");
        assert!(waited < Duration::from_secs(3), "{waited:?}");
        assert_eq!(timeout.detached(), 0);
        // The reply lost the race and was dropped: its responder learns it.
        let responder = responders.lock().unwrap().pop().unwrap();
        assert!(responder.is_cancelled());
    }

    #[test]
    fn a_pending_reply_within_the_deadline_passes_through() {
        let app = (|req: &mut Request| {
            req.extensions_mut().insert(7u32);
            let timer = req.timer();
            Reply::pending(async move {
                timer.sleep(Duration::from_millis(20)).await;
                Response::text("in time").header("X-A", "1")
            })
        })
        .with(Timeout::new(Duration::from_secs(5)));
        // The request comes back to outer middleware, as with a ready reply.
        let app = Chain::new(app).with(|req: &mut Request, next: Next<'_>| {
            let reply = next.run(req);
            assert!(!reply.is_ready());
            assert_eq!(req.extensions().get::<u32>(), Some(&7));
            reply
        });
        let start = Instant::now();
        let r = app.respond(&mut Request::new(Method::Get, "/"));
        assert_eq!((r.status, body(&r)), (Status::OK, &b"in time"[..]));
        assert_eq!(r.headers.get("x-a").unwrap().as_bytes(), b"1");
        assert!(start.elapsed() >= Duration::from_millis(20));
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn the_deadline_counts_the_time_before_the_reply_turned_pending() {
        // 60 ms blocking, then a pending 60 ms: 120 ms in all, past the
        // 100 ms deadline (which a deadline restarted for the pending part
        // would not see).
        let app = (|req: &mut Request| {
            thread::sleep(Duration::from_millis(60));
            let timer = req.timer();
            Reply::pending(async move {
                timer.sleep(Duration::from_millis(60)).await;
                "late"
            })
        })
        .with(Timeout::new(Duration::from_millis(100)));
        let r = app.respond(&mut Request::new(Method::Get, "/"));
        assert_eq!(r.status, Status::SERVICE_UNAVAILABLE);
    }

    #[test]
    fn timeout_is_blocking() {
        let chain =
            (|_: &mut Request| Response::text("x")).with(Timeout::new(Duration::from_secs(1)));
        assert!(chain.is_blocking());
    }
}
